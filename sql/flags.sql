-- Standalone capability flags: an agent's flags that live with or without a
-- rollout. An operator sets and removes them (rollout_operator member), a
-- service routes (rollout_service member), an analyst reads them and their
-- history (rollout_reader member). A flag is drawn by unit, else session,
-- else tenant, with its own split, so a caller keeps its flags when a
-- rollout starts or ends; a rollout's plan flag of the same name overrides
-- it while the rollout lasts.
\i test/sql/helpers.sql
SET client_min_messages = warning;
DROP ROLE IF EXISTS fl_operator;
DROP ROLE IF EXISTS fl_service;
DROP ROLE IF EXISTS fl_reader;
RESET client_min_messages;
CREATE ROLE fl_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE fl_service LOGIN IN ROLE rollout_service;
CREATE ROLE fl_reader LOGIN IN ROLE rollout_reader;

SELECT rollout.create_agent('fl-bot') > 0 AS created;
SELECT rollout.create_version('fl-bot', 'One.', 'model-a-2026-01-01') AS v1,
       rollout.create_version('fl-bot', 'Two.', 'model-a-2026-01-01') AS v2;
SELECT rollout.set_label('fl-bot', 'production', 1);

-- No flags: {} for everyone.
SET ROLE fl_service;
SELECT flags FROM rollout.route('fl-bot', 'u1');
RESET ROLE;

-- Set without any rollout.
SET ROLE fl_operator;
SELECT rollout.set_flag('fl-bot', 'db_write', 25, 'writes for a quarter of the users');
SELECT rollout.set_flag('fl-bot', 'beta_ui', 30);
SELECT rollout.set_flag('fl-bot', 'new_search', 100);
SELECT rollout.set_flag('fl-bot', 'new_search', 0, 'turned off again');
RESET ROLE;
SET ROLE fl_reader;
SELECT flags FROM rollout.agents WHERE name = 'fl-bot';
SELECT action, old, new, reason, acting_role FROM rollout.events
 WHERE agent = 'fl-bot' AND action LIKE '%flag' ORDER BY id;
RESET ROLE;

-- Outside a rollout: each flag on for about its share of 4 000 units, the
-- same for a unit every time, keyed by session when there is no unit.
SET ROLE fl_service;
CREATE TEMP TABLE before_rollout AS
	SELECT i, d.reason, d.rollout_id, d.flags
	FROM generate_series(1, 4000) i, rollout.route('fl-bot', 'user-' || i) d;
SELECT count(*) FILTER (WHERE (flags->>'db_write')::boolean) BETWEEN 880 AND 1120 AS db_write_near_25,
       count(*) FILTER (WHERE (flags->>'beta_ui')::boolean) BETWEEN 1080 AND 1320 AS beta_ui_near_30,
       count(*) FILTER (WHERE (flags->>'new_search')::boolean) AS new_search_on,
       count(*) FILTER (WHERE (flags->>'db_write')::boolean AND (flags->>'beta_ui')::boolean)
           BETWEEN 200 AND 400 AS independent_near_7_5,
       count(DISTINCT reason) AS reasons, count(rollout_id) AS in_rollout
  FROM before_rollout;
SELECT count(*) AS changed_on_second_call
  FROM before_rollout b, rollout.route('fl-bot', 'user-' || b.i) d WHERE d.flags <> b.flags;
SELECT (SELECT flags FROM rollout.route('fl-bot', NULL, 'session-7'))
     = (SELECT flags FROM rollout.route('fl-bot', NULL, 'session-7')) AS session_sticky,
       (SELECT flags FROM rollout.route('fl-bot', 'user-9'))
     = (SELECT flags FROM before_rollout WHERE i = 9) AS unit_sticky;
RESET ROLE;

-- During a rollout with stickiness tenant and its own db_write at 50%: the
-- standalone beta_ui and new_search stay what they were for every unit,
-- db_write is the rollout's (its own split, about half).
SET ROLE fl_operator;
SELECT rollout.start('fl-bot', 2, '{"stickiness": "tenant",
  "steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}],
  "flags": [{"name": "db_write", "percent": 50}]}') > 0 AS started;
RESET ROLE;
SET ROLE fl_service;
CREATE TEMP TABLE during_rollout AS
	SELECT i, d.rollout_id, d.flags
	FROM generate_series(1, 4000) i, rollout.route('fl-bot', 'user-' || i, tenant => 't' || i % 50) d;
SELECT count(*) FILTER (WHERE d.flags->'beta_ui' <> b.flags->'beta_ui') AS beta_ui_changed,
       count(*) FILTER (WHERE d.flags->'new_search' <> b.flags->'new_search') AS new_search_changed,
       count(*) FILTER (WHERE (d.flags->>'db_write')::boolean) BETWEEN 1000 AND 3000 AS db_write_by_rollout,
       count(DISTINCT d.rollout_id) AS rollouts,
       min((SELECT count(*) FROM jsonb_object_keys(d.flags))) AS flags_per_call
  FROM during_rollout d JOIN before_rollout b USING (i);
