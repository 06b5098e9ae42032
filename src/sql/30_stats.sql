-- 30: statistics. Pure C functions (no table access) that gates call;
-- formulas, references and edge cases are in docs/statistics.md.

-- Two independent proportions, H0: p1 - p2 = margin (sample 1 the candidate).
-- Reference: statsmodels 0.13.5 test_proportions_2indep(compare='diff',
-- value=margin, correction=True).
CREATE FUNCTION rollout.proportion_test(x1 bigint, n1 bigint, x2 bigint, n2 bigint,
	margin float8 DEFAULT 0, alternative text DEFAULT 'two-sided',
	method text DEFAULT 'score',
	OUT statistic float8, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_proportion_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Mann-Whitney U test, U of x. Reference: scipy 1.10 mannwhitneyu.
CREATE FUNCTION rollout.mann_whitney(x float8[], y float8[],
	alternative text DEFAULT 'two-sided', use_continuity boolean DEFAULT true,
	method text DEFAULT 'auto',
	OUT u float8, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_mann_whitney'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Result of the Mann-Whitney aggregate.
CREATE TYPE rollout.mann_whitney_result AS (u float8, p_value float8);

CREATE FUNCTION rollout._mann_whitney_agg_transfn(internal, float8, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_mann_whitney_agg_transfn'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION rollout._mann_whitney_agg_transfn(internal, float8, boolean, text, boolean, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_mann_whitney_agg_transfn'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION rollout._mann_whitney_agg_finalfn(internal)
RETURNS rollout.mann_whitney_result
AS 'MODULE_PATHNAME', 'rollout_mann_whitney_agg_finalfn'
LANGUAGE C PARALLEL SAFE;

-- Mann-Whitney over rows: candidate rows (is_candidate) against the others.
-- Rows with a NULL value or NULL is_candidate are skipped; NULL when an arm
-- has no rows.
CREATE AGGREGATE rollout.mann_whitney_agg(value float8, is_candidate boolean) (
	SFUNC = rollout._mann_whitney_agg_transfn,
	STYPE = internal,
	FINALFUNC = rollout._mann_whitney_agg_finalfn,
	PARALLEL = SAFE
);

CREATE AGGREGATE rollout.mann_whitney_agg(value float8, is_candidate boolean,
	alternative text, use_continuity boolean, method text) (
	SFUNC = rollout._mann_whitney_agg_transfn,
	STYPE = internal,
	FINALFUNC = rollout._mann_whitney_agg_finalfn,
	PARALLEL = SAFE
);

-- Welch's t-test from summary statistics, H0: mean1 - mean2 = margin.
-- Reference: scipy 1.10 ttest_ind_from_stats(mean1 - margin, ..., equal_var=False).
CREATE FUNCTION rollout.welch_test(mean1 float8, sd1 float8, n1 bigint,
	mean2 float8, sd2 float8, n2 bigint,
	margin float8 DEFAULT 0, alternative text DEFAULT 'two-sided',
	OUT t float8, OUT df float8, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_welch_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Sample ratio mismatch: chi-square of counts against weights scaled to
-- the total. Reference: scipy 1.10 chisquare.
CREATE FUNCTION rollout.srm_test(observed bigint[], weights float8[],
	OUT chi2 float8, OUT df integer, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_srm_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Candidate-arm sample size (not rounded); the baseline arm has ratio times
-- as many. Reference: statsmodels 0.13.5 samplesize_proportions_2indep_onetail.
CREATE FUNCTION rollout.sample_size_proportions(p_baseline float8, p_candidate float8,
	alpha float8 DEFAULT 0.05, power float8 DEFAULT 0.8, ratio float8 DEFAULT 1,
	alternative text DEFAULT 'two-sided')
RETURNS float8
AS 'MODULE_PATHNAME', 'rollout_sample_size_proportions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Always-valid p-value and confidence sequence for a difference from its
-- estimate, standard error and total sample size n (both arms): the
-- normal-mixture SPRT / asymptotic confidence sequence GrowthBook uses,
-- tuned to be tightest at n = tuning.
CREATE FUNCTION rollout.sequential_test(estimate float8, std_error float8, n bigint,
	margin float8 DEFAULT 0, alternative text DEFAULT 'two-sided',
	alpha float8 DEFAULT 0.05, tuning float8 DEFAULT 5000,
	OUT p_value float8, OUT lower float8, OUT upper float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_sequential_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Privileges: these functions read no data, but like every function of the
-- extension they are callable by its roles only.
REVOKE ALL ON FUNCTION
	rollout.proportion_test(bigint, bigint, bigint, bigint, float8, text, text),
	rollout.mann_whitney(float8[], float8[], text, boolean, text),
	rollout.mann_whitney_agg(float8, boolean),
	rollout.mann_whitney_agg(float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_finalfn(internal),
	rollout.welch_test(float8, float8, bigint, float8, float8, bigint, float8, text),
	rollout.srm_test(bigint[], float8[]),
	rollout.sample_size_proportions(float8, float8, float8, float8, float8, text),
	rollout.sequential_test(float8, float8, bigint, float8, text, float8, float8)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	rollout.proportion_test(bigint, bigint, bigint, bigint, float8, text, text),
	rollout.mann_whitney(float8[], float8[], text, boolean, text),
	rollout.mann_whitney_agg(float8, boolean),
	rollout.mann_whitney_agg(float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_finalfn(internal),
	rollout.welch_test(float8, float8, bigint, float8, float8, bigint, float8, text),
	rollout.srm_test(bigint[], float8[]),
	rollout.sample_size_proportions(float8, float8, float8, float8, float8, text),
	rollout.sequential_test(float8, float8, bigint, float8, text, float8, float8)
TO rollout_reader, rollout_service, rollout_operator, rollout_admin;
