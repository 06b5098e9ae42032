/*-------------------------------------------------------------------------
 *
 * plan_parts.c
 *		Smaller parts of a rollout plan: tenant/cohort rules, capability
 *		flags, A/B variants, session pinning and the sample-collection rule.
 *
 * Each normalizer takes the member as given (NULL when absent) and returns
 * a new normalized value, or NULL with the first problem in *err.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "plan.h"

/* Longest tenant name or attribute value, in bytes. */
#define PLAN_MAX_VALUE_LEN 256

static const char *const rule_keys[] = {"name", "tenants", "attribute", "values", "percent", "arm", NULL};
static const char *const flag_keys[] = {"name", "percent", NULL};
static const char *const variant_keys[] = {"name", "version", "weight", NULL};
static const char *const pinning_keys[] = {"enabled", "drain", "drain_seconds", NULL};
static const char *const extend_keys[] = {"allow_boost", "max_extensions", NULL};

/* Whether an array holds a string equal to s among its first n elements. */
static bool
ArrayHasString(json_t *array, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
	{
		json_t	   *v = json_array_get(array, i);

		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/*
 * Normalizes a required, non-empty list of distinct non-empty strings
 * (tenant names or attribute values).
 */
static json_t *
NormalizeStringList(json_t *obj, const char *key, const char *path, PlanError *err)
{
	json_t	   *value = json_object_get(obj, key);
	char		keypath[PLAN_PATH_LEN];
	size_t		n;

	PlanPathKey(keypath, path, key);
	if (value == NULL || json_is_null(value))
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "is required");
		return NULL;
	}
	if (!PlanExpectArray(value, keypath, PLAN_MAX_NAMES, err))
		return NULL;
	n = json_array_size(value);
	if (n == 0)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "must not be empty");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
	{
		json_t	   *v = json_array_get(value, i);
		char		elempath[PLAN_PATH_LEN];

		PlanPathIndex(elempath, keypath, i);
		if (!json_is_string(v))
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, elempath, NULL,
					 "must be a string, not %s", PlanTypeName(v));
			return NULL;
		}
		if (json_string_length(v) == 0 || json_string_length(v) > PLAN_MAX_VALUE_LEN)
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, elempath, NULL,
					 "must have 1 to %d bytes", PLAN_MAX_VALUE_LEN);
			return NULL;
		}
		if (ArrayHasString(value, i, json_string_value(v)))
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, elempath, NULL,
					 "duplicate value \"%s\"", json_string_value(v));
			return NULL;
		}
	}
	return json_deep_copy(value);
}

/* Reads a required name member: a lowercase identifier. */
static bool
GetName(json_t *obj, const char *key, const char *path, const char **name, PlanError *err)
{
	char		keypath[PLAN_PATH_LEN];
	bool		found;

	if (!PlanGetString(obj, key, path, &found, name, err))
		return false;
	PlanPathKey(keypath, path, key);
	if (!found)
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "is required");
	if (!PlanIsIdentifier(*name))
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						"Names are 1 to 63 characters: lowercase letters, digits, \"_\" and \"-\", starting with a letter or \"_\".",
						"invalid name \"%s\"", *name);
	return true;
}

/* Reads a required percent member in [0, 100]. */
static bool
GetRequiredPercent(json_t *obj, const char *path, bool allow_zero, double *percent,
				   PlanError *err)
{
	char		keypath[PLAN_PATH_LEN];
	bool		found;

	if (!PlanGetPercent(obj, "percent", path, allow_zero, &found, percent, err))
		return false;
	if (!found)
	{
		PlanPathKey(keypath, path, "percent");
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "is required");
	}
	return true;
}

/*
 * Normalizes one tenant/cohort rule: {"tenants": [...], "percent": N} or
 * {"attribute": "region", "values": [...], "percent": N}; instead of
 * "percent", "arm" fixes the arm served (stable, candidate or an A/B
 * variant: route() checks it against the rollout), and an optional "name"
 * names the rule in route()'s reason (docs/routing.md).
 */
