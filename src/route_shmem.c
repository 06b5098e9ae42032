/*-------------------------------------------------------------------------
 *
 * route_shmem.c
 *		Exposure counters in shared memory, one per (rollout, arm).
 *
 * route() writes nothing, yet the sample-ratio-mismatch check needs to know
 * how many requests each arm was given. Every decision made inside a
 * rollout adds one to a counter in a fixed-size shared hash table, as
 * pg_stat_statements does: the lookup and the atomic increment happen under
 * a shared LWLock, inserting a new key takes it exclusively. The worker
 * reads the counters with rollout.flush_exposures(), which subtracts what
 * it returned only when its transaction commits: a tick that aborts (or a
 * subtransaction of it that rolls back) loses no exposure.
 *
 * Without shared_preload_libraries the table does not exist; route() then
 * still routes and simply does not count.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "route.h"

/* Distinct (rollout, arm) pairs counted between two flushes. */
#define ROUTE_MAX_EXPOSURES 1024

typedef struct ExposureKey
{
	int64		rollout_id;
	char		arm[ROUTE_NAME_LEN];
} ExposureKey;

typedef struct ExposureEntry
{
	ExposureKey key;
	pg_atomic_uint64 count;
} ExposureEntry;

typedef struct ExposureShared
{
	LWLock	   *lock;
	pg_atomic_uint64 dropped;	/* decisions not counted: table full */
} ExposureShared;

static ExposureShared *exposure_shared = NULL;
static HTAB *exposure_hash = NULL;

/* A flushed amount to subtract when the flushing (sub)transaction commits. */
typedef struct PendingFlush
{
	ExposureKey key;
	bool		dropped;		/* the "(not counted)" counter, not an entry */
	uint64		n;
	int			nestlevel;		/* transaction nesting level of the flush */
} PendingFlush;

static PendingFlush *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static bool xact_callbacks_registered = false;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(rollout_exposure_counts);
PG_FUNCTION_INFO_V1(rollout_flush_exposures);

/* Requests the shared memory and the lock tranche of the counters. */
static void
RouteShmemRequest(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(ExposureShared)),
									hash_estimate_size(ROUTE_MAX_EXPOSURES,
													   sizeof(ExposureEntry))));
	RequestNamedLWLockTranche("pg_rollout_exposures", 1);
}

/* Creates or attaches to the counters at postmaster start. */
static void
RouteShmemStartup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	exposure_shared = ShmemInitStruct("pg_rollout exposures", sizeof(ExposureShared), &found);
	if (!found)
	{
		exposure_shared->lock = &(GetNamedLWLockTranche("pg_rollout_exposures"))->lock;
		pg_atomic_init_u64(&exposure_shared->dropped, 0);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(ExposureKey);
	info.entrysize = sizeof(ExposureEntry);
	exposure_hash = ShmemInitHash("pg_rollout exposure hash",
								  ROUTE_MAX_EXPOSURES, ROUTE_MAX_EXPOSURES,
								  &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/* Installs the shared memory hooks; called from _PG_init when preloaded. */
void
RouteShmemRegister(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = RouteShmemRequest;
#else
	RouteShmemRequest();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = RouteShmemStartup;
}

/* Adds one exposure of an arm of a rollout; a no-op without preloading. */
void
RouteExposureCount(int64 rollout_id, const char *arm)
{
	ExposureKey key;
	ExposureEntry *entry;
	bool		found;

	if (exposure_shared == NULL || exposure_hash == NULL)
		return;
	memset(&key, 0, sizeof(key));
	key.rollout_id = rollout_id;
	strlcpy(key.arm, arm, sizeof(key.arm));

	LWLockAcquire(exposure_shared->lock, LW_SHARED);
	entry = hash_search(exposure_hash, &key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		pg_atomic_fetch_add_u64(&entry->count, 1);
		LWLockRelease(exposure_shared->lock);
		return;
	}
	LWLockRelease(exposure_shared->lock);

	LWLockAcquire(exposure_shared->lock, LW_EXCLUSIVE);
	entry = hash_search(exposure_hash, &key, HASH_FIND, NULL);
	if (entry == NULL && hash_get_num_entries(exposure_hash) < ROUTE_MAX_EXPOSURES)
	{
		entry = hash_search(exposure_hash, &key, HASH_ENTER_NULL, &found);
		if (entry != NULL && !found)
			pg_atomic_init_u64(&entry->count, 0);
	}
	if (entry != NULL)
		pg_atomic_fetch_add_u64(&entry->count, 1);
	else
		pg_atomic_fetch_add_u64(&exposure_shared->dropped, 1);
	LWLockRelease(exposure_shared->lock);
}

/* Subtracts the pending amounts from the counters (at commit). */
static void
ApplyPending(void)
{
	if (npending == 0 || exposure_shared == NULL || exposure_hash == NULL)
		return;
	LWLockAcquire(exposure_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < npending; i++)
	{
		PendingFlush *p = &pending[i];

		if (p->dropped)
			pg_atomic_fetch_sub_u64(&exposure_shared->dropped, p->n);
		else
		{
			ExposureEntry *entry = hash_search(exposure_hash, &p->key, HASH_FIND, NULL);

			if (entry != NULL &&
				pg_atomic_sub_fetch_u64(&entry->count, p->n) == 0)
				hash_search(exposure_hash, &p->key, HASH_REMOVE, NULL);
		}
	}
	LWLockRelease(exposure_shared->lock);
}

/* Transaction callback: subtract on commit, forget on abort. */
static void
ExposureXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			ApplyPending();
			npending = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			npending = 0;
			break;
		default:
			break;
	}
}

