/*-------------------------------------------------------------------------
 *
 * plan.c
 *		Rollout plans: the top level, steps, shadow phase and experiment.
 *
 * PlanNormalize() turns a plan as a user writes it into the normalized
 * plan the lifecycle follows: every key present, every default filled in,
 * intervals in canonical PostgreSQL text and in seconds. A plan stands
 * alone: keys it omits take the built-in defaults documented in
 * docs/plans.md (the risk-tier presets are plans too, stored in
 * rollout.plan_presets). The first problem found is reported with its JSON
 * path, e.g. "steps[2].percent: must be greater than the previous step".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"

#include "plan.h"

PG_FUNCTION_INFO_V1(rollout_normalize_plan);

static const char *const strategies[] = {"canary", "blue_green", "shadow", "ab_test", NULL};
static const char *const stickinesses[] = {"unit", "session", "tenant", NULL};

static const char *const top_keys[] = {
	"strategy", "stickiness", "shadow", "steps", "experiment", "variants", "rules",
	"flags", "pinning", "judge_rate", "evaluation_interval",
	"evaluation_interval_seconds", "blackouts", "extend", "stable_period",
	"stable_period_seconds", "gates", "alpha", "srm_alpha", NULL
};
static const char *const step_keys[] = {"percent", "bake", "bake_seconds", "min_samples", NULL};
static const char *const shadow_keys[] = {
	"percent", "duration", "duration_seconds", "min_similarity", "min_samples",
	"write_intercept", "model_swap_extension", "pair_grace", "pair_grace_seconds", NULL
};
static const char *const experiment_keys[] = {"duration", "duration_seconds", "min_samples", "control", NULL};

/* The canary steps used when a canary plan gives none (the medium timeline). */
static const struct
{
	double		percent;
	const char *bake;
}			default_canary_steps[] = {
	{1, "4 hours"}, {5, "8 hours"}, {25, "24 hours"}, {50, "24 hours"}, {100, "0"}
};

/* Builds one normalized step. */
static json_t *
MakeStep(double percent, const PlanInterval *bake, int64 min_samples)
{
	json_t	   *step = PlanObject();

	json_object_set_new(step, "percent", PlanNumber(percent));
	PlanSetInterval(step, "bake", bake);
	json_object_set_new(step, "min_samples", json_integer(min_samples));
	return step;
}

/* The default steps of a strategy that moves traffic (canary, blue_green). */
static json_t *
DefaultSteps(const char *strategy)
{
	json_t	   *steps = json_array();
	PlanInterval bake;

	if (strcmp(strategy, "canary") == 0)
	{
		for (int i = 0; i < lengthof(default_canary_steps); i++)
		{
			if (!PlanParseInterval(default_canary_steps[i].bake, &bake))
				elog(ERROR, "invalid default interval");
			json_array_append_new(steps, MakeStep(default_canary_steps[i].percent, &bake, 0));
		}
	}
	else
	{
		if (!PlanParseInterval("0", &bake))
			elog(ERROR, "invalid default interval");
		json_array_append_new(steps, MakeStep(100, &bake, 0));
	}
	return steps;
}

/*
 * Normalizes the steps of a canary or blue-green plan: percent rises and
 * ends at 100; every step below 100 has a positive bake; the 100% step is
 * the promotion itself and has no bake (the stable period follows it).
 */
