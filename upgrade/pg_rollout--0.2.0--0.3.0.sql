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
-- worker can evaluate each rollout in its own transaction

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
	IF r.state IN ('paused', 'awaiting_approval') THEN
		-- Pausing stops advancement, never protection.
		res := rollout._tick_protect(r, at);
	ELSIF r.state = 'shadow' THEN
		UPDATE rollout.rollouts x SET last_eval_at = at WHERE x.id = r.id;
		res := rollout._tick_shadow(r, at);
	ELSIF r.strategy = 'ab_test' THEN
		UPDATE rollout.rollouts x SET last_eval_at = at WHERE x.id = r.id;
		res := rollout._tick_canary(r, at);
		IF res.action IN ('advance', 'promote', 'wait') THEN
			-- A/B tests record verdicts; a person picks the winner.
			res := NULL;
		END IF;
	ELSE
		res := rollout._tick_canary(r, at);
	END IF;
	action := coalesce(res.action, 'wait');
	detail := coalesce(res.detail, 'A/B test running; end it with rollout.promote() or rollout.rollback()');
	IF r.last_error IS NOT NULL THEN
		UPDATE rollout.rollouts x SET last_error = NULL, last_error_at = NULL
		WHERE x.id = r.id;
	END IF;
END
$$;

REVOKE ALL ON FUNCTION rollout._tick_one(rollout.rollouts, timestamptz) FROM PUBLIC;

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
					rollout._stage_metrics(r.id, r.promoted_at, at));
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



-- scale (issue 15): window_start() inlined (no SET clause), _eta() in
-- PL/pgSQL, so a tick does not plan an SQL function at every call

CREATE OR REPLACE FUNCTION rollout.window_start(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.date_bin('5 minutes'::pg_catalog.interval, at,
								 '2000-01-01 00:00:00+00'::pg_catalog.timestamptz) $$;

CREATE OR REPLACE FUNCTION rollout._eta(p_elapsed interval, p_factor float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m bigint;
BEGIN
	-- PL/pgSQL, not SQL: an SQL function with SET is planned at every call.
	IF p_factor IS NULL OR p_factor <= 0 OR p_elapsed <= interval '0' THEN
		RETURN '';
	ELSIF p_factor > 1000 THEN
		RETURN ', more than 1000 times the time so far at the current rate';
	END IF;
	m := ceil(extract(epoch FROM p_elapsed) * p_factor / 60)::bigint;
	RETURN pg_catalog.format(', about %s%s h %s min more at the current rate',
		CASE WHEN m >= 1440 THEN (m / 1440) || ' d ' ELSE '' END, m % 1440 / 60, m % 60);
END
$$;

