/*-------------------------------------------------------------------------
 *
 * gate_verdict.c
 *		The verdict of an always-valid gate from its tallies, in C.
 *
 * rollout._verdict_av(r, g, p_at, t) turns a gate's tallies over the canary
 * so far (rollout.gate_tally_sums) into a rollout.gate_verdict: fail when
 * harm is shown at alpha, pass when non-inferiority is shown at pass_alpha
 * (or no harm is shown where that is enough), inconclusive otherwise. The
 * rules are documented in docs/gates.md and at the SQL definition in
 * src/sql/61_gates.sql; this file is the PL/pgSQL function it replaced,
 * line for line, so that no verdict, p-value or detail changed: SQL float
 * operators (utils/float.h), numeric where SQL used numeric, the gate's
 * settings read before the error trap and the rest evaluated in a
 * subtransaction whose error becomes an 'error' verdict, keeping what was
 * computed before it. A tick calls it six times per rollout; in PL/pgSQL it
 * was a tenth of the tick (issue 15).
 *
 * rollout._eta(elapsed, factor), the "about N h M min more" of a detail,
 * is here too, as the SQL function and for the verdict.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "gate.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(rollout_verdict_av);
PG_FUNCTION_INFO_V1(rollout_eta);

/* Fields of rollout.gate_verdict, in order. */
enum
{
	V_VERDICT, V_STATISTIC, V_P_VALUE, V_ESTIMATE, V_CI_LOW, V_CI_HIGH,
	V_N_CANDIDATE, V_N_BASELINE, V_VALUE_CANDIDATE, V_VALUE_BASELINE,
	V_WINDOW_FROM, V_WINDOW_TO, V_DETAIL, V_NFIELDS
};

/* Fields of rollout.gate_tally_sums, in order (1-based attribute numbers). */
enum
{
	T_XC = 1, T_XB, T_YC, T_YB, T_SHARE, T_NC, T_NB, T_SXC, T_SXB, T_SC, T_SB,
	T_QC, T_QB, T_BASE, T_CANARY_FROM
};

/* A verdict as it is filled in; a NULL field has isnull set. */
typedef struct Verdict
{
	Datum		values[V_NFIELDS];
	bool		isnull[V_NFIELDS];
} Verdict;

/* What the verdict reads: the gate's settings, the tallies, the rollout. */
typedef struct VerdictInput
{
	char	   *metric;
	char	   *cmp;
	char	   *test;
	char	   *mode;
	bool		hib;			/* higher_is_better (NULL reads as false) */
	float8		alpha;
	float8		pass_alpha;
	int64		min_samples;
	float8		margin;
	float8		fail_margin;
	Numeric		prove_at;
	float8		q;
	float8		sign;
	/* tallies */
	ArrayType  *xc,
			   *xb,
			   *yc,
			   *yb,
			   *share;
	bool		nc_null,
				nb_null;
	int64		nc,
				nb;
	float8		sxc,
				sxb,
				sc,
				sb,
				qc,
				qb;
	bool		base_null;
	float8		base;
	bool		from_null;
	TimestampTz from;
	/* the rollout (NULL fields as in SQL: a NULL row has them all NULL) */
	bool		started_null;
	TimestampTz stage_started_at;
	bool		percent_null;
	Datum		percent;		/* numeric */
	Jsonb	   *plan;			/* NULL when NULL */
	bool		stage_null;
	int32		stage;
	bool		at_null;
	TimestampTz at;
} VerdictInput;

/* The text ->> gives for a JSON value, or NULL for JSON null. */
static char *
JsonbValueText(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	}
}

/* container->>key as a C string, or NULL (also when it is not an object). */
static char *
JsonbFieldText(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (c == NULL || !JsonContainerIsObject(c) ||
		!getKeyJsonValueFromContainer(c, key, strlen(key), &v))
		return NULL;
	return JsonbValueText(&v);
}

