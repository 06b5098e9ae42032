/*-------------------------------------------------------------------------
 *
 * sketch_rank.c
 *		Counts of a DDSketch above a threshold, for the quantile gates.
 *
 * A quantile gate turns "the candidate's p95 is higher" into "more of the
 * candidate's values lie above the baseline's p95", which the event-share
 * test (stats_share.c) can check at every look. A value counts as above t
 * when its bucket's representative value (the one ddsketch_quantile
 * returns) is above t, so both arms are quantized the same way and the
 * test stays exact for the quantized values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "sketch_ddsketch.h"

PG_FUNCTION_INFO_V1(rollout_ddsketch_count_above);

/* Number of values of the sketch whose bucket lies above threshold. */
int64
DDSketchCountAbove(const DDSketch *sketch, float8 threshold)
{
	float8		gamma = (1.0 + sketch->alpha) / (1.0 - sketch->alpha);
	int64		above = 0;

	if (threshold < 0)
		above += sketch->zero_count;
	for (int32 i = 0; i < sketch->nbins; i++)
	{
		float8		v = 2.0 * pow(gamma, sketch->bins[i].index) / (gamma + 1.0);

		if (v > threshold)
			above += sketch->bins[i].count;
	}
	return above;
}

/* SQL: rollout.ddsketch_count_above(sketch, threshold) RETURNS bigint */
Datum
rollout_ddsketch_count_above(PG_FUNCTION_ARGS)
{
	DDSketch   *sketch = PG_GETARG_DDSKETCH_P(0);
	float8		threshold = PG_GETARG_FLOAT8(1);

	if (isnan(threshold))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"threshold\" must not be NaN")));
	PG_RETURN_INT64(DDSketchCountAbove(sketch, threshold));
}
