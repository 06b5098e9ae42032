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
 * reads and resets the counters with rollout.flush_exposures().
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
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"

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

/*
 * Emits the counters as rows (rollout_id, arm, exposures); with reset, under
 * the exclusive lock, removes them so the next flush starts from zero.
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
		if (reset)
			hash_search(exposure_hash, &entry->key, HASH_REMOVE, NULL);
	}
	/* Decisions not counted because the table was full: arm "(not counted)". */
	{
		Datum		values[3];
		bool		nulls[3] = {true, false, false};
		uint64		n = reset ? pg_atomic_exchange_u64(&exposure_shared->dropped, 0)
			: pg_atomic_read_u64(&exposure_shared->dropped);

		values[0] = (Datum) 0;
		values[1] = CStringGetTextDatum("(not counted)");
		values[2] = Int64GetDatum((int64) n);
		if (n > 0)
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
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

/* rollout.flush_exposures(): the counters, reset atomically; the worker calls it. */
Datum
rollout_flush_exposures(PG_FUNCTION_ARGS)
{
	ExposureRows(fcinfo, true);
	return (Datum) 0;
}
