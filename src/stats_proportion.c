/*-------------------------------------------------------------------------
 *
 * stats_proportion.c
 *		Two-sample tests and sample sizes for proportions.
 *
 * rollout.proportion_test follows statsmodels 0.13.5
 * test_proportions_2indep(compare='diff', value=margin, correction=True):
 * the Wald and Agresti-Caffo z-tests and the Miettinen-Nurminen score test
 * (the Farrington-Manning score test with the N/(N-1) variance correction;
 * statsmodels 0.13.5 always applies that correction for differences). The
 * arithmetic follows the reference step by step so that IEEE results,
 * including NaN for degenerate tables, are the same.
 *
 * rollout.sample_size_proportions follows samplesize_proportions_2indep_onetail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "stats_common.h"

PG_FUNCTION_INFO_V1(rollout_proportion_test);
PG_FUNCTION_INFO_V1(rollout_sample_size_proportions);

/*
 * Sign of a number as numpy's np.sign: -1, 0 or 1 (NaN stays NaN).
 */
static double
StatsSign(double v)
{
	if (isnan(v))
		return v;
	return (v > 0) - (v < 0);
}

/*
 * Checks one sample of a proportion test: n >= 1 and 0 <= x <= n.
 */
static void
StatsCheckBinomial(int64 x, int64 n, const char *xname, const char *nname)
{
	StatsCheckCount(n, 1, nname);
	if (x < 0 || x > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be between 0 and \"%s\"", xname, nname),
				 errdetail("It is " INT64_FORMAT " with %s = " INT64_FORMAT ".", x, nname, n)));
}

/*
 * Test of H0: p1 - p2 = margin for two independent binomial samples.
 */
void
StatsProportionTest(int64 x1, int64 n1, int64 x2, int64 n2,
					double margin, StatsAlternative alternative,
					StatsProportionMethod method,
					double *statistic, double *p_value)
{
	double		count1 = (double) x1;
	double		nobs1 = (double) n1;
	double		count2 = (double) x2;
	double		nobs2 = (double) n2;
	double		diff_stat;
	double		var;
	double		z;

	StatsCheckBinomial(x1, n1, "x1", "n1");
	StatsCheckBinomial(x2, n2, "x2", "n2");
	StatsCheckFinite(margin, "margin");
	if (!(margin > -1.0 && margin < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"margin\" must be between -1 and 1 exclusive"),
				 errdetail("It is %g; it is a difference of two proportions.", margin)));

	if (method == STATS_PROP_WALD || method == STATS_PROP_AGRESTI_CAFFO)
	{
		double		addone = method == STATS_PROP_AGRESTI_CAFFO ? 1.0 : 0.0;
		double		c1 = count1 + addone;
		double		m1 = nobs1 + 2.0 * addone;
		double		c2 = count2 + addone;
		double		m2 = nobs2 + 2.0 * addone;
		double		p1 = c1 / m1;
		double		p2 = c2 / m2;

		diff_stat = p1 - p2 - margin;
		var = p1 * (1.0 - p1) / m1 + p2 * (1.0 - p2) / m2;
	}
	else
	{
		/* Miettinen-Nurminen: variance at the constrained MLE, index 0 = sample 2. */
		double		nobs = nobs1 + nobs2;
		double		count = count1 + count2;
		double		p1 = count1 / nobs1;
		double		p0 = count2 / nobs2;
		double		count0 = count2;
		double		nobs0 = nobs2;
		double		prop0;
		double		prop1;

		if (margin == 0.0)
			prop0 = prop1 = count / nobs;
		else
		{
			double		diff = margin;
			double		tmp3 = nobs;
			double		tmp2 = (nobs1 + 2.0 * nobs0) * diff - nobs - count;
			double		tmp1 = (count0 * diff - nobs - 2.0 * count0) * diff + count;
			double		tmp0 = count0 * diff * (1.0 - diff);
			double		q = pow(tmp2 / (3.0 * tmp3), 3) - tmp1 * tmp2 / (6.0 * tmp3 * tmp3) +
				tmp0 / (2.0 * tmp3);
			double		p = StatsSign(q) * sqrt(pow(tmp2 / (3.0 * tmp3), 2) - tmp1 / (3.0 * tmp3));
			double		a = (M_PI + acos(q / pow(p, 3))) / 3.0;

			prop0 = 2.0 * p * cos(a) - tmp2 / (3.0 * tmp3);
			prop1 = prop0 + diff;
		}
		var = prop1 * (1.0 - prop1) / nobs1 + prop0 * (1.0 - prop0) / nobs0;
		var *= nobs / (nobs - 1.0);
		diff_stat = p1 - p0 - margin;
	}

	z = diff_stat / sqrt(var);
	*statistic = z;
	*p_value = StatsNormalPValue(z, alternative);
}

