/*-------------------------------------------------------------------------
 *
 * fuzz_plan.c
 *		libFuzzer harness for the rollout plan parser (src/plan*.c): top
 *		level, steps, shadow, experiment, variants, rules, flags, pinning,
 *		blackouts and gates.
 *
 * The input is a plan as JSON text. It reaches PlanNormalize as
 * rollout._normalize_plan hands it over: read into jsonb (numbers become
 * numerics, printed without exponent) and back into jansson. Every input
 * is either refused with a PlanError, or normalized into a plan that
 *	- was not refused on the way (no PlanError recorded);
 *	- gives the same answer from PlanInBlackout at a few times without an
 *	  ERROR;
 *	- survives what happens to a stored plan: PlanDump, jsonb, jansson, and
 *	  PlanNormalize again (tick() validates the stored plan through
 *	  rollout.in_blackout on every evaluation), to the same jsonb.
 * An ERROR escaping PlanNormalize is a bug: plan problems go to PlanError.
 * Date/time parsing is done by the stand-ins of pgstub_datetime.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"

#include "plan.h"
#include "pgstub.h"

/* port.h maps the printf family to libpgport's; the harnesses use libc's. */
#undef fprintf

/* Reports a broken property, then aborts. */
static void
Fail(const char *what, const char *input, const char *detail)
{
	fprintf(stderr, "fuzz_plan: %s\ninput:  %s\ndetail: %s\n", what, input,
			detail ? detail : "");
	abort();
}

/*
 * Rewrites the numbers of JSON text as jsonb stores them: numeric_in then
 * numeric_out, i.e. plain decimal with scale max(0, fraction digits -
 * exponent), "-" dropped from zero. Text outside numbers is copied; false
 * when an exponent is beyond what numeric_in accepts.
 */
static bool
NumericText(const char *in, StringInfo out)
{
	const char *p = in;

	initStringInfo(out);
	while (*p)
	{
		if (*p == '"')
		{
			/* copy a string literal, escapes included */
			appendStringInfoChar(out, *p++);
			while (*p && *p != '"')
			{
				if (*p == '\\' && p[1])
					appendStringInfoChar(out, *p++);
				appendStringInfoChar(out, *p++);
			}
			if (*p)
				appendStringInfoChar(out, *p++);
		}
		else if (*p == '-' || isdigit((unsigned char) *p))
		{
			StringInfoData digits;
			const char *start = p;
			bool		neg = (*p == '-');
			bool		bad = false;
			int			intlen = 0,
						fraclen = 0;
			long		exp = 0;
			long		point;
			bool		nonzero = false;

			initStringInfo(&digits);
			if (neg)
				p++;
			while (isdigit((unsigned char) *p))
			{
				appendStringInfoChar(&digits, *p++);
				intlen++;
			}
			if (*p == '.')
			{
				p++;
				while (isdigit((unsigned char) *p))
				{
					appendStringInfoChar(&digits, *p++);
					fraclen++;
				}
				bad |= fraclen == 0;
			}
			if (*p == 'e' || *p == 'E')
			{
				const char *e = p + 1;

				if (*e == '+' || *e == '-')
					e++;
				if (!isdigit((unsigned char) *e))
					bad = true;
				else
				{
					char	   *end;

					errno = 0;
					exp = strtol(p + 1, &end, 10);
					p = end;
					if (errno != 0 || exp > 1000 || exp < -1000)
						return false;
				}
			}
			/* not a JSON number: copied, for jansson to refuse as jsonb would */
			if (bad || intlen == 0 || (intlen > 1 && digits.data[0] == '0'))
			{
				appendBinaryStringInfo(out, start, p - start);
				continue;
			}
			for (int i = 0; i < digits.len; i++)
				nonzero |= digits.data[i] != '0';
			if (neg && nonzero)
				appendStringInfoChar(out, '-');
			point = intlen + exp;	/* digits before the decimal point */
			if (point <= 0)
				appendStringInfoChar(out, '0');
			else
			{
				int			skip = 0;

				/* leading zeros go, one digit stays */
				while (skip < point - 1 && skip < digits.len && digits.data[skip] == '0')
					skip++;
				for (long i = skip; i < point; i++)
					appendStringInfoChar(out, i < digits.len ? digits.data[i] : '0');
			}
			if (fraclen - exp > 0)
			{
				appendStringInfoChar(out, '.');
				for (long i = point; i < digits.len; i++)
					appendStringInfoChar(out, i < 0 ? '0' : digits.data[i]);
			}
		}
		else
			appendStringInfoChar(out, *p++);
	}
	return true;
}

/*
 * Drops the trailing zeros of every number's fraction (and a bare point) in
 * text NumericText wrote: jsonb compares numbers by value, so 1.50 and 1.5,
 * or 100000000000000.0 and 100000000000000, are the same plan.
 */
