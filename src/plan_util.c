/*-------------------------------------------------------------------------
 *
 * plan_util.c
 *		Errors, JSON paths and typed access to the values of a plan.
 *
 * Nothing here raises a PostgreSQL error: problems are written into a
 * PlanError and reported by returning false, so that callers can release
 * their jansson objects first. Intervals are parsed with PostgreSQL's own
 * date/time decoder (ParseDateTime, DecodeInterval), which reports errors
 * as return codes, so a malformed value never escapes without its path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <stdarg.h>

#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "plan.h"

/*
 * Records the first problem of a plan and returns false, so that checks can
 * end with "return PlanFail(...)".
 */
bool
PlanFail(PlanError *err, int sqlerrcode, const char *path, const char *detail,
		 const char *fmt,...)
{
	va_list		args;

	if (err->failed)
		return false;
	err->failed = true;
	err->sqlerrcode = sqlerrcode;
	strlcpy(err->path, path && path[0] ? path : "$", sizeof(err->path));
	va_start(args, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, args);
	va_end(args);
	strlcpy(err->detail, detail ? detail : "", sizeof(err->detail));
	return false;
}

/* Writes the path of an object member: "key" at the top, else "parent.key". */
void
PlanPathKey(char *dst, const char *parent, const char *key)
{
	if (parent == NULL || parent[0] == '\0')
		snprintf(dst, PLAN_PATH_LEN, "%s", key);
	else
		snprintf(dst, PLAN_PATH_LEN, "%s.%s", parent, key);
}

/* Writes the path of an array element: "parent[index]". */
void
PlanPathIndex(char *dst, const char *parent, size_t index)
{
	snprintf(dst, PLAN_PATH_LEN, "%s[%zu]", parent, index);
}

/* Names the JSON type of a value, with its article, for messages. */
const char *
PlanTypeName(json_t *value)
{
	if (value == NULL)
		return "missing";
	switch (json_typeof(value))
	{
		case JSON_OBJECT:
			return "an object";
		case JSON_ARRAY:
			return "an array";
		case JSON_STRING:
			return "a string";
		case JSON_INTEGER:
		case JSON_REAL:
			return "a number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "a boolean";
		case JSON_NULL:
			return "null";
	}
	return "unknown";
}

/* Returns the position of s in a NULL-terminated word list, or -1. */
int
PlanLookupWord(const char *s, const char *const *words)
{
	for (int i = 0; words[i] != NULL; i++)
	{
		if (strcmp(s, words[i]) == 0)
			return i;
	}
	return -1;
}

/* Writes the words of a NULL-terminated list separated by commas. */
void
PlanJoinWords(char *dst, size_t len, const char *const *words)
{
	dst[0] = '\0';
	for (int i = 0; words[i] != NULL; i++)
	{
		if (i > 0)
			strlcat(dst, ", ", len);
		strlcat(dst, words[i], len);
	}
}

/*
 * Refuses any member of obj whose key is not in allowed, so that a typo
 * never passes silently.
 */
bool
PlanCheckKeys(json_t *obj, const char *path, const char *const *allowed, PlanError *err)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(obj, key, value)
	{
		if (PlanLookupWord(key, allowed) < 0)
		{
			char		keypath[PLAN_PATH_LEN];
			char		words[PLAN_TEXT_LEN];
			char		detail[PLAN_TEXT_LEN];

			PlanPathKey(keypath, path, key);
			PlanJoinWords(words, sizeof(words), allowed);
			snprintf(detail, sizeof(detail), "Allowed keys here: %s.", words);
			return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, detail,
							"unknown key");
		}
	}
	return true;
}

/* Checks that a value is a JSON object. */
bool
PlanExpectObject(json_t *value, const char *path, PlanError *err)
{
	if (!json_is_object(value))
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path, NULL,
						"must be an object, not %s", PlanTypeName(value));
	return true;
}

/* Checks that a value is a JSON array of at most max_len elements. */
bool
PlanExpectArray(json_t *value, const char *path, size_t max_len, PlanError *err)
{
	if (!json_is_array(value))
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path, NULL,
						"must be an array, not %s", PlanTypeName(value));
	if (json_array_size(value) > max_len)
		return PlanFail(err, ERRCODE_PROGRAM_LIMIT_EXCEEDED, path, NULL,
						"has %zu elements; at most %zu are allowed",
						json_array_size(value), max_len);
	return true;
}

/*
 * Reads an optional number member. A missing key or JSON null leaves
 * *found false; any other non-number is an error.
 */
bool
PlanGetNumber(json_t *obj, const char *key, const char *path, bool *found,
			  double *result, PlanError *err)
{
	json_t	   *value = json_object_get(obj, key);
	char		keypath[PLAN_PATH_LEN];

	*found = false;
	if (value == NULL || json_is_null(value))
		return true;
	PlanPathKey(keypath, path, key);
	if (!json_is_number(value))
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						"must be a number, not %s", PlanTypeName(value));
	*result = json_number_value(value);
	if (!isfinite(*result))
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						"must be a finite number");
	*found = true;
	return true;
}

