/*-------------------------------------------------------------------------
 *
 * route.c
 *		rollout.route(): the routing decision for one request.
 *
 * The decision is computed from the per-backend cache (route_cache.c) and
 * writes nothing, so route() runs on hot standbys and behind a transaction
 * pooler. In order:
 *
 *	1. a pin token given back by the caller is checked (route_pin.c);
 *	2. without an active rollout, a valid pin of a rollout that ended less
 *	   than its drain ago keeps the pinned version (not after a safety
 *	   rollback); otherwise the production version is served;
 *	3. inside a rollout, the first matching tenant/cohort rule decides,
 *	   then a valid pin, then the bucket of the stickiness key: below the
 *	   candidate share -> candidate (canary, blue_green), or the A/B variant
 *	   whose weight range holds the bucket; the shadow phase serves stable;
 *	4. shadow, capability flags and judge sampling each use their own hash
 *	   of the same key, so they are independent of the arm split.
 *
 * docs/routing.md is the reference for every rule and reason.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "route.h"

#define DECISION_NATTS 18

/* Seed offsets of the independent splits, added to the rollout salt. */
#define SEED_SHADOW 1
#define SEED_JUDGE 2

PG_FUNCTION_INFO_V1(rollout_route);

/* What route() decided, before it becomes a rollout.decision row. */
typedef struct Decision
{
	RouteVersion *version;
	const char *arm;
	RouteRollout *rollout;
	RouteVersion *shadow;
	bool		judge;
	char	   *pin;
	StringInfoData reason;
	bool		candidate_flags;	/* whether flags are drawn (candidate arm) */
} Decision;

/* A text argument as a C string, or NULL. */
static char *
ArgString(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* The version an arm name stands for in a rollout, or NULL. */
static RouteVersion *
ArmVersion(RouteRollout *r, const char *arm)
{
	if (strcmp(arm, "stable") == 0)
		return r->baseline;
	if (strcmp(arm, "candidate") == 0 && r->nvariants == 0)
		return r->candidate;
	for (int i = 0; i < r->nvariants; i++)
		if (strcmp(r->variants[i].name, arm) == 0)
			return r->variants[i].version;
	return NULL;
}

/* The arm name a pinned version stands for in a rollout, or NULL. */
static const char *
VersionArm(RouteRollout *r, int32 version)
{
	for (int i = 0; i < r->nvariants; i++)
		if (r->variants[i].version->version == version)
			return r->variants[i].name;
	if (r->nvariants == 0 && r->candidate->version == version)
		return "candidate";
	if (r->baseline->version == version)
		return "stable";
	return NULL;
}

/* Whether a value of the attrs object equals a rule value. */
static bool
AttrMatches(Jsonb *attrs, const char *attribute, RouteRule *rule)
{
	JsonbValue *v;
	char	   *s;

	if (attrs == NULL || !JB_ROOT_IS_OBJECT(attrs))
		return false;
	v = getKeyJsonValueFromContainer(&attrs->root, attribute, strlen(attribute), NULL);
	if (v == NULL)
		return false;
	if (v->type == jbvString)
		s = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v->type == jbvNumeric)
		s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvBool)
		s = v->val.boolean ? "true" : "false";
	else
		return false;
	for (int i = 0; i < rule->nvalues; i++)
		if (strcmp(rule->values[i], s) == 0)
			return true;
	return false;
}

/* The first rule matching the request, or NULL; *what names the match. */
static RouteRule *
MatchRule(RouteRollout *r, const char *tenant, Jsonb *attrs, char **what)
{
	for (int i = 0; i < r->nrules; i++)
	{
		RouteRule  *rule = &r->rules[i];

		if (rule->attribute == NULL)
		{
			for (int j = 0; tenant != NULL && j < rule->nvalues; j++)
				if (strcmp(rule->values[j], tenant) == 0)
				{
					*what = psprintf("tenant rule %s", rule->name ? rule->name : tenant);
					return rule;
				}
		}
		else if (AttrMatches(attrs, rule->attribute, rule))
		{
			*what = rule->name ? psprintf("cohort rule %s", rule->name) :
				psprintf("cohort rule %s", rule->attribute);
			return rule;
		}
	}
	return NULL;
}

