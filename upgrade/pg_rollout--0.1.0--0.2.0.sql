-- pg_rollout 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.2.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.1.0 + this script equals a
-- fresh 0.2.0 install (test/t/ checks it by comparing pg_dump --schema-only).
-- Sections are grouped by the src/sql/ piece they mirror.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit

-- timeline, metrics, comments (issue 14)
-- Identical to src/sql/70_timeline.sql, src/sql/71_metrics.sql.

-- 70: rollout.timeline(): one rollout's story for analysts, one ordered row
-- per thing that happened: every event (start, advance, hold, release,
-- pause, approval, promotion, rollback, alerts), every change of a gate's
-- verdict, and every stage boundary, each with the state and candidate
-- share after it and a sentence a person reads. Reference: docs/lifecycle.md.

-- A duration as a person says it: 45 s, 25 min, 2 h 5 min, 3 d 4 h.
CREATE FUNCTION rollout._timeline_duration(d interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN s < 60 THEN pg_catalog.format('%s s', s)
		WHEN s < 3600 THEN pg_catalog.format('%s min', s / 60)
		WHEN s < 86400 THEN pg_catalog.format('%s h', s / 3600)
			 || CASE WHEN s % 3600 >= 60 THEN pg_catalog.format(' %s min', s % 3600 / 60) ELSE '' END
		ELSE pg_catalog.format('%s d', s / 86400)
			 || CASE WHEN s % 86400 >= 3600 THEN pg_catalog.format(' %s h', s % 86400 / 3600) ELSE '' END
	END
	FROM (SELECT floor(extract(epoch FROM d))::bigint AS s) x
$$;

-- A one-line description of a rollout event.
CREATE FUNCTION rollout._timeline_event_text(p_action text, p_actor text, p_old jsonb,
											 p_new jsonb, p_reason text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE p_action
		WHEN 'start' THEN pg_catalog.format('%s started a %s rollout of version %s against version %s (risk %s) in state %s at %s%%',
			p_actor, p_new->>'strategy', p_new->>'candidate', p_new->>'baseline',
			coalesce(p_new->>'risk', 'custom'), p_new->>'state', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'advance' THEN pg_catalog.format('advanced from stage %s to stage %s: candidate share %s%% -> %s%%',
			p_old->>'stage', p_new->>'stage', pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'promote_manual' THEN pg_catalog.format('%s advanced it by hand: candidate share %s%% -> %s%%',
			p_actor, pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'promote' THEN 'promoted: the candidate now serves all traffic and is labelled production'
		WHEN 'rollback' THEN pg_catalog.format('rolled back from %s%% to the baseline; pinned sessions drain first',
			pg_catalog.trim_scale((p_old->>'percent')::numeric))
		WHEN 'rollback_now' THEN pg_catalog.format('rolled back at once from %s%%, without drain',
			pg_catalog.trim_scale((p_old->>'percent')::numeric))
		WHEN 'hold' THEN pg_catalog.format('holding at %s%%', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'release' THEN pg_catalog.format('released from hold, back to %s at %s%%',
			p_new->>'state', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'freeze' THEN pg_catalog.format('frozen by a gate at %s%% (paused until someone resumes it)',
			pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'hold_for_approval' THEN pg_catalog.format('waiting at %s%% for a person to approve',
			pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'approve' THEN pg_catalog.format('%s approved it', p_actor)
		WHEN 'pause' THEN pg_catalog.format('%s paused it at %s%%', p_actor, pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'resume' THEN pg_catalog.format('%s resumed it (%s at %s%%)', p_actor, p_new->>'state',
			pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'boost' THEN pg_catalog.format('share raised from %s%% to %s%% to collect samples faster',
			pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'alert' THEN pg_catalog.format('alert: gate(s) %s failed',
			(SELECT pg_catalog.string_agg(g, ', ') FROM pg_catalog.jsonb_array_elements_text(p_new->'gates') g))
		WHEN 'superseded' THEN pg_catalog.format('ended by an emergency deployment (%s)', p_new->>'state')
		WHEN 'deploy_now' THEN pg_catalog.format('%s deployed a version at once, bypassing the canary', p_actor)
		WHEN 'baseline_refresh' THEN pg_catalog.format('stable period over: version %s is the new baseline',
			p_new->>'version')
		ELSE pg_catalog.format('%s by %s', p_action, p_actor)
	END || coalesce(' -- ' || p_reason, '')
$$;

-- The story of one rollout of an agent, or of every rollout of the agent
-- when rollout_id is NULL, in the order things happened (column rollout
-- names the rollout of each row). kind is event,
-- gate (a gate's verdict changed, or its first verdict) or stage (a stage
-- began or ended); state, stage and share are those after the row.
CREATE FUNCTION rollout.timeline(agent text, rollout_id bigint DEFAULT NULL)
RETURNS TABLE(at timestamptz, rollout bigint, kind text, action text, state text,
			  stage integer, share numeric, gate text, verdict text, actor text,
			  description text, event_id bigint)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout._require_arg(timeline.agent, 'agent');
	PERFORM 1 FROM rollout.agents a WHERE a.name = timeline.agent;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" does not exist', timeline.agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "agent" must name an agent created with rollout.create_agent().';
	END IF;
	IF timeline.rollout_id IS NOT NULL THEN
		PERFORM 1 FROM rollout.rollouts r
			WHERE r.id = timeline.rollout_id AND r.agent = timeline.agent;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'rollout % of agent "%" does not exist', timeline.rollout_id, timeline.agent
				USING ERRCODE = 'undefined_object',
					  DETAIL = 'Argument "rollout_id" must name a rollout of that agent (see rollout.rollouts).';
		END IF;
	END IF;

	RETURN QUERY
	WITH ro AS (
		SELECT r.* FROM rollout.rollouts r
		WHERE r.agent = timeline.agent
		  AND (timeline.rollout_id IS NULL OR r.id = timeline.rollout_id)
	), items AS (
		-- Events; within one instant: verdicts (1), stage end (2), event (3), stage start (4).
		SELECT e.at, e.rollout_id, 'event'::text AS kind, e.action, e.new->>'state' AS state,
			   (e.new->>'stage')::integer AS stage, pg_catalog.trim_scale((e.new->>'percent')::numeric) AS share,
			   NULL::text AS gate, NULL::text AS verdict, e.actor,
			   rollout._timeline_event_text(e.action, e.actor, e.old, e.new, e.reason) AS description,
			   e.id AS event_id, 3 AS seq, e.id AS tiebreak
		FROM rollout.events e JOIN ro ON ro.id = e.rollout_id
		UNION ALL
		-- Gate verdicts, only when they change (the first verdict counts as a change).
		SELECT g.at, g.rollout_id, 'gate', 'verdict', NULL, g.stage, NULL, g.gate, g.verdict, NULL,
			   pg_catalog.format('gate %s: %s%s%s%s%s',
				   g.gate,
				   CASE WHEN g.prev IS NULL THEN g.verdict
						ELSE pg_catalog.format('%s (was %s)', g.verdict, g.prev) END,
				   CASE WHEN g.value_candidate IS NOT NULL OR g.value_baseline IS NOT NULL THEN
					   pg_catalog.format(', %s %s candidate %s vs baseline %s', g.comparison, g.metric,
						   coalesce(round(g.value_candidate::numeric, 4)::text, '-'),
						   coalesce(round(g.value_baseline::numeric, 4)::text, '-')) ELSE '' END,
				   pg_catalog.format(', n %s/%s', coalesce(g.n_candidate, 0), coalesce(g.n_baseline, 0)),
				   CASE WHEN g.p_value IS NOT NULL THEN
					   pg_catalog.format(', p %s', CASE WHEN g.p_value >= 0.001 THEN round(g.p_value::numeric, 4)::text
							ELSE pg_catalog.btrim(pg_catalog.to_char(g.p_value::numeric, '9.99EEEE')) END)
				   ELSE '' END,
				   CASE WHEN g.acted THEN pg_catalog.format(' -> %s', g.action) ELSE '' END),
			   NULL, 1, g.id
		FROM (SELECT gr.*, pg_catalog.lag(gr.verdict) OVER (PARTITION BY gr.rollout_id, gr.gate
														   ORDER BY gr.at, gr.id) AS prev
			  FROM rollout.gate_results gr JOIN ro ON ro.id = gr.rollout_id) g
		WHERE g.prev IS DISTINCT FROM g.verdict
		UNION ALL
		SELECT s.started_at, s.rollout_id, 'stage', 'stage_start', NULL, s.stage, pg_catalog.trim_scale(s.percent), NULL, NULL, NULL,
			   CASE WHEN s.stage = 0 THEN 'shadow phase began: the candidate runs beside production, its answers discarded'
					ELSE pg_catalog.format('stage %s began: candidate share %s%%', s.stage, pg_catalog.trim_scale(s.percent)) END,
			   NULL, 4, s.stage::bigint
		FROM rollout.stages s JOIN ro ON ro.id = s.rollout_id
		UNION ALL
		SELECT s.ended_at, s.rollout_id, 'stage', 'stage_end', NULL, s.stage, pg_catalog.trim_scale(s.percent), NULL, NULL, NULL,
			   pg_catalog.format('stage %s ended (%s) after %s: %s candidate and %s baseline samples',
				   s.stage, coalesce(s.outcome, 'ended'),
				   rollout._timeline_duration(s.ended_at - s.started_at),
				   coalesce(s.metrics->'candidate'->>'n', '0'), coalesce(s.metrics->'stable'->>'n', '0')),
			   NULL, 2, s.stage::bigint
		FROM rollout.stages s JOIN ro ON ro.id = s.rollout_id
		WHERE s.ended_at IS NOT NULL
	), ordered AS (
		SELECT i.*,
			   pg_catalog.row_number() OVER (ORDER BY i.at, i.rollout_id, i.seq, i.tiebreak) AS pos,
			   pg_catalog.count(i.state) OVER w AS state_grp,
			   pg_catalog.count(i.stage) OVER w AS stage_grp,
			   pg_catalog.count(i.share) OVER w AS share_grp
		FROM items i
		WINDOW w AS (PARTITION BY i.rollout_id ORDER BY i.at, i.seq, i.tiebreak)
	)
	SELECT o.at, o.rollout_id, o.kind, o.action,
		   pg_catalog.first_value(o.state) OVER (PARTITION BY o.rollout_id, o.state_grp ORDER BY o.pos),
		   pg_catalog.first_value(o.stage) OVER (PARTITION BY o.rollout_id, o.stage_grp ORDER BY o.pos),
		   pg_catalog.first_value(o.share) OVER (PARTITION BY o.rollout_id, o.share_grp ORDER BY o.pos),
		   o.gate, o.verdict, o.actor, o.description, o.event_id
	FROM ordered o
	ORDER BY o.pos;
END
$$;

REVOKE ALL ON FUNCTION rollout._timeline_event_text(text, text, jsonb, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._timeline_duration(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.timeline(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.timeline(text, bigint) TO rollout_reader, rollout_operator, rollout_admin;

-- 71: rollout.metrics: the rows a Prometheus exporter maps to series, one
-- row per sample, for the latest rollout of every agent plus a few global
-- gauges. It reads rollout.status, the window aggregates (arm_summary),
-- the exposure totals, the gate results and the events, never raw outcomes.
-- contrib/prometheus/queries.yaml maps it for postgres_exporter;
-- docs/operations.md ("Monitoring") lists the series. rollout.arm_windows()
-- gives the per-window series of contrib/grafana/pg_rollout.json.

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
					   ('promoted'), ('rolled_back')) st(state)
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

-- end of timeline, metrics, comments (issue 14)
