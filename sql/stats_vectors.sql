-- Reference vectors: every statistics function against scipy 1.10 and
-- statsmodels 0.13.5 (test/stats/gen_vectors.py wrote the CSVs).
-- A value is within tolerance when it equals the reference (NaN and
-- infinities included) or differs by at most 1e-9 relative; near zero the
-- absolute floor is 1e-12 for statistics and bounds, and 1e-305 for
-- p-values so that tails down to 1e-300 are checked relatively.
\i test/sql/helpers.sql

CREATE FUNCTION pg_temp.within(got float8, want float8, floor float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(got = want OR abs(got - want) <= greatest(1e-9 * abs(want), floor), false)
$$;

CREATE TEMP TABLE v_proportion (x1 bigint, n1 bigint, x2 bigint, n2 bigint, margin float8,
	alternative text, method text, statistic float8, p_value float8);
\copy v_proportion FROM 'test/stats/proportion.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE v_sample_size (p_baseline float8, p_candidate float8, alpha float8,
	power float8, ratio float8, alternative text, n float8);
\copy v_sample_size FROM 'test/stats/sample_size.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE v_welch (mean1 float8, sd1 float8, n1 bigint, mean2 float8, sd2 float8,
	n2 bigint, margin float8, alternative text, t float8, df float8, p_value float8);
\copy v_welch FROM 'test/stats/welch.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE v_srm (observed bigint[], weights float8[], chi2 float8, df integer,
	p_value float8);
\copy v_srm FROM 'test/stats/srm.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE v_mw_samples (sample integer PRIMARY KEY, x float8[], y float8[]);
\copy v_mw_samples FROM 'test/stats/mann_whitney_samples.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE v_mann_whitney (sample integer, alternative text, use_continuity boolean,
	method text, u float8, p_value float8);
\copy v_mann_whitney FROM 'test/stats/mann_whitney.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE v_sequential (estimate float8, std_error float8, n bigint, margin float8,
	alternative text, alpha float8, tuning float8, p_value float8, lower float8, upper float8);
\copy v_sequential FROM 'test/stats/sequential.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE v_event_share (x_candidate bigint[], x_baseline bigint[], share float8[],
	ratio float8, alternative text, log_e float8, p_value float8, estimate float8);
\copy v_event_share FROM 'test/stats/event_share.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE checks AS
SELECT 'proportion_test' AS function, v.method AS variant,
	pg_temp.within(r.statistic, v.statistic, 1e-12) AND pg_temp.within(r.p_value, v.p_value, 1e-305) AS ok,
	format('%s/%s vs %s/%s margin %s %s: got (%s, %s) want (%s, %s)', v.x1, v.n1, v.x2, v.n2,
		v.margin, v.alternative, r.statistic, r.p_value, v.statistic, v.p_value) AS what
FROM v_proportion v,
	LATERAL rollout.proportion_test(v.x1, v.n1, v.x2, v.n2, v.margin, v.alternative, v.method) r
UNION ALL
SELECT 'sample_size_proportions', v.alternative,
	pg_temp.within(rollout.sample_size_proportions(v.p_baseline, v.p_candidate, v.alpha, v.power,
		v.ratio, v.alternative), v.n, 1e-12),
	format('%s', v)
FROM v_sample_size v
UNION ALL
SELECT 'welch_test', v.alternative,
	pg_temp.within(r.t, v.t, 1e-12) AND pg_temp.within(r.df, v.df, 1e-12)
		AND pg_temp.within(r.p_value, v.p_value, 1e-305),
	format('%s: got %s', v, r)
FROM v_welch v,
	LATERAL rollout.welch_test(v.mean1, v.sd1, v.n1, v.mean2, v.sd2, v.n2, v.margin, v.alternative) r
UNION ALL
SELECT 'srm_test', NULL,
	pg_temp.within(r.chi2, v.chi2, 1e-12) AND r.df = v.df AND pg_temp.within(r.p_value, v.p_value, 1e-305),
	format('%s: got %s', v, r)
