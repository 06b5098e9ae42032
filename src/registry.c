/*-------------------------------------------------------------------------
 *
 * registry.c
 *		C helpers of the version registry.
 *
 * The fingerprint of a version is the hex SHA-256 of a canonical
 * serialization of its content, documented in docs/registry.md so that a
 * client can compute it too. JSON fields are serialized canonically: object
 * keys sorted bytewise, no white space, numbers as PostgreSQL prints them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "registry.h"

PG_FUNCTION_INFO_V1(rollout_acting_role);
PG_FUNCTION_INFO_V1(rollout_fingerprint);
PG_FUNCTION_INFO_V1(rollout_canonical_json);
PG_FUNCTION_INFO_V1(rollout_model_is_pinned);
PG_FUNCTION_INFO_V1(rollout_check_name);

/* One key/value pair of an object, while its keys are being sorted. */
typedef struct CanonPair
{
	char	   *key;
	int			keylen;
	JsonbValue	value;
} CanonPair;

static void AppendCanonicalValue(StringInfo out, JsonbValue *v);

/* Orders object keys bytewise (memcmp, shorter first on a common prefix). */
static int
CompareCanonPairs(const void *a, const void *b)
{
	const CanonPair *pa = a;
	const CanonPair *pb = b;
	int			n = Min(pa->keylen, pb->keylen);
	int			c = memcmp(pa->key, pb->key, n);

	if (c != 0)
		return c;
	return (pa->keylen > pb->keylen) - (pa->keylen < pb->keylen);
}

/* Appends a JSON string literal with PostgreSQL's escaping rules. */
static void
AppendCanonicalString(StringInfo out, const char *s, int len)
{
	char	   *tmp = pnstrdup(s, len);

	escape_json(out, tmp);
	pfree(tmp);
}

/* Appends the canonical text of a container (object or array). */
static void
AppendCanonicalContainer(StringInfo out, JsonbContainer *container)
{
	JsonbIterator *it = JsonbIteratorInit(container);
	JsonbValue	v;
	JsonbIteratorToken tok;

	tok = JsonbIteratorNext(&it, &v, true);
	if (tok == WJB_BEGIN_ARRAY)
	{
		bool		first = true;

		if (v.val.array.rawScalar)
		{
			tok = JsonbIteratorNext(&it, &v, true);
			AppendCanonicalValue(out, &v);
			return;
		}
		appendStringInfoChar(out, '[');
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (!first)
				appendStringInfoChar(out, ',');
			first = false;
			AppendCanonicalValue(out, &v);
		}
		appendStringInfoChar(out, ']');
	}
	else if (tok == WJB_BEGIN_OBJECT)
	{
		int			n = v.val.object.nPairs;
		CanonPair  *pairs = palloc0(sizeof(CanonPair) * Max(n, 1));
		int			i = 0;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				pairs[i].key = v.val.string.val;
				pairs[i].keylen = v.val.string.len;
			}
			else if (tok == WJB_VALUE)
				pairs[i++].value = v;
		}
		qsort(pairs, i, sizeof(CanonPair), CompareCanonPairs);
		appendStringInfoChar(out, '{');
		for (int j = 0; j < i; j++)
		{
			if (j > 0)
				appendStringInfoChar(out, ',');
			AppendCanonicalString(out, pairs[j].key, pairs[j].keylen);
			appendStringInfoChar(out, ':');
			AppendCanonicalValue(out, &pairs[j].value);
		}
		appendStringInfoChar(out, '}');
		pfree(pairs);
	}
}

/* Appends the canonical text of one value (scalar or nested container). */
static void
AppendCanonicalValue(StringInfo out, JsonbValue *v)
{
	check_stack_depth();
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(out, "null");
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvString:
			AppendCanonicalString(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			appendStringInfoString(out,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric))));
			break;
		case jbvBinary:
			AppendCanonicalContainer(out, v->val.binary.data);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* Appends the canonical JSON text of a jsonb document. */
void
RegistryAppendCanonicalJson(StringInfo out, Jsonb *jb)
{
	AppendCanonicalContainer(out, &jb->root);
}

/* Appends one field of the fingerprint input: name=~ or name=len:bytes. */
static void
AppendFingerprintField(StringInfo buf, const char *name, const char *value, int len)
{
	appendStringInfo(buf, "%s=", name);
	if (value == NULL)
		appendStringInfoChar(buf, '~');
	else
	{
		appendStringInfo(buf, "%d:", len);
		appendBinaryStringInfo(buf, value, len);
	}
	appendStringInfoChar(buf, '\n');
}

