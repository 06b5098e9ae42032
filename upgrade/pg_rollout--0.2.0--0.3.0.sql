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

-- rollout.tick(): as the release has it in the section "scale (issue 15)".







-- decisions (issue 12): route() returns a decision_token and record(),
-- record_batch(), the staging drain and record_shadow_pair() take it back,
-- so an outcome counts for the decision that served it; undoing a promotion
-- no longer rewrites the rollout's ended_at (watch_ended_at instead); every
-- function that moves a label or a rollout locks the agent first (tick
-- too); rollback() refuses to undo a promotion production no longer
-- serves; set_label() refuses to move production during a rollout.
-- rollout.tick and rollout._tick_rollout (which locks the agent with the
-- rollout) are created in the section "scale (issue 15)", as the release
-- has them.

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

-- scale (issue 15): ticks at thousands of rollouts. window_start() has no
-- SET clause, so the planner inlines it; _eta() is PL/pgSQL; rate and mean
-- tallies are one upsert; the worker evaluates each due rollout in its own
-- transaction (_tick_begin, _due_rollouts, _tick_rollout, _tick_baselines),
-- and tick() runs the same pieces in one

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

CREATE OR REPLACE FUNCTION rollout._tally_gate(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_gate text := g->>'name';
	v_metric text := coalesce(g->>'metric', '.srm');
	v_cmp text := coalesce(g->>'comparison', 'rate');
	v_q float8 := CASE g->>'comparison' WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END;
	v_window interval := make_interval(secs => coalesce((g->>'window_seconds')::float8, 3600));
	v_from timestamptz;
	v_stage_from timestamptz := rollout.window_start(r.stage_started_at);
	v_to timestamptz := rollout.window_start(p_at);
	v_base float8;
	v_fail float8;
	v_pass float8;
	t record;
	v_nc bigint := 0;
	v_nb bigint := 0;
	v_xc bigint := 0;
	v_xb bigint := 0;
	v_yc bigint := 0;
	v_yb bigint := 0;
BEGIN
	-- Rates and means: one statement sums the stage's ended windows into
	-- the tally row, creating it (counted_to the stage's first window when
	-- none has ended) or replacing it unless it already counts to v_to.
	IF v_cmp = 'rate' THEN
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, x_candidate, x_baseline, y_candidate, y_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.xc, a.xb, a.xc, a.xb
		FROM (SELECT coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS xc,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS xb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			x_candidate = excluded.x_candidate, x_baseline = excluded.x_baseline,
			y_candidate = excluded.y_candidate, y_baseline = excluded.y_baseline
			WHERE x.counted_to < v_to;
	ELSIF v_cmp = 'mean' AND v_metric LIKE 'metrics.%' THEN
		-- A custom metric: its per-window {"n", "sum", "sumsq"} in metrics.
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, sum_candidate, sum_baseline, sumsq_candidate, sumsq_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.sc, a.sb, a.qc, a.qb
		FROM (SELECT coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS sc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS sb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS qc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS qb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			sum_candidate = excluded.sum_candidate, sum_baseline = excluded.sum_baseline,
			sumsq_candidate = excluded.sumsq_candidate, sumsq_baseline = excluded.sumsq_baseline
			WHERE x.counted_to < v_to;
	ELSIF v_cmp = 'mean' THEN
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, sum_candidate, sum_baseline, sumsq_candidate, sumsq_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.sc, a.sb, a.qc, a.qb
		FROM (SELECT coalesce(sum(CASE v_metric WHEN 'quality' THEN w.n_quality WHEN 'latency_ms' THEN w.n_latency
							 WHEN 'cost' THEN w.n_cost WHEN 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.n_quality WHEN 'latency_ms' THEN w.n_latency
							 WHEN 'cost' THEN w.n_cost WHEN 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sum_quality WHEN 'latency_ms' THEN w.sum_latency
							 WHEN 'cost' THEN w.sum_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS sc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sum_quality WHEN 'latency_ms' THEN w.sum_latency
							 WHEN 'cost' THEN w.sum_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'stable'), 0) AS sb,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sumsq_quality WHEN 'latency_ms' THEN w.sumsq_latency
							 WHEN 'cost' THEN w.sumsq_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS qc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sumsq_quality WHEN 'latency_ms' THEN w.sumsq_latency
							 WHEN 'cost' THEN w.sumsq_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'stable'), 0) AS qb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			sum_candidate = excluded.sum_candidate, sum_baseline = excluded.sum_baseline,
			sumsq_candidate = excluded.sumsq_candidate, sumsq_baseline = excluded.sumsq_baseline
			WHERE x.counted_to < v_to;
	ELSE
		SELECT x.counted_to INTO v_from FROM rollout.gate_tallies x
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
		IF NOT FOUND THEN
			v_from := v_stage_from;
			INSERT INTO rollout.gate_tallies (rollout_id, gate, stage, counted_to)
				VALUES (r.id, v_gate, r.stage, v_from);
		END IF;
		IF v_to <= v_from THEN
			RETURN;
		END IF;
		-- The base: the baseline's quantile over the gate's window before v_from.
		SELECT rollout.ddsketch_quantile(rollout.ddsketch_merge(
				CASE WHEN v_metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END), v_q)
			INTO v_base
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND w.arm = 'stable' AND NOT w.shadow
			  AND w.window_start >= v_from - v_window AND w.window_start < v_from;
		IF v_base IS NOT NULL THEN
			-- Latency and cost: higher is worse.
			v_fail := CASE WHEN g->'ratio' <> 'null' THEN v_base * (1 + (g->>'fail_ratio')::float8)
						   ELSE v_base + (g->>'fail_margin')::float8 END;
			v_pass := CASE WHEN g->'ratio' <> 'null' THEN v_base * (1 + (g->>'ratio')::float8)
						   ELSE v_base + (g->>'margin')::float8 END;
			SELECT coalesce(sum(s.n) FILTER (WHERE s.arm = 'candidate'), 0) AS nc,
				   coalesce(sum(s.n) FILTER (WHERE s.arm = 'stable'), 0) AS nb,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_fail)) FILTER (WHERE s.arm = 'candidate'), 0) AS xc,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_fail)) FILTER (WHERE s.arm = 'stable'), 0) AS xb,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_pass)) FILTER (WHERE s.arm = 'candidate'), 0) AS yc,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_pass)) FILTER (WHERE s.arm = 'stable'), 0) AS yb
				INTO t
				FROM (SELECT w.arm,
							 CASE WHEN v_metric = 'latency_ms' THEN w.n_latency ELSE w.n_cost END AS n,
							 CASE WHEN v_metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END AS sketch
					  FROM rollout.outcome_windows w
					  WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
						AND w.window_start >= v_from AND w.window_start < v_to) s
				WHERE s.sketch IS NOT NULL;
			v_nc := t.nc; v_nb := t.nb; v_xc := t.xc; v_xb := t.xb; v_yc := t.yc; v_yb := t.yb;
		END IF;
		-- Windows before any baseline data are passed over: nothing fixed
		-- a threshold for them in advance.
		UPDATE rollout.gate_tallies x SET counted_to = v_to,
			n_candidate = x.n_candidate + v_nc, n_baseline = x.n_baseline + v_nb,
			x_candidate = x.x_candidate + v_xc, x_baseline = x.x_baseline + v_xb,
			y_candidate = x.y_candidate + v_yc, y_baseline = x.y_baseline + v_yb,
			baseline_quantile = coalesce(v_base, x.baseline_quantile)
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION rollout._evaluate_gate_av(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res rollout.gate_verdict;
	v_metric text := g->>'metric';
	v_cmp text := g->>'comparison';
	v_test text := g->>'test';
	v_hib boolean := (g->>'higher_is_better')::boolean;
	v_alpha float8 := coalesce((g->>'alpha')::float8, 0.05);
	v_pass_alpha float8 := coalesce((g->>'pass_alpha')::float8, 0.05);
	v_min bigint := coalesce((g->>'min_samples')::bigint, 0);
	v_margin float8 := coalesce((g->>'margin')::float8, 0);
	v_fail_margin float8 := coalesce((g->>'fail_margin')::float8, (g->>'margin')::float8, 0);
	v_prove_at numeric := coalesce((g->>'prove_at_percent')::numeric, 0);
	v_q float8 := CASE v_cmp WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END;
	v_sign float8 := CASE WHEN v_hib THEN -1 ELSE 1 END;
	v_xc bigint[];
	v_xb bigint[];
	v_yc bigint[];
	v_yb bigint[];
	v_share float8[];
	v_nc bigint;
	v_nb bigint;
	v_sxc float8;
	v_sxb float8;
	v_syc float8;
	v_sc float8;
	v_sb float8;
	v_qc float8;
	v_qb float8;
	v_base float8;
	v_from timestamptz;
	v_rate_b float8;
	v_theta_f float8;
	v_theta_p float8;
	v_fail_p float8;
	v_pass_p float8;
	v_fail_floor bigint := 0;
	v_se float8;
BEGIN
	IF v_cmp = 'rate' AND v_metric NOT IN ('success', 'error', 'safety')
	   OR v_cmp = 'mean' AND v_metric NOT IN ('quality', 'latency_ms', 'cost', 'success', 'error', 'safety')
		  AND v_metric NOT LIKE 'metrics.%' THEN
		RAISE EXCEPTION 'metric "%" is not supported by the % test', v_metric, v_test
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'Always-valid tests read success, error, safety (rates); quality, latency_ms, cost and custom metrics (means); latency_ms, cost (quantiles).';
	END IF;
	PERFORM rollout._tally_gate(r, g, p_at);
	SELECT array_agg(x.x_candidate ORDER BY x.stage), array_agg(x.x_baseline ORDER BY x.stage),
		   array_agg(x.y_candidate ORDER BY x.stage), array_agg(x.y_baseline ORDER BY x.stage),
		   array_agg(x.n_candidate::float8 / (x.n_candidate + x.n_baseline) ORDER BY x.stage),
		   sum(x.n_candidate), sum(x.n_baseline), sum(x.x_candidate), sum(x.x_baseline),
		   sum(x.sum_candidate), sum(x.sum_baseline), sum(x.sumsq_candidate), sum(x.sumsq_baseline),
		   (array_agg(x.baseline_quantile ORDER BY x.stage DESC))[1],
		   -- The canary's start, read in the same statement.
		   (SELECT s.started_at FROM rollout.stages s WHERE s.rollout_id = r.id AND s.stage = 1)
		INTO v_xc, v_xb, v_yc, v_yb, v_share, v_nc, v_nb, v_sxc, v_sxb,
			 v_sc, v_sb, v_qc, v_qb, v_base, v_from
		FROM rollout.gate_tallies x
		WHERE x.rollout_id = r.id AND x.gate = g->>'name' AND x.stage >= 1
		  AND x.n_candidate + x.n_baseline > 0;
	res.window_to := rollout.window_start(p_at);
	res.window_from := rollout.window_start(coalesce(v_from, r.stage_started_at));
	res.n_candidate := coalesce(v_nc, 0);
	res.n_baseline := coalesce(v_nb, 0);
	IF res.n_candidate < 2 OR res.n_baseline < 2 THEN
		res.verdict := 'inconclusive';
		res.detail := pg_catalog.format('too few samples: candidate %s, baseline %s (windows count once they have ended)',
										res.n_candidate, res.n_baseline);
		RETURN res;
	END IF;

	IF v_test = 'event_share' AND v_cmp = 'rate' THEN
		-- Events: failures for success, errors, safety flags.
		v_rate_b := v_sxb / v_nb;
		res.value_candidate := CASE WHEN v_metric = 'success' THEN 1 - v_sxc / v_nc ELSE v_sxc / v_nc END;
		res.value_baseline := CASE WHEN v_metric = 'success' THEN 1 - v_rate_b ELSE v_rate_b END;
		res.estimate := res.value_candidate - res.value_baseline;
		-- A margin on the rate is a ratio of event rates; a baseline
		-- without events yet counts as half an event.
		v_rate_b := greatest(v_rate_b, 0.5 / v_nb);
		v_theta_f := 1 + v_fail_margin / v_rate_b;
		v_theta_p := 1 + v_margin / v_rate_b;
	ELSIF v_test = 'event_share' THEN
		-- Quantiles: the candidate's values above each threshold, against
		-- 1 - q (the share above its own quantile). The event-share test
		-- with one segment of share 1 - q, the candidate's values above as
		-- its events and those below as the other arm's, is the always-valid
		-- one-sample binomial test of that share: fail when more than 1 - q
		-- lie above the fail threshold, pass when fewer than 1 - q lie above
		-- the pass threshold.
		-- value_candidate: the candidate's share above the fail threshold;
		-- value_baseline: the share its null hypothesis allows (1 - q).
		v_syc := (SELECT sum(u) FROM unnest(v_yc) u);
		res.value_candidate := v_sxc / v_nc;
		res.value_baseline := 1 - v_q;
		res.estimate := res.value_candidate - res.value_baseline;
		v_xc := ARRAY[v_sxc::bigint];
		v_xb := ARRAY[(v_nc - v_sxc)::bigint];
		v_yc := ARRAY[v_syc::bigint];
		v_yb := ARRAY[(v_nc - v_syc)::bigint];
		v_share := ARRAY[1 - v_q];
		v_theta_f := 1;
		v_theta_p := 1;
	ELSE
		-- sequential: a difference of means (of 0/1 values for a rate).
		IF v_cmp = 'rate' THEN
			v_sc := CASE WHEN v_metric = 'success' THEN v_nc - v_sxc ELSE v_sxc END;
			v_sb := CASE WHEN v_metric = 'success' THEN v_nb - v_sxb ELSE v_sxb END;
			v_qc := v_sc;
			v_qb := v_sb;
		END IF;
		res.value_candidate := v_sc / v_nc;
		res.value_baseline := v_sb / v_nb;
		res.estimate := res.value_candidate - res.value_baseline;
		v_se := sqrt(greatest((v_qc - v_sc * v_sc / v_nc) / (v_nc - 1), 0) / v_nc
					 + greatest((v_qb - v_sb * v_sb / v_nb) / (v_nb - 1), 0) / v_nb);
		v_fail_floor := 100;
		IF v_se = 0 THEN
			v_fail_p := CASE WHEN v_sign * res.estimate > v_fail_margin THEN 0 ELSE 1 END;
			v_pass_p := CASE WHEN v_sign * res.estimate < v_margin THEN 0 ELSE 1 END;
		ELSE
			res.statistic := res.estimate / v_se;
			-- The fail test, the pass test and the confidence sequence in one statement.
			SELECT f.p_value, p.p_value, c.lower, c.upper
				INTO v_fail_p, v_pass_p, res.ci_low, res.ci_high
				FROM rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, v_sign * v_fail_margin,
						 CASE WHEN v_hib THEN 'less' ELSE 'greater' END, v_alpha) f,
					 rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, v_sign * v_margin,
						 CASE WHEN v_hib THEN 'greater' ELSE 'less' END, v_pass_alpha) p,
					 rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, 0, 'two-sided', v_alpha) c;
		END IF;
	END IF;
	IF v_test = 'event_share' THEN
		-- The fail test and the pass test in one statement.
		SELECT f.p_value, f.log_e, p.p_value INTO v_fail_p, res.statistic, v_pass_p
			FROM rollout.event_share_test(v_xc, v_xb, v_share, v_theta_f, 'greater') f,
				 rollout.event_share_test(v_yc, v_yb, v_share, v_theta_p, 'less') p;
	END IF;

	IF v_fail_p < v_alpha AND v_nc >= v_fail_floor AND v_nb >= v_fail_floor THEN
		res.verdict := 'fail';
		res.p_value := v_fail_p;
		res.detail := 'harm shown';
	ELSIF res.n_candidate < v_min THEN
		res.verdict := 'inconclusive';
		res.p_value := v_fail_p;
		res.detail := pg_catalog.format('no harm shown; %s of %s candidate samples%s', res.n_candidate, v_min,
			rollout._eta(res.window_to - res.window_from, (v_min - res.n_candidate)::float8 / greatest(res.n_candidate, 1)));
	ELSIF g->>'mode' = 'guardrail' THEN
		res.verdict := 'pass';
		res.p_value := v_fail_p;
		res.detail := 'no harm shown (guardrail)';
	ELSIF r.percent < v_prove_at AND coalesce((r.plan->'steps'->r.stage->>'percent')::numeric, 100) < 100 THEN
		-- Below prove_at_percent, and not the last step before 100%.
		res.verdict := 'pass';
		res.p_value := v_fail_p;
		res.detail := pg_catalog.format('no harm shown; non-inferiority must be shown from %s%% on', v_prove_at);
	ELSIF v_pass_p < v_pass_alpha THEN
		res.verdict := 'pass';
		res.p_value := v_pass_p;
		res.detail := 'non-inferiority shown';
	ELSE
		res.verdict := 'inconclusive';
		res.p_value := v_pass_p;
		-- The evidence grows about linearly with the samples: at the rate
		-- so far, it needs ln(1/pass_alpha) / ln(1/p) times the time so far.
		res.detail := 'no harm shown; non-inferiority not shown yet' ||
			CASE WHEN v_pass_p < exp(-0.5) THEN
				rollout._eta(res.window_to - res.window_from, ln(v_pass_alpha) / ln(v_pass_p) - 1)
			ELSE ' (no evidence of it yet)' END;
	END IF;
	IF v_test = 'event_share' AND v_cmp <> 'rate' THEN
		res.detail := res.detail || pg_catalog.format(' (baseline %s %s; %s%% of the candidate''s values above the fail threshold, %s%% allowed)',
			v_cmp, round(v_base::numeric, 6), round((100 * v_sxc / v_nc)::numeric, 2), round((100 * (1 - v_q))::numeric));
	END IF;
	RETURN res;
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
END
$$;