/* Reads an optional whole-number member (1 and 1.0 are accepted, 1.5 is not). */
bool
PlanGetInteger(json_t *obj, const char *key, const char *path, bool *found,
			   int64 *result, PlanError *err)
{
	double		d = 0;
	char		keypath[PLAN_PATH_LEN];

	if (!PlanGetNumber(obj, key, path, found, &d, err))
		return false;
	if (!*found)
		return true;
	PlanPathKey(keypath, path, key);
	if (d != floor(d) || fabs(d) > 1e15)
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						"must be a whole number, not %g", d);
	*result = (int64) d;
	return true;
}

/* Reads an optional boolean member. */
bool
PlanGetBool(json_t *obj, const char *key, const char *path, bool *found,
			bool *result, PlanError *err)
{
	json_t	   *value = json_object_get(obj, key);
	char		keypath[PLAN_PATH_LEN];

	*found = false;
	if (value == NULL || json_is_null(value))
		return true;
	if (!json_is_boolean(value))
	{
		PlanPathKey(keypath, path, key);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						"must be true or false, not %s", PlanTypeName(value));
	}
	*result = json_is_true(value);
	*found = true;
	return true;
}

/* Reads an optional string member; the result points into the JSON value. */
bool
PlanGetString(json_t *obj, const char *key, const char *path, bool *found,
			  const char **result, PlanError *err)
{
	json_t	   *value = json_object_get(obj, key);
	char		keypath[PLAN_PATH_LEN];

	*found = false;
	if (value == NULL || json_is_null(value))
		return true;
	if (!json_is_string(value))
	{
		PlanPathKey(keypath, path, key);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						"must be a string, not %s", PlanTypeName(value));
	}
	*result = json_string_value(value);
	*found = true;
	return true;
}

/* Seconds of an interval, computed as extract(epoch from interval) does. */
static double
IntervalSeconds(const Interval *iv)
{
	double		result = iv->time / 1000000.0;

	result += ((double) DAYS_PER_YEAR * SECS_PER_DAY) * (iv->month / MONTHS_PER_YEAR);
	result += ((double) DAYS_PER_MONTH * SECS_PER_DAY) * (iv->month % MONTHS_PER_YEAR);
	result += ((double) SECS_PER_DAY) * iv->day;
	return result;
}

/*
 * Parses interval text as interval_in does, without raising errors:
 * returns false when the text is not a valid interval. On success fills in
 * the canonical text (IntervalStyle postgres, whatever the session uses)
 * and the length in seconds.
 */
bool
PlanParseInterval(const char *str, PlanInterval *result)
{
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype = 0;
	int			dterr;
	struct pg_itm_in itm_in;
	struct pg_itm itm;
	Interval	iv;
	char		buf[MAXDATELEN + 1];

	if (strlen(str) >= sizeof(workbuf) - 1)
		return false;
	memset(&itm_in, 0, sizeof(itm_in));
	dterr = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm_in);
	if (dterr == DTERR_BAD_FORMAT)
	{
		memset(&itm_in, 0, sizeof(itm_in));
		dterr = DecodeISO8601Interval(unconstify(char *, str), &dtype, &itm_in);
	}
	if (dterr != 0 || dtype != DTK_DELTA)
		return false;
	if (itmin2interval(&itm_in, &iv) != 0)
		return false;
	interval2itm(iv, &itm);
	EncodeInterval(&itm, INTSTYLE_POSTGRES, buf);
	strlcpy(result->text, buf, sizeof(result->text));
	result->seconds = IntervalSeconds(&iv);
	return true;
}

/*
 * Reads an optional interval member written as PostgreSQL interval text
 * ("4 hours", "3 days", "PT30M").
 */
bool
PlanGetInterval(json_t *obj, const char *key, const char *path, bool *found,
				PlanInterval *result, PlanError *err)
{
	const char *str = NULL;
	char		keypath[PLAN_PATH_LEN];

	if (!PlanGetString(obj, key, path, found, &str, err))
		return false;
	if (!*found)
		return true;
	PlanPathKey(keypath, path, key);
	if (!PlanParseInterval(str, result))
		return PlanFail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, keypath,
						"Write a PostgreSQL interval such as '4 hours', '3 days' or 'PT30M'.",
						"invalid interval \"%s\"", str);
	return true;
}

/*
 * A normalized plan carries "<key>_seconds" next to each interval. Such a
 * member is accepted on input (so a normalized plan validates again) but
 * only when it agrees with the interval: within a microsecond, or within
 * PLAN_SECONDS_REL_TOLERANCE of it for long intervals, whose length PlanDump
 * prints to 15 significant digits ("10000 years 0.0004 seconds").
 */
bool
PlanCheckSeconds(json_t *obj, const char *key, const char *path,
				 const PlanInterval *iv, PlanError *err)
{
	char		skey[128];
	double		given = 0;
	bool		found;

	snprintf(skey, sizeof(skey), "%s_seconds", key);
	if (!PlanGetNumber(obj, skey, path, &found, &given, err))
		return false;
	if (found && fabs(given - iv->seconds) > Max(1e-6, fabs(iv->seconds) * PLAN_SECONDS_REL_TOLERANCE))
	{
		char		keypath[PLAN_PATH_LEN];

		PlanPathKey(keypath, path, skey);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						"This member is derived from the interval; omit it or give the same length.",
						"does not match %s (%g seconds)", key, iv->seconds);
	}
	return true;
}

