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

/*
 * The address of a local of the harness's entry point: check_stack_depth()
 * raises an ERROR when the stack grows more than FUZZ_MAX_STACK beyond it.
 */
extern char *fuzz_stack_base;
#define FUZZ_MAX_STACK (1024 * 1024)

/* Frees everything palloc'd since the last call. */
extern void FuzzFreeAll(void);

/*
 * pgstub_jsonb.c: a Jsonb document holding a jansson value, which the
 * stand-in JsonbIteratorInit/JsonbIteratorNext walk as the backend walks
 * a real one (object keys shortest first, then bytewise).
 */
struct json_t;
extern void *FuzzJsonb(struct json_t *value);
extern char *FuzzNumberText(struct json_t *number);

#endif							/* PGSTUB_H */
