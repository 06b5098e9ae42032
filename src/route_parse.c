/*-------------------------------------------------------------------------
 *
 * route_parse.c
 *		Reads the JSON columns of a rollout row (variants, rules, flags) into
 *		the cache's C structures.
 *
 * The table may hold state that cannot be served (A/B weights that do not
 * sum to 100, a rule without a percent). Such a rollout is not rejected
 * here: it is marked with an error message that route() raises for its
 * agent only, so one bad row never breaks routing for the other agents.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "route.h"
#include "route_parse.h"

/* Marks a rollout unservable with the first problem found. */
static void
RolloutBad(RouteRollout *r, const char *fmt,...)
pg_attribute_printf(2, 3);

static void
RolloutBad(RouteRollout *r, const char *fmt,...)
{
	va_list		ap;
	char		buf[512];

	if (r->error_msg != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->error_msg = psprintf("rollout " INT64_FORMAT " cannot be routed", r->id);
	r->error_detail = pstrdup(buf);
}

/* The i-th element of an array container, or NULL when out of range. */
static JsonbValue *
ArrayElement(JsonbContainer *c, int i)
{
	return getIthJsonbValueFromContainer(c, i);
}

/* Whether a value is a JSON object; sets *obj to its container. */
static bool
AsObject(JsonbValue *v, JsonbContainer **obj)
{
	if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return false;
	*obj = v->val.binary.data;
	return true;
}

/* Whether a value is a JSON array (not a scalar); sets *arr. */
static bool
AsArray(JsonbValue *v, JsonbContainer **arr)
{
	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		return false;
	*arr = v->val.binary.data;
	return true;
}

/* The value of key in an object, or NULL. */
static JsonbValue *
ObjectKey(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* A string member as a palloc'd C string, or NULL when absent or not a string. */
static char *
ObjectString(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = ObjectKey(obj, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A numeric member as a double; false when absent or not a number. */
static bool
ObjectNumber(JsonbContainer *obj, const char *key, double *out)
{
	JsonbValue *v = ObjectKey(obj, key);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	/* Out-of-range numbers (1e400) read as +-Infinity and fail the caller's range checks. */
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
	return true;
}

/* A percentage 0..100 (0.01 steps) as buckets; -1 when invalid. */
static int
PercentToBuckets(double pct)
{
	double		bp;

	if (isnan(pct) || pct < 0 || pct > 100)
		return -1;
	bp = pct * 100.0;
	if (fabs(bp - rint(bp)) > 1e-6)
		return -1;
	return (int) rint(bp);
}

/* The root container of a jsonb column as an array, or NULL. */
static JsonbContainer *
RootArray(Jsonb *jb)
{
	if (jb == NULL || !JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		return NULL;
	return &jb->root;
}

/*
 * Reads variants: [{"name": "a", "version": 1, "weight": 30}, ...]. The
 * weights partition the buckets in array order and must sum to 100.
 * Versions are resolved with lookup(agent, version).
 */
void
RouteParseVariants(RouteRollout *r, Jsonb *jb, RouteVersionLookup lookup,
				   const char *agent)
{
	JsonbContainer *arr = RootArray(jb);
	int			n;
	int			total = 0;

	if (jb == NULL)
	{
		RolloutBad(r, "Strategy ab_test needs column \"variants\": an array of {\"name\", \"version\", \"weight\"} objects.");
		return;
	}
	if (arr == NULL)
	{
		RolloutBad(r, "Column \"variants\" must be a JSON array.");
		return;
	}
	n = JsonContainerSize(arr);
	if (n < 2)
	{
		RolloutBad(r, "Column \"variants\" has %d element(s); an A/B test needs at least 2.", n);
		return;
	}
	r->variants = palloc0(sizeof(RouteVariant) * n);
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *obj;
		RouteVariant *v = &r->variants[i];
		double		ver;
		double		weight;
		int			bp;

		if (!AsObject(ArrayElement(arr, i), &obj))
		{
			RolloutBad(r, "variants[%d]: must be an object.", i);
			return;
		}
		v->name = ObjectString(obj, "name");
		if (v->name == NULL || v->name[0] == '\0' || strlen(v->name) >= ROUTE_NAME_LEN)
		{
			RolloutBad(r, "variants[%d].name: must be a non-empty string of at most %d bytes.",
					   i, ROUTE_NAME_LEN - 1);
			return;
		}
		for (int j = 0; j < i; j++)
			if (strcmp(r->variants[j].name, v->name) == 0)
			{
				RolloutBad(r, "variants[%d].name: \"%s\" is used twice.", i, v->name);
				return;
			}
		if (!ObjectNumber(obj, "version", &ver) || ver < 1 || ver > PG_INT32_MAX || ver != rint(ver))
		{
			RolloutBad(r, "variants[%d].version: must be a version number.", i);
			return;
		}
		v->version = lookup(agent, (int32) ver);
		if (v->version == NULL)
		{
			RolloutBad(r, "variants[%d].version: version %d of agent \"%s\" does not exist.",
					   i, (int32) ver, agent);
			return;
		}
		if (!ObjectNumber(obj, "weight", &weight) || (bp = PercentToBuckets(weight)) < 0)
		{
			RolloutBad(r, "variants[%d].weight: must be a number from 0 to 100 in steps of 0.01.", i);
			return;
		}
		total += bp;
		v->upper_bp = total;
	}
	if (total != ROUTE_BUCKETS)
	{
		RolloutBad(r, "The weights of column \"variants\" sum to %s; they must sum to 100.",
				   psprintf("%d.%02d", total / 100, total % 100));
		return;
	}
	r->nvariants = n;
}

/* Reads an array of strings member; false when absent or malformed. */
static bool
ObjectStringArray(JsonbContainer *obj, const char *key, int *n, char ***out)
{
	JsonbContainer *arr;

	if (!AsArray(ObjectKey(obj, key), &arr))
		return false;
	*n = JsonContainerSize(arr);
	*out = palloc0(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		JsonbValue *e = ArrayElement(arr, i);

		if (e == NULL || e->type != jbvString)
			return false;
		(*out)[i] = pnstrdup(e->val.string.val, e->val.string.len);
	}
	return true;
}

/*
 * Reads rules: each is {"tenants": [...]} or {"attribute": "region",
 * "values": [...]}, with either "percent" (candidate share for the matching
 * requests) or "arm" (a fixed arm: stable, candidate or a variant name),
 * and an optional "name" used in the reason.
 */
void
RouteParseRules(RouteRollout *r, Jsonb *jb)
{
	JsonbContainer *arr = RootArray(jb);
	int			n;

	if (arr == NULL)
	{
		RolloutBad(r, "Column \"rules\" must be a JSON array.");
		return;
	}
	n = JsonContainerSize(arr);
	r->rules = palloc0(sizeof(RouteRule) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *obj;
		RouteRule  *rule = &r->rules[i];
		double		pct;
		bool		has_pct;

		if (!AsObject(ArrayElement(arr, i), &obj))
		{
			RolloutBad(r, "rules[%d]: must be an object.", i);
			return;
		}
		rule->name = ObjectString(obj, "name");
		if (ObjectKey(obj, "tenants") != NULL)
		{
			if (!ObjectStringArray(obj, "tenants", &rule->nvalues, &rule->values))
			{
				RolloutBad(r, "rules[%d].tenants: must be an array of strings.", i);
				return;
			}
		}
		else if (ObjectKey(obj, "attribute") != NULL)
		{
			rule->attribute = ObjectString(obj, "attribute");
			if (rule->attribute == NULL)
			{
				RolloutBad(r, "rules[%d].attribute: must be a string.", i);
				return;
			}
			if (!ObjectStringArray(obj, "values", &rule->nvalues, &rule->values))
			{
				RolloutBad(r, "rules[%d].values: must be an array of strings.", i);
				return;
			}
		}
		else
		{
			RolloutBad(r, "rules[%d]: must have \"tenants\" or \"attribute\" and \"values\".", i);
			return;
		}
		has_pct = ObjectNumber(obj, "percent", &pct);
		rule->arm = ObjectString(obj, "arm");
		rule->percent_bp = -1;
		if (has_pct == (rule->arm != NULL))
		{
			RolloutBad(r, "rules[%d]: must have exactly one of \"percent\" (a number) and \"arm\" (a string).", i);
			return;
		}
		if (has_pct)
		{
			rule->percent_bp = PercentToBuckets(pct);
			if (rule->percent_bp < 0)
			{
				RolloutBad(r, "rules[%d].percent: must be a number from 0 to 100 in steps of 0.01.", i);
				return;
			}
			if (strcmp(r->strategy, "ab_test") == 0)
			{
				RolloutBad(r, "rules[%d].percent: an A/B test has no single candidate; use \"arm\" with a variant name.", i);
				return;
			}
		}
		else
		{
			bool		known = strcmp(rule->arm, "stable") == 0 ||
				(strcmp(rule->arm, "candidate") == 0 && strcmp(r->strategy, "ab_test") != 0);

			for (int j = 0; j < r->nvariants && !known; j++)
				known = strcmp(r->variants[j].name, rule->arm) == 0;
			if (!known)
			{
				RolloutBad(r, "rules[%d].arm: \"%s\" is not an arm of this rollout.", i, rule->arm);
				return;
			}
		}
	}
	r->nrules = n;
}

/* Reads flags: [{"name": "db_write", "percent": 10}, ...]. */
void
RouteParseFlags(RouteRollout *r, Jsonb *jb)
{
	JsonbContainer *arr = RootArray(jb);
	int			n;

	if (arr == NULL)
	{
		RolloutBad(r, "Column \"flags\" must be a JSON array.");
		return;
	}
	n = JsonContainerSize(arr);
	r->flags = palloc0(sizeof(RouteFlag) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *obj;
		RouteFlag  *f = &r->flags[i];
		double		pct;

		if (!AsObject(ArrayElement(arr, i), &obj))
		{
			RolloutBad(r, "flags[%d]: must be an object.", i);
			return;
		}
		f->name = ObjectString(obj, "name");
		if (f->name == NULL || f->name[0] == '\0')
		{
			RolloutBad(r, "flags[%d].name: must be a non-empty string.", i);
			return;
		}
		if (!ObjectNumber(obj, "percent", &pct) || (f->percent_bp = PercentToBuckets(pct)) < 0)
		{
			RolloutBad(r, "flags[%d].percent: must be a number from 0 to 100 in steps of 0.01.", i);
			return;
		}
		f->seed = RouteFlagSeed(f->name, r->salt);
	}
	r->nflags = n;
}

/* Marks a rollout unservable for a reason found outside the JSON columns. */
void
RouteParseFail(RouteRollout *r, const char *detail)
{
	RolloutBad(r, "%s", detail);
}