/* Appends a text argument of the fingerprint, NULL as ~. */
static void
AppendTextField(StringInfo buf, const char *name, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		AppendFingerprintField(buf, name, NULL, 0);
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(argno);

		AppendFingerprintField(buf, name, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
}

/* Appends a jsonb argument of the fingerprint in canonical form, NULL as ~. */
static void
AppendJsonField(StringInfo buf, const char *name, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		AppendFingerprintField(buf, name, NULL, 0);
	else
	{
		StringInfoData js;

		initStringInfo(&js);
		RegistryAppendCanonicalJson(&js, PG_GETARG_JSONB_P(argno));
		AppendFingerprintField(buf, name, js.data, js.len);
		pfree(js.data);
	}
}

/*
 * rollout.fingerprint(system_prompt, template, few_shot, model, tools,
 * params, code_ref): hex SHA-256 of the canonical serialization.
 */
Datum
rollout_fingerprint(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	pg_cryptohash_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];

	initStringInfo(&buf);
	appendStringInfoString(&buf, "pg_rollout-version-v1\n");
	AppendTextField(&buf, "system_prompt", fcinfo, 0);
	AppendTextField(&buf, "template", fcinfo, 1);
	AppendJsonField(&buf, "few_shot", fcinfo, 2);
	AppendTextField(&buf, "model", fcinfo, 3);
	AppendJsonField(&buf, "tools", fcinfo, 4);
	AppendJsonField(&buf, "params", fcinfo, 5);
	AppendTextField(&buf, "code_ref", fcinfo, 6);

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) buf.data, buf.len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		if (ctx)
			pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the SHA-256 fingerprint")));
	}
	pg_cryptohash_free(ctx);

	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/* rollout.canonical_json(jsonb): the canonical text the fingerprint hashes. */
Datum
rollout_canonical_json(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	RegistryAppendCanonicalJson(&buf, PG_GETARG_JSONB_P(0));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* Whether s[0..len) is a calendar date: YYYYMMDD or YYYY-MM-DD. */
static bool
IsDateAt(const char *s, size_t avail)
{
	int			y,
				m,
				d;

	if (avail >= 10 && isdigit((unsigned char) s[0]) && s[4] == '-' && s[7] == '-' &&
		sscanf(s, "%4d-%2d-%2d", &y, &m, &d) == 3 &&
		isdigit((unsigned char) s[5]) && isdigit((unsigned char) s[8]) &&
		isdigit((unsigned char) s[9]))
		return y >= 1990 && y <= 2199 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
	if (avail >= 8)
	{
		for (int i = 0; i < 8; i++)
			if (!isdigit((unsigned char) s[i]))
				return false;
		y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
		m = (s[4] - '0') * 10 + (s[5] - '0');
		d = (s[6] - '0') * 10 + (s[7] - '0');
		return y >= 1990 && y <= 2199 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
	}
	return false;
}

/*
 * Whether a model id names a fixed snapshot. Floating: ends in "latest"
 * (any case). Pinned: contains a date (YYYY-MM-DD or YYYYMMDD), or its last
 * segment after '-', ':', '@' or '/' is a version: three or more digits
 * ("0613", "002"), "v" and digits ("v3", "v1.2"), or dotted digits with at
 * least two dots ("1.2.0").
 */
bool
RegistryModelIsPinned(const char *model)
{
	size_t		len = strlen(model);
	const char *seg;
	size_t		seglen;
	int			digits = 0,
				dots = 0;
	bool		other = false;

	if (len >= 6 && pg_strcasecmp(model + len - 6, "latest") == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((i == 0 || !isdigit((unsigned char) model[i - 1])) &&
			IsDateAt(model + i, len - i) &&
			(i + 8 >= len || !isdigit((unsigned char) model[i + (model[i + 4] == '-' ? 10 : 8)])))
			return true;

	seg = model + len;
	while (seg > model && !strchr("-:@/", seg[-1]))
		seg--;
	seglen = model + len - seg;
	if (seglen > 0 && (seg[0] == 'v' || seg[0] == 'V'))
	{
		seg++;
		seglen--;
		if (seglen > 0 && isdigit((unsigned char) seg[0]))
		{
			for (size_t i = 0; i < seglen; i++)
				if (!isdigit((unsigned char) seg[i]) && seg[i] != '.')
					return false;
			return true;
		}
		return false;
	}
	for (size_t i = 0; i < seglen; i++)
	{
		if (isdigit((unsigned char) seg[i]))
			digits++;
		else if (seg[i] == '.')
			dots++;
		else
			other = true;
	}
	if (other || digits == 0)
		return false;
	return (dots == 0 && digits >= 3) || dots >= 2;
}

/* rollout.model_is_pinned(text) */
Datum
rollout_model_is_pinned(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(RegistryModelIsPinned(model));
}

/*
 * Raises a clean error unless name is 1..63 bytes of lowercase letters,
 * digits, '_', '.' and '-', starting with a letter or digit.
 */
void
RegistryCheckName(const char *name, const char *argname)
{
	size_t		len;

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
	len = strlen(name);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("argument \"%s\" must not be empty", argname)));
	if (len > ROLLOUT_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("argument \"%s\" is too long", argname),
				 errdetail("It has %zu bytes; the limit is %d.", len, ROLLOUT_MAX_NAME_LEN)));
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];
		bool		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			(i > 0 && (c == '_' || c == '.' || c == '-'));

		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("argument \"%s\" is not a valid name: \"%s\"", argname, name),
					 errdetail("Names use lowercase letters, digits, '_', '.' and '-', start with a letter or digit, and have at most %d bytes.",
							   ROLLOUT_MAX_NAME_LEN)));
	}
}

/* rollout._check_name(name text, argname text) */
Datum
rollout_check_name(PG_FUNCTION_ARGS)
{
	char	   *argname = PG_ARGISNULL(1) ? "name" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	RegistryCheckName(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)), argname);
	PG_RETURN_VOID();
}

/* rollout._acting_role(): the role the session acts as, outside SECURITY DEFINER. */
Datum
rollout_acting_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(GetUserNameFromId(GetOuterUserId(), false)));
}
