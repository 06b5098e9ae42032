-- 40: outcomes: raw outcomes partitioned by time, shadow pairs, per-window
-- aggregates with DDSketch latency/cost sketches, and what gates read.
-- Reference: docs/outcomes.md.

-- Settings of the outcome store (one row).
CREATE TABLE rollout.outcome_settings (
	id					boolean PRIMARY KEY DEFAULT true CHECK (id),
	-- Raw outcomes and shadow pairs older than this are dropped.
	retention			interval NOT NULL DEFAULT '30 days' CHECK (retention > interval '1 day'),
	-- Window aggregates older than this are deleted.
	aggregate_retention	interval NOT NULL DEFAULT '400 days' CHECK (aggregate_retention > interval '1 day'),
	-- Daily partitions created ahead by maintain_outcomes().
	premake_days		integer NOT NULL DEFAULT 3 CHECK (premake_days BETWEEN 1 AND 60)
);
INSERT INTO rollout.outcome_settings DEFAULT VALUES;

-- Per-agent quality scale; agents without a row use [0, 1].
CREATE TABLE rollout.quality_scales (
	agent	text PRIMARY KEY REFERENCES rollout.agents (name),
	min		float8 NOT NULL,
	max		float8 NOT NULL,
	CHECK (min < max)
);

-- Relcache invalidation for the per-backend outcome cache (src/outcome_cache.c).
CREATE FUNCTION rollout._outcomes_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'rollout_outcomes_invalidate'
LANGUAGE C;
REVOKE ALL ON FUNCTION rollout._outcomes_invalidate() FROM PUBLIC;
CREATE TRIGGER rollouts_outcome_cache AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF agent, baseline, candidate, strategy, state, stage, percent, stickiness, salt, variants, shadow_percent, write_intercept, rules, flags, judge_rate, pinning, drain, drain_until, drain_skipped, started_at, ended_at
	ON rollout.rollouts FOR EACH STATEMENT EXECUTE FUNCTION rollout._outcomes_invalidate();
CREATE TRIGGER quality_scales_outcome_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON rollout.quality_scales FOR EACH STATEMENT EXECUTE FUNCTION rollout._outcomes_invalidate();

------------------------------------------------------------------------------
-- The DDSketch type (src/sketch_ddsketch.c)

CREATE TYPE rollout.ddsketch;
CREATE FUNCTION rollout.ddsketch_in(cstring) RETURNS rollout.ddsketch
AS 'MODULE_PATHNAME', 'rollout_ddsketch_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_out(rollout.ddsketch) RETURNS cstring
AS 'MODULE_PATHNAME', 'rollout_ddsketch_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE rollout.ddsketch (
	INPUT = rollout.ddsketch_in,
	OUTPUT = rollout.ddsketch_out,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = extended
);

