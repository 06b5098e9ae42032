/*-------------------------------------------------------------------------
 *
 * plan.h
 *		Rollout plans: parsing, validation and normalization with jansson.
 *
 * A plan is a JSON object (docs/plans.md). PlanNormalize() checks every
 * field and returns a new object with every default filled in; on a bad
 * plan it returns NULL and describes the first problem in a PlanError, so
 * that the caller can free its jansson objects before raising the error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_PLAN_H
#define ROLLOUT_PLAN_H

#include "postgres.h"

#include <jansson.h>

#include "datatype/timestamp.h"

/* Longest JSON path or reason kept in a PlanError, in bytes. */
#define PLAN_PATH_LEN 256
#define PLAN_TEXT_LEN 512

/* Upper bounds on list lengths, to keep a plan a plan. */
#define PLAN_MAX_STEPS 50
#define PLAN_MAX_GATES 32
#define PLAN_MAX_LIST 64
#define PLAN_MAX_NAMES 1000

/*
 * How plans are read into jansson (PlanLoadJsonb). Integers are read as
 * reals: jsonb prints a number such as 1e20 as "100000000000000000000",
 * which jansson refuses as an integer, and PlanNumber writes a whole value
 * beyond 2^53 (a margin, say) as a real that comes back from jsonb in that
 * form. Fields that must be whole check it themselves (PlanGetInteger).
 */
#define PLAN_JSON_FLAGS (JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL)

/*
 * Relative difference allowed between a "<key>_seconds" member and the
 * length of its interval: PlanDump prints reals to 15 significant digits.
 */
#define PLAN_SECONDS_REL_TOLERANCE 1e-14

/* Largest sample count any plan field accepts. */
#define PLAN_MAX_SAMPLES 1000000000

/* The first problem found in a plan. */
typedef struct PlanError
{
	bool		failed;
	int			sqlerrcode;
	char		path[PLAN_PATH_LEN];
	char		reason[PLAN_TEXT_LEN];
	char		detail[PLAN_TEXT_LEN];
} PlanError;

/* A parsed interval: canonical text and length in seconds (extract(epoch)). */
typedef struct PlanInterval
{
	char		text[PLAN_TEXT_LEN];
	double		seconds;
} PlanInterval;

/* plan.c */
extern json_t *PlanNormalize(json_t *plan, PlanError *err);
extern json_t *PlanLoadJsonb(Datum jsonb_datum, PlanError *err);
extern char *PlanDump(json_t *plan);
extern void PlanRaiseError(PlanError *err);

/* Normalizes one element of a list; NULL with *err set on a bad element. */
typedef json_t *(*PlanElementNormalizer) (json_t *elem, const char *path, PlanError *err);

/* plan_util.c: errors, paths and typed access to JSON values */
extern json_t *PlanNormalizeEach(json_t *value, const char *path,
								 PlanElementNormalizer normalize, PlanError *err);
extern bool PlanFail(PlanError *err, int sqlerrcode, const char *path,
					 const char *detail, const char *fmt,...) pg_attribute_printf(5, 6);
extern void PlanPathKey(char *dst, const char *parent, const char *key);
extern void PlanPathIndex(char *dst, const char *parent, size_t index);
extern const char *PlanTypeName(json_t *value);
extern bool PlanCheckKeys(json_t *obj, const char *path, const char *const *allowed,
						  PlanError *err);
extern bool PlanExpectObject(json_t *value, const char *path, PlanError *err);
extern bool PlanExpectArray(json_t *value, const char *path, size_t max_len, PlanError *err);
extern bool PlanGetNumber(json_t *obj, const char *key, const char *path, bool *found,
						  double *result, PlanError *err);
extern bool PlanGetInteger(json_t *obj, const char *key, const char *path, bool *found,
						   int64 *result, PlanError *err);
extern bool PlanGetBool(json_t *obj, const char *key, const char *path, bool *found,
						bool *result, PlanError *err);
extern bool PlanGetString(json_t *obj, const char *key, const char *path, bool *found,
						  const char **result, PlanError *err);
extern bool PlanGetInterval(json_t *obj, const char *key, const char *path, bool *found,
							PlanInterval *result, PlanError *err);
extern bool PlanCheckSeconds(json_t *obj, const char *key, const char *path,
							 const PlanInterval *iv, PlanError *err);
extern bool PlanGetDuration(json_t *obj, const char *key, const char *path, const char *defval,
							bool allow_zero, PlanInterval *result, PlanError *err);
extern bool PlanGetSamples(json_t *obj, const char *key, const char *path, int64 defval,
						   int64 *result, PlanError *err);
extern bool PlanGetPercent(json_t *obj, const char *key, const char *path, bool allow_zero,
						   bool *found, double *result, PlanError *err);
extern bool PlanParseInterval(const char *str, PlanInterval *result);
extern bool PlanIsIdentifier(const char *s);
extern int	PlanLookupWord(const char *s, const char *const *words);
extern void PlanJoinWords(char *dst, size_t len, const char *const *words);
extern json_t *PlanObject(void);
extern json_t *PlanNumber(double value);
extern void PlanSetInterval(json_t *obj, const char *key, const PlanInterval *iv);

/* plan_parts.c: rules, flags, variants, pinning, sample collection */
extern json_t *PlanNormalizeRules(json_t *value, const char *path, PlanError *err);
extern json_t *PlanNormalizeFlags(json_t *value, const char *path, PlanError *err);
extern json_t *PlanNormalizeVariants(json_t *value, const char *path, PlanError *err);
extern json_t *PlanNormalizePinning(json_t *value, const char *path, PlanError *err);
extern json_t *PlanNormalizeExtend(json_t *value, const char *path, PlanError *err);

/* plan_blackout.c: blackout windows */
extern json_t *PlanNormalizeBlackouts(json_t *value, const char *path, PlanError *err);
extern bool PlanInBlackout(json_t *blackouts, TimestampTz at);

/* plan_gates.c: gate specifications */
/* Share of a plan's alpha given to the sample-ratio check; the gates share the rest. */
#define PLAN_SRM_SHARE 0.1
/* A plan's error budget when it gives no "alpha". */
#define PLAN_DEFAULT_ALPHA 0.01

extern json_t *PlanNormalizeGates(json_t *value, const char *path, double budget,
								  double srm_alpha, PlanError *err);
extern json_t *PlanDefaultGates(double budget, double srm_alpha);

#endif							/* ROLLOUT_PLAN_H */
