/*-------------------------------------------------------------------------
 *
 * stats_rank.c
 *		Mann-Whitney U test: array function and aggregate over rows.
 *
 * Matches scipy 1.10 mannwhitneyu(x, y, use_continuity, alternative,
 * method): U is the statistic of x; method auto is exact when either sample
 * has at most 8 values and there are no ties, otherwise the normal
 * approximation with tie correction and, on request, continuity correction.
 *
 * Ranks come from sorting each sample (O(n log n)) and merging the two
 * sorted runs, which gives the rank sum of x and the tie term in one pass.
 *
 * The exact null distribution of U is the coefficient list of the Gaussian
 * binomial [m+n choose m]_q divided by C(m+n, m). It is built as the
 * product over i = 1..min(m,n) of (1 - q^(max+i)) / (1 - q^i), rescaled at
 * every step so the coefficients stay probabilities, and truncated at the
 * degree the p-value needs: O(min(m,n) * k) time, O(k) memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "stats_common.h"

/* A specialized quicksort for doubles (values are finite). */
#define ST_SORT StatsSortFloat8
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* Auto falls back to the normal approximation past this exact-method cost. */
#define STATS_MWU_EXACT_MAX_WORK 2000000000.0

PG_FUNCTION_INFO_V1(rollout_mann_whitney);
PG_FUNCTION_INFO_V1(rollout_mann_whitney_agg_transfn);
PG_FUNCTION_INFO_V1(rollout_mann_whitney_agg_finalfn);

/* Transition state of the aggregate: the two samples and the options. */
typedef struct StatsRankState
{
	double	   *x;				/* candidate values */
	double	   *y;				/* baseline values */
	int64		nx;
	int64		ny;
	int64		capx;
	int64		capy;
	StatsAlternative alternative;
	bool		use_continuity;
	StatsRankMethod method;
} StatsRankState;

/*
 * P(U <= k) under H0 for sample sizes m and n, without ties.
 */
static double
StatsMwuExactCdf(int64 k, int64 m, int64 n)
{
	int64		s = Min(m, n);
	int64		l = Max(m, n);
	double	   *c;
	double		cdf = 0.0;

	if (k < 0)
		return 0.0;
	if (k > m * n)
		k = m * n;

	c = palloc_extended(sizeof(double) * (k + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	c[0] = 1.0;
	for (int64 i = 1; i <= s; i++)
	{
		int64		top = Min(k, i * l);
		double		scale = (double) i / (double) (l + i);

		CHECK_FOR_INTERRUPTS();
		/* multiply by 1 - q^(l+i) */
		for (int64 j = top; j >= l + i; j--)
			c[j] -= c[j - l - i];
		/* divide by 1 - q^i */
		for (int64 j = i; j <= top; j++)
			c[j] += c[j - i];
		/* divide by C(l+i, i) / C(l+i-1, i-1) */
		for (int64 j = 0; j <= top; j++)
			c[j] *= scale;
	}
	for (int64 j = 0; j <= k; j++)
		cdf += c[j];
	pfree(c);
	return cdf;
}

/*
 * Mann-Whitney U test of x against y; U is that of x.
 */
void
StatsMannWhitney(double *x, int64 nx, double *y, int64 ny,
				 StatsAlternative alternative, bool use_continuity,
				 StatsRankMethod method,
				 double *u, double *p_value)
{
	int64		i = 0;
	int64		j = 0;
	int64		pos = 0;
	double		r1 = 0.0;
	double		tie_term = 0.0;
	bool		has_ties = false;
	double		n1 = (double) nx;
	double		n2 = (double) ny;
	double		u1;
	double		u2;
	double		ustat;
	double		factor;
	double		p;

	StatsCheckCount(nx, 1, "x");
	StatsCheckCount(ny, 1, "y");

	StatsSortFloat8(x, nx);
	StatsSortFloat8(y, ny);

	/* Merge the sorted samples: rank sum of x and the tie term. */
	while (i < nx || j < ny)
	{
		double		v;
		int64		cx = 0;
		int64		cy = 0;
		double		t;

		if (j >= ny || (i < nx && x[i] <= y[j]))
			v = x[i];
		else
			v = y[j];
		while (i < nx && x[i] == v)
		{
			i++;
			cx++;
		}
		while (j < ny && y[j] == v)
		{
			j++;
			cy++;
		}
		t = (double) (cx + cy);
		r1 += (double) cx * ((double) pos + (t + 1.0) / 2.0);
		if (cx + cy > 1)
		{
			has_ties = true;
			tie_term += t * t * t - t;
		}
		pos += cx + cy;
	}

	u1 = r1 - n1 * (n1 + 1.0) / 2.0;
	u2 = n1 * n2 - u1;
	*u = u1;

	if (method == STATS_RANK_AUTO)
	{
		if ((nx > 8 && ny > 8) || has_ties ||
			n1 * n2 > STATS_MWU_EXACT_MAX_CELLS ||
			Min(n1, n2) * n1 * n2 > STATS_MWU_EXACT_MAX_WORK)
			method = STATS_RANK_ASYMPTOTIC;
		else
			method = STATS_RANK_EXACT;
	}
	else if (method == STATS_RANK_EXACT &&
			 (n1 * n2 > STATS_MWU_EXACT_MAX_CELLS ||
			  Min(n1, n2) * n1 * n2 > STATS_MWU_EXACT_MAX_WORK))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument \"method\" is exact but the samples are too large for the exact distribution"),
				 errdetail("The exact method allows len(x) * len(y) up to %d; here it is %.0f.",
						   STATS_MWU_EXACT_MAX_CELLS, n1 * n2)));

	if (alternative == STATS_GREATER)
	{
		ustat = u1;
		factor = 1.0;
	}
	else if (alternative == STATS_LESS)
	{
		ustat = u2;
		factor = 1.0;
	}
	else
	{
		ustat = Max(u1, u2);
		factor = 2.0;
	}

	if (method == STATS_RANK_EXACT)
	{
		/* scipy truncates a half-integer U (ties) to an integer */
		int64		uint = (int64) ustat;

		p = StatsMwuExactCdf(nx * ny - uint, nx, ny);
	}
	else
	{
		double		n = n1 + n2;
		double		mu = n1 * n2 / 2.0;
		double		s = sqrt(n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0))));
		double		numerator = ustat - mu;

		if (use_continuity)
			numerator -= 0.5;
		p = StatsNormalSf(numerator / s);
	}
	p *= factor;
	if (p > 1.0)
		p = 1.0;
	else if (p < 0.0)
		p = 0.0;
	*p_value = p;
}

