/*-------------------------------------------------------------------------
 *
 * outcome.h
 *		Outcome recording: validation and the per-backend context cache.
 *
 * An outcome's rollout, stage and arm come from the decision token route()
 * returned for the request (outcome_decision.c) or, without one, from the
 * agent's rollout whose [started_at, ended_at) covers the outcome's time. The cache holds,
 * per agent, the versions known to exist, the rollouts and the quality
 * scale; a relcache callback on rollout.rollouts, rollout.versions and
 * rollout.quality_scales marks it stale (src/outcome_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OUTCOME_H
#define OUTCOME_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* Longest arm (variant) name kept; longer names are truncated. */
#define OUTCOME_ARM_LEN 64

/*
 * Bounds of recorded values (docs/outcomes.md). Latency, cost, quality and
 * custom metric values are finite and at most 1e12 in magnitude, so sums
 * and sums of squares over 10^9 rows (at most 1e33) stay finite in float8.
 */
#define OUTCOME_MAX_VALUE 1e12
/* metrics: at most this many keys, key bytes and bytes in all. */
#define OUTCOME_MAX_METRICS 64
#define OUTCOME_MAX_METRIC_KEY 64
#define OUTCOME_MAX_METRICS_BYTES 8192
/* unit: at most this many bytes. */
#define OUTCOME_MAX_UNIT_BYTES 1024
/* Error messages echo at most this many bytes of an argument. */
#define OUTCOME_ECHO_BYTES 100

/* Where an outcome belongs. */
typedef struct OutcomeContext
{
	bool		has_rollout;
	int64		rollout_id;
	int32		stage;
	bool		in_arm;
	char		arm[OUTCOME_ARM_LEN];
	float8		quality_min;
	float8		quality_max;
} OutcomeContext;

/* outcome_cache.c */
extern void OutcomeResolve(const char *agent, int32 version, TimestampTz at,
						   int row, OutcomeContext *ctx);
extern bool OutcomeResolveRollout(const char *agent, int32 version, int64 rollout_id,
								  int row, OutcomeContext *ctx);
extern bool OutcomeResolveCached(const char *agent, int32 version, TimestampTz at,
								 OutcomeContext *ctx);

/* outcome_decision.c */
extern void OutcomeResolveToken(const char *agent, int32 version, bool shadow,
								text *token, int row, OutcomeContext *ctx);

/* outcome_service.c */
extern void OutcomeRequireService(const char *agent);

/* outcome_record.c */
extern int	RolloutClockTolerance;
extern void OutcomeCheckMetrics(Jsonb *metrics, int row);
extern void OutcomeCheckUnit(text *unit, int row);
extern void OutcomeCheckNonNegative(const char *argname, float8 value, int row);
extern void OutcomeCheckQuality(const char *agent, float8 quality,
								const OutcomeContext *ctx, int row);
extern const char *OutcomeRowPrefix(int row);

#endif							/* OUTCOME_H */
