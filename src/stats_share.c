/*-------------------------------------------------------------------------
 *
 * stats_share.c
 *		Always-valid test of a ratio of event rates from each arm's share of
 *		the events: exact at any count, valid at every look.
 *
 * Events (errors, safety flags, failures, values above a threshold) are
 * counted per segment s (a stage, or any stretch over which the candidate's
 * share of exposures pi_s is constant). If the candidate's event rate is
 * theta times the baseline's, each event falls in the candidate arm with
 * probability
 *
 *   q_s(theta) = theta pi_s / (theta pi_s + 1 - pi_s)
 *
 * and, given the events, the candidate's counts are independent binomials.
 * The likelihood ratio of theta against theta0,
 *
 *   L(theta) = prod_s (q_s(theta)/q_s(theta0))^xc_s
 *                     ((1-q_s(theta))/(1-q_s(theta0)))^xb_s,
 *
 * is a martingale under theta0 in the order events arrive, and so is any
 * mixture of it over theta. The mixture used here puts equal weight on
 * STATS_SHARE_GRID values of theta/theta0 spaced evenly in log from e^0.04
 * to 64 (one-sided) or on both sides (two-sided). By Ville's inequality the
 * mixture exceeds 1/alpha at some look with probability at most alpha, so
 * p = min(1, 1/mixture) is an always-valid p-value. For a one-sided null
 * (theta <= theta0 against "greater") the ratio against theta0 is a
 * supermartingale for every theta in the null (monotone likelihood ratio),
 * so the same bound holds.
 *
 * Conditioning on the events makes the test exact at small counts: no
 * normal approximation is involved. With finite arms the candidate's count
 * given the total is hypergeometric, which is smaller than the binomial in
 * the convex order (Hoeffding 1963), so the mixture, a convex function of
 * the count, stays a supermartingale: the test is conservative there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/lsyscache.h"

#include "stats.h"
#include "stats_common.h"

PG_FUNCTION_INFO_V1(rollout_event_share_test);

#define STATS_SHARE_GRID 32
#define STATS_SHARE_MIN_STEP 0.04
#define STATS_SHARE_MAX_STEP 4.1588830833596715	/* ln 64 */
#define STATS_SHARE_MAX_SEGMENTS 100000

/* Candidate share of events at rate ratio exp(log_theta), share pi. */
static inline double
ShareProbability(double log_theta, double pi)
{
	double		a = log_theta + log(pi);
	double		b = log1p(-pi);

	/* q = e^a / (e^a + e^b), computed without overflow */
	return a > b ? 1.0 / (1.0 + exp(b - a)) : exp(a - b) / (1.0 + exp(a - b));
}

/*
 * Log-likelihood of the counts at log rate ratio t (constants dropped).
 * ln q and ln(1 - q) come from log-sum-exp directly, so neither becomes
 * -Infinity when q rounds to 0 or 1 in floating point.
 */
static double
ShareLogLikelihood(const StatsShareSegment *seg, int nseg, double t)
{
	double		ll = 0.0;

	for (int i = 0; i < nseg; i++)
	{
		double		a = t + log(seg[i].share);
		double		b = log1p(-seg[i].share);
		double		lse = Max(a, b) + log1p(exp(-fabs(a - b)));

		if (seg[i].x_candidate > 0)
			ll += (double) seg[i].x_candidate * (a - lse);
		if (seg[i].x_baseline > 0)
			ll += (double) seg[i].x_baseline * (b - lse);
	}
	return ll;
}

/* Maximum-likelihood rate ratio (0 or infinity at the edges). */
static double
ShareEstimate(const StatsShareSegment *seg, int nseg)
{
	double		xc = 0,
				xb = 0,
				t = 0.0;

	for (int i = 0; i < nseg; i++)
	{
		xc += (double) seg[i].x_candidate;
		xb += (double) seg[i].x_baseline;
	}
	if (xc + xb == 0)
		return get_float8_nan();
	if (xc == 0)
		return 0.0;
	if (xb == 0)
		return get_float8_infinity();
	/* Newton on the log ratio; the score is monotone, so this converges. */
	for (int iter = 0; iter < 100; iter++)
	{
		double		score = 0,
					info = 0,
					step;

		for (int i = 0; i < nseg; i++)
		{
			double		q = ShareProbability(t, seg[i].share);
			double		m = (double) (seg[i].x_candidate + seg[i].x_baseline);

			score += (double) seg[i].x_candidate - m * q;
			info += m * q * (1.0 - q);
		}
		if (info <= 0)
			break;
		step = score / info;
		if (step > 5)
			step = 5;
		else if (step < -5)
			step = -5;
		t += step;
		if (fabs(step) < 1e-12)
			break;
	}
	return exp(t);
}

/*
 * The log of the mixture likelihood ratio against theta0 (an e-value),
 * the always-valid p-value min(1, 1/e) and the estimated rate ratio.
 */
