-- Bad inputs of the statistics functions: every one is an ERROR with a
-- SQLSTATE and a message naming the argument. Degenerate but valid inputs
-- return what the reference returns (documented in docs/statistics.md).
\i test/sql/helpers.sql

-- alternative and method
SELECT pg_temp.err($$SELECT rollout.proportion_test(1, 10, 2, 10, 0, 'two_sided')$$);
SELECT pg_temp.err($$SELECT rollout.proportion_test(1, 10, 2, 10, 0, 'two-sided', 'newcombe')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{1,2}', '{3}', 'larger')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{1,2}', '{3}', 'less', true, 'permutation')$$);
SELECT pg_temp.err($$SELECT rollout.welch_test(1, 1, 10, 0, 1, 10, 0, 'smaller')$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 0.12, 0.05, 0.8, 1, '')$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, 0.05, 100, 0, 'Two-Sided')$$);

-- proportion_test: counts
SELECT pg_temp.err($$SELECT rollout.proportion_test(1, 0, 2, 10)$$);
SELECT pg_temp.err($$SELECT rollout.proportion_test(11, 10, 2, 10)$$);
SELECT pg_temp.err($$SELECT rollout.proportion_test(1, 10, -2, 10)$$);
SELECT pg_temp.err($$SELECT rollout.proportion_test(1, 10, 2, -10)$$);
SELECT pg_temp.err($$SELECT rollout.proportion_test(1, 10, 2, 10, 'NaN')$$);
SELECT pg_temp.err($$SELECT rollout.proportion_test(1, 10, 2, 10, 1)$$);
-- NULL arguments: STRICT, so NULL
SELECT * FROM rollout.proportion_test(1, 10, NULL, 10);

-- mann_whitney: arrays
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{}', '{1}')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{1}', '{}')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{1,NULL}', '{1}')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{1}', '{2,NaN}')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{1,Infinity}', '{2}')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{-Infinity}', '{2}')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney('{{1,2},{3,4}}', '{2}')$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney(array_fill(1.0::float8, ARRAY[1001]), array_fill(2.0::float8, ARRAY[1000]), 'two-sided', true, 'exact')$$);
-- aggregate: bad values and options, NULL rows skipped, empty arm gives NULL
SELECT pg_temp.err($$SELECT rollout.mann_whitney_agg(v, c) FROM (VALUES (1.0::float8, true), ('NaN', false)) t(v, c)$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney_agg(v, c, 'sideways', true, 'auto') FROM (VALUES (1.0::float8, true)) t(v, c)$$);
SELECT pg_temp.err($$SELECT rollout.mann_whitney_agg(v, c, 'less', true, 'fast') FROM (VALUES (1.0::float8, true)) t(v, c)$$);
SELECT rollout.mann_whitney_agg(v, c) FROM (VALUES (1.0::float8, true), (NULL, false), (3, NULL)) t(v, c);
SELECT rollout.mann_whitney_agg(v, c) FROM (VALUES (1.0::float8, true)) t(v, c) WHERE false;
SELECT (rollout.mann_whitney_agg(v, c)).* FROM (VALUES (1.0::float8, true), (2, false), (NULL, true)) t(v, c);
-- the aggregate per group, as gates use it on outcome tables
-- (scipy: U 42, p 0.516021671827; U 49, p 0.408397832817)
SELECT g, (r).u, round((r).p_value::numeric, 12) AS p_value
FROM (SELECT v % 2 AS g, rollout.mann_whitney_agg(v::float8, v % 3 = 0, 'greater', true, 'auto') AS r
	  FROM generate_series(1, 40) v GROUP BY v % 2) s ORDER BY g;

-- welch_test
SELECT pg_temp.err($$SELECT rollout.welch_test(1, -1, 10, 0, 1, 10)$$);
SELECT pg_temp.err($$SELECT rollout.welch_test(1, 1, 10, 0, -0.5, 10)$$);
SELECT pg_temp.err($$SELECT rollout.welch_test(1, 1, 1, 0, 1, 10)$$);
SELECT pg_temp.err($$SELECT rollout.welch_test(1, 1, 10, 0, 1, 0)$$);
SELECT pg_temp.err($$SELECT rollout.welch_test('Infinity', 1, 10, 0, 1, 10)$$);
SELECT pg_temp.err($$SELECT rollout.welch_test(1, 'NaN', 10, 0, 1, 10)$$);
SELECT pg_temp.err($$SELECT rollout.welch_test(1, 1, 10, 0, 1, 10, '-Infinity')$$);

-- srm_test
SELECT pg_temp.err($$SELECT rollout.srm_test('{}', '{}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10}', '{1}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,20}', '{1}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,20}', '{1,2,3}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,-20}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{0,0}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,20}', '{1,0}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,20}', '{1,-1}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,20}', '{1,NaN}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,20}', '{1,Infinity}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,NULL}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT rollout.srm_test('{10,20}', '{1,NULL}')$$);

-- sample_size_proportions
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(-0.1, 0.2)$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 1.2)$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 0.2, 0)$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 0.2, 1)$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 0.2, 0.05, 1.5)$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 0.2, 0.05, 'NaN')$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 0.2, 0.05, 0.8, 0)$$);
SELECT pg_temp.err($$SELECT rollout.sample_size_proportions(0.1, 0.2, 0.05, 0.8, 'Infinity')$$);

