/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The pg_rollout background worker.
 *
 * One worker per cluster, registered from _PG_init when the library is
 * preloaded, connects to rollout.database and runs a round every
 * rollout.tick_interval seconds. A round is the steps of rollout.tick(),
 * each in a transaction of its own: the prelude (fold outcomes, flush
 * exposure counters), then each due rollout (rollout._tick_rollout), then
 * the baseline refreshes. A rollout's row lock is held only while that
 * rollout is evaluated, and an error stays with its rollout. A round
 * evaluates at most the share of the active rollouts that spreads them
 * over their evaluation interval (WorkerRoundLimit), the ones evaluated
 * longest ago first, so 10 000 rollouts are not evaluated in one burst.
 * Against an older install without rollout._tick_rollout it calls
 * rollout.tick() in one transaction, as before. It starts only once
 * recovery has finished, so a standby never acts and a promoted standby's
 * worker takes over. It reloads its settings on SIGHUP, exits on SIGTERM,
 * and the postmaster restarts it after a crash. A round holds tick()'s
 * advisory lock at session level, so ticks from cron and from the worker
 * never overlap (each waits for the other).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "worker.h"

/* The advisory lock key of rollout.tick() (src/sql/62_tick.sql). */
#define WORKER_TICK_LOCK_KEY "7286523461853490001"

/* A round evaluates at least this many due rollouts (see WorkerRoundLimit). */
#define WORKER_MIN_ROUND 100

char	   *RolloutDatabase = NULL;
int			RolloutTickInterval = 10;

/* Defines the worker's GUCs; called from _PG_init when preloaded. */
void
WorkerDefineGucs(void)
{
	DefineCustomStringVariable("rollout.database",
							   "Database in which the pg_rollout worker runs rollout.tick().",
							   NULL,
							   &RolloutDatabase,
							   "postgres",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("rollout.tick_interval",
							"Seconds between two rollout.tick() calls of the worker; 0 turns the worker's ticks off (e.g. when pg_cron drives tick()).",
							NULL,
							&RolloutTickInterval,
							10,
							0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* Registers the worker with the postmaster. */
void
WorkerRegister(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_rollout");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "RolloutWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_rollout worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_rollout worker");
	RegisterBackgroundWorker(&worker);
}

/* Logs the (rollout_id, agent, action, detail) rows of the last SPI query. */
static void
WorkerLogActions(void)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id = SPI_getvalue(tup, desc, 1);
		char	   *agent = SPI_getvalue(tup, desc, 2);
		char	   *action = SPI_getvalue(tup, desc, 3);
		char	   *detail = SPI_getvalue(tup, desc, 4);

		ereport(LOG,
				(errmsg("pg_rollout: rollout %s of agent \"%s\": %s",
						id ? id : "-", agent ? agent : "-", action ? action : "-"),
				 detail ? errdetail_internal("%s", detail) : 0));
	}
}

/* Starts a transaction with a snapshot, SPI and the statement timeout. */
static void
WorkerBegin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* Ends the transaction WorkerBegin started, committing it. */
static void
WorkerCommit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	if (StatementTimeout > 0)
		disable_timeout(STATEMENT_TIMEOUT, false);
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Rolls back the transaction of a caught error, after logging it. */
static void
WorkerAbort(MemoryContext oldcontext)
{
	MemoryContextSwitchTo(oldcontext);
	EmitErrorReport();
	FlushErrorState();
	/* No timeout of the failed transaction may fire later. */
	disable_timeout(STATEMENT_TIMEOUT, false);
	QueryCancelPending = false;
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Runs a query returning a bool in the current transaction; false when NULL or empty. */
static bool
WorkerQueryBool(const char *sql)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

/*
 * Runs rollout.tick() in one transaction and logs what it did: the round of
 * an install older than 0.3.0, which has no rollout._tick_rollout().
 */
static bool
WorkerRunTick(void)
{
	int			ret;

	WorkerBegin("SELECT rollout.tick()");
	ret = SPI_execute("SELECT rollout_id, agent, action, detail FROM rollout.tick()",
					  false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "rollout.tick() failed: SPI code %d", ret);
	WorkerLogActions();
	WorkerCommit();
	return true;
}

/*
 * Evaluates one due rollout in its own transaction and logs what it did.
 * An error (a lock or statement timeout; _tick_rollout itself keeps the
 * errors of the evaluation in last_error) is logged and rolled back, and
 * the round goes on with the next rollout.
 */
static void
WorkerTickRollout(int64 id)
{
	MemoryContext oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(id)};
		int			ret;

		WorkerBegin("SELECT rollout._tick_rollout($1, now())");
		ret = SPI_execute_with_args("SELECT rollout_id, agent, action, detail"
									" FROM rollout._tick_rollout($1, pg_catalog.now())",
									1, types, values, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "rollout._tick_rollout(" INT64_FORMAT ") failed: SPI code %d", id, ret);
		WorkerLogActions();
		WorkerCommit();
	}
	PG_CATCH();
	{
		WorkerAbort(oldcontext);
		ereport(LOG,
				(errmsg("pg_rollout worker: evaluating rollout " INT64_FORMAT " failed; the next round retries it",
						id)));
	}
	PG_END_TRY();
}

/*
 * Runs one round: the prelude, each due rollout in its own transaction,
 * the baseline refreshes. Returns false when the extension is not
 * installed in the worker's database. The caller releases the advisory
 * lock after an error.
 */
