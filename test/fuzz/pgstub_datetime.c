/*-------------------------------------------------------------------------
 *
 * pgstub_datetime.c
 *		Stand-ins for the backend's date/time decoder and encoder, for the
 *		plan harness (fuzz_plan.c).
 *
 * The plan code (src/plan_util.c, src/plan_blackout.c) parses intervals and
 * wall-clock timestamps with PostgreSQL's ParseDateTime, DecodeInterval,
 * DecodeDateTime and friends, which live in the postgres executable. These
 * stand-ins follow the same contracts on a subset of the grammar:
 *
 *	intervals: "[@] N unit [N unit ...] [HH:MM[:SS[.f]]] [ago]", a bare
 *	number of seconds, and ISO 8601 "P[nY][nM][nW][nD][T[nH][nM][nS]]";
 *	fractions spill into smaller units and overflow is refused, as in
 *	interval_in. Text comes back in IntervalStyle postgres.
 *
 *	timestamps: "YYYY-MM-DD[ T]HH:MM[:SS[.f]]", fractions rounded to
 *	microseconds as ParseFractionalSecond does (so ".9999999" is a whole
 *	second, printed as EncodeDateTime prints it), field ranges as
 *	DecodeDateTime checks them.
 *
 *	time zones: a few names, found case-insensitively, each with a fixed
 *	offset (no daylight saving time).
 *
 * What they do not model is PostgreSQL's own parser; what the harness
 * exercises is the plan code around it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/int.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

/* port.h maps the printf family to libpgport's; the stand-ins use libc's. */
#undef snprintf
#undef sprintf

/* A time zone: its canonical name and its offset in seconds west of UTC. */
struct pg_tz
{
	const char *name;
	int			west;
};

static struct pg_tz zones[] = {
	{"UTC", 0}, {"GMT", 0}, {"Europe/Berlin", -3600}, {"Europe/London", 0},
	{"America/New_York", 18000}, {"Asia/Tokyo", -32400}, {"Asia/Kolkata", -19800},
};

/* Finds a zone by name, ignoring case, as pg_tzset does. */
pg_tz *
pg_tzset(const char *tzname)
{
	if (strlen(tzname) > TZ_STRLEN_MAX)
		return NULL;
	for (int i = 0; i < lengthof(zones); i++)
	{
		if (strcasecmp(tzname, zones[i].name) == 0)
			return &zones[i];
	}
	return NULL;
}

/* The canonical spelling of a zone's name. */
const char *
pg_get_timezone_name(pg_tz *tz)
{
	return tz->name;
}

/* Julian day number of a proleptic Gregorian date (2000-01-01 is 2451545). */
int
date2j(int year, int month, int day)
{
	int64		y = year - (month <= 2);
	int64		era = (y >= 0 ? y : y - 399) / 400;
	int64		yoe = y - era * 400;
	int64		doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64		doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return (int) (era * 146097 + doe - 719468 + 2440588);
}

/* The date of a Julian day number. */
void
j2date(int jd, int *year, int *month, int *day)
{
	int64		z = (int64) jd - 2440588 + 719468;
	int64		era = (z >= 0 ? z : z - 146096) / 146097;
	int64		doe = z - era * 146097;
	int64		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64		mp = (5 * doy + 2) / 153;
	int			m = (int) (mp < 10 ? mp + 3 : mp - 9);

	*day = (int) (doy - (153 * mp + 2) / 5 + 1);
	*month = m;
	*year = (int) (yoe + era * 400 + (m <= 2));
}

/* Day of the week of a Julian day number, 0 = Sunday. */
int
j2day(int jd)
{
	int			d = (jd + 1) % 7;

	return d < 0 ? d + 7 : d;
}

/*
 * Copies the text, lowercased, into workbuf as one field; refuses text that
 * does not fit, as ParseDateTime does.
 */
