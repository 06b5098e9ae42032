-- 62: tick(): evaluates every active rollout once and acts on the verdicts.
-- The worker calls it every rollout.tick_interval; cron may call it; tests
-- call it with a simulated clock. Every time rule reads p_at, never now().

-- Baseline metrics of promoted versions, refreshed after the stable period.
CREATE TABLE rollout.baselines (
	agent		text NOT NULL,
	version		integer NOT NULL,
	rollout_id	bigint NOT NULL REFERENCES rollout.rollouts (id),
	refreshed_at timestamptz NOT NULL,
	metrics		jsonb,
	PRIMARY KEY (agent, version, refreshed_at)
);

-- Records one verdict and returns its row id. PL/pgSQL keeps the plan; an
-- SQL function with SET is planned at every call, six times a tick per
-- rollout.
CREATE FUNCTION rollout._store_verdict(r rollout.rollouts, g jsonb, v rollout.gate_verdict,
									   p_at timestamptz, p_acted boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
BEGIN
	INSERT INTO rollout.gate_results (rollout_id, stage, at, gate, metric, comparison, test, verdict,
		statistic, p_value, estimate, ci_low, ci_high, n_candidate, n_baseline,
		value_candidate, value_baseline, threshold, window_from, window_to, action, acted, detail)
	VALUES (r.id, r.stage, p_at, g->>'name', g->>'metric', g->>'comparison', g->>'test', v.verdict,
		v.statistic, v.p_value, v.estimate, v.ci_low, v.ci_high, v.n_candidate, v.n_baseline,
		v.value_candidate, v.value_baseline,
		jsonb_build_object('margin', g->'margin', 'ratio', g->'ratio', 'alpha', g->'alpha',
						   'min_samples', g->'min_samples', 'window', g->'window',
						   'mode', g->'mode', 'higher_is_better', g->'higher_is_better',
						   'fail_margin', g->'fail_margin', 'fail_ratio', g->'fail_ratio',
						   'pass_alpha', g->'pass_alpha', 'prove_at_percent', g->'prove_at_percent'),
		v.window_from, v.window_to, g->>'action', p_acted, v.detail)
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

-- Records the verdicts of one evaluation in one statement, in gate order:
-- g[i], v[i] and acted[i] as _store_verdict() takes them. The arrays are
-- unnested side by side (ROWS FROM), so each verdict is taken apart once,
-- not once per column (issue 15).
CREATE FUNCTION rollout._store_verdicts(r rollout.rollouts, g jsonb[], v rollout.gate_verdict[],
										p_at timestamptz, acted boolean[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO rollout.gate_results (rollout_id, stage, at, gate, metric, comparison, test, verdict,
		statistic, p_value, estimate, ci_low, ci_high, n_candidate, n_baseline,
		value_candidate, value_baseline, threshold, window_from, window_to, action, acted, detail)
	SELECT r.id, r.stage, p_at, x.g->>'name', x.g->>'metric', x.g->>'comparison', x.g->>'test',
		x.verdict, x.statistic, x.p_value, x.estimate, x.ci_low, x.ci_high,
		x.n_candidate, x.n_baseline, x.value_candidate, x.value_baseline,
		jsonb_build_object('margin', x.g->'margin', 'ratio', x.g->'ratio', 'alpha', x.g->'alpha',
						   'min_samples', x.g->'min_samples', 'window', x.g->'window',
						   'mode', x.g->'mode', 'higher_is_better', x.g->'higher_is_better',
						   'fail_margin', x.g->'fail_margin', 'fail_ratio', x.g->'fail_ratio',
						   'pass_alpha', x.g->'pass_alpha', 'prove_at_percent', x.g->'prove_at_percent'),
		x.window_from, x.window_to, x.g->>'action', x.acted, x.detail
	FROM ROWS FROM (unnest(g), unnest(v), unnest(acted)) WITH ORDINALITY
		AS x(g, verdict, statistic, p_value, estimate, ci_low, ci_high, n_candidate, n_baseline,
			 value_candidate, value_baseline, window_from, window_to, detail, acted, i)
	-- A row per gate: ROWS FROM pads the shorter arrays with NULLs.
	WHERE x.i <= cardinality(_store_verdicts.g)
	ORDER BY x.i;
END
$$;

-- Sets a locked rollout to a holding-type state with a reason. The event
-- (and NOTIFY) is written when the rollout enters the state, once per
-- episode; while it stays there, a changed reason (another gate failing
-- too) only updates hold_reason. True when it entered the state.
CREATE FUNCTION rollout._hold(r rollout.rollouts, p_state text, p_action text, p_reason text,
							  p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF r.state = p_state THEN
		IF r.hold_reason IS DISTINCT FROM p_reason THEN
			UPDATE rollout.rollouts SET hold_reason = p_reason WHERE id = r.id;
		END IF;
		RETURN false;
	END IF;
	UPDATE rollout.rollouts SET state = p_state, hold_reason = p_reason,
		paused_from = CASE WHEN p_state = 'paused' THEN r.state END
		WHERE id = r.id;
	PERFORM rollout._record_change(r, p_action, p_reason, p_at);
	RETURN true;
END
$$;

-- The shadow phase (stage 0: state shadow, or holding on low similarity):
-- the gates that roll back act on shadow outputs; with no pair at all after
-- shadow.pair_grace it holds and alerts once; advance once its duration (longer by model_swap_extension when the
-- candidate's model differs from the baseline's) has passed with enough
-- pairs and enough similarity; hold when similarity is too low, and
-- release the hold once the mean similarity reaches the minimum again.
CREATE FUNCTION rollout._tick_shadow(r rollout.rollouts, p_at timestamptz,
									 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sh jsonb := r.plan->'shadow';
	v_n bigint;
	v_sim float8;
	v_need bigint := coalesce((sh->>'min_samples')::bigint, 0);
	v_min_sim float8 := coalesce((sh->>'min_similarity')::float8, 0);
	v_until timestamptz := rollout._shadow_until(r);
	v_low text;
	v_none text;
BEGIN
	-- Guards never sleep (rollout._shadow_guards).
	SELECT x.action, x.detail INTO action, detail FROM rollout._shadow_guards(r, p_at) x;
	IF action IS NOT NULL THEN
		RETURN;
	END IF;
	SELECT coalesce(sum(w.n_similarity), 0), sum(w.sum_similarity) / nullif(sum(w.n_similarity), 0)
		INTO v_n, v_sim
		FROM rollout.shadow_windows w WHERE w.rollout_id = r.id AND w.stage = 0;
	v_low := pg_catalog.format('shadow similarity %s below %s over %s pairs',
							   round(v_sim::numeric, 3), v_min_sim, v_n);
	v_none := pg_catalog.format('no shadow pairs recorded since %s: the service must call rollout.record_shadow_pair() for the requests route() mirrors (decision.shadow_version)',
								r.stage_started_at);
	-- No pair at all after the grace period, in a phase that needs pairs:
	-- hold, and alert once.
	IF v_n = 0 AND (v_need > 0 OR v_min_sim > 0) AND p_at >= r.stage_started_at
		+ make_interval(secs => rollout._plan_seconds(sh, 'pair_grace_seconds', 3600)) THEN
		IF rollout._hold(r, 'holding', 'hold', v_none, p_at) THEN
			PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
				jsonb_build_object('shadow_pairs', 0), v_none, p_at);
			PERFORM rollout._notify_change(r.id, r.agent, 'alert', 'holding', r.stage, r.percent, p_at, v_none);
			action := 'hold';
		ELSE
			action := 'wait';
		END IF;
		detail := v_none;
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		IF v_sim IS NULL OR v_sim < v_min_sim THEN
			PERFORM rollout._hold(r, 'holding', 'hold', v_low, p_at);
			action := 'wait';
			detail := v_low;
			RETURN;
		END IF;
		UPDATE rollout.rollouts SET state = 'shadow', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release',
			pg_catalog.format('shadow similarity at least the minimum: %s over %s pairs',
							  round(v_sim::numeric, 3), v_n), p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
		action := 'release';
	END IF;
	IF p_at < v_until THEN
		action := coalesce(action, 'wait');
		detail := pg_catalog.format('shadow phase until %s: %s pairs, mean similarity %s',
									v_until, v_n, coalesce(round(v_sim::numeric, 3)::text, 'none'));
		RETURN;
	END IF;
	IF v_n < v_need OR (v_n = 0 AND v_min_sim > 0) THEN
		action := coalesce(action, 'wait');
		detail := pg_catalog.format('shadow phase short of pairs: %s of %s', v_n, v_need);
		RETURN;
	END IF;
	IF v_sim IS NOT NULL AND v_sim < v_min_sim THEN
		IF rollout._hold(r, 'holding', 'hold', v_low, p_at) THEN
			action := 'hold';
		ELSE
			action := 'wait';
		END IF;
		detail := v_low;
		RETURN;
	END IF;
	detail := pg_catalog.format('shadow phase passed: %s pairs, mean similarity %s', v_n,
								coalesce(round(v_sim::numeric, 3)::text, 'n/a'));
	IF r.strategy = 'shadow' AND r.approved_stage IS DISTINCT FROM 0 THEN
		-- Strategy shadow: the candidate has served no user, so a person
		-- decides (a second one, as for any approval).
		detail := detail || '; strategy shadow: the candidate has served no user';
		action := CASE WHEN rollout._hold(r, 'awaiting_approval', 'hold_for_approval', detail, p_at)
					   THEN 'hold_for_approval' ELSE 'wait' END;
		RETURN;
	END IF;
	detail := rollout._advance(r, false, 'advance', detail, p_at);
	action := CASE WHEN detail = 'promoted' THEN 'promote' ELSE 'advance' END;
END
$$;

-- The shadow phase's guards, in every state of the phase: the gates that
-- roll back compare the candidate's shadow outcomes (record(..., shadow =>
-- true)) with production's in the phase, and a failing one ends the rollout
-- before anyone is served. action is NULL when none failed.
CREATE FUNCTION rollout._shadow_guards(r rollout.rollouts, p_at timestamptz,
									   OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_fail text[] := '{}';
	v_now boolean := false;
BEGIN
	-- Every such gate is evaluated and stored; a failing rollback_now wins
	-- over a failing rollback (no drain), whatever their order in the plan.
	FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x
			 WHERE x->>'action' IN ('rollback', 'rollback_now') LOOP
		v := rollout._arm_verdict(r, g, 'candidate', rollout.window_start(r.stage_started_at),
								  p_at + interval '1 microsecond', 'stable',
								  rollout.window_start(r.stage_started_at), p_at + interval '1 microsecond', 1, true);
		CONTINUE WHEN v.n_candidate = 0;
		PERFORM rollout._store_verdict(r, g, v, p_at, v.verdict = 'fail');
		IF v.verdict = 'fail' THEN
			v_fail := v_fail || pg_catalog.format('gate %s failed on shadow outputs%s: %s', g->>'name',
				CASE WHEN r.state IN ('paused', 'awaiting_approval') THEN ' while ' || r.state ELSE '' END,
				v.detail);
			v_now := v_now OR g->>'action' = 'rollback_now';
		END IF;
	END LOOP;
	IF cardinality(v_fail) > 0 THEN
		action := CASE WHEN v_now THEN 'rollback_now' ELSE 'rollback' END;
		detail := array_to_string(v_fail, '; ');
		PERFORM rollout._finish_rollback(r, v_now, action, detail, p_at);
	END IF;
END
$$;

-- Sample ratio mismatch: the observed candidate/stable split of outcomes
-- against the share each stage routes to the candidate. Returns a reason,
-- or NULL. The check looks at a growing sample at every tick, so it uses
-- the always-valid event-share test (two-sided, every stage of the canary
-- one segment) at the plan's srm_alpha, a tenth of its error budget: a
-- fixed-sample chi-square at p < 0.001 repeated every 5 minutes held 5% of
-- the A/A canaries of test/sim within their 1% and 5% stages.
CREATE FUNCTION rollout._srm_reason(r rollout.rollouts, p_at timestamptz) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_alpha float8 := coalesce((r.plan->>'srm_alpha')::float8, 0.001);
	v_c bigint[];
	v_b bigint[];
	v_share float8[];
	t record;
BEGIN
	IF r.strategy <> 'canary' OR r.percent <= 0 OR r.percent >= 100
	   OR jsonb_array_length(r.rules) > 0 OR r.boosted THEN
		RETURN NULL;
	END IF;
	-- Its tally row: what _tally_gate(r, '{"name": ".srm"}', p_at) writes
	-- (the outcomes of the stage's ended windows, per arm, as both n and
	-- x), here without a call.
	INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
		n_baseline, x_candidate, x_baseline, y_candidate, y_baseline)
	SELECT r.id, '.srm', r.stage, greatest(rollout.window_start(p_at), rollout.window_start(r.stage_started_at)),
		   a.nc, a.nb, a.nc, a.nb, a.nc, a.nb
	FROM (SELECT coalesce(sum(w.n) FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
				 coalesce(sum(w.n) FILTER (WHERE w.arm = 'stable'), 0) AS nb
		  FROM rollout.outcome_windows w
		  WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			AND w.window_start >= rollout.window_start(r.stage_started_at)
			AND w.window_start < rollout.window_start(p_at)) a
	ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = rollout.window_start(p_at),
		n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
		x_candidate = excluded.x_candidate, x_baseline = excluded.x_baseline,
		y_candidate = excluded.y_candidate, y_baseline = excluded.y_baseline
		WHERE x.counted_to < rollout.window_start(p_at);
	SELECT array_agg(x.n_candidate ORDER BY x.stage), array_agg(x.n_baseline ORDER BY x.stage),
		   array_agg(s.percent::float8 / 100 ORDER BY x.stage)
		INTO v_c, v_b, v_share
		FROM rollout.gate_tallies x
		JOIN rollout.stages s ON s.rollout_id = r.id AND s.stage = x.stage
		WHERE x.rollout_id = r.id AND x.gate = '.srm' AND x.stage >= 1
		  AND s.percent > 0 AND s.percent < 100;
	-- Below 1 000 outcomes the split says little about the assignment:
	-- outcomes of one unit come together, and fixtures record arms evenly.
	IF v_c IS NULL OR (SELECT sum(u) FROM unnest(v_c || v_b) u) < 1000 THEN
		RETURN NULL;
	END IF;
	SELECT * INTO t FROM rollout.event_share_test(v_c, v_b, v_share, 1, 'two-sided');
	IF t.p_value < v_alpha THEN
		-- The reason stays the same while the mismatch lasts, so the hold
		-- is recorded once.
		RETURN pg_catalog.format('sample ratio mismatch: the candidate''s share of outcomes is not the %s%% routed to it (always-valid test at %s)',
								 r.percent, v_alpha);
	END IF;
	RETURN NULL;
END
$$;

-- Raises a locked rollout's share to its next step's for sample collection
-- when the plan allows it (extend.allow_boost), once per stage (_advance
-- clears the flag); true when it did. The stage and its bake stay; only
-- the share changes.
CREATE FUNCTION rollout._boost(r rollout.rollouts, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_next jsonb := r.plan->'steps'->r.stage;
BEGIN
	IF r.boosted OR NOT coalesce((r.plan->'extend'->>'allow_boost')::boolean, false)
	   OR v_next IS NULL OR (v_next->>'percent')::numeric >= 100 THEN
		RETURN false;
	END IF;
	UPDATE rollout.rollouts SET percent = (v_next->>'percent')::numeric, boosted = true WHERE id = r.id;
	PERFORM rollout._record_change(r, 'boost',
		pg_catalog.format('short of samples: share raised to %s%% for sample collection', v_next->>'percent'), p_at);
	RETURN true;
END
$$;

-- Counts a failing evaluation of a rollback gate in a rollout's fail_streak:
-- once per gate window, so that "consecutive" counts windows, not ticks.
-- Returns the streak with {"<gate>": {"count": n, "last": <time counted>}}.
CREATE FUNCTION rollout._count_failing_window(p_streak jsonb, g jsonb, p_at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_name text := g->>'name';
	v_count integer := coalesce((p_streak->v_name->>'count')::integer, 0);
	v_last timestamptz := (p_streak->v_name->>'last')::timestamptz;
BEGIN
	IF v_last IS NULL OR p_at - v_last >= make_interval(secs => coalesce((g->>'window_seconds')::float8, 0)) THEN
		v_count := v_count + 1;
		v_last := p_at;
	END IF;
	RETURN p_streak || jsonb_build_object(v_name, jsonb_build_object('count', v_count, 'last', v_last));
END
$$;

-- A paused or awaiting_approval rollout: its candidate still serves, so
-- the gates that roll back are still evaluated and act as they would in
-- canary: every one is evaluated and stored, each alerts once per failure
-- episode, rollback_now acts at the first failure and wins over rollback,
-- which acts after its consecutive failing windows (the same fail_streak
-- count). Nothing else is evaluated and nothing advances.
CREATE FUNCTION rollout._tick_protect(r rollout.rollouts, p_at timestamptz,
									  OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_action text;
	v_detail text;
	v_name text;
	v_acts boolean;
	v_count integer;
	v_streak jsonb := r.fail_streak;
	v_now text[] := '{}';
	v_rollback text[] := '{}';
	v_alerts text[] := '{}';
	v_store_g jsonb[] := '{}';
	v_store_v rollout.gate_verdict[] := '{}';
	v_store_a boolean[] := '{}';
BEGIN
	action := 'wait';
	detail := pg_catalog.format('%s: only the gates that roll back are evaluated', r.state);
	IF r.stage = 0 THEN
		-- The shadow phase: its guards, on the candidate's shadow outputs.
		UPDATE rollout.rollouts SET last_eval_at = p_at WHERE id = r.id;
		SELECT x.action, x.detail INTO v_action, v_detail FROM rollout._shadow_guards(r, p_at) x;
		action := coalesce(v_action, action);
		detail := coalesce(v_detail, detail);
		RETURN;
	END IF;
	IF r.percent <= 0 THEN
		RETURN;
	END IF;
	FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x
			 WHERE x->>'action' IN ('rollback', 'rollback_now') LOOP
		v_name := g->>'name';
		IF g->>'test' IN ('event_share', 'sequential') THEN
			v := rollout._evaluate_gate_av(r, g, p_at);
		ELSE
			v := rollout._evaluate_gate(r, g, p_at);
		END IF;
		v_acts := false;
		-- The alert episode, as in _tick_canary: once when the gate starts
		-- failing, again only after it has passed.
		IF v.verdict = 'pass' AND v_streak ? ('alert:' || v_name) THEN
			v_streak := v_streak - ('alert:' || v_name);
		END IF;
		IF v.verdict = 'fail' THEN
			IF coalesce((g->>'alert')::boolean, false) AND NOT v_streak ? ('alert:' || v_name) THEN
				v_alerts := v_alerts || v_name;
				v_streak := v_streak || jsonb_build_object('alert:' || v_name, p_at);
			END IF;
			IF g->>'action' = 'rollback_now' THEN
				v_acts := true;
				v_now := v_now || pg_catalog.format('gate %s failed while %s: %s', v_name, r.state, v.detail);
			ELSE
				v_streak := rollout._count_failing_window(v_streak, g, p_at);
				v_count := (v_streak->v_name->>'count')::integer;
				v_acts := v_count >= coalesce((g->>'consecutive')::integer, 1);
				IF v_acts THEN
					v_rollback := v_rollback || CASE WHEN v_count > 1
						THEN pg_catalog.format('gate %s failed in %s consecutive windows while %s: %s',
											   v_name, v_count, r.state, v.detail)
						ELSE pg_catalog.format('gate %s failed while %s: %s', v_name, r.state, v.detail) END;
				ELSE
					detail := pg_catalog.format('%s: gate %s failed (%s of %s windows)', r.state, v_name, v_count,
												g->>'consecutive');
				END IF;
			END IF;
		ELSIF v_streak ? v_name THEN
			v_streak := v_streak - v_name;
		END IF;
		v_store_g := v_store_g || g; v_store_v := v_store_v || v; v_store_a := v_store_a || v_acts;
	END LOOP;
	PERFORM rollout._store_verdicts(r, v_store_g, v_store_v, p_at, v_store_a);
	UPDATE rollout.rollouts SET last_eval_at = p_at, fail_streak = v_streak WHERE id = r.id;
	IF cardinality(v_alerts) > 0 THEN
		PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
			jsonb_build_object('gates', to_jsonb(v_alerts)),
			'gates started failing: ' || array_to_string(v_alerts, ', '), p_at);
		PERFORM rollout._notify_change(r.id, r.agent, 'alert', r.state, r.stage, r.percent, p_at,
									   'gates failed: ' || array_to_string(v_alerts, ', '));
	END IF;
	-- rollback_now wins over rollback (no drain), whatever the plan's order.
	IF cardinality(v_now) > 0 THEN
		action := 'rollback_now';
		detail := array_to_string(v_now || v_rollback, '; ');
		PERFORM rollout._finish_rollback(r, true, action, detail, p_at);
	ELSIF cardinality(v_rollback) > 0 THEN
		action := 'rollback';
		detail := array_to_string(v_rollback, '; ');
		PERFORM rollout._finish_rollback(r, false, action, detail, p_at);
	END IF;
END
$$;

-- Evaluates the gates of one locked canary (or holding) rollout and acts on
-- them: the worst failing action wins (rollback_now, rollback, freeze,
-- hold_for_approval, hold; SRM holds too), its reason listing every gate
-- failing with that action. With nothing failing, a stage whose bake is over
-- but short of samples (the step's, or a gate's own min_samples) is boosted
-- when the plan allows it (inconclusive gates do not prevent it), else its
-- bake is extended by one bake period, up to extend.max_extensions periods
-- (the boosted one included), then it holds until the samples are in; it
-- advances as soon as they are in.
CREATE FUNCTION rollout._tick_canary(r rollout.rollouts, p_at timestamptz,
									 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_name text;
	v_act text;
	v_streak jsonb := r.fail_streak;
	v_count integer;
	v_min bigint;
	v_rollback_now text[] := '{}';
	v_rollback text[] := '{}';
	v_freeze text[] := '{}';
	v_approval text[] := '{}';
	v_hold text[] := '{}';
	v_alerts text[] := '{}';
	v_blocking text[] := '{}';
	v_short_gates text[] := '{}';
	v_errors boolean := false;
	v_verdicts jsonb := '{}';
	v_srm text;
	v_reason text;
	v_step jsonb;
	v_bake float8;
	v_bake_until timestamptz;
	v_max_ext integer := coalesce((r.plan->'extend'->>'max_extensions')::integer, 3);
	v_need bigint;
	v_n_c bigint;
	v_n_b bigint;
	v_store_g jsonb[] := '{}';
	v_store_v rollout.gate_verdict[] := '{}';
	v_store_a boolean[] := '{}';
	v_short text;
	v_collect_until timestamptz;
	v_gates jsonb := coalesce(r.plan->'gates', '[]');
	v_sums rollout.gate_tally_sums[];
	v_fast boolean[];
	v_tallied boolean := true;
	v_i integer;
BEGIN
	-- The always-valid gates read their tallies (issue 15): tallied in three
	-- statements (_tally_gates), then every gate's read at once. If the
	-- tallies fail, each gate is evaluated on its own below, where the
	-- failure becomes its 'error' verdict, as before.
	BEGIN
		PERFORM rollout._tally_gates(r, v_gates, p_at);
	EXCEPTION WHEN OTHERS THEN
		v_tallied := false;
	END;
	-- Every gate's tallies in one grouped read (a gate without rows, or not
	-- always-valid, gets NULLs but for canary_from), not one read per gate.
	SELECT array_agg(ROW(s.xc, s.xb, s.yc, s.yb, s.share, s.nc, s.nb, s.sxc, s.sxb, s.sc, s.sb,
						 s.qc, s.qb, s.base,
						 (SELECT st.started_at FROM rollout.stages st
						  WHERE st.rollout_id = r.id AND st.stage = 1))::rollout.gate_tally_sums
					 ORDER BY o.ord),
		   array_agg(v_tallied AND (rollout._gate_set_tallied(o.x)
					  OR o.x->>'test' IN ('event_share', 'sequential')
						 AND (o.x->>'comparison' NOT IN ('rate', 'mean')
							  OR o.x->>'comparison' = 'mean' AND o.x->>'metric' LIKE 'metrics.%')) ORDER BY o.ord)
		INTO v_sums, v_fast
		FROM jsonb_array_elements(v_gates) WITH ORDINALITY AS o(x, ord)
		LEFT JOIN (
			SELECT y.gate, array_agg(y.x_candidate ORDER BY y.stage) AS xc,
				   array_agg(y.x_baseline ORDER BY y.stage) AS xb,
				   array_agg(y.y_candidate ORDER BY y.stage) AS yc,
				   array_agg(y.y_baseline ORDER BY y.stage) AS yb,
				   array_agg(y.n_candidate::float8 / (y.n_candidate + y.n_baseline) ORDER BY y.stage) AS share,
				   sum(y.n_candidate) AS nc, sum(y.n_baseline) AS nb,
				   sum(y.x_candidate) AS sxc, sum(y.x_baseline) AS sxb,
				   sum(y.sum_candidate) AS sc, sum(y.sum_baseline) AS sb,
				   sum(y.sumsq_candidate) AS qc, sum(y.sumsq_baseline) AS qb,
				   (array_agg(y.baseline_quantile ORDER BY y.stage DESC))[1] AS base
			FROM rollout.gate_tallies y
			WHERE y.rollout_id = r.id AND y.stage >= 1 AND y.n_candidate + y.n_baseline > 0
			GROUP BY y.gate) s
		  ON s.gate = o.x->>'name' AND o.x->>'test' IN ('event_share', 'sequential');

	-- The gates in plan order, without a query.
	FOR v_i IN 1..jsonb_array_length(v_gates) LOOP
		g := v_gates->(v_i - 1);
		v_name := g->>'name';
		v_act := g->>'action';
		-- Always-valid tests directly: _evaluate_gate would only pass them on.
		IF v_fast[v_i] THEN
			v := rollout._verdict_av(r, g, p_at, v_sums[v_i]);
		ELSIF g->>'test' IN ('event_share', 'sequential') THEN
			v := rollout._evaluate_gate_av(r, g, p_at);
		ELSE
			v := rollout._evaluate_gate(r, g, p_at);
		END IF;
		v_verdicts := v_verdicts || jsonb_build_object(v_name, v.verdict);
		IF v_act = 'dry_run' THEN
			v_store_g := v_store_g || g; v_store_v := v_store_v || v; v_store_a := v_store_a || false;
			CONTINUE;
		END IF;
		-- An alert gate tells people; it does not stop the rollout.
		IF v.verdict <> 'pass' AND v_act <> 'alert' THEN
			v_blocking := v_blocking || pg_catalog.format('%s %s', v_name, v.verdict);
			v_errors := v_errors OR v.verdict = 'error';
		END IF;
		v_min := coalesce((g->>'min_samples')::bigint, 0);
		IF v.verdict = 'inconclusive' AND v_act <> 'alert'
		   AND (coalesce(v.n_candidate, 0) < v_min OR coalesce(v.n_baseline, 0) < v_min) THEN
			v_short_gates := v_short_gates || pg_catalog.format('%s %s of %s', v_name,
				least(coalesce(v.n_candidate, 0), coalesce(v.n_baseline, 0)), v_min);
		END IF;
		-- Alerts go out once per failure episode: when a gate starts failing,
		-- and again only after it has passed (fail_streak remembers
		-- "alert:<gate>" across stages; an inconclusive verdict does not end
		-- the episode).
		IF v.verdict = 'pass' AND v_streak ? ('alert:' || v_name) THEN
			v_streak := v_streak - ('alert:' || v_name);
		END IF;
		IF v.verdict = 'fail' THEN
			IF (coalesce((g->>'alert')::boolean, false) OR v_act = 'alert')
			   AND NOT v_streak ? ('alert:' || v_name) THEN
				v_alerts := v_alerts || v_name;
				v_streak := v_streak || jsonb_build_object('alert:' || v_name, p_at);
			END IF;
			CASE v_act
				WHEN 'rollback_now' THEN
					v_rollback_now := v_rollback_now || pg_catalog.format('gate %s failed: %s', v_name, v.detail);
				WHEN 'rollback' THEN
					v_streak := rollout._count_failing_window(v_streak, g, p_at);
					v_count := (v_streak->v_name->>'count')::integer;
					IF v_count >= coalesce((g->>'consecutive')::integer, 1) THEN
						v_rollback := v_rollback || pg_catalog.format('gate %s failed in %s consecutive windows', v_name, v_count);
					ELSE
						v_hold := v_hold || pg_catalog.format('gate %s failed (%s of %s windows)', v_name, v_count, g->>'consecutive');
					END IF;
				WHEN 'freeze' THEN
					v_freeze := v_freeze || pg_catalog.format('gate %s failed', v_name);
				WHEN 'hold_for_approval' THEN
					IF r.approved_stage IS DISTINCT FROM r.stage THEN
						v_approval := v_approval || pg_catalog.format('gate %s failed', v_name);
					ELSE
						-- Approved for this stage: the failure no longer blocks.
						v_blocking := array_remove(v_blocking, pg_catalog.format('%s fail', v_name));
					END IF;
				WHEN 'hold' THEN
					v_hold := v_hold || pg_catalog.format('gate %s failed', v_name);
				ELSE
					NULL;
			END CASE;
		ELSIF v_streak ? v_name THEN
			v_streak := v_streak - v_name;
		END IF;
		v_store_g := v_store_g || g; v_store_v := v_store_v || v;
		v_store_a := v_store_a ||
			(v.verdict = 'fail' AND v_act IN ('rollback_now', 'rollback', 'freeze', 'hold_for_approval', 'hold'));
	END LOOP;
	-- The verdicts, in one statement (issue 15).
	PERFORM rollout._store_verdicts(r, v_store_g, v_store_v, p_at, v_store_a);

	UPDATE rollout.rollouts SET fail_streak = v_streak, last_eval_at = p_at WHERE id = r.id;
	-- Unchanged verdicts (most evaluations) are not written again.
	UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage
		AND verdicts IS DISTINCT FROM v_verdicts;
	-- The row as the UPDATE left it, without reading it again.
	r.fail_streak := v_streak;
	r.last_eval_at := p_at;

	IF cardinality(v_alerts) > 0 THEN
		PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
			jsonb_build_object('gates', to_jsonb(v_alerts)),
			'gates started failing: ' || array_to_string(v_alerts, ', '), p_at);
		PERFORM rollout._notify_change(r.id, r.agent, 'alert', r.state, r.stage, r.percent, p_at,
									   'gates failed: ' || array_to_string(v_alerts, ', '));
	END IF;

	IF cardinality(v_rollback_now) > 0 THEN
		detail := array_to_string(v_rollback_now, '; ');
		PERFORM rollout._finish_rollback(r, true, 'rollback_now', detail, p_at);
		action := 'rollback_now';
		RETURN;
	END IF;
	IF cardinality(v_rollback) > 0 THEN
		detail := array_to_string(v_rollback, '; ');
		PERFORM rollout._finish_rollback(r, false, 'rollback', detail, p_at);
		action := 'rollback';
		RETURN;
	END IF;
	IF cardinality(v_freeze) > 0 THEN
		detail := array_to_string(v_freeze, '; ');
		PERFORM rollout._hold(r, 'paused', 'freeze', detail, p_at);
		action := 'freeze';
		RETURN;
	END IF;
	IF cardinality(v_approval) > 0 THEN
		detail := array_to_string(v_approval, '; ');
		PERFORM rollout._hold(r, 'awaiting_approval', 'hold_for_approval', detail, p_at);
		action := 'hold_for_approval';
		RETURN;
	END IF;
	v_srm := rollout._srm_reason(r, p_at);
	IF v_srm IS NOT NULL THEN
		v_hold := v_hold || v_srm;
	END IF;
	IF cardinality(v_hold) > 0 THEN
		detail := array_to_string(v_hold, '; ');
		action := CASE WHEN rollout._hold(r, 'holding', 'hold', detail, p_at) THEN 'hold' ELSE 'wait' END;
		RETURN;
	END IF;

	-- Nothing failed. Advancing needs every acting gate to pass, the bake
	-- time and the step's samples.
	v_step := r.plan->'steps'->(r.stage - 1);
	v_bake := coalesce((v_step->>'bake_seconds')::float8, 0);
	v_bake_until := r.stage_started_at + make_interval(secs => v_bake);
	-- Sample collection runs in bake periods: the boosted one and each
	-- extension add one; the next step is taken when the current one ends.
	v_collect_until := r.stage_started_at + make_interval(secs => v_bake * (1 + r.extensions));
	v_need := coalesce((v_step->>'min_samples')::bigint, 0);
	-- The stage's live windows so far (what _arm_counts() sums), read here.
	SELECT coalesce(sum(w.n) FILTER (WHERE w.arm = 'candidate'), 0),
		   coalesce(sum(w.n) FILTER (WHERE w.arm = 'stable'), 0)
		INTO v_n_c, v_n_b
		FROM rollout.outcome_windows w
		WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
		  AND w.window_start >= rollout.window_start(r.stage_started_at)
		  AND w.window_start < p_at + interval '1 microsecond';
	IF v_n_c < v_need OR v_n_b < v_need THEN
		v_short := pg_catalog.format('candidate %s, baseline %s, need %s', v_n_c, v_n_b, v_need);
	END IF;
	IF cardinality(v_short_gates) > 0 THEN
		v_short := concat_ws('; ', v_short, 'gates ' || array_to_string(v_short_gates, ', '));
	END IF;

	IF p_at >= v_bake_until AND v_short IS NOT NULL AND NOT v_errors
	   AND v_step IS NOT NULL AND r.strategy <> 'ab_test' THEN
		-- Sample collection: boost once when allowed, else extend the bake,
		-- else hold until the samples are in; within a period, wait. The
		-- rollout advances as soon as the samples are in.
		IF p_at < v_collect_until THEN
			action := 'wait';
			detail := pg_catalog.format('short of samples (%s): collecting until %s', v_short, v_collect_until);
			RETURN;
		END IF;
		IF v_bake > 0 AND rollout._boost(r, p_at) THEN
			-- The boosted period counts as one extension.
			UPDATE rollout.rollouts SET extensions = r.extensions + 1 WHERE id = r.id;
			action := 'boost';
			detail := 'bake time over, short of samples: ' || v_short;
			RETURN;
		END IF;
		IF r.extensions < v_max_ext AND v_bake > 0 THEN
			UPDATE rollout.rollouts SET extensions = r.extensions + 1 WHERE id = r.id;
			detail := pg_catalog.format('bake time over, short of samples (%s): collecting until %s (extension %s of %s)',
				v_short, v_collect_until + make_interval(secs => v_bake), r.extensions + 1, v_max_ext);
			PERFORM rollout._record_change(r, 'extend', detail, p_at);
			action := 'extend';
			RETURN;
		END IF;
		v_reason := pg_catalog.format('short of samples after %s extensions of the bake: %s', r.extensions, v_short);
		action := CASE WHEN rollout._hold(r, 'holding', 'hold', v_reason, p_at) THEN 'hold' ELSE 'wait' END;
		detail := v_reason;
		RETURN;
	END IF;

	IF cardinality(v_blocking) > 0 THEN
		action := 'wait';
		detail := 'gates not passed: ' || array_to_string(v_blocking, ', ');
		IF r.state = 'holding' THEN
			-- No gate fails any more; the hold ends when every gate passes.
			PERFORM rollout._hold(r, 'holding', 'hold',
				'no gate fails now; released when every gate passes (' || array_to_string(v_blocking, ', ') || ')', p_at);
		END IF;
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		UPDATE rollout.rollouts SET state = 'canary', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release', 'every gate passes again', p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
	END IF;

	IF p_at < v_bake_until THEN
		action := 'wait';
		detail := pg_catalog.format('baking until %s', v_bake_until);
		RETURN;
	END IF;
	IF rollout.in_blackout(r.plan, p_at) THEN
		action := 'wait';
		detail := 'inside a blackout window';
		RETURN;
	END IF;
	detail := rollout._advance(r, false, 'advance',
		pg_catalog.format('stage %s passed: every gate passed, %s candidate and %s baseline samples',
						  r.stage, v_n_c, v_n_b), p_at);
	action := CASE WHEN detail = 'promoted' THEN 'promote' ELSE 'advance' END;
END
$$;

-- The last error tick() met evaluating a rollout (NULL after a clean
-- evaluation); rollout.status shows it.
ALTER TABLE rollout.rollouts
	ADD COLUMN last_error		text,
	ADD COLUMN last_error_at	timestamptz;

-- A number of seconds from a plan (e.g. evaluation_interval_seconds), or
-- p_default when the key is missing or not a finite non-negative number:
-- a bad value in one plan never breaks a query over every rollout.
CREATE FUNCTION rollout._plan_seconds(p_plan jsonb, p_key text, p_default float8)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN jsonb_typeof(p_plan->p_key) = 'number'
					 AND (p_plan->>p_key)::numeric BETWEEN 0 AND 1e9
				THEN (p_plan->>p_key)::float8 ELSE p_default END
$$;
GRANT EXECUTE ON FUNCTION rollout._plan_seconds(jsonb, text, float8) TO rollout_reader;

-- Evaluates one rollout at the clock `at`, its row already locked by the
-- caller: dispatches on its state and strategy and returns what it did
-- (action NULL: not due yet). The loop of tick() and the worker call it once
-- per rollout; an error here is the rollout's own and the caller records it.
CREATE FUNCTION rollout._tick_one(r rollout.rollouts, at timestamptz,
	OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res record;
	v_interval interval;
BEGIN
	IF jsonb_typeof(r.plan->'evaluation_interval_seconds') NOT IN ('number', 'null') THEN
		RAISE EXCEPTION 'plan of rollout % has a bad "evaluation_interval_seconds"', r.id
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'It must be a number of seconds.';
	END IF;
	v_interval := make_interval(secs => coalesce((r.plan->>'evaluation_interval_seconds')::float8, 300));
	IF r.last_eval_at IS NOT NULL AND at < r.last_eval_at + v_interval THEN
		RETURN;
	END IF;
	IF r.strategy = 'blue_green' AND r.stage >= 1 THEN
		-- Green after the switch against blue before it.
		res := rollout._tick_bg(r, at, r.state IN ('paused', 'awaiting_approval'));
	ELSIF r.strategy = 'ab_test' THEN
		-- Every variant against the control; paused: only the gates that
		-- roll back.
		res := rollout._tick_ab(r, at, r.state IN ('paused', 'awaiting_approval'));
	ELSIF r.state IN ('paused', 'awaiting_approval') THEN
		-- Pausing stops advancement, never protection.
		res := rollout._tick_protect(r, at);
	ELSIF r.stage = 0 AND r.state IN ('shadow', 'holding') THEN
		-- The shadow phase, or a hold on its similarity.
		UPDATE rollout.rollouts x SET last_eval_at = at WHERE x.id = r.id;
		res := rollout._tick_shadow(r, at);
	ELSE
		res := rollout._tick_canary(r, at);
	END IF;
	action := coalesce(res.action, 'wait');
	detail := res.detail;
	IF r.last_error IS NOT NULL THEN
		UPDATE rollout.rollouts x SET last_error = NULL, last_error_at = NULL
		WHERE x.id = r.id;
	END IF;
END
$$;

-- The prelude of a tick at the clock `at`: folds the committed outcomes into
-- the window aggregates and moves route()'s exposure counters into their
-- totals. tick() runs it in its own transaction; the worker commits it
-- before it evaluates the rollouts, each in a transaction of its own.
CREATE FUNCTION rollout._tick_begin(at timestamptz) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout.refresh_aggregates(at);
	PERFORM rollout._flush_exposures_into_totals(at);
END
$$;

-- The active rollouts due for an evaluation at the clock `at`, those never
-- evaluated or evaluated longest ago first; at most p_limit (NULL: all).
-- A plan whose evaluation interval _tick_one() would reject is always
-- listed, so the error is recorded.
CREATE FUNCTION rollout._due_rollouts(at timestamptz, p_limit bigint DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT x.id FROM rollout.rollouts x
	-- The plan is stored compressed: its interval is taken out once per
	-- rollout (OFFSET 0), not once per use; e #>> '{}' is what
	-- x.plan->>'evaluation_interval_seconds' was, and the CASE what
	-- _plan_seconds(x.plan, 'evaluation_interval_seconds', 300) was.
	CROSS JOIN LATERAL (SELECT x.plan->'evaluation_interval_seconds' AS e OFFSET 0) p
	WHERE rollout.is_active_state(x.state)
	  AND (x.last_eval_at IS NULL
		   OR jsonb_typeof(p.e) NOT IN ('number', 'null')
		   OR NOT ((p.e #>> '{}')::numeric BETWEEN 0 AND 1e9)
		   OR at >= x.last_eval_at
				+ make_interval(secs => CASE WHEN jsonb_typeof(p.e) = 'number'
												  AND (p.e #>> '{}')::numeric BETWEEN 0 AND 1e9
											 THEN (p.e #>> '{}')::float8 ELSE 300 END))
	ORDER BY x.last_eval_at NULLS FIRST, x.id
	LIMIT p_limit
$$;

-- Evaluates one rollout at the clock `at`: locks its row (a row locked by
-- another transaction is skipped, never waited for), re-reads it, runs
-- _tick_one() and returns what it did; no row when the rollout is no longer
-- active or not due. An error is the rollout's own: it is returned and
-- kept in last_error. tick() calls it for every due rollout; the worker
-- calls it once per transaction.
CREATE FUNCTION rollout._tick_rollout(p_id bigint, at timestamptz)
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_msg text;
BEGIN
	-- Lock the agent, then the row, and re-read it: a concurrent
	-- promote/rollback may have won. Agent first, as every lifecycle
	-- function does (60_lifecycle.sql), so the two never deadlock.
	SELECT r0.* INTO r FROM rollout.rollouts r0
		JOIN rollout.agents a ON a.name = r0.agent
		WHERE r0.id = p_id FOR UPDATE OF a, r0 SKIP LOCKED;
	IF NOT FOUND THEN
		SELECT * INTO r FROM rollout.rollouts x WHERE x.id = p_id;
		IF FOUND THEN
			rollout_id := r.id;
			agent := r.agent;
			action := 'skipped';
			detail := 'the rollout or its agent is locked by another transaction; the next tick evaluates it';
			RETURN NEXT;
		END IF;
		RETURN;
	END IF;
	IF NOT rollout.is_active_state(r.state) THEN
		RETURN;
	END IF;
	rollout_id := r.id;
	agent := r.agent;
	BEGIN
		SELECT o.action, o.detail INTO action, detail FROM rollout._tick_one(r, at) o;
		IF action IS NULL THEN
			RETURN;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
		action := 'error';
		detail := v_msg;
		UPDATE rollout.rollouts x SET last_error = left(v_msg, 1000), last_error_at = at
		WHERE x.id = r.id;
	END;
	RETURN NEXT;
END
$$;

-- After the stable period, refreshes the promoted version's baseline
-- metrics; one row per rollout refreshed. The end of every tick.
CREATE FUNCTION rollout._tick_baselines(at timestamptz)
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	FOR r IN SELECT * FROM rollout.rollouts x
			 WHERE x.state = 'promoted' AND x.baseline_refreshed_at IS NULL
			   AND x.promoted_at + make_interval(secs => rollout._plan_seconds(x.plan, 'stable_period_seconds', 14400)) <= at
			 FOR UPDATE SKIP LOCKED LOOP
		INSERT INTO rollout.baselines (agent, version, rollout_id, refreshed_at, metrics)
			VALUES (r.agent, r.candidate, r.id, at,
					rollout._baseline_metrics(r.agent, r.candidate, r.promoted_at,
						r.promoted_at + make_interval(secs => rollout._plan_seconds(r.plan, 'stable_period_seconds', 14400))));
		UPDATE rollout.rollouts x SET baseline_refreshed_at = at WHERE x.id = r.id;
		PERFORM rollout._log_event(r.agent, r.id, 'baseline_refresh', NULL,
			jsonb_build_object('version', r.candidate), 'stable period over', at);
		rollout_id := r.id;
		agent := r.agent;
		action := 'baseline_refresh';
		detail := pg_catalog.format('version %s is the new baseline', r.candidate);
		RETURN NEXT;
	END LOOP;
END
$$;

-- Evaluates every active rollout once at the clock `at` (NULL: now()) and
-- returns one row per rollout acted on, waiting, skipped or in error.
-- Everything happens in the caller's transaction; rollouts not due are not
-- locked. The worker runs the same steps with a transaction per rollout.
CREATE FUNCTION rollout.tick(at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
BEGIN
	at := coalesce(at, pg_catalog.now());
	IF NOT isfinite(at) THEN
		RAISE EXCEPTION 'argument "at" must be a finite time'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- A standby (or a read-only transaction) cannot change rollout state:
	-- say so before the first write fails with a lower-level message.
	IF pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean THEN
		RAISE EXCEPTION 'rollout.tick() cannot run in a read-only transaction'
			USING ERRCODE = 'read_only_sql_transaction',
				  DETAIL = CASE WHEN pg_is_in_recovery()
							    THEN 'This server is a standby; rollout state changes only on the primary.'
							    ELSE 'tick() changes rollout state.' END,
				  HINT = 'Call rollout.tick() on the primary, in a read-write transaction.';
	END IF;
	-- Ticks from the worker and from cron never overlap.
	PERFORM pg_advisory_xact_lock(7286523461853490001);
	PERFORM rollout._tick_begin(at);
	-- Each rollout on its own: see _tick_rollout().
	FOR v_id IN SELECT d FROM rollout._due_rollouts(at) d ORDER BY d LOOP
		RETURN QUERY SELECT * FROM rollout._tick_rollout(v_id, at);
	END LOOP;
	RETURN QUERY SELECT * FROM rollout._tick_baselines(at);
END
$$;