/* a = b for text as SQL has it when false and NULL both mean "not equal". */
static inline bool
StrEq(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

/* (text)::numeric, as numeric_in reads it. */
static Datum
NumericFromCString(const char *s)
{
	return DirectFunctionCall3(numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/* (text)::float8 of a ->> result, or dflt when it is NULL. */
static float8
TextFloat8(const char *s, float8 dflt)
{
	if (s == NULL)
		return dflt;
	return DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(s)));
}

/* A float8 into numeric, as ::numeric does. */
static Datum
Float8Numeric(float8 x)
{
	return DirectFunctionCall1(float8_numeric, Float8GetDatum(x));
}

/* round(x::numeric, scale) as text, as format('%s', ...) prints it. */
static char *
RoundedText(float8 x, int scale)
{
	Datum		n = DirectFunctionCall2(numeric_round, Float8Numeric(x), Int32GetDatum(scale));

	return DatumGetCString(DirectFunctionCall1(numeric_out, n));
}

/* rollout.window_start(t): date_bin('5 minutes', t, '2000-01-01 00:00:00+00'). */
static TimestampTz
WindowStart(TimestampTz t)
{
	Interval	stride = {.time = 5 * USECS_PER_MINUTE,.day = 0,.month = 0};

	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_bin, IntervalPGetDatum(&stride),
												   TimestampTzGetDatum(t),
												   TimestampTzGetDatum((TimestampTz) 0)));
}

/*
 * rollout._eta(elapsed, factor): ", about N h M min more at the current
 * rate" for a gate that has taken `elapsed` and needs factor times as much
 * again; "" without a positive factor or elapsed time. elapsed may be NULL
 * (as in SQL, the numbers then print empty).
 */
char *
GateEta(Interval *elapsed, bool factor_null, float8 factor)
{
	Interval	zero = {0, 0, 0};
	float8		epoch;
	int64		m;

	if (factor_null || !float8_gt(factor, 0) ||
		(elapsed != NULL && DatumGetBool(DirectFunctionCall2(interval_le,
															 IntervalPGetDatum(elapsed),
															 IntervalPGetDatum(&zero)))))
		return "";
	if (float8_gt(factor, 1000))
		return ", more than 1000 times the time so far at the current rate";
	if (elapsed == NULL)
		return ", about  h  min more at the current rate";
	epoch = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											   DirectFunctionCall2(extract_interval,
																   CStringGetTextDatum("epoch"),
																   IntervalPGetDatum(elapsed))));
	m = DatumGetInt64(DirectFunctionCall1(dtoi8,
										  Float8GetDatum(ceil(float8_div(float8_mul(epoch, factor), 60)))));
	return psprintf(", about %s%lld h %lld min more at the current rate",
					m >= 1440 ? psprintf("%lld d ", (long long) (m / 1440)) : "",
					(long long) (m % 1440 / 60), (long long) (m % 60));
}

/* SQL: rollout._eta(p_elapsed interval, p_factor float8) RETURNS text */
Datum
rollout_eta(PG_FUNCTION_ARGS)
{
	Interval   *elapsed = PG_ARGISNULL(0) ? NULL : PG_GETARG_INTERVAL_P(0);

	PG_RETURN_TEXT_P(cstring_to_text(GateEta(elapsed, PG_ARGISNULL(1),
											 PG_ARGISNULL(1) ? 0 : PG_GETARG_FLOAT8(1))));
}

/* Sets a float8 field of the verdict. */
static inline void
SetF(Verdict *v, int field, float8 x)
{
	v->values[field] = Float8GetDatum(x);
	v->isnull[field] = false;
}

/* Sets a text field of the verdict. */
static inline void
SetT(Verdict *v, int field, const char *s)
{
	v->values[field] = CStringGetTextDatum(s);
	v->isnull[field] = false;
}