FROM v_srm v, LATERAL rollout.srm_test(v.observed, v.weights) r
UNION ALL
SELECT 'mann_whitney', v.method,
	pg_temp.within(r.u, v.u, 1e-12) AND pg_temp.within(r.p_value, v.p_value, 1e-305),
	format('sample %s %s %s %s: got %s want (%s, %s)', v.sample, v.alternative, v.use_continuity,
		v.method, r, v.u, v.p_value)
FROM v_mann_whitney v JOIN v_mw_samples s USING (sample),
	LATERAL rollout.mann_whitney(s.x, s.y, v.alternative, v.use_continuity, v.method) r
UNION ALL
SELECT 'mann_whitney_agg', v.method,
	pg_temp.within((r.res).u, v.u, 1e-12) AND pg_temp.within((r.res).p_value, v.p_value, 1e-305),
	format('sample %s %s %s %s: got %s want (%s, %s)', v.sample, v.alternative, v.use_continuity,
		v.method, r.res, v.u, v.p_value)
FROM v_mann_whitney v JOIN v_mw_samples s USING (sample),
	LATERAL (SELECT rollout.mann_whitney_agg(o.value, o.is_candidate, v.alternative,
				v.use_continuity, v.method) AS res
			 FROM (SELECT unnest(s.x) AS value, true AS is_candidate
				   UNION ALL SELECT unnest(s.y), false) o) r
UNION ALL
SELECT 'sequential_test', v.alternative,
	pg_temp.within(r.p_value, v.p_value, 1e-305) AND pg_temp.within(r.lower, v.lower, 1e-12)
		AND pg_temp.within(r.upper, v.upper, 1e-12),
	format('%s: got %s', v, r)
FROM v_sequential v,
	LATERAL rollout.sequential_test(v.estimate, v.std_error, v.n, v.margin, v.alternative,
		v.alpha, v.tuning) r
UNION ALL
SELECT 'event_share_test', v.alternative,
	pg_temp.within(r.log_e, v.log_e, 1e-12) AND pg_temp.within(r.p_value, v.p_value, 1e-305)
		AND (pg_temp.within(r.estimate, v.estimate, 1e-12) OR (r.estimate IS NULL AND v.estimate = 'NaN')),
	format('%s: got %s', v, r)
FROM v_event_share v,
	LATERAL rollout.event_share_test(v.x_candidate, v.x_baseline, v.share, v.ratio, v.alternative) r;

-- Per function: how many vectors were checked and how many missed.
SELECT function, count(*) AS vectors, count(*) FILTER (WHERE NOT ok) AS outside_tolerance
FROM checks GROUP BY function ORDER BY function;

-- Per method or alternative, so every variant is seen to be covered.
SELECT function, variant, count(*) AS vectors, count(*) FILTER (WHERE NOT ok) AS outside_tolerance
FROM checks WHERE variant IS NOT NULL GROUP BY function, variant ORDER BY function, variant;

-- The vectors outside tolerance, if any (none expected).
SELECT function, what FROM checks WHERE NOT ok ORDER BY function, what LIMIT 20;

-- Tails: the smallest reference p-value checked per function.
SELECT 'proportion_test' AS function, min(p_value) FILTER (WHERE p_value > 0) < 1e-290 AS reaches_1e_290 FROM v_proportion
UNION ALL SELECT 'welch_test', min(p_value) FILTER (WHERE p_value > 0) < 1e-290 FROM v_welch
UNION ALL SELECT 'srm_test', min(p_value) FILTER (WHERE p_value > 0) < 1e-290 FROM v_srm
UNION ALL SELECT 'mann_whitney', min(p_value) FILTER (WHERE p_value > 0) < 1e-290 FROM v_mann_whitney
UNION ALL SELECT 'sequential_test', min(p_value) FILTER (WHERE p_value > 0) < 1e-290 FROM v_sequential;
