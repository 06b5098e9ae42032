/*-------------------------------------------------------------------------
 *
 * plan_gates.c
 *		Gate specifications of a rollout plan.
 *
 * A gate compares one metric of the candidate with the baseline: a
 * comparison (rate, mean, median, p95, p99), a threshold (an absolute
 * margin or a relative ratio), a direction, a test, and the action taken
 * when it fails. Which comparison goes with which test is fixed here and
 * documented in docs/plans.md ("Gates"):
 *
 *	rate	event_share (default), proportion, sequential, hard_limit
 *	mean	sequential (default), welch, hard_limit
 *	median	event_share (default), mann_whitney, hard_limit
 *	p95/p99	event_share (default), hard_limit
 *
 * event_share and sequential are always valid: they may be looked at every
 * evaluation, and their data is the whole canary, not a rolling window.
 * The others are fixed-horizon tests over a rolling window, for explicit
 * plans and analysts (docs/statistics.md, "Peeking").
 *
 * proportion and sequential compare differences, so they take a margin,
 * not a ratio; event_share on a rate takes a margin.
 *
 * Each gate has two thresholds: "margin"/"ratio" is what non-inferiority
 * must show to pass, "fail_margin"/"fail_ratio" (default: the same) is the
 * degradation that must be shown to fail. A gate without "alpha" gets its
 * share of the plan's error budget (PlanNormalizeGates).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "plan.h"

/* Built-in metrics: the columns rollout.record() fills. */
typedef struct MetricInfo
{
	const char *name;
	bool		boolean;		/* a rate of true values, else continuous */
	bool		higher_is_better;
} MetricInfo;

static const MetricInfo metrics[] = {
	{"success", true, true},
	{"quality", false, true},
	{"error", true, false},
	{"safety", true, false},
	{"latency_ms", false, false},
	{"cost", false, false},
	{"feedback", false, true},
};

static const char *const metric_names[] = {
	"success", "quality", "error", "safety", "latency_ms", "cost", "feedback",
	"metrics.<name>", NULL
};
static const char *const gate_keys[] = {
	"name", "metric", "kind", "comparison", "margin", "ratio", "higher_is_better",
	"test", "mode", "alpha", "min_samples", "window", "window_seconds", "consecutive",
	"action", "alert", "fail_margin", "fail_ratio", "pass_alpha", "prove_at_percent", NULL
};
static const char *const kinds[] = {"boolean", "continuous", NULL};
static const char *const comparisons[] = {"rate", "mean", "median", "p95", "p99", NULL};
static const char *const tests[] = {
	"event_share", "proportion", "mann_whitney", "welch", "sequential", "hard_limit", NULL
};
static const char *const modes[] = {"non_inferiority", "guardrail", NULL};
static const char *const actions[] = {
	"hold", "hold_for_approval", "rollback", "rollback_now", "alert", "freeze", "dry_run", NULL
};

/* Tests allowed for each comparison, the first one the default. */
static const char *const rate_tests[] = {"event_share", "proportion", "sequential", "hard_limit", NULL};
static const char *const mean_tests[] = {"sequential", "welch", "hard_limit", NULL};
static const char *const median_tests[] = {"event_share", "mann_whitney", "hard_limit", NULL};
static const char *const quantile_tests[] = {"event_share", "hard_limit", NULL};

/*
 * The default gates (seed 001), written as a user would and normalized
 * like any other gates; docs/plans.md ("Default gates") says why each is
 * what it is. Every one is peeking-safe (event_share or sequential), takes
 * its alpha from the plan's error budget, acts on shown harm at any count,
 * and must show non-inferiority only from the 25% step on, where the
 * traffic makes that possible within the presets' bake times.
 */
