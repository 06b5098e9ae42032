-- 65: baselines. After a promoted rollout's stable period, tick() stores the
-- metrics of the promoted version over that period in rollout.baselines.
-- Once promoted, the version is production and its outcomes carry no
-- rollout (rollout_id NULL), so the metrics come from the agent's raw
-- outcomes of that version in the interval, whichever rollout they belong to.

-- The metrics of one version of an agent over [p_from, p_to), from its raw
-- live (non-shadow) outcomes: counts, rates, means and quantiles. Never
-- NULL: without outcomes, n is 0 and the rest are NULL.
CREATE FUNCTION rollout._baseline_metrics(p_agent text, p_version integer, p_from timestamptz,
										  p_to timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
		'from', p_from, 'to', p_to, 'n', count(*),
		'success_rate', avg(o.success::integer),
		'error_rate', avg(o.error::integer),
		'safety_rate', avg(o.safety_flag::integer),
		'quality_mean', avg(o.quality),
		'feedback_mean', avg(o.feedback),
		'latency_p50', percentile_cont(0.5) WITHIN GROUP (ORDER BY o.latency_ms),
		'latency_p95', percentile_cont(0.95) WITHIN GROUP (ORDER BY o.latency_ms),
		'cost_mean', avg(o.cost),
		'cost_median', percentile_cont(0.5) WITHIN GROUP (ORDER BY o.cost))
	FROM rollout.outcomes o
	WHERE o.agent = p_agent AND o.version = p_version AND NOT o.shadow
	  AND o.at >= p_from AND o.at < p_to
$$;
