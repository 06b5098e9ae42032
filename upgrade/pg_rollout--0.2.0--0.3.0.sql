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


-- decisions (issue 12): route() returns a decision_token and record(),
-- record_batch(), the staging drain and record_shadow_pair() take it back,
-- so an outcome counts for the decision that served it; undoing a promotion
-- no longer rewrites the rollout's ended_at (watch_ended_at instead); every
-- function that moves a label or a rollout locks the agent first (tick
-- too); rollback() refuses to undo a promotion production no longer
-- serves; set_label() refuses to move production during a rollout.
-- rollout.tick, which the tick-split section above created too, is created
-- here once, as the release has it.

ALTER TYPE rollout.decision ADD ATTRIBUTE decision_token text;
ALTER TABLE rollout.outcome_staging ADD COLUMN decision_token text;
ALTER TABLE rollout.rollouts ADD COLUMN watch_ended_at timestamptz;

DROP FUNCTION rollout.record(text, integer, text, boolean, float8, float8, float8, boolean,
							 boolean, smallint, jsonb, boolean, timestamptz);
DROP FUNCTION rollout.record_batch(text, integer[], text[], boolean[], float8[], float8[],
								   float8[], boolean[], boolean[], smallint[], jsonb[],
								   boolean[], timestamptz[]);
DROP FUNCTION rollout.record_shadow_pair(text, integer, integer, text, float8, float4[],
										 float4[], boolean, float8, float8, float8,
										 float8, timestamptz);
DROP FUNCTION rollout._outcome_resolve(text, integer, float8, float8, float8, jsonb,
									   timestamptz, integer);

CREATE OR REPLACE FUNCTION rollout.record(agent text, version integer, unit text DEFAULT NULL,
							   success boolean DEFAULT NULL, quality float8 DEFAULT NULL,
							   latency_ms float8 DEFAULT NULL, cost float8 DEFAULT NULL,
							   error boolean DEFAULT false, safety_flag boolean DEFAULT false,
							   feedback smallint DEFAULT NULL, metrics jsonb DEFAULT '{}',
							   shadow boolean DEFAULT false, at timestamptz DEFAULT pg_catalog.now(),
							   decision_token text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rollout_record'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION rollout._outcome_resolve(agent text, version integer, quality float8,
										 latency_ms float8, cost float8, metrics jsonb,
										 at timestamptz, row_number integer,
										 decision_token text DEFAULT NULL,
										 shadow boolean DEFAULT false,
										 OUT rollout_id bigint, OUT stage integer,
										 OUT arm text, OUT in_arm boolean, OUT at timestamptz)
AS 'MODULE_PATHNAME', 'rollout_outcome_resolve'
LANGUAGE C STABLE;

