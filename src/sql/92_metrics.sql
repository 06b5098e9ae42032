-- 92: rollout.metrics: the rows a Prometheus exporter maps to series, one
-- row per sample, for the latest rollout of every agent plus a few global
-- gauges. It reads rollout.status, the window aggregates (arm_summary),
-- the exposure totals, the gate results and the events, never raw outcomes.
-- contrib/prometheus/queries.yaml maps it for postgres_exporter;
-- docs/operations.md ("Monitoring") lists the series. rollout.arm_windows()
-- gives the per-window series of contrib/grafana/pg_rollout.json.
-- It follows 90_roles_backup.sql, which revokes every privilege and grants
-- its own list, so that the grants at the end of this piece stand.

-- Every metric sample now. SECURITY DEFINER so that rollout_reader can read
-- it whatever the grants of the helpers it calls (sketch merges, windows).
CREATE FUNCTION rollout._metrics()
RETURNS TABLE(metric text, type text, agent text, rollout_id bigint, arm text, gate text,
			  state text, verdict text, quantile text, value float8, help text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH latest AS (
		SELECT s.agent, s.rollout_id, s.state, s.stage, s.percent, s.strategy, s.samples_needed,
			   s.bake_left, r.stage_started_at, r.last_eval_at, r.started_at,
			   rollout.is_active_state(s.state) AS active
		FROM rollout.status s JOIN rollout.rollouts r ON r.id = s.rollout_id
	), arms AS (
		-- Per-arm aggregates of the current stage (windows tagged with it).
		SELECT l.agent, l.rollout_id, a.arm, a.n, a.n_success, a.n_success_known, a.n_error,
			   a.n_safety, a.n_quality, a.sum_quality, a.latency_p50, a.latency_p95, a.latency_p99
		FROM latest l
		CROSS JOIN LATERAL rollout.arm_summary(l.rollout_id, rollout.window_start(l.stage_started_at),
											   'infinity', NULL, l.stage) a
		WHERE NOT a.shadow
	), arm_names AS (
		-- The arms a rollout serves, so an arm without samples reads 0, not absent.
		SELECT l.agent, l.rollout_id, x.arm
		FROM latest l
		CROSS JOIN LATERAL (SELECT 'stable'::text AS arm WHERE l.strategy <> 'ab_test'
							UNION SELECT 'candidate' WHERE l.strategy <> 'ab_test'
							UNION SELECT a.arm FROM arms a WHERE a.rollout_id = l.rollout_id
							UNION SELECT t.arm FROM rollout.exposure_totals t
								  WHERE t.rollout_id = l.rollout_id) x
	), gates AS (
		SELECT DISTINCT ON (g.rollout_id, g.gate) l.agent, g.rollout_id, g.gate, g.verdict,
			   g.p_value, g.estimate
		FROM latest l JOIN rollout.gate_results g ON g.rollout_id = l.rollout_id
		ORDER BY g.rollout_id, g.gate, g.at DESC, g.id DESC
	)
	-- Per rollout
	SELECT 'state', 'gauge', l.agent, l.rollout_id, NULL, NULL, st.state, NULL, NULL,
		   (l.state = st.state)::integer::float8,
		   'Rollout state as a labelled gauge: 1 for the current state, 0 for the others'
	FROM latest l
	CROSS JOIN (VALUES ('shadow'), ('canary'), ('holding'), ('awaiting_approval'), ('paused'),
					   ('awaiting_decision'), ('promoted'), ('rolled_back')) st(state)
	UNION ALL
	SELECT 'stage', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL, l.stage::float8,
		   'Step of the plan (0 = shadow phase)'
	FROM latest l
	UNION ALL
	SELECT 'candidate_percent', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   l.percent::float8, 'Share of traffic the candidate serves now, 0 to 100'
	FROM latest l
	UNION ALL
	SELECT 'samples_needed', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   coalesce(l.samples_needed, 0)::float8, 'Samples each arm needs in this stage before it may advance'
	FROM latest l WHERE l.active
	UNION ALL
	SELECT 'seconds_since_evaluation', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   extract(epoch FROM pg_catalog.now() - coalesce(l.last_eval_at, l.started_at))::float8,
		   'Seconds since tick() last evaluated this rollout''s gates (since its start before that)'
	FROM latest l WHERE l.active
	UNION ALL
	SELECT 'bake_seconds_left', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   extract(epoch FROM l.bake_left)::float8, 'Seconds of bake time left in this stage'
	FROM latest l WHERE l.active AND l.bake_left IS NOT NULL
	-- Per arm, over the current stage
	UNION ALL
	SELECT 'samples', 'gauge', n.agent, n.rollout_id, n.arm, NULL, NULL, NULL, NULL,
		   coalesce(a.n, 0)::float8, 'Outcomes recorded for this arm in the current stage (aggregated)'
	FROM arm_names n LEFT JOIN arms a ON a.rollout_id = n.rollout_id AND a.arm = n.arm
	UNION ALL
	SELECT 'exposures', 'counter', n.agent, n.rollout_id, n.arm, NULL, NULL, NULL, NULL,
		   coalesce(t.exposures, 0)::float8, 'Routing decisions served to this arm (flushed by every tick)'
	FROM arm_names n LEFT JOIN rollout.exposure_totals t ON t.rollout_id = n.rollout_id AND t.arm = n.arm
	UNION ALL
	SELECT m.metric, 'gauge', a.agent, a.rollout_id, a.arm, NULL, NULL, NULL, NULL, m.value, m.help
	FROM arms a
	CROSS JOIN LATERAL (VALUES
		('success_rate', a.n_success::float8 / nullif(a.n_success_known, 0),
		 'Share of outcomes with success = true among those that report success, current stage'),
		('error_rate', a.n_error::float8 / nullif(a.n, 0), 'Share of outcomes with error = true, current stage'),
		('safety_rate', a.n_safety::float8 / nullif(a.n, 0), 'Share of outcomes with safety_flag = true, current stage'),
		('quality_mean', a.sum_quality / nullif(a.n_quality, 0), 'Mean quality score, current stage')) m(metric, value, help)
	WHERE m.value IS NOT NULL
	UNION ALL
	SELECT 'latency_ms', 'gauge', a.agent, a.rollout_id, a.arm, NULL, NULL, NULL, q.quantile, q.value,
		   'Latency quantile in milliseconds from the merged DDSketch of the current stage'
	FROM arms a
	CROSS JOIN LATERAL (VALUES ('0.5', a.latency_p50), ('0.95', a.latency_p95), ('0.99', a.latency_p99)) q(quantile, value)
	WHERE q.value IS NOT NULL
	-- Per gate: its latest verdict
	UNION ALL
	SELECT 'gate_verdict', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, v.verdict, NULL,
		   (g.verdict = v.verdict)::integer::float8,
		   'Latest verdict of the gate as a labelled gauge: 1 for the verdict, 0 for the others'
	FROM gates g
	CROSS JOIN (VALUES ('pass'), ('fail'), ('inconclusive'), ('error')) v(verdict)
	UNION ALL
	SELECT 'gate_p_value', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, NULL, NULL, g.p_value,
		   'p-value of the gate''s latest verdict'
	FROM gates g WHERE g.p_value IS NOT NULL
	UNION ALL
	SELECT 'gate_estimate', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, NULL, NULL, g.estimate,
		   'Estimate of the gate''s latest verdict (candidate minus baseline, or their ratio)'
	FROM gates g WHERE g.estimate IS NOT NULL
	-- Per agent, over every rollout: counters from the audit log
	UNION ALL
	SELECT c.metric, 'counter', l.agent, NULL, NULL, NULL, NULL, NULL, NULL,
		   (SELECT count(*) FROM rollout.events e
			WHERE e.agent = l.agent AND e.rollout_id IS NOT NULL AND e.action = ANY (c.actions))::float8,
		   c.help
	FROM latest l
	CROSS JOIN (VALUES
		('holds', ARRAY['hold', 'freeze', 'hold_for_approval'], 'Times a rollout of this agent was held, frozen or sent for approval'),
		('rollbacks', ARRAY['rollback', 'rollback_now'], 'Rollouts of this agent rolled back'),
		('promotions', ARRAY['promote'], 'Rollouts of this agent promoted'),
		('advances', ARRAY['advance', 'promote_manual'], 'Stages of this agent''s rollouts advanced')) c(metric, actions, help)
	-- Global
	UNION ALL
	SELECT 'active_rollouts', 'gauge', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		   (SELECT count(*) FROM latest l WHERE l.active)::float8, 'Rollouts in an active state'
	UNION ALL
	SELECT 'seconds_since_tick', 'gauge', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		   coalesce(extract(epoch FROM pg_catalog.now() - w.refreshed_at)::float8, 'Infinity'::float8),
		   'Seconds since outcomes were last folded into the aggregates, which every tick() does (+Inf: never)'
	FROM rollout.outcome_watermark w
$$;

CREATE VIEW rollout.metrics AS
SELECT m.metric, m.type, m.agent, m.rollout_id, m.arm, m.gate, m.state, m.verdict, m.quantile,
	   m.value, m.help
FROM rollout._metrics() m;

REVOKE ALL ON FUNCTION rollout._metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._metrics() TO rollout_reader, rollout_operator, rollout_admin;
GRANT SELECT ON rollout.metrics TO rollout_reader, rollout_operator, rollout_admin;

-- Per-window, per-arm series of a rollout for dashboards (contrib/grafana):
-- rates, mean quality and latency quantiles of every 5-minute aggregation
-- window starting in [from_at, to_at), shadow outcomes apart. Reads the
-- window aggregates only. SECURITY DEFINER for the sketch functions.
CREATE FUNCTION rollout.arm_windows(rollout_id bigint, from_at timestamptz DEFAULT '-infinity',
									to_at timestamptz DEFAULT 'infinity')
RETURNS TABLE(window_start timestamptz, stage integer, arm text, shadow boolean, n bigint,
			  success_rate float8, error_rate float8, safety_rate float8, quality_mean float8,
			  latency_p50 float8, latency_p95 float8, latency_p99 float8, cost_median float8)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT w.window_start, w.stage, w.arm, w.shadow, w.n,
		   w.n_success::float8 / nullif(w.n_success_known, 0),
		   w.n_error::float8 / nullif(w.n, 0),
		   w.n_safety::float8 / nullif(w.n, 0),
		   w.sum_quality / nullif(w.n_quality, 0),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.5),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.95),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.99),
		   rollout.ddsketch_quantile(w.cost_sketch, 0.5)
	FROM rollout.outcome_windows w
	WHERE w.rollout_id = arm_windows.rollout_id
	  AND w.window_start >= from_at AND w.window_start < to_at
	ORDER BY w.window_start, w.arm, w.shadow, w.stage