CREATE OR REPLACE FUNCTION rollout._store_verdicts(r rollout.rollouts, g jsonb[], v rollout.gate_verdict[],
										p_at timestamptz, acted boolean[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO rollout.gate_results (rollout_id, stage, at, gate, metric, comparison, test, verdict,
		statistic, p_value, estimate, ci_low, ci_high, n_candidate, n_baseline,
		value_candidate, value_baseline, threshold, window_from, window_to, action, acted, detail)
	SELECT r.id, r.stage, p_at, g[x.i]->>'name', g[x.i]->>'metric', g[x.i]->>'comparison', g[x.i]->>'test',
		(v[x.i]).verdict, (v[x.i]).statistic, (v[x.i]).p_value, (v[x.i]).estimate, (v[x.i]).ci_low, (v[x.i]).ci_high,
		(v[x.i]).n_candidate, (v[x.i]).n_baseline, (v[x.i]).value_candidate, (v[x.i]).value_baseline,
		jsonb_build_object('margin', g[x.i]->'margin', 'ratio', g[x.i]->'ratio', 'alpha', g[x.i]->'alpha',
						   'min_samples', g[x.i]->'min_samples', 'window', g[x.i]->'window',
						   'mode', g[x.i]->'mode', 'higher_is_better', g[x.i]->'higher_is_better',
						   'fail_margin', g[x.i]->'fail_margin', 'fail_ratio', g[x.i]->'fail_ratio',
						   'pass_alpha', g[x.i]->'pass_alpha', 'prove_at_percent', g[x.i]->'prove_at_percent'),
		(v[x.i]).window_from, (v[x.i]).window_to, g[x.i]->>'action', acted[x.i], (v[x.i]).detail
	FROM generate_subscripts(g, 1) AS x(i)
	ORDER BY x.i;
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
	v_all_pass boolean := true;
	v_rollback_now text;
	v_rollback text;
	v_freeze text;
	v_approval text;
	v_hold text;
	v_alerts text[] := '{}';
	v_blocking text[] := '{}';
	v_verdicts jsonb := '{}';
	v_srm text;
	v_step jsonb;
	v_bake_until timestamptz;
	v_need bigint;
	v_n_c bigint;
	v_n_b bigint;
	v_store_g jsonb[] := '{}';
	v_store_v rollout.gate_verdict[] := '{}';
	v_store_a boolean[] := '{}';
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
			v_store_g := v_store_g || g; v_store_v := v_store_v || v; v_store_a := v_store_a || false;
			CONTINUE;
		END IF;
		-- An alert gate tells people; it does not stop the rollout.
		IF v.verdict <> 'pass' AND v_act <> 'alert' THEN
			v_all_pass := false;
			v_blocking := v_blocking || pg_catalog.format('%s %s', v_name, v.verdict);
		END IF;
		-- Alerts go out when a gate starts failing, not at every evaluation
		-- while it fails (fail_streak remembers "alert:<gate>"; a new stage
		-- starts a new streak, so a gate still failing alerts again there).
		IF v.verdict <> 'fail' AND v_streak ? ('alert:' || v_name) THEN
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
					v_rollback_now := coalesce(v_rollback_now, pg_catalog.format('gate %s failed: %s', v_name, v.detail));
				WHEN 'rollback' THEN
					v_count := coalesce((v_streak->v_name->>'count')::integer, 0);
					v_last := (v_streak->v_name->>'last')::timestamptz;
					IF v_last IS NULL OR p_at - v_last >= make_interval(secs => coalesce((g->>'window_seconds')::float8, 0)) THEN
						v_count := v_count + 1;
						v_last := p_at;
					END IF;
					v_streak := v_streak || jsonb_build_object(v_name, jsonb_build_object('count', v_count, 'last', v_last));
					IF v_count >= coalesce((g->>'consecutive')::integer, 1) THEN
						v_rollback := coalesce(v_rollback, pg_catalog.format('gate %s failed in %s consecutive windows', v_name, v_count));
					ELSE
						v_hold := coalesce(v_hold, pg_catalog.format('gate %s failed (%s of %s windows)', v_name, v_count, g->>'consecutive'));
					END IF;
				WHEN 'freeze' THEN
					v_freeze := coalesce(v_freeze, pg_catalog.format('gate %s failed', v_name));
				WHEN 'hold_for_approval' THEN
					IF r.approved_stage IS DISTINCT FROM r.stage THEN
						v_approval := coalesce(v_approval, pg_catalog.format('gate %s failed', v_name));
					ELSE
						-- Approved for this stage: the failure no longer blocks.
						v_blocking := array_remove(v_blocking, pg_catalog.format('%s fail', v_name));
					END IF;
				WHEN 'hold' THEN
					v_hold := coalesce(v_hold, pg_catalog.format('gate %s failed', v_name));
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
	UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage;
	SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;

	IF cardinality(v_alerts) > 0 THEN
		PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
			jsonb_build_object('gates', to_jsonb(v_alerts)),
			'gates started failing: ' || array_to_string(v_alerts, ', '), p_at);
		PERFORM rollout._notify_change(r.id, r.agent, 'alert', r.state, r.stage, r.percent, p_at,
									   'gates failed: ' || array_to_string(v_alerts, ', '));
	END IF;

	IF v_rollback_now IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, true, 'rollback_now', v_rollback_now, p_at);
		action := 'rollback_now'; detail := v_rollback_now;
		RETURN;
	END IF;
	IF v_rollback IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, false, 'rollback', v_rollback, p_at);
		action := 'rollback'; detail := v_rollback;
		RETURN;
	END IF;
	IF v_freeze IS NOT NULL THEN
		PERFORM rollout._hold(r, 'paused', 'freeze', v_freeze, p_at);
		action := 'freeze'; detail := v_freeze;
		RETURN;
	END IF;
	IF v_approval IS NOT NULL THEN
		PERFORM rollout._hold(r, 'awaiting_approval', 'hold_for_approval', v_approval, p_at);
		action := 'hold_for_approval'; detail := v_approval;
		RETURN;
	END IF;
	v_srm := rollout._srm_reason(r, p_at);
	v_hold := coalesce(v_hold, v_srm);
	IF v_hold IS NOT NULL THEN
		IF rollout._hold(r, 'holding', 'hold', v_hold, p_at) THEN
			action := 'hold';
		ELSE
			action := 'wait';
		END IF;
		detail := v_hold;
		RETURN;
	END IF;

	-- Nothing failed. Advancing needs every acting gate to pass, the bake
	-- time and the step's samples.
	v_step := r.plan->'steps'->(r.stage - 1);
	v_bake_until := r.stage_started_at + make_interval(secs => coalesce((v_step->>'bake_seconds')::float8, 0));
	IF cardinality(v_blocking) > 0 THEN
		action := 'wait';
		detail := 'gates not passed: ' || array_to_string(v_blocking, ', ');
		-- After the bake, gates that cannot tell yet need more samples.
		IF p_at >= v_bake_until
		   AND NOT EXISTS (SELECT 1 FROM unnest(v_blocking) b WHERE b NOT LIKE '% inconclusive')
		   AND rollout._boost(r, p_at) THEN
			action := 'boost';
		END IF;
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		UPDATE rollout.rollouts SET state = 'canary', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release', 'every gate passes again', p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
	END IF;

	v_need := coalesce((v_step->>'min_samples')::bigint, 0);
	SELECT coalesce(sum(s.n) FILTER (WHERE s.arm = 'candidate'), 0),
		   coalesce(sum(s.n) FILTER (WHERE s.arm = 'stable'), 0)
		INTO v_n_c, v_n_b
		FROM rollout._arm_counts(r.id, rollout.window_start(r.stage_started_at), p_at + interval '1 microsecond', r.stage) s;

	IF p_at < v_bake_until THEN
		action := 'wait';
		detail := pg_catalog.format('baking until %s', v_bake_until);
		RETURN;
	END IF;
	IF v_n_c < v_need OR v_n_b < v_need THEN
		action := 'wait';
		detail := pg_catalog.format('bake time over, short of samples: candidate %s, baseline %s, need %s',
									v_n_c, v_n_b, v_need);
		IF rollout._boost(r, p_at) THEN
			action := 'boost';
		END IF;
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