static json_t *
NormalizeSteps(json_t *value, const char *strategy, PlanError *err)
{
	json_t	   *steps;
	size_t		n;
	double		prev = 0;

	if (value == NULL || json_is_null(value))
		return DefaultSteps(strategy);
	if (!PlanExpectArray(value, "steps", PLAN_MAX_STEPS, err))
		return NULL;
	n = json_array_size(value);
	if (n == 0)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "steps",
				 "A plan moves traffic in at least one step; the last one reaches 100 percent.",
				 "must not be empty");
		return NULL;
	}
	if (strcmp(strategy, "blue_green") == 0 && n != 1)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "steps",
				 "Strategy blue_green switches all traffic at once: give one step of 100 percent, or omit steps.",
				 "must have exactly one step for strategy blue_green, got %zu", n);
		return NULL;
	}

	steps = json_array();
	for (size_t i = 0; i < n; i++)
	{
		json_t	   *elem = json_array_get(value, i);
		char		path[PLAN_PATH_LEN];
		char		keypath[PLAN_PATH_LEN];
		double		percent = 0;
		bool		found;
		PlanInterval bake;
		int64		min_samples;

		PlanPathIndex(path, "steps", i);
		if (!PlanExpectObject(elem, path, err) ||
			!PlanCheckKeys(elem, path, step_keys, err) ||
			!PlanGetPercent(elem, "percent", path, false, &found, &percent, err))
			goto fail;
		PlanPathKey(keypath, path, "percent");
		if (!found)
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "is required");
			goto fail;
		}
		if (percent <= prev)
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "Each step must give the candidate a larger share than the one before.",
					 "must be greater than the previous step (%g), got %g", prev, percent);
			goto fail;
		}
		if (i == n - 1 && percent != 100)
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "The last step reaches 100 percent; reaching it promotes the candidate.",
					 "the last step must be 100, got %g", percent);
			goto fail;
		}
		prev = percent;

		if (percent < 100)
		{
			if (!PlanGetDuration(elem, "bake", path, "0", false, &bake, err))
				goto fail;
			if (json_object_get(elem, "bake") == NULL || json_is_null(json_object_get(elem, "bake")))
			{
				PlanPathKey(keypath, path, "bake");
				PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						 "Every step below 100 percent needs a bake time, e.g. \"4 hours\".",
						 "is required");
				goto fail;
			}
		}
		else
		{
			if (!PlanGetDuration(elem, "bake", path, "0", true, &bake, err))
				goto fail;
			if (bake.seconds != 0)
			{
				PlanPathKey(keypath, path, "bake");
				PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						 "Reaching 100 percent promotes the candidate; the watch after promotion is \"stable_period\".",
						 "must be zero on the 100 percent step, got \"%s\"", bake.text);
				goto fail;
			}
		}
		if (!PlanGetSamples(elem, "min_samples", path, 0, &min_samples, err))
			goto fail;
		if (percent == 100 && min_samples != 0)
		{
			PlanPathKey(keypath, path, "min_samples");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "Samples are collected on the steps before promotion.",
					 "must be zero on the 100 percent step, got " INT64_FORMAT, min_samples);
			goto fail;
		}
		json_array_append_new(steps, MakeStep(percent, &bake, min_samples));
	}
	return steps;

fail:
	json_decref(steps);
	return NULL;
}

/*
 * Normalizes the shadow phase: the candidate runs beside production on a
 * share of requests, its answers discarded. Returns JSON null for no phase
 * (only when the strategy does not need one).
 */
static json_t *
NormalizeShadow(json_t *value, bool required, PlanError *err)
{
	static const char *const path = "shadow";
	json_t	   *empty = NULL;
	json_t	   *out;
	double		percent = 100,
				similarity = 0.90,
				swap = 0.5;
	PlanInterval duration;
	PlanInterval grace;
	int64		min_samples;
	bool		write_intercept = true;
	bool		found;

	if (value == NULL || json_is_null(value))
	{
		if (!required)
			return json_null();
		value = empty = PlanObject();
	}
	if (!PlanExpectObject(value, path, err) ||
		!PlanCheckKeys(value, path, shadow_keys, err) ||
		!PlanGetPercent(value, "percent", path, false, &found, &percent, err) ||
		!PlanGetDuration(value, "duration", path, "3 days", false, &duration, err) ||
		!PlanGetDuration(value, "pair_grace", path, "1 hour", false, &grace, err) ||
		!PlanGetNumber(value, "min_similarity", path, &found, &similarity, err))
		goto fail;
	if (found && (similarity < 0 || similarity > 1))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "shadow.min_similarity",
				 "Similarity is a score from 0 to 1 (e.g. the cosine of two embeddings).",
				 "must be between 0 and 1, got %g", similarity);
		goto fail;
	}
	if (!PlanGetSamples(value, "min_samples", path, 5000, &min_samples, err) ||
		!PlanGetBool(value, "write_intercept", path, &found, &write_intercept, err) ||
		!PlanGetNumber(value, "model_swap_extension", path, &found, &swap, err))
		goto fail;
	if (found && (swap < 0 || swap > 10))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "shadow.model_swap_extension",
				 "It is the fraction of the duration added when the candidate changes the model (0.5 = 50% longer).",
				 "must be between 0 and 10, got %g", swap);
		goto fail;
	}

	out = PlanObject();
	json_object_set_new(out, "percent", PlanNumber(percent));
	PlanSetInterval(out, "duration", &duration);
	json_object_set_new(out, "min_similarity", PlanNumber(similarity));
	json_object_set_new(out, "min_samples", json_integer(min_samples));
	json_object_set_new(out, "write_intercept", json_boolean(write_intercept));
	json_object_set_new(out, "model_swap_extension", PlanNumber(swap));
	PlanSetInterval(out, "pair_grace", &grace);
	json_decref(empty);
	return out;

