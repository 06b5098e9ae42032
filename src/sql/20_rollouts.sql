-- 20: rollouts: one row per rollout of a candidate version, the state that
-- routing serves from and the lifecycle moves. Routing (src/route*.c) reads
-- it into each backend's cache; the lifecycle (rollout.start, tick, ...)
-- is the only writer in production; tests may write it as rollout_admin.

CREATE TABLE rollout.rollouts (
	id				bigserial PRIMARY KEY,
	agent			text NOT NULL REFERENCES rollout.agents (name),
	-- The stable version served outside the candidate arm (production at start).
	baseline		integer NOT NULL,
	candidate		integer NOT NULL,
	strategy		text NOT NULL DEFAULT 'canary'
		CHECK (strategy IN ('canary', 'blue_green', 'shadow', 'ab_test')),
	state			text NOT NULL DEFAULT 'canary'
		CHECK (state IN ('shadow', 'canary', 'holding', 'awaiting_approval', 'paused',
						 'awaiting_decision', 'promoted', 'rolled_back')),
	-- Step number of the plan (1-based); 0 during the shadow phase.
	stage			integer NOT NULL DEFAULT 1 CHECK (stage >= 0),
	-- Candidate share now, 0..100 in 0.01 steps (bucket < percent * 100).
	percent			numeric(5, 2) NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
	-- Which route() argument is hashed: unit, session or tenant.
	stickiness		text NOT NULL DEFAULT 'unit' CHECK (stickiness IN ('unit', 'session', 'tenant')),
	-- Per-rollout seed of the bucketing hash.
	salt			bigint NOT NULL DEFAULT (pg_catalog.random() * 9007199254740991)::bigint,
	-- ab_test: [{"name": "a", "version": 1, "weight": 30}, ...], weights sum to 100.
	variants		jsonb,
	-- shadow: share of requests that also run the candidate, and whether the
	-- caller must intercept its writes (dry-run tools).
	shadow_percent	numeric(5, 2) NOT NULL DEFAULT 0 CHECK (shadow_percent BETWEEN 0 AND 100),
	write_intercept	boolean NOT NULL DEFAULT true,
	-- Ordered tenant/cohort rules evaluated before the percentage:
	-- [{"tenants": ["internal"], "percent": 100},
	--  {"attribute": "region", "values": ["eu"], "percent": 0}]
	rules			jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rules) = 'array'),
	-- Capability flags with their own share: [{"name": "db_write", "percent": 10}]
	flags			jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(flags) = 'array'),
	-- Share of requests marked for the LLM judge, 0..1.
	judge_rate		float8 NOT NULL DEFAULT 0.10 CHECK (judge_rate BETWEEN 0 AND 1),
	-- Session pinning and drain after a rollback.
	pinning			boolean NOT NULL DEFAULT true,
	drain			interval NOT NULL DEFAULT '10 minutes',
	drain_until		timestamptz,
	-- Set by a safety rollback (rollback_now): no drain, everyone moves at once.
	drain_skipped	boolean NOT NULL DEFAULT false,
	-- The validated plan this rollout follows, and its risk tier.
	plan			jsonb NOT NULL DEFAULT '{}',
	risk			text,
	started_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	stage_started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	ended_at		timestamptz,
	started_by		text NOT NULL DEFAULT session_user,
	reason			text,
	FOREIGN KEY (agent, baseline) REFERENCES rollout.versions (agent, version),
	FOREIGN KEY (agent, candidate) REFERENCES rollout.versions (agent, version)
);

-- One active rollout per agent: a constraint, not a convention.
CREATE UNIQUE INDEX rollouts_one_active ON rollout.rollouts (agent)
	WHERE state IN ('shadow', 'canary', 'holding', 'awaiting_approval', 'paused', 'awaiting_decision');
CREATE INDEX rollouts_agent_started_idx ON rollout.rollouts (agent, started_at);

-- Whether a rollout state is active (not final). No SET clause, so that
-- queries inline it (one call per row otherwise); its operator is named
-- with its schema instead.
CREATE FUNCTION rollout.is_active_state(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT state OPERATOR(pg_catalog.=) ANY (ARRAY['shadow', 'canary', 'holding', 'awaiting_approval',
	'paused', 'awaiting_decision']::pg_catalog.text[]) $$;

GRANT SELECT ON rollout.rollouts TO rollout_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON rollout.rollouts TO rollout_admin;
GRANT USAGE ON SEQUENCE rollout.rollouts_id_seq TO rollout_admin;
GRANT EXECUTE ON FUNCTION rollout.is_active_state(text) TO PUBLIC;
