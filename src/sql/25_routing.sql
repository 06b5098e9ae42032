-- 25: routing: rollout.route() and what it needs (src/route*.c,
-- docs/routing.md): the decision type, the pin secret, cache invalidation
-- triggers on the state tables, bucketing and exposure counters.

-- The routing decision, one row per request.
CREATE TYPE rollout.decision AS (
	agent			text,
	version			integer,
	fingerprint		text,
	model			text,
	system_prompt	text,
	template		text,
	few_shot		jsonb,
	tools			jsonb,
	params			jsonb,
	arm				text,
	rollout_id		bigint,
	stage			integer,
	shadow_version	integer,
	judge_sample	boolean,
	pin				text,
	reason			text,
	-- Capability flags of the rollout: name -> drawn for this request.
	flags			jsonb,
	-- Whether the caller must intercept the writes of the shadow run.
	write_intercept	boolean,
	-- Opaque, signed identity of this decision (rollout, stage, arm,
	-- version); pass it to record() so the outcome counts for it.
	decision_token	text
);

-- 32 bytes from the server's strong random source.
CREATE FUNCTION rollout._random_secret() RETURNS bytea
AS 'MODULE_PATHNAME', 'rollout_random_secret'
LANGUAGE C VOLATILE;

-- The secret that signs pin tokens (HMAC-SHA256). Readable only by the
-- extension owner; route() reads it through its cache loader, which runs
-- as the owner of rollout.rollouts. Replicated, so standbys accept the pins
-- the primary issued. Rotating it invalidates every pin.
CREATE TABLE rollout._route_secret (
	id			integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	secret		bytea NOT NULL CHECK (octet_length(secret) = 32),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON rollout._route_secret FROM PUBLIC;
INSERT INTO rollout._route_secret (secret) VALUES (rollout._random_secret());

-- Statement trigger: queues a relcache invalidation of the changed table,
-- sent at commit and replayed on standbys; route() caches go stale.
CREATE FUNCTION rollout._route_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'rollout_route_invalidate'
LANGUAGE C;

CREATE TRIGGER agents_route_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.agents
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
CREATE TRIGGER versions_route_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.versions
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
CREATE TRIGGER labels_route_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.labels
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
-- Only updates of what routing reads invalidate: tick()'s bookkeeping
-- (last_eval_at, fail_streak) must not clear every backend's cache.
CREATE TRIGGER rollouts_route_invalidate
	AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF agent, baseline, candidate, strategy, state, stage, percent, stickiness, salt, variants, shadow_percent, write_intercept, rules, flags, judge_rate, pinning, drain, drain_until, drain_skipped, started_at, ended_at ON rollout.rollouts
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
CREATE TRIGGER route_secret_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout._route_secret
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();

-- The routing decision for one request (docs/routing.md). attrs holds the
-- request attributes cohort rules match (e.g. {"region": "eu"}); request is
-- an optional request id that makes judge sampling reproducible.
CREATE FUNCTION rollout.route(agent text, unit text, session text DEFAULT NULL,
							  tenant text DEFAULT NULL, pin text DEFAULT NULL,
							  attrs jsonb DEFAULT NULL, request text DEFAULT NULL)
RETURNS rollout.decision
AS 'MODULE_PATHNAME', 'rollout_route'
LANGUAGE C STABLE PARALLEL SAFE;

-- bucket = XXH3_64bits_withSeed(key bytes, salt) mod 10000.
CREATE FUNCTION rollout.bucket(key text, salt bigint) RETURNS integer
AS 'MODULE_PATHNAME', 'rollout_bucket'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Exposure counters per (rollout, arm) since the last flush; empty when the
-- library is not in shared_preload_libraries.
CREATE FUNCTION rollout.exposure_counts()
RETURNS TABLE (rollout_id bigint, arm text, exposures bigint)
AS 'MODULE_PATHNAME', 'rollout_exposure_counts'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Returns the counters and resets them in one step; the worker calls it.
CREATE FUNCTION rollout.flush_exposures()
RETURNS TABLE (rollout_id bigint, arm text, exposures bigint)
AS 'MODULE_PATHNAME', 'rollout_flush_exposures'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE VIEW rollout.exposures AS
	SELECT e.rollout_id, e.arm, e.exposures FROM rollout.exposure_counts() e;

-- Replaces the pin secret: every pin issued so far stops verifying.
CREATE FUNCTION rollout.rotate_pin_secret(reason text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE rollout._route_secret SET secret = rollout._random_secret(), created_at = pg_catalog.now()
		WHERE id = 1;
	PERFORM rollout._log_event(NULL, NULL, 'rotate_pin_secret', NULL, NULL, reason);
END
$$;

REVOKE ALL ON FUNCTION rollout._random_secret(), rollout._route_invalidate(),
	rollout.route(text, text, text, text, text, jsonb, text), rollout.bucket(text, bigint),
	rollout.exposure_counts(), rollout.flush_exposures(), rollout.rotate_pin_secret(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.route(text, text, text, text, text, jsonb, text)
	TO rollout_service, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.bucket(text, bigint) TO rollout_service, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.exposure_counts() TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.flush_exposures(), rollout.rotate_pin_secret(text) TO rollout_admin;
GRANT SELECT ON rollout.exposures TO rollout_reader;