static void
ValueText(StringInfo s)
{
	int			w = 0;
	int			r = 0;

	while (r < s->len)
	{
		char		c = s->data[r];

		if (c == '"')
		{
			s->data[w++] = s->data[r++];
			while (r < s->len && s->data[r] != '"')
			{
				if (s->data[r] == '\\' && r + 1 < s->len)
					s->data[w++] = s->data[r++];
				s->data[w++] = s->data[r++];
			}
			if (r < s->len)
				s->data[w++] = s->data[r++];
		}
		else if (isdigit((unsigned char) c))
		{
			int			point = -1;

			while (r < s->len && (isdigit((unsigned char) s->data[r]) || s->data[r] == '.'))
			{
				if (s->data[r] == '.')
					point = w;
				s->data[w++] = s->data[r++];
			}
			if (point >= 0)
			{
				while (w > point + 1 && s->data[w - 1] == '0')
					w--;
				if (w == point + 1)
					w = point;
			}
		}
		else
			s->data[w++] = s->data[r++];
	}
	s->len = w;
	s->data[w] = '\0';
}

/* Loads JSON text as PlanLoadJsonb would see it after jsonb; NULL if refused. */
static json_t *
LoadAsJsonb(const char *text)
{
	StringInfoData numeric;
	json_error_t jerr;

	if (!NumericText(text, &numeric))
		return NULL;
	return json_loads(numeric.data, PLAN_JSON_FLAGS, &jerr);
}

/* Normalizes a plan; an ERROR (not a PlanError) aborts with the input. */
static json_t *
Normalize(json_t *plan, PlanError *err, const char *input)
{
	json_t	   *volatile out = NULL;

	memset(err, 0, sizeof(*err));
	if (sigsetjmp(fuzz_error_jump, 0) == 0)
		out = PlanNormalize(plan, err);
	else
		Fail("PlanNormalize raised an ERROR", input, NULL);
	if (out == NULL && (!err->failed || err->path[0] == '\0' || err->reason[0] == '\0' ||
						err->sqlerrcode == 0))
		Fail("PlanNormalize refused a plan without a PlanError", input, NULL);
	if (out != NULL && err->failed)
		Fail("PlanNormalize recorded a PlanError and went on", input, err->reason);
	return out;
}

/* Asks PlanInBlackout about a few times; an ERROR aborts. */
static void
CheckBlackouts(json_t *plan, const char *input)
{
	static const TimestampTz times[] = {
		0,						/* 2000-01-01 00:00 UTC, a Saturday */
		INT64CONST(789004800000000),	/* 2025-01-01 */
		INT64CONST(789004800000000) + INT64CONST(3) * USECS_PER_DAY + 13 * USECS_PER_HOUR,
		INT64CONST(-946684800000000),	/* 1970-01-01 */
	};
	json_t	   *blackouts = json_object_get(plan, "blackouts");

	for (int i = 0; i < lengthof(times); i++)
	{
		if (sigsetjmp(fuzz_error_jump, 0) == 0)
			(void) PlanInBlackout(blackouts, times[i]);
		else
			Fail("PlanInBlackout raised an ERROR on a normalized plan", input, NULL);
	}
}

/* libFuzzer entry point: one plan per input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		base;
	char	   *text = palloc(size + 1);
	json_t	   *in;
	json_t	   *out;
	PlanError	err;

	fuzz_stack_base = &base;
	memcpy(text, data, size);
	text[size] = '\0';
	if (strlen(text) != size)
	{
		FuzzFreeAll();
		return 0;				/* text never holds a zero byte */
	}
	in = LoadAsJsonb(text);
	if (in == NULL)
	{
		FuzzFreeAll();
		return 0;
	}
	out = Normalize(in, &err, text);
	/* FUZZ_PRINT=1 shows each verdict, for writing seeds */
	if (getenv("FUZZ_PRINT") != NULL)
	{
		if (out != NULL)
			fprintf(stderr, "normalized: %s\n", PlanDump(out));
		else
			fprintf(stderr, "refused: %s: %s\n", err.path, err.reason);
	}
	if (out != NULL)
	{
		char	   *dumped = PlanDump(out);
		json_t	   *stored;
		json_t	   *again;
		char	   *dumped2;
		StringInfoData stored_text;
		StringInfoData again_text;

		CheckBlackouts(out, text);
		stored = LoadAsJsonb(dumped);
		if (stored == NULL)
			Fail("a normalized plan does not load again", text, dumped);
		again = Normalize(stored, &err, dumped);
		if (again == NULL)
		{
			char		msg[2 * PLAN_TEXT_LEN];

			snprintf(msg, sizeof(msg), "%s: %s (normalized: %s)", err.path, err.reason, dumped);
			Fail("a normalized plan does not normalize again", text, msg);
		}
		/*
		 * Compared as jsonb compares them: "1e+15" and "1000000000000000"
		 * agree, and so do 1.0 and 1.
		 */
		dumped2 = PlanDump(again);
		if (!NumericText(dumped, &stored_text) || !NumericText(dumped2, &again_text))
			Fail("normalizing a normalized plan changes it", dumped, dumped2);
		ValueText(&stored_text);
		ValueText(&again_text);
		if (strcmp(stored_text.data, again_text.data) != 0)
			Fail("normalizing a normalized plan changes it", dumped, dumped2);
		json_decref(again);
		json_decref(stored);
		json_decref(out);
	}
	json_decref(in);
	FuzzFreeAll();
	return 0;
}