CREATE OR REPLACE FUNCTION rollout.record_batch(agent text, versions integer[], units text[] DEFAULT NULL,
									 successes boolean[] DEFAULT NULL, qualities float8[] DEFAULT NULL,
									 latencies_ms float8[] DEFAULT NULL, costs float8[] DEFAULT NULL,
									 errors boolean[] DEFAULT NULL, safety_flags boolean[] DEFAULT NULL,
									 feedbacks smallint[] DEFAULT NULL, metrics jsonb[] DEFAULT NULL,
									 shadows boolean[] DEFAULT NULL, ats timestamptz[] DEFAULT NULL,
									 decision_tokens text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer := coalesce(cardinality(versions), 0);
	inserted bigint;
	long_unit bigint;
BEGIN
	IF versions IS NULL THEN
		RAISE EXCEPTION 'argument "versions" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM rollout._require_service(agent);
	PERFORM rollout._check_batch_length(cardinality(units), n, 'units'),
			rollout._check_batch_length(cardinality(successes), n, 'successes'),
			rollout._check_batch_length(cardinality(qualities), n, 'qualities'),
			rollout._check_batch_length(cardinality(latencies_ms), n, 'latencies_ms'),
			rollout._check_batch_length(cardinality(costs), n, 'costs'),
			rollout._check_batch_length(cardinality(errors), n, 'errors'),
			rollout._check_batch_length(cardinality(safety_flags), n, 'safety_flags'),
			rollout._check_batch_length(cardinality(feedbacks), n, 'feedbacks'),
			rollout._check_batch_length(cardinality(metrics), n, 'metrics'),
			rollout._check_batch_length(cardinality(shadows), n, 'shadows'),
			rollout._check_batch_length(cardinality(ats), n, 'ats'),
			rollout._check_batch_length(cardinality(decision_tokens), n, 'decision_tokens');
	PERFORM rollout._check_batch_dims(array_ndims(versions), 'versions'),
			rollout._check_batch_dims(array_ndims(units), 'units'),
			rollout._check_batch_dims(array_ndims(successes), 'successes'),
			rollout._check_batch_dims(array_ndims(qualities), 'qualities'),
			rollout._check_batch_dims(array_ndims(latencies_ms), 'latencies_ms'),
			rollout._check_batch_dims(array_ndims(costs), 'costs'),
			rollout._check_batch_dims(array_ndims(errors), 'errors'),
			rollout._check_batch_dims(array_ndims(safety_flags), 'safety_flags'),
			rollout._check_batch_dims(array_ndims(feedbacks), 'feedbacks'),
			rollout._check_batch_dims(array_ndims(metrics), 'metrics'),
			rollout._check_batch_dims(array_ndims(shadows), 'shadows'),
			rollout._check_batch_dims(array_ndims(ats), 'ats'),
			rollout._check_batch_dims(array_ndims(decision_tokens), 'decision_tokens');
	SELECT min(u.i) INTO long_unit FROM unnest(units) WITH ORDINALITY AS u(x, i)
	WHERE octet_length(u.x) > 1024;
	IF long_unit IS NOT NULL THEN
		RAISE EXCEPTION 'batch row %: argument "unit" is too long', long_unit
			USING ERRCODE = 'string_data_right_truncation',
				  DETAIL = 'The limit is 1024 bytes.';
	END IF;
	INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id, stage, arm, in_arm,
								  shadow, unit, success, quality, latency_ms, cost, error,
								  safety_flag, feedback, metrics)
	SELECT pg_catalog.txid_current(), c.at, agent, b.v, c.rollout_id, c.stage, c.arm, c.in_arm,
		   coalesce(b.sh, false), b.u, b.s, b.q, b.l, b.c, coalesce(b.e, false),
		   coalesce(b.sf, false), b.f, coalesce(b.m, '{}')
	FROM unnest(versions, units, successes, qualities, latencies_ms, costs, errors,
				safety_flags, feedbacks, metrics, shadows, ats, decision_tokens)
			WITH ORDINALITY AS b(v, u, s, q, l, c, e, sf, f, m, sh, t, tok, ord)
		CROSS JOIN LATERAL rollout._outcome_resolve(agent, b.v, b.q, b.l, b.c, b.m,
													coalesce(b.t, pg_catalog.now()),
													b.ord::integer, b.tok,
													coalesce(b.sh, false)) c
	ORDER BY b.ord;
	GET DIAGNOSTICS inserted = ROW_COUNT;
	RETURN inserted;
END
$$;

CREATE OR REPLACE FUNCTION rollout.record_shadow_pair(agent text, production_version integer,
										   shadow_version integer, unit text DEFAULT NULL,
										   similarity float8 DEFAULT NULL,
										   production_embedding float4[] DEFAULT NULL,
										   shadow_embedding float4[] DEFAULT NULL,
										   decisions_agree boolean DEFAULT NULL,
										   production_latency_ms float8 DEFAULT NULL,
										   shadow_latency_ms float8 DEFAULT NULL,
										   production_cost float8 DEFAULT NULL,
										   shadow_cost float8 DEFAULT NULL,
										   at timestamptz DEFAULT pg_catalog.now(),
										   decision_token text DEFAULT NULL)
RETURNS float8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ctx record;
	sim float8 := similarity;
