/*-------------------------------------------------------------------------
 *
 * stats_sequential.c
 *		Always-valid inference for a difference: the normal-mixture SPRT
 *		and its asymptotic confidence sequence, as GrowthBook computes them.
 *
 * With estimate d, standard error s, total sample size N, level alpha and
 * tuning N* (the sample size where the sequence is tightest):
 *
 *   rho^2 = (-2 ln a + ln(1 - 2 ln a)) / N*,  a = alpha (two-sided) or
 *                                             2 alpha (one-sided)
 *   c     = N rho^2,  D = (d - margin) / s
 *
 * Two-sided (Waudby-Smith et al. 2023, eq. 9 and the p-value of eq. 155):
 *   half-width = s sqrt(2 (c + 1) / c * ln(sqrt(c + 1) / alpha))
 *   p          = min(1, sqrt(c + 1) exp(-D^2 c / (2 (c + 1))))
 *
 * One-sided (Howard et al. 2021, one-sided normal mixture, eq. 14):
 *   half-width = s sqrt(2 (c + 1) / c * ln(1 + sqrt(c + 1) / (2 alpha)))
 *   p          = min(1, sqrt(c + 1) / (2 expm1(D^2 c / (2 (c + 1)))))
 *                for D on the alternative's side, else 1
 *
 * The one-sided p-value is the exact inversion of the half-width in alpha
 * with rho held fixed (GrowthBook finds it by bisection). See
 * docs/statistics.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"

#include "stats_common.h"

PG_FUNCTION_INFO_V1(rollout_sequential_test);

/*
 * Always-valid p-value and (1 - alpha) confidence sequence bounds for a
 * difference estimate with its standard error after n units in total.
 */
void
StatsSequential(double estimate, double std_error, int64 n,
				double margin, StatsAlternative alternative,
				double alpha, double tuning,
				double *p_value, double *lower, double *upper)
{
	double		a;
	double		rho2;
	double		c;
	double		half;
	double		d;
	double		e;

	StatsCheckFinite(estimate, "estimate");
	StatsCheckFinite(std_error, "std_error");
	if (std_error < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"std_error\" must not be negative"),
				 errdetail("It is %g.", std_error)));
	StatsCheckCount(n, 1, "n");
	StatsCheckFinite(margin, "margin");
	StatsCheckProbability(alpha, "alpha");
	if (alternative != STATS_TWO_SIDED && alpha >= 0.5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"alpha\" must be below 0.5 for a one-sided sequential test"),
				 errdetail("It is %g; the mixture is tuned with 2 * alpha, which must be below 1.", alpha)));
	StatsCheckFinite(tuning, "tuning");
	if (!(tuning > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"tuning\" must be greater than 0"),
				 errdetail("It is %g; it is the sample size where the sequence is tightest.", tuning)));

	a = alternative == STATS_TWO_SIDED ? alpha : 2.0 * alpha;
	rho2 = (-2.0 * log(a) + log(1.0 - 2.0 * log(a))) / tuning;
	c = (double) n * rho2;
	d = (estimate - margin) / std_error;

	if (alternative == STATS_TWO_SIDED)
	{
		half = std_error * sqrt(2.0 * (c + 1.0) / c * log(sqrt(c + 1.0) / alpha));
		*lower = estimate - half;
		*upper = estimate + half;
		*p_value = fmin(1.0, sqrt(c + 1.0) * exp(-d * d * c / (2.0 * (c + 1.0))));
		if (isnan(d))
			*p_value = NAN;
		return;
	}

	half = std_error * sqrt(2.0 * (c + 1.0) / c * log1p(sqrt(c + 1.0) / (2.0 * alpha)));
	if (alternative == STATS_GREATER)
	{
		*lower = estimate - half;
		*upper = INFINITY;
	}
	else
	{
		*lower = -INFINITY;
		*upper = estimate + half;
		d = -d;
	}
	if (isnan(d))
		*p_value = NAN;
	else if (d <= 0.0)
		*p_value = 1.0;
	else
	{
		e = expm1(d * d * c / (2.0 * (c + 1.0)));
		*p_value = fmin(1.0, sqrt(c + 1.0) / (2.0 * e));
	}
}

/*
 * SQL: rollout.sequential_test(estimate, std_error, n, margin, alternative,
 * alpha, tuning) RETURNS TABLE(p_value float8, lower float8, upper float8)
 */
Datum
rollout_sequential_test(PG_FUNCTION_ARGS)
{
	StatsAlternative alternative = StatsAlternativeArg(PG_GETARG_TEXT_PP(4), "alternative");
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	double		p_value;
	double		lower;
	double		upper;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));

	StatsSequential(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_INT64(2),
					PG_GETARG_FLOAT8(3), alternative, PG_GETARG_FLOAT8(5),
					PG_GETARG_FLOAT8(6), &p_value, &lower, &upper);

	values[0] = Float8GetDatum(p_value);
	values[1] = Float8GetDatum(lower);
	values[2] = Float8GetDatum(upper);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
