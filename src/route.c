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
 *	3. inside a rollout, the stickiness key is chosen: the plan's argument,
 *	   else (when NULL) unit, then session, then a random key per request,
 *	   as Unleash does; the reason says which key was used;
 *	4. the first matching tenant/cohort rule decides, then a valid pin
 *	   (not in blue_green, which serves one side), then the bucket of the
 *	   key: below the candidate share -> candidate (canary, blue_green), or
 *	   the A/B variant whose weight range holds the bucket; the shadow phase
 *	   serves stable;
 *	5. shadow, capability flags and judge sampling each use their own hash,
 *	   so they are independent of the arm split and of the version;
 *	6. the decision token names the rollout, stage, arm and version that
 *	   served the request, for record() (route_token.c).
 *
 * Speed: the hot path reads no table, calls no catalog lookup and builds
 * no TupleDesc. The cache holds the blessed TupleDesc of rollout.decision
 * and, per version, the Datums of its content columns; per rollout, the
 * text of its strategy reason and arm names. A call copies those into the
 * row and fills only what depends on the request. Pins the backend signed
 * or checked before are not checked again (route_pin.c).
 *
 * docs/routing.md is the reference for every rule and reason.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "route.h"

/* Seed offsets of the independent splits, added to the rollout salt. */
#define SEED_SHADOW 1
#define SEED_JUDGE 2

/* Judge-sample inputs up to this size are formed on the stack. */
#define JUDGE_BUF 256

PG_FUNCTION_INFO_V1(rollout_route);

/* A text argument as bytes and length; data is NULL when the argument is. */
typedef struct RouteArg
{
	const char *data;
	int			len;
} RouteArg;

/* The stickiness key a request is hashed by, after the NULL fall-back. */
typedef struct RouteKey
{
	const char *data;
	size_t		len;
	const char *note;			/* " (key: session, unit missing)", or NULL */
	uint64		random;			/* the bytes of a random key */
} RouteKey;

/* What route() decided, before it becomes a rollout.decision row. */
typedef struct Decision
{
	RouteVersion *version;
	const char *arm;
	RouteRollout *rollout;
	RouteVersion *shadow;
	bool		judge;
	const char *pin;
	const char *reason;			/* the reason before notes */
	Datum		reason_datum;	/* the same as text, or 0 to build it */
	const char *key_note;
	const char *pin_note;
	Datum		flags;
	bool		write_intercept;
	Datum		token;			/* decision token, or 0 for NULL */
} Decision;

/* A text argument as bytes and length, without copying. */
static inline RouteArg
TextArg(FunctionCallInfo fcinfo, int n)
{
	RouteArg	a = {NULL, 0};

	if (PG_NARGS() > n && !PG_ARGISNULL(n))
	{
		text	   *t = PG_GETARG_TEXT_PP(n);

		a.data = VARDATA_ANY(t);
		a.len = VARSIZE_ANY_EXHDR(t);
	}
	return a;
}

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

