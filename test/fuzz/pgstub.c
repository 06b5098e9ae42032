/*-------------------------------------------------------------------------
 *
 * pgstub.c
 *		Just enough of the PostgreSQL backend for the libFuzzer harnesses
 *		(test/fuzz): palloc and friends on malloc, freed after every input,
 *		and ereport(ERROR) as a longjmp back to the harness.
 *
 * The harnesses link a module's C file with this one and leave every other
 * backend symbol unresolved: the code paths they drive must not reach one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "pgstub.h"

/* port.h maps the printf family to libpgport's; the harnesses use libc's. */
#undef snprintf
#undef vsnprintf

sigjmp_buf	fuzz_error_jump;
int			fuzz_errors = 0;
char	   *fuzz_stack_base = NULL;
MemoryContext CurrentMemoryContext = NULL;

static int	error_level = 0;

/* Every allocation carries this header, so all can be freed after an input. */
typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	size_t		size;
	max_align_t	align[];
} Chunk;

static Chunk chunks = {&chunks, &chunks, 0};

/* Allocates size bytes and links them in the list of live chunks. */
static void *
ChunkAlloc(size_t size, bool zero)
{
	Chunk	   *c = zero ? calloc(1, sizeof(Chunk) + size) : malloc(sizeof(Chunk) + size);

	if (c == NULL)
		abort();
	c->size = size;
	c->next = chunks.next;
	c->prev = &chunks;
	chunks.next->prev = c;
	chunks.next = c;
	return c->align;
}

/* The header of a pointer palloc returned. */
static Chunk *
ChunkOf(void *p)
{
	return (Chunk *) ((char *) p - offsetof(Chunk, align));
}

/* Frees every chunk allocated since the last call. */
void
FuzzFreeAll(void)
{
	while (chunks.next != &chunks)
	{
		Chunk	   *c = chunks.next;

		chunks.next = c->next;
		free(c);
	}
	chunks.prev = &chunks;
}

void *
palloc(Size size)
{
	return ChunkAlloc(size, false);
}

void *
palloc0(Size size)
{
	return ChunkAlloc(size, true);
}

void *
palloc_extended(Size size, int flags)
{
	return ChunkAlloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return ChunkAlloc(size, false);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return ChunkAlloc(size, true);
}

void
pfree(void *pointer)
{
	Chunk	   *c = ChunkOf(pointer);

	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

void *
repalloc(void *pointer, Size size)
{
	Chunk	   *old = ChunkOf(pointer);
	void	   *p = ChunkAlloc(size, false);

	memcpy(p, pointer, Min(old->size, size));
	pfree(pointer);
	return p;
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *out;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	out = palloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(out, n + 1, fmt, ap);
	va_end(ap);
	return out;
}

/* Byte clipping: the harness data is treated as single-byte text. */
int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	return Min(len, limit);
}

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	str->len = 0;
	str->data[0] = '\0';
	str->cursor = 0;
}

/* Appends formatted text, growing the buffer as needed. */
void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (str->len + n + 1 > str->maxlen)
	{
		str->maxlen = (str->len + n + 1) * 2;
		str->data = repalloc(str->data, str->maxlen);
	}
	va_start(ap, fmt);
	vsnprintf(str->data + str->len, n + 1, fmt, ap);
	va_end(ap);
	str->len += n;
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendStringInfo(str, "%s", s);
}

/* Makes room for needed more bytes and a terminating zero. */
void
enlargeStringInfo(StringInfo str, int needed)
{
	if (str->len + needed + 1 > str->maxlen)
	{
		str->maxlen = (str->len + needed + 1) * 2;
		str->data = repalloc(str->data, str->maxlen);
	}
}

/* Appends one byte. */
void
appendStringInfoChar(StringInfo str, char ch)
{
	enlargeStringInfo(str, 1);
	str->data[str->len++] = ch;
	str->data[str->len] = '\0';
}

/* Appends datalen bytes, which may include zeros. */
void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

/*
 * Raises "stack depth limit exceeded" when the stack has grown more than
 * FUZZ_MAX_STACK bytes since the harness set fuzz_stack_base, like the
 * backend's check against max_stack_depth.
 */
void
check_stack_depth(void)
{
	char		here;

	if (fuzz_stack_base != NULL &&
		labs((long) (fuzz_stack_base - &here)) > FUZZ_MAX_STACK)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("stack depth limit exceeded")));
}

/* Calls a one-argument V1 function without a collation or flinfo. */
Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
		abort();
	return result;
}

/* float8out_internal: the shortest text that reads back exactly. */
char *
float8out_internal(double num)
{
	char	   *buf = palloc(64);

	for (int prec = 1; prec <= 17; prec++)
	{
		snprintf(buf, 64, "%.*g", prec, num);
		if (strtod(buf, NULL) == num)
			break;
	}
	return buf;
}

bool
errstart(int elevel, const char *domain)
{
	error_level = elevel;
	return elevel >= ERROR;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

/* Formats the message (so bad format arguments show under ASan) and drops it. */
static void
FormatAndDrop(const char *fmt, va_list ap)
{
	char		buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
}

int
errcode(int sqlerrcode)
{
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	FormatAndDrop(fmt, ap);
	va_end(ap);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	FormatAndDrop(fmt, ap);
	va_end(ap);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	FormatAndDrop(fmt, ap);
	va_end(ap);
	return 0;
}

int
errhint(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	FormatAndDrop(fmt, ap);
	va_end(ap);
	return 0;
}

/* An ERROR returns control to the harness, like a backend's error recovery. */
void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (error_level >= ERROR)
	{
		fuzz_errors++;
		siglongjmp(fuzz_error_jump, 1);
	}
}

/* The harnesses build plain in-line varlenas: nothing to detoast. */
struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTENDED(datum))
		abort();
	return datum;
}