void
StatsEventShare(const StatsShareSegment *seg, int nseg, double theta0,
				StatsAlternative alternative,
				double *log_e, double *p_value, double *estimate)
{
	double		t0;
	double		ll0;
	double		terms[2 * STATS_SHARE_GRID];
	int			nterms = 0;
	double		maxterm = -INFINITY;
	double		sum = 0.0;

	StatsCheckFinite(theta0, "ratio");
	if (!(theta0 > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"ratio\" must be greater than 0"),
				 errdetail("It is %g; it is the candidate's event rate divided by the baseline's under the null hypothesis.", theta0)));
	t0 = log(theta0);
	ll0 = ShareLogLikelihood(seg, nseg, t0);
	for (int k = 0; k < STATS_SHARE_GRID; k++)
	{
		double		d = STATS_SHARE_MIN_STEP *
			pow(STATS_SHARE_MAX_STEP / STATS_SHARE_MIN_STEP,
				(double) k / (STATS_SHARE_GRID - 1));

		if (alternative != STATS_LESS)
			terms[nterms++] = ShareLogLikelihood(seg, nseg, t0 + d) - ll0;
		if (alternative != STATS_GREATER)
			terms[nterms++] = ShareLogLikelihood(seg, nseg, t0 - d) - ll0;
	}
	for (int i = 0; i < nterms; i++)
		maxterm = Max(maxterm, terms[i]);
	for (int i = 0; i < nterms; i++)
		sum += exp(terms[i] - maxterm);
	*log_e = maxterm + log(sum / nterms);
	*p_value = *log_e <= 0 ? 1.0 : exp(-*log_e);
	*estimate = ShareEstimate(seg, nseg);
}

/* Reads a one-dimensional array argument without NULLs. */
static void
ShareArrayArg(ArrayType *arr, Oid elemtype, const char *argname, Datum **elems, int *n)
{
	bool	   *nulls;
	int16		typlen;
	bool		byval;
	char		align;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must be a one-dimensional array", argname)));
	get_typlenbyvalalign(elemtype, &typlen, &byval, &align);
	deconstruct_array(arr, elemtype, typlen, byval, align, elems, &nulls, n);
	for (int i = 0; i < *n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain NULL elements", argname),
					 errdetail("Element %d is NULL.", i + 1)));
}

/*
 * The segments of the event-share test from its three array arguments,
 * validated as rollout.event_share_test() documents them; segments where
 * one arm had every exposure (share 0 or 1) are left out. Returns their
 * number; *seg is palloc'd.
 */
int
StatsShareSegmentsFromArrays(ArrayType *x_candidate, ArrayType *x_baseline, ArrayType *share,
							 StatsShareSegment **seg)
{
	Datum	   *xc,
			   *xb,
			   *sh;
	int			nc,
				nb,
				ns,
				nseg = 0;

	ShareArrayArg(x_candidate, INT8OID, "x_candidate", &xc, &nc);
	ShareArrayArg(x_baseline, INT8OID, "x_baseline", &xb, &nb);
	ShareArrayArg(share, FLOAT8OID, "share", &sh, &ns);
	if (nc != nb || nc != ns)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("arguments \"x_candidate\", \"x_baseline\" and \"share\" must have the same length"),
				 errdetail("Their lengths are %d, %d and %d.", nc, nb, ns)));
	if (nc > STATS_SHARE_MAX_SEGMENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d segments are supported", STATS_SHARE_MAX_SEGMENTS),
				 errdetail("%d were given; merge segments with the same share first.", nc)));

	*seg = palloc(sizeof(StatsShareSegment) * Max(nc, 1));
	for (int i = 0; i < nc; i++)
	{
		int64		c = DatumGetInt64(xc[i]);
		int64		b = DatumGetInt64(xb[i]);
		double		s = DatumGetFloat8(sh[i]);

		StatsCheckCount(c, 0, "x_candidate");
		StatsCheckCount(b, 0, "x_baseline");
		if (isnan(s) || s < 0 || s > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"share\" must be between 0 and 1"),
					 errdetail("Element %d is %g.", i + 1, s)));
		/* a segment where one arm had every exposure says nothing */
		if (s <= 0 || s >= 1)
			continue;
		(*seg)[nseg].x_candidate = c;
		(*seg)[nseg].x_baseline = b;
		(*seg)[nseg].share = s;
		nseg++;
	}
	return nseg;
}

/*
 * SQL: rollout.event_share_test(x_candidate bigint[], x_baseline bigint[],
 * share float8[], ratio float8, alternative text)
 * RETURNS TABLE(log_e float8, p_value float8, estimate float8)
 */
Datum
rollout_event_share_test(PG_FUNCTION_ARGS)
{
	StatsAlternative alternative = StatsAlternativeArg(PG_GETARG_TEXT_PP(4), "alternative");
	int			nseg;
	StatsShareSegment *seg;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	double		log_e,
				p_value,
				estimate;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	nseg = StatsShareSegmentsFromArrays(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1),
										PG_GETARG_ARRAYTYPE_P(2), &seg);
	StatsEventShare(seg, nseg, PG_GETARG_FLOAT8(3), alternative, &log_e, &p_value, &estimate);

	values[0] = Float8GetDatum(log_e);
	values[1] = Float8GetDatum(p_value);
	values[2] = Float8GetDatum(estimate);
	nulls[2] = isnan(estimate);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