/* window_to - window_from of a filled verdict, as an interval; NULL if either is. */
static Interval *
VerdictElapsed(Verdict *v)
{
	if (v->isnull[V_WINDOW_TO] || v->isnull[V_WINDOW_FROM])
		return NULL;
	return DatumGetIntervalP(DirectFunctionCall2(timestamp_mi, v->values[V_WINDOW_TO],
												 v->values[V_WINDOW_FROM]));
}

/*
 * The two event-share tests of a gate (fail: "greater" against theta_f,
 * pass: "less" against theta_p) from arrays of per-segment counts;
 * event_share_test() is strict, so a NULL array leaves every result NULL.
 */
static void
VerdictEventShare(ArrayType *xc, ArrayType *xb, ArrayType *yc, ArrayType *yb, ArrayType *share,
				  float8 theta_f, float8 theta_p, Verdict *v,
				  bool *fail_null, float8 *fail_p, bool *pass_null, float8 *pass_p)
{
	StatsShareSegment *seg;
	int			nseg;
	double		log_e_f,
				p_f,
				est,
				log_e_p,
				p_p;

	if (xc == NULL || xb == NULL || yc == NULL || yb == NULL || share == NULL)
		return;
	nseg = StatsShareSegmentsFromArrays(xc, xb, share, &seg);
	StatsEventShare(seg, nseg, theta_f, STATS_GREATER, &log_e_f, &p_f, &est);
	pfree(seg);
	nseg = StatsShareSegmentsFromArrays(yc, yb, share, &seg);
	StatsEventShare(seg, nseg, theta_p, STATS_LESS, &log_e_p, &p_p, &est);
	pfree(seg);
	*fail_null = false;
	*fail_p = p_f;
	SetF(v, V_STATISTIC, log_e_f);
	*pass_null = false;
	*pass_p = p_p;
}