int
ParseDateTime(const char *timestr, char *workbuf, size_t buflen,
			  char **field, int *ftype, int maxfields, int *numfields)
{
	size_t		len = strlen(timestr);

	if (len + 1 > buflen || maxfields < 1)
		return DTERR_BAD_FORMAT;
	for (size_t i = 0; i <= len; i++)
		workbuf[i] = (char) tolower((unsigned char) timestr[i]);
	field[0] = workbuf;
	ftype[0] = DTK_STRING;
	*numfields = 1;
	return 0;
}

/* Adds v to *acc, refusing overflow. */
static bool
AddChecked(int64 *acc, double v)
{
	double		r = rint(v);

	if (isnan(r) || r > (double) PG_INT64_MAX / 2 || r < (double) PG_INT64_MIN / 2)
		return false;
	return !pg_add_s64_overflow(*acc, (int64) r, acc);
}

/* Adds a count of one unit to the interval, spilling fractions down. */
static bool
AddUnit(struct pg_itm_in *itm, double *months, double *days, double v, const char *unit)
{
	int64		usec = itm->tm_usec;
	bool		ok = true;

	if (strcmp(unit, "microsecond") == 0 || strcmp(unit, "microseconds") == 0 ||
		strcmp(unit, "us") == 0 || strcmp(unit, "usec") == 0 || strcmp(unit, "usecs") == 0)
		ok = AddChecked(&usec, v);
	else if (strcmp(unit, "millisecond") == 0 || strcmp(unit, "milliseconds") == 0 ||
			 strcmp(unit, "ms") == 0 || strcmp(unit, "msec") == 0 || strcmp(unit, "msecs") == 0)
		ok = AddChecked(&usec, v * 1000.0);
	else if (strcmp(unit, "second") == 0 || strcmp(unit, "seconds") == 0 ||
			 strcmp(unit, "s") == 0 || strcmp(unit, "sec") == 0 || strcmp(unit, "secs") == 0)
		ok = AddChecked(&usec, v * USECS_PER_SEC);
	else if (strcmp(unit, "minute") == 0 || strcmp(unit, "minutes") == 0 ||
			 strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0 || strcmp(unit, "mins") == 0)
		ok = AddChecked(&usec, v * USECS_PER_MINUTE);
	else if (strcmp(unit, "hour") == 0 || strcmp(unit, "hours") == 0 ||
			 strcmp(unit, "h") == 0 || strcmp(unit, "hr") == 0 || strcmp(unit, "hrs") == 0)
		ok = AddChecked(&usec, v * USECS_PER_HOUR);
	else if (strcmp(unit, "day") == 0 || strcmp(unit, "days") == 0 || strcmp(unit, "d") == 0)
		*days += v;
	else if (strcmp(unit, "week") == 0 || strcmp(unit, "weeks") == 0 || strcmp(unit, "w") == 0)
		*days += v * 7;
	else if (strcmp(unit, "month") == 0 || strcmp(unit, "months") == 0 ||
			 strcmp(unit, "mon") == 0 || strcmp(unit, "mons") == 0)
		*months += v;
	else if (strcmp(unit, "year") == 0 || strcmp(unit, "years") == 0 ||
			 strcmp(unit, "y") == 0 || strcmp(unit, "yr") == 0 || strcmp(unit, "yrs") == 0)
		*months += v * MONTHS_PER_YEAR;
	else
		return false;
	itm->tm_usec = usec;
	return ok;
}

/* Moves the whole and fractional parts of months and days into the interval. */
static int
FinishInterval(struct pg_itm_in *itm, double months, double days, bool negate)
{
	double		wm = trunc(months);
	double		wd;

	days += (months - wm) * DAYS_PER_MONTH;
	wd = trunc(days);
	if (!AddChecked(&itm->tm_usec, (days - wd) * USECS_PER_DAY))
		return DTERR_FIELD_OVERFLOW;
	if (fabs(wm) > PG_INT32_MAX || fabs(wd) > PG_INT32_MAX)
		return DTERR_FIELD_OVERFLOW;
	itm->tm_year = (int) (wm / MONTHS_PER_YEAR);
	itm->tm_mon = (int) (wm - (double) itm->tm_year * MONTHS_PER_YEAR);
	itm->tm_mday = (int) wd;
	if (negate)
	{
		if (itm->tm_usec == PG_INT64_MIN)
			return DTERR_FIELD_OVERFLOW;
		itm->tm_usec = -itm->tm_usec;
		itm->tm_mday = -itm->tm_mday;
		itm->tm_mon = -itm->tm_mon;
		itm->tm_year = -itm->tm_year;
	}
	return 0;
}