static json_t *
NormalizeRule(json_t *rule, const char *path, PlanError *err)
{
	bool		has_tenants,
				has_attribute;
	json_t	   *out;
	json_t	   *list;
	double		percent = 0;
	const char *arm = NULL;
	const char *name = NULL;
	json_t	   *arm_value;

	if (!PlanExpectObject(rule, path, err) ||
		!PlanCheckKeys(rule, path, rule_keys, err))
		return NULL;
	has_tenants = json_object_get(rule, "tenants") != NULL;
	has_attribute = json_object_get(rule, "attribute") != NULL ||
		json_object_get(rule, "values") != NULL;
	if (has_tenants == has_attribute)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
				 "A rule is {\"tenants\": [...], \"percent\": N} or {\"attribute\": \"region\", \"values\": [...], \"percent\": N}.",
				 has_tenants ? "must not mix \"tenants\" with \"attribute\"/\"values\"" :
				 "must give \"tenants\", or \"attribute\" and \"values\"");
		return NULL;
	}
	arm_value = json_object_get(rule, "arm");
	if (arm_value != NULL && !json_is_null(arm_value))
	{
		json_t	   *pct = json_object_get(rule, "percent");

		if (pct != NULL && !json_is_null(pct))
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
					 "A rule either sets the candidate share (\"percent\") or fixes the arm served (\"arm\").",
					 "must not give both \"percent\" and \"arm\"");
			return NULL;
		}
		if (!GetName(rule, "arm", path, &arm, err))
			return NULL;
	}
	else if (!GetRequiredPercent(rule, path, true, &percent, err))
		return NULL;
	if (json_object_get(rule, "name") != NULL && !json_is_null(json_object_get(rule, "name")) &&
		!GetName(rule, "name", path, &name, err))
		return NULL;

	out = PlanObject();
	if (name != NULL)
		json_object_set_new(out, "name", json_string(name));
	if (has_tenants)
	{
		if ((list = NormalizeStringList(rule, "tenants", path, err)) == NULL)
			goto fail;
		json_object_set_new(out, "tenants", list);
	}
	else
	{
		const char *attribute;

		if (!GetName(rule, "attribute", path, &attribute, err))
			goto fail;
		json_object_set_new(out, "attribute", json_string(attribute));
		if ((list = NormalizeStringList(rule, "values", path, err)) == NULL)
			goto fail;
		json_object_set_new(out, "values", list);
	}
	if (arm != NULL)
		json_object_set_new(out, "arm", json_string(arm));
	else
		json_object_set_new(out, "percent", PlanNumber(percent));
	return out;

fail:
	json_decref(out);
	return NULL;
}

/* Normalizes the ordered tenant/cohort rules; the first match decides. */
json_t *
PlanNormalizeRules(json_t *value, const char *path, PlanError *err)
{
	return PlanNormalizeEach(value, path, NormalizeRule, err);
}

/* Whether an array of objects holds one whose "name" equals name. */
static bool
HasName(json_t *array, const char *name)
{
	for (size_t i = 0; i < json_array_size(array); i++)
	{
		json_t	   *v = json_object_get(json_array_get(array, i), "name");

		if (v != NULL && strcmp(json_string_value(v), name) == 0)
			return true;
	}
	return false;
}

/* Normalizes capability flags: [{"name": "db_write", "percent": 10}]. */
json_t *
PlanNormalizeFlags(json_t *value, const char *path, PlanError *err)
{
	json_t	   *out;

	if (value == NULL || json_is_null(value))
		return json_array();
	if (!PlanExpectArray(value, path, PLAN_MAX_LIST, err))
		return NULL;
	out = json_array();
	for (size_t i = 0; i < json_array_size(value); i++)
	{
		json_t	   *flag = json_array_get(value, i);
		json_t	   *o;
		char		elempath[PLAN_PATH_LEN];
		char		keypath[PLAN_PATH_LEN];
		const char *name;
		double		percent = 0;

		PlanPathIndex(elempath, path, i);
		if (!PlanExpectObject(flag, elempath, err) ||
			!PlanCheckKeys(flag, elempath, flag_keys, err) ||
			!GetName(flag, "name", elempath, &name, err) ||
			!GetRequiredPercent(flag, elempath, true, &percent, err))
			goto fail;
		if (strcmp(name, "stable") == 0)
		{
			PlanPathKey(keypath, elempath, "name");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "route() reports \"stable\" for requests outside the test; a variant needs another name.",
					 "\"stable\" is reserved");
			goto fail;
		}
		if (HasName(out, name))
		{
			PlanPathKey(keypath, elempath, "name");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "Each capability flag is listed once.", "duplicate flag \"%s\"", name);
			goto fail;
		}
		o = PlanObject();
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "percent", PlanNumber(percent));
		json_array_append_new(out, o);
	}
	return out;

fail:
	json_decref(out);
	return NULL;
}

/*
 * Normalizes the variants of an A/B test: at least two, distinct names
 * other than "stable", positive version numbers (rollout.start checks they exist), weights in
 * (0, 100] summing to 100.
 */