/* A one-element bigint[] (ARRAY[x::bigint]). */
static ArrayType *
Int8Array1(float8 x)
{
	Datum		d = DirectFunctionCall1(dtoi8, Float8GetDatum(x));

	return construct_array(&d, 1, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* A one-element float8[]. */
static ArrayType *
Float8Array1(float8 x)
{
	Datum		d = Float8GetDatum(x);

	return construct_array(&d, 1, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* The sum of a bigint[] as float8 (sum() over its elements), or NULL. */
static bool
Int8ArraySum(ArrayType *a, float8 *sum)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Datum		total = (Datum) 0;
	bool		any = false;

	if (a == NULL)
		return false;
	deconstruct_array(a, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		x;

		if (nulls[i])
			continue;
		x = DirectFunctionCall1(int8_numeric, elems[i]);
		total = any ? DirectFunctionCall2(numeric_add, total, x) : x;
		any = true;
	}
	if (any)
		*sum = DatumGetFloat8(DirectFunctionCall1(numeric_float8, total));
	return any;
}

/* ln(x) as SQL computes it for float8 (an error for 0 and negatives). */
static float8
VerdictLn(float8 x)
{
	return DatumGetFloat8(DirectFunctionCall1(dlog1, Float8GetDatum(x)));
}

/*
 * coalesce((r.plan->'steps'->r.stage->>'percent')::numeric, 100) < 100:
 * the step after the current one does not go to 100%.
 */
static bool
VerdictBelowLastStep(VerdictInput *in)
{
	JsonbValue	steps;
	JsonbValue *step;
	char	   *text;
	int			n;
	int			i = in->stage;

	if (in->plan == NULL || in->stage_null || !JB_ROOT_IS_OBJECT(in->plan) ||
		!getKeyJsonValueFromContainer(&in->plan->root, "steps", 5, &steps) ||
		steps.type != jbvBinary || !JsonContainerIsArray(steps.val.binary.data))
		return false;
	n = JsonContainerSize(steps.val.binary.data);
	if (i < 0)
		i += n;
	if (i < 0 || i >= n)
		return false;
	step = getIthJsonbValueFromContainer(steps.val.binary.data, i);
	if (step == NULL || step->type != jbvBinary)
		return false;
	text = JsonbFieldText(step->val.binary.data, "percent");
	if (text == NULL)
		return false;
	return DatumGetBool(DirectFunctionCall2(numeric_lt, NumericFromCString(text),
											DirectFunctionCall1(int8_numeric, Int64GetDatum(100))));
}

/*
 * r.percent < prove_at AND <the next step is below 100%>, with SQL's AND: a
 * NULL share does not stop the second test from being evaluated (it may
 * raise), but the whole is then not true.
 */
static bool
VerdictBelowProveAt(VerdictInput *in)
{
	bool		below = !in->percent_null &&
		DatumGetBool(DirectFunctionCall2(numeric_lt, in->percent, NumericGetDatum(in->prove_at)));

	if (!in->percent_null && !below)
		return false;
	return VerdictBelowLastStep(in) && below;
}

/*
 * The body of _verdict_av after its settings are read: fills v as far as it
 * gets; an error leaves the fields set before it.
 */
static void
VerdictCompute(VerdictInput *in, Verdict *v)
{
	int64		nc,
				nb;
	float8		rate_b,
				theta_f = 0,
				theta_p = 0,
				fail_p = 0,
				pass_p = 0,
				se;
	bool		fail_null = true,
				pass_null = true;
	int64		fail_floor = 0;
	ArrayType  *xc = in->xc,
			   *xb = in->xb,
			   *yc = in->yc,
			   *yb = in->yb,
			   *share = in->share;
	bool		quantile_es = false;

	/* NOT IN with a NULL metric is NULL, so only a named metric is refused. */
	if (in->metric != NULL &&
		((StrEq(in->cmp, "rate") &&
		  !StrEq(in->metric, "success") && !StrEq(in->metric, "error") &&
		  !StrEq(in->metric, "safety")) ||
		 (StrEq(in->cmp, "mean") &&
		  !StrEq(in->metric, "quality") && !StrEq(in->metric, "latency_ms") &&
		  !StrEq(in->metric, "cost") && !StrEq(in->metric, "success") &&
		  !StrEq(in->metric, "error") && !StrEq(in->metric, "safety") &&
		  strncmp(in->metric, "metrics.", 8) != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("metric \"%s\" is not supported by the %s test", in->metric,
						in->test ? in->test : "<NULL>"),
				 errdetail("Always-valid tests read success, error, safety (rates); quality, latency_ms, cost and custom metrics (means); latency_ms, cost (quantiles).")));

	if (!in->at_null)
	{
		v->values[V_WINDOW_TO] = TimestampTzGetDatum(WindowStart(in->at));
		v->isnull[V_WINDOW_TO] = false;
	}
	if (!in->from_null || !in->started_null)
	{
		v->values[V_WINDOW_FROM] =
			TimestampTzGetDatum(WindowStart(in->from_null ? in->stage_started_at : in->from));
		v->isnull[V_WINDOW_FROM] = false;
	}
	nc = in->nc_null ? 0 : in->nc;
	nb = in->nb_null ? 0 : in->nb;
	v->values[V_N_CANDIDATE] = Int64GetDatum(nc);
	v->isnull[V_N_CANDIDATE] = false;
	v->values[V_N_BASELINE] = Int64GetDatum(nb);
	v->isnull[V_N_BASELINE] = false;
	if (nc < 2 || nb < 2)
	{
		SetT(v, V_VERDICT, "inconclusive");
		SetT(v, V_DETAIL, psprintf("too few samples: candidate " INT64_FORMAT ", baseline " INT64_FORMAT " (windows count once they have ended)",
								   nc, nb));
		return;
	}

	if (StrEq(in->test, "event_share") && StrEq(in->cmp, "rate"))
	{
		float8		floor_rate;

		/* Events: failures for success, errors, safety flags. */
		rate_b = float8_div(in->sxb, (float8) nb);
		SetF(v, V_VALUE_CANDIDATE, StrEq(in->metric, "success") ?
			 float8_mi(1, float8_div(in->sxc, (float8) nc)) : float8_div(in->sxc, (float8) nc));
		SetF(v, V_VALUE_BASELINE, StrEq(in->metric, "success") ?
			 float8_mi(1, rate_b) : rate_b);
		SetF(v, V_ESTIMATE, float8_mi(DatumGetFloat8(v->values[V_VALUE_CANDIDATE]),
									  DatumGetFloat8(v->values[V_VALUE_BASELINE])));
		/* greatest(rate_b, 0.5 / nb): 0.5 / nb is numeric in SQL. */
		floor_rate = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														DirectFunctionCall2(numeric_div,
																			NumericFromCString("0.5"),
																			DirectFunctionCall1(int8_numeric,
																								Int64GetDatum(nb)))));
		rate_b = float8_lt(rate_b, floor_rate) ? floor_rate : rate_b;
		theta_f = float8_pl(1, float8_div(in->fail_margin, rate_b));
		theta_p = float8_pl(1, float8_div(in->margin, rate_b));
	}
	else if (StrEq(in->test, "event_share"))
	{
		/*
		 * Quantiles: the candidate's values above each threshold against
		 * 1 - q, as a one-segment event-share test (src/sql/61_gates.sql).
		 */
		float8		syc = 0;
		bool		syc_ok = Int8ArraySum(in->yc, &syc);

		/* The detail names the quantile; with no comparison, SQL adds nothing. */
		quantile_es = in->cmp != NULL;
		SetF(v, V_VALUE_CANDIDATE, float8_div(in->sxc, (float8) nc));
		SetF(v, V_VALUE_BASELINE, float8_mi(1, in->q));
		SetF(v, V_ESTIMATE, float8_mi(DatumGetFloat8(v->values[V_VALUE_CANDIDATE]),
									  DatumGetFloat8(v->values[V_VALUE_BASELINE])));
		xc = Int8Array1(in->sxc);
		xb = Int8Array1(float8_mi((float8) nc, in->sxc));
		yc = syc_ok ? Int8Array1(syc) : NULL;
		yb = syc_ok ? Int8Array1(float8_mi((float8) nc, syc)) : NULL;
		share = Float8Array1(float8_mi(1, in->q));
		theta_f = 1;
		theta_p = 1;
	}
	else
	{
		/* sequential: a difference of means (of 0/1 values for a rate). */
		float8		sc = in->sc,
					sb = in->sb,
					qc = in->qc,
					qb = in->qb;
		float8		est;

		if (StrEq(in->cmp, "rate"))
		{
			bool		success = StrEq(in->metric, "success");

			sc = success ? float8_mi((float8) nc, in->sxc) : in->sxc;
			sb = success ? float8_mi((float8) nb, in->sxb) : in->sxb;
			qc = sc;
			qb = sb;
		}
		SetF(v, V_VALUE_CANDIDATE, float8_div(sc, (float8) nc));
		SetF(v, V_VALUE_BASELINE, float8_div(sb, (float8) nb));
		est = float8_mi(DatumGetFloat8(v->values[V_VALUE_CANDIDATE]),
						DatumGetFloat8(v->values[V_VALUE_BASELINE]));
		SetF(v, V_ESTIMATE, est);
		{
			float8		vc = float8_div(float8_mi(qc, float8_div(float8_mul(sc, sc), (float8) nc)),
										(float8) (nc - 1));
			float8		vb = float8_div(float8_mi(qb, float8_div(float8_mul(sb, sb), (float8) nb)),
										(float8) (nb - 1));

			vc = float8_lt(vc, 0) ? 0 : vc;
			vb = float8_lt(vb, 0) ? 0 : vb;
			se = float8_pl(float8_div(vc, (float8) nc), float8_div(vb, (float8) nb));
			se = DatumGetFloat8(DirectFunctionCall1(dsqrt, Float8GetDatum(se)));
		}
		fail_floor = 100;
		if (float8_eq(se, 0))
		{
			fail_null = pass_null = false;
			fail_p = float8_gt(float8_mul(in->sign, est), in->fail_margin) ? 0 : 1;
			pass_p = float8_lt(float8_mul(in->sign, est), in->margin) ? 0 : 1;
		}
		else
		{
			double		f_p,
						p_p,
						c_p,
						lo,
						hi,
						unused;

			SetF(v, V_STATISTIC, float8_div(est, se));
			/* The fail test, the pass test and the confidence sequence. */
			StatsSequential(est, se, nc + nb, float8_mul(in->sign, in->fail_margin),
							in->hib ? STATS_LESS : STATS_GREATER, in->alpha, 5000,
							&f_p, &unused, &unused);
			StatsSequential(est, se, nc + nb, float8_mul(in->sign, in->margin),
							in->hib ? STATS_GREATER : STATS_LESS, in->pass_alpha, 5000,
							&p_p, &unused, &unused);
			StatsSequential(est, se, nc + nb, 0, STATS_TWO_SIDED, in->alpha, 5000,
							&c_p, &lo, &hi);
			fail_null = pass_null = false;
			fail_p = f_p;
			pass_p = p_p;
			SetF(v, V_CI_LOW, lo);
			SetF(v, V_CI_HIGH, hi);
		}
	}
	if (StrEq(in->test, "event_share"))
		VerdictEventShare(xc, xb, yc, yb, share, theta_f, theta_p, v,
						  &fail_null, &fail_p, &pass_null, &pass_p);

	if (!fail_null && float8_lt(fail_p, in->alpha) && nc >= fail_floor && nb >= fail_floor)
	{
		SetT(v, V_VERDICT, "fail");
		SetF(v, V_P_VALUE, fail_p);
		SetT(v, V_DETAIL, "harm shown");
	}
	else if (nc < in->min_samples)
	{
		SetT(v, V_VERDICT, "inconclusive");
		if (!fail_null)
			SetF(v, V_P_VALUE, fail_p);
		SetT(v, V_DETAIL, psprintf("no harm shown; " INT64_FORMAT " of " INT64_FORMAT " candidate samples%s",
								   nc, in->min_samples,
								   GateEta(VerdictElapsed(v), false,
										   float8_div((float8) (in->min_samples - nc),
													  (float8) Max(nc, 1)))));
	}
	else if (StrEq(in->mode, "guardrail"))
	{
		SetT(v, V_VERDICT, "pass");
		if (!fail_null)
			SetF(v, V_P_VALUE, fail_p);
		SetT(v, V_DETAIL, "no harm shown (guardrail)");
	}
	else if (VerdictBelowProveAt(in))
	{
		/* Below prove_at_percent, and not the last step before 100%. */
		SetT(v, V_VERDICT, "pass");
		if (!fail_null)
			SetF(v, V_P_VALUE, fail_p);
		SetT(v, V_DETAIL, psprintf("no harm shown; non-inferiority must be shown from %s%% on",
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(in->prove_at)))));
	}
	else if (!pass_null && float8_lt(pass_p, in->pass_alpha))
	{
		SetT(v, V_VERDICT, "pass");
		SetF(v, V_P_VALUE, pass_p);
		SetT(v, V_DETAIL, "non-inferiority shown");
	}
	else
	{
		const char *eta;

		SetT(v, V_VERDICT, "inconclusive");
		if (!pass_null)
			SetF(v, V_P_VALUE, pass_p);

		/*
		 * The evidence grows about linearly with the samples: at the rate so
		 * far, it needs ln(1/pass_alpha) / ln(1/p) times the time so far.
		 */
		if (!pass_null && float8_lt(pass_p, exp(-0.5)))
			eta = GateEta(VerdictElapsed(v), false,
						  float8_mi(float8_div(VerdictLn(in->pass_alpha), VerdictLn(pass_p)), 1));
		else
			eta = " (no evidence of it yet)";
		SetT(v, V_DETAIL, psprintf("no harm shown; non-inferiority not shown yet%s", eta));
	}
	if (quantile_es)
		SetT(v, V_DETAIL, psprintf("%s (baseline %s %s; %s%% of the candidate's values above the fail threshold, %s%% allowed)",
								   TextDatumGetCString(v->values[V_DETAIL]), in->cmp,
								   in->base_null ? "" : RoundedText(in->base, 6),
								   RoundedText(float8_div(float8_mul(100, in->sxc), (float8) nc), 2),
								   RoundedText(float8_mul(100, float8_mi(1, in->q)), 0)));
}

