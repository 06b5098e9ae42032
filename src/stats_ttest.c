/*-------------------------------------------------------------------------
 *
 * stats_ttest.c
 *		Welch's unequal-variance t-test from summary statistics.
 *
 * Matches scipy 1.10 ttest_ind_from_stats(mean1 - margin, sd1, n1, mean2,
 * sd2, n2, equal_var=False): Welch-Satterthwaite degrees of freedom, set to
 * 1 when both variances are zero (scipy's rule), and the t statistic as the
 * IEEE quotient (so +-Infinity or NaN when the standard error is zero).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"

#include "stats_common.h"

PG_FUNCTION_INFO_V1(rollout_welch_test);

/*
 * Welch's t-test of H0: mean1 - mean2 = margin.
 */
void
StatsWelchTest(double mean1, double sd1, int64 n1,
			   double mean2, double sd2, int64 n2,
			   double margin, StatsAlternative alternative,
			   double *t, double *df, double *p_value)
{
	double		vn1;
	double		vn2;
	double		dof;
	double		denom;
	double		tstat;

	StatsCheckFinite(mean1, "mean1");
	StatsCheckFinite(sd1, "sd1");
	StatsCheckCount(n1, 2, "n1");
	StatsCheckFinite(mean2, "mean2");
	StatsCheckFinite(sd2, "sd2");
	StatsCheckCount(n2, 2, "n2");
	StatsCheckFinite(margin, "margin");
	if (sd1 < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"sd1\" must not be negative"),
				 errdetail("It is %g.", sd1)));
	if (sd2 < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"sd2\" must not be negative"),
				 errdetail("It is %g.", sd2)));

	vn1 = sd1 * sd1 / (double) n1;
	vn2 = sd2 * sd2 / (double) n2;
	dof = (vn1 + vn2) * (vn1 + vn2) /
		(vn1 * vn1 / ((double) n1 - 1.0) + vn2 * vn2 / ((double) n2 - 1.0));
	if (isnan(dof))
		dof = 1.0;
	denom = sqrt(vn1 + vn2);
	tstat = ((mean1 - margin) - mean2) / denom;

	*t = tstat;
	*df = dof;
	switch (alternative)
	{
		case STATS_LESS:
			*p_value = StatsTdistCdf(tstat, dof);
			break;
		case STATS_GREATER:
			*p_value = StatsTdistCdf(-tstat, dof);
			break;
		default:
			*p_value = StatsTdistCdf(-fabs(tstat), dof) * 2.0;
			break;
	}
}

/*
 * SQL: rollout.welch_test(mean1, sd1, n1, mean2, sd2, n2, margin,
 * alternative) RETURNS TABLE(t float8, df float8, p_value float8)
 */
Datum
rollout_welch_test(PG_FUNCTION_ARGS)
{
	StatsAlternative alternative = StatsAlternativeArg(PG_GETARG_TEXT_PP(7), "alternative");
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	double		t;
	double		df;
	double		p_value;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));

	StatsWelchTest(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_INT64(2),
				   PG_GETARG_FLOAT8(3), PG_GETARG_FLOAT8(4), PG_GETARG_INT64(5),
				   PG_GETARG_FLOAT8(6), alternative, &t, &df, &p_value);

	values[0] = Float8GetDatum(t);
	values[1] = Float8GetDatum(df);
	values[2] = Float8GetDatum(p_value);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