-- sequential_test
SELECT pg_temp.err($$SELECT rollout.sequential_test('NaN', 0.1, 100)$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, -0.1, 100)$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, 'Infinity', 100)$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, 0.1, 0)$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, 0.1, 100, 0, 'two-sided', 0)$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, 0.1, 100, 0, 'greater', 0.5)$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, 0.1, 100, 0, 'two-sided', 0.05, 0)$$);
SELECT pg_temp.err($$SELECT rollout.sequential_test(0.1, 0.1, 100, 'Infinity')$$);

-- Degenerate but valid cases.
-- No successes in either arm: the pooled variance is 0, so z and p are NaN
-- for the score test (as statsmodels); Wald also NaN; Agresti-Caffo is defined.
SELECT m, r.* FROM unnest(ARRAY['score', 'wald', 'agresti-caffo']) m,
	LATERAL rollout.proportion_test(0, 50, 0, 50, 0, 'two-sided', m) r;
-- All successes against none: Wald variance 0 -> z = Infinity, p = 0.
SELECT * FROM rollout.proportion_test(50, 50, 0, 50, 0, 'two-sided', 'wald');
-- All values equal: U = n1 n2 / 2; p = 1 with continuity, NaN without (0/0).
SELECT * FROM rollout.mann_whitney('{2,2,2}', '{2,2,2,2}');
SELECT * FROM rollout.mann_whitney('{2,2,2}', '{2,2,2,2}', 'two-sided', false);
-- Zero variance in both arms: df = 1 (scipy's rule), t = Infinity, p = 0;
-- equal means give NaN.
SELECT * FROM rollout.welch_test(1, 0, 10, 0.5, 0, 20);
SELECT * FROM rollout.welch_test(1, 0, 10, 1, 0, 20);
-- Perfect split: chi2 = 0, p = 1.
SELECT * FROM rollout.srm_test('{500,500}', '{50,50}');
-- Equal proportions: no sample size reaches the power.
SELECT rollout.sample_size_proportions(0.3, 0.3);
-- Zero standard error: the sequence collapses to the estimate; p is 0
-- unless the estimate equals the margin (NaN).
SELECT * FROM rollout.sequential_test(0.1, 0, 100);
SELECT * FROM rollout.sequential_test(0, 0, 100);

-- Privileges: the extension's roles may call the tests.
SELECT r, has_function_privilege(r, 'rollout.proportion_test(bigint,bigint,bigint,bigint,float8,text,text)', 'EXECUTE') AS proportion,
	has_function_privilege(r, 'rollout.mann_whitney_agg(float8,boolean)', 'EXECUTE') AS mann_whitney_agg,
	has_function_privilege(r, 'rollout.sequential_test(float8,float8,bigint,float8,text,float8,float8)', 'EXECUTE') AS sequential
FROM unnest(ARRAY['rollout_reader', 'rollout_service', 'rollout_operator', 'rollout_admin']) r;

-- event_share_test: arrays, counts, shares, ratio, alternative
SELECT pg_temp.err($$SELECT rollout.event_share_test('{1,2}', '{3}', '{0.1}')$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{{1}}', '{{3}}', '{{0.1}}')$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{1,NULL}', '{3,4}', '{0.1,0.2}')$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{-1}', '{3}', '{0.1}')$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{1}', '{3}', '{1.5}')$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{1}', '{3}', '{NaN}')$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{1}', '{3}', '{0.1}', 0)$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{1}', '{3}', '{0.1}', 'Infinity')$$);
SELECT pg_temp.err($$SELECT rollout.event_share_test('{1}', '{3}', '{0.1}', 1, 'larger')$$);
-- degenerate but valid: no segments, no events, one arm without events
SELECT * FROM rollout.event_share_test('{}', '{}', '{}');
SELECT * FROM rollout.event_share_test('{0}', '{0}', '{0.5}');
SELECT log_e > 0 AS evidence, p_value < 1 AS below_one, estimate FROM rollout.event_share_test('{5}', '{0}', '{0.5}');
SELECT * FROM rollout.event_share_test('{3}', '{7}', '{1}');
-- huge counts stay finite
SELECT p_value < 1e-300 AS tiny, estimate > 1 AS worse
  FROM rollout.event_share_test('{9000000000000}', '{1000000000000}', '{0.5}');

-- ddsketch_count_above
SELECT pg_temp.err($$SELECT rollout.ddsketch_count_above(rollout.ddsketch_agg(x), 'NaN') FROM (VALUES (1.0::float8)) v(x)$$);
SELECT rollout.ddsketch_count_above(rollout.ddsketch_agg(x), 150) AS above_150,
	   rollout.ddsketch_count_above(rollout.ddsketch_agg(x), -1) AS above_minus_1,
	   rollout.ddsketch_count_above(rollout.ddsketch_agg(x), 'Infinity') AS above_inf
FROM (SELECT generate_series(1, 200)::float8 AS x UNION ALL SELECT 0) v;
