-- Outcomes: recording, arms, window aggregates against plain SQL over the
-- raw rows, sketches within their accuracy, batches, shadow pairs,
-- comparison, retention.
\i test/sql/helpers.sql
SET timezone = 'UTC';

SELECT rollout.create_agent('triage') IS NOT NULL AS agent;
SELECT rollout.create_version('triage', 'Sort tickets.', 'gpt-4o-2024-08-06') AS v1,
       rollout.create_version('triage', 'Sort tickets, briefly.', 'gpt-4o-2024-08-06') AS v2,
       rollout.create_version('triage', 'Sort tickets, in detail.', 'gpt-4o-2024-08-06') AS v3;

-- Before any rollout an outcome is kept, outside every arm.
SELECT rollout.record('triage', 1, 'u0', true, 0.5, 120, 0.01, at => '2030-01-01 09:00:00+00');
SELECT rollout_id, stage, arm, in_arm FROM rollout.outcomes WHERE agent = 'triage';

-- A canary rollout of version 2 against 1, from 10:00.
-- Other test files share this database: everything below is scoped to this
-- agent and its rollouts.
INSERT INTO rollout.rollouts (agent, baseline, candidate, state, stage, percent, started_at)
VALUES ('triage', 1, 2, 'canary', 1, 5, '2030-01-01 10:00:00+00') RETURNING id AS r1 \gset
SELECT rollout_id = :r1 AS in_r1, stage, arm FROM rollout.outcome_context('triage', 2, '2030-01-01 10:00:00+00');
SELECT rollout_id = :r1 AS in_r1, stage, arm FROM rollout.outcome_context('triage', 1, '2030-01-01 10:00:00+00');
SELECT rollout_id = :r1 AS in_r1, stage, arm FROM rollout.outcome_context('triage', 3, '2030-01-01 10:00:00+00');  -- in no arm
SELECT * FROM rollout.outcome_context('triage', 2, '2030-01-01 09:59:59+00');  -- before it

-- 3000 outcomes over an hour (12 windows), deterministic pseudo-random values.
SELECT count(rollout.record('triage', CASE WHEN g % 3 = 0 THEN 2 ELSE 1 END, 'u' || g,
                            success => g % 7 <> 0,
                            quality => ((g * 37) % 101) / 100.0,
                            latency_ms => 50 + ((g * 7919) % 1000) * ((g % 5) + 1) / 3.0,
                            cost => ((g * 104729) % 997) / 10000.0,
                            error => g % 13 = 0,
                            safety_flag => g % 97 = 0,
                            feedback => (g % 3 - 1)::smallint,
                            metrics => CASE WHEN g % 4 = 0 THEN jsonb_build_object('tokens', g % 500, 'steps', g % 9)
                                            ELSE '{}' END,
                            at => '2030-01-01 10:00:00+00'::timestamptz + (g * interval '1.2 seconds')))
FROM generate_series(0, 2999) g;
-- Version 3 is in no arm: kept and marked.
SELECT rollout.record('triage', 3, 'u-x', true, 0.9, 100, 0.02, at => '2030-01-01 10:30:00+00');
SELECT arm, in_arm, count(*) FROM rollout.outcomes WHERE rollout_id = :r1 GROUP BY 1, 2 ORDER BY 1, 2;

-- Nothing is folded until a refresh; then everything committed is.
SELECT count(*) FROM rollout.outcome_windows WHERE rollout_id = :r1;
SELECT rollout.refresh_aggregates('2030-01-01 11:00:00+00') >= 3000 AS folded;
SELECT count(*) AS windows, sum(n) AS n FROM rollout.outcome_windows WHERE rollout_id = :r1;
SELECT rollout.refresh_aggregates('2030-01-01 11:00:00+00') >= 0 AS refreshed_again;
SELECT count(*) AS windows, sum(n) AS n FROM rollout.outcome_windows WHERE rollout_id = :r1;

-- Per window: counts exact, sums within 1e-9 of plain SQL over the raw rows.
WITH raw AS (
	SELECT rollout.window_start(at) AS ws, arm, count(*) AS n,
	       count(*) FILTER (WHERE success) AS n_success, count(*) FILTER (WHERE error) AS n_error,
	       count(*) FILTER (WHERE safety_flag) AS n_safety, avg(quality) AS q, avg(latency_ms) AS l,
	       avg(cost) AS c, var_samp(latency_ms) AS vl, sum(feedback) AS fb
	FROM rollout.outcomes WHERE rollout_id = :r1 AND in_arm GROUP BY 1, 2)