/* A field of rollout.gate_tally_sums: its array, or NULL. */
static ArrayType *
TallyArray(HeapTupleHeader t, int attno)
{
	bool		isnull;
	Datum		d;

	if (t == NULL)
		return NULL;
	d = GetAttributeByNum(t, attno, &isnull);
	return isnull ? NULL : DatumGetArrayTypeP(d);
}

/* A float8 field of rollout.gate_tally_sums; false when NULL. */
static bool
TallyFloat8(HeapTupleHeader t, int attno, float8 *x)
{
	bool		isnull = true;
	Datum		d = t ? GetAttributeByNum(t, attno, &isnull) : (Datum) 0;

	if (!isnull)
		*x = DatumGetFloat8(d);
	return !isnull;
}

/* A bigint field of rollout.gate_tally_sums; false when NULL. */
static bool
TallyInt8(HeapTupleHeader t, int attno, int64 *x)
{
	bool		isnull = true;
	Datum		d = t ? GetAttributeByNum(t, attno, &isnull) : (Datum) 0;

	if (!isnull)
		*x = DatumGetInt64(d);
	return !isnull;
}

/* A column of the rollout row (r may be NULL: every column is then NULL). */
static Datum
RolloutField(HeapTupleHeader r, const char *name, bool *isnull)
{
	*isnull = true;
	return r == NULL ? (Datum) 0 : GetAttributeByName(r, name, isnull);
}