static const char *const default_gates_json =
"["
"{\"name\": \"success\", \"metric\": \"success\", \"comparison\": \"rate\", \"test\": \"event_share\","
" \"margin\": 0.02, \"fail_margin\": 0, \"prove_at_percent\": 25, \"min_samples\": 500,"
" \"window\": \"1 hour\", \"action\": \"hold\"},"
"{\"name\": \"quality\", \"metric\": \"quality\", \"comparison\": \"mean\", \"test\": \"sequential\","
" \"margin\": 0.1, \"fail_margin\": 0.033, \"prove_at_percent\": 25, \"min_samples\": 200,"
" \"window\": \"1 hour\", \"action\": \"hold\", \"alert\": true},"
"{\"name\": \"reliability\", \"metric\": \"error\", \"comparison\": \"rate\", \"test\": \"event_share\","
" \"margin\": 0.01, \"fail_margin\": 0, \"prove_at_percent\": 25, \"min_samples\": 500,"
" \"window\": \"30 minutes\", \"action\": \"rollback\", \"alert\": true},"
"{\"name\": \"cost\", \"metric\": \"cost\", \"comparison\": \"median\", \"test\": \"event_share\","
" \"ratio\": 0.20, \"fail_ratio\": 0.067, \"prove_at_percent\": 25, \"min_samples\": 300,"
" \"window\": \"2 hours\", \"action\": \"hold_for_approval\"},"
"{\"name\": \"safety\", \"metric\": \"safety\", \"comparison\": \"rate\", \"test\": \"event_share\","
" \"margin\": 0, \"mode\": \"guardrail\", \"min_samples\": 0, \"window\": \"1 hour\","
" \"action\": \"rollback_now\", \"alert\": true},"
"{\"name\": \"latency\", \"metric\": \"latency_ms\", \"comparison\": \"p95\", \"test\": \"event_share\","
" \"ratio\": 0.15, \"fail_ratio\": 0.05, \"prove_at_percent\": 25, \"min_samples\": 500,"
" \"window\": \"30 minutes\", \"action\": \"hold\", \"alert\": true}"
"]";

/* Reads a word member from a list, with a default; errors name the list. */
static bool
GetWord(json_t *gate, const char *key, const char *path, const char *const *words,
		const char *defval, const char *what, const char **result, PlanError *err)
{
	bool		found;

	*result = defval;
	if (!PlanGetString(gate, key, path, &found, result, err))
		return false;
	if (found && PlanLookupWord(*result, words) < 0)
	{
		char		keypath[PLAN_PATH_LEN];
		char		list[PLAN_TEXT_LEN];
		char		detail[PLAN_TEXT_LEN];

		PlanPathKey(keypath, path, key);
		PlanJoinWords(list, sizeof(list), words);
		snprintf(detail, sizeof(detail), "Known %ss: %s.", what, list);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, detail,
						"unknown %s \"%s\"", what, *result);
	}
	return true;
}

/*
 * Resolves a gate's metric: built-in, or "metrics.<name>" (a key of the
 * metrics argument of rollout.record()). Sets *info for a built-in one.
 */
static bool
GetMetric(json_t *gate, const char *path, const char **metric, const MetricInfo **info,
		  PlanError *err)
{
	char		keypath[PLAN_PATH_LEN];
	char		list[PLAN_TEXT_LEN];
	char		detail[PLAN_TEXT_LEN];
	bool		found;

	*info = NULL;
	PlanPathKey(keypath, path, "metric");
	if (!PlanGetString(gate, "metric", path, &found, metric, err))
		return false;
	if (!found)
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "is required");
	for (int i = 0; i < lengthof(metrics); i++)
	{
		if (strcmp(*metric, metrics[i].name) == 0)
		{
			*info = &metrics[i];
			return true;
		}
	}
	if (strncmp(*metric, "metrics.", 8) == 0 && PlanIsIdentifier(*metric + 8))
		return true;
	PlanJoinWords(list, sizeof(list), metric_names);
	snprintf(detail, sizeof(detail), "Known metrics: %s.", list);
	return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, detail,
					"unknown metric \"%s\"", *metric);
}

/*
 * Reads the fail threshold: "fail_margin" with a margin, "fail_ratio" with
 * a ratio, at most the pass threshold; absent, the pass threshold itself.
 */
