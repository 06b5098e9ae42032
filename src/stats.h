/*-------------------------------------------------------------------------
 *
 * stats.h
 *		Statistical tests that gate rollouts, callable from C without fmgr.
 *
 * Every function validates its arguments and raises an ERROR that names the
 * offending argument, so callers such as the gate evaluator may pass raw
 * aggregates. Results agree with the references named in
 * docs/statistics.md (scipy 1.10, statsmodels 0.13.5) to 1e-9 relative.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_STATS_H
#define ROLLOUT_STATS_H

#include "postgres.h"

#include "utils/array.h"

/* The alternative hypothesis, in scipy's words. */
typedef enum StatsAlternative
{
	STATS_TWO_SIDED,
	STATS_LESS,
	STATS_GREATER
} StatsAlternative;

/* How proportion_test estimates the variance of the difference. */
typedef enum StatsProportionMethod
{
	STATS_PROP_WALD,
	STATS_PROP_AGRESTI_CAFFO,
	STATS_PROP_SCORE
} StatsProportionMethod;

/* How mann_whitney computes its p-value. */
typedef enum StatsRankMethod
{
	STATS_RANK_AUTO,
	STATS_RANK_EXACT,
	STATS_RANK_ASYMPTOTIC
} StatsRankMethod;

/* Largest n1 * n2 for which the exact Mann-Whitney distribution is built. */
#define STATS_MWU_EXACT_MAX_CELLS 1000000

/* Text names, for messages and for parsing. */
extern StatsAlternative StatsParseAlternative(const char *name, const char *argname);
extern const char *StatsAlternativeName(StatsAlternative alternative);
extern StatsProportionMethod StatsParseProportionMethod(const char *name, const char *argname);
extern StatsRankMethod StatsParseRankMethod(const char *name, const char *argname);

/* H0: p1 - p2 = margin, sample 1 the candidate. */
extern void StatsProportionTest(int64 x1, int64 n1, int64 x2, int64 n2,
								double margin, StatsAlternative alternative,
								StatsProportionMethod method,
								double *statistic, double *p_value);

/* Candidate-arm size for a two-proportion z-test (not rounded). */
extern double StatsSampleSizeProportions(double p_baseline, double p_candidate,
										 double alpha, double power, double ratio,
										 StatsAlternative alternative);

/* Welch's t-test from summary statistics; H0: mean1 - mean2 = margin. */
extern void StatsWelchTest(double mean1, double sd1, int64 n1,
						   double mean2, double sd2, int64 n2,
						   double margin, StatsAlternative alternative,
						   double *t, double *df, double *p_value);

/*
 * Mann-Whitney U test; U is that of x. Sorts x and y in place. Values must
 * be finite (the SQL entry points check that).
 */
extern void StatsMannWhitney(double *x, int64 nx, double *y, int64 ny,
							 StatsAlternative alternative, bool use_continuity,
							 StatsRankMethod method,
							 double *u, double *p_value);

/* Pearson chi-square test of observed counts against weights (SRM check). */
extern void StatsSrmTest(const int64 *observed, const double *weights, int k,
						 double *chi2, int *df, double *p_value);

/*
 * Always-valid p-value and confidence sequence for a difference, from its
 * estimate, standard error and total sample size (mixture SPRT).
 */
extern void StatsSequential(double estimate, double std_error, int64 n,
							double margin, StatsAlternative alternative,
							double alpha, double tuning,
							double *p_value, double *lower, double *upper);

/* Events of one segment for the event-share test (stats_share.c). */
typedef struct StatsShareSegment
{
	int64		x_candidate;	/* events in the candidate arm */
	int64		x_baseline;		/* events in the baseline arm */
	double		share;			/* candidate's share of exposures, in (0, 1) */
} StatsShareSegment;

/*
 * Always-valid test of the ratio of the candidate's event rate to the
 * baseline's from each arm's share of the events (mixture SPRT).
 */
extern void StatsEventShare(const StatsShareSegment *seg, int nseg, double theta0,
							StatsAlternative alternative,
							double *log_e, double *p_value, double *estimate);

/* Validated segments from event_share_test()'s array arguments. */
extern int	StatsShareSegmentsFromArrays(ArrayType *x_candidate, ArrayType *x_baseline,
										 ArrayType *share, StatsShareSegment **seg);

#endif							/* ROLLOUT_STATS_H */