/*
 * Sample size of the candidate arm for a two-sided or one-sided z-test of
 * two proportions (pooled variance under H0, unpooled under H1); the
 * baseline arm has ratio times as many units.
 */
double
StatsSampleSizeProportions(double p_baseline, double p_candidate,
						   double alpha, double power, double ratio,
						   StatsAlternative alternative)
{
	double		diff;
	double		p2;
	double		p1;
	double		p_pooled;
	double		std_null;
	double		std_alt;
	double		crit;
	double		crit_power;
	double		root;

	StatsCheckFinite(p_baseline, "p_baseline");
	StatsCheckFinite(p_candidate, "p_candidate");
	if (p_baseline < 0.0 || p_baseline > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"p_baseline\" must be between 0 and 1"),
				 errdetail("It is %g.", p_baseline)));
	if (p_candidate < 0.0 || p_candidate > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"p_candidate\" must be between 0 and 1"),
				 errdetail("It is %g.", p_candidate)));
	StatsCheckProbability(alpha, "alpha");
	StatsCheckProbability(power, "power");
	StatsCheckFinite(ratio, "ratio");
	if (!(ratio > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"ratio\" must be greater than 0"),
				 errdetail("It is %g; it is the baseline arm's size over the candidate arm's.", ratio)));

	if (alternative == STATS_TWO_SIDED)
		alpha = alpha / 2.0;

	diff = p_candidate - p_baseline;
	p2 = p_baseline;
	p1 = p2 + diff;
	p_pooled = (p1 + p2 * ratio) / (1.0 + ratio);
	std_null = sqrt(p_pooled * (1.0 - p_pooled) + p_pooled * (1.0 - p_pooled) / ratio);
	std_alt = sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2) / ratio);

	crit_power = StatsNormalIsf(power);
	crit = StatsNormalIsf(alpha);
	root = (crit * std_null - crit_power * std_alt) / diff;
	return root * root;
}

/*
 * SQL: rollout.proportion_test(x1, n1, x2, n2, margin, alternative, method)
 * RETURNS TABLE(statistic float8, p_value float8)
 */
Datum
rollout_proportion_test(PG_FUNCTION_ARGS)
{
	StatsAlternative alternative = StatsAlternativeArg(PG_GETARG_TEXT_PP(5), "alternative");
	char	   *method_name = text_to_cstring(PG_GETARG_TEXT_PP(6));
	StatsProportionMethod method = StatsParseProportionMethod(method_name, "method");
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	double		statistic;
	double		p_value;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));

	StatsProportionTest(PG_GETARG_INT64(0), PG_GETARG_INT64(1),
						PG_GETARG_INT64(2), PG_GETARG_INT64(3),
						PG_GETARG_FLOAT8(4), alternative, method,
						&statistic, &p_value);

	values[0] = Float8GetDatum(statistic);
	values[1] = Float8GetDatum(p_value);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * SQL: rollout.sample_size_proportions(p_baseline, p_candidate, alpha,
 * power, ratio, alternative) RETURNS float8
 */
Datum
rollout_sample_size_proportions(PG_FUNCTION_ARGS)
{
	StatsAlternative alternative = StatsAlternativeArg(PG_GETARG_TEXT_PP(5), "alternative");

	PG_RETURN_FLOAT8(StatsSampleSizeProportions(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1),
												PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3),
												PG_GETARG_FLOAT8(4), alternative));
}
