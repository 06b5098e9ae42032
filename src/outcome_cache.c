/*-------------------------------------------------------------------------
 *
 * outcome_cache.c
 *		Per-backend cache that maps (agent, version, time) to rollout and arm.
 *
 * rollout.record() runs once per request, so it must not query the state
 * tables each time. Each backend keeps, per agent: the versions seen to
 * exist (versions are immutable and append-only, so a positive entry never
 * goes stale), the agent's rollouts with their arms, and its quality scale.
 * A statement trigger on rollout.rollouts and rollout.quality_scales
 * registers a relcache invalidation at every change
 * (rollout._outcomes_invalidate); the callback marks the whole cache stale,
 * so the first record() after the change's commit reloads. Invalidations
 * are accepted at every transaction start and lock acquisition.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "outcome.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(rollout_outcomes_invalidate);

/* One rollout of an agent, as the cache keeps it. */
typedef struct CachedRollout
{
	int64		id;
	int32		baseline;
	int32		candidate;
	int32		stage;
	TimestampTz started_at;
	TimestampTz ended_at;		/* DT_NOEND while active */
	int			nvariants;
	int32	   *variant_versions;
	char	  **variant_names;
} CachedRollout;

/* Everything cached about one agent. */
typedef struct AgentEntry
{
	char		name[ROLLOUT_MAX_NAME_LEN + 1];	/* hash key */
	bool		loaded;
	int			nversions;
	int			maxversions;
	int32	   *versions;		/* known to exist */
	int			nrollouts;
	CachedRollout *rollouts;	/* newest first */
	float8		quality_min;
	float8		quality_max;
} AgentEntry;

static MemoryContext OutcomeCacheContext = NULL;
static HTAB *AgentCache = NULL;
static bool CacheStale = true;
static bool CallbackRegistered = false;
static Oid	WatchedRelids[3];

/* Relcache callback: any change to a watched table makes the cache stale. */
static void
OutcomeRelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == WatchedRelids[0] ||
		relid == WatchedRelids[1] || relid == WatchedRelids[2])
		CacheStale = true;
}

/* Looks up the OID of rollout.<name>, or InvalidOid. */
static Oid
RolloutRelid(const char *name)
{
	Oid			nsp = get_namespace_oid("rollout", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/* Drops every cached entry and rebuilds an empty cache. */
static void
ResetCache(void)
{
	HASHCTL		ctl;

	if (!CallbackRegistered)
	{
		CacheRegisterRelcacheCallback(OutcomeRelcacheCallback, (Datum) 0);
		CallbackRegistered = true;
	}
	if (OutcomeCacheContext == NULL)
		OutcomeCacheContext = AllocSetContextCreate(CacheMemoryContext,
													"pg_rollout outcome cache",
													ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(OutcomeCacheContext);
	WatchedRelids[0] = RolloutRelid("rollouts");
	WatchedRelids[1] = RolloutRelid("versions");
	WatchedRelids[2] = RolloutRelid("quality_scales");
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ROLLOUT_MAX_NAME_LEN + 1;
	ctl.entrysize = sizeof(AgentEntry);
	ctl.hcxt = OutcomeCacheContext;
	AgentCache = hash_create("pg_rollout agents", 64, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	CacheStale = false;
}

/* Runs a read-only query with text/int parameters; errors if SPI fails. */
static void
RunQuery(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout outcome cache query failed: %s", SPI_result_code_string(rc));
}

/* Loads the agent's rollouts and quality scale into its entry. */
static void
LoadAgent(AgentEntry *entry)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(entry->name)};
	MemoryContext old;
	bool		isnull;

	RunQuery("SELECT r.id, r.baseline, r.candidate, r.stage, r.started_at,"
			 " coalesce(r.ended_at, 'infinity'),"
			 " CASE WHEN r.strategy = 'ab_test' AND jsonb_typeof(r.variants) = 'array' THEN"
			 "  (SELECT array_agg(v->>'name' ORDER BY o) FROM jsonb_array_elements(r.variants)"
			 "   WITH ORDINALITY AS e(v, o) WHERE jsonb_typeof(v->'version') = 'number') END,"
			 " CASE WHEN r.strategy = 'ab_test' AND jsonb_typeof(r.variants) = 'array' THEN"
			 "  (SELECT array_agg((v->>'version')::integer ORDER BY o) FROM jsonb_array_elements(r.variants)"
			 "   WITH ORDINALITY AS e(v, o) WHERE jsonb_typeof(v->'version') = 'number') END"
			 " FROM rollout.rollouts r WHERE r.agent = $1"
			 " ORDER BY r.started_at DESC, r.id DESC",
			 1, types, values);
	old = MemoryContextSwitchTo(OutcomeCacheContext);
	entry->nrollouts = (int) SPI_processed;
	entry->rollouts = palloc0(sizeof(CachedRollout) * Max(1, entry->nrollouts));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CachedRollout *r = &entry->rollouts[i];
		Datum		names;

		r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->baseline = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		r->candidate = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		r->stage = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		r->started_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
		r->ended_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
		names = SPI_getbinval(tup, desc, 7, &isnull);
		if (!isnull)
		{
			ArrayType  *na = DatumGetArrayTypeP(names);
			ArrayType  *va = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 8, &isnull));
			Datum	   *nd;
			Datum	   *vd;
			bool	   *nn;
			bool	   *vn;
			int			n;
			int			nv;

			deconstruct_array(na, TEXTOID, -1, false, TYPALIGN_INT, &nd, &nn, &n);
			deconstruct_array(va, INT4OID, sizeof(int32), true, TYPALIGN_INT, &vd, &vn, &nv);
			r->nvariants = 0;
			r->variant_names = palloc(sizeof(char *) * Max(1, n));
			r->variant_versions = palloc(sizeof(int32) * Max(1, n));
			for (int k = 0; k < n && k < nv; k++)
			{
				if (nn[k] || vn[k])
					continue;
				r->variant_names[r->nvariants] = TextDatumGetCString(nd[k]);
				r->variant_versions[r->nvariants] = DatumGetInt32(vd[k]);
				r->nvariants++;
			}
		}
	}
	MemoryContextSwitchTo(old);

	entry->quality_min = 0;
	entry->quality_max = 1;
	if (OidIsValid(WatchedRelids[2]))
	{
		RunQuery("SELECT min, max FROM rollout.quality_scales WHERE agent = $1",
				 1, types, values);
		if (SPI_processed == 1)
		{
			entry->quality_min = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 1, &isnull));
			entry->quality_max = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 2, &isnull));
		}
	}
	entry->loaded = true;
}