static bool
GetFailThreshold(json_t *gate, const char *path, bool is_margin, double threshold,
				 bool is_rate, json_t *out, PlanError *err)
{
	const char *key = is_margin ? "fail_margin" : "fail_ratio";
	const char *other = is_margin ? "fail_ratio" : "fail_margin";
	double		value = threshold;
	bool		found;
	char		keypath[PLAN_PATH_LEN];

	if (json_object_get(gate, other) != NULL && !json_is_null(json_object_get(gate, other)))
	{
		PlanPathKey(keypath, path, other);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						"The fail threshold is of the same kind as the threshold: \"fail_margin\" with \"margin\", \"fail_ratio\" with \"ratio\".",
						"is not allowed with \"%s\"", is_margin ? "margin" : "ratio");
	}
	if (!PlanGetNumber(gate, key, path, &found, &value, err))
		return false;
	PlanPathKey(keypath, path, key);
	if (found && (value < 0 || value > threshold))
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						"It is the degradation a gate must show to fail, from 0 up to the threshold that non-inferiority must show to pass.",
						"must be between 0 and %g, got %g", threshold, value);
	json_object_set_new(out, "fail_margin", is_margin ? PlanNumber(value) : json_null());
	json_object_set_new(out, "fail_ratio", is_margin ? json_null() : PlanNumber(value));
	(void) is_rate;
	return true;
}

/* Reads the threshold: exactly one of margin (absolute) and ratio (relative). */
static bool
GetThreshold(json_t *gate, const char *path, bool is_rate, const char *test,
			 json_t *out, PlanError *err)
{
	double		margin = 0,
				ratio = 0;
	bool		has_margin,
				has_ratio;
	char		keypath[PLAN_PATH_LEN];

	if (!PlanGetNumber(gate, "margin", path, &has_margin, &margin, err) ||
		!PlanGetNumber(gate, "ratio", path, &has_ratio, &ratio, err))
		return false;
	if (has_margin == has_ratio)
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
						"A gate's threshold is an absolute \"margin\" (0.01 = one point of a rate) or a relative \"ratio\" (0.20 = +20%).",
						has_margin ? "must not give both \"margin\" and \"ratio\"" :
						"must give \"margin\" or \"ratio\"");
	if (has_margin)
	{
		PlanPathKey(keypath, path, "margin");
		if (margin < 0)
			return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
							"The threshold is how much worse the candidate may be; the direction comes from \"higher_is_better\".",
							"must not be negative, got %g", margin);
		if (is_rate && margin >= 1)
			return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
							"must be less than 1 for a rate, got %g", margin);
		json_object_set_new(out, "margin", PlanNumber(margin));
		json_object_set_new(out, "ratio", json_null());
	}
	else
	{
		PlanPathKey(keypath, path, "ratio");
		if (ratio < 0 || ratio > 10)
			return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
							"The threshold is how much worse the candidate may be, relative to the baseline (0.20 = 20%).",
							"must be between 0 and 10, got %g", ratio);
		if (strcmp(test, "proportion") == 0 || strcmp(test, "sequential") == 0 ||
			(is_rate && strcmp(test, "event_share") == 0))
			return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
							"The proportion and sequential tests, and event_share on a rate, compare differences; give an absolute \"margin\".",
							"is not supported by test \"%s\"", test);
		json_object_set_new(out, "margin", json_null());
		json_object_set_new(out, "ratio", PlanNumber(ratio));
	}
	return GetFailThreshold(gate, path, has_margin, has_margin ? margin : ratio, is_rate, out, err);
}

