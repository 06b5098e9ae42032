/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The background worker that calls rollout.tick() on a timer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_WORKER_H
#define ROLLOUT_WORKER_H

#include "postgres.h"

extern char *RolloutDatabase;
extern int	RolloutTickInterval;

extern void WorkerDefineGucs(void);
extern void WorkerRegister(void);
extern PGDLLEXPORT void RolloutWorkerMain(Datum arg);

#endif							/* ROLLOUT_WORKER_H */