fail:
	json_decref(empty);
	return NULL;
}

/*
 * Normalizes the duration, sample floor and control variant of an A/B test:
 * control names one of the normalized variants (default: the first).
 */
static json_t *
NormalizeExperiment(json_t *value, json_t *variants, PlanError *err)
{
	static const char *const path = "experiment";
	json_t	   *empty = NULL;
	json_t	   *out;
	PlanInterval duration;
	int64		min_samples;
	const char *control = NULL;
	bool		found;
	bool		known = false;

	if (value == NULL || json_is_null(value))
		value = empty = PlanObject();
	if (!PlanExpectObject(value, path, err) ||
		!PlanCheckKeys(value, path, experiment_keys, err) ||
		!PlanGetDuration(value, "duration", path, "7 days", false, &duration, err) ||
		!PlanGetSamples(value, "min_samples", path, 1000, &min_samples, err) ||
		!PlanGetString(value, "control", path, &found, &control, err))
	{
		json_decref(empty);
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(variants); i++)
	{
		const char *name = json_string_value(json_object_get(json_array_get(variants, i), "name"));

		if (name == NULL)
			continue;
		if (!found && i == 0)
			control = name;
		if (control != NULL && strcmp(name, control) == 0)
			known = true;
	}
	if (!known)
	{
		json_decref(empty);
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "experiment.control",
				 "It names the variant every other variant is compared with.",
				 "unknown variant \"%s\"", control ? control : "");
		return NULL;
	}
	out = PlanObject();
	PlanSetInterval(out, "duration", &duration);
	json_object_set_new(out, "min_samples", json_integer(min_samples));
	json_object_set_new(out, "control", json_string(control));
	json_decref(empty);
	return out;
}

/* Refuses a key that the plan's strategy does not use. */
static bool
RefuseForStrategy(json_t *plan, const char *key, const char *strategy, const char *detail,
				  PlanError *err)
{
	json_t	   *value = json_object_get(plan, key);

	if (value == NULL || json_is_null(value) ||
		(json_is_array(value) && json_array_size(value) == 0))
		return true;
	return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, key, detail,
					"is not used by strategy %s", strategy);
}

/* Reads a word member that must be one of a list, with a default. */
static bool
GetWord(json_t *obj, const char *key, const char *const *words, const char *defval,
		const char **result, PlanError *err)
{
	bool		found;

	*result = defval;
	if (!PlanGetString(obj, key, "", &found, result, err))
		return false;
	if (found && PlanLookupWord(*result, words) < 0)
	{
		char		list[PLAN_TEXT_LEN];
		char		detail[PLAN_TEXT_LEN];

		PlanJoinWords(list, sizeof(list), words);
		snprintf(detail, sizeof(detail), "Known values: %s.", list);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, key, detail,
						"unknown %s \"%s\"", key, *result);
	}
	return true;
}

/* Sets a member from a normalizer's result; false (and nothing set) on NULL. */
static bool
SetPart(json_t *out, const char *key, json_t *part)
{
	if (part == NULL)
		return false;
	json_object_set_new(out, key, part);
	return true;
}

/*
 * Validates a plan and returns its normalized form (a new reference), or
 * NULL with the first problem in *err.
 */