/* Normalizes one gate into a new object with every field. */
static json_t *
NormalizeGate(json_t *gate, const char *path, PlanError *err)
{
	const MetricInfo *info;
	const char *metric,
			   *kind,
			   *comparison,
			   *test,
			   *mode,
			   *action,
			   *name;
	const char *const *allowed_tests;
	bool		is_rate,
				found,
				hib,
				alert;
	double		alpha = 0.05,
				pass_alpha = 0.05,
				prove_at = 0,
				threshold;
	bool		has_alpha;
	int64		min_samples,
				consecutive = 1;
	PlanInterval window;
	char		keypath[PLAN_PATH_LEN];
	json_t	   *out;

	if (!PlanExpectObject(gate, path, err) ||
		!PlanCheckKeys(gate, path, gate_keys, err) ||
		!GetMetric(gate, path, &metric, &info, err) ||
		!GetWord(gate, "kind", path, kinds,
				 info == NULL || !info->boolean ? "continuous" : "boolean", "kind", &kind, err))
		return NULL;
	PlanPathKey(keypath, path, "kind");
	if (info != NULL && strcmp(kind, info->boolean ? "boolean" : "continuous") != 0)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "Only custom metrics (metrics.<name>) choose their kind.",
				 "metric \"%s\" is %s", metric, info->boolean ? "boolean" : "continuous");
		return NULL;
	}
	if (!GetWord(gate, "comparison", path, comparisons,
				 strcmp(kind, "boolean") == 0 ? "rate" : "mean", "comparison", &comparison, err))
		return NULL;
	is_rate = strcmp(comparison, "rate") == 0;
	PlanPathKey(keypath, path, "comparison");
	if (is_rate != (strcmp(kind, "boolean") == 0))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "A boolean metric is compared by \"rate\"; a continuous one by \"mean\", \"median\", \"p95\" or \"p99\".",
				 is_rate ? "\"rate\" needs a boolean metric; \"%s\" is continuous" :
				 "\"%s\" is boolean; compare it by \"rate\"",
				 metric);
		return NULL;
	}

	if (is_rate)
		allowed_tests = rate_tests;
	else if (strcmp(comparison, "mean") == 0)
		allowed_tests = mean_tests;
	else if (strcmp(comparison, "median") == 0)
		allowed_tests = median_tests;
	else
		allowed_tests = quantile_tests;
	/* event_share counts values above a threshold in the window sketches */
	if (!is_rate && allowed_tests != mean_tests &&
		strcmp(metric, "latency_ms") != 0 && strcmp(metric, "cost") != 0)
		allowed_tests++;
	/* the windows keep no sum of squares of feedback: its mean is a limit */
	if (allowed_tests == mean_tests && strcmp(metric, "feedback") == 0)
		allowed_tests += 2;
	if (!GetWord(gate, "test", path, tests, allowed_tests[0], "test", &test, err))
		return NULL;
	/* the windows keep no sum of squares of feedback */
	if (strcmp(metric, "feedback") == 0 &&
		(strcmp(test, "sequential") == 0 || strcmp(test, "welch") == 0))
	{
		PlanPathKey(keypath, path, "test");
		PlanFail(err, ERRCODE_FEATURE_NOT_SUPPORTED, keypath,
				 "The outcome windows keep the count and sum of feedback, not its variance; compare it with \"hard_limit\".",
				 "test \"%s\" cannot compare feedback", test);
		return NULL;
	}

	if (PlanLookupWord(test, allowed_tests) < 0)
	{
		char		list[PLAN_TEXT_LEN];
		char		detail[PLAN_TEXT_LEN];

		PlanPathKey(keypath, path, "test");
		PlanJoinWords(list, sizeof(list), allowed_tests);
		snprintf(detail, sizeof(detail), "Comparison \"%s\" takes: %s.", comparison, list);
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, detail,
				 "test \"%s\" cannot compare a %s", test, comparison);
		return NULL;
	}

	out = PlanObject();
	if (!GetThreshold(gate, path, is_rate, test, out, err))
		goto fail;
	threshold = json_number_value(json_object_get(out, json_is_null(json_object_get(out, "margin")) ? "ratio" : "margin"));

	hib = info ? info->higher_is_better : false;
	if (!PlanGetBool(gate, "higher_is_better", path, &found, &hib, err))
		goto fail;
	if (!found && info == NULL)
	{
		PlanPathKey(keypath, path, "higher_is_better");
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "A custom metric does not say which way is better.",
				 "is required for a custom metric");
		goto fail;
	}

	if (!GetWord(gate, "mode", path, modes, threshold > 0 ? "non_inferiority" : "guardrail",
				 "mode", &mode, err) ||
		!PlanGetNumber(gate, "alpha", path, &has_alpha, &alpha, err))
		goto fail;
	if (has_alpha && (alpha <= 0 || alpha >= 0.5))
	{
		PlanPathKey(keypath, path, "alpha");
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "It is the chance the gate fails an identical candidate; omit it to take the gate's share of the plan's \"alpha\".",
				 "must be greater than 0 and below 0.5, got %g", alpha);
		goto fail;
	}
	if (!PlanGetNumber(gate, "pass_alpha", path, &found, &pass_alpha, err))
		goto fail;
	if (found && (pass_alpha <= 0 || pass_alpha >= 0.5))
	{
		PlanPathKey(keypath, path, "pass_alpha");
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "It is the chance the gate passes a candidate worse than its threshold.",
				 "must be greater than 0 and below 0.5, got %g", pass_alpha);
		goto fail;
	}
	if (!PlanGetNumber(gate, "prove_at_percent", path, &found, &prove_at, err))
		goto fail;
	if (found && (prove_at < 0 || prove_at > 100))
	{
		PlanPathKey(keypath, path, "prove_at_percent");
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "Below this candidate share the gate passes when no harm is shown; from it on, and at the last step before 100%, non-inferiority must be shown.",
				 "must be between 0 and 100, got %g", prove_at);
		goto fail;
	}
	if (!PlanGetSamples(gate, "min_samples", path, 100, &min_samples, err) ||
		!PlanGetDuration(gate, "window", path, "1 hour", false, &window, err) ||
		!PlanGetInteger(gate, "consecutive", path, &found, &consecutive, err))
		goto fail;
	if (found && (consecutive < 1 || consecutive > 100))
	{
		PlanPathKey(keypath, path, "consecutive");
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "It is how many evaluation windows in a row must fail before the action is taken.",
				 "must be between 1 and 100, got " INT64_FORMAT, consecutive);
		goto fail;
	}

	if (!GetWord(gate, "action", path, actions, "hold", "action", &action, err))
		goto fail;
	alert = strcmp(action, "alert") == 0 || strcmp(action, "rollback") == 0 ||
		strcmp(action, "rollback_now") == 0;
	if (!PlanGetBool(gate, "alert", path, &found, &alert, err))
		goto fail;
	PlanPathKey(keypath, path, "alert");
	if (found && !alert && strcmp(action, "alert") == 0)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
				 "must be true when the action is \"alert\"");
		goto fail;
	}
	if (found && alert && strcmp(action, "dry_run") == 0)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "A dry_run gate records its verdicts and never acts.",
				 "must be false when the action is \"dry_run\"");
		goto fail;
	}

	/* the name defaults to the metric (without "metrics.") */
	name = info ? metric : metric + 8;
	if (!PlanGetString(gate, "name", path, &found, &name, err))
		goto fail;
	if (found && !PlanIsIdentifier(name))
	{
		PlanPathKey(keypath, path, "name");
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
				 "Names are 1 to 63 characters: lowercase letters, digits, \"_\" and \"-\", starting with a letter or \"_\".",
				 "invalid name \"%s\"", name);
		goto fail;
	}

	json_object_set_new(out, "name", json_string(name));
	json_object_set_new(out, "metric", json_string(metric));
	json_object_set_new(out, "kind", json_string(kind));
	json_object_set_new(out, "comparison", json_string(comparison));
	json_object_set_new(out, "higher_is_better", json_boolean(hib));
	json_object_set_new(out, "test", json_string(test));
	json_object_set_new(out, "mode", json_string(mode));
	/* PlanNormalizeGates fills a missing alpha from the plan's budget */
	json_object_set_new(out, "alpha", has_alpha ? PlanNumber(alpha) : json_null());
	json_object_set_new(out, "pass_alpha", PlanNumber(pass_alpha));
	json_object_set_new(out, "prove_at_percent", PlanNumber(prove_at));
	json_object_set_new(out, "min_samples", json_integer(min_samples));
	PlanSetInterval(out, "window", &window);
	json_object_set_new(out, "consecutive", json_integer(consecutive));
	json_object_set_new(out, "action", json_string(action));
	json_object_set_new(out, "alert", json_boolean(alert));
	return out;