static bool
WorkerRunRound(void)
{
	int64	   *ids = NULL;
	uint64		nids = 0;
	Oid			types[1] = {FLOAT8OID};
	Datum		values[1] = {Float8GetDatum((float8) RolloutTickInterval)};
	int			ret;

	WorkerBegin("SELECT rollout._tick_begin(now())");
	if (!WorkerQueryBool("SELECT pg_catalog.to_regprocedure("
						 "'rollout._tick_rollout(bigint,timestamp with time zone)') IS NOT NULL"))
	{
		bool		installed = WorkerQueryBool("SELECT pg_catalog.to_regproc('rollout.tick') IS NOT NULL");

		WorkerCommit();
		/* An install older than 0.3.0: its tick() in one transaction. */
		return installed ? WorkerRunTick() : false;
	}
	/*
	 * tick()'s advisory lock, at session level so that it lasts the round:
	 * a round waits for a tick() from cron (lock_timeout and
	 * statement_timeout apply), and a tick() waits for the round.
	 */
	ret = SPI_execute("SELECT pg_catalog.pg_advisory_lock(" WORKER_TICK_LOCK_KEY ")", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pg_advisory_lock() failed: SPI code %d", ret);
	ret = SPI_execute("SELECT rollout._tick_begin(pg_catalog.now())", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "rollout._tick_begin() failed: SPI code %d", ret);

	/*
	 * The round's share of the active rollouts: n * tick_interval / the
	 * shortest evaluation interval, so that over one evaluation interval
	 * every rollout is evaluated once, and at least WORKER_MIN_ROUND.
	 */
	ret = SPI_execute_with_args("SELECT d FROM rollout._due_rollouts(pg_catalog.now(),"
								" (SELECT GREATEST(" CppAsString2(WORKER_MIN_ROUND) ","
								"   pg_catalog.ceil(pg_catalog.count(*) * $1 / GREATEST(pg_catalog.min("
								"   rollout._plan_seconds(x.plan, 'evaluation_interval_seconds', 300)), $1, 1)))::pg_catalog.int8"
								"  FROM rollout.rollouts x WHERE rollout.is_active_state(x.state))) d",
								1, types, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "rollout._due_rollouts() failed: SPI code %d", ret);
	nids = SPI_processed;
	if (nids > 0)
	{
		ids = MemoryContextAlloc(TopMemoryContext, sizeof(int64) * nids);
		for (uint64 i = 0; i < nids; i++)
		{
			bool		isnull;

			ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	WorkerCommit();

	for (uint64 i = 0; i < nids; i++)
	{
		CHECK_FOR_INTERRUPTS();
		WorkerTickRollout(ids[i]);
	}
	if (ids != NULL)
		pfree(ids);

	WorkerBegin("SELECT rollout._tick_baselines(now())");
	ret = SPI_execute("SELECT rollout_id, agent, action, detail"
					  " FROM rollout._tick_baselines(pg_catalog.now())", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "rollout._tick_baselines() failed: SPI code %d", ret);
	WorkerLogActions();
	(void) WorkerQueryBool("SELECT pg_catalog.pg_advisory_unlock(" WORKER_TICK_LOCK_KEY ")");
	WorkerCommit();
	return true;
}

/*
 * Runs WorkerRunRound, surviving its errors: a round that fails (lock_timeout,
 * statement_timeout, which the worker arms for each transaction, a bug) is
 * logged and rolled back, tick()'s advisory lock is released, and the
 * worker tries again at the next interval instead of exiting. FATAL errors
 * (SIGTERM) still end the process. Returns true after an error, so no "not
 * installed" note.
 */
static bool
WorkerRunTickSafely(void)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile bool installed = true;

	PG_TRY();
	{
		installed = WorkerRunRound();
	}
	PG_CATCH();
	{
		WorkerAbort(oldcontext);
		/* The worker holds no other session lock than tick()'s. */
		LockReleaseSession(USER_LOCKMETHOD);
		ereport(LOG,
				(errmsg("pg_rollout worker: tick failed; retrying in %d s", RolloutTickInterval)));
	}
	PG_END_TRY();
	return installed;
}

/* Entry point of the worker process. */
void
RolloutWorkerMain(Datum arg)
{
	bool		warned_missing = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(RolloutDatabase, NULL, 0);
	ereport(LOG,
			(errmsg("pg_rollout worker started in database \"%s\", tick interval %d s",
					RolloutDatabase, RolloutTickInterval)));

	for (;;)
	{
		long		timeout_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			int			old_interval = RolloutTickInterval;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (RolloutTickInterval != old_interval)
				ereport(LOG,
						(errmsg("pg_rollout worker: tick interval changed to %d s%s",
								RolloutTickInterval,
								RolloutTickInterval > 0 ? "" : " (ticks off)")));
		}

		if (RolloutTickInterval > 0)
		{
			bool		installed = WorkerRunTickSafely();

			if (!installed && !warned_missing)
				ereport(LOG,
						(errmsg("pg_rollout worker: extension pg_rollout is not installed in database \"%s\"; waiting",
								RolloutDatabase)));
			warned_missing = !installed;
			timeout_ms = RolloutTickInterval * 1000L;
		}
		else
			timeout_ms = 60 * 1000L;

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