/* The arm for a bucket in a rollout, following its strategy and state. */
static const char *
BucketArm(RouteRollout *r, int bucket, int percent_bp)
{
	if (r->nvariants > 0)
	{
		for (int i = 0; i < r->nvariants; i++)
			if (bucket < r->variants[i].upper_bp)
				return r->variants[i].name;
		return r->variants[r->nvariants - 1].name;
	}
	return bucket < percent_bp ? "candidate" : "stable";
}

/* Appends the strategy reason, e.g. "canary 5%" or "ab_test (paused)". */
static void
AppendStrategyReason(StringInfo s, RouteRollout *r)
{
	if (strcmp(r->state, "shadow") == 0 || strcmp(r->strategy, "shadow") == 0)
		appendStringInfoString(s, "shadow");
	else if (r->nvariants > 0)
		appendStringInfoString(s, "ab_test");
	else
		appendStringInfo(s, "%s %s%%", r->strategy, r->percent_text);
	if (strcmp(r->state, "canary") != 0 && strcmp(r->state, "shadow") != 0)
		appendStringInfo(s, " (%s)", r->state);
}

/* Decides the judge sample: request id if given, else unit, session, xact time. */
static bool
JudgeSample(RouteRollout *r, const char *unit, const char *session, const char *request)
{
	uint64		h;
	int			threshold = (int) rint(r->judge_rate * ROUTE_BUCKETS);

	if (request != NULL)
		h = RouteHash(request, strlen(request), r->salt + SEED_JUDGE);
	else
	{
		char	   *s = psprintf("%s\n%s\n" INT64_FORMAT, unit, session ? session : "",
								 (int64) GetCurrentTransactionStartTimestamp());

		h = RouteHash(s, strlen(s), r->salt + SEED_JUDGE);
	}
	return (int) (h % ROUTE_BUCKETS) < threshold;
}

