/*-------------------------------------------------------------------------
 *
 * route_cache.c
 *		The per-backend cache of routing state and its invalidation.
 *
 * route() must not read tables on the hot path. The first call in a
 * backend, and the first after an invalidation, loads every agent, its
 * production version, every active rollout and every ended rollout whose
 * drain may still run (with the content of each version they reference)
 * and the pin secret, into a hash table in a memory context under
 * TopMemoryContext.
 *
 * Freshness: statement triggers on the state tables call
 * CacheInvalidateRelcacheByRelid() (rollout._route_invalidate), so a
 * relcache invalidation of that table is queued with the transaction, sent
 * at commit (dropped on abort) and replayed on hot standbys. A relcache
 * callback registered once per backend marks the cache stale when one of
 * the watched tables (or everything) is invalidated. The next call reloads.
 * The committing backend sends the message after its commit became visible,
 * so a route() that starts in that short gap may still serve the old state;
 * every transaction that starts after the COMMIT returned serves the new one.
 *
 * The loader reads with the latest snapshot (not the transaction's), so a
 * reload inside a REPEATABLE READ transaction cannot cache state older than
 * the invalidation that triggered it. In parallel mode (route() is PARALLEL
 * SAFE) that snapshot cannot be taken; the query's snapshot is used and the
 * cache is reloaded in the next transaction. The cache is marked valid before the
 * load starts: an invalidation that arrives during the load leaves it stale.
 *
 * The loader runs as the owner of rollout.rollouts with search_path
 * pg_catalog, pg_temp (as a SECURITY DEFINER function would), so callers
 * need no privileges on the tables and the secret stays unreadable to them;
 * route() itself stays an ordinary C function on the hot path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "route.h"
#include "route_parse.h"

/*
 * Tables whose invalidation makes the cache stale, and last the relation of
 * the composite type rollout.decision, whose TupleDesc the cache keeps.
 */
#define ROUTE_NTABLES 5
#define ROUTE_NWATCHED (ROUTE_NTABLES + 1)
static const char *const watched_names[ROUTE_NTABLES] = {
	"agents", "versions", "labels", "rollouts", "_route_secret"
};

static Oid	watched_oids[ROUTE_NWATCHED];
static Oid	decision_type = InvalidOid;

/*
 * Whether the cache may be used without a reload. The hot path tests only
 * this flag: the relcache callback clears it, and so does a lookup in the
 * next transaction when the cache was loaded in parallel mode.
 */
static bool cache_valid = false;

/*
 * In parallel mode the latest snapshot cannot be taken; a cache loaded with
 * the query's snapshot is only trusted until the transaction ends.
 */
static bool cache_xact_bound = false;
static LocalTransactionId cache_lxid = InvalidLocalTransactionId;

/* This backend's local transaction id (PGPROC moved it in PostgreSQL 17). */
#if PG_VERSION_NUM >= 170000
#define RouteCurrentLxid() (MyProc->vxid.lxid)
#else
#define RouteCurrentLxid() (MyProc->lxid)
#endif
static bool callback_registered = false;
static MemoryContext cache_context = NULL;
static HTAB *agent_hash = NULL;
static HTAB *version_hash = NULL;	/* only while loading */
static bool secret_loaded = false;
static uint8 secret[ROUTE_SECRET_LEN];
static uint64 cache_generation = 0;
static RouteConstants constants;

/* Key of the version table used while loading. */
typedef struct VersionKey
{
	char		agent[ROUTE_NAME_LEN];
	int32		version;
} VersionKey;

typedef struct VersionEntry
{
	VersionKey	key;
	RouteVersion v;
} VersionEntry;

PG_FUNCTION_INFO_V1(rollout_route_invalidate);

/* Relcache callback: marks the cache stale when a watched table changes. */
static void
RouteCacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid)
	{
		cache_valid = false;
		return;
	}
	for (int i = 0; i < ROUTE_NWATCHED; i++)
		if (watched_oids[i] == relid)
			cache_valid = false;
}

/* Finds a version loaded by the current load, or NULL. */
static RouteVersion *
LoadedVersion(const char *agent, int32 version)
{
	VersionKey	key;
	VersionEntry *e;

	if (strlen(agent) >= ROUTE_NAME_LEN)
		return NULL;
	memset(&key, 0, sizeof(key));
	strlcpy(key.agent, agent, sizeof(key.agent));
	key.version = version;
	e = hash_search(version_hash, &key, HASH_FIND, NULL);
	return e ? &e->v : NULL;
}