$$;

REVOKE ALL ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz)
	TO rollout_reader, rollout_operator, rollout_admin;

COMMENT ON VIEW rollout.metrics IS
	'One row per Prometheus sample for the latest rollout of every agent plus global gauges; contrib/prometheus/queries.yaml maps it. Reads aggregates, never raw outcomes. For rollout_reader.';
COMMENT ON COLUMN rollout.metrics.metric IS 'Metric name, e.g. state, candidate_percent, samples, gate_verdict, seconds_since_tick.';
COMMENT ON COLUMN rollout.metrics.type IS 'gauge or counter.';
COMMENT ON COLUMN rollout.metrics.agent IS 'Agent label (NULL for global metrics).';
COMMENT ON COLUMN rollout.metrics.rollout_id IS 'Rollout label: the agent''s latest rollout (NULL for per-agent counters and global metrics).';
COMMENT ON COLUMN rollout.metrics.arm IS 'Arm label for per-arm metrics: stable, candidate or an A/B variant.';
COMMENT ON COLUMN rollout.metrics.gate IS 'Gate label for per-gate metrics.';
COMMENT ON COLUMN rollout.metrics.state IS 'State label of the state metric (1 for the current state, 0 for the others).';
COMMENT ON COLUMN rollout.metrics.verdict IS 'Verdict label of gate_verdict (1 for the latest verdict, 0 for the others).';
COMMENT ON COLUMN rollout.metrics.quantile IS 'Quantile label of latency_ms: 0.5, 0.95 or 0.99.';
COMMENT ON COLUMN rollout.metrics.value IS 'Sample value.';
COMMENT ON COLUMN rollout.metrics.help IS 'What the metric means.';
COMMENT ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz) IS
	'Per-window, per-arm series of a rollout (rates, mean quality, latency and cost quantiles) from the window aggregates, for dashboards. For rollout_reader.';