/*
 * Builds the (u, p_value) result tuple.
 */
static Datum
StatsRankResult(FunctionCallInfo fcinfo, double u, double p_value)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	values[0] = Float8GetDatum(u);
	values[1] = Float8GetDatum(p_value);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * SQL: rollout.mann_whitney(x float8[], y float8[], alternative,
 * use_continuity, method) RETURNS TABLE(u float8, p_value float8)
 */
Datum
rollout_mann_whitney(PG_FUNCTION_ARGS)
{
	StatsAlternative alternative = StatsAlternativeArg(PG_GETARG_TEXT_PP(2), "alternative");
	bool		use_continuity = PG_GETARG_BOOL(3);
	char	   *method_name = text_to_cstring(PG_GETARG_TEXT_PP(4));
	StatsRankMethod method = StatsParseRankMethod(method_name, "method");
	int			nx;
	int			ny;
	double	   *x = StatsReadFloat8Array(PG_GETARG_ARRAYTYPE_P(0), "x", &nx);
	double	   *y = StatsReadFloat8Array(PG_GETARG_ARRAYTYPE_P(1), "y", &ny);
	double		u;
	double		p_value;

	StatsMannWhitney(x, nx, y, ny, alternative, use_continuity, method, &u, &p_value);
	PG_RETURN_DATUM(StatsRankResult(fcinfo, u, p_value));
}

/*
 * Appends a value to one sample of the aggregate state.
 */
static void
StatsRankAppend(MemoryContext aggcontext, double **values, int64 *count, int64 *cap, double v)
{
	if (*count == *cap)
	{
		int64		newcap = *cap == 0 ? 1024 : *cap * 2;

		if (*values == NULL)
			*values = MemoryContextAllocHuge(aggcontext, sizeof(double) * newcap);
		else
			*values = repalloc_huge(*values, sizeof(double) * newcap);
		*cap = newcap;
	}
	(*values)[(*count)++] = v;
}

/*
 * Aggregate transition: rollout.mann_whitney_agg(value, is_candidate
 * [, alternative, use_continuity, method]). Rows with a NULL value or a
 * NULL is_candidate are skipped; the options come from the first row.
 */
Datum
rollout_mann_whitney_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	StatsRankState *state;
	double		v;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rollout.mann_whitney_agg transition function called in non-aggregate context")));

	if (PG_ARGISNULL(0))
	{
		state = MemoryContextAllocZero(aggcontext, sizeof(StatsRankState));
		state->alternative = STATS_TWO_SIDED;
		state->use_continuity = true;
		state->method = STATS_RANK_AUTO;
		if (PG_NARGS() >= 6)
		{
			if (PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("arguments \"alternative\", \"use_continuity\" and \"method\" must not be null")));
			state->alternative = StatsAlternativeArg(PG_GETARG_TEXT_PP(3), "alternative");
			state->use_continuity = PG_GETARG_BOOL(4);
			state->method = StatsParseRankMethod(text_to_cstring(PG_GETARG_TEXT_PP(5)), "method");
		}
	}
	else
		state = (StatsRankState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(state);

	v = PG_GETARG_FLOAT8(1);
	if (!isfinite(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"value\" must be a finite number"),
				 errdetail("It is %s.", isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"))));

	if (PG_GETARG_BOOL(2))
		StatsRankAppend(aggcontext, &state->x, &state->nx, &state->capx, v);
	else
		StatsRankAppend(aggcontext, &state->y, &state->ny, &state->capy, v);
	PG_RETURN_POINTER(state);
}

/*
 * Aggregate final function: the test over the collected rows, or NULL when
 * either arm has no rows.
 */
Datum
rollout_mann_whitney_agg_finalfn(PG_FUNCTION_ARGS)
{
	StatsRankState *state;
	double		u;
	double		p_value;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (StatsRankState *) PG_GETARG_POINTER(0);
	if (state->nx == 0 || state->ny == 0)
		PG_RETURN_NULL();

	/* Sorting in place is fine: the final function runs once per group. */
	StatsMannWhitney(state->x, state->nx, state->y, state->ny,
					 state->alternative, state->use_continuity, state->method,
					 &u, &p_value);
	PG_RETURN_DATUM(StatsRankResult(fcinfo, u, p_value));
}
