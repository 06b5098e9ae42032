/*-------------------------------------------------------------------------
 *
 * plan_blackout.c
 *		Blackout windows of a rollout plan: times when a rollout never
 *		advances.
 *
 * A window is either recurring, {"days": ["sat", "sun"], "from": "00:00",
 * "to": "24:00", "timezone": "UTC"}, or absolute, {"start": "2024-12-24",
 * "end": "2024-12-27 08:00", "timezone": "Europe/Berlin"}. Absolute times
 * are wall-clock times in the window's time zone (UTC by default), so a plan
 * means the same whatever the session's TimeZone is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "plan.h"

PG_FUNCTION_INFO_V1(rollout_in_blackout);

static const char *const window_keys[] = {"days", "from", "to", "timezone", "start", "end", NULL};

/* Day names in PostgreSQL's day-of-week order (0 = Sunday). */
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

/*
 * Parses "HH:MM" into minutes after midnight; "24:00" (the end of the day)
 * only when allow_end. Returns -1 when malformed.
 */
static int
ParseClock(const char *s, bool allow_end)
{
	int			h,
				m;

	if (strlen(s) != 5 || !isdigit((unsigned char) s[0]) || !isdigit((unsigned char) s[1]) ||
		s[2] != ':' || !isdigit((unsigned char) s[3]) || !isdigit((unsigned char) s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_end)))
		return -1;
	return h * 60 + m;
}

/* Whether s has the ISO shape YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]], no zone. */
static bool
IsIsoLocalTimestamp(const char *s)
{
	const char *shape = "dddd-dd-dd";
	size_t		len = strlen(s);
	size_t		i;

	if (len < 10)
		return false;
	for (i = 0; i < 10; i++)
	{
		if (shape[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != shape[i])
			return false;
	}
	if (len == 10)
		return true;
	if ((s[10] != ' ' && s[10] != 'T') || len < 16)
		return false;
	for (i = 11; i < len; i++)
	{
		if (!isdigit((unsigned char) s[i]) && s[i] != ':' && s[i] != '.')
			return false;
	}
	return true;
}

/*
 * Parses a wall-clock timestamp in zone tz. Returns false when malformed or
 * out of range; else sets *ts and the canonical text "YYYY-MM-DD HH:MM:SS".
 */
static bool
ParseLocalTimestamp(const char *s, pg_tz *tz, TimestampTz *ts, char *text)
{
	char		workbuf[MAXDATELEN + 1];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype = 0;
	int			offset;
	struct pg_tm tm;
	fsec_t		fsec = 0;

	if (!IsIsoLocalTimestamp(s) || strlen(s) >= sizeof(workbuf) - 1)
		return false;
	memset(&tm, 0, sizeof(tm));
	if (ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0 ||
		DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, NULL) != 0 ||
		dtype != DTK_DATE)
		return false;
	offset = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, fsec, &offset, ts) != 0 || !IS_VALID_TIMESTAMP(*ts))
		return false;
	if (text != NULL)
	{
		Timestamp	local;

		/*
		 * Print the wall-clock time as a timestamp without zone prints it,
		 * so that a fraction rounded up to a whole second (":59.9999999"), a
		 * leap second (":60") or "24:00" carries into the next minute or day
		 * and the text reads back to the same time. The fields as parsed
		 * would print ":59.1000000" for the first.
		 */
		if (tm2timestamp(&tm, fsec, NULL, &local) != 0 ||
			timestamp2tm(local, NULL, &tm, &fsec, NULL, NULL) != 0)
			return false;
		EncodeDateTime(&tm, fsec, false, 0, NULL, USE_ISO_DATES, text);
	}
	return true;
}

/* Reads the window's time zone (default UTC); *tz is set on success. */
static bool
GetZone(json_t *window, const char *path, pg_tz **tz, const char **name, PlanError *err)
{
	bool		found;
	const char *s = "UTC";

	if (!PlanGetString(window, "timezone", path, &found, &s, err))
		return false;
	*tz = pg_tzset(s);
	if (*tz == NULL)
	{
		char		keypath[PLAN_PATH_LEN];

		PlanPathKey(keypath, path, "timezone");
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						"Use a name from the time zone database, e.g. \"UTC\" or \"Europe/Berlin\".",
						"unknown time zone \"%s\"", s);
	}
	*name = pg_get_timezone_name(*tz);
	return true;
}