/* Parses "[-]H:M[:S[.f]]" into microseconds; false when malformed. */
static bool
ParseClockField(const char *s, double *usec)
{
	double		h,
				m,
				sec = 0;
	bool		neg = (*s == '-');
	char	   *end;

	if (*s == '-' || *s == '+')
		s++;
	if (!isdigit((unsigned char) *s))
		return false;
	h = (double) strtoll(s, &end, 10);
	if (*end != ':')
		return false;
	s = end + 1;
	if (!isdigit((unsigned char) *s))
		return false;
	m = strtol(s, &end, 10);
	if (*end == ':')
	{
		s = end + 1;
		if (!isdigit((unsigned char) *s))
			return false;
		sec = strtod(s, &end);
	}
	if (*end != '\0' || m > 59 || sec >= 60)
		return false;
	*usec = ((h * 60 + m) * 60 + sec) * USECS_PER_SEC;
	if (neg)
		*usec = -*usec;
	return true;
}

/*
 * Decodes an interval written as units, a clock or a bare number of
 * seconds. Text starting with "p" is left to DecodeISO8601Interval.
 */
int
DecodeInterval(char **field, int *ftype, int nf, int range,
			   int *dtype, struct pg_itm_in *itm_in)
{
	char	   *s = field[0];
	double		months = 0,
				days = 0;
	bool		any = false;
	bool		negate = false;

	*dtype = DTK_DELTA;
	memset(itm_in, 0, sizeof(*itm_in));
	while (isspace((unsigned char) *s))
		s++;
	if (*s == 'p')
		return DTERR_BAD_FORMAT;
	if (*s == '@')
		s++;
	for (;;)
	{
		char		tok[64];
		size_t		len = 0;
		double		v;
		char	   *end;

		while (isspace((unsigned char) *s))
			s++;
		if (*s == '\0')
			break;
		while (s[len] != '\0' && !isspace((unsigned char) s[len]))
			len++;
		if (len >= sizeof(tok))
			return DTERR_BAD_FORMAT;
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		if (strcmp(tok, "ago") == 0)
		{
			while (isspace((unsigned char) *s))
				s++;
			if (*s != '\0' || !any)
				return DTERR_BAD_FORMAT;
			negate = true;
			break;
		}
		if (strchr(tok, ':') != NULL)
		{
			if (!ParseClockField(tok, &v) || !AddChecked(&itm_in->tm_usec, v))
				return DTERR_BAD_FORMAT;
			any = true;
			continue;
		}
		if (!(isdigit((unsigned char) tok[0]) || tok[0] == '-' || tok[0] == '+' || tok[0] == '.'))
			return DTERR_BAD_FORMAT;
		v = strtod(tok, &end);
		if (end == tok || !isfinite(v) || fabs(v) > 1e18)
			return DTERR_BAD_FORMAT;
		if (*end == '\0')
		{
			/* the unit is the next word, or seconds at the end */
			char		unit[64];
			size_t		ulen = 0;

			while (isspace((unsigned char) *s))
				s++;
			while (s[ulen] != '\0' && !isspace((unsigned char) s[ulen]))
				ulen++;
			if (ulen == 0)
			{
				if (!AddUnit(itm_in, &months, &days, v, "seconds"))
					return DTERR_FIELD_OVERFLOW;
			}
			else
			{
				if (ulen >= sizeof(unit))
					return DTERR_BAD_FORMAT;
				memcpy(unit, s, ulen);
				unit[ulen] = '\0';
				s += ulen;
				if (!AddUnit(itm_in, &months, &days, v, unit))
					return DTERR_BAD_FORMAT;
			}
		}
		else if (!AddUnit(itm_in, &months, &days, v, end))
			return DTERR_BAD_FORMAT;
		any = true;
	}
	if (!any)
		return DTERR_BAD_FORMAT;
	return FinishInterval(itm_in, months, days, negate);
}

