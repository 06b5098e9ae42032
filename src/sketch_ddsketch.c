/*-------------------------------------------------------------------------
 *
 * sketch_ddsketch.c
 *		The rollout.ddsketch type, its aggregates and its quantile function.
 *
 * Window aggregates keep one sketch of latencies and one of costs; the
 * quantiles of any span of windows come from merging the window sketches,
 * never from the raw rows. The quantile of rank r = max(1, ceil(q * n)) (the
 * rank percentile_disc uses) is returned as the representative value of the
 * bucket holding that rank, clamped to [min, max], so it is within the
 * relative accuracy alpha of percentile_disc(q) over the same values.
 *
 * Text form: "alpha=0.01 count=3 zero=0 min=1 max=9 sum=12 bins=0:1,110:2".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "sketch_ddsketch.h"

PG_FUNCTION_INFO_V1(rollout_ddsketch_in);
PG_FUNCTION_INFO_V1(rollout_ddsketch_out);
PG_FUNCTION_INFO_V1(rollout_ddsketch_add_trans);
PG_FUNCTION_INFO_V1(rollout_ddsketch_merge_trans);
PG_FUNCTION_INFO_V1(rollout_ddsketch_state_combine);
PG_FUNCTION_INFO_V1(rollout_ddsketch_state_serialize);
PG_FUNCTION_INFO_V1(rollout_ddsketch_state_deserialize);
PG_FUNCTION_INFO_V1(rollout_ddsketch_final);
PG_FUNCTION_INFO_V1(rollout_ddsketch_combine);
PG_FUNCTION_INFO_V1(rollout_ddsketch_quantile);
PG_FUNCTION_INFO_V1(rollout_ddsketch_quantiles);
PG_FUNCTION_INFO_V1(rollout_ddsketch_count);

/* Raises an error unless alpha is a usable relative accuracy. */
static void
CheckAlpha(float8 alpha)
{
	if (!(alpha >= 0.0001 && alpha <= 0.2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"alpha\" must be between 0.0001 and 0.2"),
				 errdetail("The relative accuracy given was %g.", alpha)));
}

/* Returns an empty aggregation state with relative accuracy alpha. */
DDSketchState *
DDSketchStateCreate(float8 alpha)
{
	DDSketchState *state = palloc0(sizeof(DDSketchState));

	CheckAlpha(alpha);
	state->alpha = alpha;
	state->ln_gamma = log((1.0 + alpha) / (1.0 - alpha));
	state->min = get_float8_infinity();
	state->max = -get_float8_infinity();
	state->lo = -1;
	state->hi = -1;
	return state;
}

/* Makes room in the dense counts for bucket index; collapses past the cap. */
static int32
StatePosition(DDSketchState *state, int32 index)
{
	int32		pos;

	if (state->counts == NULL)
	{
		state->nalloc = 64;
		state->offset = index - 32;
		state->counts = palloc0(sizeof(int64) * state->nalloc);
	}
	pos = index - state->offset;
	if (pos < 0 || pos >= state->nalloc)
	{
		int32		newlo = Min(index, state->offset + (state->lo < 0 ? pos : state->lo));
		int32		newhi = Max(index, state->offset + (state->lo < 0 ? pos : state->hi));
		int32		span = newhi - newlo + 1;
		int32		nalloc;
		int32		newoffset;
		int64	   *counts;

		if (span > DDSKETCH_MAX_BINS)
		{
			/* Collapse: values below the kept range count in its lowest bucket. */
			int32		keep_lo = newhi - DDSKETCH_MAX_BINS + 1;

			if (index < keep_lo)
				index = keep_lo;
			newlo = keep_lo;
			span = DDSKETCH_MAX_BINS;
		}
		nalloc = Max(span * 2, 64);
		newoffset = newlo - (nalloc - span) / 2;
		counts = palloc0(sizeof(int64) * nalloc);
		if (state->lo >= 0)
		{
			for (int32 p = state->lo; p <= state->hi; p++)
			{
				int32		idx = Max(p + state->offset, newlo);

				counts[idx - newoffset] += state->counts[p];
			}
			state->lo = Max(state->lo + state->offset, newlo) - newoffset;
			state->hi = state->hi + state->offset - newoffset;
		}
		pfree(state->counts);
		state->counts = counts;
		state->nalloc = nalloc;
		state->offset = newoffset;
		pos = index - newoffset;
	}
	if (state->lo < 0 || pos < state->lo)
		state->lo = pos;
	if (pos > state->hi)
		state->hi = pos;
	return pos;
}

