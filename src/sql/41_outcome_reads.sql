-- 41: outcomes, continued: what gates and analysts read (arm_summary,
-- arm_values, compare and the comparison view) and the privileges of every
-- outcome object. Reference: docs/outcomes.md.

------------------------------------------------------------------------------
-- What gates and analysts read

-- Per-arm summary of a rollout over the windows starting in [from_at, to_at),
-- merged from window aggregates (never from raw rows). metric names a custom
-- metric for metric_n / metric_sum / metric_sumsq; stage limits to a stage.
CREATE FUNCTION rollout.arm_summary(rollout_id bigint, from_at timestamptz, to_at timestamptz,
									metric text DEFAULT NULL, stage integer DEFAULT NULL)
RETURNS TABLE(arm text, shadow boolean, n bigint, n_success bigint, n_success_known bigint,
			  n_error bigint, n_safety bigint, n_feedback bigint, sum_feedback float8,
			  n_quality bigint, sum_quality float8, sumsq_quality float8,
			  n_latency bigint, sum_latency float8, sumsq_latency float8,
			  n_cost bigint, sum_cost float8, sumsq_cost float8,
			  latency_sketch rollout.ddsketch, latency_p50 float8, latency_p95 float8,
			  latency_p99 float8, cost_sketch rollout.ddsketch, cost_median float8,
			  metric_n bigint, metric_sum float8, metric_sumsq float8, metrics jsonb,
			  windows bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.arm, a.shadow, a.n, a.n_success, a.n_success_known, a.n_error, a.n_safety,
		   a.n_feedback, a.sum_feedback, a.n_quality, a.sum_quality, a.sumsq_quality,
		   a.n_latency, a.sum_latency, a.sumsq_latency, a.n_cost, a.sum_cost, a.sumsq_cost,
		   a.ls, rollout.ddsketch_quantile(a.ls, 0.5), rollout.ddsketch_quantile(a.ls, 0.95),
		   rollout.ddsketch_quantile(a.ls, 0.99), a.cs, rollout.ddsketch_quantile(a.cs, 0.5),
		   coalesce((a.metrics->metric->>'n')::bigint, 0), coalesce((a.metrics->metric->>'sum')::float8, 0),
		   coalesce((a.metrics->metric->>'sumsq')::float8, 0), a.metrics, a.windows
	FROM (SELECT w.arm, w.shadow, sum(w.n)::bigint AS n, sum(w.n_success)::bigint AS n_success,
				 sum(w.n_success_known)::bigint AS n_success_known, sum(w.n_error)::bigint AS n_error,
				 sum(w.n_safety)::bigint AS n_safety, sum(w.n_feedback)::bigint AS n_feedback,
				 sum(w.sum_feedback) AS sum_feedback, sum(w.n_quality)::bigint AS n_quality,
				 sum(w.sum_quality) AS sum_quality, sum(w.sumsq_quality) AS sumsq_quality,
				 sum(w.n_latency)::bigint AS n_latency, sum(w.sum_latency) AS sum_latency,
				 sum(w.sumsq_latency) AS sumsq_latency, sum(w.n_cost)::bigint AS n_cost,
				 sum(w.sum_cost) AS sum_cost, sum(w.sumsq_cost) AS sumsq_cost,
				 rollout.ddsketch_merge(w.latency_sketch) AS ls,
				 rollout.ddsketch_merge(w.cost_sketch) AS cs,
				 rollout.metric_stats_agg(w.metrics) AS metrics,
				 count(DISTINCT w.window_start) AS windows
		  FROM rollout.outcome_windows w
		  WHERE w.rollout_id = arm_summary.rollout_id
			AND w.window_start >= from_at AND w.window_start < to_at
			AND (arm_summary.stage IS NULL OR w.stage = arm_summary.stage)
		  GROUP BY w.arm, w.shadow) a
	ORDER BY a.arm, a.shadow
$$;

-- Raw values of one metric for one arm over [from_at, to_at), in recording
-- order, for rank tests. metric: quality, latency_ms, cost, feedback,
-- success, error, safety_flag (as 0/1) or the name of a custom metric.
CREATE FUNCTION rollout.arm_values(rollout_id bigint, arm text, metric text,
								   from_at timestamptz, to_at timestamptz,
								   shadow boolean DEFAULT false)
RETURNS float8[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	expr text;
	result float8[];
BEGIN
	IF metric IS NULL OR metric = '' THEN
		RAISE EXCEPTION 'argument "metric" must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	expr := CASE metric
		WHEN 'quality' THEN 'o.quality'
		WHEN 'latency_ms' THEN 'o.latency_ms'
		WHEN 'cost' THEN 'o.cost'
		WHEN 'feedback' THEN 'o.feedback::float8'
		WHEN 'success' THEN 'o.success::integer::float8'
		WHEN 'error' THEN 'o.error::integer::float8'
		WHEN 'safety_flag' THEN 'o.safety_flag::integer::float8'
		ELSE '(o.metrics->$6)::float8' END;
	EXECUTE format('SELECT coalesce(array_agg(v ORDER BY id), ''{}'') FROM ('
				   ' SELECT o.id, %s AS v FROM rollout.outcomes o'
				   ' WHERE o.rollout_id = $1 AND o.arm = $2 AND o.at >= $3 AND o.at < $4'
				   '   AND o.shadow = $5) s WHERE v IS NOT NULL', expr)
		INTO result
		USING rollout_id, arm, from_at, to_at, shadow, metric;
	RETURN result;
END
$$;

-- Candidate against baseline of one rollout, per window and per stage, from
-- the window aggregates. A canary (shadow, blue-green) has one compared arm,
-- candidate against stable; an A/B test has one row per variant other than
-- the control, each against the control (arm, baseline_arm).
CREATE FUNCTION rollout.compare(rollout_id bigint)
RETURNS TABLE(rollout_id bigint, stage integer, scope text, window_start timestamptz,
			  window_end timestamptz,
			  baseline_n bigint, candidate_n bigint, candidate_shadow_n bigint,
			  baseline_success_rate float8, candidate_success_rate float8,
			  baseline_mean_quality float8, candidate_mean_quality float8,
			  baseline_error_rate float8, candidate_error_rate float8,
			  baseline_safety_rate float8, candidate_safety_rate float8,
			  baseline_mean_cost float8, candidate_mean_cost float8,
			  baseline_median_cost float8, candidate_median_cost float8,
			  baseline_p50_ms float8, candidate_p50_ms float8,
			  baseline_p95_ms float8, candidate_p95_ms float8,
			  baseline_p99_ms float8, candidate_p99_ms float8,
			  shadow_pairs bigint, shadow_similarity float8, shadow_agreement float8,
			  arm text, baseline_arm text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH base AS (
		SELECT CASE WHEN x.strategy = 'ab_test'
					THEN coalesce(x.plan->'experiment'->>'control', x.variants->0->>'name')
					ELSE 'stable' END AS arm,
			   x.strategy, x.variants
		FROM rollout.rollouts x WHERE x.id = compare.rollout_id),
	cmp AS (
		SELECT v->>'name' AS arm
		FROM base, jsonb_array_elements(CASE WHEN jsonb_typeof(base.variants) = 'array'
											 THEN base.variants ELSE '[]' END) AS t(v)
		WHERE base.strategy = 'ab_test' AND v->>'name' IS DISTINCT FROM base.arm
		UNION ALL
		SELECT 'candidate' FROM base WHERE base.strategy <> 'ab_test'),
	a AS (
		SELECT w.stage, CASE WHEN grouping(w.window_start) = 0 THEN 'window' ELSE 'stage' END AS scope,
			   min(w.window_start) AS ws, max(w.window_start) + interval '5 minutes' AS we,
			   coalesce(w.window_start, '-infinity') AS k, w.arm,
			   sum(w.n)::bigint AS n, sum(w.n) FILTER (WHERE w.shadow)::bigint AS shadow_n,
			   sum(w.n_success)::float8 / nullif(sum(w.n_success_known), 0) AS success_rate,
			   sum(w.sum_quality) / nullif(sum(w.n_quality), 0) AS mean_quality,
			   sum(w.n_error)::float8 / nullif(sum(w.n), 0) AS error_rate,
			   sum(w.n_safety)::float8 / nullif(sum(w.n), 0) AS safety_rate,
			   sum(w.sum_cost) / nullif(sum(w.n_cost), 0) AS mean_cost,
			   rollout.ddsketch_merge(w.cost_sketch) AS cs,
			   rollout.ddsketch_merge(w.latency_sketch) AS ls
		FROM rollout.outcome_windows w
		WHERE w.rollout_id = compare.rollout_id
		  AND (w.arm IN (SELECT base.arm FROM base) OR w.arm IN (SELECT cmp.arm FROM cmp))
		GROUP BY w.stage, w.arm, GROUPING SETS ((w.window_start), ())),
	s AS (
		SELECT sw.stage, coalesce(sw.window_start, '-infinity') AS k,
			   min(sw.window_start) AS ws, max(sw.window_start) + interval '5 minutes' AS we,
			   sum(sw.n)::bigint AS n,
			   sum(sw.sum_similarity) / nullif(sum(sw.n_similarity), 0) AS similarity,
			   sum(sw.n_agree)::float8 / nullif(sum(sw.n_agree_known), 0) AS agreement
		FROM rollout.shadow_windows sw
		WHERE sw.rollout_id = compare.rollout_id
		GROUP BY sw.stage, GROUPING SETS ((sw.window_start), ())),
	keys AS (
		SELECT a.stage, a.k, a.scope, min(a.ws) AS ws, max(a.we) AS we FROM a GROUP BY 1, 2, 3
		UNION
		SELECT s.stage, s.k, CASE WHEN s.k = '-infinity' THEN 'stage' ELSE 'window' END, s.ws, s.we
		FROM s),
	k AS (SELECT stage, k, scope, min(ws) AS ws, max(we) AS we FROM keys GROUP BY 1, 2, 3)
	SELECT compare.rollout_id, k.stage, k.scope, k.ws, k.we,
		   coalesce(b.n, 0), coalesce(c.n, 0), coalesce(c.shadow_n, 0),
		   b.success_rate, c.success_rate, b.mean_quality, c.mean_quality,
		   b.error_rate, c.error_rate, b.safety_rate, c.safety_rate,
		   b.mean_cost, c.mean_cost,
		   rollout.ddsketch_quantile(b.cs, 0.5), rollout.ddsketch_quantile(c.cs, 0.5),
		   rollout.ddsketch_quantile(b.ls, 0.5), rollout.ddsketch_quantile(c.ls, 0.5),
		   rollout.ddsketch_quantile(b.ls, 0.95), rollout.ddsketch_quantile(c.ls, 0.95),
		   rollout.ddsketch_quantile(b.ls, 0.99), rollout.ddsketch_quantile(c.ls, 0.99),
		   coalesce(s.n, 0), s.similarity, s.agreement,
		   cmp.arm, base.arm
	FROM k CROSS JOIN cmp CROSS JOIN base
	LEFT JOIN a b ON b.stage = k.stage AND b.k = k.k AND b.arm = base.arm
	LEFT JOIN a c ON c.stage = k.stage AND c.k = k.k AND c.arm = cmp.arm
	LEFT JOIN s ON s.stage = k.stage AND s.k = k.k
	ORDER BY k.stage, k.scope DESC, k.ws, cmp.arm
$$;

-- The side-by-side view: every rollout, per window and per stage (and per
-- variant of an A/B test).
CREATE VIEW rollout.comparison AS
	SELECT r.agent, c.*
	FROM rollout.rollouts r CROSS JOIN LATERAL rollout.compare(r.id) c;

------------------------------------------------------------------------------
-- Privileges

REVOKE ALL ON FUNCTION rollout.record(text, integer, text, boolean, float8, float8, float8, boolean,
									  boolean, smallint, jsonb, boolean, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.record_batch(text, integer[], text[], boolean[], float8[], float8[],
											float8[], boolean[], boolean[], smallint[], jsonb[],
											boolean[], timestamptz[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.record_shadow_pair(text, integer, integer, text, float8, float4[],
												  float4[], boolean, float8, float8, float8,
												  float8, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.drain_outcome_staging() FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._outcome_resolve(text, integer, float8, float8, float8, jsonb,
												timestamptz, integer, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.outcome_context(text, integer, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.refresh_aggregates(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.maintain_outcomes(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._ensure_partition(text, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.arm_summary(bigint, timestamptz, timestamptz, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.arm_values(bigint, text, text, timestamptz, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.compare(bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION rollout.record(text, integer, text, boolean, float8, float8, float8, boolean,
										 boolean, smallint, jsonb, boolean, timestamptz, text) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.record_batch(text, integer[], text[], boolean[], float8[], float8[],
											   float8[], boolean[], boolean[], smallint[], jsonb[],
											   boolean[], timestamptz[], text[]) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.record_shadow_pair(text, integer, integer, text, float8, float4[],
													 float4[], boolean, float8, float8, float8,
													 float8, timestamptz, text) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.drain_outcome_staging() TO rollout_service, rollout_operator;
GRANT INSERT ON rollout.outcome_staging TO rollout_service;
GRANT USAGE ON SEQUENCE rollout.outcome_staging_id_seq TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.outcome_context(text, integer, timestamptz) TO rollout_service, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.refresh_aggregates(timestamptz) TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.maintain_outcomes(timestamptz) TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.arm_summary(bigint, timestamptz, timestamptz, text, integer) TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.arm_values(bigint, text, text, timestamptz, timestamptz, boolean) TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.compare(bigint) TO rollout_reader;

GRANT SELECT ON rollout.outcomes, rollout.shadow_pairs, rollout.outcome_windows,
	rollout.shadow_windows, rollout.outcome_watermark, rollout.outcome_settings,
	rollout.quality_scales, rollout.comparison TO rollout_reader;
GRANT UPDATE ON rollout.outcome_settings TO rollout_admin;
GRANT INSERT, UPDATE, DELETE ON rollout.quality_scales TO rollout_admin;
