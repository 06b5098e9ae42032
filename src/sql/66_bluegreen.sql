-- 66: blue-green. Blue (the baseline) serves everyone until a person calls
-- rollout.switch(); green (the candidate) then serves everyone (percent is
-- only ever 0 or 100). Gates compare green after the switch with blue's
-- outcomes before it (rollout._arm_verdict, two independent samples); a
-- failing rollback or rollback_now gate switches back at once, other
-- failing gates hold; after stable_period with every acting gate passing,
-- the rollout is promoted. rollout.switch_back() is the manual way back.

-- When traffic switched to green (NULL: not yet, or not blue-green).
ALTER TABLE rollout.rollouts ADD COLUMN switched_at timestamptz;

-- Switches a blue-green rollout's traffic to green (the candidate).
CREATE FUNCTION rollout.switch(agent text, reason text DEFAULT NULL,
							   at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	IF r.strategy <> 'blue_green' THEN
		RAISE EXCEPTION 'rollout % of agent "%" is not blue-green', r.id, agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('Its strategy is %s; switch and switch_back are for blue_green.', r.strategy);
	END IF;
	IF r.switched_at IS NOT NULL THEN
		RAISE EXCEPTION 'rollout % of agent "%" has already switched to green', r.id, agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('It switched at %s; rollout.switch_back() returns to blue.', r.switched_at);
	END IF;
	IF r.stage < 1 OR r.state NOT IN ('canary', 'holding') THEN
		RAISE EXCEPTION 'rollout % of agent "%" cannot switch in state %', r.id, agent, r.state
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A blue-green rollout switches after its shadow phase, when it is not paused or waiting.';
	END IF;
	UPDATE rollout.rollouts SET percent = 100, switched_at = at, state = 'canary', hold_reason = NULL,
		last_eval_at = NULL, fail_streak = '{}'
		WHERE id = r.id;
	PERFORM rollout._record_change(r, 'switch', coalesce(reason, 'traffic switched to green'), at);
END
$$;

-- Switches a blue-green rollout back to blue: the rollout ends rolled back.
CREATE FUNCTION rollout.switch_back(agent text, reason text DEFAULT NULL,
									at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	IF r.strategy <> 'blue_green' OR r.switched_at IS NULL THEN
		RAISE EXCEPTION 'rollout % of agent "%" has not switched to green', r.id, agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'switch_back returns a blue-green rollout to blue after rollout.switch(); rollout.rollback() ends any rollout.';
	END IF;
	PERFORM rollout._finish_rollback(r, false, 'switch_back', coalesce(reason, 'traffic switched back to blue'), at);
END
$$;

-- Evaluates one locked blue-green rollout (stage 1). Before the switch it
-- waits for one. After it: every gate, green since the switch against blue
-- before it; a failing rollback/rollback_now gate switches back, a failing
-- hold-type gate holds (released when every gate passes again); after
-- stable_period with every acting gate passing, promotion. p_protect
-- (paused, awaiting_approval): only the gates that roll back.
CREATE FUNCTION rollout._tick_bg(r rollout.rollouts, p_at timestamptz, p_protect boolean,
								 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_verdicts jsonb := '{}';
	v_back text;
	v_back_now boolean := false;
	v_holds text[] := '{}';
	v_blocking text[] := '{}';
	v_until timestamptz;
BEGIN
	UPDATE rollout.rollouts SET last_eval_at = p_at WHERE id = r.id;
	action := 'wait';
	IF r.switched_at IS NULL THEN
		detail := 'blue serves everyone; rollout.switch() sends the traffic to green';
		RETURN;
	END IF;
	FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x LOOP
		CONTINUE WHEN p_protect AND g->>'action' NOT IN ('rollback', 'rollback_now');
		v := rollout._arm_verdict(r, g, 'candidate', rollout.window_start(r.switched_at), p_at + interval '1 microsecond',
								  'stable', rollout.window_start(r.started_at), rollout.window_start(r.switched_at), 1);
		PERFORM rollout._store_verdict(r, g, v, p_at,
			v.verdict = 'fail' AND g->>'action' NOT IN ('dry_run', 'alert'));
		v_verdicts := v_verdicts || jsonb_build_object(g->>'name', v.verdict);
		CONTINUE WHEN g->>'action' IN ('dry_run', 'alert');
		IF v.verdict = 'fail' AND g->>'action' IN ('rollback', 'rollback_now') THEN
			v_back := coalesce(v_back || '; ', '') || pg_catalog.format('gate %s failed: %s', g->>'name', v.detail);
			v_back_now := v_back_now OR g->>'action' = 'rollback_now';
		ELSIF v.verdict = 'fail' THEN
			v_holds := v_holds || pg_catalog.format('gate %s failed', g->>'name');
		ELSIF v.verdict <> 'pass' THEN
			v_blocking := v_blocking || pg_catalog.format('%s %s', g->>'name', v.verdict);
		END IF;
	END LOOP;
	IF NOT p_protect THEN
		UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage;
	END IF;
	IF v_back IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, v_back_now, 'switch_back', 'green failed: ' || v_back, p_at);
		action := 'switch_back';
		detail := 'green failed: ' || v_back;
		RETURN;
	END IF;
	IF p_protect THEN
		detail := pg_catalog.format('%s: only the gates that roll back are evaluated', r.state);
		RETURN;
	END IF;
	IF cardinality(v_holds) > 0 THEN
		detail := array_to_string(v_holds, '; ');
		action := CASE WHEN rollout._hold(r, 'holding', 'hold', detail, p_at) THEN 'hold' ELSE 'wait' END;
		RETURN;
	END IF;
	IF cardinality(v_blocking) > 0 THEN
		detail := 'gates not passed: ' || array_to_string(v_blocking, ', ');
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		UPDATE rollout.rollouts SET state = 'canary', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release', 'every gate passes again', p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
	END IF;
	v_until := r.switched_at + make_interval(secs => rollout._plan_seconds(r.plan, 'stable_period_seconds', 14400));
	IF p_at < v_until THEN
		detail := pg_catalog.format('green stable until %s', v_until);
		RETURN;
	END IF;
	PERFORM rollout._finish_promotion(r, pg_catalog.format('green stable for its stable period, every gate passed'), p_at);
	action := 'promote';
	detail := 'promoted';
END
$$;
