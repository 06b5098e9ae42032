-- 63: rollout.status and the privileges of the lifecycle.

-- When the shadow phase of a rollout ends: its start plus the plan's
-- duration, longer by shadow.model_swap_extension (a fraction) when the
-- candidate's model differs from the baseline's (seed 001: a model swap
-- under high risk keeps 7.5 days of shadow instead of 5).
CREATE FUNCTION rollout._shadow_until(r rollout.rollouts) RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.stage_started_at + make_interval(secs =>
		rollout._plan_seconds(r.plan->'shadow', 'duration_seconds', 0)
		* CASE WHEN (SELECT c.model FROM rollout.versions c WHERE c.agent = r.agent AND c.version = r.candidate)
					IS DISTINCT FROM
					(SELECT b.model FROM rollout.versions b WHERE b.agent = r.agent AND b.version = r.baseline)
			   THEN 1 + coalesce(rollout._plan_seconds(r.plan->'shadow', 'model_swap_extension', 0), 0)
			   ELSE 1 END)
$$;

-- The end of the blackout window a plan is in at p_at (NULL when it is not
-- in one): scanned forward in 10-minute steps for up to 8 days, then
-- narrowed to the second. Past 8 days: 'infinity'.
CREATE FUNCTION rollout._blackout_until(p_plan jsonb, p_at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_in timestamptz := p_at;
	v_out timestamptz;
	v_mid timestamptz;
BEGIN
	IF NOT rollout.in_blackout(p_plan, p_at) THEN
		RETURN NULL;
	END IF;
	FOR i IN 1 .. 1152 LOOP
		v_out := p_at + make_interval(mins => 10 * i);
		EXIT WHEN NOT rollout.in_blackout(p_plan, v_out);
		v_in := v_out;
		v_out := NULL;
	END LOOP;
	IF v_out IS NULL THEN
		RETURN 'infinity';
	END IF;
	WHILE v_out - v_in > interval '1 second' LOOP
		v_mid := v_in + (v_out - v_in) / 2;
		IF rollout.in_blackout(p_plan, v_mid) THEN
			v_in := v_mid;
		ELSE
			v_out := v_mid;
		END IF;
	END LOOP;
	RETURN date_trunc('second', v_out + interval '999 milliseconds');
END
$$;

-- One line a person reads saying why a rollout is not advancing, as of its
-- last evaluation (NULL for a finished rollout): what a paused, held or
-- approval-waiting rollout waits for; in the shadow phase, the pairs and
-- the time; in a canary, every gate failing or inconclusive, alerts fired,
-- the bake, samples short with the time they need at the current traffic,
-- blackout until when, and the last evaluation error.
CREATE FUNCTION rollout._waiting_for(r rollout.rollouts, p_n_candidate bigint, p_n_baseline bigint,
									 p_need bigint, p_bake_until timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_now timestamptz := coalesce(r.last_eval_at, r.stage_started_at);
	v_parts text[] := '{}';
	v_ev record;
	v_n bigint;
	v_sim float8;
	v_need bigint;
	v_until timestamptz;
	v_fail text[];
	v_alert text[];
	v_error text[];
	v_incon text[];
	v_factor float8;
	v_blackout timestamptz;
BEGIN
	IF NOT rollout.is_active_state(r.state) THEN
		RETURN NULL;
	END IF;
	IF r.state = 'paused' THEN
		SELECT e.action, e.acting_role, e.reason INTO v_ev FROM rollout.events e
			WHERE e.rollout_id = r.id AND e.action IN ('pause', 'freeze') ORDER BY e.id DESC LIMIT 1;
		RETURN CASE WHEN v_ev.action = 'freeze'
					THEN pg_catalog.format('a person to resume it (rollout.resume()): frozen by a gate: %s', r.hold_reason)
					ELSE pg_catalog.format('a person to resume it (rollout.resume()): paused by %s%s',
										   coalesce(v_ev.acting_role, 'someone'), coalesce(': ' || v_ev.reason, ''))
			   END || '; gates that roll back are still evaluated';
	END IF;
	IF r.state = 'awaiting_decision' THEN
		RETURN 'a decision: ' || coalesce(r.hold_reason, 'the experiment is over');
	END IF;
	IF r.state = 'awaiting_approval' THEN
		RETURN pg_catalog.format('approval by a second person (rollout.approve() or rollout.promote()): %s; gates that roll back are still evaluated',
								 coalesce(r.hold_reason, 'a gate failed'));
	END IF;

	IF r.stage = 0 THEN
		-- The shadow phase.
		SELECT coalesce(sum(w.n_similarity), 0), sum(w.sum_similarity) / nullif(sum(w.n_similarity), 0)
			INTO v_n, v_sim
			FROM rollout.shadow_windows w WHERE w.rollout_id = r.id AND w.stage = 0;
		v_need := coalesce((r.plan->'shadow'->>'min_samples')::bigint, 0);
		v_until := rollout._shadow_until(r);
		IF r.state = 'holding' AND v_n = 0 THEN
			RETURN 'shadow pairs (held: ' || coalesce(r.hold_reason, 'none recorded') || ')';
		ELSIF r.state = 'holding' THEN
			RETURN pg_catalog.format('shadow similarity to recover to %s (held: %s)',
									 r.plan->'shadow'->>'min_similarity', r.hold_reason);
		END IF;
		IF v_n = 0 THEN
			v_parts := v_parts || 'no shadow pairs recorded: the service must call rollout.record_shadow_pair() for the requests route() mirrors (decision.shadow_version)'::text;
		ELSIF v_n < v_need THEN
			v_parts := v_parts || pg_catalog.format('shadow pairs short: %s of %s%s', v_n, v_need,
				rollout._eta(v_now - r.stage_started_at, (v_need - v_n)::float8 / v_n));
		END IF;
		IF v_now < v_until THEN
			v_parts := v_parts || pg_catalog.format('shadow phase until %s', v_until);
		END IF;
		IF v_sim IS NOT NULL THEN
			v_parts := v_parts || pg_catalog.format('mean similarity %s (at least %s needed)',
				round(v_sim::numeric, 3), r.plan->'shadow'->>'min_similarity');
		END IF;
		RETURN array_to_string(v_parts, '; ');
	END IF;

	IF r.state = 'holding' THEN
		v_parts := v_parts || ('held: ' || coalesce(r.hold_reason, 'a gate failed'));
	END IF;
	-- The verdicts of the last evaluation.
	-- The verdicts of the last evaluation (A/B tests: variant:gate).
	SELECT array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'fail' AND gr.action NOT IN ('alert', 'dry_run')),
		   array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'fail' AND gr.action = 'alert'),
		   array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'error' AND gr.action <> 'dry_run'),
		   array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'inconclusive' AND gr.action NOT IN ('alert', 'dry_run'))
		INTO v_fail, v_alert, v_error, v_incon
		FROM (SELECT x.*, coalesce(x.variant || ':', '') || x.gate AS g FROM rollout.gate_results x) gr
		WHERE gr.rollout_id = r.id
		  AND gr.at = (SELECT max(g2.at) FROM rollout.gate_results g2 WHERE g2.rollout_id = r.id);
	IF r.state <> 'holding' AND cardinality(v_fail) > 0 THEN
		v_parts := v_parts || ('gates failing: ' || array_to_string(v_fail, ', '));
	END IF;
	IF cardinality(v_error) > 0 THEN
		v_parts := v_parts || ('gates in error: ' || array_to_string(v_error, ', '));
	END IF;
	IF cardinality(v_alert) > 0 THEN
		v_parts := v_parts || ('alert fired (does not block): ' || array_to_string(v_alert, ', '));
	END IF;
	IF r.strategy = 'blue_green' THEN
		v_parts := v_parts || CASE WHEN r.switched_at IS NULL
			THEN 'a person to switch the traffic to green (rollout.switch())'
			ELSE pg_catalog.format('green stable until %s (then promoted, if every gate passes)',
				r.switched_at + make_interval(secs => rollout._plan_seconds(r.plan, 'stable_period_seconds', 14400))) END;
	END IF;
	IF r.strategy = 'ab_test' THEN
		v_until := r.started_at + make_interval(secs =>
			rollout._plan_seconds(r.plan->'experiment', 'duration_seconds', 604800));
		v_parts := v_parts || CASE WHEN v_now < v_until
			THEN pg_catalog.format('the end of the experiment at %s', v_until)
			ELSE pg_catalog.format('experiment over, short of %s samples on a variant', r.plan->'experiment'->>'min_samples') END;
	END IF;
	IF p_bake_until IS NOT NULL AND v_now < p_bake_until THEN
		v_parts := v_parts || pg_catalog.format('bake until %s', p_bake_until);
	ELSIF r.extensions > 0 AND r.state <> 'holding' THEN
		v_parts := v_parts || pg_catalog.format('samples collected until %s (%s of %s extensions%s)',
			p_bake_until + (p_bake_until - r.stage_started_at) * r.extensions, r.extensions,
			coalesce(r.plan->'extend'->>'max_extensions', '3'), CASE WHEN r.boosted THEN ', boosted' ELSE '' END);
	END IF;
	IF p_need > 0 AND (p_n_candidate < p_need OR p_n_baseline < p_need) THEN
		-- The arms short of the step's samples, and the time the slower needs.
		v_factor := greatest((p_need - p_n_candidate)::float8 / nullif(p_n_candidate, 0),
							 (p_need - p_n_baseline)::float8 / nullif(p_n_baseline, 0));
		v_parts := v_parts || ('samples short: ' || concat_ws(', ',
			CASE WHEN p_n_candidate < p_need THEN pg_catalog.format('candidate %s of %s', p_n_candidate, p_need) END,
			CASE WHEN p_n_baseline < p_need THEN pg_catalog.format('baseline %s of %s', p_n_baseline, p_need) END)
			|| CASE WHEN least(p_n_candidate, p_n_baseline) = 0 THEN ', none yet, so no estimate of the time'
					ELSE rollout._eta(v_now - r.stage_started_at, v_factor) END);
	END IF;
	IF cardinality(v_incon) > 0 THEN
		v_parts := v_parts || ('gates inconclusive: ' || array_to_string(v_incon, ', '));
	END IF;
	v_blackout := rollout._blackout_until(r.plan, v_now);
	IF v_blackout IS NOT NULL THEN
		v_parts := v_parts || pg_catalog.format('blackout until %s', v_blackout);
	END IF;
	IF r.last_error IS NOT NULL THEN
		v_parts := v_parts || ('the last evaluation failed: ' || r.last_error);
	END IF;
	IF cardinality(v_parts) = 0 THEN
		RETURN CASE WHEN r.last_eval_at IS NULL THEN 'the first evaluation'
					ELSE 'nothing: it advances at the next evaluation' END;
	END IF;
	RETURN array_to_string(v_parts, '; ');
END
$$;

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
	r.last_error_at,
	rollout._waiting_for(r, n.n_candidate::bigint, n.n_baseline::bigint,
		CASE WHEN jsonb_typeof(step->'min_samples') = 'number'
				  AND (step->>'min_samples')::numeric BETWEEN 0 AND 9e18
			 THEN (step->>'min_samples')::numeric::bigint ELSE 0 END,
		bake.until) AS waiting_for
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
	rollout.promote(text, boolean, text, timestamptz, text),
	rollout.rollback(text, text, boolean, timestamptz),
	rollout.retry(text, text, timestamptz),
	rollout.tick(timestamptz)
	TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.deploy_now(text, integer, text, timestamptz) TO rollout_admin;
GRANT EXECUTE ON FUNCTION rollout.is_active_state(text) TO PUBLIC;
