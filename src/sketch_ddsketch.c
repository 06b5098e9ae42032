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

#include <errno.h>
#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
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

/* The first ~100 bytes of a text input, for error messages. */
static char *
ClipInput(const char *str)
{
	int			len = strlen(str);

	if (len <= DDSKETCH_ECHO_BYTES)
		return pstrdup(str);
	return psprintf("%s...", pnstrdup(str, pg_mbcliplen(str, len, DDSKETCH_ECHO_BYTES)));
}

/* Raises an error unless index is a bucket index some value can reach. */
static void
CheckIndex(int64 index)
{
	if (index < -DDSKETCH_MAX_INDEX || index > DDSKETCH_MAX_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ddsketch bucket index " INT64_FORMAT " is out of range", index),
				 errdetail("Bucket indexes lie between %d and %d.",
						   -DDSKETCH_MAX_INDEX, DDSKETCH_MAX_INDEX)));
}

/* Adds b to *a, raising an error instead of overflowing. */
static void
AddCount(int64 *a, int64 b)
{
	if (pg_add_s64_overflow(*a, b, a) || *a > DDSKETCH_MAX_COUNT)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ddsketch count is out of range"),
				 errdetail("A sketch holds at most " INT64_FORMAT " values.",
						   (int64) DDSKETCH_MAX_COUNT)));
}

/*
 * NULL when the header fields of a sketch agree (counts within range, zero
 * <= count, min/max/sum finite with 0 <= min <= max and sum >= 0, all zero
 * when empty), else the problem.
 */
static const char *
HeaderProblem(float8 alpha, int64 count, int64 zero, float8 min, float8 max, float8 sum)
{
	if (!(alpha >= 0.0001 && alpha <= 0.2))
		return "alpha must be between 0.0001 and 0.2";
	if (count < 0 || count > DDSKETCH_MAX_COUNT)
		return "count is out of range";
	if (zero < 0 || zero > count)
		return "zero must be between 0 and count";
	if (isnan(min) || isinf(min) || isnan(max) || isinf(max) || isnan(sum) || isinf(sum))
		return "min, max and sum must be finite";
	if (count == 0 && (min != 0 || max != 0 || sum != 0))
		return "an empty sketch has min, max and sum 0";
	if (count > 0 && !(min >= 0 && min <= max && sum >= 0))
		return "min, max and sum must satisfy 0 <= min <= max and sum >= 0";
	return NULL;
}

/*
 * Raises an error unless an on-disk sketch is well formed: its size matches
 * its bucket count, indexes ascend within range, every count is positive and
 * the bucket counts add up to count minus zero.
 */
void
DDSketchCheck(const DDSketch *sketch)
{
	int64		binsum = 0;
	const char *problem;

	if (sketch->nbins < 0 || sketch->nbins > 2 * DDSKETCH_MAX_INDEX + 1 ||
		VARSIZE_ANY(sketch) != DDSKETCH_SIZE(sketch->nbins))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ddsketch has a corrupt bucket list"),
				 errdetail("Its size does not match its %d buckets.", sketch->nbins)));
	problem = HeaderProblem(sketch->alpha, sketch->count, sketch->zero_count, sketch->min,
							sketch->max, sketch->sum);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inconsistent ddsketch: %s", problem)));
	for (int32 i = 0; i < sketch->nbins; i++)
	{
		CheckIndex(sketch->bins[i].index);
		if (sketch->bins[i].count <= 0 ||
			(i > 0 && sketch->bins[i].index <= sketch->bins[i - 1].index))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("inconsistent ddsketch: bucket %d", i),
					 errdetail("Buckets have positive counts and ascending indexes.")));
		AddCount(&binsum, sketch->bins[i].count);
	}
	if (binsum != sketch->count - sketch->zero_count)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inconsistent ddsketch: bucket counts add up to " INT64_FORMAT
						", not count minus zero " INT64_FORMAT,
						binsum, sketch->count - sketch->zero_count)));
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

	CheckIndex(index);
	if (state->counts == NULL)
	{
		state->nalloc = 64;
		state->offset = index - 32;
		state->counts = palloc0(sizeof(int64) * state->nalloc);
	}
	pos = index - state->offset;
	/*
	 * Grow (or collapse) when the index lies outside the allocation, or when
	 * it lies inside but would stretch the used range past DDSKETCH_MAX_BINS.
	 */
	if (pos < 0 || pos >= state->nalloc ||
		(state->lo >= 0 && Max(pos, state->hi) - Min(pos, state->lo) + 1 > DDSKETCH_MAX_BINS))
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

	AddCount(&state->counts[pos], n);
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
	AddCount(&state->count, 1);
	state->sum += value;
	if (isinf(state->sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ddsketch sum is out of range"),
				 errdetail("The sum of the values exceeds the range of float8.")));
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
	DDSketchCheck(sketch);
	if (sketch->count == 0)
		return;
	AddCount(&state->count, sketch->count);
	AddCount(&state->zero_count, sketch->zero_count);
	state->sum += sketch->sum;
	if (isinf(state->sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ddsketch sum is out of range"),
				 errdetail("The sum of the merged values exceeds the range of float8.")));
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