BEGIN
	IF production_version IS NULL OR shadow_version IS NULL THEN
		RAISE EXCEPTION 'argument "%" must not be null',
			CASE WHEN production_version IS NULL THEN 'production_version' ELSE 'shadow_version' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF octet_length(unit) > 1024 THEN
		PERFORM rollout._raise_long_unit(0);
	END IF;
	PERFORM rollout._check_non_negative(production_latency_ms, 'production_latency_ms'),
			rollout._check_non_negative(shadow_latency_ms, 'shadow_latency_ms'),
			rollout._check_non_negative(production_cost, 'production_cost'),
			rollout._check_non_negative(shadow_cost, 'shadow_cost');
	IF (production_embedding IS NULL) <> (shadow_embedding IS NULL) THEN
		RAISE EXCEPTION 'argument "%" is missing',
			CASE WHEN production_embedding IS NULL THEN 'production_embedding' ELSE 'shadow_embedding' END
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Pass both embeddings, or neither.';
	END IF;
	IF production_embedding IS NOT NULL THEN
		IF similarity IS NOT NULL THEN
			RAISE EXCEPTION 'argument "similarity" conflicts with the embeddings'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Pass either a similarity score or the two embeddings, not both.';
		END IF;
		sim := rollout.cosine_similarity(production_embedding, shadow_embedding);
	ELSIF sim IS NOT NULL AND NOT (sim BETWEEN -1 AND 1) THEN
		RAISE EXCEPTION 'argument "similarity" must be between -1 and 1'
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = pg_catalog.format('The value given was %s.', sim);
	END IF;
	PERFORM rollout._require_service(agent);
	-- Validates agent, both versions and time; the rollout comes from the
	-- decision that served the production version (its token), else from
	-- production's rollout at `at`.
	PERFORM rollout._outcome_resolve(agent, shadow_version, NULL, NULL, NULL, NULL, at, 0);
	SELECT * INTO ctx FROM rollout._outcome_resolve(agent, production_version, NULL, NULL, NULL,
												   NULL, at, 0, decision_token, false);
	INSERT INTO rollout.shadow_pairs (txid, at, agent, rollout_id, stage, production_version,
									  shadow_version, unit, similarity, decisions_agree,
									  production_latency_ms, shadow_latency_ms,
									  production_cost, shadow_cost)
	VALUES (pg_catalog.txid_current(), ctx.at, agent, ctx.rollout_id, ctx.stage,
			production_version, shadow_version, unit, sim, decisions_agree,
			production_latency_ms, shadow_latency_ms, production_cost, shadow_cost);
	RETURN sim;
END
$$;

CREATE OR REPLACE FUNCTION rollout.drain_outcome_staging() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	moved bigint := 0;
	s rollout.outcome_staging;
	v_state text;
	v_msg text;
BEGIN
	BEGIN
		WITH d AS (DELETE FROM rollout.outcome_staging RETURNING *),
		o AS (SELECT d.*, row_number() OVER (ORDER BY d.id) AS pos FROM d),
		ins AS (
			INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id, stage, arm, in_arm,
										  shadow, unit, success, quality, latency_ms, cost, error,
										  safety_flag, feedback, metrics, author)
			SELECT pg_catalog.txid_current(), c.at, o.agent, o.version, c.rollout_id, c.stage,
				   c.arm, c.in_arm, o.shadow, o.unit, o.success, o.quality, o.latency_ms, o.cost,
				   o.error, o.safety_flag, o.feedback, o.metrics, o.author
			FROM o CROSS JOIN LATERAL rollout._outcome_resolve(o.agent, o.version, o.quality,
															   o.latency_ms, o.cost, o.metrics,
															   o.at, o.pos::integer,
															   o.decision_token, o.shadow) c
			WHERE octet_length(o.unit) <= 1024 OR o.unit IS NULL
			   OR rollout._raise_long_unit(o.pos)
			ORDER BY o.pos
			RETURNING 1)
		SELECT count(*) INTO moved FROM ins;
		RETURN moved;
	EXCEPTION WHEN OTHERS THEN
		moved := 0;		-- the statement was undone; move row by row below
	END;
	FOR s IN SELECT * FROM rollout.outcome_staging ORDER BY id LOOP
		BEGIN
			IF octet_length(s.unit) > 1024 THEN
				PERFORM rollout._raise_long_unit(0);
			END IF;
			INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id, stage, arm, in_arm,
										  shadow, unit, success, quality, latency_ms, cost, error,
										  safety_flag, feedback, metrics, author)
			SELECT pg_catalog.txid_current(), c.at, s.agent, s.version, c.rollout_id, c.stage,
				   c.arm, c.in_arm, s.shadow, s.unit, s.success, s.quality, s.latency_ms, s.cost,
				   s.error, s.safety_flag, s.feedback, s.metrics, s.author
			FROM rollout._outcome_resolve(s.agent, s.version, s.quality, s.latency_ms, s.cost,
										  s.metrics, s.at, 0, s.decision_token, s.shadow) c;
			moved := moved + 1;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
			INSERT INTO rollout.outcome_rejects (source, agent, error, sqlstate, row_data)
			VALUES ('outcome_staging', left(s.agent, 63), left(v_msg, 1000), v_state,
					pg_catalog.to_jsonb(s));
		END;
		DELETE FROM rollout.outcome_staging WHERE id = s.id;
	END LOOP;
	RETURN moved;