SELECT count(*) AS windows_compared,
       bool_and(w.n = r.n AND w.n_success = r.n_success AND w.n_error = r.n_error
                AND w.n_safety = r.n_safety AND w.sum_feedback = r.fb) AS counts_equal,
       max(abs(w.sum_quality / w.n_quality - r.q)) < 1e-9 AS quality_mean_equal,
       max(abs(w.sum_latency / w.n_latency - r.l) / r.l) < 1e-9 AS latency_mean_equal,
       max(abs(w.sum_cost / w.n_cost - r.c)) < 1e-9 AS cost_mean_equal,
       max(abs((w.sumsq_latency - w.sum_latency ^ 2 / w.n_latency) / (w.n_latency - 1) - r.vl) / r.vl) < 1e-9 AS latency_var_equal
FROM raw r JOIN rollout.outcome_windows w
  ON w.rollout_id = :r1 AND w.window_start = r.ws AND w.arm = r.arm AND NOT w.shadow;

-- Over a span: arm_summary merges windows; quantiles within 1% of percentile_disc.
WITH raw AS (
	SELECT arm, count(*) AS n, count(*) FILTER (WHERE success) AS n_success,
	       avg(quality) AS q,
	       percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
	       percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
	       percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,
	       percentile_disc(0.5) WITHIN GROUP (ORDER BY cost) AS c50,
	       sum((metrics->>'tokens')::float8) AS tokens, count(metrics->'tokens') AS n_tokens
	FROM rollout.outcomes WHERE rollout_id = :r1 AND in_arm
	  AND at >= '2030-01-01 10:15:00+00' AND at < '2030-01-01 10:55:00+00' GROUP BY arm)
SELECT s.arm, s.n = r.n AS n_equal, s.n_success = r.n_success AS success_equal, s.windows,
       abs(s.sum_quality / s.n_quality - r.q) < 1e-9 AS quality_equal,
       abs(s.latency_p50 - r.p50) <= 0.01 * r.p50 AS p50_ok,
       abs(s.latency_p95 - r.p95) <= 0.01 * r.p95 AS p95_ok,
       abs(s.latency_p99 - r.p99) <= 0.01 * r.p99 AS p99_ok,
       abs(s.cost_median - r.c50) <= 0.01 * r.c50 AS cost_median_ok,
       s.metric_n = r.n_tokens AS metric_n_equal, abs(s.metric_sum - r.tokens) < 1e-6 AS metric_sum_equal,
       rollout.ddsketch_count(s.latency_sketch) = r.n AS sketch_count
FROM rollout.arm_summary(:r1, '2030-01-01 10:15:00+00', '2030-01-01 10:55:00+00', 'tokens') s
JOIN raw r USING (arm) ORDER BY s.arm;

-- Raw values for rank tests.
SELECT cardinality(rollout.arm_values(:r1, 'candidate', 'quality', '2030-01-01 10:00:00+00', '2030-01-01 10:05:00+00')) AS n_quality,
       (SELECT count(*) FROM rollout.outcomes WHERE rollout_id = :r1 AND arm = 'candidate' AND at < '2030-01-01 10:05:00+00') AS expected,
       rollout.arm_values(:r1, 'candidate', 'tokens', '2030-01-01 10:00:00+00', '2030-01-01 10:01:00+00') AS tokens,
       rollout.arm_values(:r1, 'stable', 'error', '2030-01-01 10:00:00+00', '2030-01-01 10:00:20+00') AS errors;

