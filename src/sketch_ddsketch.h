/*-------------------------------------------------------------------------
 *
 * sketch_ddsketch.h
 *		DDSketch: a mergeable quantile sketch with relative accuracy.
 *
 * A value x > 0 falls in bucket i = ceil(log_gamma(x)), gamma = (1 + a) /
 * (1 - a); the bucket's representative value 2 gamma^i / (gamma + 1) is
 * within a relative error a of every value of the bucket. Values below
 * DDSKETCH_MIN_VALUE go to a zero bucket. Two sketches with the same a
 * merge exactly by adding bucket counts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SKETCH_DDSKETCH_H
#define SKETCH_DDSKETCH_H

#include "postgres.h"

/* Default relative accuracy: quantiles are within 1% of the exact value. */
#define DDSKETCH_DEFAULT_ALPHA 0.01
/* Values below this are counted in the zero bucket. */
#define DDSKETCH_MIN_VALUE 1e-9
/* At most this many buckets; beyond, the lowest buckets are collapsed. */
#define DDSKETCH_MAX_BINS 4096
/*
 * Bucket indexes lie in [-MAX_INDEX, MAX_INDEX]: with the finest alpha
 * (0.0001) a value between DDSKETCH_MIN_VALUE and DBL_MAX falls in a bucket
 * between about -1.1e5 and 3.6e6. The bound keeps index arithmetic in int32.
 */
#define DDSKETCH_MAX_INDEX (1 << 24)
/* At most this many values in one sketch (2^62): counts never overflow int64. */
#define DDSKETCH_MAX_COUNT (INT64CONST(1) << 62)
/* Error messages echo at most this many bytes of a text input. */
#define DDSKETCH_ECHO_BYTES 100

/* One non-empty bucket of the on-disk form. */
typedef struct DDSketchBin
{
	int32		index;
	int32		pad;
	int64		count;
} DDSketchBin;

/* The on-disk (varlena) form: header then the non-empty buckets, ascending. */
typedef struct DDSketch
{
	int32		vl_len_;
	int32		nbins;
	float8		alpha;
	int64		count;			/* all values, zero bucket included */
	int64		zero_count;
	float8		min;
	float8		max;
	float8		sum;
	DDSketchBin bins[FLEXIBLE_ARRAY_MEMBER];
} DDSketch;

#define DDSKETCH_SIZE(nbins) (offsetof(DDSketch, bins) + sizeof(DDSketchBin) * (nbins))
#define DatumGetDDSketchP(X) ((DDSketch *) PG_DETOAST_DATUM(X))
#define PG_GETARG_DDSKETCH_P(n) DatumGetDDSketchP(PG_GETARG_DATUM(n))

/* The in-memory form used while aggregating: dense counts from offset. */
typedef struct DDSketchState
{
	float8		alpha;
	float8		ln_gamma;
	int64		count;
	int64		zero_count;
	float8		min;
	float8		max;
	float8		sum;
	int32		offset;			/* bucket index of counts[0] */
	int32		nalloc;
	int32		lo;				/* lowest used position in counts, or -1 */
	int32		hi;				/* highest used position in counts */
	int64	   *counts;
} DDSketchState;

extern DDSketchState *DDSketchStateCreate(float8 alpha);
extern void DDSketchStateAdd(DDSketchState *state, float8 value);
extern void DDSketchStateMerge(DDSketchState *state, const DDSketch *sketch);
extern DDSketch *DDSketchStateFinish(const DDSketchState *state);
extern float8 DDSketchQuantile(const DDSketch *sketch, float8 q);
extern void DDSketchCheck(const DDSketch *sketch);
extern int64 DDSketchCountAbove(const DDSketch *sketch, float8 threshold);

#endif							/* SKETCH_DDSKETCH_H */