json_t *
PlanNormalizeVariants(json_t *value, const char *path, PlanError *err)
{
	json_t	   *out;
	int64		total_cents = 0;
	size_t		n;

	if (!PlanExpectArray(value, path, 26, err))
		return NULL;
	n = json_array_size(value);
	if (n < 2)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
				 "An A/B test compares at least two variants.",
				 "must have at least 2 variants, got %zu", n);
		return NULL;
	}
	out = json_array();
	for (size_t i = 0; i < n; i++)
	{
		json_t	   *variant = json_array_get(value, i);
		json_t	   *o;
		char		elempath[PLAN_PATH_LEN];
		char		keypath[PLAN_PATH_LEN];
		const char *name;
		int64		version = 0;
		double		weight = 0;
		bool		found;

		PlanPathIndex(elempath, path, i);
		if (!PlanExpectObject(variant, elempath, err) ||
			!PlanCheckKeys(variant, elempath, variant_keys, err) ||
			!GetName(variant, "name", elempath, &name, err))
			goto fail;
		if (strcmp(name, "stable") == 0)
		{
			PlanPathKey(keypath, elempath, "name");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "route() reports \"stable\" for requests outside the test; a variant needs another name.",
					 "\"stable\" is reserved");
			goto fail;
		}
		if (HasName(out, name))
		{
			PlanPathKey(keypath, elempath, "name");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "Each variant has its own name; it is the arm route() reports.",
					 "duplicate variant \"%s\"", name);
			goto fail;
		}
		if (!PlanGetInteger(variant, "version", elempath, &found, &version, err))
			goto fail;
		PlanPathKey(keypath, elempath, "version");
		if (!found || version < 1 || version > PG_INT32_MAX)
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
					 found ? "must be a positive version number" : "is required");
			goto fail;
		}
		if (!PlanGetPercent(variant, "weight", elempath, false, &found, &weight, err))
			goto fail;
		if (!found)
		{
			PlanPathKey(keypath, elempath, "weight");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "is required");
			goto fail;
		}
		total_cents += (int64) rint(weight * 100);
		o = PlanObject();
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "version", json_integer(version));
		json_object_set_new(o, "weight", PlanNumber(weight));
		json_array_append_new(out, o);
	}
	if (total_cents != 10000)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
				 "Variant weights partition all traffic, in percent.",
				 "weights must sum to 100, got %g", total_cents / 100.0);
		goto fail;
	}
	return out;

fail:
	json_decref(out);
	return NULL;
}

/*
 * Normalizes session pinning: {"enabled": true, "drain": "10 minutes"}.
 * The drain may be zero (no grace after a rollback).
 */
json_t *
PlanNormalizePinning(json_t *value, const char *path, PlanError *err)
{
	json_t	   *empty = NULL;
	json_t	   *out = NULL;
	bool		enabled = true;
	bool		found;
	PlanInterval drain;

	if (value == NULL || json_is_null(value))
		value = empty = PlanObject();
	if (PlanExpectObject(value, path, err) &&
		PlanCheckKeys(value, path, pinning_keys, err) &&
		PlanGetBool(value, "enabled", path, &found, &enabled, err) &&
		PlanGetDuration(value, "drain", path, "10 minutes", true, &drain, err))
	{
		out = PlanObject();
		json_object_set_new(out, "enabled", json_boolean(enabled));
		PlanSetInterval(out, "drain", &drain);
	}
	json_decref(empty);
	return out;
}

/*
 * Normalizes the sample-collection rule used when a bake ends short of
 * samples: {"allow_boost": false, "max_extensions": 3}.
 */
json_t *
PlanNormalizeExtend(json_t *value, const char *path, PlanError *err)
{
	json_t	   *empty = NULL;
	json_t	   *out = NULL;
	bool		allow_boost = false;
	bool		found;
	int64		max_extensions = 3;

	if (value == NULL || json_is_null(value))
		value = empty = PlanObject();
	if (PlanExpectObject(value, path, err) &&
		PlanCheckKeys(value, path, extend_keys, err) &&
		PlanGetBool(value, "allow_boost", path, &found, &allow_boost, err) &&
		PlanGetInteger(value, "max_extensions", path, &found, &max_extensions, err))
	{
		if (found && (max_extensions < 0 || max_extensions > 100))
		{
			char		keypath[PLAN_PATH_LEN];

			PlanPathKey(keypath, path, "max_extensions");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
					 "must be between 0 and 100, got " INT64_FORMAT, max_extensions);
		}
		else
		{
			out = PlanObject();
			json_object_set_new(out, "allow_boost", json_boolean(allow_boost));
			json_object_set_new(out, "max_extensions", json_integer(max_extensions));
		}
	}
	json_decref(empty);
	return out;
}