-- Sketch type: text round trip, merge, quantiles against percentile_disc on
-- a wide range, zeros, NULLs, and an empty input.
SELECT rollout.ddsketch_agg(x)::text FROM unnest(ARRAY[0, 1, 1, 10, 1000]::float8[]) x;
SELECT rollout.ddsketch_agg(x)::text::rollout.ddsketch::text = rollout.ddsketch_agg(x)::text AS round_trip
FROM generate_series(1, 500) x;
SELECT rollout.ddsketch_agg(x) IS NULL AS empty_is_null FROM unnest(ARRAY[NULL]::float8[]) x;
WITH v AS (SELECT exp((g % 1000) / 50.0) * (1 + g % 7) AS x, g % 4 AS part FROM generate_series(1, 20000) g),
parts AS (SELECT part, rollout.ddsketch_agg(x) AS s FROM v GROUP BY part),
merged AS (SELECT rollout.ddsketch_merge(s) AS s FROM parts),
q AS (SELECT unnest(ARRAY[0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) AS q)
SELECT q.q, abs(rollout.ddsketch_quantile(m.s, q.q) - (SELECT percentile_disc(q.q) WITHIN GROUP (ORDER BY x) FROM v))
       <= 0.01 * (SELECT percentile_disc(q.q) WITHIN GROUP (ORDER BY x) FROM v) AS within_1pct
FROM q, merged m ORDER BY q.q;
SELECT rollout.ddsketch_quantiles(rollout.ddsketch_combine(a, b), ARRAY[0, 0.5, 1]) AS combined,
       rollout.ddsketch_combine(NULL, b)::text = b::text AS null_is_empty
FROM (SELECT rollout.ddsketch_agg(x) AS a FROM unnest(ARRAY[0, 0, 2]::float8[]) x) s1,
     (SELECT rollout.ddsketch_agg(x) AS b FROM unnest(ARRAY[100, 200]::float8[]) x) s2;
SELECT rollout.ddsketch_agg(x, 0.05)::text FROM unnest(ARRAY[1, 2, 3]::float8[]) x;

-- Batches: arrays, all or nothing; arm derived per row.
SELECT rollout.record_batch('triage', ARRAY[1, 2, 3], ARRAY['b1', 'b2', 'b3'],
                            successes => ARRAY[true, false, true], qualities => ARRAY[0.25, 0.75, 1],
                            latencies_ms => ARRAY[10, 20, 30], costs => ARRAY[0.001, 0.002, 0.003],
                            metrics => ARRAY['{"tokens": 5}', '{}', '{}']::jsonb[],
                            ats => ARRAY['2030-01-01 10:40:00+00', '2030-01-01 10:40:01+00', '2030-01-01 10:40:02+00']::timestamptz[]) AS batch;
SELECT unit, version, arm, in_arm, quality, metrics FROM rollout.outcomes WHERE unit LIKE 'b_' ORDER BY unit;
SELECT pg_temp.err($$SELECT rollout.record_batch('triage', ARRAY[1, 2, 2], latencies_ms => ARRAY[1, -5, 3])$$);
SELECT count(*) AS none_from_bad_batch FROM rollout.outcomes WHERE agent = 'triage' AND unit IS NULL AND version = 2 AND latency_ms = 1;
-- COPY path: a staging table drained in one statement.
COPY rollout.outcome_staging (agent, version, unit, success, quality, latency_ms, cost, at) FROM STDIN;
triage	1	s1	t	0.5	40	0.01	2030-01-01 10:41:00+00
triage	2	s2	f	0.25	80	0.02	2030-01-01 10:41:00+00
\.
SELECT rollout.drain_outcome_staging() AS drained;
SELECT count(*) AS left_staged FROM rollout.outcome_staging WHERE agent = 'triage';
SELECT unit, arm FROM rollout.outcomes WHERE unit IN ('s1', 's2') ORDER BY unit;
SELECT rollout.refresh_aggregates() >= 4 AS folded;
SELECT (SELECT sum(n) FROM rollout.outcome_windows WHERE rollout_id = :r1)
     = (SELECT count(*) FROM rollout.outcomes WHERE rollout_id = :r1 AND in_arm) AS folded_all;

-- Shadow pairs: cosine computed in C, or the caller's score.
SELECT round(rollout.record_shadow_pair('triage', 1, 2, 'p1', production_embedding => ARRAY[1, 0, 0]::float4[],
                                        shadow_embedding => ARRAY[1, 1, 0]::float4[], decisions_agree => true,
                                        production_latency_ms => 100, shadow_latency_ms => 140,
                                        at => '2030-01-01 10:42:00+00')::numeric, 6) AS cosine;
SELECT rollout.record_shadow_pair('triage', 1, 2, 'p2', similarity => 0.5, decisions_agree => false,
                                  at => '2030-01-01 10:42:30+00') AS score;
SELECT rollout.cosine_similarity(ARRAY[1, 2, 3]::float4[], ARRAY[-1, -2, -3]::float4[]) AS opposite;
SELECT unit, rollout_id = :r1 AS in_r1, stage, round(similarity::numeric, 6) AS similarity, decisions_agree
FROM rollout.shadow_pairs WHERE agent = 'triage' ORDER BY unit;
SELECT rollout.refresh_aggregates() >= 0 AS refreshed;
SELECT window_start, n, n_similarity, round((sum_similarity / n_similarity)::numeric, 6) AS mean_similarity,
       n_agree, n_agree_known, sum_production_latency, sum_shadow_latency
FROM rollout.shadow_windows WHERE rollout_id = :r1;

-- Shadow outcomes are kept apart from live ones.
SELECT rollout.record('triage', 2, 'sh1', true, 1, 10, 0, shadow => true, at => '2030-01-01 10:43:00+00');
SELECT rollout.refresh_aggregates() >= 1 AS folded;
SELECT arm, shadow, n FROM rollout.arm_summary(:r1, '2030-01-01 10:40:00+00', '2030-01-01 10:45:00+00') ORDER BY 1, 2;

-- The side-by-side comparison: per window and per stage.
SELECT rollout_id = :r1 AS in_r1, stage, scope, window_start, window_end, baseline_n, candidate_n, candidate_shadow_n,
       shadow_pairs, round(shadow_similarity::numeric, 4) AS similarity
FROM rollout.comparison WHERE rollout_id = :r1 AND (scope = 'stage' OR window_start = '2030-01-01 10:40:00+00');
WITH raw AS (
	SELECT count(*) FILTER (WHERE arm = 'stable') AS bn, count(*) FILTER (WHERE arm = 'candidate') AS cn,
	       avg(success::int) FILTER (WHERE arm = 'candidate') AS csr,
	       avg(error::int) FILTER (WHERE arm = 'stable') AS ber,
	       percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE arm = 'candidate') AS cp95
	FROM rollout.outcomes WHERE rollout_id = :r1 AND in_arm)