/*
 * Reads what _verdict_av reads from its arguments, in the order its
 * PL/pgSQL declarations did: an error here (a setting that does not cast)
 * is the caller's, not an 'error' verdict.
 */
static void
VerdictRead(FunctionCallInfo fcinfo, VerdictInput *in)
{
	HeapTupleHeader r = PG_ARGISNULL(0) ? NULL : PG_GETARG_HEAPTUPLEHEADER(0);
	bool		isnull;
	Datum		d;
	Jsonb	   *g = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	JsonbContainer *gc = g ? &g->root : NULL;
	HeapTupleHeader t = PG_ARGISNULL(3) ? NULL : PG_GETARG_HEAPTUPLEHEADER(3);
	char	   *s;
	float8		x;

	in->metric = JsonbFieldText(gc, "metric");
	in->cmp = JsonbFieldText(gc, "comparison");
	in->test = JsonbFieldText(gc, "test");
	s = JsonbFieldText(gc, "higher_is_better");
	in->hib = s != NULL && DatumGetBool(DirectFunctionCall1(boolin, CStringGetDatum(s)));
	in->alpha = TextFloat8(JsonbFieldText(gc, "alpha"), 0.05);
	in->pass_alpha = TextFloat8(JsonbFieldText(gc, "pass_alpha"), 0.05);
	s = JsonbFieldText(gc, "min_samples");
	in->min_samples = s == NULL ? 0 :
		DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(s)));
	in->margin = TextFloat8(JsonbFieldText(gc, "margin"), 0);
	s = JsonbFieldText(gc, "fail_margin");
	in->fail_margin = s != NULL ? TextFloat8(s, 0) : TextFloat8(JsonbFieldText(gc, "margin"), 0);
	s = JsonbFieldText(gc, "prove_at_percent");
	in->prove_at = DatumGetNumeric(s != NULL ?
								   DirectFunctionCall3(numeric_in, CStringGetDatum(s),
													   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)) :
								   DirectFunctionCall1(int8_numeric, Int64GetDatum(0)));
	in->q = StrEq(in->cmp, "median") ? 0.5 : StrEq(in->cmp, "p95") ? 0.95 : 0.99;
	in->sign = in->hib ? -1 : 1;
	in->mode = JsonbFieldText(gc, "mode");

	in->xc = TallyArray(t, T_XC);
	in->xb = TallyArray(t, T_XB);
	in->yc = TallyArray(t, T_YC);
	in->yb = TallyArray(t, T_YB);
	in->share = TallyArray(t, T_SHARE);
	in->nc_null = !TallyInt8(t, T_NC, &in->nc);
	in->nb_null = !TallyInt8(t, T_NB, &in->nb);
	/* NULL sums (no tally rows) only occur with n NULL, which stops early. */
	in->sxc = TallyFloat8(t, T_SXC, &x) ? x : 0;
	in->sxb = TallyFloat8(t, T_SXB, &x) ? x : 0;
	in->sc = TallyFloat8(t, T_SC, &x) ? x : 0;
	in->sb = TallyFloat8(t, T_SB, &x) ? x : 0;
	in->qc = TallyFloat8(t, T_QC, &x) ? x : 0;
	in->qb = TallyFloat8(t, T_QB, &x) ? x : 0;
	in->base_null = !TallyFloat8(t, T_BASE, &in->base);
	{
		bool		isnull = true;
		Datum		d = t ? GetAttributeByNum(t, T_CANARY_FROM, &isnull) : (Datum) 0;

		in->from_null = isnull;
		in->from = isnull ? 0 : DatumGetTimestampTz(d);
	}

	d = RolloutField(r, "stage_started_at", &isnull);
	in->started_null = isnull;
	in->stage_started_at = isnull ? 0 : DatumGetTimestampTz(d);
	in->percent = RolloutField(r, "percent", &in->percent_null);
	d = RolloutField(r, "plan", &isnull);
	in->plan = isnull ? NULL : DatumGetJsonbP(d);
	d = RolloutField(r, "stage", &in->stage_null);
	in->stage = in->stage_null ? 0 : DatumGetInt32(d);
	in->at_null = PG_ARGISNULL(2);
	in->at = in->at_null ? 0 : PG_GETARG_TIMESTAMPTZ(2);
}