fail:
	json_decref(out);
	return NULL;
}

/* Whether a failing gate with this action holds, asks or rolls back. */
static bool
ActionStops(const char *action)
{
	return strcmp(action, "dry_run") != 0 && strcmp(action, "alert") != 0;
}

/*
 * Splits the plan's error budget: the sample-ratio check takes srm_alpha
 * (a tenth unless the plan says otherwise, PLAN_SRM_SHARE) and the gates
 * without an "alpha" that stop a rollout (hold, ask for approval, roll
 * back, freeze) share the rest equally (Bonferroni), so that with
 * always-valid tests the chance an identical candidate is ever stopped
 * stays within the budget. Alert and dry-run gates get the same share.
 * A gate that gives its own alpha keeps it, outside the budget: plans of
 * 0.1.0 spelled 0.05 on every gate, and must still load.
 */
static void
SplitBudget(json_t *gates, double budget, double srm_alpha)
{
	int			shares = 0;
	double		share;

	for (size_t i = 0; i < json_array_size(gates); i++)
	{
		json_t	   *g = json_array_get(gates, i);

		if (ActionStops(json_string_value(json_object_get(g, "action"))) &&
			json_is_null(json_object_get(g, "alpha")))
			shares++;
	}
	share = (budget - srm_alpha) / Max(shares, 1);
	for (size_t i = 0; i < json_array_size(gates); i++)
	{
		json_t	   *g = json_array_get(gates, i);

		if (json_is_null(json_object_get(g, "alpha")))
			json_object_set_new(g, "alpha", PlanNumber(share));
	}
}

