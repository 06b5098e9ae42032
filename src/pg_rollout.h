/*-------------------------------------------------------------------------
 *
 * pg_rollout.h
 *		Module entry points shared by the pg_rollout C files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ROLLOUT_H
#define PG_ROLLOUT_H

#include "postgres.h"

/* Maximum size, in bytes, of one text or JSON field of a version. */
#define ROLLOUT_MAX_FIELD_BYTES (1024 * 1024)

extern void _PG_init(void);

#endif							/* PG_ROLLOUT_H */
