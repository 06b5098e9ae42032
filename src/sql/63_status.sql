-- 63: rollout.status and the privileges of the lifecycle.

CREATE VIEW rollout.status AS
SELECT DISTINCT ON (r.agent)
	r.agent,
	r.id AS rollout_id,
	r.state,
	r.stage,
	r.percent,
	r.strategy,
	r.baseline,
	r.candidate,
	n.n_candidate AS samples_candidate,
	n.n_baseline AS samples_baseline,
	CASE WHEN jsonb_typeof(step->'min_samples') = 'number'
			  AND (step->>'min_samples')::numeric BETWEEN 0 AND 9e18
		 THEN (step->>'min_samples')::numeric::bigint END AS samples_needed,
	bake.until AS bake_until,
	CASE WHEN rollout.is_active_state(r.state) AND bake.until IS NOT NULL THEN
		greatest(bake.until - coalesce(r.last_eval_at, r.stage_started_at), interval '0')
	END AS bake_left,
	CASE
		WHEN r.state = 'promoted' THEN 1.0
		WHEN r.stage = 0 OR nsteps = 0 THEN 0.0
		ELSE round(((r.stage - 1) + least(1.0, greatest(0.0,
				extract(epoch FROM coalesce(r.last_eval_at, r.stage_started_at) - r.stage_started_at)
				/ nullif(rollout._plan_seconds(step, 'bake_seconds', 0)::numeric, 0)))) / nsteps, 3)
	END AS progress,
	r.hold_reason,
	g.verdicts AS last_gate_results,
	CASE WHEN rollout.is_active_state(r.state) THEN
		coalesce(r.last_eval_at, r.started_at)
		+ make_interval(secs => rollout._plan_seconds(r.plan, 'evaluation_interval_seconds', 300))
	END AS next_evaluation,
	r.started_at,
	r.stage_started_at,
	r.ended_at,
	r.last_error,
	r.last_error_at
FROM rollout.rollouts r
CROSS JOIN LATERAL (SELECT r.plan->'steps'->(r.stage - 1) AS step,
						   CASE WHEN jsonb_typeof(r.plan->'steps') = 'array'
								THEN jsonb_array_length(r.plan->'steps') ELSE 0 END AS nsteps) s
CROSS JOIN LATERAL (SELECT r.stage_started_at
						   + make_interval(secs => rollout._plan_seconds(s.step, 'bake_seconds', NULL)) AS until) bake
CROSS JOIN LATERAL (
	SELECT coalesce(sum(a.n) FILTER (WHERE a.arm = 'candidate' AND NOT a.shadow), 0) AS n_candidate,
		   coalesce(sum(a.n) FILTER (WHERE a.arm = 'stable' AND NOT a.shadow), 0) AS n_baseline
	FROM rollout.arm_summary(r.id, rollout.window_start(r.stage_started_at), 'infinity', NULL, r.stage) a) n
LEFT JOIN LATERAL (
	SELECT jsonb_object_agg(gr.gate, jsonb_build_object('verdict', gr.verdict, 'p_value', gr.p_value,
												  'estimate', gr.estimate, 'detail', gr.detail)) AS verdicts
	FROM rollout.gate_results gr
	WHERE gr.rollout_id = r.id
	  AND gr.at = (SELECT max(gr2.at) FROM rollout.gate_results gr2 WHERE gr2.rollout_id = r.id)) g ON true
ORDER BY r.agent, r.id DESC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rollout FROM PUBLIC;
GRANT SELECT ON rollout.status, rollout.stages, rollout.gate_results, rollout.baselines TO rollout_reader;
GRANT EXECUTE ON FUNCTION
	rollout.start(text, integer, jsonb, text, text, timestamptz),
	rollout.pause(text, text, timestamptz),
	rollout.resume(text, text, timestamptz),
	rollout.approve(text, text, timestamptz),
	rollout.promote(text, boolean, text, timestamptz),
	rollout.rollback(text, text, boolean, timestamptz),
	rollout.retry(text, text, timestamptz),
	rollout.tick(timestamptz)
	TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.deploy_now(text, integer, text, timestamptz) TO rollout_admin;
GRANT EXECUTE ON FUNCTION rollout.is_active_state(text) TO PUBLIC;