/*
 * SQL: rollout._verdict_av(r rollout.rollouts, g jsonb, p_at timestamptz,
 * t rollout.gate_tally_sums) RETURNS rollout.gate_verdict
 */
Datum
rollout_verdict_av(PG_FUNCTION_ARGS)
{
	VerdictInput in;
	Verdict    *v = palloc(sizeof(Verdict));
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	TupleDesc	desc;

	VerdictRead(fcinfo, &in);
	for (int i = 0; i < V_NFIELDS; i++)
	{
		v->values[i] = (Datum) 0;
		v->isnull[i] = true;
	}

	/* As the PL/pgSQL block's EXCEPTION clause: an error is the verdict. */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		VerdictCompute(&in, v);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		/* WHEN OTHERS never caught a cancel or a failed assertion. */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ASSERT_FAILURE)
			ReThrowError(edata);
		SetT(v, V_VERDICT, "error");
		SetT(v, V_DETAIL, edata->message);
	}
	PG_END_TRY();

	/* The result's TupleDesc, built once per call site (fn_extra). */
	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "rollout._verdict_av must return a composite");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	if (desc->natts != V_NFIELDS)
		elog(ERROR, "rollout.gate_verdict has %d fields, not %d", desc->natts, V_NFIELDS);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, v->values, v->isnull)));
}
