-- Routing errors: bad arguments and unservable state give clean errors.
\i test/sql/helpers.sql

SELECT rollout.create_agent('eb') > 0 AS created;
SELECT rollout.create_version('eb', 'one', 'gpt-4o-2024-08-06') AS v1;
SELECT rollout.create_version('eb', 'two', 'gpt-4o-2024-08-06') AS v2;

-- Arguments.
SELECT pg_temp.err($$SELECT rollout.route(NULL, 'u1')$$);
SELECT pg_temp.err($$SELECT rollout.route('nobody', 'u1')$$);
SELECT pg_temp.err($$SELECT rollout.route(repeat('x', 64), 'u1')$$);
SELECT pg_temp.err($$SELECT rollout.route('eb', 'u1', attrs => '["eu"]')$$);
SELECT rollout.bucket(NULL, 1) IS NULL AS strict_bucket;

-- An agent without a production version, outside a rollout.
SELECT pg_temp.err($$SELECT rollout.route('eb', 'u1')$$);
SELECT rollout.set_label('eb', 'production', 1);
SELECT version, reason FROM rollout.route('eb', 'u1');
-- unit may be NULL: outside a rollout it is not used.
SELECT version, reason FROM rollout.route('eb', NULL);

-- Unservable rollouts fail for their agent only, never crash.
CREATE FUNCTION pg_temp.try_state(p_variants jsonb, p_rules jsonb DEFAULT '[]', p_flags jsonb DEFAULT '[]',
                                  p_strategy text DEFAULT 'ab_test') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	DELETE FROM rollout.rollouts WHERE agent = 'eb';
	INSERT INTO rollout.rollouts (agent, baseline, candidate, strategy, variants, rules, flags, percent)
	VALUES ('eb', 1, 2, p_strategy, p_variants, p_rules, p_flags, 10);
	r := pg_temp.err($q$SELECT rollout.route('eb', 'u1')$q$);
	RETURN regexp_replace(r, 'rollout [0-9]+ ', 'rollout N ');
END
$$;
SELECT pg_temp.try_state(NULL);
SELECT pg_temp.try_state('{"a": 1}');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 100}]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 30}, {"name": "b", "version": 2, "weight": 60}]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 30}, {"name": "b", "version": 2, "weight": 70.001}]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 30}, {"name": "a", "version": 2, "weight": 70}]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 30}, {"name": "b", "version": 9, "weight": 70}]');
SELECT pg_temp.try_state('[{"name": "a", "version": "1", "weight": 30}, {"name": "b", "version": 2, "weight": 70}]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": -30}, {"name": "b", "version": 2, "weight": 130}]');
SELECT pg_temp.try_state('[{"name": "", "version": 1, "weight": 30}, {"name": "b", "version": 2, "weight": 70}]');
SELECT pg_temp.try_state('[1, 2]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 30}, {"name": "b", "version": 2, "weight": 70}]',
                         '[{"tenants": ["x"], "percent": 50}]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 30}, {"name": "b", "version": 2, "weight": 70}]',
                         '[{"tenants": ["x"], "arm": "zz"}]');
SELECT pg_temp.try_state('[{"name": "a", "version": 1, "weight": 30}, {"name": "b", "version": 2, "weight": 70}]');
SELECT pg_temp.try_state(NULL, '[{"tenants": "x", "percent": 10}]', '[]', 'canary');
SELECT pg_temp.try_state(NULL, '[{"tenants": ["x"]}]', '[]', 'canary');
SELECT pg_temp.try_state(NULL, '[{"tenants": ["x"], "percent": 10, "arm": "stable"}]', '[]', 'canary');
SELECT pg_temp.try_state(NULL, '[{"attribute": "region", "values": "eu", "percent": 10}]', '[]', 'canary');
SELECT pg_temp.try_state(NULL, '[{"percent": 10}]', '[]', 'canary');
SELECT pg_temp.try_state(NULL, '[{"tenants": ["x"], "percent": 101}]', '[]', 'canary');
SELECT pg_temp.try_state(NULL, '["x"]', '[]', 'canary');
SELECT pg_temp.try_state(NULL, '[]', '[{"name": "w"}]', 'canary');
SELECT pg_temp.try_state(NULL, '[]', '[{"name": "w", "percent": 0.001}]', 'canary');
SELECT pg_temp.try_state(NULL, '[]', '[{"percent": 5}]', 'canary');
SELECT pg_temp.try_state(NULL, '[]', '[{"name": "w", "percent": 5}]', 'canary');
SELECT pg_temp.try_state(NULL, '[]', '[]', 'blue_green');

-- Another agent routes normally while eb's rollout is broken.
SELECT rollout.create_agent('ok') > 0 AS created;
SELECT rollout.create_version('ok', 'fine', 'gpt-4o-2024-08-06') AS v1;
SELECT rollout.set_label('ok', 'production', 1);
UPDATE rollout.rollouts SET variants = '[]', strategy = 'ab_test' WHERE agent = 'eb';
SELECT regexp_replace(pg_temp.err($$SELECT rollout.route('eb', 'u1')$$), 'rollout [0-9]+ ', 'rollout N ');
SELECT version, reason FROM rollout.route('ok', 'u1');
-- Ending the broken rollout makes eb routable again.
UPDATE rollout.rollouts SET state = 'rolled_back', ended_at = now() WHERE agent = 'eb';
SELECT version, reason FROM rollout.route('eb', 'u1');

-- The invalidation trigger is only a trigger.
SELECT pg_temp.err($$SELECT rollout._route_invalidate()$$);

-- A transaction that changes the state sees its own change; a rolled-back one
-- leaves no trace in the cache.
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt) VALUES (900, 'ok', 1, 1, 100, 1);
SELECT reason FROM rollout.route('ok', 'u1');
BEGIN;
UPDATE rollout.rollouts SET percent = 0 WHERE id = 900;
SELECT reason FROM rollout.route('ok', 'u1');
ROLLBACK;
SELECT reason FROM rollout.route('ok', 'u1');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT reason FROM rollout.route('ok', 'u1');
UPDATE rollout.rollouts SET percent = 50 WHERE id = 900;
SELECT reason FROM rollout.route('ok', 'u1');
COMMIT;
SELECT reason FROM rollout.route('ok', 'u1');

-- route() is PARALLEL SAFE: a parallel worker loads its own cache.
UPDATE rollout.rollouts SET percent = 40 WHERE id = 900;
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
EXPLAIN (COSTS OFF) SELECT reason, arm FROM rollout.route('ok', 'u1');
SELECT reason, arm FROM rollout.route('ok', 'u1');
SELECT count(*), min(d.reason) FROM generate_series(1, 100) i, rollout.route('ok', 'u' || i) d;
RESET force_parallel_mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
