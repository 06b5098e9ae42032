/*-------------------------------------------------------------------------
 *
 * pgstub_jsonb.c
 *		Stand-ins for the backend's jsonb iterator, escape_json and
 *		numeric_out, for the canonicalizer harness (fuzz_canonical.c).
 *
 * FuzzJsonb() wraps a jansson value in a Jsonb whose containers hold a
 * pointer to the jansson value instead of the on-disk layout. The
 * canonicalizer (src/registry.c) only hands containers to
 * JsonbIteratorInit, so it cannot tell; the iterator below returns the
 * tokens the backend's does with skipNested: a top-level scalar as a raw
 * scalar array, object keys shortest first then bytewise (jsonb's order,
 * which the canonicalizer must undo), nested containers as jbvBinary.
 * Numbers travel as their text in a varlena that numeric_out prints back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "pgstub.h"

/* port.h maps the printf family to libpgport's; the stand-ins use libc's. */
#undef snprintf

/* Where the iterator is in its container. */
typedef enum FuzzIterState
{
	FUZZ_BEGIN,
	FUZZ_MEMBERS,
	FUZZ_END,
	FUZZ_DONE
} FuzzIterState;

/* The stand-in iterator; JsonbIterator is opaque to the canonicalizer. */
typedef struct FuzzIter
{
	json_t	   *value;			/* the container, or the raw scalar */
	bool		raw_scalar;
	FuzzIterState state;
	size_t		next;			/* next element, or next key/value token */
	size_t		n;
	const char **keys;			/* object keys in jsonb order */
} FuzzIter;

/* A container: the usual header, then the jansson value it stands for. */
static JsonbContainer *
MakeContainer(json_t *value)
{
	JsonbContainer *c = palloc0(sizeof(JsonbContainer) + sizeof(json_t *));

	if (json_is_object(value))
		c->header = JB_FOBJECT | (uint32) json_object_size(value);
	else if (json_is_array(value))
		c->header = JB_FARRAY | (uint32) json_array_size(value);
	else
		c->header = JB_FARRAY | JB_FSCALAR | 1;
	memcpy(c->children, &value, sizeof(json_t *));
	return c;
}

/* The jansson value a container stands for. */
static json_t *
ContainerValue(JsonbContainer *c)
{
	json_t	   *value;

	memcpy(&value, c->children, sizeof(json_t *));
	return value;
}

/* Wraps a jansson value (which must outlive the result) in a Jsonb. */
void *
FuzzJsonb(json_t *value)
{
	JsonbContainer *c = MakeContainer(value);
	Size		size = offsetof(Jsonb, root) + sizeof(JsonbContainer) + sizeof(json_t *);
	Jsonb	   *jb = palloc0(size);

	memcpy(&jb->root, c, sizeof(JsonbContainer) + sizeof(json_t *));
	SET_VARSIZE(jb, size);
	return jb;
}

/*
 * The text of a jansson number: integers as digits, reals with enough
 * digits to read back exactly and always with a '.' or an exponent.
 */
char *
FuzzNumberText(json_t *number)
{
	char		buf[64];

	if (json_is_integer(number))
		snprintf(buf, sizeof(buf), "%lld", (long long) json_integer_value(number));
	else
	{
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(number));
		if (strpbrk(buf, ".e") == NULL)
			strcat(buf, ".0");
	}
	return pstrdup(buf);
}

/* Fills a JsonbValue for a member: a scalar, or a nested container. */
static void
FillValue(JsonbValue *v, json_t *value)
{
	switch (json_typeof(value))
	{
		case JSON_NULL:
			v->type = jbvNull;
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			v->type = jbvBool;
			v->val.boolean = json_is_true(value);
			break;
		case JSON_STRING:
			v->type = jbvString;
			v->val.string.val = (char *) json_string_value(value);
			v->val.string.len = (int) json_string_length(value);
			break;
		case JSON_INTEGER:
		case JSON_REAL:
			{
				char	   *text = FuzzNumberText(value);
				size_t		len = strlen(text);
				struct varlena *num = palloc(VARHDRSZ + len);

				SET_VARSIZE(num, VARHDRSZ + len);
				memcpy(VARDATA(num), text, len);
				v->type = jbvNumeric;
				v->val.numeric = (Numeric) num;
				break;
			}
		case JSON_OBJECT:
		case JSON_ARRAY:
			v->type = jbvBinary;
			v->val.binary.data = MakeContainer(value);
			v->val.binary.len = sizeof(JsonbContainer) + sizeof(json_t *);
			break;
	}
}