END
$$;

CREATE OR REPLACE FUNCTION rollout._active_rollout(p_agent text) RETURNS rollout.rollouts
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	PERFORM rollout._require_agent(p_agent, true);
	SELECT * INTO r FROM rollout.rollouts
		WHERE agent = p_agent AND rollout.is_active_state(state)
		FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" has no active rollout', p_agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Start one with rollout.start().';
	END IF;
	RETURN r;
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
		ended_at = CASE WHEN r.state = 'promoted' THEN r.ended_at ELSE p_at END,
		watch_ended_at = CASE WHEN r.state = 'promoted' THEN p_at END,
		paused_from = NULL,
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

CREATE OR REPLACE FUNCTION rollout.rollback(agent text, reason text DEFAULT NULL,
								 safety boolean DEFAULT false,
								 at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_production integer;
BEGIN
	at := rollout._lifecycle_at(at);
	-- The agent lock first: a concurrent start() or deploy_now() either
	-- committed before (and the checks below see it) or waits for us.
	PERFORM rollout._require_agent(agent, true);
	-- The active rollout, or else the latest promoted one (undo a promotion).
	SELECT * INTO r FROM rollout.rollouts x
		WHERE x.agent = rollback.agent AND (rollout.is_active_state(x.state) OR x.state = 'promoted')
		ORDER BY x.id DESC LIMIT 1
		FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" has no rollout to roll back', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'There is no active or promoted rollout.';
	END IF;
	IF r.state = 'promoted' AND EXISTS (SELECT 1 FROM rollout.rollouts x
										WHERE x.agent = rollback.agent AND x.id > r.id) THEN
		RAISE EXCEPTION 'agent "%" has no rollout to roll back', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Its latest rollout has already ended.';
	END IF;
	-- Undoing a promotion puts the baseline back only while production
	-- still serves that rollout's candidate: after deploy_now() or a manual
	-- set_label() it would silently discard the newer version.
	IF r.state = 'promoted' THEN
		SELECT l.version INTO v_production FROM rollout.labels l
			WHERE l.agent = rollback.agent AND l.label = 'production';
		IF v_production IS DISTINCT FROM r.candidate THEN
			RAISE EXCEPTION 'production of agent "%" no longer serves the candidate of rollout %', agent, r.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = pg_catalog.format('Rollout %s promoted version %s, but production is version %s now; rolling back would replace it with version %s.',
												 r.id, r.candidate, coalesce(v_production::text, 'none'), r.baseline),
					  HINT = 'To serve another version, use rollout.deploy_now() (audited) or start a rollout of it.';
		END IF;
	END IF;
	PERFORM rollout._finish_rollback(r, coalesce(safety, false),
		CASE WHEN safety THEN 'rollback_now' ELSE 'rollback' END,
		coalesce(reason, 'manual rollback'), at);
END
$$;

CREATE OR REPLACE FUNCTION rollout.retry(agent text, reason text DEFAULT NULL,
							  at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_id bigint;
BEGIN
	at := rollout._lifecycle_at(at);
	PERFORM rollout._require_agent(agent, true);
	SELECT * INTO r FROM rollout.rollouts x WHERE x.agent = retry.agent ORDER BY x.id DESC LIMIT 1;
	IF NOT FOUND OR r.state <> 'rolled_back' THEN
		RAISE EXCEPTION 'agent "%" has no rolled-back rollout to retry', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'retry starts the latest rollout again when it was rolled back.';
	END IF;
	v_id := rollout.start(agent, r.candidate, r.plan, r.risk,
						  coalesce(reason, pg_catalog.format('retry of rollout %s', r.id)), at);
	UPDATE rollout.rollouts SET retry_of = r.id WHERE id = v_id;
	RETURN v_id;
END
$$;

CREATE OR REPLACE FUNCTION rollout.set_label(agent text, label text, version integer, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old integer;
BEGIN
	PERFORM rollout._check_name(label, 'label');
	IF label ~ '^[0-9]+$' THEN
		RAISE EXCEPTION 'argument "label" must not be a number'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Numbers refer to versions; a label needs at least one letter.';
	END IF;
	IF version IS NULL THEN
		RAISE EXCEPTION 'argument "version" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM rollout._require_agent(agent, true);
	PERFORM 1 FROM rollout.versions v WHERE v.agent = set_label.agent AND v.version = set_label.version;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', version, agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "version" must name a version created with rollout.create_version().';
	END IF;

	SELECT l.version INTO v_old FROM rollout.labels l
		WHERE l.agent = set_label.agent AND l.label = set_label.label;
	IF v_old IS NOT DISTINCT FROM version THEN
		RETURN;
	END IF;
	-- During a rollout, production is its baseline: moving it would change
	-- what the stable arm serves under the gates' feet. (The lifecycle
	-- moves it itself once the rollout has ended: promotion, undo.)
	IF label = 'production' AND EXISTS (SELECT 1 FROM rollout.rollouts x
										WHERE x.agent = set_label.agent
										  AND rollout.is_active_state(x.state)) THEN
		RAISE EXCEPTION 'agent "%" has an active rollout; its production label cannot move', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('Production is version %s, the baseline of the active rollout.', v_old),
				  HINT = 'Finish the rollout first (rollout.promote() or rollout.rollback()), or use rollout.deploy_now(), which ends it and moves production in one audited step.';
	END IF;
	INSERT INTO rollout.labels AS l (agent, label, version)
		VALUES (agent, label, version)
		ON CONFLICT ON CONSTRAINT labels_pkey DO UPDATE
			SET version = EXCLUDED.version, updated_at = pg_catalog.now(), updated_by = session_user;
	INSERT INTO rollout.label_history (agent, label, old_version, new_version, reason)
		VALUES (agent, label, v_old, version, reason);
	PERFORM rollout._log_event(agent, NULL, 'set_label',
							   CASE WHEN v_old IS NULL THEN NULL
									ELSE jsonb_build_object('label', label, 'version', v_old) END,
							   jsonb_build_object('label', label, 'version', version), reason);
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
	-- Ticks from the worker and from cron never overlap.
	PERFORM pg_advisory_xact_lock(7286523461853490001);
	PERFORM rollout.refresh_aggregates(at);
	PERFORM rollout._flush_exposures_into_totals(at);

	-- Each rollout on its own: a row locked by another transaction is
	-- skipped (never waited for), and an error in one rollout is reported
	-- and kept in last_error while the others go on.
	FOR v_id IN SELECT x.id FROM rollout.rollouts x
				WHERE rollout.is_active_state(x.state) ORDER BY x.id LOOP
		-- Lock the agent, then the row, and re-read it: a concurrent
		-- promote/rollback may have won. Agent first, as every lifecycle
		-- function does (60_lifecycle.sql), so the two never deadlock.
		SELECT r0.* INTO r FROM rollout.rollouts r0
			JOIN rollout.agents a ON a.name = r0.agent
			WHERE r0.id = v_id FOR UPDATE OF a, r0 SKIP LOCKED;
		IF NOT FOUND THEN
			SELECT * INTO r FROM rollout.rollouts x WHERE x.id = v_id;
			CONTINUE WHEN NOT FOUND;
			rollout_id := r.id;
			agent := r.agent;
			action := 'skipped';
			detail := 'the rollout or its agent is locked by another transaction; the next tick evaluates it';
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

REVOKE ALL ON FUNCTION rollout.record(text, integer, text, boolean, float8, float8, float8, boolean,
									  boolean, smallint, jsonb, boolean, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.record_batch(text, integer[], text[], boolean[], float8[], float8[],
											float8[], boolean[], boolean[], smallint[], jsonb[],
											boolean[], timestamptz[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.record_shadow_pair(text, integer, integer, text, float8, float4[],
												  float4[], boolean, float8, float8, float8,
												  float8, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._outcome_resolve(text, integer, float8, float8, float8, jsonb,
												timestamptz, integer, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.record(text, integer, text, boolean, float8, float8, float8, boolean,
										 boolean, smallint, jsonb, boolean, timestamptz, text) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.record_batch(text, integer[], text[], boolean[], float8[], float8[],
											   float8[], boolean[], boolean[], smallint[], jsonb[],
											   boolean[], timestamptz[], text[]) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.record_shadow_pair(text, integer, integer, text, float8, float4[],
													 float4[], boolean, float8, float8, float8,
													 float8, timestamptz, text) TO rollout_service;

COMMENT ON COLUMN rollout.rollouts.ended_at IS 'When its split stopped being served: promoted or rolled back. Never rewritten, also not by undoing a promotion.';
COMMENT ON COLUMN rollout.rollouts.watch_ended_at IS 'When rollback() undid its promotion (the end of the post-promotion watch); NULL otherwise.';
COMMENT ON COLUMN rollout.outcome_staging.decision_token IS 'The decision_token route() returned for the request (NULL: attributed by time).';
COMMENT ON FUNCTION rollout.route(text,text,text,text,text,jsonb,text) IS 'The routing decision for one request: version and content to serve, arm, shadow version, judge sample, pin, reason and the decision_token to pass to record(). Reads no table (per-backend cache); runs on standbys and behind pgbouncer.';
COMMENT ON FUNCTION rollout.record(text,integer,text,boolean,double precision,double precision,double precision,boolean,boolean,smallint,jsonb,boolean,timestamp with time zone,text) IS 'Records the outcome of one request under the decision its decision_token names (from route()); without a token the rollout and arm come from the version and the time. For rollout_service.';
COMMENT ON FUNCTION rollout.record_batch(text,integer[],text[],boolean[],double precision[],double precision[],double precision[],boolean[],boolean[],smallint[],jsonb[],boolean[],timestamp with time zone[],text[]) IS 'Records many outcomes of one agent from parallel arrays, in one statement; decision_tokens attribute each to its decision.';
COMMENT ON FUNCTION rollout.record_shadow_pair(text,integer,integer,text,double precision,real[],real[],boolean,double precision,double precision,double precision,double precision,timestamp with time zone,text) IS 'Records a production/shadow answer pair with its similarity (given, or the cosine of the embeddings); decision_token is that of the production request.';

-- low preset (issue 9): a 5% step of 8 hours before 25%, where the listed
-- regressions are caught (the 1% step alone holds too little evidence).
-- Only the shipped row changes; a tier a DBA edited is the DBA's.
ALTER TABLE rollout.plan_presets DISABLE TRIGGER plan_presets_change;
ALTER TABLE rollout.plan_presets DISABLE TRIGGER plan_presets_edited;
UPDATE rollout.plan_presets SET plan = '{
	"strategy": "canary",
	"steps": [{"percent": 1, "bake": "4 hours", "min_samples": 200},
			  {"percent": 5, "bake": "8 hours", "min_samples": 500},
			  {"percent": 25, "bake": "4 hours", "min_samples": 500},
			  {"percent": 100}],
	"extend": {"allow_boost": true, "max_extensions": 3},
	"stable_period": "4 hours"
}', description = 'Prompt wording and similar bounded changes: accelerated canary 1% (4 h) -> 5% (8 h) -> 25% (4 h) -> 100%, no shadow phase.'
	WHERE risk = 'low' AND builtin;
ALTER TABLE rollout.plan_presets ENABLE TRIGGER plan_presets_edited;
ALTER TABLE rollout.plan_presets ENABLE TRIGGER plan_presets_change;
