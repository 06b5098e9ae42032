/*-------------------------------------------------------------------------
 *
 * pg_rollout.c
 *		Library entry point: module magic and _PG_init.
 *
 * Every SQL function works whether or not the library is preloaded. What
 * needs shared_preload_libraries (shared memory, the background worker) is
 * set up only when the library is loaded that way, as pg_cron does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include <gsl/gsl_errno.h>

#include <limits.h>

#include "outcome.h"
#include "pg_rollout.h"
#include "route.h"
#include "worker.h"

PG_MODULE_MAGIC;

/*
 * Called once per process when the library is loaded: turns off GSL's
 * aborting error handler, and registers what needs preloading.
 */
void
_PG_init(void)
{
	/* GSL's default handler calls abort(); we check every status instead. */
	gsl_set_error_handler_off();

	/* How far ahead of the server clock an outcome may lie (outcome_record.c). */
	DefineCustomIntVariable("rollout.clock_tolerance",
							"Seconds an outcome's time may lie ahead of the server clock.",
							"-1 turns the check off, for simulated clocks in tests.",
							&RolloutClockTolerance,
							3600, -1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	/* Exposure counters of route() (route_shmem.c). */
	RouteShmemRegister();

	/* The background worker that ticks rollouts (worker.c). */
	WorkerDefineGucs();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("rollout");
#else
	EmitWarningsOnPlaceholders("rollout");
#endif
	WorkerRegister();
}