/* Copies a varlena column of the current SPI row into the cache context. */
static Datum
CopyVarlena(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	if (*isnull)
		return (Datum) 0;
	return PointerGetDatum(pg_detoast_datum_copy((struct varlena *) DatumGetPointer(d)));
}

/* A text column of the current SPI row as a C string, or NULL. */
static char *
ColumnCString(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Runs one read-only query of the loader; raises on failure. */
static void
LoaderQuery(const char *sql)
{
	int			rc = SPI_execute(sql, true, 0);

	if (rc != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not load the routing state: %s", SPI_result_code_string(rc))));
}

/* Returns the agent entry for a name, creating it when asked. */
static RouteAgent *
AgentEntry(const char *name, bool create)
{
	char		key[ROUTE_NAME_LEN];
	bool		found;
	RouteAgent *a;

	if (strlen(name) >= ROUTE_NAME_LEN)
		return NULL;
	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	a = hash_search(agent_hash, key, create ? HASH_ENTER : HASH_FIND, &found);
	if (create && !found)
	{
		a->production = NULL;
		a->token_production = (Datum) 0;
		a->active = NULL;
		a->nfinal = 0;
		a->final = NULL;
		a->nflags = 0;
		a->flags = NULL;
		a->restricted = false;
		a->nservice_roles = 0;
		a->service_roles = NULL;
	}
	return a;
}

/*
 * Filter shared by the rollout and version queries: rollouts routing serves.
 * A safety rollback (drain_skipped) ends its drain at once, but stays listed
 * for the drain it would have had, so that a pin to it is refused with
 * "pin ignored: safety rollback" rather than "expired".
 */
#define SERVED_ROLLOUTS \
	"SELECT * FROM rollout.rollouts r " \
	" WHERE rollout.is_active_state(r.state) " \
	"    OR (r.state = 'promoted' OR r.state = 'rolled_back') " \
	"   AND coalesce(r.drain_until, r.ended_at + r.drain) > now()" \
	"    OR r.state = 'rolled_back' AND r.drain_skipped AND r.ended_at + r.drain > now()"

/* Loads the content of every version the served state references. */
static void
LoadVersions(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(VersionKey);
	ctl.entrysize = sizeof(VersionEntry);
	ctl.hcxt = cache_context;
	version_hash = hash_create("pg_rollout route versions", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	LoaderQuery("WITH r AS (" SERVED_ROLLOUTS "), refs AS ("
				" SELECT l.agent, l.version FROM rollout.labels l WHERE l.label = 'production'"
				" UNION SELECT r.agent, r.baseline FROM r"
				" UNION SELECT r.agent, r.candidate FROM r"
				" UNION SELECT r.agent, (e.value ->> 'version')::integer"
				"   FROM r, jsonb_array_elements(CASE WHEN jsonb_typeof(r.variants) = 'array'"
				"                                THEN r.variants ELSE '[]' END) e"
				"  WHERE jsonb_typeof(e.value -> 'version') = 'number'"
				"    AND (e.value ->> 'version') ~ '^[0-9]{1,9}$')"
				" SELECT v.agent, v.version, v.fingerprint, v.model, v.system_prompt, v.template,"
				"        v.few_shot, v.tools, v.params"
				"   FROM rollout.versions v JOIN refs ON refs.agent = v.agent AND refs.version = v.version");

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cache_context);
		char	   *agent = ColumnCString(tup, desc, 1);
		VersionKey	key;
		VersionEntry *e;
		bool		isnull;

		if (strlen(agent) < ROUTE_NAME_LEN)
		{
			memset(&key, 0, sizeof(key));
			strlcpy(key.agent, agent, sizeof(key.agent));
			key.version = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			e = hash_search(version_hash, &key, HASH_ENTER, NULL);
			e->v.version = key.version;
			/* Columns agent .. params of rollout.decision, in order. */
			e->v.values[0] = CStringGetTextDatum(agent);
			e->v.nulls[0] = false;
			e->v.values[1] = Int32GetDatum(key.version);
			e->v.nulls[1] = false;
			for (int col = 3; col <= 9; col++)
				e->v.values[col - 1] = CopyVarlena(tup, desc, col, &e->v.nulls[col - 1]);
		}
		MemoryContextSwitchTo(old);
	}
}

/*
 * Fills an agent's standalone flags from the loader's arrays of names and
 * shares (in buckets). Each flag's split is seeded by its name under a salt
 * of the agent name, so it is the same in every rollout and outside them.
 */
static void
LoadAgentFlags(RouteAgent *a, ArrayType *names, ArrayType *shares)
{
	Datum	   *name_elems;
	Datum	   *share_elems;
	int			n;
	int			nshares;
	uint64		salt = RouteHash(a->name, strlen(a->name), 0);

	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &name_elems, NULL, &n);
	deconstruct_array(shares, INT4OID, sizeof(int32), true, TYPALIGN_INT, &share_elems, NULL,
					  &nshares);
	if (n == 0 || n != nshares)
		return;
	a->flags = MemoryContextAllocZero(cache_context, sizeof(RouteFlag) * n);
	for (int i = 0; i < n; i++)
	{
		RouteFlag  *f = &a->flags[i];

		f->name = MemoryContextStrdup(cache_context, TextDatumGetCString(name_elems[i]));
		f->percent_bp = DatumGetInt32(share_elems[i]);
		f->seed = RouteFlagSeed(f->name, salt);
	}
	a->nflags = n;
}

