-- pg_rollout 0.2.0 -> 0.3.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.3.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.2.0 + this script equals a
-- fresh 0.3.0 install (test/t/040_upgrade.pl checks it from 0.1.0 and from
-- 0.2.0 by comparing pg_dump --schema-only). Sections are named after the
-- change they carry; a function changed by more than one section is created
-- again in the last section, as the release has it (upgrade/objects.py
-- prints the current definitions); the earlier definitions are replaced.
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

-- rollout.tick(): as the release has it in the last section.







-- decisions (issue 12): route() returns a decision_token and record(),
-- record_batch(), the staging drain and record_shadow_pair() take it back,
-- so an outcome counts for the decision that served it; undoing a promotion
-- no longer rewrites the rollout's ended_at (watch_ended_at instead); every
-- function that moves a label or a rollout locks the agent first (tick
-- too); rollback() refuses to undo a promotion production no longer
-- serves; set_label() refuses to move production during a rollout.
-- rollout._tick_rollout (which locks the agent with the rollout) is
-- created in the section "scale (issue 15)", rollout.tick in the last
-- section, as the release has them.

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

-- functions changed by more than one section above, as the release has them:
-- rollout._finish_rollback, rollout._tick_canary, rollout._tick_one, rollout.tick,
-- rollout._tick_baselines

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
		paused_from = NULL, hold_reason = NULL,
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
	v_store_g jsonb[] := '{}';
	v_store_v rollout.gate_verdict[] := '{}';
	v_store_a boolean[] := '{}';
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


-- metrics: the state gauge knows awaiting_decision (A/B tests, issue 13)

CREATE OR REPLACE FUNCTION rollout._metrics()
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