json_t *
PlanNormalize(json_t *plan, PlanError *err)
{
	json_t	   *out;
	const char *strategy;
	const char *stickiness;
	bool		moves_traffic;
	bool		found;
	double		judge_rate = 0.10;
	double		budget;
	double		srm_alpha;
	PlanInterval iv;

	if (!json_is_object(plan))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "$",
				 "A plan is a JSON object such as {\"strategy\": \"canary\", \"steps\": [...]}.",
				 "must be an object, not %s", PlanTypeName(plan));
		return NULL;
	}
	if (!PlanCheckKeys(plan, "", top_keys, err) ||
		!GetWord(plan, "strategy", strategies, "canary", &strategy, err) ||
		!GetWord(plan, "stickiness", stickinesses, "unit", &stickiness, err))
		return NULL;
	moves_traffic = strcmp(strategy, "canary") == 0 || strcmp(strategy, "blue_green") == 0;

	out = PlanObject();
	json_object_set_new(out, "strategy", json_string(strategy));
	json_object_set_new(out, "stickiness", json_string(stickiness));

	/* strategy-specific parts */
	if (moves_traffic)
	{
		if (!RefuseForStrategy(plan, "variants", strategy,
							   "Variants belong to strategy ab_test.", err) ||
			!RefuseForStrategy(plan, "experiment", strategy,
							   "An experiment belongs to strategy ab_test.", err) ||
			!SetPart(out, "steps", NormalizeSteps(json_object_get(plan, "steps"), strategy, err)) ||
			!SetPart(out, "shadow", NormalizeShadow(json_object_get(plan, "shadow"), false, err)))
			goto fail;
		json_object_set_new(out, "variants", json_null());
		json_object_set_new(out, "experiment", json_null());
	}
	else if (strcmp(strategy, "shadow") == 0)
	{
		if (!RefuseForStrategy(plan, "steps", strategy,
							   "Strategy shadow never serves the candidate; its phase is \"shadow\".", err) ||
			!RefuseForStrategy(plan, "variants", strategy,
							   "Variants belong to strategy ab_test.", err) ||
			!RefuseForStrategy(plan, "experiment", strategy,
							   "An experiment belongs to strategy ab_test.", err) ||
			!SetPart(out, "shadow", NormalizeShadow(json_object_get(plan, "shadow"), true, err)))
			goto fail;
		json_object_set_new(out, "steps", json_array());
		json_object_set_new(out, "variants", json_null());
		json_object_set_new(out, "experiment", json_null());
	}
	else
	{
		json_t	   *variants = json_object_get(plan, "variants");

		if (!RefuseForStrategy(plan, "steps", strategy,
							   "An A/B test splits traffic by variant weights; its length is \"experiment\".", err))
			goto fail;
		if (variants == NULL || json_is_null(variants))
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "variants",
					 "Give at least two variants, e.g. [{\"name\": \"a\", \"version\": 1, \"weight\": 50}, {\"name\": \"b\", \"version\": 2, \"weight\": 50}].",
					 "is required for strategy ab_test");
			goto fail;
		}
		if (!SetPart(out, "variants", PlanNormalizeVariants(variants, "variants", err)) ||
			!SetPart(out, "experiment", NormalizeExperiment(json_object_get(plan, "experiment"),
															json_object_get(out, "variants"), err)) ||
			!SetPart(out, "shadow", NormalizeShadow(json_object_get(plan, "shadow"), false, err)))
			goto fail;
		json_object_set_new(out, "steps", json_array());
	}

	/* parts every strategy has */
	if (!SetPart(out, "rules", PlanNormalizeRules(json_object_get(plan, "rules"), "rules", err)) ||
		!SetPart(out, "flags", PlanNormalizeFlags(json_object_get(plan, "flags"), "flags", err)) ||
		!SetPart(out, "pinning", PlanNormalizePinning(json_object_get(plan, "pinning"), "pinning", err)) ||
		!PlanGetNumber(plan, "judge_rate", "", &found, &judge_rate, err))
		goto fail;
	if (found && (judge_rate < 0 || judge_rate > 1))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "judge_rate",
				 "It is the share of requests sent to the LLM judge, from 0 to 1 (0.10 = 10%).",
				 "must be between 0 and 1, got %g", judge_rate);
		goto fail;
	}
	json_object_set_new(out, "judge_rate", PlanNumber(judge_rate));

	if (!PlanGetDuration(plan, "evaluation_interval", "", "5 minutes", false, &iv, err))
		goto fail;
	PlanSetInterval(out, "evaluation_interval", &iv);
	if (!PlanGetDuration(plan, "stable_period", "", "4 hours", false, &iv, err))
		goto fail;
	PlanSetInterval(out, "stable_period", &iv);

	/* the error budget: see SplitBudget() in plan_gates.c */
	budget = PLAN_DEFAULT_ALPHA;
	if (!PlanGetNumber(plan, "alpha", "", &found, &budget, err))
		goto fail;
	if (found && (budget <= 0 || budget >= 0.5))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "alpha",
				 "It is the chance that an identical candidate is ever held, sent for approval or rolled back, split over the gates (0.01 = 1%).",
				 "must be greater than 0 and below 0.5, got %g", budget);
		goto fail;
	}
	srm_alpha = budget * PLAN_SRM_SHARE;
	if (!PlanGetNumber(plan, "srm_alpha", "", &found, &srm_alpha, err))
		goto fail;
	if (found && (srm_alpha <= 0 || srm_alpha >= budget))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, "srm_alpha",
				 "It is the part of the plan's \"alpha\" the sample-ratio check spends; the gates share the rest.",
				 "must be greater than 0 and below alpha (%g), got %g", budget, srm_alpha);
		goto fail;
	}
	json_object_set_new(out, "alpha", PlanNumber(budget));
	json_object_set_new(out, "srm_alpha", PlanNumber(srm_alpha));

	if (!SetPart(out, "blackouts", PlanNormalizeBlackouts(json_object_get(plan, "blackouts"), "blackouts", err)) ||
		!SetPart(out, "extend", PlanNormalizeExtend(json_object_get(plan, "extend"), "extend", err)) ||
		!SetPart(out, "gates", PlanNormalizeGates(json_object_get(plan, "gates"), "gates", budget, srm_alpha, err)))
		goto fail;
	return out;