CREATE OR REPLACE FUNCTION rollout._tick_begin(at timestamptz) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout.refresh_aggregates(at);
	PERFORM rollout._flush_exposures_into_totals(at);
END
$$;

CREATE OR REPLACE FUNCTION rollout._due_rollouts(at timestamptz, p_limit bigint DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT x.id FROM rollout.rollouts x
	WHERE rollout.is_active_state(x.state)
	  AND (x.last_eval_at IS NULL
		   OR jsonb_typeof(x.plan->'evaluation_interval_seconds') NOT IN ('number', 'null')
		   OR NOT ((x.plan->>'evaluation_interval_seconds')::numeric BETWEEN 0 AND 1e9)
		   OR at >= x.last_eval_at
				+ make_interval(secs => rollout._plan_seconds(x.plan, 'evaluation_interval_seconds', 300)))
	ORDER BY x.last_eval_at NULLS FIRST, x.id
	LIMIT p_limit
$$;

CREATE OR REPLACE FUNCTION rollout._tick_rollout(p_id bigint, at timestamptz)
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

CREATE OR REPLACE FUNCTION rollout._tick_baselines(at timestamptz)
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

CREATE OR REPLACE FUNCTION rollout.tick(at timestamptz DEFAULT pg_catalog.now())
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


REVOKE ALL ON FUNCTION rollout._tick_begin(timestamptz), rollout._due_rollouts(timestamptz, bigint),
	rollout._store_verdicts(rollout.rollouts, jsonb[], rollout.gate_verdict[], timestamptz, boolean[]),
	rollout._tick_rollout(bigint, timestamptz), rollout._tick_baselines(timestamptz) FROM PUBLIC;

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
