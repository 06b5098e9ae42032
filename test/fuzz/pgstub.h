/*-------------------------------------------------------------------------
 *
 * pgstub.h
 *		The harness side of pgstub.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSTUB_H
#define PGSTUB_H

#include <setjmp.h>

/* Where ereport(ERROR) jumps to; set with sigsetjmp before each call. */
extern sigjmp_buf fuzz_error_jump;
/* How many inputs ended in ERROR (clean refusals). */
extern int	fuzz_errors;

/* Frees everything palloc'd since the last call. */
extern void FuzzFreeAll(void);

#endif							/* PGSTUB_H */