/* Decodes an ISO 8601 interval in the format with designators. */
int
DecodeISO8601Interval(char *str, int *dtype, struct pg_itm_in *itm_in)
{
	bool		time = false;
	bool		any = false;
	double		months = 0,
				days = 0;

	*dtype = DTK_DELTA;
	memset(itm_in, 0, sizeof(*itm_in));
	if (*str++ != 'P')
		return DTERR_BAD_FORMAT;
	while (*str != '\0')
	{
		double		v;
		char	   *end;
		const char *unit;

		if (*str == 'T')
		{
			if (time)
				return DTERR_BAD_FORMAT;
			time = true;
			str++;
			continue;
		}
		if (!(isdigit((unsigned char) *str) || *str == '-' || *str == '+' || *str == '.'))
			return DTERR_BAD_FORMAT;
		v = strtod(str, &end);
		if (end == str || !isfinite(v) || fabs(v) > 1e18)
			return DTERR_BAD_FORMAT;
		switch (*end)
		{
			case 'Y':
				unit = time ? NULL : "years";
				break;
			case 'M':
				unit = time ? "minutes" : "months";
				break;
			case 'W':
				unit = time ? NULL : "weeks";
				break;
			case 'D':
				unit = time ? NULL : "days";
				break;
			case 'H':
				unit = time ? "hours" : NULL;
				break;
			case 'S':
				unit = time ? "seconds" : NULL;
				break;
			default:
				unit = NULL;
		}
		if (unit == NULL || !AddUnit(itm_in, &months, &days, v, unit))
			return DTERR_BAD_FORMAT;
		any = true;
		str = end + 1;
	}
	if (!any)
		return DTERR_BAD_FORMAT;
	return FinishInterval(itm_in, months, days, false);
}

/* Builds an Interval from decoded fields; -1 when the months overflow. */
int
itmin2interval(struct pg_itm_in *itm_in, Interval *span)
{
	int64		total_months = (int64) itm_in->tm_year * MONTHS_PER_YEAR + itm_in->tm_mon;

	if (total_months > PG_INT32_MAX || total_months < PG_INT32_MIN)
		return -1;
	span->month = (int32) total_months;
	span->day = itm_in->tm_mday;
	span->time = itm_in->tm_usec;
	return 0;
}

/* Splits an Interval into fields. */
void
interval2itm(Interval span, struct pg_itm *itm)
{
	int64		time = span.time;

	itm->tm_year = span.month / MONTHS_PER_YEAR;
	itm->tm_mon = span.month % MONTHS_PER_YEAR;
	itm->tm_mday = span.day;
	itm->tm_hour = time / USECS_PER_HOUR;
	time -= itm->tm_hour * USECS_PER_HOUR;
	itm->tm_min = (int) (time / USECS_PER_MINUTE);
	time -= itm->tm_min * USECS_PER_MINUTE;
	itm->tm_sec = (int) (time / USECS_PER_SEC);
	itm->tm_usec = (int) (time - itm->tm_sec * USECS_PER_SEC);
}

/*
 * Appends seconds and a fraction trimmed of trailing zeros, as the backend's
 * AppendSeconds does: a fraction too wide for the precision (a whole second
 * of microseconds) is printed whole.
 */
static char *
AppendSeconds(char *cp, int sec, int64 fsec, int precision, bool fillzeros)
{
	char		digits[32];
	int64		v = fsec < 0 ? -fsec : fsec;
	int			n;

	cp += sprintf(cp, fillzeros ? "%02d" : "%d", abs(sec));
	if (v == 0)
		return cp;
	*cp++ = '.';
	if (v >= 1000000)
		return cp + sprintf(cp, "%lld", (long long) v);
	n = snprintf(digits, sizeof(digits), "%0*lld", precision, (long long) v);
	while (n > 1 && digits[n - 1] == '0')
		n--;
	memcpy(cp, digits, n);
	cp += n;
	*cp = '\0';
	return cp;
}

