-- pg_rollout 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.2.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.1.0 + this script equals a
-- fresh 0.2.0 install (test/t/ checks it by comparing pg_dump --schema-only).
-- Sections are grouped by the src/sql/ piece they mirror.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit


------------------------------------------------------------------------------
-- hardening (issue 10)
-- Bounded outcomes with a rejects table, a sketch input that checks its
-- ranges, tick() that skips locked rollouts and records per-rollout errors,
-- lifecycle calls that take finite times (NULL: now()) and real reasons.
-- Every statement below mirrors src/sql/ (40, 60, 62, 63) exactly.

-- 40_outcomes.sql
-- Rows that could not be folded or drained, with the error: refresh_aggregates()
-- moves stored outcomes and shadow pairs whose values break the documented
-- bounds here, and drain_outcome_staging() staged rows it cannot insert, so
-- one bad row never stops aggregation or draining for everyone else.
-- Operators read it; rollout_admin deletes what has been dealt with.
CREATE TABLE rollout.outcome_rejects (
	id			bigserial PRIMARY KEY,
	rejected_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	source		text NOT NULL CHECK (source IN ('outcomes', 'shadow_pairs', 'outcome_staging')),
	agent		text,
	error		text NOT NULL,
	sqlstate	text,
	-- The row as it was, as JSON.
	row_data	jsonb NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_rejects', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_rejects_id_seq', '');
GRANT SELECT ON rollout.outcome_rejects TO rollout_reader, rollout_operator;
GRANT SELECT, DELETE ON rollout.outcome_rejects TO rollout_admin;

-- NULL when a stored outcome's values are within the bounds aggregation
-- relies on (src/outcome_record.c), else what is wrong with them.
CREATE OR REPLACE FUNCTION rollout._outcome_problem(quality float8, latency_ms float8, cost float8,
										 metrics jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'rollout_outcome_problem'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

REVOKE ALL ON FUNCTION rollout._outcome_problem(float8, float8, float8, jsonb) FROM PUBLIC;

-- Raises array_subscript_error naming argname unless the array has at most one dimension.
CREATE OR REPLACE FUNCTION rollout._check_batch_dims(ndims integer, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF ndims > 1 THEN
		RAISE EXCEPTION 'argument "%" must be a one-dimensional array', argname
			USING ERRCODE = 'array_subscript_error',
				  DETAIL = pg_catalog.format('It has %s dimensions.', ndims);
	END IF;
END
$$;

REVOKE ALL ON FUNCTION rollout._check_batch_dims(integer, text) FROM PUBLIC;

-- Raises string_data_right_truncation for a unit over 1024 bytes (batch row pos).
CREATE OR REPLACE FUNCTION rollout._raise_long_unit(pos bigint) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION '%argument "unit" is too long',
		CASE WHEN pos > 0 THEN pg_catalog.format('batch row %s: ', pos) ELSE '' END
		USING ERRCODE = 'string_data_right_truncation',
			  DETAIL = 'The limit is 1024 bytes.';
END
$$;

REVOKE ALL ON FUNCTION rollout._raise_long_unit(bigint) FROM PUBLIC;

-- A batch of one agent's outcomes as parallel arrays; all rows or none.
CREATE OR REPLACE FUNCTION rollout.record_batch(agent text, versions integer[], units text[] DEFAULT NULL,
									 successes boolean[] DEFAULT NULL, qualities float8[] DEFAULT NULL,
									 latencies_ms float8[] DEFAULT NULL, costs float8[] DEFAULT NULL,
									 errors boolean[] DEFAULT NULL, safety_flags boolean[] DEFAULT NULL,
									 feedbacks smallint[] DEFAULT NULL, metrics jsonb[] DEFAULT NULL,
									 shadows boolean[] DEFAULT NULL, ats timestamptz[] DEFAULT NULL)
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
			rollout._check_batch_length(cardinality(ats), n, 'ats');
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
			rollout._check_batch_dims(array_ndims(ats), 'ats');
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
				safety_flags, feedbacks, metrics, shadows, ats)
			WITH ORDINALITY AS b(v, u, s, q, l, c, e, sf, f, m, sh, t, ord)
		CROSS JOIN LATERAL rollout._outcome_resolve(agent, b.v, b.q, b.l, b.c, b.m,
													coalesce(b.t, pg_catalog.now()),
													b.ord::integer) c
	ORDER BY b.ord;
	GET DIAGNOSTICS inserted = ROW_COUNT;
	RETURN inserted;
END
$$;

-- Moves every staged row into rollout.outcomes, in one statement when every
-- row is good. When one is not, the rows are moved one by one and each row
-- that cannot be inserted goes to rollout.outcome_rejects with its error, so
-- one bad row never blocks the drain. Returns the number of rows moved.
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
										  safety_flag, feedback, metrics)
			SELECT pg_catalog.txid_current(), c.at, o.agent, o.version, c.rollout_id, c.stage,
				   c.arm, c.in_arm, o.shadow, o.unit, o.success, o.quality, o.latency_ms, o.cost,
				   o.error, o.safety_flag, o.feedback, o.metrics
			FROM o CROSS JOIN LATERAL rollout._outcome_resolve(o.agent, o.version, o.quality,
															   o.latency_ms, o.cost, o.metrics,
															   o.at, o.pos::integer) c
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
										  safety_flag, feedback, metrics)
			SELECT pg_catalog.txid_current(), c.at, s.agent, s.version, c.rollout_id, c.stage,
				   c.arm, c.in_arm, s.shadow, s.unit, s.success, s.quality, s.latency_ms, s.cost,
				   s.error, s.safety_flag, s.feedback, s.metrics
			FROM rollout._outcome_resolve(s.agent, s.version, s.quality, s.latency_ms, s.cost,
										  s.metrics, s.at, 0) c;
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