/* Adds n occurrences of bucket index. */
static void
StateAddBucket(DDSketchState *state, int32 index, int64 n)
{
	int32		pos = StatePosition(state, index);

	state->counts[pos] += n;
}

/* Adds one value; errors on negative or non-finite values. */
void
DDSketchStateAdd(DDSketchState *state, float8 value)
{
	if (isnan(value) || isinf(value) || value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ddsketch accepts only finite non-negative values"),
				 errdetail("The value given was %g.", value)));
	state->count++;
	state->sum += value;
	if (value < state->min)
		state->min = value;
	if (value > state->max)
		state->max = value;
	if (value < DDSKETCH_MIN_VALUE)
		state->zero_count++;
	else
		StateAddBucket(state, (int32) ceil(log(value) / state->ln_gamma), 1);
}

/* Adds every bucket of an on-disk sketch; the accuracies must match. */
void
DDSketchStateMerge(DDSketchState *state, const DDSketch *sketch)
{
	if (sketch->alpha != state->alpha)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge ddsketches of different relative accuracy"),
				 errdetail("One has alpha %g, the other %g.", state->alpha, sketch->alpha)));
	if (sketch->count == 0)
		return;
	state->count += sketch->count;
	state->zero_count += sketch->zero_count;
	state->sum += sketch->sum;
	if (sketch->min < state->min)
		state->min = sketch->min;
	if (sketch->max > state->max)
		state->max = sketch->max;
	for (int32 i = 0; i < sketch->nbins; i++)
		StateAddBucket(state, sketch->bins[i].index, sketch->bins[i].count);
}

/* Builds the on-disk form of a state (only non-empty buckets). */
DDSketch *
DDSketchStateFinish(const DDSketchState *state)
{
	int32		nbins = 0;
	DDSketch   *sketch;

	if (state->lo >= 0)
		for (int32 p = state->lo; p <= state->hi; p++)
			if (state->counts[p] != 0)
				nbins++;
	sketch = palloc0(DDSKETCH_SIZE(nbins));
	SET_VARSIZE(sketch, DDSKETCH_SIZE(nbins));
	sketch->nbins = nbins;
	sketch->alpha = state->alpha;
	sketch->count = state->count;
	sketch->zero_count = state->zero_count;
	sketch->min = state->count > 0 ? state->min : 0;
	sketch->max = state->count > 0 ? state->max : 0;
	sketch->sum = state->sum;
	nbins = 0;
	if (state->lo >= 0)
		for (int32 p = state->lo; p <= state->hi; p++)
			if (state->counts[p] != 0)
			{
				sketch->bins[nbins].index = p + state->offset;
				sketch->bins[nbins].count = state->counts[p];
				nbins++;
			}
	return sketch;
}

/* Estimates the q-quantile with percentile_disc's rank; NaN when empty. */
float8
DDSketchQuantile(const DDSketch *sketch, float8 q)
{
	int64		rank;
	int64		seen;
	float8		gamma;

	if (isnan(q) || q < 0 || q > 1)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("argument \"q\" must be between 0 and 1"),
				 errdetail("The quantile given was %g.", q)));
	if (sketch->count == 0)
		return get_float8_nan();
	rank = (int64) ceil(q * (float8) sketch->count);
	if (rank < 1)
		rank = 1;
	seen = sketch->zero_count;
	if (seen >= rank)
		return sketch->min;
	gamma = (1.0 + sketch->alpha) / (1.0 - sketch->alpha);
	for (int32 i = 0; i < sketch->nbins; i++)
	{
		seen += sketch->bins[i].count;
		if (seen >= rank)
		{
			float8		v = 2.0 * pow(gamma, sketch->bins[i].index) / (gamma + 1.0);

			return Max(sketch->min, Min(sketch->max, v));
		}
	}
	return sketch->max;
}