/* Appends one field of an interval in IntervalStyle postgres. */
static char *
AddPostgresIntPart(char *cp, int value, const char *units, bool *is_zero, bool *is_before)
{
	if (value == 0)
		return cp;
	cp += sprintf(cp, "%s%s%d %s%s", (!*is_zero) ? " " : "",
				  (*is_before && value > 0) ? "+" : "", value, units,
				  (value != 1) ? "s" : "");
	*is_before = (value < 0);
	*is_zero = false;
	return cp;
}

/* Prints an interval in IntervalStyle postgres ("1 day 02:00:00"). */
void
EncodeInterval(struct pg_itm *itm, int style, char *str)
{
	char	   *cp = str;
	bool		is_before = false;
	bool		is_zero = true;
	int64		hour = itm->tm_hour;
	int			min = itm->tm_min;
	int			sec = itm->tm_sec;
	int			fsec = itm->tm_usec;

	*cp = '\0';
	cp = AddPostgresIntPart(cp, itm->tm_year, "year", &is_zero, &is_before);
	cp = AddPostgresIntPart(cp, itm->tm_mon, "mon", &is_zero, &is_before);
	cp = AddPostgresIntPart(cp, itm->tm_mday, "day", &is_zero, &is_before);
	if (is_zero || hour != 0 || min != 0 || sec != 0 || fsec != 0)
	{
		bool		minus = (hour < 0 || min < 0 || sec < 0 || fsec < 0);

		cp += sprintf(cp, "%s%s%02lld:%02d:", is_zero ? "" : " ",
					  (minus ? "-" : (is_before ? "+" : "")),
					  (long long) (hour < 0 ? -hour : hour), abs(min));
		AppendSeconds(cp, sec, fsec, MAX_INTERVAL_PRECISION, true);
	}
}

/* Reads 1 or more digits; -1 when there are none. */
static int
ReadInt(const char **s, int maxdigits)
{
	int			v = 0,
				n = 0;

	while (isdigit((unsigned char) **s) && n < maxdigits)
	{
		v = v * 10 + (**s - '0');
		(*s)++;
		n++;
	}
	return n == 0 ? -1 : v;
}

/* Decodes "YYYY-MM-DD[ T]HH:MM[:SS[.f]]" with DecodeDateTime's range checks. */
int
DecodeDateTime(char **field, int *ftype, int nf, int *dtype, struct pg_tm *tm,
			   fsec_t *fsec, int *tzp)
{
	const char *s = field[0];
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	*dtype = DTK_DATE;
	*fsec = 0;
	tm->tm_hour = tm->tm_min = tm->tm_sec = 0;
	if ((tm->tm_year = ReadInt(&s, 9)) < 0 || *s++ != '-' ||
		(tm->tm_mon = ReadInt(&s, 9)) < 0 || *s++ != '-' ||
		(tm->tm_mday = ReadInt(&s, 9)) < 0)
		return DTERR_BAD_FORMAT;
	if (*s == ' ' || *s == 't')
	{
		s++;
		if ((tm->tm_hour = ReadInt(&s, 9)) < 0 || *s++ != ':' ||
			(tm->tm_min = ReadInt(&s, 9)) < 0)
			return DTERR_BAD_FORMAT;
		if (*s == ':')
		{
			s++;
			if ((tm->tm_sec = ReadInt(&s, 9)) < 0)
				return DTERR_BAD_FORMAT;
			if (*s == '.')
			{
				char	   *end;
				double		frac = strtod(s, &end);

				if (*end != '\0')
					return DTERR_BAD_FORMAT;
				*fsec = (fsec_t) rint(frac * 1000000);
				s = end;
			}
		}
	}
	if (*s != '\0')
		return DTERR_BAD_FORMAT;
	if (tm->tm_year <= 0 || tm->tm_mon < 1 || tm->tm_mon > 12 || tm->tm_mday < 1 ||
		tm->tm_mday > mdays[tm->tm_mon - 1] ||
		(tm->tm_mon == 2 && tm->tm_mday == 29 &&
		 !(tm->tm_year % 4 == 0 && (tm->tm_year % 100 != 0 || tm->tm_year % 400 == 0))))
		return DTERR_FIELD_OVERFLOW;
	if (tm->tm_min > 59 || tm->tm_sec > 60 || *fsec > USECS_PER_SEC ||
		tm->tm_hour > 24 ||
		(tm->tm_hour == 24 && (tm->tm_min > 0 || tm->tm_sec > 0 || *fsec > 0)))
		return DTERR_FIELD_OVERFLOW;
	return 0;
}