fail:
	json_decref(out);
	return NULL;
}

/*
 * Converts a jsonb datum to a jansson value, numbers as reals. Returns NULL
 * with *err set when jansson cannot represent it (e.g. a number beyond the
 * range of a double).
 */
json_t *
PlanLoadJsonb(Datum jsonb_datum, PlanError *err)
{
	Jsonb	   *jb = DatumGetJsonbP(jsonb_datum);
	char	   *text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	json_error_t jerr;
	json_t	   *plan;

	plan = json_loads(text, PLAN_JSON_FLAGS, &jerr);
	pfree(text);
	if (plan == NULL)
		PlanFail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, "$",
				 "The plan could not be read as JSON within the limits of the plan parser.",
				 "%s", jerr.text);
	return plan;
}

/* Serializes a plan compactly into palloc'd memory. */
char *
PlanDump(json_t *plan)
{
	char	   *raw = json_dumps(plan, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	char	   *result;

	if (raw == NULL)
		elog(ERROR, "could not serialize a rollout plan");
	result = pstrdup(raw);
	free(raw);
	return result;
}

/* Raises the error recorded in *err. */
void
PlanRaiseError(PlanError *err)
{
	ereport(ERROR,
			(errcode(err->sqlerrcode),
			 errmsg("invalid rollout plan: %s: %s", err->path, err->reason),
			 err->detail[0] ? errdetail("%s", err->detail) : 0));
}

/*
 * rollout._normalize_plan(plan jsonb) RETURNS jsonb: the normalized plan,
 * or an error naming the JSON path of the first problem.
 */
Datum
rollout_normalize_plan(PG_FUNCTION_ARGS)
{
	PlanError	err;
	json_t	   *volatile in = NULL;
	json_t	   *volatile out = NULL;
	char	   *text = NULL;

	memset(&err, 0, sizeof(err));
	PG_TRY();
	{
		in = PlanLoadJsonb(PG_GETARG_DATUM(0), &err);
		if (in != NULL)
			out = PlanNormalize(in, &err);
		if (out != NULL)
			text = PlanDump(out);
	}
	PG_FINALLY();
	{
		json_decref(in);
		json_decref(out);
	}
	PG_END_TRY();

	if (err.failed)
		PlanRaiseError(&err);
	PG_RETURN_DATUM(OidInputFunctionCall(F_JSONB_IN, text, JSONBOID, -1));
}