/*
 * Loads every agent, its production version, the roles allowed to route for
 * it and its standalone flags (service_roles and flags are read through
 * to_jsonb so that an older schema, which lacks them, loads too; the flags
 * as names and shares in buckets, each clamped to 0..10000).
 */
static void
LoadAgents(void)
{
	LoaderQuery("SELECT a.name, l.version,"
				" CASE WHEN jsonb_typeof(aj.j -> 'service_roles') = 'array' THEN"
				"  ARRAY(SELECT r.oid FROM jsonb_array_elements_text(aj.j -> 'service_roles') s"
				"        JOIN pg_roles r ON r.rolname = s) END,"
				" fl.names, fl.shares"
				" FROM rollout.agents a"
				" CROSS JOIN LATERAL (SELECT to_jsonb(a) AS j) aj"
				" CROSS JOIN LATERAL ("
				"  SELECT coalesce(array_agg(f.key ORDER BY f.key COLLATE \"C\"), '{}') AS names,"
				"         coalesce(array_agg(least(greatest(round(f.value::numeric * 100), 0), 10000)::integer"
				"                            ORDER BY f.key COLLATE \"C\"), '{}') AS shares"
				"  FROM jsonb_each(CASE WHEN jsonb_typeof(aj.j -> 'flags') = 'object' THEN aj.j -> 'flags' END) f"
				"  WHERE jsonb_typeof(f.value) = 'number') fl"
				" LEFT JOIN rollout.labels l ON l.agent = a.name AND l.label = 'production'");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *name = ColumnCString(tup, desc, 1);
		bool		isnull;
		Datum		v = SPI_getbinval(tup, desc, 2, &isnull);
		RouteAgent *a = AgentEntry(name, true);

		if (a == NULL)
			continue;
		if (!isnull)
			a->production = LoadedVersion(name, DatumGetInt32(v));
		v = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull)
		{
			ArrayType  *roles = DatumGetArrayTypeP(v);
			Datum	   *elems;
			int			n;

			deconstruct_array(roles, OIDOID, sizeof(Oid), true, TYPALIGN_INT,
							  &elems, NULL, &n);
			a->restricted = true;
			a->nservice_roles = n;
			a->service_roles = MemoryContextAlloc(cache_context, sizeof(Oid) * Max(n, 1));
			for (int j = 0; j < n; j++)
				a->service_roles[j] = DatumGetObjectId(elems[j]);
		}
		LoadAgentFlags(a, DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull)),
					   DatumGetArrayTypeP(SPI_getbinval(tup, desc, 5, &isnull)));
	}
}