/* Reads a required absolute bound (start or end) of a window. */
static bool
GetBound(json_t *window, const char *key, const char *path, pg_tz *tz, TimestampTz *ts,
		 char *text, PlanError *err)
{
	const char *s;
	bool		found;
	char		keypath[PLAN_PATH_LEN];

	if (!PlanGetString(window, key, path, &found, &s, err))
		return false;
	PlanPathKey(keypath, path, key);
	if (!found)
		return PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
						"An absolute window gives both \"start\" and \"end\".", "is required");
	if (!ParseLocalTimestamp(s, tz, ts, text))
		return PlanFail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, keypath,
						"Write a wall-clock time \"YYYY-MM-DD HH:MM[:SS]\" without a zone; the window's \"timezone\" (default UTC) applies.",
						"invalid timestamp \"%s\"", s);
	return true;
}

/* Normalizes the day list of a recurring window into Monday-first order. */
static json_t *
NormalizeDays(json_t *window, const char *path, PlanError *err)
{
	json_t	   *days = json_object_get(window, "days");
	bool		seen[7] = {false};
	char		keypath[PLAN_PATH_LEN];
	json_t	   *out;

	PlanPathKey(keypath, path, "days");
	if (days == NULL || json_is_null(days))
		memset(seen, true, sizeof(seen));
	else
	{
		if (!PlanExpectArray(days, keypath, 7, err))
			return NULL;
		if (json_array_size(days) == 0)
		{
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL, "must not be empty");
			return NULL;
		}
		for (size_t i = 0; i < json_array_size(days); i++)
		{
			json_t	   *d = json_array_get(days, i);
			char		elempath[PLAN_PATH_LEN];
			int			dow = json_is_string(d) ? PlanLookupWord(json_string_value(d), day_names) : -1;

			PlanPathIndex(elempath, keypath, i);
			if (dow < 0)
			{
				PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, elempath,
						 "Days are \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\".",
						 "must be a day name");
				return NULL;
			}
			if (seen[dow])
			{
				PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, elempath, NULL,
						 "duplicate day \"%s\"", day_names[dow]);
				return NULL;
			}
			seen[dow] = true;
		}
	}
	out = json_array();
	for (int i = 1; i <= 7; i++)
	{
		if (seen[i % 7])
			json_array_append_new(out, json_string(day_names[i % 7]));
	}
	return out;
}

/* Reads a clock member ("from" or "to") of a recurring window. */
static bool
GetClock(json_t *window, const char *key, const char *path, const char *defval,
		 int *minutes, const char **text, PlanError *err)
{
	bool		found;

	*text = defval;
	if (!PlanGetString(window, key, path, &found, text, err))
		return false;
	*minutes = ParseClock(*text, strcmp(key, "to") == 0);
	if (*minutes < 0)
	{
		char		keypath[PLAN_PATH_LEN];

		PlanPathKey(keypath, path, key);
		return PlanFail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, keypath,
						"Write a time of day \"HH:MM\" from 00:00 to 23:59 (\"to\" may also be 24:00).",
						"invalid time of day \"%s\"", *text);
	}
	return true;
}

/* Normalizes one blackout window, recurring or absolute. */
static json_t *
NormalizeWindow(json_t *window, const char *path, PlanError *err)
{
	bool		absolute,
				recurring;
	pg_tz	   *tz = NULL;
	const char *zone = NULL;
	json_t	   *out;

	if (!PlanExpectObject(window, path, err) ||
		!PlanCheckKeys(window, path, window_keys, err))
		return NULL;
	absolute = json_object_get(window, "start") || json_object_get(window, "end");
	recurring = json_object_get(window, "days") || json_object_get(window, "from") ||
		json_object_get(window, "to");
	if (absolute == recurring)
	{
		PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, path,
				 "A window is recurring ({\"days\": [...], \"from\": \"HH:MM\", \"to\": \"HH:MM\"}) or absolute ({\"start\": ..., \"end\": ...}).",
				 absolute ? "must not mix \"start\"/\"end\" with \"days\"/\"from\"/\"to\"" :
				 "must give \"days\" or \"from\"/\"to\", or \"start\" and \"end\"");
		return NULL;
	}
	if (!GetZone(window, path, &tz, &zone, err))
		return NULL;

	if (absolute)
	{
		TimestampTz start,
					end;
		char		start_text[MAXDATELEN + 1];
		char		end_text[MAXDATELEN + 1];

		if (!GetBound(window, "start", path, tz, &start, start_text, err) ||
			!GetBound(window, "end", path, tz, &end, end_text, err))
			return NULL;
		if (end <= start)
		{
			char		keypath[PLAN_PATH_LEN];

			PlanPathKey(keypath, path, "end");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath, NULL,
					 "must be later than start");
			return NULL;
		}
		out = PlanObject();
		json_object_set_new(out, "start", json_string(start_text));
		json_object_set_new(out, "end", json_string(end_text));
	}
	else
	{
		int			from,
					to;
		const char *from_text,
				   *to_text;
		json_t	   *days;

		if (!GetClock(window, "from", path, "00:00", &from, &from_text, err) ||
			!GetClock(window, "to", path, "24:00", &to, &to_text, err))
			return NULL;
		if (from == to)
		{
			char		keypath[PLAN_PATH_LEN];

			PlanPathKey(keypath, path, "to");
			PlanFail(err, ERRCODE_INVALID_PARAMETER_VALUE, keypath,
					 "A window that wraps past midnight has \"to\" earlier than \"from\"; an empty window is not allowed.",
					 "must differ from \"from\"");
			return NULL;
		}
		if ((days = NormalizeDays(window, path, err)) == NULL)
			return NULL;
		out = PlanObject();
		json_object_set_new(out, "days", days);
		json_object_set_new(out, "from", json_string(from_text));
		json_object_set_new(out, "to", json_string(to_text));
	}
	json_object_set_new(out, "timezone", json_string(zone));
	return out;
}