/* Parses the text form; used by COPY, dumps and casts from text. */
Datum
rollout_ddsketch_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	double		alpha,
				min,
				max,
				sum;
	long long	count,
				zero;
	int			consumed = 0;
	DDSketchState *state;
	DDSketch   *sketch;
	char	   *p;
	int64		binsum = 0;

	if (sscanf(str, "alpha=%lf count=%lld zero=%lld min=%lf max=%lf sum=%lf bins=%n",
			   &alpha, &count, &zero, &min, &max, &sum, &consumed) != 6 || consumed == 0 ||
		count < 0 || zero < 0 || zero > count)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type ddsketch: \"%s\"", str),
				 errdetail("Expected \"alpha=A count=N zero=Z min=X max=Y sum=S bins=I:C,...\".")));
	state = DDSketchStateCreate(alpha);
	p = str + consumed;
	while (*p != '\0')
	{
		char	   *end;
		long		index = strtol(p, &end, 10);
		long long	c;

		if (end == p || *end != ':')
			goto bad;
		p = end + 1;
		c = strtoll(p, &end, 10);
		if (end == p || c <= 0 || index < INT_MIN / 2 || index > INT_MAX / 2)
			goto bad;
		StateAddBucket(state, (int32) index, c);
		binsum += c;
		p = end;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	if (binsum + zero != count)
		goto bad;
	state->count = count;
	state->zero_count = zero;
	state->min = min;
	state->max = max;
	state->sum = sum;
	sketch = DDSketchStateFinish(state);
	PG_RETURN_POINTER(sketch);

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type ddsketch: \"%s\"", str),
			 errdetail("The bucket list must be index:count pairs whose counts add up to count minus zero.")));
	PG_RETURN_NULL();
}

/* Prints the text form. */
Datum
rollout_ddsketch_out(PG_FUNCTION_ARGS)
{
	DDSketch   *sketch = PG_GETARG_DDSKETCH_P(0);
	StringInfoData buf;

	initStringInfo(&buf);
	/* float8out_internal prints the shortest text that reads back exactly */
	appendStringInfo(&buf, "alpha=%s count=" INT64_FORMAT " zero=" INT64_FORMAT
					 " min=%s max=%s sum=%s bins=",
					 float8out_internal(sketch->alpha), sketch->count, sketch->zero_count,
					 float8out_internal(sketch->min), float8out_internal(sketch->max),
					 float8out_internal(sketch->sum));
	for (int32 i = 0; i < sketch->nbins; i++)
		appendStringInfo(&buf, "%s%d:" INT64_FORMAT, i > 0 ? "," : "",
						 sketch->bins[i].index, sketch->bins[i].count);
	PG_RETURN_CSTRING(buf.data);
}

/* Returns the aggregate memory context, erroring outside an aggregate. */
static MemoryContext
AggContext(FunctionCallInfo fcinfo, const char *name)
{
	MemoryContext ctx;

	if (!AggCheckCallContext(fcinfo, &ctx))
		elog(ERROR, "%s called in non-aggregate context", name);
	return ctx;
}

/* Transition of ddsketch_agg(value [, alpha]): adds one value, skips NULL. */
Datum
rollout_ddsketch_add_trans(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = AggContext(fcinfo, "ddsketch_agg");
	DDSketchState *state = PG_ARGISNULL(0) ? NULL : (DDSketchState *) PG_GETARG_POINTER(0);
	MemoryContext old;

	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	old = MemoryContextSwitchTo(ctx);
	if (state == NULL)
		state = DDSketchStateCreate((PG_NARGS() > 2 && !PG_ARGISNULL(2)) ?
									PG_GETARG_FLOAT8(2) : DDSKETCH_DEFAULT_ALPHA);
	DDSketchStateAdd(state, PG_GETARG_FLOAT8(1));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(state);
}

/* Transition of ddsketch_merge(sketch): merges one sketch, skips NULL. */
Datum
rollout_ddsketch_merge_trans(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = AggContext(fcinfo, "ddsketch_merge");
	DDSketchState *state = PG_ARGISNULL(0) ? NULL : (DDSketchState *) PG_GETARG_POINTER(0);
	DDSketch   *sketch;
	MemoryContext old;

	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	sketch = PG_GETARG_DDSKETCH_P(1);
	old = MemoryContextSwitchTo(ctx);
	if (state == NULL)
		state = DDSketchStateCreate(sketch->alpha);
	DDSketchStateMerge(state, sketch);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(state);
}

