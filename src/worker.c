/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The pg_rollout background worker.
 *
 * One worker per cluster, registered from _PG_init when the library is
 * preloaded, connects to rollout.database and calls rollout.tick() every
 * rollout.tick_interval seconds, each call in its own transaction. It
 * starts only once recovery has finished, so a standby never acts and a
 * promoted standby's worker takes over. It reloads its settings on SIGHUP,
 * exits on SIGTERM, and the postmaster restarts it after a crash. tick()
 * itself takes an advisory lock, so ticks from cron and from the worker
 * never overlap.
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
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "worker.h"

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

/*
 * Runs one tick in its own transaction and logs what it did. Returns false
 * when the extension is not installed in the worker's database.
 */
static bool
WorkerRunTick(void)
{
	bool		installed;
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* A background worker arms statement_timeout itself, as postgres.c does per query. */
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "SELECT rollout.tick()");

	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n"
					  " ON n.oid = p.pronamespace"
					  " WHERE n.nspname = 'rollout' AND p.proname = 'tick'", true, 1);
	installed = (ret == SPI_OK_SELECT && SPI_processed > 0);

	if (installed)
	{
		ret = SPI_execute("SELECT rollout_id, agent, action, detail FROM rollout.tick()",
						  false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "rollout.tick() failed: SPI code %d", ret);
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

	SPI_finish();
	PopActiveSnapshot();
	if (StatementTimeout > 0)
		disable_timeout(STATEMENT_TIMEOUT, false);
	CommitTransactionCommand();
	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
	return installed;
}

/*
 * Runs WorkerRunTick, surviving its errors: a tick that fails (lock_timeout,
 * statement_timeout, which the worker arms for each tick, a bug) is logged
 * and rolled back, and the worker tries
 * again at the next interval instead of exiting. FATAL errors (SIGTERM) still
 * end the process. Returns true after an error, so no "not installed" note.
 */
static bool
WorkerRunTickSafely(void)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile bool installed = true;

	PG_TRY();
	{
		installed = WorkerRunTick();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		EmitErrorReport();
		FlushErrorState();
		/* No timeout of the failed tick may fire while the worker sleeps. */
		disable_timeout(STATEMENT_TIMEOUT, false);
		QueryCancelPending = false;
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
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