/* The zone's offset at a local time, in seconds west of UTC. */
int
DetermineTimeZoneOffset(struct pg_tm *tm, pg_tz *tzp)
{
	tm->tm_isdst = 0;
	tm->tm_gmtoff = -tzp->west;
	return tzp->west;
}

/* Combines date, time and offset into a timestamp; -1 when out of range. */
int
tm2timestamp(struct pg_tm *tm, fsec_t fsec, int *tzp, Timestamp *result)
{
	int64		date = (int64) date2j(tm->tm_year, tm->tm_mon, tm->tm_mday) - POSTGRES_EPOCH_JDATE;
	int64		time = ((((int64) tm->tm_hour * MINS_PER_HOUR) + tm->tm_min) * SECS_PER_MINUTE +
						tm->tm_sec) * USECS_PER_SEC + fsec;

	*result = date * USECS_PER_DAY + time;
	if (tzp != NULL)
		*result += (int64) *tzp * USECS_PER_SEC;
	if (!IS_VALID_TIMESTAMP(*result))
		return -1;
	return 0;
}

/* Splits a timestamp into local fields in a zone. */
int
timestamp2tm(Timestamp dt, int *tzp, struct pg_tm *tm, fsec_t *fsec,
			 const char **tzn, pg_tz *attimezone)
{
	int64		local;
	int64		date,
				time;

	if (!IS_VALID_TIMESTAMP(dt))
		return -1;
	/* without tzp, the timestamp is a wall-clock time already */
	local = dt;
	if (tzp != NULL)
		local -= (int64) attimezone->west * USECS_PER_SEC;
	date = local / USECS_PER_DAY;
	time = local % USECS_PER_DAY;
	if (time < 0)
	{
		time += USECS_PER_DAY;
		date--;
	}
	j2date((int) (date + POSTGRES_EPOCH_JDATE), &tm->tm_year, &tm->tm_mon, &tm->tm_mday);
	tm->tm_hour = (int) (time / USECS_PER_HOUR);
	tm->tm_min = (int) (time / USECS_PER_MINUTE % MINS_PER_HOUR);
	tm->tm_sec = (int) (time / USECS_PER_SEC % SECS_PER_MINUTE);
	*fsec = (fsec_t) (time % USECS_PER_SEC);
	if (tzp != NULL)
		*tzp = attimezone->west;
	return 0;
}

/* Prints a timestamp's fields in ISO style without a zone. */
void
EncodeDateTime(struct pg_tm *tm, fsec_t fsec, bool print_tz, int tz, const char *tzn,
			   int style, char *str)
{
	char	   *cp = str;

	cp += sprintf(cp, "%04d-%02d-%02d %02d:%02d:",
				  (tm->tm_year > 0) ? tm->tm_year : -(tm->tm_year - 1),
				  tm->tm_mon, tm->tm_mday, tm->tm_hour, tm->tm_min);
	cp = AppendSeconds(cp, tm->tm_sec, fsec, MAX_TIMESTAMP_PRECISION, true);
	if (tm->tm_year <= 0)
		sprintf(cp, " BC");
}
