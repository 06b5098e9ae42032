/*-------------------------------------------------------------------------
 *
 * outcome_service.c
 *		Which roles may write outcomes for an agent (agents.service_roles).
 *
 * record() checks the caller against the agent's service roles on every
 * call, so the roles are cached per backend: agent name -> role OIDs, read
 * once through SPI and dropped when rollout.agents changes (its statement
 * trigger registers a relcache invalidation, see route_cache.c). The SQL
 * paths (record_batch, staging, shadow pairs) use rollout._require_service,
 * which applies the same rule.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "outcome.h"

#define SERVICE_NAME_LEN 64

/* One agent's service roles; restricted is false when it names none. */
typedef struct ServiceEntry
{
	char		agent[SERVICE_NAME_LEN];	/* hash key */
	bool		restricted;
	int			nroles;
	Oid		   *roles;
} ServiceEntry;

static HTAB *service_hash = NULL;
static MemoryContext service_context = NULL;
static Oid	agents_relid = InvalidOid;
static bool callback_registered = false;
static SPIPlanPtr service_plan = NULL;

/* Drops the cache when rollout.agents (or every relation) is invalidated. */
static void
ServiceCacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == agents_relid)
	{
		if (service_context != NULL)
			MemoryContextReset(service_context);
		service_hash = NULL;
		agents_relid = InvalidOid;
	}
}

/* Creates an empty cache in its own memory context. */
static void
ServiceCacheInit(void)
{
	HASHCTL		ctl;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(ServiceCacheCallback, (Datum) 0);
		callback_registered = true;
	}
	if (service_context == NULL)
		service_context = AllocSetContextCreate(TopMemoryContext,
												"pg_rollout service roles",
												ALLOCSET_SMALL_SIZES);
	agents_relid = get_relname_relid("agents", get_namespace_oid("rollout", false));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = SERVICE_NAME_LEN;
	ctl.entrysize = sizeof(ServiceEntry);
	ctl.hcxt = service_context;
	service_hash = hash_create("pg_rollout service roles", 32, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * Reads one agent's service roles into entry. service_roles is read through
 * to_jsonb, so that a 0.1.0 schema (no such column) reads as unrestricted.
 * Needs an SPI connection.
 */
static void
ServiceLoad(const char *agent, ServiceEntry *entry)
{
	Oid			types[1] = {TEXTOID};
	Datum		arg = CStringGetTextDatum(agent);
	bool		isnull;
	Datum		v;
	int			rc;

	if (service_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(
			"SELECT ARRAY(SELECT r.oid FROM pg_catalog.jsonb_array_elements_text("
			"   pg_catalog.to_jsonb(a) OPERATOR(pg_catalog.->) 'service_roles') s"
			"   JOIN pg_catalog.pg_roles r ON r.rolname = s)"
			" FROM rollout.agents a"
			" WHERE a.name = $1"
			"   AND pg_catalog.jsonb_typeof(pg_catalog.to_jsonb(a) OPERATOR(pg_catalog.->) 'service_roles') = 'array'",
			1, types);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "pg_rollout: could not prepare the service role lookup: %s",
				 SPI_result_code_string(SPI_result));
		service_plan = plan;
	}
	rc = SPI_execute_plan(service_plan, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: service role lookup failed: %s", SPI_result_code_string(rc));
	entry->restricted = false;
	entry->nroles = 0;
	entry->roles = NULL;
	if (SPI_processed == 0)
		return;
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	entry->restricted = true;
	if (!isnull)
	{
		Datum	   *elems;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(v), OIDOID, sizeof(Oid), true,
						  TYPALIGN_INT, &elems, NULL, &n);
		entry->roles = MemoryContextAlloc(service_context, sizeof(Oid) * Max(n, 1));
		for (int i = 0; i < n; i++)
			entry->roles[i] = DatumGetObjectId(elems[i]);
		entry->nroles = n;
	}
}

/*
 * Raises insufficient_privilege unless the calling role (after SET ROLE,
 * outside SECURITY DEFINER) may write outcomes for the agent: a member of
 * one of its service roles, or anyone when it names none. Unknown agents
 * pass; the caller reports them. Needs an SPI connection.
 */
void
OutcomeRequireService(const char *agent)
{
	ServiceEntry *entry;
	char		key[SERVICE_NAME_LEN];
	bool		found;
	Oid			role = GetOuterUserId();
	StringInfoData names;

	if (strlen(agent) >= SERVICE_NAME_LEN)
		return;					/* not a valid agent name; resolve reports it */
	if (service_hash == NULL)
		ServiceCacheInit();
	memset(key, 0, sizeof(key));
	strlcpy(key, agent, sizeof(key));
	entry = hash_search(service_hash, key, HASH_FIND, &found);
	if (!found)
	{
		ServiceEntry loaded;

		ServiceLoad(agent, &loaded);
		/* The load may have run an invalidation that dropped the cache. */
		if (service_hash == NULL)
			ServiceCacheInit();
		entry = hash_search(service_hash, key, HASH_ENTER, &found);
		entry->restricted = loaded.restricted;
		entry->nroles = loaded.nroles;
		entry->roles = loaded.roles;
	}
	if (!entry->restricted)
		return;
	for (int i = 0; i < entry->nroles; i++)
		if (has_privs_of_role(role, entry->roles[i]))
			return;

	initStringInfo(&names);
	for (int i = 0; i < entry->nroles; i++)
	{
		char	   *name = GetUserNameFromId(entry->roles[i], true);

		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", name ? name : "?");
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not write outcomes for agent \"%s\"",
					GetUserNameFromId(role, false), agent),
			 errdetail("Agent \"%s\" accepts outcomes only from members of %s.",
					   agent, entry->nroles > 0 ? names.data : "no existing role"),
			 errhint("Grant one of those roles to this login, or change them with rollout.set_service_roles().")));
}
