-- pg_rollout 0.2.0 -> 0.3.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.3.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.2.0 + this script equals a
-- fresh 0.3.0 install (test/t/040_upgrade.pl checks it from 0.1.0 and from
-- 0.2.0 by comparing pg_dump --schema-only). Sections are named after the
-- change they carry; a function changed by more than one section is created
-- once, in the last section, as the release has it (upgrade/objects.py
-- prints the current definitions).
--
-- Built-in risk tiers: rows with builtin = true are the release's and are not
-- dumped; a section that changes a shipped tier updates only rows WHERE
-- builtin, with the triggers plan_presets_edited and plan_presets_change
-- disabled around the UPDATE.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.3.0'" to load this file. \quit


-- tick split (0.3.0): one rollout per call of rollout._tick_one, so that the
-- worker can evaluate each rollout in its own transaction. rollout._tick_one
-- and rollout.tick are created in the section "lifecycle (issue 13)" below,
-- as the release has them.

-- lifecycle (issue 13): every wait has a reason (rollout.status.waiting_for),
-- hold_reason lists every failing gate and is cleared on release, resume and
-- rollback, hold and alert events once per episode, sample collection
-- (extensions, then a hold), the shadow hold released when similarity
-- recovers and model_swap_extension, tick() refused in read-only transactions;
-- A/B/n tests (every variant against the control, Bonferroni; state
-- awaiting_decision with a recommendation; promote(variant)); blue-green
-- (switch, switch_back, green against blue before the switch); baseline
-- metrics from the promoted version's raw outcomes over its stable period

ALTER TABLE rollout.rollouts DROP CONSTRAINT rollouts_state_check;
ALTER TABLE rollout.rollouts ADD CONSTRAINT rollouts_state_check
	CHECK (state IN ('shadow', 'canary', 'holding', 'awaiting_approval', 'paused',
					 'awaiting_decision', 'promoted', 'rolled_back'));
DROP INDEX rollout.rollouts_one_active;
CREATE UNIQUE INDEX rollouts_one_active ON rollout.rollouts (agent)
	WHERE state IN ('shadow', 'canary', 'holding', 'awaiting_approval', 'paused', 'awaiting_decision');
ALTER TABLE rollout.gate_results ADD COLUMN variant text;
ALTER TABLE rollout.rollouts ADD COLUMN switched_at timestamptz;
ALTER TABLE rollout.rollouts ADD COLUMN recommendation text;
DROP FUNCTION rollout.promote(text, boolean, text, timestamptz);