/* Builds the flags object: each flag drawn for the candidate arm, else false. */
static Datum
FlagsJsonb(RouteRollout *r, const char *key, bool draw)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; r != NULL && i < r->nflags; i++)
	{
		JsonbValue	k;
		JsonbValue	v;

		k.type = jbvString;
		k.val.string.val = r->flags[i].name;
		k.val.string.len = strlen(r->flags[i].name);
		v.type = jbvBool;
		v.val.boolean = draw &&
			(int) (RouteHash(key, strlen(key), r->flags[i].seed) % ROUTE_BUCKETS) < r->flags[i].percent_bp;
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* Checks a pin token; returns its rollout and version, or notes why not. */
static RouteRollout *
CheckPin(RouteAgent *a, const char *pin, const char *session, int32 *version,
		 const char **note)
{
	int64		rollout_id;
	int64		issued;
	char		mac[64];
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (session == NULL)
	{
		*note = "pin ignored: no session";
		return NULL;
	}
	if (!RoutePinParse(pin, &rollout_id, version, &issued, mac))
	{
		*note = "pin ignored: malformed";
		return NULL;
	}
	if (RouteCacheSecret() == NULL || !RoutePinVerify(pin, a->name, session))
	{
		*note = "pin ignored: invalid signature";
		return NULL;
	}
	if (a->active != NULL && a->active->id == rollout_id)
		return a->active;
	for (int i = 0; i < a->nfinal; i++)
	{
		RouteRollout *r = a->final[i];

		if (r->id != rollout_id)
			continue;
		if (r->drain_skipped)
		{
			*note = "pin ignored: safety rollback";
			return NULL;
		}
		if (!r->has_drain_until || now >= r->drain_until)
			break;
		return r;
	}
	*note = "pin ignored: expired";
	return NULL;
}

/* Forms the rollout.decision row. */
static Datum
DecisionTuple(FunctionCallInfo fcinfo, const char *agent, Decision *d, Datum flags,
			  bool write_intercept)
{
	TupleDesc	desc;
	Datum		values[DECISION_NATTS];
	bool		nulls[DECISION_NATTS];
	RouteVersion *v = d->version;

	if (fcinfo->flinfo->fn_extra == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		fcinfo->flinfo->fn_extra = desc;
		MemoryContextSwitchTo(old);
	}
	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	if (desc->natts != DECISION_NATTS)
		elog(ERROR, "rollout.decision has %d attributes, expected %d", desc->natts, DECISION_NATTS);

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(agent);
	values[1] = Int32GetDatum(v->version);
	values[2] = v->fingerprint;
	values[3] = v->model;
	values[4] = v->system_prompt;
	values[5] = v->template_text;
	nulls[5] = v->template_null;
	values[6] = v->few_shot;
	values[7] = v->tools;
	values[8] = v->params;
	values[9] = CStringGetTextDatum(d->arm);
	if (d->rollout != NULL)
	{
		values[10] = Int64GetDatum(d->rollout->id);
		values[11] = Int32GetDatum(d->rollout->stage);
	}
	else
		nulls[10] = nulls[11] = true;
	if (d->shadow != NULL)
		values[12] = Int32GetDatum(d->shadow->version);
	else
		nulls[12] = true;
	values[13] = BoolGetDatum(d->judge);
	if (d->pin != NULL)
		values[14] = CStringGetTextDatum(d->pin);
	else
		nulls[14] = true;
	values[15] = CStringGetTextDatum(d->reason.data);
	values[16] = flags;
	values[17] = BoolGetDatum(write_intercept);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * rollout.route(agent, unit, session, tenant, pin, attrs, request): the
 * version to serve for one request, with the arm, shadow, judge sample and
 * the pin to pass back. STABLE, PARALLEL SAFE, writes nothing.
 */
Datum
rollout_route(PG_FUNCTION_ARGS)
{
	char	   *agent = ArgString(fcinfo, 0);
	char	   *unit = ArgString(fcinfo, 1);
	char	   *session = ArgString(fcinfo, 2);
	char	   *tenant = ArgString(fcinfo, 3);
	char	   *pin = ArgString(fcinfo, 4);
	Jsonb	   *attrs = (PG_NARGS() > 5 && !PG_ARGISNULL(5)) ? PG_GETARG_JSONB_P(5) : NULL;
	char	   *request = ArgString(fcinfo, 6);
	RouteAgent *a;
	RouteRollout *r;
	RouteRollout *pinned = NULL;
	int32		pinned_version = 0;
	const char *pin_note = NULL;
	const char *key;
	Decision	d;
	bool		write_intercept = false;
	Datum		flags;

	if (agent == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"agent\" must not be null")));
	if (unit == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"unit\" must not be null"),
				 errdetail("Pass the user, account or request key that bucketing hashes.")));
	if (attrs != NULL && !JB_ROOT_IS_OBJECT(attrs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"attrs\" must be a JSON object"),
				 errdetail("Cohort rules match the members of an object such as {\"region\": \"eu\"}.")));

	a = RouteCacheLookup(agent);
	if (a == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("agent \"%s\" does not exist", agent),
				 errdetail("Argument \"agent\" must name an agent created with rollout.create_agent().")));

	memset(&d, 0, sizeof(d));
	initStringInfo(&d.reason);
	r = a->active;
	if (r != NULL && r->error_msg != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", r->error_msg),
				 errdetail("%s", r->error_detail),
				 errhint("Fix or end the rollout of agent \"%s\".", agent)));

	if (pin != NULL)
		pinned = CheckPin(a, pin, session, &pinned_version, &pin_note);

	if (r == NULL)
	{
		RouteRollout *p = (pinned != NULL && !pinned->active &&
						   pinned->error_msg == NULL) ? pinned : NULL;
		const char *arm = p ? VersionArm(p, pinned_version) : NULL;

		if (p != NULL && arm != NULL)
		{
			d.version = ArmVersion(p, arm);
			d.arm = arm;
			d.rollout = p;
			d.pin = pin;
			d.judge = JudgeSample(p, unit, session, request);
			appendStringInfo(&d.reason, "pinned (draining after %s)",
							 p->promoted ? "promotion" : "rollback");
			RouteExposureCount(p->id, arm);
		}
		else
		{
			if (a->production == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("agent \"%s\" has no production version", agent),
						 errdetail("Outside a rollout, routing serves the version labelled production."),
						 errhint("Set it with rollout.set_label('%s', 'production', <version>).", agent)));
			d.version = a->production;
			d.arm = "stable";
			appendStringInfoString(&d.reason, "no rollout");
		}
		if (pin_note != NULL)
			appendStringInfo(&d.reason, "; %s", pin_note);
		flags = FlagsJsonb(NULL, unit, false);
		return DecisionTuple(fcinfo, agent, &d, flags, false);
	}

	/* Inside a rollout: the key is the stickiness argument, unit if absent. */
	key = unit;
	if (r->stickiness == ROUTE_STICKY_SESSION && session != NULL)
		key = session;
	else if (r->stickiness == ROUTE_STICKY_TENANT && tenant != NULL)
		key = tenant;

	{
		int			bucket = RouteBucket(key, strlen(key), r->salt);
		char	   *what = NULL;
		RouteRule  *rule = MatchRule(r, tenant, attrs, &what);
		bool		shadow_phase = strcmp(r->state, "shadow") == 0 ||
			strcmp(r->strategy, "shadow") == 0;

		if (pinned != NULL && pinned != r)
			pinned = NULL;		/* a draining pin of an older rollout */
		if (pinned != NULL && VersionArm(r, pinned_version) == NULL)
		{
			pinned = NULL;
			pin_note = "pin ignored: version not in rollout";
		}

		if (rule != NULL)
		{
			d.arm = rule->arm ? rule->arm : BucketArm(r, bucket, rule->percent_bp);
			appendStringInfoString(&d.reason, what);
		}
		else if (pinned != NULL)
		{
			d.arm = VersionArm(r, pinned_version);
			appendStringInfoString(&d.reason, "pinned");
		}
		else if (shadow_phase)
		{
			d.arm = "stable";
			AppendStrategyReason(&d.reason, r);
		}
		else
		{
			d.arm = BucketArm(r, bucket, r->percent_bp);
			AppendStrategyReason(&d.reason, r);
		}
	}
	d.version = ArmVersion(r, d.arm);
	d.rollout = r;

	/* Shadow: a stable request also runs the candidate, by its own split. */
	if (strcmp(d.arm, "stable") == 0 && r->nvariants == 0 && r->shadow_bp > 0 &&
		RouteBucket(key, strlen(key), r->salt + SEED_SHADOW) < r->shadow_bp)
	{
		d.shadow = r->candidate;
		write_intercept = r->write_intercept;
	}
	d.judge = JudgeSample(r, unit, session, request);

	/* The pin: the caller's own when it held, else a new one for this version. */
	if (r->pinning && session != NULL && RouteCacheSecret() != NULL)
	{
		if (pinned != NULL && d.version->version == pinned_version)
			d.pin = pin;
		else
			d.pin = RoutePinMake(agent, session, r->id, d.version->version,
								 (int64) (GetCurrentTransactionStartTimestamp() / USECS_PER_SEC +
										  (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY));
	}
	if (pin_note != NULL)
		appendStringInfo(&d.reason, "; %s", pin_note);

	flags = FlagsJsonb(r, key, strcmp(d.arm, "candidate") == 0);
	RouteExposureCount(r->id, d.arm);
	return DecisionTuple(fcinfo, agent, &d, flags, write_intercept);
}