/*
 * Reads an optional interval member, with its default when absent, and
 * checks it: positive, or at least zero when allow_zero. Also checks a
 * "<key>_seconds" companion.
 */
bool
PlanGetDuration(json_t *obj, const char *key, const char *path, const char *defval,
			bool allow_zero, PlanInterval *result, PlanError *err)
{
	bool		found;

	if (!PlanGetInterval(obj, key, path, &found, result, err))
		return false;
	if (!found && !PlanParseInterval(defval, result))
		elog(ERROR, "invalid default interval \"%s\"", defval);
	if (found && (result->seconds < 0 || (!allow_zero && result->seconds == 0)))
	{
		char		keypath[PLAN_PATH_LEN];

		PlanPathKey(keypath, path, key);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						allow_zero ? "must not be negative, got \"%s\"" : "must be positive, got \"%s\"",
						result->text);
	}
	return PlanCheckSeconds(obj, key, path, result, err);
}

/* Reads an optional sample count: a whole number from 0 to 10^9. */
bool
PlanGetSamples(json_t *obj, const char *key, const char *path, int64 defval,
		   int64 *result, PlanError *err)
{
	bool		found;

	*result = defval;
	if (!PlanGetInteger(obj, key, path, &found, result, err))
		return false;
	if (found && (*result < 0 || *result > PLAN_MAX_SAMPLES))
	{
		char		keypath[PLAN_PATH_LEN];

		PlanPathKey(keypath, path, key);
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						"must be between 0 and %d, got " INT64_FORMAT,
						PLAN_MAX_SAMPLES, *result);
	}
	return true;
}

/*
 * Reads a share of traffic in percent: in (0, 100] (or [0, 100] when
 * allow_zero), in steps of 0.01 as bucketing resolves it.
 */
bool
PlanGetPercent(json_t *obj, const char *key, const char *path, bool allow_zero,
			   bool *found, double *result, PlanError *err)
{
	char		keypath[PLAN_PATH_LEN];

	if (!PlanGetNumber(obj, key, path, found, result, err))
		return false;
	if (!*found)
		return true;
	PlanPathKey(keypath, path, key);
	if (*result < 0 || (!allow_zero && *result == 0))
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						allow_zero ? "must not be negative, got %g" : "must be greater than 0, got %g",
						*result);
	if (*result > 100)
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
						"must be at most 100, got %g", *result);
	if (fabs(*result * 100 - rint(*result * 100)) > 1e-6)
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						"Traffic is split in buckets of 0.01 percent.",
						"must be a multiple of 0.01, got %g", *result);
	*result = rint(*result * 100) / 100;
	return true;
}

/* Whether s is a lowercase identifier: [a-z_][a-z0-9_-]*, 1 to 63 bytes. */
bool
PlanIsIdentifier(const char *s)
{
	size_t		len = strlen(s);

	if (len == 0 || len > 63)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * A new empty JSON object. Never call jansson's json_object() from the
 * library: the postgres executable exports a function of the same name
 * (the SQL json_object()), and the dynamic linker binds our call to it.
 * Calls made inside libjansson are not affected, so json_pack() is safe.
 */
json_t *
PlanObject(void)
{
	json_t	   *obj = json_pack("{}");

	if (obj == NULL)
		elog(ERROR, "out of memory for a JSON object");
	return obj;
}

/* A JSON number: an integer when the value is whole, else a real. */
json_t *
PlanNumber(double value)
{
	if (value == floor(value) && fabs(value) < 9007199254740992.0)
		return json_integer((json_int_t) value);
	return json_real(value);
}

/* Sets "<key>" to the interval text and "<key>_seconds" to its length. */
void
PlanSetInterval(json_t *obj, const char *key, const PlanInterval *iv)
{
	char		skey[128];

	snprintf(skey, sizeof(skey), "%s_seconds", key);
	json_object_set_new(obj, key, json_string(iv->text));
	json_object_set_new(obj, skey, PlanNumber(iv->seconds));
}

/*
 * Normalizes a JSON array whose elements normalize independently: NULL or
 * absent gives [], anything else must be an array of at most PLAN_MAX_LIST
 * elements, each passed to normalize with its own path.
 */
json_t *
PlanNormalizeEach(json_t *value, const char *path, PlanElementNormalizer normalize,
				  PlanError *err)
{
	json_t	   *out;

	if (value == NULL || json_is_null(value))
		return json_array();
	if (!PlanExpectArray(value, path, PLAN_MAX_LIST, err))
		return NULL;
	out = json_array();
	for (size_t i = 0; i < json_array_size(value); i++)
	{
		char		elempath[PLAN_PATH_LEN];
		json_t	   *elem;

		PlanPathIndex(elempath, path, i);
		if ((elem = normalize(json_array_get(value, i), elempath, err)) == NULL)
		{
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, elem);
	}
	return out;
}