/* Skips "name=" at *p; false when the text there differs. */
static bool
ParseKey(char **p, const char *name)
{
	size_t		len = strlen(name);

	while (**p == ' ')
		(*p)++;
	if (strncmp(*p, name, len) != 0 || (*p)[len] != '=')
		return false;
	*p += len + 1;
	return true;
}

/* Reads a float8 at *p (strtod syntax, NaN and Infinity included). */
static bool
ParseDouble(char **p, double *out)
{
	char	   *end;

	errno = 0;
	*out = strtod(*p, &end);
	if (end == *p || errno == ERANGE)
		return false;
	*p = end;
	return true;
}

/* Reads a decimal int64 at *p, refusing overflow. */
static bool
ParseInt64(char **p, int64 *out)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(*p, &end, 10);
	if (end == *p || errno == ERANGE)
		return false;
	*out = (int64) v;
	*p = end;
	return true;
}

/* Raises invalid_text_representation for str, echoing at most ~100 bytes. */
static void
BadInput(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type ddsketch: \"%s\"", ClipInput(str)),
			 errdetail("%s", detail)));
}

/*
 * Parses the text form; used by COPY, dumps and casts from text. Every
 * field is range-checked before use and the bucket counts must add up to
 * count minus zero.
 */
Datum
rollout_ddsketch_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *syntax = "Expected \"alpha=A count=N zero=Z min=X max=Y sum=S bins=I:C,...\".";
	double		alpha,
				min,
				max,
				sum;
	int64		count,
				zero;
	DDSketchState *state;
	DDSketch   *sketch;
	char	   *p = str;
	int64		binsum = 0;
	const char *problem;

	if (!(ParseKey(&p, "alpha") && ParseDouble(&p, &alpha) &&
		  ParseKey(&p, "count") && ParseInt64(&p, &count) &&
		  ParseKey(&p, "zero") && ParseInt64(&p, &zero) &&
		  ParseKey(&p, "min") && ParseDouble(&p, &min) &&
		  ParseKey(&p, "max") && ParseDouble(&p, &max) &&
		  ParseKey(&p, "sum") && ParseDouble(&p, &sum) &&
		  ParseKey(&p, "bins")))
		BadInput(str, syntax);
	problem = HeaderProblem(alpha, count, zero, min, max, sum);
	if (problem != NULL)
		BadInput(str, psprintf("The sketch is inconsistent: %s.", problem));
	state = DDSketchStateCreate(alpha);
	while (*p != '\0')
	{
		int64		index;
		int64		c;

		if (!ParseInt64(&p, &index) || *p != ':')
			BadInput(str, "The bucket list must be index:count pairs separated by commas.");
		p++;
		if (!ParseInt64(&p, &c) || c <= 0)
			BadInput(str, "Every bucket count must be a positive integer.");
		if (index < -DDSKETCH_MAX_INDEX || index > DDSKETCH_MAX_INDEX)
			BadInput(str, psprintf("Bucket indexes lie between %d and %d.",
								   -DDSKETCH_MAX_INDEX, DDSKETCH_MAX_INDEX));
		if (pg_add_s64_overflow(binsum, c, &binsum) || binsum > count - zero)
			BadInput(str, "The bucket list must be index:count pairs whose counts add up to count minus zero.");
		StateAddBucket(state, (int32) index, c);
		if (*p == ',' && p[1] != '\0')
			p++;
		else if (*p != '\0')
			BadInput(str, "The bucket list must be index:count pairs separated by commas.");
	}
	if (binsum != count - zero)
		BadInput(str, "The bucket list must be index:count pairs whose counts add up to count minus zero.");
	state->count = count;
	state->zero_count = zero;
	state->min = min;
	state->max = max;
	state->sum = sum;
	sketch = DDSketchStateFinish(state);
	PG_RETURN_POINTER(sketch);
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