-- Raises invalid_parameter_value naming argname unless value is NULL or a
-- finite number >= 0, and numeric_value_out_of_range above 1e12 (the outcome bound).
CREATE OR REPLACE FUNCTION rollout._check_non_negative(value float8, argname text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF value IS NOT NULL AND (value < 0 OR value = 'NaN' OR value = 'Infinity') THEN
		RAISE EXCEPTION 'argument "%" must be a finite non-negative number', argname
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The value given was %s.', value);
	END IF;
	IF value > 1e12 THEN
		RAISE EXCEPTION 'argument "%" is out of range', argname
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = pg_catalog.format('The limit is 1e+12; the value given was %s.', value);
	END IF;
END
$$;

-- A production/shadow pair. similarity is the caller's score, or the cosine
-- of the two embeddings; returns the similarity stored.
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
										   at timestamptz DEFAULT pg_catalog.now())
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
	-- Validates agent, both versions and time; the rollout comes from production's.
	PERFORM rollout._outcome_resolve(agent, shadow_version, NULL, NULL, NULL, NULL, at, 0);
	SELECT * INTO ctx FROM rollout._outcome_resolve(agent, production_version, NULL, NULL, NULL,
												   NULL, at, 0);
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

-- Folds every outcome and shadow pair whose writing transaction finished
-- (txid below the snapshot's xmin) and is not folded yet. Concurrent calls
-- serialize on the watermark row. `upto` is the caller's clock, kept as
-- refreshed_upto. Returns the number of outcomes folded.
CREATE OR REPLACE FUNCTION rollout.refresh_aggregates(upto timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	lo bigint;
	hi bigint;
	folded bigint := 0;
	pairs bigint := 0;
BEGIN
	SELECT w.folded_below INTO lo FROM rollout.outcome_watermark w FOR UPDATE;
	-- A new statement, so a new snapshot: every transaction with an id
	-- below its xmin has finished, and its committed rows are visible below.
	hi := pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot());
	IF hi > lo THEN
		-- Rows whose values break the bounds (written before they were
		-- enforced, or by hand) are moved to the rejects, never folded: the
		-- sums below cannot overflow whatever else is in the table.
		WITH bad AS (
			DELETE FROM rollout.outcomes o
			WHERE o.txid >= lo AND o.txid < hi AND o.in_arm
			  AND rollout._outcome_problem(o.quality, o.latency_ms, o.cost, o.metrics) IS NOT NULL
			RETURNING o.*)
		INSERT INTO rollout.outcome_rejects (source, agent, error, sqlstate, row_data)
		SELECT 'outcomes', bad.agent,
			   rollout._outcome_problem(bad.quality, bad.latency_ms, bad.cost, bad.metrics),
			   '22003', pg_catalog.to_jsonb(bad)
		FROM bad;
		WITH bad AS (
			DELETE FROM rollout.shadow_pairs p
			WHERE p.txid >= lo AND p.txid < hi AND p.rollout_id IS NOT NULL
			  AND NOT (coalesce(p.production_latency_ms, 0) BETWEEN 0 AND 1e12
					   AND coalesce(p.shadow_latency_ms, 0) BETWEEN 0 AND 1e12
					   AND coalesce(p.production_cost, 0) BETWEEN 0 AND 1e12
					   AND coalesce(p.shadow_cost, 0) BETWEEN 0 AND 1e12)
			RETURNING p.*)
		INSERT INTO rollout.outcome_rejects (source, agent, error, sqlstate, row_data)
		SELECT 'shadow_pairs', bad.agent,
			   'a latency or cost is out of range (the limit is 1e+12)', '22003',
			   pg_catalog.to_jsonb(bad)
		FROM bad;

		WITH g AS (
			SELECT o.rollout_id, rollout.window_start(o.at) AS ws, o.arm, o.shadow, o.stage,
				   count(*) AS n,
				   count(*) FILTER (WHERE o.success) AS n_success,
				   count(o.success) AS n_success_known,
				   count(*) FILTER (WHERE o.error) AS n_error,
				   count(*) FILTER (WHERE o.safety_flag) AS n_safety,
				   count(o.feedback) AS n_feedback,
				   coalesce(sum(o.feedback), 0)::float8 AS sum_feedback,
				   count(o.quality) AS n_quality,
				   coalesce(sum(o.quality), 0) AS sum_quality,
				   coalesce(sum(o.quality * o.quality), 0) AS sumsq_quality,
				   count(o.latency_ms) AS n_latency,
				   coalesce(sum(o.latency_ms), 0) AS sum_latency,
				   coalesce(sum(o.latency_ms * o.latency_ms), 0) AS sumsq_latency,
				   count(o.cost) AS n_cost,
				   coalesce(sum(o.cost), 0) AS sum_cost,
				   coalesce(sum(o.cost * o.cost), 0) AS sumsq_cost,
				   rollout.ddsketch_agg(o.latency_ms) AS latency_sketch,
				   rollout.ddsketch_agg(o.cost) AS cost_sketch
			FROM rollout.outcomes o
			WHERE o.txid >= lo AND o.txid < hi AND o.in_arm
			GROUP BY 1, 2, 3, 4, 5),
		ins AS (
			INSERT INTO rollout.outcome_windows AS w
				(rollout_id, window_start, arm, shadow, stage, n, n_success, n_success_known,
				 n_error, n_safety, n_feedback, sum_feedback, n_quality, sum_quality,
				 sumsq_quality, n_latency, sum_latency, sumsq_latency, n_cost, sum_cost,
				 sumsq_cost, latency_sketch, cost_sketch)
			SELECT * FROM g
			ON CONFLICT (rollout_id, window_start, arm, shadow, stage) DO UPDATE SET
				n = w.n + excluded.n,
				n_success = w.n_success + excluded.n_success,
				n_success_known = w.n_success_known + excluded.n_success_known,
				n_error = w.n_error + excluded.n_error,
				n_safety = w.n_safety + excluded.n_safety,
				n_feedback = w.n_feedback + excluded.n_feedback,
				sum_feedback = w.sum_feedback + excluded.sum_feedback,
				n_quality = w.n_quality + excluded.n_quality,
				sum_quality = w.sum_quality + excluded.sum_quality,
				sumsq_quality = w.sumsq_quality + excluded.sumsq_quality,
				n_latency = w.n_latency + excluded.n_latency,
				sum_latency = w.sum_latency + excluded.sum_latency,
				sumsq_latency = w.sumsq_latency + excluded.sumsq_latency,
				n_cost = w.n_cost + excluded.n_cost,
				sum_cost = w.sum_cost + excluded.sum_cost,
				sumsq_cost = w.sumsq_cost + excluded.sumsq_cost,
				latency_sketch = rollout.ddsketch_combine(w.latency_sketch, excluded.latency_sketch),
				cost_sketch = rollout.ddsketch_combine(w.cost_sketch, excluded.cost_sketch)
			RETURNING 1)
		SELECT coalesce(sum(g.n), 0) INTO folded FROM g;

		-- Custom metrics: per window and name, n / sum / sumsq.
		WITH m AS (
			SELECT o.rollout_id, rollout.window_start(o.at) AS ws, o.arm, o.shadow, o.stage,
				   e.key, count(*) AS n, sum(e.value::float8) AS s,
				   sum(e.value::float8 * e.value::float8) AS ss
			FROM rollout.outcomes o CROSS JOIN LATERAL jsonb_each(o.metrics) e
			WHERE o.txid >= lo AND o.txid < hi AND o.in_arm AND o.metrics <> '{}'
			GROUP BY 1, 2, 3, 4, 5, 6),
		j AS (
			SELECT rollout_id, ws, arm, shadow, stage,
				   jsonb_object_agg(key, jsonb_build_object('n', n, 'sum', s, 'sumsq', ss)) AS stats
			FROM m GROUP BY 1, 2, 3, 4, 5)
		UPDATE rollout.outcome_windows w
		SET metrics = rollout.metric_stats_merge(w.metrics, j.stats)
		FROM j
		WHERE w.rollout_id = j.rollout_id AND w.window_start = j.ws AND w.arm = j.arm
		  AND w.shadow = j.shadow AND w.stage = j.stage;

		WITH g AS (
			SELECT p.rollout_id, rollout.window_start(p.at) AS ws, p.stage, count(*) AS n,
				   count(p.similarity) AS n_similarity,
				   coalesce(sum(p.similarity), 0) AS sum_similarity,
				   coalesce(sum(p.similarity * p.similarity), 0) AS sumsq_similarity,
				   count(p.decisions_agree) AS n_agree_known,
				   count(*) FILTER (WHERE p.decisions_agree) AS n_agree,
				   count(p.production_latency_ms), coalesce(sum(p.production_latency_ms), 0),
				   count(p.shadow_latency_ms), coalesce(sum(p.shadow_latency_ms), 0),
				   count(p.production_cost), coalesce(sum(p.production_cost), 0),
				   count(p.shadow_cost), coalesce(sum(p.shadow_cost), 0)
			FROM rollout.shadow_pairs p
			WHERE p.txid >= lo AND p.txid < hi AND p.rollout_id IS NOT NULL
			GROUP BY 1, 2, 3),
		ins AS (
			INSERT INTO rollout.shadow_windows AS w
			SELECT * FROM g
			ON CONFLICT (rollout_id, window_start, stage) DO UPDATE SET
				n = w.n + excluded.n,
				n_similarity = w.n_similarity + excluded.n_similarity,
				sum_similarity = w.sum_similarity + excluded.sum_similarity,
				sumsq_similarity = w.sumsq_similarity + excluded.sumsq_similarity,
				n_agree_known = w.n_agree_known + excluded.n_agree_known,
				n_agree = w.n_agree + excluded.n_agree,
				n_production_latency = w.n_production_latency + excluded.n_production_latency,
				sum_production_latency = w.sum_production_latency + excluded.sum_production_latency,
				n_shadow_latency = w.n_shadow_latency + excluded.n_shadow_latency,
				sum_shadow_latency = w.sum_shadow_latency + excluded.sum_shadow_latency,
				n_production_cost = w.n_production_cost + excluded.n_production_cost,
				sum_production_cost = w.sum_production_cost + excluded.sum_production_cost,
				n_shadow_cost = w.n_shadow_cost + excluded.n_shadow_cost,
				sum_shadow_cost = w.sum_shadow_cost + excluded.sum_shadow_cost
			RETURNING 1)
		SELECT coalesce(sum(g.n), 0) INTO pairs FROM g;
	END IF;
	UPDATE rollout.outcome_watermark
	SET folded_below = greatest(lo, hi), refreshed_at = pg_catalog.clock_timestamp(),
		refreshed_upto = upto, outcomes_folded = outcomes_folded + folded,
		pairs_folded = pairs_folded + pairs;
	RETURN folded;
END
$$;

-- 10_registry.sql: an unknown label is echoed to 100 characters at most.
-- Resolves a version reference (a label or a number) to a version number.
CREATE OR REPLACE FUNCTION rollout._resolve_version(p_agent text, p_ref text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_version integer;
BEGIN
	IF p_ref IS NULL THEN
		RAISE EXCEPTION 'argument "ref" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'Pass a label such as ''production'' or a version number.';
	END IF;
	IF p_ref ~ '^[0-9]{1,9}$' THEN
		SELECT v.version INTO v_version FROM rollout.versions v
			WHERE v.agent = p_agent AND v.version = p_ref::integer;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'version % of agent "%" does not exist', p_ref, p_agent
				USING ERRCODE = 'undefined_object',
					  DETAIL = 'Argument "ref" must be an existing version number or label.';
		END IF;
		RETURN v_version;
	END IF;
	SELECT l.version INTO v_version FROM rollout.labels l
		WHERE l.agent = p_agent AND l.label = p_ref;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'label "%" of agent "%" does not exist',
			CASE WHEN octet_length(p_ref) > 100 THEN left(p_ref, 100) || '...' ELSE p_ref END, p_agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "ref" must be an existing version number or label.';
	END IF;
	RETURN v_version;
END
$$;

-- 50_plans.sql: an unknown risk tier is echoed to 100 characters at most.
-- The normalized plan: plan with every default filled in, or, when plan is
-- NULL, the preset of the risk tier. risk is checked either way.
CREATE OR REPLACE FUNCTION rollout.validate_plan(plan jsonb, risk text DEFAULT 'medium')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_preset jsonb;
BEGIN
	IF validate_plan.risk IS NULL THEN
		RAISE EXCEPTION 'argument "risk" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'Pass a risk tier of rollout.plan_presets, e.g. ''medium''.';
	END IF;
	SELECT p.plan INTO v_preset FROM rollout.plan_presets p WHERE p.risk = validate_plan.risk;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown risk tier "%"',
			CASE WHEN octet_length(validate_plan.risk) > 100 THEN left(validate_plan.risk, 100) || '...'
				 ELSE validate_plan.risk END
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Argument "risk" must be one of: %s.',
					(SELECT pg_catalog.string_agg(p.risk, ', ' ORDER BY p.risk) FROM rollout.plan_presets p));
	END IF;
	RETURN rollout._normalize_plan(coalesce(validate_plan.plan, v_preset));
END
$$;

-- 60_lifecycle.sql
-- The clock of a lifecycle call: `at`, or now() when NULL (the same in every
-- lifecycle function); infinite times are refused.
CREATE OR REPLACE FUNCTION rollout._lifecycle_at(p_at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_at IS NULL THEN
		RETURN pg_catalog.now();
	END IF;
	IF NOT pg_catalog.isfinite(p_at) THEN
		RAISE EXCEPTION 'argument "at" must be a finite time'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The time given was %s.', p_at);
	END IF;
	RETURN p_at;
END
$$;

-- Whether a text is NULL, empty or only whitespace (Unicode spaces included:
-- no-break, ideographic, zero-width no-break, line and paragraph separators).
CREATE OR REPLACE FUNCTION rollout._is_blank(p_text text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p_text IS NULL
		OR p_text ~ '^[\s\u0085\u00a0\u1680\u180e\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]*$'
$$;

REVOKE ALL ON FUNCTION rollout._lifecycle_at(timestamptz), rollout._is_blank(text) FROM PUBLIC;

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
	ELSIF v_strategy = 'ab_test' THEN
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

CREATE OR REPLACE FUNCTION rollout.pause(agent text, reason text DEFAULT NULL,
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
	IF r.state = 'paused' THEN
		RETURN;
	END IF;
	UPDATE rollout.rollouts SET state = 'paused', paused_from = r.state WHERE id = r.id;
	PERFORM rollout._record_change(r, 'pause', reason, at);
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
	UPDATE rollout.rollouts SET state = coalesce(r.paused_from, 'canary'), paused_from = NULL,
		last_eval_at = NULL
		WHERE id = r.id;
	PERFORM rollout._record_change(r, 'resume', reason, at);
END
$$;

CREATE OR REPLACE FUNCTION rollout.approve(agent text, reason text DEFAULT NULL,
								at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_role text := rollout._acting_role();
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	PERFORM rollout._require_state(r, 'awaiting_approval', 'awaiting approval');
	IF (session_user = r.started_by OR v_role = r.started_by)
	   AND NOT pg_has_role(v_role, 'rollout_admin', 'USAGE') THEN
		RAISE EXCEPTION 'role "%" started rollout % and cannot approve it', r.started_by, r.id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'An approval needs a second person.',
				  HINT = 'Ask another operator, or a member of rollout_admin, to approve.';
	END IF;
	UPDATE rollout.rollouts SET state = 'canary', approved_stage = r.stage, hold_reason = NULL,
		last_eval_at = NULL
		WHERE id = r.id;
	PERFORM rollout._record_change(r, 'approve', reason, at);
END
$$;

CREATE OR REPLACE FUNCTION rollout.promote(agent text, "full" boolean DEFAULT false, reason text DEFAULT NULL,
								at timestamptz DEFAULT pg_catalog.now())
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	RETURN rollout._advance(r, coalesce("full", false), 'promote_manual',
							coalesce(reason, 'manual promotion'), at);
END
$$;

-- safety => true is a safety rollback: no drain, pinned sessions move too.
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
BEGIN
	at := rollout._lifecycle_at(at);
	PERFORM rollout._require_agent(agent);
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
	PERFORM rollout._finish_rollback(r, coalesce(safety, false),
		CASE WHEN safety THEN 'rollback_now' ELSE 'rollback' END,
		coalesce(reason, 'manual rollback'), at);
END
$$;

CREATE OR REPLACE FUNCTION rollout.deploy_now(agent text, version integer, reason text,
								   at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_old integer;
BEGIN
	at := rollout._lifecycle_at(at);
	PERFORM rollout._require_agent(agent, true);
	PERFORM rollout._require_arg(version, 'version');
	IF rollout._is_blank(reason) THEN
		RAISE EXCEPTION 'argument "reason" must not be empty'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'deploy_now bypasses the canary; the audit log needs to say why.';
	END IF;
	PERFORM 1 FROM rollout.versions v WHERE v.agent = deploy_now.agent AND v.version = deploy_now.version;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', version, agent
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT * INTO r FROM rollout.rollouts x
		WHERE x.agent = deploy_now.agent AND rollout.is_active_state(x.state) FOR UPDATE;
	IF FOUND THEN
		UPDATE rollout.rollouts SET state = 'rolled_back', percent = 0, shadow_percent = 0,
			ended_at = at, drain_skipped = true, drain_until = at
			WHERE id = r.id;
		PERFORM rollout._record_change(r, 'superseded', 'deploy_now: ' || reason, at);
	END IF;
	SELECT l.version INTO v_old FROM rollout.labels l
		WHERE l.agent = deploy_now.agent AND l.label = 'production';
	PERFORM rollout.set_label(agent, 'production', version, 'deploy_now: ' || reason);
	PERFORM rollout._log_event(agent, r.id, 'deploy_now',
		jsonb_build_object('production', v_old), jsonb_build_object('production', version), reason, at);
	PERFORM rollout._notify_change(r.id, agent, 'deploy_now', NULL, NULL, NULL, at, reason);
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
	PERFORM rollout._require_agent(agent);
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

-- 62_tick.sql
-- The last error tick() met evaluating a rollout (NULL after a clean
-- evaluation); rollout.status shows it.
ALTER TABLE rollout.rollouts
	ADD COLUMN last_error		text,
	ADD COLUMN last_error_at	timestamptz;

-- A number of seconds from a plan (e.g. evaluation_interval_seconds), or
-- p_default when the key is missing or not a finite non-negative number:
-- a bad value in one plan never breaks a query over every rollout.
CREATE OR REPLACE FUNCTION rollout._plan_seconds(p_plan jsonb, p_key text, p_default float8)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN jsonb_typeof(p_plan->p_key) = 'number'
					 AND (p_plan->>p_key)::numeric BETWEEN 0 AND 1e9
				THEN (p_plan->>p_key)::float8 ELSE p_default END
$$;

REVOKE ALL ON FUNCTION rollout._plan_seconds(jsonb, text, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._plan_seconds(jsonb, text, float8) TO rollout_reader;

-- Evaluates every active rollout once at the clock `at` (NULL: now()) and
-- returns one row per rollout acted on, waiting, skipped or in error.
CREATE OR REPLACE FUNCTION rollout.tick(at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
	r rollout.rollouts;
	res record;
	v_interval interval;
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
		IF r.state IN ('paused', 'awaiting_approval') THEN
			CONTINUE;
		END IF;
		BEGIN
			IF jsonb_typeof(r.plan->'evaluation_interval_seconds') NOT IN ('number', 'null') THEN
				RAISE EXCEPTION 'plan of rollout % has a bad "evaluation_interval_seconds"', r.id
					USING ERRCODE = 'invalid_parameter_value',
						  DETAIL = 'It must be a number of seconds.';
			END IF;
			v_interval := make_interval(secs => coalesce((r.plan->>'evaluation_interval_seconds')::float8, 300));
			IF r.last_eval_at IS NOT NULL AND at < r.last_eval_at + v_interval THEN
				CONTINUE;
			END IF;
			IF r.state = 'shadow' THEN
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

-- 63_status.sql: the view gains last_error and last_error_at at the end.
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
