/*-------------------------------------------------------------------------
 *
 * stats_chisq.c
 *		Sample ratio mismatch: Pearson's chi-square goodness-of-fit test.
 *
 * Matches scipy 1.10 chisquare(observed, f_exp) with f_exp the weights
 * scaled to the observed total (weights[i] / sum(weights) * total) and
 * k - 1 degrees of freedom.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"

#include "stats_common.h"

PG_FUNCTION_INFO_V1(rollout_srm_test);

/*
 * Chi-square test of observed counts against expected shares.
 */
void
StatsSrmTest(const int64 *observed, const double *weights, int k,
			 double *chi2, int *df, double *p_value)
{
	double		total = 0.0;
	double		wsum = 0.0;
	double		stat = 0.0;

	if (k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"observed\" must have at least 2 elements"),
				 errdetail("It has %d; a chi-square test needs at least two arms.", k)));
	for (int i = 0; i < k; i++)
	{
		if (observed[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"observed\" must not contain negative counts"),
					 errdetail("Element %d is " INT64_FORMAT ".", i + 1, observed[i])));
		if (!isfinite(weights[i]) || !(weights[i] > 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"weights\" must contain only positive finite numbers"),
					 errdetail("Element %d is %g.", i + 1, weights[i])));
		total += (double) observed[i];
		wsum += weights[i];
	}
	if (total == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"observed\" must not be all zero"),
				 errdetail("There is nothing to compare with the weights.")));
	if (!isfinite(wsum))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"weights\" has an infinite sum")));

	for (int i = 0; i < k; i++)
	{
		double		expected = weights[i] / wsum * total;
		double		d = (double) observed[i] - expected;

		stat += d * d / expected;
	}
	*chi2 = stat;
	*df = k - 1;
	*p_value = StatsChisqSf(stat, (double) (k - 1));
}

/*
 * SQL: rollout.srm_test(observed bigint[], weights float8[])
 * RETURNS TABLE(chi2 float8, df integer, p_value float8)
 */
Datum
rollout_srm_test(PG_FUNCTION_ARGS)
{
	int			nobs;
	int			nweights;
	int64	   *observed = StatsReadInt64Array(PG_GETARG_ARRAYTYPE_P(0), "observed", &nobs);
	double	   *weights;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	double		chi2;
	int			df;
	double		p_value;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));

	/* Weights are read without the finiteness check so the message says "positive". */
	{
		ArrayType  *warr = PG_GETARG_ARRAYTYPE_P(1);

		if (ARR_NDIM(warr) == 1 && !ARR_HASNULL(warr) && ARR_ELEMTYPE(warr) == FLOAT8OID)
		{
			nweights = ARR_DIMS(warr)[0];
			weights = (double *) ARR_DATA_PTR(warr);
		}
		else
			weights = StatsReadFloat8Array(warr, "weights", &nweights);
	}
	if (nweights != nobs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"weights\" must have as many elements as \"observed\""),
				 errdetail("It has %d elements; \"observed\" has %d.", nweights, nobs)));

	StatsSrmTest(observed, weights, nobs, &chi2, &df, &p_value);

	values[0] = Float8GetDatum(chi2);
	values[1] = Int32GetDatum(df);
	values[2] = Float8GetDatum(p_value);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