CREATE FUNCTION rollout._ddsketch_add(internal, float8) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_add_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_add(internal, float8, float8) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_add_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_merge(internal, rollout.ddsketch) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_merge_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_combine_states(internal, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_state_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_serialize(internal) RETURNS bytea
AS 'MODULE_PATHNAME', 'rollout_ddsketch_state_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_deserialize(bytea, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_state_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_final(internal) RETURNS rollout.ddsketch
AS 'MODULE_PATHNAME', 'rollout_ddsketch_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Sketch of non-negative values, relative accuracy 1% (or alpha).
CREATE AGGREGATE rollout.ddsketch_agg(value float8) (
	SFUNC = rollout._ddsketch_add, STYPE = internal, FINALFUNC = rollout._ddsketch_final,
	COMBINEFUNC = rollout._ddsketch_combine_states,
	SERIALFUNC = rollout._ddsketch_serialize, DESERIALFUNC = rollout._ddsketch_deserialize,
	PARALLEL = SAFE
);
CREATE AGGREGATE rollout.ddsketch_agg(value float8, alpha float8) (
	SFUNC = rollout._ddsketch_add, STYPE = internal, FINALFUNC = rollout._ddsketch_final,
	COMBINEFUNC = rollout._ddsketch_combine_states,
	SERIALFUNC = rollout._ddsketch_serialize, DESERIALFUNC = rollout._ddsketch_deserialize,
	PARALLEL = SAFE
);
-- Merge of sketches (same alpha): the sketch of all their values.
CREATE AGGREGATE rollout.ddsketch_merge(sketch rollout.ddsketch) (
	SFUNC = rollout._ddsketch_merge, STYPE = internal, FINALFUNC = rollout._ddsketch_final,
	COMBINEFUNC = rollout._ddsketch_combine_states,
	SERIALFUNC = rollout._ddsketch_serialize, DESERIALFUNC = rollout._ddsketch_deserialize,
	PARALLEL = SAFE
);
CREATE FUNCTION rollout.ddsketch_combine(a rollout.ddsketch, b rollout.ddsketch) RETURNS rollout.ddsketch
AS 'MODULE_PATHNAME', 'rollout_ddsketch_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_quantile(sketch rollout.ddsketch, q float8) RETURNS float8
AS 'MODULE_PATHNAME', 'rollout_ddsketch_quantile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_quantiles(sketch rollout.ddsketch, qs float8[]) RETURNS float8[]
AS 'MODULE_PATHNAME', 'rollout_ddsketch_quantiles' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_count(sketch rollout.ddsketch) RETURNS bigint
AS 'MODULE_PATHNAME', 'rollout_ddsketch_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Cosine similarity of two embeddings (src/outcome_shadow.c).
CREATE FUNCTION rollout.cosine_similarity(production_embedding float4[], shadow_embedding float4[])
RETURNS float8
AS 'MODULE_PATHNAME', 'rollout_cosine_similarity' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------
-- Raw outcomes and shadow pairs, partitioned by day (UTC) with a default
-- partition, so an insert never fails for want of a partition.

-- Aggregation window: fixed at 5 minutes, aligned on 2000-01-01 00:00 UTC.
-- No SET clause, so the planner inlines it (gates call it a few dozen times
-- per rollout and tick; a SET made each call a separate SQL-function run of
-- about 35 us). Every name in the body is qualified, so the caller's
-- search_path cannot change its meaning.
CREATE FUNCTION rollout.window_start(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.date_bin('5 minutes'::pg_catalog.interval, at,
								 '2000-01-01 00:00:00+00'::pg_catalog.timestamptz) $$;

CREATE TABLE rollout.outcomes (
	id			bigserial,
	-- Top-level transaction id of the writer; refresh folds by it.
	txid		bigint NOT NULL DEFAULT pg_catalog.txid_current(),
	at			timestamptz NOT NULL,
	agent		text NOT NULL,
	version		integer NOT NULL,
	rollout_id	bigint,
	stage		integer,
	arm			text,
	in_arm		boolean NOT NULL DEFAULT false,
	shadow		boolean NOT NULL DEFAULT false,
	unit		text,
	success		boolean,
	quality		float8,
	latency_ms	float8,
	cost		float8,
	error		boolean NOT NULL DEFAULT false,
	safety_flag	boolean NOT NULL DEFAULT false,
	feedback	smallint,
	metrics		jsonb NOT NULL DEFAULT '{}',
	-- The login that wrote the outcome (session_user of record(), the batch
	-- or the COPY into rollout.outcome_staging).
	author		text NOT NULL DEFAULT session_user
) PARTITION BY RANGE (at);
CREATE TABLE rollout.outcomes_default PARTITION OF rollout.outcomes DEFAULT;
-- Indexes are per partition, not on the parent: a daily partition is not
-- part of the extension, and pg_dump restores its indexes itself, which
-- would collide with those ATTACH PARTITION creates from a parent's index.
-- _ensure_partition() copies the default partition's indexes.
CREATE INDEX outcomes_arm_at_idx ON rollout.outcomes_default (rollout_id, arm, at);
CREATE INDEX outcomes_txid_idx ON rollout.outcomes_default USING brin (txid);

CREATE TABLE rollout.shadow_pairs (
	id					bigserial,
	txid				bigint NOT NULL DEFAULT pg_catalog.txid_current(),
	at					timestamptz NOT NULL,
	agent				text NOT NULL,
	rollout_id			bigint,
	stage				integer,
	production_version	integer NOT NULL,
	shadow_version		integer NOT NULL,
	unit				text,
	similarity			float8 CHECK (similarity BETWEEN -1 AND 1),
	decisions_agree		boolean,
	production_latency_ms float8,
	shadow_latency_ms	float8,
	production_cost		float8,
	shadow_cost			float8
) PARTITION BY RANGE (at);
CREATE TABLE rollout.shadow_pairs_default PARTITION OF rollout.shadow_pairs DEFAULT;
CREATE INDEX shadow_pairs_rollout_at_idx ON rollout.shadow_pairs_default (rollout_id, at);
CREATE INDEX shadow_pairs_txid_idx ON rollout.shadow_pairs_default USING brin (txid);

-- Staging table for COPY: services copy rows in, drain_outcome_staging()
-- moves them into rollout.outcomes in one statement.
CREATE TABLE rollout.outcome_staging (
	id			bigserial PRIMARY KEY,
	agent		text NOT NULL,
	version		integer NOT NULL,
	unit		text,
	success		boolean,
	quality		float8,
	latency_ms	float8,
	cost		float8,
	error		boolean NOT NULL DEFAULT false,
	safety_flag	boolean NOT NULL DEFAULT false,
	feedback	smallint,
	metrics		jsonb NOT NULL DEFAULT '{}',
	shadow		boolean NOT NULL DEFAULT false,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- Set by a trigger to the login that staged the row.
	author		text NOT NULL DEFAULT session_user,
	-- The decision_token route() returned for the request, if any.
	decision_token text
);

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

------------------------------------------------------------------------------
-- Window aggregates: one row per (rollout, stage, arm, shadow, window).

CREATE TABLE rollout.outcome_windows (
	rollout_id		bigint NOT NULL,
	window_start	timestamptz NOT NULL,
	arm				text NOT NULL,
	shadow			boolean NOT NULL,
	stage			integer NOT NULL,
	n				bigint NOT NULL,
	n_success		bigint NOT NULL,	-- success = true
	n_success_known	bigint NOT NULL,	-- success not null
	n_error			bigint NOT NULL,
	n_safety		bigint NOT NULL,
	n_feedback		bigint NOT NULL,
	sum_feedback	float8 NOT NULL,
	n_quality		bigint NOT NULL,
	sum_quality		float8 NOT NULL,
	sumsq_quality	float8 NOT NULL,
	n_latency		bigint NOT NULL,
	sum_latency		float8 NOT NULL,
	sumsq_latency	float8 NOT NULL,
	n_cost			bigint NOT NULL,
	sum_cost		float8 NOT NULL,
	sumsq_cost		float8 NOT NULL,
	latency_sketch	rollout.ddsketch,
	cost_sketch		rollout.ddsketch,
	-- {"metric": {"n": .., "sum": .., "sumsq": ..}, ...}
	metrics			jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (rollout_id, window_start, arm, shadow, stage)
);

CREATE TABLE rollout.shadow_windows (
	rollout_id				bigint NOT NULL,
	window_start			timestamptz NOT NULL,
	stage					integer NOT NULL,
	n						bigint NOT NULL,
	n_similarity			bigint NOT NULL,
	sum_similarity			float8 NOT NULL,
	sumsq_similarity		float8 NOT NULL,
	n_agree_known			bigint NOT NULL,
	n_agree					bigint NOT NULL,
	n_production_latency	bigint NOT NULL,
	sum_production_latency	float8 NOT NULL,
	n_shadow_latency		bigint NOT NULL,
	sum_shadow_latency		float8 NOT NULL,
	n_production_cost		bigint NOT NULL,
	sum_production_cost		float8 NOT NULL,
	n_shadow_cost			bigint NOT NULL,
	sum_shadow_cost			float8 NOT NULL,
	PRIMARY KEY (rollout_id, window_start, stage)
);

-- Where folding stands: every row whose txid is below folded_below is in
-- the aggregates, and no row at or above it is.
CREATE TABLE rollout.outcome_watermark (
	id				boolean PRIMARY KEY DEFAULT true CHECK (id),
	folded_below	bigint NOT NULL DEFAULT 0,
	refreshed_at	timestamptz,
	refreshed_upto	timestamptz,
	outcomes_folded	bigint NOT NULL DEFAULT 0,
	pairs_folded	bigint NOT NULL DEFAULT 0
);
INSERT INTO rollout.outcome_watermark DEFAULT VALUES;

-- Merges two custom-metric maps {"m": {"n", "sum", "sumsq"}}.
CREATE FUNCTION rollout.metric_stats_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_object_agg(k, jsonb_build_object('n', n, 'sum', s, 'sumsq', ss)), '{}')
	FROM (SELECT k, sum(n) AS n, sum(s) AS s, sum(ss) AS ss
		  FROM (SELECT e.key AS k, (e.value->>'n')::bigint AS n, (e.value->>'sum')::float8 AS s,
					   (e.value->>'sumsq')::float8 AS ss
				FROM jsonb_each(coalesce(a, '{}')) e
				UNION ALL
				SELECT e.key, (e.value->>'n')::bigint, (e.value->>'sum')::float8,
					   (e.value->>'sumsq')::float8
				FROM jsonb_each(coalesce(b, '{}')) e) x
		  GROUP BY k) y
$$;
CREATE AGGREGATE rollout.metric_stats_agg(jsonb) (
	SFUNC = rollout.metric_stats_merge, STYPE = jsonb, INITCOND = '{}'
);

------------------------------------------------------------------------------
-- Recording

-- One outcome (src/outcome_record.c). Called per request by services.
-- decision_token (from route()) attributes it to the decision that served
-- the request; without it, to the rollout covering `at`. Not declared
-- SECURITY DEFINER: the C function runs its statements as this function's
-- owner with search_path pg_catalog itself, which costs less per call than
-- fmgr's search_path switch (docs/security.md).
CREATE FUNCTION rollout.record(agent text, version integer, unit text DEFAULT NULL,
							   success boolean DEFAULT NULL, quality float8 DEFAULT NULL,
							   latency_ms float8 DEFAULT NULL, cost float8 DEFAULT NULL,
							   error boolean DEFAULT false, safety_flag boolean DEFAULT false,
							   feedback smallint DEFAULT NULL, metrics jsonb DEFAULT '{}',
							   shadow boolean DEFAULT false, at timestamptz DEFAULT pg_catalog.now(),
							   decision_token text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rollout_record'
LANGUAGE C VOLATILE;

-- Validates one batch row like record() and returns where it belongs.
CREATE FUNCTION rollout._outcome_resolve(agent text, version integer, quality float8,
										 latency_ms float8, cost float8, metrics jsonb,
										 at timestamptz, row_number integer,
										 decision_token text DEFAULT NULL,
										 shadow boolean DEFAULT false,
										 OUT rollout_id bigint, OUT stage integer,
										 OUT arm text, OUT in_arm boolean, OUT at timestamptz)
AS 'MODULE_PATHNAME', 'rollout_outcome_resolve'
LANGUAGE C STABLE;

-- NULL when a stored outcome's values are within the bounds aggregation
-- relies on (src/outcome_record.c), else what is wrong with them.
CREATE FUNCTION rollout._outcome_problem(quality float8, latency_ms float8, cost float8,
										 metrics jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'rollout_outcome_problem'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION rollout._outcome_problem(float8, float8, float8, jsonb) FROM PUBLIC;

-- Raises array_subscript_error naming argname unless the array has at most one dimension.
CREATE FUNCTION rollout._check_batch_dims(ndims integer, argname text)
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

-- Where an outcome of (agent, version) at `at` would be counted.
CREATE FUNCTION rollout.outcome_context(agent text, version integer,
										at timestamptz DEFAULT pg_catalog.now(),
										OUT rollout_id bigint, OUT stage integer, OUT arm text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.rollout_id, r.stage, r.arm
	FROM rollout._outcome_resolve(agent, version, NULL, NULL, NULL, NULL, at, 0) r
$$;

-- Raises an error naming `argname` when an array's length differs from n.
CREATE FUNCTION rollout._check_batch_length(len integer, n integer, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF len IS NOT NULL AND len <> n THEN
		RAISE EXCEPTION 'argument "%" has % elements, "versions" has %', argname, len, n
			USING ERRCODE = 'array_subscript_error',
				  DETAIL = 'Every array of a batch must have one element per outcome.';
	END IF;
END
$$;

-- A batch of one agent's outcomes as parallel arrays; all rows or none.
-- decision_tokens[i] attributes row i to the decision that served it.
CREATE FUNCTION rollout.record_batch(agent text, versions integer[], units text[] DEFAULT NULL,
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

-- Moves every staged row into rollout.outcomes, in one statement when every
-- row is good. When one is not, the rows are moved one by one and each row
-- that cannot be inserted goes to rollout.outcome_rejects with its error, so
-- one bad row never blocks the drain. Returns the number of rows moved.
CREATE FUNCTION rollout.drain_outcome_staging() RETURNS bigint
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

-- Raises string_data_right_truncation for a unit over 1024 bytes (batch row pos).
CREATE FUNCTION rollout._raise_long_unit(pos bigint) RETURNS boolean
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

-- Raises invalid_parameter_value naming argname unless value is NULL or a
-- finite number >= 0, and numeric_value_out_of_range above 1e12 (the outcome bound).
CREATE FUNCTION rollout._check_non_negative(value float8, argname text) RETURNS void
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
-- of the two embeddings; returns the similarity stored. decision_token is
-- the one route() returned for the production request.
CREATE FUNCTION rollout.record_shadow_pair(agent text, production_version integer,
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

------------------------------------------------------------------------------
-- Folding raw rows into window aggregates

-- Folds every outcome and shadow pair whose writing transaction finished
-- (txid below the snapshot's xmin) and is not folded yet. Concurrent calls
-- serialize on the watermark row. `upto` is the caller's clock, kept as
-- refreshed_upto. Returns the number of outcomes folded.
CREATE FUNCTION rollout.refresh_aggregates(upto timestamptz DEFAULT pg_catalog.now())
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

------------------------------------------------------------------------------
-- Partitions and retention

-- Creates the daily partition [day, day + 1) of rollout.<parent> unless it
-- exists, with the indexes of the default partition, moving rows of that
-- day out of the default partition first.
CREATE FUNCTION rollout._ensure_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	part text := parent || '_p' || to_char(day, 'YYYYMMDD');
	lo timestamptz := (day::timestamp AT TIME ZONE 'UTC');
	hi timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
	idx record;
BEGIN
	IF to_regclass('rollout.' || part) IS NOT NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('CREATE TABLE rollout.%I (LIKE rollout.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
				   part, parent);
	FOR idx IN
		SELECT pg_get_indexdef(i.indexrelid) AS def
		FROM pg_index i
		WHERE i.indrelid = ('rollout.' || parent || '_default')::regclass
		ORDER BY i.indexrelid
	LOOP
		EXECUTE regexp_replace(idx.def, '^CREATE (UNIQUE )?INDEX \S+ ON \S+ ',
							   format('CREATE \1INDEX ON rollout.%I ', part));
	END LOOP;
	EXECUTE format('WITH m AS (DELETE FROM rollout.%I WHERE at >= $1 AND at < $2 RETURNING *)'
				   ' INSERT INTO rollout.%I SELECT * FROM m', parent || '_default', part)
		USING lo, hi;
	EXECUTE format('ALTER TABLE rollout.%I ATTACH PARTITION rollout.%I FOR VALUES FROM (%L) TO (%L)',
				   parent, part, lo, hi);
	RETURN true;
END
$$;

-- How far ahead of the server clock a caller's `at` may lie
-- (rollout.clock_tolerance, seconds); NULL when the check is off (-1).
CREATE FUNCTION rollout._clock_tolerance() RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v text := pg_catalog.current_setting('rollout.clock_tolerance', true);
BEGIN
	IF v IS NULL OR v = '' THEN
		RETURN interval '1 hour';
	ELSIF v ~ '^-' THEN
		RETURN NULL;
	ELSIF v ~ '^[0-9]+$' THEN
		RETURN pg_catalog.make_interval(secs => v::float8);
	END IF;
	RETURN v::interval;
END
$$;

-- Creates the partitions of the coming days, folds what is pending, drops
-- partitions past rollout.outcome_settings.retention and deletes window
-- aggregates past aggregate_retention. Returns what it did. The worker's
-- tick or a cron job calls it (docs/outcomes.md).
CREATE FUNCTION rollout.maintain_outcomes(at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE(action text, object text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s rollout.outcome_settings;
	today date := (at AT TIME ZONE 'UTC')::date;
	cutoff timestamptz;
	parent text;
	p record;
	n bigint;
	v_tolerance interval := rollout._clock_tolerance();
	v_done jsonb := '[]';
BEGIN
	IF at IS NULL OR NOT pg_catalog.isfinite(at) THEN
		RAISE EXCEPTION 'argument "at" must be a finite time'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v_tolerance IS NOT NULL AND at > pg_catalog.now() + v_tolerance THEN
		RAISE EXCEPTION 'argument "at" is too far in the future'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('It is %s; maintenance may run at most %s ahead of the server clock (rollout.clock_tolerance), so that retention cannot drop outcomes that are still young.',
											 at, v_tolerance);
	END IF;
	SELECT * INTO s FROM rollout.outcome_settings;
	cutoff := at - s.retention;
	PERFORM rollout.refresh_aggregates(at);
	FOREACH parent IN ARRAY ARRAY['outcomes', 'shadow_pairs'] LOOP
		FOR d IN 0 .. s.premake_days - 1 LOOP
			IF rollout._ensure_partition(parent, today + d) THEN
				action := 'create partition';
				object := 'rollout.' || parent || '_p' || to_char(today + d, 'YYYYMMDD');
				RETURN NEXT;
			END IF;
		END LOOP;
		FOR p IN
			SELECT c.relname
			FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = ('rollout.' || parent)::regclass
			  AND c.relname ~ ('^' || parent || '_p[0-9]{8}$')
			  AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
			ORDER BY c.relname
		LOOP
			EXECUTE format('SELECT count(*) FROM rollout.%I', p.relname) INTO n;
			EXECUTE format('DROP TABLE rollout.%I', p.relname);
			action := 'drop partition';
			object := 'rollout.' || p.relname;
			v_done := v_done || jsonb_build_object('action', action, 'object', object, 'rows', n);
			RETURN NEXT;
		END LOOP;
		EXECUTE format('DELETE FROM rollout.%I WHERE at < $1', parent || '_default') USING cutoff;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n > 0 THEN
			action := 'delete expired rows';
			object := format('rollout.%s_default (%s rows)', parent, n);
			v_done := v_done || jsonb_build_object('action', action, 'object', 'rollout.' || parent || '_default', 'rows', n);
			RETURN NEXT;
		END IF;
	END LOOP;
	DELETE FROM rollout.outcome_windows WHERE window_start < at - s.aggregate_retention;
	GET DIAGNOSTICS n = ROW_COUNT;
	DELETE FROM rollout.shadow_windows WHERE window_start < at - s.aggregate_retention;
	IF n > 0 THEN
		action := 'delete expired windows';
		object := format('rollout.outcome_windows (%s rows)', n);
		v_done := v_done || jsonb_build_object('action', action, 'object', 'rollout.outcome_windows', 'rows', n);
		RETURN NEXT;
	END IF;
	-- What was destroyed is evidence too: one event names it.
	IF jsonb_array_length(v_done) > 0 THEN
		PERFORM rollout._log_event(NULL, NULL, 'maintain_outcomes', NULL,
								   jsonb_build_object('at', at, 'cutoff', cutoff, 'dropped', v_done),
								   NULL);
	END IF;
END
$$;