SELECT c.baseline_n = r.bn AS bn, c.candidate_n = r.cn AS cn,
       abs(c.candidate_success_rate - r.csr) < 1e-12 AS success_rate,
       abs(c.baseline_error_rate - r.ber) < 1e-12 AS error_rate,
       abs(c.candidate_p95_ms - r.cp95) <= 0.01 * r.cp95 AS p95
FROM rollout.comparison c, raw r WHERE c.rollout_id = :r1 AND c.scope = 'stage';

-- A stage change reaches record() at once (relcache invalidation).
UPDATE rollout.rollouts SET stage = 2, percent = 25 WHERE id = :r1;
SELECT stage FROM rollout.outcome_context('triage', 2, '2030-01-01 10:50:00+00');
-- A/B test: variants name the arms.
UPDATE rollout.rollouts SET state = 'rolled_back', ended_at = '2030-01-01 12:00:00+00' WHERE id = :r1;
INSERT INTO rollout.rollouts (agent, baseline, candidate, strategy, state, variants, started_at)
VALUES ('triage', 1, 2, 'ab_test', 'canary',
        '[{"name": "control", "version": 1, "weight": 50}, {"name": "terse", "version": 2, "weight": 25},
          {"name": "verbose", "version": 3, "weight": 25}]', '2030-01-01 12:00:00+00') RETURNING id AS r2 \gset
SELECT v, (c).rollout_id = :r2 AS in_r2, (c).stage, (c).arm
FROM generate_series(1, 3) v, rollout.outcome_context('triage', v, '2030-01-01 12:30:00+00') c;
SELECT rollout_id = :r1 AS in_r1, stage, arm FROM rollout.outcome_context('triage', 2, '2030-01-01 11:59:59+00');  -- still the old rollout

-- Quality scale per agent.
INSERT INTO rollout.quality_scales VALUES ('triage', 1, 5);
SELECT rollout.record('triage', 1, quality => 4.5, at => '2030-01-01 12:31:00+00');
SELECT pg_temp.err($$SELECT rollout.record('triage', 1, quality => 0.5)$$);

-- Retention: partitions for the coming days, expired ones dropped. (Rows
-- that other test files left in the default partition expire too: not shown.)
SELECT * FROM rollout.maintain_outcomes('2030-01-01 13:00:00+00') WHERE action LIKE '%partition';
SELECT count(*) AS in_default FROM rollout.outcomes_default WHERE agent = 'triage';
SELECT count(*) AS in_day_partition FROM rollout.outcomes_p20300101 WHERE agent = 'triage';
SELECT * FROM rollout.maintain_outcomes('2030-01-02 00:30:00+00') WHERE action LIKE '%partition';
UPDATE rollout.outcome_settings SET retention = '2 days';
SELECT * FROM rollout.maintain_outcomes('2030-01-04 00:10:00+00') WHERE action LIKE '%partition';
SELECT * FROM rollout.maintain_outcomes('2030-01-04 00:20:00+00') WHERE action LIKE '%partition';
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'rollout.outcomes'::regclass AND c.relname LIKE '%2030%' ORDER BY 1;
SELECT count(*) AS raw_left FROM rollout.outcomes WHERE agent = 'triage';
SELECT sum(n) > 0 AS aggregates_kept FROM rollout.outcome_windows WHERE rollout_id = :r1;
-- Records far outside any partition land in the default partition.
SELECT rollout.record('triage', 1, at => '1999-12-31 23:00:00+00');
SELECT count(*) AS actions FROM rollout.maintain_outcomes('2030-01-04 00:30:00+00') WHERE action LIKE '%partition';
SELECT count(*) AS old_row_left FROM rollout.outcomes WHERE agent = 'triage' AND at < '2000-01-01';