/* Raises undefined_object unless (agent, version) exists; caches a hit. */
static void
CheckVersion(AgentEntry *entry, int32 version, int row)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(entry->name), Int32GetDatum(version)};

	for (int i = 0; i < entry->nversions; i++)
		if (entry->versions[i] == version)
			return;
	RunQuery("SELECT 1 FROM rollout.versions WHERE agent = $1 AND version = $2",
			 2, types, values);
	if (SPI_processed == 0)
	{
		RunQuery("SELECT 1 FROM rollout.agents WHERE name = $1", 1, types, values);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("%sagent \"%s\" does not exist", OutcomeRowPrefix(row), entry->name),
					 errdetail("Argument \"agent\" must name an agent created with rollout.create_agent().")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%sversion %d of agent \"%s\" does not exist",
						OutcomeRowPrefix(row), version, entry->name),
				 errdetail("Argument \"version\" must name a version created with rollout.create_version().")));
	}
	if (entry->nversions == entry->maxversions)
	{
		int			newmax = Max(8, entry->maxversions * 2);
		int32	   *nv = MemoryContextAlloc(OutcomeCacheContext, sizeof(int32) * newmax);

		if (entry->nversions > 0)
			memcpy(nv, entry->versions, sizeof(int32) * entry->nversions);
		entry->versions = nv;
		entry->maxversions = newmax;
	}
	entry->versions[entry->nversions++] = version;
}

/*
 * Validates agent and version and returns the agent's loaded cache entry.
 * The caller is connected to SPI.
 */
static AgentEntry *
ResolveAgent(const char *agent, int32 version, int row)
{
	AgentEntry *entry;
	bool		found;

	RegistryCheckName(agent, "agent");
	if (CacheStale || AgentCache == NULL)
		ResetCache();
	entry = hash_search(AgentCache, agent, HASH_FIND, NULL);
	if (entry == NULL)
	{
		/* Unknown names are never cached: failing calls cannot grow the cache. */
		Oid			types[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(agent)};

		RunQuery("SELECT 1 FROM rollout.agents WHERE name = $1", 1, types, values);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("%sagent \"%s\" does not exist", OutcomeRowPrefix(row), agent),
					 errdetail("Argument \"agent\" must name an agent created with rollout.create_agent().")));
	}
	entry = hash_search(AgentCache, agent, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) entry) + sizeof(entry->name), 0, sizeof(AgentEntry) - sizeof(entry->name));
		entry->loaded = false;
	}
	CheckVersion(entry, version, row);
	if (!entry->loaded)
		LoadAgent(entry);
	return entry;
}