RESET ROLE;

-- After the rollout: the standalone flags again, as before it.
SET ROLE fl_operator;
SELECT rollout.rollback('fl-bot', 'flag test over');
RESET ROLE;
SET ROLE fl_service;
SELECT count(*) AS changed_after_rollout
  FROM before_rollout b, rollout.route('fl-bot', 'user-' || b.i) d WHERE d.flags <> b.flags;
RESET ROLE;

-- Removing: gone from route(); removing it again is an error.
SET ROLE fl_operator;
SELECT rollout.remove_flag('fl-bot', 'new_search', 'search shipped to nobody');
SELECT pg_temp.err($$SELECT rollout.remove_flag('fl-bot', 'new_search')$$);
RESET ROLE;
SET ROLE fl_service;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(flags) k) AS flags
  FROM rollout.route('fl-bot', 'user-1');
RESET ROLE;

-- Test vectors (docs/routing.md): the seed of flag db_write of agent
-- vec-bot is XXH3('db_write', XXH3('vec-bot', 0)) = 8057704287208965299; a
-- client recomputes a draw with rollout.bucket(key, seed). Without unit and
-- session the tenant is the key (sticky); with none of them, a random one.
SELECT rollout.create_agent('vec-bot') > 0 AS created;
SELECT rollout.create_version('vec-bot', 'One.', 'model-a-2026-01-01') AS v1;
SELECT rollout.set_label('vec-bot', 'production', 1);
SET ROLE fl_operator;
SELECT rollout.set_flag('vec-bot', 'db_write', 30);
RESET ROLE;
SET ROLE fl_service;
SELECT u, rollout.bucket(u, 8057704287208965299) AS bucket, (d.flags->>'db_write')::boolean AS db_write
  FROM unnest(ARRAY['u1', 'u2', 'u3']) u, rollout.route('vec-bot', u) d ORDER BY u;
SELECT rollout.bucket('u1', -5596803246141662691) AS fl_bot_beta_ui_u1,
       rollout.bucket('u2', -5596803246141662691) AS fl_bot_beta_ui_u2;
SELECT count(DISTINCT d.flags) AS flags_by_tenant_u1,
       bool_and((d.flags->>'db_write')::boolean = (rollout.bucket('u1', 8057704287208965299) < 3000)) AS as_computed
  FROM generate_series(1, 50) i, rollout.route('vec-bot', NULL, tenant => 'u1') d;
SELECT count(DISTINCT d.flags) AS flags_with_no_key
  FROM generate_series(1, 200) i, rollout.route('vec-bot', NULL, request => i::text) d;
RESET ROLE;

-- Bad input: a clean error with its SQLSTATE, nothing changed.
SET ROLE fl_operator;
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', 'Bad Name', 10)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', '', 10)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', repeat('x', 100000), 10)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', NULL, 10)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', 'db_write', NULL)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', 'db_write', 100.001)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', 'db_write', -1)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', 'db_write', 'NaN')$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', 'db_write', 1e300)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag('no-such-bot', 'db_write', 10)$$);
SELECT pg_temp.err($$SELECT rollout.set_flag(NULL, 'db_write', 10)$$);
RESET ROLE;
-- At most 100 flags per agent.
SELECT rollout.create_agent('fl-many') > 0 AS created;
SET ROLE fl_operator;
SELECT count(rollout.set_flag('fl-many', 'f' || i, 1)) AS set FROM generate_series(1, 100) i;
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-many', 'f101', 1)$$);
SELECT rollout.set_flag('fl-many', 'f100', 2);
RESET ROLE;
-- Services and readers may not set flags; nobody but the functions writes the column.
SET ROLE fl_service;
SELECT pg_temp.err($$SELECT rollout.set_flag('fl-bot', 'db_write', 10)$$);
RESET ROLE;
SET ROLE fl_reader;
SELECT pg_temp.err($$SELECT rollout.remove_flag('fl-bot', 'db_write')$$);
RESET ROLE;
SET ROLE fl_operator;
SELECT pg_temp.err($$UPDATE rollout.agents SET flags = '{}' WHERE name = 'fl-bot'$$);
RESET ROLE;
-- Even the owner cannot store a malformed object.
SELECT split_part(pg_temp.err($$UPDATE rollout.agents SET flags = '{"db_write": "yes"}' WHERE name = 'fl-bot'$$), ' | ', 1) AS err;
SELECT split_part(pg_temp.err($$UPDATE rollout.agents SET flags = '{"db_write": 100.5}' WHERE name = 'fl-bot'$$), ' | ', 1) AS err;
SELECT split_part(pg_temp.err($$UPDATE rollout.agents SET flags = '[]' WHERE name = 'fl-bot'$$), ' | ', 1) AS err;
SELECT flags FROM rollout.agents WHERE name = 'fl-bot';

DROP OWNED BY fl_operator, fl_service, fl_reader;
DROP ROLE fl_operator, fl_service, fl_reader;