-- Privileges: services record, readers read, nobody else writes.
SELECT has_function_privilege('rollout_service', 'rollout.record(text, integer, text, boolean, float8, float8, float8, boolean, boolean, smallint, jsonb, boolean, timestamptz, text)', 'EXECUTE') AS service_records,
       has_function_privilege('rollout_reader', 'rollout.record(text, integer, text, boolean, float8, float8, float8, boolean, boolean, smallint, jsonb, boolean, timestamptz, text)', 'EXECUTE') AS reader_records,
       has_table_privilege('rollout_service', 'rollout.outcomes', 'INSERT') AS service_inserts_directly,
       has_table_privilege('rollout_reader', 'rollout.outcome_windows', 'SELECT') AS reader_reads,
       has_function_privilege('rollout_reader', 'rollout.refresh_aggregates(timestamptz)', 'EXECUTE') AS reader_refreshes,
       has_function_privilege('rollout_operator', 'rollout.maintain_outcomes(timestamptz)', 'EXECUTE') AS operator_maintains;

-- record() is not SECURITY DEFINER (0.5.0): its C function runs its own
-- statements as the function's owner with search_path pg_catalog. A LOGIN
-- service whose search path puts a schema with a failing = on text before
-- pg_catalog still records (a fresh agent, so the per-backend caches load
-- under that path), its outcome lands in the rollout, and the caller's role
-- and search path are back after the call, after an error caught by a
-- savepoint too. A reader has no EXECUTE.
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.texteq_fail(text, text) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'the hostile operator ran'; END $$;
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.texteq_fail);
GRANT USAGE ON SCHEMA hostile TO PUBLIC;
CREATE ROLE outcomes_service LOGIN IN ROLE rollout_service;
CREATE ROLE outcomes_reader LOGIN IN ROLE rollout_reader;
SELECT rollout.create_agent('hostile-bot');
SELECT rollout.create_version('hostile-bot', 'One.', 'gpt-4o-2024-08-06');
SELECT rollout.create_version('hostile-bot', 'Two.', 'gpt-4o-2024-08-06');
SELECT rollout.set_label('hostile-bot', 'production', 1);
SELECT rollout.start('hostile-bot', 2, risk => 'low') > 0 AS started;
SET ROLE outcomes_service;
SET search_path = hostile, pg_catalog;
SELECT 'a' = 'b' AS hostile_operator_in_effect;
SELECT rollout.record('hostile-bot', 2, 'u-hostile', success => true);
SELECT current_user, current_setting('search_path') AS search_path;
BEGIN;
SAVEPOINT s;
SELECT rollout.record('hostile-bot', 99, 'u-bad');
ROLLBACK TO SAVEPOINT s;
SELECT current_user AS after_error, current_setting('search_path') AS search_path;
SELECT rollout.record('hostile-bot', 1, 'u-after-error', success => false);
COMMIT;
RESET search_path;
RESET ROLE;
SELECT o.unit, o.version, o.rollout_id = r.id AS in_rollout, o.arm, o.success
FROM rollout.outcomes o JOIN rollout.rollouts r ON r.agent = o.agent
WHERE o.agent = 'hostile-bot' ORDER BY o.unit;
SET ROLE outcomes_reader;
SELECT rollout.record('hostile-bot', 1, 'u-reader');
RESET ROLE;
SELECT p.prosecdef AS record_security_definer, p.proconfig AS record_config
FROM pg_proc p WHERE p.oid = 'rollout.record(text, integer, text, boolean, float8, float8, float8, boolean, boolean, smallint, jsonb, boolean, timestamptz, text)'::regprocedure;
DROP ROLE outcomes_service;
DROP ROLE outcomes_reader;
SET client_min_messages = warning;
DROP SCHEMA hostile CASCADE;
RESET client_min_messages;

UPDATE rollout.outcome_settings SET retention = DEFAULT;

-- Leave the shared test database as this file found it: the next file
-- creates the extension afresh.
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
RESET client_min_messages;