CREATE OR REPLACE FUNCTION rollout.is_active_state(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT state IN ('shadow', 'canary', 'holding', 'awaiting_approval', 'paused', 'awaiting_decision') $$;

CREATE OR REPLACE FUNCTION rollout._hold(r rollout.rollouts, p_state text, p_action text, p_reason text,
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

CREATE OR REPLACE FUNCTION rollout._tick_shadow(r rollout.rollouts, p_at timestamptz,
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
	g jsonb;
	v rollout.gate_verdict;
BEGIN
	-- Guards never sleep: the gates that roll back compare the candidate's
	-- shadow outcomes (record(..., shadow => true)) with production's in the
	-- phase, and a failing one ends the rollout before anyone is served.
	FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x
			 WHERE x->>'action' IN ('rollback', 'rollback_now') LOOP
		v := rollout._arm_verdict(r, g, 'candidate', rollout.window_start(r.stage_started_at),
								  p_at + interval '1 microsecond', 'stable',
								  rollout.window_start(r.stage_started_at), p_at + interval '1 microsecond', 1, true);
		CONTINUE WHEN v.n_candidate = 0;
		PERFORM rollout._store_verdict(r, g, v, p_at, v.verdict = 'fail');
		IF v.verdict = 'fail' THEN
			detail := pg_catalog.format('gate %s failed on shadow outputs: %s', g->>'name', v.detail);
			PERFORM rollout._finish_rollback(r, g->>'action' = 'rollback_now', g->>'action', detail, p_at);
			action := g->>'action';
			RETURN;
		END IF;
	END LOOP;
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
	detail := rollout._advance(r, false, 'advance',
		pg_catalog.format('shadow phase passed: %s pairs, mean similarity %s', v_n,
						  coalesce(round(v_sim::numeric, 3)::text, 'n/a')), p_at);
	action := CASE WHEN detail = 'promoted' THEN 'promote' ELSE 'advance' END;
END
$$;

CREATE OR REPLACE FUNCTION rollout._tick_canary(r rollout.rollouts, p_at timestamptz,
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
	v_last timestamptz;
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
	v_short text;
	v_collect_until timestamptz;
BEGIN
	FOR g IN SELECT * FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) LOOP
		v_name := g->>'name';
		v_act := g->>'action';
		-- Always-valid tests directly: _evaluate_gate would only pass them on.
		IF g->>'test' IN ('event_share', 'sequential') THEN
			v := rollout._evaluate_gate_av(r, g, p_at);
		ELSE
			v := rollout._evaluate_gate(r, g, p_at);
		END IF;
		v_verdicts := v_verdicts || jsonb_build_object(v_name, v.verdict);
		IF v_act = 'dry_run' THEN
			PERFORM rollout._store_verdict(r, g, v, p_at, false);
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
					v_count := coalesce((v_streak->v_name->>'count')::integer, 0);
					v_last := (v_streak->v_name->>'last')::timestamptz;
					IF v_last IS NULL OR p_at - v_last >= make_interval(secs => coalesce((g->>'window_seconds')::float8, 0)) THEN
						v_count := v_count + 1;
						v_last := p_at;
					END IF;
					v_streak := v_streak || jsonb_build_object(v_name, jsonb_build_object('count', v_count, 'last', v_last));
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
		PERFORM rollout._store_verdict(r, g, v, p_at,
			v.verdict = 'fail' AND v_act IN ('rollback_now', 'rollback', 'freeze', 'hold_for_approval', 'hold'));
	END LOOP;

	UPDATE rollout.rollouts SET fail_streak = v_streak, last_eval_at = p_at WHERE id = r.id;
	UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage;
	SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;

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
	SELECT coalesce(sum(s.n) FILTER (WHERE s.arm = 'candidate'), 0),
		   coalesce(sum(s.n) FILTER (WHERE s.arm = 'stable'), 0)
		INTO v_n_c, v_n_b
		FROM rollout._arm_counts(r.id, rollout.window_start(r.stage_started_at), p_at + interval '1 microsecond', r.stage) s;
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

CREATE OR REPLACE FUNCTION rollout._tick_one(r rollout.rollouts, at timestamptz,
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

CREATE OR REPLACE FUNCTION rollout.tick(at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
	r rollout.rollouts;
	v_msg text;
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
	PERFORM rollout.refresh_aggregates(at);
	PERFORM rollout._flush_exposures_into_totals(at);

	-- Each rollout on its own: a row locked by another transaction is
	-- skipped (never waited for), and an error in one rollout is reported
	-- and kept in last_error while the others go on.
	FOR v_id IN SELECT x.id FROM rollout.rollouts x
				WHERE rollout.is_active_state(x.state) ORDER BY x.id LOOP
		-- Lock the row and re-read it: a concurrent promote/rollback may have won.
		SELECT * INTO r FROM rollout.rollouts x WHERE x.id = v_id FOR UPDATE SKIP LOCKED;
		IF NOT FOUND THEN
			SELECT * INTO r FROM rollout.rollouts x WHERE x.id = v_id;
			CONTINUE WHEN NOT FOUND;
			rollout_id := r.id;
			agent := r.agent;
			action := 'skipped';
			detail := 'the rollout is locked by another transaction; the next tick evaluates it';
			RETURN NEXT;
			CONTINUE;
		END IF;
		CONTINUE WHEN NOT rollout.is_active_state(r.state);
		rollout_id := r.id;
		agent := r.agent;
		BEGIN
			SELECT o.action, o.detail INTO action, detail FROM rollout._tick_one(r, at) o;
			CONTINUE WHEN action IS NULL;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
			action := 'error';
			detail := v_msg;
			UPDATE rollout.rollouts x SET last_error = left(v_msg, 1000), last_error_at = at
			WHERE x.id = r.id;
		END;
		RETURN NEXT;
	END LOOP;

	-- After the stable period, refresh the promoted version's baseline metrics.
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

CREATE OR REPLACE FUNCTION rollout.start(agent text, candidate integer, plan jsonb DEFAULT NULL,
							  risk text DEFAULT 'medium', reason text DEFAULT NULL,
							  at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p jsonb;
	v_baseline integer;
	v_id bigint;
	v_state text;
	v_stage integer;
	v_percent numeric;
	v_strategy text;
	v_variants jsonb;
	v_var jsonb;
	r rollout.rollouts;
BEGIN
	at := rollout._lifecycle_at(at);
	PERFORM rollout._require_agent(agent, true);
	PERFORM rollout._require_arg(candidate, 'candidate');
	PERFORM 1 FROM rollout.versions v WHERE v.agent = start.agent AND v.version = candidate;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', candidate, agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "candidate" must name a version created with rollout.create_version().';
	END IF;
	SELECT l.version INTO v_baseline FROM rollout.labels l
		WHERE l.agent = start.agent AND l.label = 'production';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" has no production version', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A rollout compares the candidate with the production version.',
				  HINT = 'Set one with rollout.set_label(agent, ''production'', version).';
	END IF;
	IF v_baseline = candidate THEN
		RAISE EXCEPTION 'version % of agent "%" is already in production', candidate, agent
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Argument "candidate" must differ from the production version.';
	END IF;
	PERFORM 1 FROM rollout.rollouts x WHERE x.agent = start.agent AND rollout.is_active_state(x.state);
	IF FOUND THEN
		RAISE EXCEPTION 'agent "%" already has an active rollout', agent
			USING ERRCODE = 'object_in_use',
				  DETAIL = 'One rollout per agent can be active; finish, promote or roll back the current one first.';
	END IF;

	p := rollout.validate_plan(plan, risk);
	v_strategy := p->>'strategy';
	v_variants := p->'variants';
	IF v_strategy = 'ab_test' THEN
		FOR v_var IN SELECT * FROM jsonb_array_elements(v_variants) LOOP
			PERFORM 1 FROM rollout.versions v
				WHERE v.agent = start.agent AND v.version = (v_var->>'version')::integer;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'invalid rollout plan: variants: version % of agent "%" does not exist',
					v_var->>'version', agent
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END LOOP;
	END IF;

	IF v_strategy = 'shadow' OR (p->'shadow' IS NOT NULL AND jsonb_typeof(p->'shadow') = 'object') THEN
		v_state := 'shadow';
		v_stage := 0;
		v_percent := 0;
	ELSIF v_strategy IN ('ab_test', 'blue_green') THEN
		-- A/B: the variants' weights split the traffic; blue-green: blue
		-- serves everyone until rollout.switch().
		v_state := 'canary';
		v_stage := 1;
		v_percent := 0;
	ELSE
		v_state := 'canary';
		v_stage := 1;
		v_percent := (p->'steps'->0->>'percent')::numeric;
	END IF;

	INSERT INTO rollout.rollouts AS x (agent, baseline, candidate, strategy, state, stage, percent,
		stickiness, variants, shadow_percent, write_intercept, rules, flags, judge_rate,
		pinning, drain, plan, risk, started_at, stage_started_at, reason)
	VALUES (agent, v_baseline, candidate,
		v_strategy,
		v_state, v_stage, v_percent,
		p->>'stickiness', v_variants,
		coalesce((p->'shadow'->>'percent')::numeric, 0),
		coalesce((p->'shadow'->>'write_intercept')::boolean, true),
		coalesce(p->'rules', '[]'), coalesce(p->'flags', '[]'),
		coalesce((p->>'judge_rate')::float8, 0.10),
		coalesce((p->'pinning'->>'enabled')::boolean, true),
		make_interval(secs => coalesce((p->'pinning'->>'drain_seconds')::float8, 600)),
		p, risk, at, at, reason)
	RETURNING * INTO r;
	v_id := r.id;

	INSERT INTO rollout.stages (rollout_id, stage, percent, started_at)
		VALUES (v_id, v_stage, v_percent, at);
	PERFORM rollout._log_event(agent, v_id, 'start', NULL,
		jsonb_build_object('baseline', v_baseline, 'candidate', candidate, 'strategy', v_strategy,
						   'state', v_state, 'stage', v_stage, 'percent', v_percent,
						   'risk', risk, 'plan', p),
		reason, at);
	PERFORM rollout._notify_change(v_id, agent, 'start', v_state, v_stage, v_percent, at, reason);
	RETURN v_id;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'agent "%" already has an active rollout', agent
		USING ERRCODE = 'object_in_use',
			  DETAIL = 'One rollout per agent can be active; a concurrent rollout.start() won.';
END
$$;

CREATE OR REPLACE FUNCTION rollout._advance(r rollout.rollouts, p_full boolean, p_action text,
								 p_reason text, p_at timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_steps jsonb := r.plan->'steps';
	v_next integer;
	v_percent numeric;
BEGIN
	IF r.strategy = 'blue_green' AND r.stage = 0 AND NOT p_full THEN
		-- Out of the shadow phase, blue still serves until rollout.switch().
		UPDATE rollout.rollouts SET state = 'canary', stage = 1, percent = 0, stage_started_at = p_at,
			shadow_percent = 0, hold_reason = NULL, last_eval_at = NULL
			WHERE id = r.id;
		PERFORM rollout._record_change(r, p_action, p_reason, p_at);
		RETURN 'stage 1: blue until rollout.switch()';
	END IF;
	IF r.strategy = 'ab_test' OR p_full OR jsonb_array_length(coalesce(v_steps, '[]')) = 0 THEN
		PERFORM rollout._finish_promotion(r, p_reason, p_at);
		RETURN 'promoted';
	END IF;
	v_next := r.stage + 1;
	IF v_next > jsonb_array_length(v_steps) THEN
		PERFORM rollout._finish_promotion(r, p_reason, p_at);
		RETURN 'promoted';
	END IF;
	v_percent := (v_steps->(v_next - 1)->>'percent')::numeric;
	IF v_percent >= 100 THEN
		PERFORM rollout._finish_promotion(r, p_reason, p_at);
		RETURN 'promoted';
	END IF;
	UPDATE rollout.rollouts SET state = 'canary', stage = v_next, percent = v_percent,
		stage_started_at = p_at, shadow_percent = 0, boosted = false, extensions = 0,
		-- A new stage starts new failure streaks; an alert episode goes on
		-- until its gate passes.
		fail_streak = (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each(r.fail_streak) f(k, v)
					   WHERE k LIKE 'alert:%'),
		hold_reason = NULL, approved_stage = NULL, last_eval_at = NULL
		WHERE id = r.id;
	PERFORM rollout._record_change(r, p_action, p_reason, p_at);
	RETURN pg_catalog.format('stage %s at %s%%', v_next, v_percent);
END
$$;

CREATE OR REPLACE FUNCTION rollout._finish_rollback(r rollout.rollouts, p_safety boolean, p_action text,
										 p_reason text, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE rollout.rollouts SET state = 'rolled_back', percent = 0, shadow_percent = 0,
		ended_at = p_at, paused_from = NULL, hold_reason = NULL,
		drain_skipped = p_safety,
		drain_until = CASE WHEN p_safety OR NOT r.pinning THEN p_at ELSE p_at + r.drain END
		WHERE id = r.id;
	IF r.state = 'promoted' THEN
		PERFORM rollout.set_label(r.agent, 'production', r.baseline,
								  coalesce(p_reason, pg_catalog.format('rollout %s rolled back', r.id)));
	END IF;
	PERFORM rollout._record_change(r, p_action, p_reason, p_at);
END
$$;

CREATE OR REPLACE FUNCTION rollout.resume(agent text, reason text DEFAULT NULL,
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
	PERFORM rollout._require_state(r, 'paused', 'paused');
	-- Back to the state it was paused from; the reason of a freeze goes, the
	-- reason of a hold or an approval wait it returns to stays.
	UPDATE rollout.rollouts SET state = coalesce(r.paused_from, 'canary'), paused_from = NULL,
		hold_reason = CASE WHEN r.paused_from IN ('holding', 'awaiting_approval') THEN r.hold_reason END,
		last_eval_at = NULL
		WHERE id = r.id;
	PERFORM rollout._record_change(r, 'resume', reason, at);
END
$$;

CREATE OR REPLACE FUNCTION rollout.promote(agent text, "full" boolean DEFAULT false, reason text DEFAULT NULL,
								at timestamptz DEFAULT pg_catalog.now(), variant text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_role text := rollout._acting_role();
	v_name text;
	v_version integer;
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	IF variant IS NOT NULL AND r.strategy <> 'ab_test' THEN
		RAISE EXCEPTION 'argument "variant" is only for A/B tests'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Rollout %s of agent "%s" has strategy %s.', r.id, agent, r.strategy);
	END IF;
	-- Out of awaiting_approval, promoting is approving: the same second
	-- person as rollout.approve() (or a member of rollout_admin).
	IF r.state = 'awaiting_approval'
	   AND (session_user = r.started_by OR v_role = r.started_by)
	   AND NOT pg_has_role(v_role, 'rollout_admin', 'USAGE') THEN
		RAISE EXCEPTION 'role "%" started rollout % and cannot promote it out of awaiting_approval', r.started_by, r.id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'The rollout waits for an approval, which needs a second person.',
				  HINT = 'Ask another operator, or a member of rollout_admin, to run rollout.approve() or rollout.promote().';
	END IF;
	IF r.strategy = 'ab_test' THEN
		v_name := coalesce(variant, r.recommendation);
		IF v_name IS NULL THEN
			RAISE EXCEPTION 'argument "variant" must name the variant to promote'
				USING ERRCODE = 'null_value_not_allowed',
					  DETAIL = pg_catalog.format('A/B test %s has no recommendation (yet).', r.id),
					  HINT = 'Call rollout.promote(agent, variant => ''<name>''), or end the test with rollout.rollback().';
		END IF;
		SELECT (x->>'version')::integer INTO v_version
			FROM jsonb_array_elements(r.variants) x WHERE x->>'name' = v_name;
		IF v_version IS NULL THEN
			RAISE EXCEPTION 'variant "%" is not in A/B test %', v_name, r.id
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = pg_catalog.format('Its variants are %s.',
						(SELECT string_agg(x->>'name', ', ') FROM jsonb_array_elements(r.variants) x));
		END IF;
		UPDATE rollout.rollouts SET candidate = v_version, recommendation = v_name WHERE id = r.id;
		r.candidate := v_version;
		PERFORM rollout._finish_promotion(r,
			coalesce(reason, pg_catalog.format('A/B test ended: variant %s (version %s) promoted', v_name, v_version)), at);
		RETURN pg_catalog.format('promoted variant %s (version %s)', v_name, v_version);
	END IF;
	RETURN rollout._advance(r, coalesce("full", false), 'promote_manual',
							coalesce(reason, 'manual promotion'), at);
END
$$;

CREATE OR REPLACE FUNCTION rollout._shadow_until(r rollout.rollouts) RETURNS timestamptz
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

CREATE OR REPLACE FUNCTION rollout._blackout_until(p_plan jsonb, p_at timestamptz) RETURNS timestamptz
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

CREATE OR REPLACE FUNCTION rollout._waiting_for(r rollout.rollouts, p_n_candidate bigint, p_n_baseline bigint,
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

CREATE OR REPLACE VIEW rollout.status AS
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

CREATE OR REPLACE FUNCTION rollout.switch(agent text, reason text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION rollout.switch_back(agent text, reason text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION rollout._tick_bg(r rollout.rollouts, p_at timestamptz, p_protect boolean,
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

CREATE OR REPLACE FUNCTION rollout._arm_verdict(r rollout.rollouts, g jsonb, p_arm text, p_from timestamptz,
									 p_to timestamptz, p_base_arm text, p_base_from timestamptz,
									 p_base_to timestamptz, p_comparisons integer,
									 p_shadow boolean DEFAULT false)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res rollout.gate_verdict;
	v_metric text := g->>'metric';
	v_custom text := CASE WHEN g->>'metric' LIKE 'metrics.%' THEN substr(g->>'metric', 9) END;
	v_cmp text := g->>'comparison';
	v_hib boolean := coalesce((g->>'higher_is_better')::boolean, false);
	v_alpha float8 := coalesce((g->>'alpha')::float8, 0.05) / greatest(p_comparisons, 1);
	v_min bigint := greatest(coalesce((g->>'min_samples')::bigint, 0), 1);
	v_ratio float8 := (g->>'ratio')::float8;
	v_delta float8;
	v_sign float8 := CASE WHEN coalesce((g->>'higher_is_better')::boolean, false) THEN -1 ELSE 1 END;
	v_alt_pass text := CASE WHEN coalesce((g->>'higher_is_better')::boolean, false) THEN 'greater' ELSE 'less' END;
	v_alt_fail text := CASE WHEN coalesce((g->>'higher_is_better')::boolean, false) THEN 'less' ELSE 'greater' END;
	v_pass_p float8;
	v_fail_p float8;
	c record;
	b record;
	sc record;
	sb record;
	t record;
BEGIN
	res.window_from := p_from;
	res.window_to := p_to;
	SELECT * INTO c FROM rollout.arm_summary(r.id, p_from, p_to, v_custom) s
		WHERE s.arm = p_arm AND s.shadow = p_shadow;
	IF FOUND THEN
		SELECT * INTO b FROM rollout.arm_summary(r.id, p_base_from, p_base_to, v_custom) s
			WHERE s.arm = p_base_arm AND NOT s.shadow;
	END IF;
	IF c.arm IS NULL OR b.arm IS NULL THEN
		res.verdict := 'inconclusive';
		res.n_candidate := 0;
		res.n_baseline := 0;
		res.detail := pg_catalog.format('no outcomes of %s or of %s yet', p_arm, p_base_arm);
		RETURN res;
	END IF;
	SELECT * INTO sc FROM rollout._arm_stat(c, v_metric, v_cmp, v_custom);
	SELECT * INTO sb FROM rollout._arm_stat(b, v_metric, v_cmp, v_custom);
	res.n_candidate := coalesce(sc.n, 0);
	res.n_baseline := coalesce(sb.n, 0);
	res.value_candidate := sc.value;
	res.value_baseline := sb.value;
	IF res.n_candidate < v_min OR res.n_baseline < v_min OR sc.value IS NULL OR sb.value IS NULL THEN
		res.verdict := 'inconclusive';
		res.detail := pg_catalog.format('too few samples: %s %s, %s %s, need %s each',
										p_arm, res.n_candidate, p_base_arm, res.n_baseline, v_min);
		RETURN res;
	END IF;
	v_delta := CASE WHEN v_ratio IS NOT NULL THEN v_ratio * abs(sb.value)
					ELSE coalesce((g->>'margin')::float8, 0) END;
	res.estimate := sc.value - sb.value;
	IF v_cmp = 'rate' THEN
		SELECT * INTO t FROM rollout.proportion_test(sc.x, sc.n, sb.x, sb.n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.statistic;
		SELECT * INTO t FROM rollout.proportion_test(sc.x, sc.n, sb.x, sb.n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSIF v_cmp = 'mean' AND sc.sd IS NOT NULL AND sb.sd IS NOT NULL THEN
		SELECT * INTO t FROM rollout.welch_test(sc.value, sc.sd, sc.n, sb.value, sb.sd, sb.n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.t;
		SELECT * INTO t FROM rollout.welch_test(sc.value, sc.sd, sc.n, sb.value, sb.sd, sb.n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSE
		res.statistic := v_sign * res.estimate;
		res.verdict := CASE WHEN v_sign * res.estimate > v_delta THEN 'fail' ELSE 'pass' END;
		res.detail := pg_catalog.format('%s %s: %s %s vs %s %s (point values, limit %s)',
			v_metric, v_cmp, p_arm, round(sc.value::numeric, 4), p_base_arm, round(sb.value::numeric, 4), v_delta);
		RETURN res;
	END IF;
	IF v_fail_p < v_alpha THEN
		res.verdict := 'fail';
		res.p_value := v_fail_p;
	ELSIF coalesce(g->>'mode', 'non_inferiority') = 'guardrail' OR v_pass_p < v_alpha THEN
		res.verdict := 'pass';
		res.p_value := CASE WHEN v_pass_p < v_alpha THEN v_pass_p ELSE v_fail_p END;
	ELSE
		res.verdict := 'inconclusive';
		res.p_value := v_pass_p;
	END IF;
	res.detail := pg_catalog.format('%s %s: %s %s vs %s %s, n %s/%s, p %s at alpha %s%s',
		v_metric, v_cmp, p_arm, round(sc.value::numeric, 4), p_base_arm, round(sb.value::numeric, 4),
		res.n_candidate, res.n_baseline, round(res.p_value::numeric, 4), round(v_alpha::numeric, 6),
		CASE WHEN p_comparisons > 1
			 THEN pg_catalog.format(' (%s / %s comparisons)', coalesce((g->>'alpha')::float8, 0.05), p_comparisons)
			 ELSE '' END);
	RETURN res;
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
END
$$;

CREATE OR REPLACE FUNCTION rollout._tick_ab(r rollout.rollouts, p_at timestamptz, p_protect boolean,
								 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_control text := coalesce(r.plan->'experiment'->>'control', r.variants->0->>'name');
	v_k integer := jsonb_array_length(coalesce(r.variants, '[]'));
	v_var jsonb;
	v_name text;
	g jsonb;
	v rollout.gate_verdict;
	v_verdicts jsonb := '{}';
	v_rollback text;
	v_rollback_action text;
	v_losers text[] := '{}';
	v_score jsonb := '{}';
	v_primary jsonb;
	v_until timestamptz;
	v_min bigint := coalesce((r.plan->'experiment'->>'min_samples')::bigint, 0);
	v_short text;
	v_best text;
	v_reason text;
BEGIN
	UPDATE rollout.rollouts SET last_eval_at = p_at WHERE id = r.id;
	SELECT x INTO v_primary FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x
		WHERE x->>'action' NOT IN ('dry_run', 'alert') LIMIT 1;
	FOR v_var IN SELECT x FROM jsonb_array_elements(coalesce(r.variants, '[]')) x LOOP
		v_name := v_var->>'name';
		CONTINUE WHEN v_name = v_control;
		v_verdicts := v_verdicts || jsonb_build_object(v_name, '{}'::jsonb);
		FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x LOOP
			CONTINUE WHEN p_protect AND g->>'action' NOT IN ('rollback', 'rollback_now');
			v := rollout._arm_verdict(r, g, v_name, rollout.window_start(r.started_at), p_at + interval '1 microsecond',
									  v_control, rollout.window_start(r.started_at), p_at + interval '1 microsecond', v_k - 1);
			INSERT INTO rollout.gate_results (rollout_id, stage, at, gate, metric, comparison, test, verdict,
				statistic, p_value, estimate, n_candidate, n_baseline, value_candidate, value_baseline,
				threshold, window_from, window_to, action, acted, detail, variant)
			VALUES (r.id, r.stage, p_at, g->>'name', g->>'metric', g->>'comparison',
				CASE WHEN g->>'comparison' = 'rate' THEN 'proportion'
					 WHEN g->>'comparison' = 'mean' THEN 'welch' ELSE 'hard_limit' END,
				v.verdict, v.statistic, v.p_value, v.estimate, v.n_candidate, v.n_baseline,
				v.value_candidate, v.value_baseline,
				jsonb_build_object('margin', g->'margin', 'ratio', g->'ratio',
								   'alpha', coalesce((g->>'alpha')::float8, 0.05) / greatest(v_k - 1, 1),
								   'comparisons', greatest(v_k - 1, 1), 'min_samples', g->'min_samples',
								   'control', v_control),
				v.window_from, v.window_to, g->>'action',
				v.verdict = 'fail' AND g->>'action' IN ('rollback', 'rollback_now'), v.detail, v_name);
			v_verdicts := jsonb_set(v_verdicts, ARRAY[v_name, g->>'name'], to_jsonb(v.verdict));
			IF v.verdict = 'fail' AND g->>'action' IN ('rollback', 'rollback_now') AND v_rollback IS NULL THEN
				v_rollback := pg_catalog.format('gate %s failed for variant %s against %s: %s',
												g->>'name', v_name, v_control, v.detail);
				v_rollback_action := g->>'action';
			END IF;
			IF v.verdict <> 'pass' AND g->>'action' NOT IN ('dry_run', 'alert') THEN
				v_losers := v_losers || v_name;
			END IF;
			IF g = v_primary AND v.value_candidate IS NOT NULL THEN
				v_score := v_score || jsonb_build_object(v_name,
					CASE WHEN coalesce((g->>'higher_is_better')::boolean, false)
						 THEN v.value_candidate ELSE -v.value_candidate END);
			END IF;
		END LOOP;
	END LOOP;
	IF NOT p_protect THEN
		UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage;
	END IF;
	IF v_rollback IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, v_rollback_action = 'rollback_now', v_rollback_action, v_rollback, p_at);
		action := v_rollback_action;
		detail := v_rollback;
		RETURN;
	END IF;
	action := 'wait';
	IF p_protect THEN
		detail := pg_catalog.format('%s: only the gates that roll back are evaluated', r.state);
		RETURN;
	END IF;
	v_until := r.started_at + make_interval(secs =>
		rollout._plan_seconds(r.plan->'experiment', 'duration_seconds', 604800));
	IF p_at < v_until THEN
		detail := pg_catalog.format('A/B test until %s', v_until);
		RETURN;
	END IF;
	SELECT string_agg(pg_catalog.format('%s %s', vs.x->>'name', coalesce(n.n, 0)), ', ' ORDER BY vs.o)
		INTO v_short
		FROM jsonb_array_elements(r.variants) WITH ORDINALITY vs(x, o)
		LEFT JOIN (SELECT s.arm, sum(s.n) AS n
					 FROM rollout._arm_counts(r.id, rollout.window_start(r.started_at),
											  p_at + interval '1 microsecond', r.stage) s
					GROUP BY s.arm) n ON n.arm = vs.x->>'name'
		WHERE coalesce(n.n, 0) < v_min;
	IF v_short IS NOT NULL THEN
		detail := pg_catalog.format('experiment over, short of samples (%s each): %s', v_min, v_short);
		RETURN;
	END IF;
	SELECT s.key INTO v_best FROM jsonb_each_text(v_score) s
		WHERE s.key <> ALL (v_losers) ORDER BY s.value::float8 DESC, s.key LIMIT 1;
	v_reason := CASE WHEN v_best IS NOT NULL
		THEN pg_catalog.format('experiment over: variant %s passed every gate against %s and is the best by %s; promote it with rollout.promote(agent, variant => ''%s'') or end the test with rollout.rollback()',
							   v_best, v_control, v_primary->>'name', v_best)
		ELSE pg_catalog.format('experiment over: no variant passed every gate against %s; end the test with rollout.rollback() or promote a variant by name',
							   v_control) END;
	IF r.recommendation IS DISTINCT FROM v_best THEN
		UPDATE rollout.rollouts SET recommendation = v_best WHERE id = r.id;
	END IF;
	action := CASE WHEN rollout._hold(r, 'awaiting_decision', 'experiment_over', v_reason, p_at)
				   THEN 'experiment_over' ELSE 'wait' END;
	detail := v_reason;
END
$$;

CREATE OR REPLACE FUNCTION rollout._baseline_metrics(p_agent text, p_version integer, p_from timestamptz,
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


REVOKE ALL ON FUNCTION rollout._tick_one(rollout.rollouts, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._shadow_until(rollout.rollouts) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._blackout_until(jsonb, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._waiting_for(rollout.rollouts, bigint, bigint, bigint, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._arm_verdict(rollout.rollouts, jsonb, text, timestamptz, timestamptz, text, timestamptz, timestamptz, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._tick_bg(rollout.rollouts, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._baseline_metrics(text, integer, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.switch(text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.switch_back(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.switch(text, text, timestamptz), rollout.switch_back(text, text, timestamptz)
	TO rollout_operator;
REVOKE ALL ON FUNCTION rollout._tick_ab(rollout.rollouts, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.promote(text, boolean, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.promote(text, boolean, text, timestamptz, text) TO rollout_operator;
GRANT EXECUTE ON FUNCTION
	rollout._waiting_for(rollout.rollouts, bigint, bigint, bigint, timestamptz),
	rollout._eta(interval, float8),
	rollout._shadow_until(rollout.rollouts),
	rollout._blackout_until(jsonb, timestamptz)
	TO rollout_reader;
COMMENT ON COLUMN rollout.rollouts.switched_at IS 'Blue-green: when traffic switched to green (NULL before).';
COMMENT ON COLUMN rollout.rollouts.recommendation IS 'A/B tests: the variant recommended once the experiment is over (best that passed every gate), or the one promoted.';
COMMENT ON COLUMN rollout.gate_results.variant IS 'A/B tests: the variant compared with the control (NULL for other strategies).';
COMMENT ON VIEW rollout.status IS 'One row per agent about its latest rollout (final ones too): state, share, samples, bake, progress, the last gate results and what it is waiting for.';
COMMENT ON COLUMN rollout.status.waiting_for IS 'Why it is not advancing, in one line (as of its last evaluation; NULL once finished).';
COMMENT ON FUNCTION rollout.promote(text,boolean,text,timestamp with time zone,text) IS 'Advances the active rollout one stage by hand, or to 100% with full; ends an A/B test with the variant named (default: its recommendation) promoted.';
COMMENT ON FUNCTION rollout.switch(text,text,timestamp with time zone) IS 'Blue-green: sends all traffic to green (the candidate); gates then compare green with blue before the switch.';
COMMENT ON FUNCTION rollout.switch_back(text,text,timestamp with time zone) IS 'Blue-green: sends all traffic back to blue; the rollout ends rolled back.';
