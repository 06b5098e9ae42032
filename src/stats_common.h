/*-------------------------------------------------------------------------
 *
 * stats_common.h
 *		Helpers shared by the statistics modules: argument checks, array
 *		reading and checked distribution functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_STATS_COMMON_H
#define ROLLOUT_STATS_COMMON_H

#include "postgres.h"

#include "utils/array.h"

#include "stats.h"

/* Argument checks; each raises an ERROR naming the argument. */
extern void StatsCheckFinite(double value, const char *argname);
extern void StatsCheckProbability(double value, const char *argname);
extern void StatsCheckCount(int64 value, int64 min, const char *argname);

/* Text argument helpers for the SQL entry points. */
extern StatsAlternative StatsAlternativeArg(text *arg, const char *argname);

/* Reads a one-dimensional array argument; NULL elements are rejected. */
extern double *StatsReadFloat8Array(ArrayType *array, const char *argname, int *count);
extern int64 *StatsReadInt64Array(ArrayType *array, const char *argname, int *count);

/* Distribution functions: NaN in, NaN out; results checked. */
extern double StatsNormalSf(double z);
extern double StatsNormalCdf(double z);
extern double StatsNormalIsf(double p);
extern double StatsTdistCdf(double t, double df);
extern double StatsChisqSf(double x, double df);

/* A p-value from a standard normal statistic, per alternative. */
extern double StatsNormalPValue(double z, StatsAlternative alternative);

#endif							/* ROLLOUT_STATS_COMMON_H */
