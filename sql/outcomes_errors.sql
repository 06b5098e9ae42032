-- Outcomes: every bad input is a clean error whose message names the argument.
\i test/sql/helpers.sql
SET timezone = 'UTC';

SELECT rollout.create_agent('checker') IS NOT NULL AS agent;
SELECT rollout.create_version('checker', 'Check.', 'gpt-4o-2024-08-06') AS v1;

-- record()
SELECT pg_temp.err($$SELECT rollout.record(NULL, 1)$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', NULL)$$);
SELECT pg_temp.err($$SELECT rollout.record('nobody', 1)$$);
SELECT pg_temp.err($$SELECT rollout.record('Bad Name', 1)$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 7)$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, latency_ms => -1)$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, latency_ms => 'NaN')$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, cost => -0.01)$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, cost => 'Infinity')$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, quality => 1.5)$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, quality => -0.1)$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, metrics => '[1, 2]')$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, metrics => '3')$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, metrics => '{"tokens": "many"}')$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, metrics => '{"tokens": 3, "nested": {"a": 1}}')$$);
SELECT pg_temp.err($$SELECT rollout.record('checker', 1, at => 'infinity')$$);
SELECT count(*) AS nothing_recorded FROM rollout.outcomes WHERE agent = 'checker';

-- record_batch(): the whole batch is rejected and the error names the row.
SELECT pg_temp.err($$SELECT rollout.record_batch('checker', ARRAY[1, 1, 1], qualities => ARRAY[0.5, 0.5, 2])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('checker', ARRAY[1, 9])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('checker', ARRAY[1, 1], costs => ARRAY[1, -1])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('checker', ARRAY[1, 1], metrics => ARRAY['{}', '{"x": true}']::jsonb[])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('checker', ARRAY[1, 1], units => ARRAY['a'])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('checker', NULL)$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('nobody', ARRAY[1])$$);
SELECT count(*) AS nothing_recorded FROM rollout.outcomes WHERE agent = 'checker';
-- The staging drain moves the good rows and sets a bad one aside in
-- rollout.outcome_rejects with its error: one bad row never blocks the drain.
INSERT INTO rollout.outcome_staging (agent, version, latency_ms) VALUES ('checker', 1, 5), ('checker', 1, -5);
SELECT rollout.drain_outcome_staging() AS moved;
SELECT count(*) AS still_staged FROM rollout.outcome_staging WHERE agent = 'checker';
SELECT source, agent, sqlstate, error, row_data->>'latency_ms' AS latency_ms FROM rollout.outcome_rejects ORDER BY id;
SELECT count(*) AS drained FROM rollout.outcomes WHERE agent = 'checker';
DELETE FROM rollout.outcomes WHERE agent = 'checker';
DELETE FROM rollout.outcome_rejects;

-- record_shadow_pair()
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, production_embedding => ARRAY[1, 2]::float4[], shadow_embedding => ARRAY[1, 2, 3]::float4[])$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, production_embedding => ARRAY[1, 2]::float4[])$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, similarity => 0.9, production_embedding => ARRAY[1]::float4[], shadow_embedding => ARRAY[1]::float4[])$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, production_embedding => ARRAY[0, 0]::float4[], shadow_embedding => ARRAY[1, 1]::float4[])$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, production_embedding => ARRAY[1, NULL]::float4[], shadow_embedding => ARRAY[1, 1]::float4[])$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, production_embedding => '{}'::float4[], shadow_embedding => '{}'::float4[])$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, similarity => 1.5)$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 1, shadow_latency_ms => -3)$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', 1, 4)$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('checker', NULL, 1)$$);
SELECT count(*) AS no_pairs FROM rollout.shadow_pairs WHERE agent = 'checker';

-- Sketches and readers.
SELECT pg_temp.err($$SELECT rollout.ddsketch_agg(x) FROM unnest(ARRAY[1, -1]::float8[]) x$$);
SELECT pg_temp.err($$SELECT rollout.ddsketch_agg(x, 0.5) FROM unnest(ARRAY[1]::float8[]) x$$);
SELECT pg_temp.err($$SELECT rollout.ddsketch_quantile(rollout.ddsketch_agg(x), 1.5) FROM unnest(ARRAY[1]::float8[]) x$$);
SELECT pg_temp.err($$SELECT rollout.ddsketch_combine(a, b) FROM (SELECT rollout.ddsketch_agg(1::float8, 0.01) a, rollout.ddsketch_agg(1::float8, 0.02) b) s$$);
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=2 zero=0 min=1 max=1 sum=2 bins=0:1'::rollout.ddsketch$$);
SELECT pg_temp.err($$SELECT 'garbage'::rollout.ddsketch$$);
SELECT pg_temp.err($$SELECT rollout.arm_values(1, 'stable', NULL, now(), now())$$);
SELECT pg_temp.err($$INSERT INTO rollout.quality_scales VALUES ('checker', 2, 1)$$);

-- Leave the shared test database as this file found it: the next file
-- creates the extension afresh.
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
RESET client_min_messages;