/* Combine function for parallel aggregation: merges two states. */
Datum
rollout_ddsketch_state_combine(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = AggContext(fcinfo, "ddsketch combine");
	DDSketchState *a = PG_ARGISNULL(0) ? NULL : (DDSketchState *) PG_GETARG_POINTER(0);
	DDSketchState *b = PG_ARGISNULL(1) ? NULL : (DDSketchState *) PG_GETARG_POINTER(1);
	MemoryContext old;
	DDSketch   *bs;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	old = MemoryContextSwitchTo(ctx);
	if (a == NULL)
		a = DDSketchStateCreate(b->alpha);
	bs = DDSketchStateFinish(b);
	DDSketchStateMerge(a, bs);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* Serializes a state as the bytes of its on-disk sketch (parallel workers). */
Datum
rollout_ddsketch_state_serialize(PG_FUNCTION_ARGS)
{
	DDSketchState *state = (DDSketchState *) PG_GETARG_POINTER(0);

	PG_RETURN_BYTEA_P((bytea *) DDSketchStateFinish(state));
}

/* Rebuilds a state from serialize's bytes. */
Datum
rollout_ddsketch_state_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = AggContext(fcinfo, "ddsketch deserialize");
	DDSketch   *sketch = (DDSketch *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	MemoryContext old = MemoryContextSwitchTo(ctx);
	DDSketchState *state = DDSketchStateCreate(sketch->alpha);

	DDSketchStateMerge(state, sketch);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(state);
}

/* Final function of both aggregates: the sketch, or NULL with no values. */
Datum
rollout_ddsketch_final(PG_FUNCTION_ARGS)
{
	DDSketchState *state;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (DDSketchState *) PG_GETARG_POINTER(0);
	if (state->count == 0)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(DDSketchStateFinish(state));
}

/* ddsketch_combine(a, b): the merge of two sketches; NULL counts as empty. */
Datum
rollout_ddsketch_combine(PG_FUNCTION_ARGS)
{
	DDSketch   *a;
	DDSketch   *b;
	DDSketchState *state;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	a = PG_GETARG_DDSKETCH_P(0);
	b = PG_GETARG_DDSKETCH_P(1);
	state = DDSketchStateCreate(a->alpha);
	DDSketchStateMerge(state, a);
	DDSketchStateMerge(state, b);
	PG_RETURN_POINTER(DDSketchStateFinish(state));
}

/* ddsketch_quantile(sketch, q): estimated q-quantile, NULL when empty. */
Datum
rollout_ddsketch_quantile(PG_FUNCTION_ARGS)
{
	DDSketch   *sketch = PG_GETARG_DDSKETCH_P(0);
	float8		v = DDSketchQuantile(sketch, PG_GETARG_FLOAT8(1));

	if (isnan(v))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v);
}

/* ddsketch_quantiles(sketch, qs): one estimate per element of qs. */
Datum
rollout_ddsketch_quantiles(PG_FUNCTION_ARGS)
{
	DDSketch   *sketch = PG_GETARG_DDSKETCH_P(0);
	ArrayType  *qs = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(qs) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"qs\" must be a one-dimensional array")));
	deconstruct_array(qs, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		float8		v;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"qs\" must not contain nulls")));
		v = DDSketchQuantile(sketch, DatumGetFloat8(elems[i]));
		elems[i] = Float8GetDatum(v);
		nulls[i] = isnan(v);
	}
	{
		int			dims[1] = {n};
		int			lbs[1] = {1};

		PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, 1, dims, lbs, FLOAT8OID,
												 sizeof(float8), FLOAT8PASSBYVAL,
												 TYPALIGN_DOUBLE));
	}
}

/* ddsketch_count(sketch): how many values the sketch holds. */
Datum
rollout_ddsketch_count(PG_FUNCTION_ARGS)
{
	DDSketch   *sketch = PG_GETARG_DDSKETCH_P(0);

	PG_RETURN_INT64(sketch->count);
}