static void FillByTime(AgentEntry *entry, int32 version, TimestampTz at, OutcomeContext *ctx);

/* Sets ctx's arm to the arm of version in rollout r, if it is in one. */
static void
ArmOfVersion(const CachedRollout *r, int32 version, OutcomeContext *ctx)
{
	for (int k = 0; k < r->nvariants; k++)
		if (r->variant_versions[k] == version)
		{
			ctx->in_arm = true;
			strlcpy(ctx->arm, r->variant_names[k], OUTCOME_ARM_LEN);
			return;
		}
	if (version == r->candidate)
	{
		ctx->in_arm = true;
		strlcpy(ctx->arm, "candidate", OUTCOME_ARM_LEN);
	}
	else if (version == r->baseline)
	{
		ctx->in_arm = true;
		strlcpy(ctx->arm, "stable", OUTCOME_ARM_LEN);
	}
}

/*
 * Validates agent and version and fills ctx with the rollout covering `at`
 * and the version's arm in it (the time-based attribution, used without a
 * decision token). The caller is connected to SPI. row > 0 prefixes error
 * messages with the batch row number.
 */
void
OutcomeResolve(const char *agent, int32 version, TimestampTz at, int row,
			   OutcomeContext *ctx)
{
	FillByTime(ResolveAgent(agent, version, row), version, at, ctx);
}

/*
 * OutcomeResolve from the cache alone: returns true and fills ctx when the
 * cache is valid and holds the agent, loaded, with the version known to
 * exist; false when OutcomeResolve (which needs SPI) must run. The batch
 * paths call it per row, so most rows need no SPI connection.
 */
bool
OutcomeResolveCached(const char *agent, int32 version, TimestampTz at, OutcomeContext *ctx)
{
	AgentEntry *entry;

	RegistryCheckName(agent, "agent");
	if (CacheStale || AgentCache == NULL)
		return false;
	entry = hash_search(AgentCache, agent, HASH_FIND, NULL);
	if (entry == NULL || !entry->loaded)
		return false;
	for (int i = 0; i < entry->nversions; i++)
		if (entry->versions[i] == version)
		{
			FillByTime(entry, version, at, ctx);
			return true;
		}
	return false;
}

/* Fills ctx from a loaded entry: the rollout covering `at`, the version's arm. */
static void
FillByTime(AgentEntry *entry, int32 version, TimestampTz at, OutcomeContext *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->quality_min = entry->quality_min;
	ctx->quality_max = entry->quality_max;
	for (int i = 0; i < entry->nrollouts; i++)
	{
		CachedRollout *r = &entry->rollouts[i];

		if (at < r->started_at || at >= r->ended_at)
			continue;
		ctx->has_rollout = true;
		ctx->rollout_id = r->id;
		ctx->stage = r->stage;
		ArmOfVersion(r, version, ctx);
		return;
	}
}

/*
 * Validates agent and version and fills ctx for an outcome served by
 * rollout rollout_id (0: outside any rollout): the rollout, its current
 * stage and the version's arm in it. Returns false when the agent has no
 * such rollout, after reloading the agent once (a rollout that started since
 * the cache was loaded). The caller is connected to SPI.
 */
bool
OutcomeResolveRollout(const char *agent, int32 version, int64 rollout_id, int row,
					  OutcomeContext *ctx)
{
	AgentEntry *entry = ResolveAgent(agent, version, row);

	memset(ctx, 0, sizeof(*ctx));
	ctx->quality_min = entry->quality_min;
	ctx->quality_max = entry->quality_max;
	if (rollout_id == 0)
		return true;
	for (int attempt = 0; attempt < 2; attempt++)
	{
		for (int i = 0; i < entry->nrollouts; i++)
		{
			CachedRollout *r = &entry->rollouts[i];

			if (r->id != rollout_id)
				continue;
			ctx->has_rollout = true;
			ctx->rollout_id = r->id;
			ctx->stage = r->stage;
			ArmOfVersion(r, version, ctx);
			return true;
		}
		if (attempt == 0)
		{
			entry->loaded = false;
			LoadAgent(entry);
		}
	}
	return false;
}

/*
 * Statement trigger on the tables the cache reads: registers a relcache
 * invalidation, sent to every backend (and standby) at commit.
 */
Datum
rollout_outcomes_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rollout._outcomes_invalidate() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