/* The arm column for an arm name: a text datum built at cache load. */
static Datum
ArmDatum(RouteRollout *r, const char *arm)
{
	const RouteConstants *c = RouteCacheConstants();

	if (strcmp(arm, "stable") == 0)
		return c->arm_stable;
	for (int i = 0; r != NULL && i < r->nvariants; i++)
		if (strcmp(r->variants[i].name, arm) == 0)
			return r->variants[i].name_datum;
	if (strcmp(arm, "candidate") == 0)
		return c->arm_candidate;
	return CStringGetTextDatum(arm);
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
MatchRule(RouteRollout *r, const char *tenant, Jsonb *attrs, const char **what)
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
			*what = psprintf("cohort rule %s", rule->name ? rule->name : rule->attribute);
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

/* Whether a rollout is in its shadow phase (everyone served stable). */
static inline bool
ShadowPhase(RouteRollout *r)
{
	return strcmp(r->state, "shadow") == 0 || strcmp(r->strategy, "shadow") == 0;
}

/*
 * Builds the constant parts of a rollout's decisions in the current memory
 * context (the cache's): the strategy reason, e.g. "canary 5%" or
 * "ab_test (paused)", and the arm names of its variants, as text datums.
 */
void
RoutePrepareRollout(RouteRollout *r)
{
	StringInfoData s;

	initStringInfo(&s);
	if (ShadowPhase(r))
		appendStringInfoString(&s, "shadow");
	else if (strcmp(r->strategy, "ab_test") == 0)
		appendStringInfoString(&s, "ab_test");
	else
		appendStringInfo(&s, "%s %s%%", r->strategy, r->percent_text);
	if (strcmp(r->state, "canary") != 0 && strcmp(r->state, "shadow") != 0 && r->active)
		appendStringInfo(&s, " (%s)", r->state);
	r->reason = s.data;
	r->reason_datum = CStringGetTextDatum(s.data);
	for (int i = 0; i < r->nvariants; i++)
		r->variants[i].name_datum = CStringGetTextDatum(r->variants[i].name);
}

/*
 * Chooses the key to hash: the plan's stickiness argument; when it is NULL,
 * unit, then session (Unleash's order); when all are NULL, a random key
 * drawn for this request. k->note tells the reason which key stood in.
 */
static void
ChooseKey(RouteStickiness stickiness, RouteArg unit, const char *session, const char *tenant,
		  RouteKey *k)
{
	static const char *const names[] = {"unit", "session", "tenant"};
	RouteStickiness order[3];
	const char *missing[3];
	int			norder = 0;
	int			nmissing = 0;
	const char *used = NULL;

	order[norder++] = stickiness;
	if (stickiness != ROUTE_STICKY_UNIT)
		order[norder++] = ROUTE_STICKY_UNIT;
	if (stickiness != ROUTE_STICKY_SESSION)
		order[norder++] = ROUTE_STICKY_SESSION;

	k->note = NULL;
	for (int i = 0; i < norder && used == NULL; i++)
	{
		const char *data = NULL;
		size_t		len = 0;

		if (order[i] == ROUTE_STICKY_UNIT && unit.data != NULL)
		{
			data = unit.data;
			len = unit.len;
		}
		else if (order[i] == ROUTE_STICKY_SESSION && session != NULL)
		{
			data = session;
			len = strlen(session);
		}
		else if (order[i] == ROUTE_STICKY_TENANT && tenant != NULL)
		{
			data = tenant;
			len = strlen(tenant);
		}
		if (data != NULL)
		{
			k->data = data;
			k->len = len;
			used = names[order[i]];
		}
		else
			missing[nmissing++] = names[order[i]];
	}
	if (used == NULL)
	{
		k->random = pg_prng_uint64(&pg_global_prng_state);
		k->data = (const char *) &k->random;
		k->len = sizeof(k->random);
		used = "random";
	}
	if (nmissing == 1)
		k->note = psprintf(" (key: %s, %s missing)", used, missing[0]);
	else if (nmissing == 2)
		k->note = psprintf(" (key: %s, %s and %s missing)", used, missing[0], missing[1]);
	else if (nmissing == 3)
		k->note = psprintf(" (key: %s, %s, %s and %s missing)", used,
						   missing[0], missing[1], missing[2]);
}

/* Decides the judge sample: request id if given, else unit, session, xact time. */
static bool
JudgeSample(RouteRollout *r, RouteArg unit, const char *session, const char *request)
{
	uint64		h;
	int			threshold = (int) rint(r->judge_rate * ROUTE_BUCKETS);

	if (threshold <= 0)
		return false;
	if (request != NULL)
		h = RouteHash(request, strlen(request), r->salt + SEED_JUDGE);
	else
	{
		char		buf[JUDGE_BUF];
		char	   *s = buf;
		int			len;
		int64		xact_start = (int64) GetCurrentTransactionStartTimestamp();

		len = snprintf(buf, sizeof(buf), "%.*s\n%s\n" INT64_FORMAT,
					   unit.len, unit.data ? unit.data : "", session ? session : "", xact_start);
		if (len >= (int) sizeof(buf))
		{
			s = psprintf("%.*s\n%s\n" INT64_FORMAT,
						 unit.len, unit.data ? unit.data : "", session ? session : "", xact_start);
			len = strlen(s);
		}
		h = RouteHash(s, len, r->salt + SEED_JUDGE);
	}
	return (int) (h % ROUTE_BUCKETS) < threshold;
}

/* Adds one flag, drawn by its own split of the key, to a flags object. */
static void
PushFlag(JsonbParseState **state, const RouteFlag *f, const RouteKey *key)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = f->name;
	k.val.string.len = strlen(f->name);
	v.type = jbvBool;
	v.val.boolean = (int) (RouteHash(key->data, key->len, f->seed) % ROUTE_BUCKETS) <
		f->percent_bp;
	pushJsonbValue(state, WJB_KEY, &k);
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Whether the rollout's plan has a flag of this name. */
static bool
RolloutHasFlag(const RouteRollout *r, const char *name)
{
	for (int i = 0; r != NULL && i < r->nflags; i++)
		if (strcmp(r->flags[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The key of an agent's standalone flags: unit, else session, else tenant,
 * else a random key for this request, whatever a rollout's stickiness.
 */
static void
AgentFlagKey(RouteArg unit, const char *session, const char *tenant, RouteKey *k)
{
	k->note = NULL;
	if (unit.data != NULL)
	{
		k->data = unit.data;
		k->len = unit.len;
	}
	else if (session != NULL || tenant != NULL)
	{
		k->data = session != NULL ? session : tenant;
		k->len = strlen(k->data);
	}
	else
	{
		k->random = pg_prng_uint64(&pg_global_prng_state);
		k->data = (const char *) &k->random;
		k->len = sizeof(k->random);
	}
}

/*
 * Builds the flags object: the agent's standalone flags, drawn by their own
 * key (AgentFlagKey, so a caller keeps its flags when a rollout starts or
 * ends), and the flags of the rollout r (NULL outside one), drawn by the
 * rollout's key; a rollout's flag overrides a standalone flag of the same
 * name.
 */
static Datum
FlagsJsonb(const RouteAgent *a, const RouteRollout *r, const RouteKey *rollout_key,
		   RouteArg unit, const char *session, const char *tenant)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	RouteKey	agent_key;

	if (a->nflags == 0 && (r == NULL || r->nflags == 0))
		return RouteCacheConstants()->empty_flags;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (a->nflags > 0)
	{
		AgentFlagKey(unit, session, tenant, &agent_key);
		for (int i = 0; i < a->nflags; i++)
			if (!RolloutHasFlag(r, a->flags[i].name))
				PushFlag(&state, &a->flags[i], &agent_key);
	}
	for (int i = 0; r != NULL && i < r->nflags; i++)
		PushFlag(&state, &r->flags[i], rollout_key);
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

/*
 * The decision token of an arm of a rollout (r NULL: the production version
 * outside any rollout), as a text datum. A token names no request, so it is
 * signed once per cache load and kept with the rollout (route_token.c); 0
 * when there is no secret to sign with.
 */
static Datum
DecisionToken(RouteAgent *a, RouteRollout *r, const char *arm, RouteVersion *v)
{
	Datum	   *slot = NULL;
	Datum		tmp = (Datum) 0;
	char	   *made;

	if (r == NULL)
		slot = &a->token_production;
	else if (strcmp(arm, "stable") == 0)
		slot = &r->token_stable;
	else
	{
		for (int i = 0; i < r->nvariants; i++)
			if (strcmp(r->variants[i].name, arm) == 0)
				slot = &r->variants[i].token;
		if (slot == NULL && strcmp(arm, "candidate") == 0)
			slot = &r->token_candidate;
	}
	if (slot == NULL)
		slot = &tmp;
	if (*slot == (Datum) 0)
	{
		made = RouteTokenMake(a->name, r ? r->id : 0, r ? r->stage : 0, v->version,
							  r ? arm : "");
		if (made == NULL)
			return (Datum) 0;
		if (slot != &tmp)
		{
			MemoryContext old = MemoryContextSwitchTo(RouteCacheMemory());

			*slot = CStringGetTextDatum(made);
			MemoryContextSwitchTo(old);
		}
		else
			*slot = CStringGetTextDatum(made);
	}
	return *slot;
}

/* Forms the rollout.decision row from the cached datums and the request's. */
static Datum
DecisionTuple(Decision *d)
{
	const RouteConstants *c = RouteCacheConstants();
	Datum		values[ROUTE_DECISION_NATTS];
	bool		nulls[ROUTE_DECISION_NATTS];

	memcpy(values, d->version->values, sizeof(Datum) * ROUTE_VERSION_NATTS);
	memcpy(nulls, d->version->nulls, sizeof(bool) * ROUTE_VERSION_NATTS);
	memset(nulls + ROUTE_VERSION_NATTS, 0, ROUTE_DECISION_NATTS - ROUTE_VERSION_NATTS);
	values[9] = ArmDatum(d->rollout, d->arm);
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
	if (d->reason_datum != (Datum) 0 && d->key_note == NULL && d->pin_note == NULL)
		values[15] = d->reason_datum;
	else
		values[15] = CStringGetTextDatum(psprintf("%s%s%s%s", d->reason,
												  d->key_note ? d->key_note : "",
												  d->pin_note ? "; " : "",
												  d->pin_note ? d->pin_note : ""));
	values[16] = d->flags ? d->flags : c->empty_flags;
	values[17] = BoolGetDatum(d->write_intercept);
	/* Read only when the type has the column (not a 0.2.0 schema). */
	values[18] = d->token;
	nulls[18] = d->token == (Datum) 0;
	return HeapTupleGetDatum(heap_form_tuple(c->decision_desc, values, nulls));
}

/* The decision outside an active rollout: a draining pin, else production. */
static Datum
RouteWithoutRollout(RouteAgent *a, const char *agent, RouteArg unit, const char *session,
					const char *tenant, const char *request, const char *pin, RouteRollout *pinned,
					int32 pinned_version, const char *pin_note)
{
	Decision	d;
	RouteRollout *p = (pinned != NULL && !pinned->active &&
					   pinned->error_msg == NULL) ? pinned : NULL;
	const char *arm = p ? VersionArm(p, pinned_version) : NULL;

	memset(&d, 0, sizeof(d));
	d.pin_note = pin_note;
	d.flags = FlagsJsonb(a, NULL, NULL, unit, session, tenant);
	if (p != NULL && arm != NULL)
	{
		d.version = ArmVersion(p, arm);
		d.arm = arm;
		d.rollout = p;
		d.pin = pin;
		d.judge = JudgeSample(p, unit, session, request);
		d.reason = p->promoted ? "pinned (draining after promotion)" :
			"pinned (draining after rollback)";
		d.token = DecisionToken(a, p, arm, d.version);
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
		d.reason = "no rollout";
		d.reason_datum = RouteCacheConstants()->reason_no_rollout;
		d.token = DecisionToken(a, NULL, "stable", d.version);
	}
	return DecisionTuple(&d);
}

/*
 * Raises insufficient_privilege unless the calling role may route for the
 * agent: a member of one of its service_roles, or anyone when it names none
 * (rollout._require_service does the same for record()).
 */
static void
RouteCheckService(const RouteAgent *a)
{
	Oid			role = GetOuterUserId();

	if (!a->restricted)
		return;
	for (int i = 0; i < a->nservice_roles; i++)
		if (has_privs_of_role(role, a->service_roles[i]))
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not route for agent \"%s\"",
					GetUserNameFromId(role, false), a->name),
			 errdetail("Agent \"%s\" names the roles allowed to route and record for it (rollout.agents.service_roles).",
					   a->name),
			 errhint("Grant one of those roles to this login, or change them with rollout.set_service_roles().")));
}

/*
 * rollout.route(agent, unit, session, tenant, pin, attrs, request): the
 * version to serve for one request, with the arm, shadow, judge sample and
 * the pin to pass back. STABLE, PARALLEL SAFE, writes nothing.
 */
Datum
rollout_route(PG_FUNCTION_ARGS)
{
	RouteArg	agent_arg = TextArg(fcinfo, 0);
	RouteArg	unit = TextArg(fcinfo, 1);
	char	   *session = ArgString(fcinfo, 2);
	char	   *tenant = ArgString(fcinfo, 3);
	char	   *pin = ArgString(fcinfo, 4);
	Jsonb	   *attrs = (PG_NARGS() > 5 && !PG_ARGISNULL(5)) ? PG_GETARG_JSONB_P(5) : NULL;
	char	   *request = ArgString(fcinfo, 6);
	char		agent[ROUTE_NAME_LEN];
	RouteAgent *a = NULL;
	RouteRollout *r;
	RouteRollout *pinned = NULL;
	int32		pinned_version = 0;
	const char *pin_note = NULL;
	const char *what = NULL;
	RouteRule  *rule;
	RouteKey	key;
	int			bucket;
	Decision	d;

	if (agent_arg.data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"agent\" must not be null")));
	if (attrs != NULL && !JB_ROOT_IS_OBJECT(attrs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"attrs\" must be a JSON object"),
				 errdetail("Cohort rules match the members of an object such as {\"region\": \"eu\"}.")));

	if (agent_arg.len < ROUTE_NAME_LEN)
	{
		memcpy(agent, agent_arg.data, agent_arg.len);
		agent[agent_arg.len] = '\0';
		a = RouteCacheLookup(agent);
	}
	if (a == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("agent \"%s\" does not exist",
						pnstrdup(agent_arg.data, pg_mbcliplen(agent_arg.data, agent_arg.len,
															  ROUTE_NAME_LEN))),
				 errdetail("Argument \"agent\" must name an agent created with rollout.create_agent().")));

	RouteCheckService(a);

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
		return RouteWithoutRollout(a, agent, unit, session, tenant, request, pin, pinned,
								   pinned_version, pin_note);

	/* Inside a rollout. */
	memset(&d, 0, sizeof(d));
	ChooseKey(r->stickiness, unit, session, tenant, &key);
	bucket = RouteBucket(key.data, key.len, r->salt);
	rule = MatchRule(r, tenant, attrs, &what);

	if (pinned != NULL && pinned != r)
		pinned = NULL;			/* a draining pin of an older rollout */
	if (pinned != NULL && VersionArm(r, pinned_version) == NULL)
	{
		pinned = NULL;
		pin_note = "pin ignored: version not in rollout";
	}

	if (rule != NULL)
	{
		d.arm = rule->arm ? rule->arm : BucketArm(r, bucket, rule->percent_bp);
		d.reason = what;
	}
	else if (pinned != NULL && strcmp(r->strategy, "blue_green") != 0)
	{
		d.arm = VersionArm(r, pinned_version);
		d.reason = "pinned";
	}
	else
	{
		d.arm = ShadowPhase(r) ? "stable" : BucketArm(r, bucket, r->percent_bp);
		d.reason = r->reason;
		d.reason_datum = r->reason_datum;
	}
	d.version = ArmVersion(r, d.arm);
	d.rollout = r;
	d.key_note = key.note;

	/* Blue-green serves one side: a pin of the other side does not hold. */
	if (pinned != NULL && strcmp(r->strategy, "blue_green") == 0 &&
		d.version->version != pinned_version && rule == NULL)
		pin_note = "pin ignored: blue_green serves one side";
	d.pin_note = pin_note;

	/* Shadow: a stable request also runs the candidate, by its own split. */
	if (strcmp(d.arm, "stable") == 0 && r->nvariants == 0 && r->shadow_bp > 0 &&
		RouteBucket(key.data, key.len, r->salt + SEED_SHADOW) < r->shadow_bp)
	{
		d.shadow = r->candidate;
		d.write_intercept = r->write_intercept;
	}
	d.judge = JudgeSample(r, unit, session, request);

	/* The pin: the caller's own when it names this version, else a new one. */
	if (r->pinning && session != NULL && RouteCacheSecret() != NULL)
	{
		if (pinned != NULL && d.version->version == pinned_version)
			d.pin = pin;
		else
		{
			char	   *made = RoutePinMake(agent, session, r->id, d.version->version,
											(int64) (GetCurrentTransactionStartTimestamp() / USECS_PER_SEC +
													 (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY));

			if (made != NULL)
				RoutePinRemember(made, agent, session);
			d.pin = made;
		}
	}

	d.flags = FlagsJsonb(a, r, &key, unit, session, tenant);
	d.token = DecisionToken(a, r, d.arm, d.version);
	RouteExposureCount(r->id, d.arm);
	return DecisionTuple(&d);
}