/* Orders keys as jsonb stores them: shorter first, then bytewise. */
static int
CompareJsonbKeys(const void *a, const void *b)
{
	const char *ka = *(const char *const *) a;
	const char *kb = *(const char *const *) b;
	size_t		la = strlen(ka),
				lb = strlen(kb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(ka, kb, la);
}

/* Starts walking a container: its keys are sorted here, in jsonb order. */
JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	FuzzIter   *it = palloc0(sizeof(FuzzIter));

	it->value = ContainerValue(container);
	it->raw_scalar = !json_is_object(it->value) && !json_is_array(it->value);
	it->state = FUZZ_BEGIN;
	if (json_is_object(it->value))
	{
		const char *key;
		json_t	   *member;
		size_t		i = 0;

		it->n = json_object_size(it->value);
		it->keys = palloc(sizeof(char *) * Max(it->n, 1));
		json_object_foreach(it->value, key, member)
			it->keys[i++] = key;
		qsort(it->keys, it->n, sizeof(char *), CompareJsonbKeys);
	}
	else
		it->n = it->raw_scalar ? 1 : json_array_size(it->value);
	return (JsonbIterator *) it;
}

/* The next token of the container, nested containers as jbvBinary. */
JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **itp, JsonbValue *val, bool skipNested)
{
	FuzzIter   *it = (FuzzIter *) *itp;
	bool		object;

	if (it == NULL || !skipNested)
		abort();
	object = json_is_object(it->value);
	switch (it->state)
	{
		case FUZZ_BEGIN:
			it->state = FUZZ_MEMBERS;
			if (object)
			{
				val->type = jbvObject;
				val->val.object.nPairs = (int) it->n;
				val->val.object.pairs = NULL;
				return WJB_BEGIN_OBJECT;
			}
			val->type = jbvArray;
			val->val.array.nElems = (int) it->n;
			val->val.array.elems = NULL;
			val->val.array.rawScalar = it->raw_scalar;
			return WJB_BEGIN_ARRAY;
		case FUZZ_MEMBERS:
			if (object && it->next < 2 * it->n)
			{
				const char *key = it->keys[it->next / 2];

				if (it->next++ % 2 == 0)
				{
					val->type = jbvString;
					val->val.string.val = (char *) key;
					val->val.string.len = (int) strlen(key);
					return WJB_KEY;
				}
				FillValue(val, json_object_get(it->value, key));
				return WJB_VALUE;
			}
			if (!object && it->next < it->n)
			{
				FillValue(val, it->raw_scalar ? it->value :
						  json_array_get(it->value, it->next));
				it->next++;
				return WJB_ELEM;
			}
			it->state = FUZZ_END;
			return object ? WJB_END_OBJECT : WJB_END_ARRAY;
		case FUZZ_END:
			it->state = FUZZ_DONE;
			*itp = NULL;
			return WJB_DONE;
		case FUZZ_DONE:
			break;
	}
	abort();
}

/* Appends a JSON string literal with the backend's escaping rules. */
void
escape_json(StringInfo buf, const char *str)
{
	appendStringInfoChar(buf, '"');
	for (const char *p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoChar(buf, *p);
				break;
		}
	}
	appendStringInfoChar(buf, '"');
}

/* Prints the number text that FillValue stored. */
Datum
numeric_out(PG_FUNCTION_ARGS)
{
	struct varlena *num = (struct varlena *) PG_GETARG_POINTER(0);

	PG_RETURN_CSTRING(pnstrdup(VARDATA(num), VARSIZE(num) - VARHDRSZ));
}
