/*-------------------------------------------------------------------------
 *
 * fuzz_canonical.c
 *		libFuzzer harness for the fingerprint canonicalizer and the model
 *		and name checks of the version registry (src/registry.c).
 *
 * The input is JSON text, as a version's few_shot, tools or params. When
 * jansson (like jsonb) accepts it, RegistryAppendCanonicalJson must print
 * what an independent canonicalizer prints (keys sorted bytewise, no white
 * space), text that reads back to an equal value and canonicalizes to
 * itself. The same bytes also go through RegistryModelIsPinned and
 * RegistryCheckName as a model id and a name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <jansson.h>

#include "lib/stringinfo.h"
#include "utils/json.h"

#include "registry.h"
#include "pgstub.h"

/* port.h maps the printf family to libpgport's; the harnesses use libc's. */
#undef fprintf

/* Orders keys bytewise, a shorter key first on a common prefix. */
static int
CompareKeys(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The reference canonicalizer: the documented form, written independently. */
static void
RefCanon(StringInfo out, json_t *value)
{
	switch (json_typeof(value))
	{
		case JSON_OBJECT:
			{
				size_t		n = json_object_size(value),
							i = 0;
				const char **keys = palloc(sizeof(char *) * Max(n, 1));
				const char *key;
				json_t	   *member;

				json_object_foreach(value, key, member)
					keys[i++] = key;
				qsort(keys, n, sizeof(char *), CompareKeys);
				appendStringInfoChar(out, '{');
				for (i = 0; i < n; i++)
				{
					if (i > 0)
						appendStringInfoChar(out, ',');
					escape_json(out, keys[i]);
					appendStringInfoChar(out, ':');
					RefCanon(out, json_object_get(value, keys[i]));
				}
				appendStringInfoChar(out, '}');
				break;
			}
		case JSON_ARRAY:
			appendStringInfoChar(out, '[');
			for (size_t i = 0; i < json_array_size(value); i++)
			{
				if (i > 0)
					appendStringInfoChar(out, ',');
				RefCanon(out, json_array_get(value, i));
			}
			appendStringInfoChar(out, ']');
			break;
		case JSON_STRING:
			escape_json(out, json_string_value(value));
			break;
		case JSON_INTEGER:
		case JSON_REAL:
			appendStringInfoString(out, FuzzNumberText(value));
			break;
		case JSON_TRUE:
			appendStringInfoString(out, "true");
			break;
		case JSON_FALSE:
			appendStringInfoString(out, "false");
			break;
		case JSON_NULL:
			appendStringInfoString(out, "null");
			break;
	}
}

/*
 * Canonicalizes a value into out; false when the canonicalizer raised an
 * ERROR (only the stack depth check may).
 */
static bool
Canon(StringInfo out, json_t *value)
{
	initStringInfo(out);
	if (sigsetjmp(fuzz_error_jump, 0) == 0)
	{
		RegistryAppendCanonicalJson(out, (Jsonb *) FuzzJsonb(value));
		return true;
	}
	return false;
}

/* Reports a broken property with the input and the two texts, then aborts. */
static void
Fail(const char *what, const char *input, const char *got, const char *want)
{
	fprintf(stderr, "fuzz_canonical: %s\ninput: %s\ngot:   %s\nwant:  %s\n",
			what, input, got ? got : "(none)", want ? want : "(none)");
	abort();
}

/* Checks the model and name rules on the input as one C string. */
static void
CheckModelAndName(const char *s)
{
	size_t		len = strlen(s);
	volatile bool accepted = false;

	if (RegistryModelIsPinned(s) && len >= 6 && strcasecmp(s + len - 6, "latest") == 0)
		Fail("a model ending in \"latest\" counts as pinned", s, NULL, NULL);
	if (sigsetjmp(fuzz_error_jump, 0) == 0)
	{
		RegistryCheckName(s, "name");
		accepted = true;
	}
	if (accepted)
	{
		if (len == 0 || len > ROLLOUT_MAX_NAME_LEN || !(islower((unsigned char) s[0]) ||
														 isdigit((unsigned char) s[0])))
			Fail("an invalid name was accepted", s, NULL, NULL);
		for (size_t i = 0; i < len; i++)
			if (!(islower((unsigned char) s[i]) || isdigit((unsigned char) s[i]) ||
				  strchr("_.-", s[i]) != NULL))
				Fail("an invalid name was accepted", s, NULL, NULL);
	}
}

/* libFuzzer entry point: one JSON value, model id and name per input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		base;
	char	   *text = palloc(size + 1);
	json_error_t jerr;
	json_t	   *in;

	fuzz_stack_base = &base;
	memcpy(text, data, size);
	text[size] = '\0';
	CheckModelAndName(text);

	/* jsonb refuses \u0000 and invalid UTF-8 too; jansson refuses both by default */
	in = json_loadb((const char *) data, size, JSON_DECODE_ANY, &jerr);
	if (in != NULL)
	{
		StringInfoData got;
		StringInfoData want;

		if (Canon(&got, in))
		{
			json_t	   *again;
			StringInfoData twice;

			initStringInfo(&want);
			RefCanon(&want, in);
			if (strcmp(got.data, want.data) != 0)
				Fail("canonical text differs from the reference", text, got.data, want.data);
			again = json_loads(got.data, JSON_DECODE_ANY, &jerr);
			if (again == NULL || !json_equal(again, in))
				Fail("canonical text does not read back to the same value", text, got.data, NULL);
			if (!Canon(&twice, again) || strcmp(twice.data, got.data) != 0)
				Fail("canonical text is not canonical", text, twice.data, got.data);
			json_decref(again);
		}
		json_decref(in);
	}
	FuzzFreeAll();
	return 0;
}