/* Subtransaction callback: a rolled-back flush is forgotten, a committed one moves up. */
static void
ExposureSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			kept = 0;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	for (int i = 0; i < npending; i++)
	{
		if (pending[i].nestlevel >= level)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
				continue;
			pending[i].nestlevel = level - 1;
		}
		pending[kept++] = pending[i];
	}
	npending = kept;
}

/* Remembers n exposures of key (or of the dropped counter) to subtract at commit. */
static void
AddPending(const ExposureKey *key, bool dropped, uint64 n)
{
	if (!xact_callbacks_registered)
	{
		RegisterXactCallback(ExposureXactCallback, NULL);
		RegisterSubXactCallback(ExposureSubXactCallback, NULL);
		xact_callbacks_registered = true;
	}
	if (npending == maxpending)
	{
		int			newmax = Max(64, maxpending * 2);

		pending = pending == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(PendingFlush) * newmax) :
			repalloc(pending, sizeof(PendingFlush) * newmax);
		maxpending = newmax;
	}
	memset(&pending[npending], 0, sizeof(PendingFlush));
	if (key != NULL)
		pending[npending].key = *key;
	pending[npending].dropped = dropped;
	pending[npending].n = n;
	pending[npending].nestlevel = GetCurrentTransactionNestLevel();
	npending++;
}

/*
 * Emits the counters as rows (rollout_id, arm, exposures); with reset, the
 * amounts returned are subtracted when the transaction commits (never on
 * abort), so exposures counted meanwhile are kept and nothing is lost.
 */
static void
ExposureRows(FunctionCallInfo fcinfo, bool reset)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	ExposureEntry *entry;

	InitMaterializedSRF(fcinfo, 0);
	if (exposure_shared == NULL || exposure_hash == NULL)
		return;

	LWLockAcquire(exposure_shared->lock, reset ? LW_EXCLUSIVE : LW_SHARED);
	hash_seq_init(&status, exposure_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		uint64		n = pg_atomic_read_u64(&entry->count);

		values[0] = Int64GetDatum(entry->key.rollout_id);
		values[1] = CStringGetTextDatum(entry->key.arm);
		values[2] = Int64GetDatum((int64) n);
		if (n > 0)
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (reset && n > 0)
			AddPending(&entry->key, false, n);
	}
	/* Decisions not counted because the table was full: arm "(not counted)". */
	{
		Datum		values[3];
		bool		nulls[3] = {true, false, false};
		uint64		n = pg_atomic_read_u64(&exposure_shared->dropped);

		values[0] = (Datum) 0;
		values[1] = CStringGetTextDatum("(not counted)");
		values[2] = Int64GetDatum((int64) n);
		if (n > 0)
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (reset && n > 0)
			AddPending(NULL, true, n);
	}
	LWLockRelease(exposure_shared->lock);
}

/* rollout.exposure_counts(): the counters since the last flush. */
Datum
rollout_exposure_counts(PG_FUNCTION_ARGS)
{
	ExposureRows(fcinfo, false);
	return (Datum) 0;
}

/* rollout.flush_exposures(): the counters, subtracted when the caller commits; tick() calls it. */
Datum
rollout_flush_exposures(PG_FUNCTION_ARGS)
{
	ExposureRows(fcinfo, true);
	return (Datum) 0;
}