/*
 * Normalizes the gates of a plan. Absent (or null) means the default
 * gates; an empty list is refused, since time alone never promotes.
 * budget is the plan's alpha, split over the gates by SplitBudget().
 */
json_t *
PlanNormalizeGates(json_t *value, const char *path, double budget, double srm_alpha,
				   PlanError *err)
{
	json_t	   *out;
	bool		acts = false;

	if (value == NULL || json_is_null(value))
		return PlanDefaultGates(budget, srm_alpha);
	if (!PlanExpectArray(value, path, PLAN_MAX_GATES, err))
		return NULL;
	if (json_array_size(value) == 0)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
				 "Promotion needs every gate to pass; omit \"gates\" for the default gates.",
				 "must not be empty");
		return NULL;
	}
	out = json_array();
	for (size_t i = 0; i < json_array_size(value); i++)
	{
		char		elempath[PLAN_PATH_LEN];
		json_t	   *gate;
		const char *name;

		PlanPathIndex(elempath, path, i);
		if ((gate = NormalizeGate(json_array_get(value, i), elempath, err)) == NULL)
			goto fail;
		name = json_string_value(json_object_get(gate, "name"));
		for (size_t j = 0; j < json_array_size(out); j++)
		{
			if (strcmp(json_string_value(json_object_get(json_array_get(out, j), "name")), name) == 0)
			{
				char		keypath[PLAN_PATH_LEN];

				PlanPathKey(keypath, elempath, "name");
				PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						 "Gate names identify gate results; give each gate its own \"name\".",
						 "duplicate gate \"%s\"", name);
				json_decref(gate);
				goto fail;
			}
		}
		if (strcmp(json_string_value(json_object_get(gate, "action")), "dry_run") != 0)
			acts = true;
		json_array_append_new(out, gate);
	}
	if (!acts)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
				 "Dry-run gates never block promotion, so at least one gate must act.",
				 "must have at least one gate whose action is not \"dry_run\"");
		goto fail;
	}
	SplitBudget(out, budget, srm_alpha);
	return out;

fail:
	json_decref(out);
	return NULL;
}

/* The default gates, normalized with the given budget (a new reference). */
json_t *
PlanDefaultGates(double budget, double srm_alpha)
{
	json_error_t jerr;
	PlanError	err;
	json_t	   *in = json_loads(default_gates_json, 0, &jerr);
	json_t	   *out;

	if (in == NULL)
		elog(ERROR, "invalid default gates: %s", jerr.text);
	memset(&err, 0, sizeof(err));
	out = PlanNormalizeGates(in, "gates", budget, srm_alpha, &err);
	json_decref(in);
	if (out == NULL)
		elog(ERROR, "invalid default gates: %s: %s", err.path, err.reason);
	return out;
}