/* Normalizes the list of blackout windows. */
json_t *
PlanNormalizeBlackouts(json_t *value, const char *path, PlanError *err)
{
	return PlanNormalizeEach(value, path, NormalizeWindow, err);
}

/* Whether the day list of a normalized recurring window holds a weekday. */
static bool
HasDay(json_t *days, int dow)
{
	for (size_t i = 0; i < json_array_size(days); i++)
	{
		if (strcmp(json_string_value(json_array_get(days, i)), day_names[dow]) == 0)
			return true;
	}
	return false;
}

/* Whether at falls inside one normalized window. */
static bool
InWindow(json_t *window, TimestampTz at)
{
	pg_tz	   *tz = pg_tzset(json_string_value(json_object_get(window, "timezone")));
	json_t	   *start = json_object_get(window, "start");

	if (tz == NULL)
		elog(ERROR, "unknown time zone in a normalized plan");
	if (start != NULL)
	{
		TimestampTz s,
					e;

		if (!ParseLocalTimestamp(json_string_value(start), tz, &s, NULL) ||
			!ParseLocalTimestamp(json_string_value(json_object_get(window, "end")), tz, &e, NULL))
			elog(ERROR, "invalid timestamp in a normalized plan");
		return at >= s && at < e;
	}
	else
	{
		json_t	   *days = json_object_get(window, "days");
		int			from = ParseClock(json_string_value(json_object_get(window, "from")), false);
		int			to = ParseClock(json_string_value(json_object_get(window, "to")), true);
		struct pg_tm tm;
		fsec_t		fsec;
		int			offset;
		int			dow;
		int			secs;

		if (timestamp2tm(at, &offset, &tm, &fsec, NULL, tz) != 0)
			return false;
		dow = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));
		secs = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
		if (from < to)
			return HasDay(days, dow) && secs >= from * 60 && secs < to * 60;
		/* wraps past midnight: the days name the day the window starts */
		return (HasDay(days, dow) && secs >= from * 60) ||
			(HasDay(days, (dow + 6) % 7) && secs < to * 60);
	}
}

/* Whether at falls inside any of the normalized blackout windows. */
bool
PlanInBlackout(json_t *blackouts, TimestampTz at)
{
	for (size_t i = 0; i < json_array_size(blackouts); i++)
	{
		if (InWindow(json_array_get(blackouts, i), at))
			return true;
	}
	return false;
}

/*
 * rollout.in_blackout(plan jsonb, at timestamptz) RETURNS boolean: whether
 * a rollout following plan may not advance at time at. The plan is
 * validated first (a bad plan raises the usual error).
 */
Datum
rollout_in_blackout(PG_FUNCTION_ARGS)
{
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(1);
	PlanError	err;
	json_t	   *volatile in = NULL;
	json_t	   *volatile out = NULL;
	bool		result = false;

	memset(&err, 0, sizeof(err));
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"at\" must be a finite timestamp")));
	PG_TRY();
	{
		in = PlanLoadJsonb(PG_GETARG_DATUM(0), &err);
		if (in != NULL)
			out = PlanNormalize(in, &err);
		if (out != NULL)
			result = PlanInBlackout(json_object_get(out, "blackouts"), at);
	}
	PG_FINALLY();
	{
		json_decref(in);
		json_decref(out);
	}
	PG_END_TRY();

	if (err.failed)
		PlanRaiseError(&err);
	PG_RETURN_BOOL(result);
}