/* Fills one rollout from the current SPI row of LoadRollouts' query. */
static RouteRollout *
ReadRollout(HeapTuple tup, TupleDesc desc, const char *agent)
{
	RouteRollout *r = palloc0(sizeof(RouteRollout));
	bool		isnull;
	char	   *s;
	Datum		d;

	r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	r->baseline = LoadedVersion(agent, DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull)));
	r->candidate = LoadedVersion(agent, DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull)));
	strlcpy(r->strategy, ColumnCString(tup, desc, 5), sizeof(r->strategy));
	strlcpy(r->state, ColumnCString(tup, desc, 6), sizeof(r->state));
	r->stage = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	r->percent_bp = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	r->percent_text = ColumnCString(tup, desc, 9);
	s = ColumnCString(tup, desc, 10);
	r->stickiness = strcmp(s, "session") == 0 ? ROUTE_STICKY_SESSION :
		strcmp(s, "tenant") == 0 ? ROUTE_STICKY_TENANT : ROUTE_STICKY_UNIT;
	r->salt = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
	r->shadow_bp = DatumGetInt32(SPI_getbinval(tup, desc, 13, &isnull));
	r->write_intercept = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull));
	r->judge_rate = DatumGetFloat8(SPI_getbinval(tup, desc, 17, &isnull));
	r->pinning = DatumGetBool(SPI_getbinval(tup, desc, 18, &isnull));
	d = SPI_getbinval(tup, desc, 19, &isnull);
	r->has_drain_until = !isnull;
	r->drain_until = isnull ? 0 : DatumGetTimestampTz(d);
	r->drain_skipped = DatumGetBool(SPI_getbinval(tup, desc, 20, &isnull));
	r->active = DatumGetBool(SPI_getbinval(tup, desc, 21, &isnull));
	r->promoted = strcmp(r->state, "promoted") == 0;

	if (r->baseline == NULL || r->candidate == NULL)
		RouteParseFail(r, "Its baseline or candidate version could not be loaded.");
	if (strcmp(r->strategy, "blue_green") == 0 && r->percent_bp != 0 &&
		r->percent_bp != ROUTE_BUCKETS)
		RouteParseFail(r, psprintf("Strategy blue_green serves one side: column \"percent\" must be 0 or 100, not %s.",
								   r->percent_text));
	if (strcmp(r->strategy, "ab_test") == 0)
	{
		d = SPI_getbinval(tup, desc, 12, &isnull);
		RouteParseVariants(r, isnull ? NULL : DatumGetJsonbP(d), LoadedVersion, agent);
	}
	RouteParseRules(r, DatumGetJsonbP(SPI_getbinval(tup, desc, 15, &isnull)));
	RouteParseFlags(r, DatumGetJsonbP(SPI_getbinval(tup, desc, 16, &isnull)));
	RoutePrepareRollout(r);
	return r;
}

/* Loads active rollouts and ended ones that may still be draining. */
static void
LoadRollouts(void)
{
	LoaderQuery("SELECT r.id, r.agent, r.baseline, r.candidate, r.strategy, r.state, r.stage,"
				"       (r.percent * 100)::integer, trim_scale(r.percent)::text, r.stickiness,"
				"       r.salt, r.variants, (r.shadow_percent * 100)::integer, r.write_intercept,"
				"       r.rules, r.flags, r.judge_rate, r.pinning,"
				"       coalesce(r.drain_until, r.ended_at + r.drain), r.drain_skipped,"
				"       rollout.is_active_state(r.state)"
				"  FROM (" SERVED_ROLLOUTS ") r ORDER BY r.agent, r.id DESC");

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cache_context);
		char	   *agent = ColumnCString(tup, desc, 2);
		RouteAgent *a = AgentEntry(agent, false);

		if (a != NULL)
		{
			RouteRollout *r = ReadRollout(tup, desc, agent);

			if (r->active)
				a->active = r;
			else
			{
				a->final = a->final == NULL ? palloc(sizeof(RouteRollout *)) :
					repalloc(a->final, sizeof(RouteRollout *) * (a->nfinal + 1));
				a->final[a->nfinal++] = r;
			}
		}
		MemoryContextSwitchTo(old);
	}
}

/* Loads the pin secret, if the table has one. */
static void
LoadSecret(void)
{
	LoaderQuery("SELECT s.secret FROM rollout._route_secret s WHERE s.id = 1");
	secret_loaded = false;
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			bytea	   *b = DatumGetByteaPP(d);

			if (VARSIZE_ANY_EXHDR(b) == ROUTE_SECRET_LEN)
			{
				memcpy(secret, VARDATA_ANY(b), ROUTE_SECRET_LEN);
				secret_loaded = true;
			}
		}
	}
}

/* Looks up the watched tables, the decision type and the loader's role. */
static Oid
ResolveTables(void)
{
	Oid			nsp = get_namespace_oid("rollout", false);
	HeapTuple	tup;
	Oid			owner;

	decision_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									CStringGetDatum("decision"), ObjectIdGetDatum(nsp));
	if (!OidIsValid(decision_type) || !OidIsValid(get_typ_typrelid(decision_type)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("type rollout.decision does not exist"),
				 errdetail("The pg_rollout extension is not installed completely in this database.")));
	watched_oids[ROUTE_NTABLES] = get_typ_typrelid(decision_type);
	for (int i = 0; i < ROUTE_NTABLES; i++)
	{
		watched_oids[i] = get_relname_relid(watched_names[i], nsp);
		if (!OidIsValid(watched_oids[i]))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table rollout.%s does not exist", watched_names[i]),
					 errdetail("The pg_rollout extension is not installed completely in this database.")));
	}
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(watched_oids[3]));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", watched_oids[3]);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Builds the decision TupleDesc and the constant datums in the cache context. */
static void
LoadConstants(void)
{
	MemoryContext old = MemoryContextSwitchTo(cache_context);
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(decision_type, -1);

	/* A 0.2.0 schema (before ALTER EXTENSION UPDATE) has no decision_token. */
	if (desc->natts != ROUTE_DECISION_NATTS && desc->natts != ROUTE_DECISION_NATTS_0_2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("type rollout.decision has %d attributes, expected %d",
						desc->natts, ROUTE_DECISION_NATTS),
				 errdetail("The installed SQL objects do not match the pg_rollout library.")));
	constants.decision_desc = BlessTupleDesc(desc);
	constants.arm_stable = CStringGetTextDatum("stable");
	constants.arm_candidate = CStringGetTextDatum("candidate");
	constants.reason_no_rollout = CStringGetTextDatum("no rollout");
	constants.empty_flags = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	MemoryContextSwitchTo(old);
}

/* Rebuilds the whole cache from the tables. */
static void
RouteCacheLoad(void)
{
	MemoryContext new_context;
	MemoryContext old_context = cache_context;
	HTAB	   *old_agents = agent_hash;
	Oid			save_userid;
	int			save_sec_context;
	Oid			owner;
	HASHCTL		ctl;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(RouteCacheCallback, (Datum) 0);
		callback_registered = true;
	}

	/* From here on, an invalidation during the load leaves the cache stale. */
	cache_valid = true;

	new_context = AllocSetContextCreate(TopMemoryContext, "pg_rollout route cache",
										ALLOCSET_DEFAULT_SIZES);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	PG_TRY();
	{
		int			nestlevel;

		owner = ResolveTables();
		cache_context = new_context;
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = ROUTE_NAME_LEN;
		ctl.entrysize = sizeof(RouteAgent);
		ctl.hcxt = new_context;
		agent_hash = hash_create("pg_rollout route agents", 64, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

		SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cache_xact_bound = IsInParallelMode();
		cache_lxid = RouteCurrentLxid();
		PushActiveSnapshot(cache_xact_bound ? GetActiveSnapshot() : GetLatestSnapshot());
		LoadConstants();
		LoadVersions();
		LoadAgents();
		LoadRollouts();
		LoadSecret();
		PopActiveSnapshot();
		SPI_finish();
		AtEOXact_GUC(true, nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		version_hash = NULL;
	}
	PG_CATCH();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
		cache_valid = false;
		cache_context = old_context;
		agent_hash = old_agents;
		version_hash = NULL;
		MemoryContextDelete(new_context);
		PG_RE_THROW();
	}
	PG_END_TRY();

	cache_generation++;
	if (old_context != NULL)
		MemoryContextDelete(old_context);
}

/* The cached state of an agent, loading the cache when stale; NULL if unknown. */
RouteAgent *
RouteCacheLookup(const char *agent)
{
	char		key[ROUTE_NAME_LEN];

	if (unlikely(!cache_valid) ||
		unlikely(cache_xact_bound && cache_lxid != RouteCurrentLxid()))
		RouteCacheLoad();
	if (strlen(agent) >= ROUTE_NAME_LEN)
		return NULL;
	memset(key, 0, sizeof(key));
	strlcpy(key, agent, sizeof(key));
	return hash_search(agent_hash, key, HASH_FIND, NULL);
}

/* The constant datums of the current cache (valid after a lookup). */
const RouteConstants *
RouteCacheConstants(void)
{
	return &constants;
}

/* A number that changes at every reload; cached pin checks key on it. */
uint64
RouteCacheGeneration(void)
{
	return cache_generation;
}

/* The memory context of the current cache load (things made lazily for it). */
MemoryContext
RouteCacheMemory(void)
{
	return cache_context;
}

/* The pin secret of the current cache, or NULL when none is set. */
const uint8 *
RouteCacheSecret(void)
{
	return secret_loaded ? secret : NULL;
}

/*
 * rollout._route_invalidate(): statement trigger on the state tables. Queues
 * a relcache invalidation of the table; it is sent at commit (and replayed
 * on standbys). PostgreSQL makes a commit visible to new snapshots a moment
 * before it sends the invalidation, so the promise is: every statement (in
 * a new transaction) that starts after the COMMIT returned sees the change
 * (docs/routing.md, "Cache and freshness").
 */
Datum
rollout_route_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rollout._route_invalidate() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
