/*-------------------------------------------------------------------------
 *
 * outcome_record.c
 *		rollout.record() and the validation shared with the batch paths.
 *
 * record() validates its arguments, resolves rollout, stage and arm from
 * the decision token (outcome_decision.c) or, without one, from the
 * per-backend cache (outcome_cache.c) and appends one row to the
 * partitioned table rollout.outcomes through a saved plan. It stores the
 * top-level transaction id with the row: rollout.refresh_aggregates()
 * folds rows by that id below the snapshot's xmin, so a row of a
 * transaction that commits late is folded by a later refresh, never lost
 * and never counted twice.
 *
 * record() is not declared SECURITY DEFINER: it becomes the function's
 * owner, with pg_catalog as the only search path, for the statements it
 * runs (OutcomeBecomeOwner), at a fraction of fmgr's per-call cost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "outcome.h"

PG_FUNCTION_INFO_V1(rollout_record);
PG_FUNCTION_INFO_V1(rollout_outcome_resolve);
PG_FUNCTION_INFO_V1(rollout_outcome_problem);

#define RECORD_NPARAMS 18

/* The caller's user and search path while record() runs as the owner. */
typedef struct OwnerSwitch
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} OwnerSwitch;

static SPIPlanPtr InsertPlan = NULL;

/* The default metrics '{}', built once per backend. */
static Jsonb *EmptyMetrics = NULL;

/*
 * rollout.clock_tolerance: how far, in seconds, an outcome's `at` may lie
 * ahead of the server clock; -1 turns the check off (simulated clocks).
 */
int			RolloutClockTolerance = 3600;

/* "batch row N: " for batch rows (row > 0), "" for a single record. */
const char *
OutcomeRowPrefix(int row)
{
	return row > 0 ? psprintf("batch row %d: ", row) : "";
}

/* Whether a number is within the documented outcome bound (finite, |x| <= 1e12). */
static bool
OutcomeValueInRange(float8 value)
{
	return !isnan(value) && fabs(value) <= OUTCOME_MAX_VALUE;
}

/*
 * Raises an error naming the argument unless value is a finite number
 * between 0 and OUTCOME_MAX_VALUE.
 */
void
OutcomeCheckNonNegative(const char *argname, float8 value, int row)
{
	if (isnan(value) || isinf(value) || value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sargument \"%s\" must be a finite non-negative number",
						OutcomeRowPrefix(row), argname),
				 errdetail("The value given was %g.", value)));
	if (!OutcomeValueInRange(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%sargument \"%s\" is out of range", OutcomeRowPrefix(row), argname),
				 errdetail("The limit is %g; the value given was %g.", OUTCOME_MAX_VALUE, value)));
}

/* Raises numeric_value_out_of_range unless quality is on the agent's scale. */
void
OutcomeCheckQuality(const char *agent, float8 quality, const OutcomeContext *ctx, int row)
{
	if (isnan(quality) || quality < ctx->quality_min || quality > ctx->quality_max)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%sargument \"quality\" is outside the quality scale of agent \"%s\"",
						OutcomeRowPrefix(row), agent),
				 errdetail("The scale is [%g, %g]; the value given was %g.",
						   ctx->quality_min, ctx->quality_max, quality)));
	if (!OutcomeValueInRange(quality))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%sargument \"quality\" is out of range", OutcomeRowPrefix(row)),
				 errdetail("The limit is %g in magnitude; the value given was %g.",
						   OUTCOME_MAX_VALUE, quality)));
}

/* At most OUTCOME_ECHO_BYTES of s, with "..." when clipped. */
static char *
ClipText(const char *s, int len)
{
	if (len <= OUTCOME_ECHO_BYTES)
		return pnstrdup(s, len);
	return psprintf("%s...", pnstrdup(s, pg_mbcliplen(s, len, OUTCOME_ECHO_BYTES)));
}

/* The limits of custom metrics, for error details (a constant, so no call formats it). */
#define METRICS_LIMITS_DETAIL \
	"Custom metrics have at most " CppAsString2(OUTCOME_MAX_METRICS) " keys of at most " \
	CppAsString2(OUTCOME_MAX_METRIC_KEY) " bytes, values at most 1e+12 in magnitude, " \
	CppAsString2(OUTCOME_MAX_METRICS_BYTES) " bytes in all."

/*
 * Returns NULL when metrics is an object of at most OUTCOME_MAX_METRICS
 * numbers within the outcome bound, with short keys and a bounded size;
 * otherwise a message naming the first problem (*code gets its SQLSTATE).
 */
static char *
MetricsProblem(Jsonb *metrics, int *code, const char **detail)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	*code = ERRCODE_INVALID_PARAMETER_VALUE;
	*detail = "Custom metrics are passed as {\"name\": number, ...}.";
	if (!JB_ROOT_IS_OBJECT(metrics) || JB_ROOT_IS_SCALAR(metrics))
		return psprintf("argument \"metrics\" must be a JSON object");
	/* The default '{}': nothing to check (record() meets it on every call). */
	if (JB_ROOT_COUNT(metrics) == 0)
		return NULL;
	*detail = METRICS_LIMITS_DETAIL;
	if (VARSIZE(metrics) > OUTCOME_MAX_METRICS_BYTES)
	{
		*code = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		return psprintf("argument \"metrics\" is too large (%u bytes; the limit is %d)",
						(unsigned) VARSIZE(metrics), OUTCOME_MAX_METRICS_BYTES);
	}
	if (JB_ROOT_COUNT(metrics) > OUTCOME_MAX_METRICS)
	{
		*code = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		return psprintf("argument \"metrics\" has too many keys (%u; the limit is %d)",
						JB_ROOT_COUNT(metrics), OUTCOME_MAX_METRICS);
	}
	it = JsonbIteratorInit(&metrics->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			if (v.val.string.len > OUTCOME_MAX_METRIC_KEY)
			{
				*code = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
				return psprintf("argument \"metrics\" has a key longer than %d bytes: \"%s\"",
								OUTCOME_MAX_METRIC_KEY,
								ClipText(v.val.string.val, v.val.string.len));
			}
			key = pnstrdup(v.val.string.val, v.val.string.len);
		}
		else if (tok == WJB_VALUE)
		{
			float8		x;

			if (v.type != jbvNumeric)
			{
				*detail = "Every custom metric must be a JSON number.";
				return psprintf("argument \"metrics\" has a non-numeric value for key \"%s\"",
								key ? key : "");
			}
			if (numeric_is_nan(v.val.numeric) || numeric_is_inf(v.val.numeric))
				x = get_float8_nan();
			else
				x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													   NumericGetDatum(v.val.numeric)));
			if (!OutcomeValueInRange(x))
			{
				*code = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
				return psprintf("argument \"metrics\" has a value out of range for key \"%s\" (the limit is %g in magnitude)",
								key ? key : "", OUTCOME_MAX_VALUE);
			}
		}
	}
	return NULL;
}

/* Raises an error naming the problem unless metrics is acceptable. */
void
OutcomeCheckMetrics(Jsonb *metrics, int row)
{
	int			code;
	const char *detail;
	char	   *problem = MetricsProblem(metrics, &code, &detail);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s%s", OutcomeRowPrefix(row), problem),
				 errdetail("%s", detail)));
}

/* Raises string_data_right_truncation when unit exceeds OUTCOME_MAX_UNIT_BYTES. */
void
OutcomeCheckUnit(text *unit, int row)
{
	if (VARSIZE_ANY_EXHDR(unit) > OUTCOME_MAX_UNIT_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%sargument \"unit\" is too long", OutcomeRowPrefix(row)),
				 errdetail("It has %zu bytes; the limit is %d.",
						   (size_t) VARSIZE_ANY_EXHDR(unit), OUTCOME_MAX_UNIT_BYTES)));
}

/*
 * rollout._outcome_problem(quality, latency_ms, cost, metrics): NULL when a
 * stored outcome's values are within the bounds aggregation relies on,
 * otherwise what is wrong. refresh_aggregates() moves such rows to
 * rollout.outcome_rejects instead of folding them.
 */
Datum
rollout_outcome_problem(PG_FUNCTION_ARGS)
{
	static const char *names[3] = {"quality", "latency_ms", "cost"};

	for (int i = 0; i < 3; i++)
	{
		float8		x;

		if (PG_ARGISNULL(i))
			continue;
		x = PG_GETARG_FLOAT8(i);
		if (!OutcomeValueInRange(x) || (i > 0 && x < 0))
			PG_RETURN_TEXT_P(cstring_to_text(psprintf("argument \"%s\" is out of range (%g; the limit is %g)",
													  names[i], x, OUTCOME_MAX_VALUE)));
	}
	if (!PG_ARGISNULL(3))
	{
		int			code;
		const char *detail;
		char	   *problem = MetricsProblem(PG_GETARG_JSONB_P(3), &code, &detail);

		if (problem != NULL)
			PG_RETURN_TEXT_P(cstring_to_text(problem));
	}
	PG_RETURN_NULL();
}

/* Returns the saved INSERT plan, preparing it on first use. */
static SPIPlanPtr
GetInsertPlan(void)
{
	static Oid	types[RECORD_NPARAMS] = {
		INT8OID, TIMESTAMPTZOID, TEXTOID, INT4OID, INT8OID, INT4OID, TEXTOID, BOOLOID,
		BOOLOID, TEXTOID, BOOLOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID, BOOLOID,
		INT2OID, JSONBOID
	};
	SPIPlanPtr	plan;

	if (InsertPlan != NULL)
		return InsertPlan;
	plan = SPI_prepare("INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id,"
					   " stage, arm, in_arm, shadow, unit, success, quality, latency_ms, cost,"
					   " error, safety_flag, feedback, metrics) VALUES ($1, $2, $3, $4, $5, $6,"
					   " $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
					   RECORD_NPARAMS, types);
	if (plan == NULL)
		elog(ERROR, "pg_rollout: could not prepare the outcome insert: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "pg_rollout: could not keep the outcome insert plan");
	InsertPlan = plan;
	return plan;
}

/*
 * Makes the called function's owner the current user, with a search path
 * of pg_catalog alone, for the statements record() runs: what SECURITY
 * DEFINER with SET search_path would do, without the two search_path
 * assignments fmgr makes around every call of such a function (on
 * PostgreSQL 15 they cost record() a tenth of an INSERT's throughput).
 * The caller's own role stays the outer user (GetOuterUserId), which the
 * service check reads. Nothing needs undoing on error: transaction and
 * subtransaction abort restore the user and the search path, as they do
 * for SECURITY DEFINER functions. OutcomeLeaveOwner undoes it on success.
 *
 * Below PostgreSQL 17 the path is an override search path: pg_catalog
 * only, not even pg_temp, and it also holds inside any function the
 * statements call, whatever that function's own SET search_path says.
 * record()'s statements call none (rollout.outcomes has no trigger, and
 * must not have one: docs/scaling.md); a trigger added there would run
 * with that path. From 17 on, where the override stack is gone, it is
 * "pg_catalog, pg_temp" at a new GUC nest level, as SET would set it.
 */
static void
OutcomeBecomeOwner(FunctionCallInfo fcinfo, OwnerSwitch *sw)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&sw->userid, &sw->sec_context);
	SetUserIdAndSecContext(owner, sw->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
#if PG_VERSION_NUM < 170000
	{
		OverrideSearchPath path;

		memset(&path, 0, sizeof(path));
		path.addCatalog = true;
		PushOverrideSearchPath(&path);
	}
#else
	sw->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
#endif
}

/* Returns to the caller's user and search path (OutcomeBecomeOwner). */
static void
OutcomeLeaveOwner(OwnerSwitch *sw)
{
#if PG_VERSION_NUM < 170000
	PopOverrideSearchPath();
#else
	AtEOXact_GUC(true, sw->nestlevel);
#endif
	SetUserIdAndSecContext(sw->userid, sw->sec_context);
}

/* Returns argument n as a C string, or errors naming it when it is NULL. */
static char *
RequiredText(FunctionCallInfo fcinfo, int n, const char *argname)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Returns `at`, or now() when NULL; errors when infinite. */
static TimestampTz
OutcomeTime(FunctionCallInfo fcinfo, int n, int row)
{
	TimestampTz at = PG_ARGISNULL(n) ? GetCurrentTransactionStartTimestamp() :
		PG_GETARG_TIMESTAMPTZ(n);

	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sargument \"at\" must be a finite time", OutcomeRowPrefix(row))));
	if (RolloutClockTolerance >= 0 &&
		at > GetCurrentTimestamp() + (int64) RolloutClockTolerance * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sargument \"at\" is too far in the future", OutcomeRowPrefix(row)),
				 errdetail("It is %s; outcomes may lie at most %d seconds ahead of the server clock (rollout.clock_tolerance).",
						   timestamptz_to_str(at), RolloutClockTolerance)));
	return at;
}

/*
 * rollout.record(agent, version, unit, success, quality, latency_ms, cost,
 * error, safety_flag, feedback, metrics, shadow, at, decision_token):
 * appends one outcome, attributed to the decision the token names, or
 * without one to the rollout covering `at`.
 */
Datum
rollout_record(PG_FUNCTION_ARGS)
{
	char	   *agent = RequiredText(fcinfo, 0, "agent");
	int32		version;
	TimestampTz at;
	OutcomeContext ctx;
	Jsonb	   *metrics = NULL;
	Datum		values[RECORD_NPARAMS];
	char		nulls[RECORD_NPARAMS];
	int			rc;
	OwnerSwitch sw;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"version\" must not be null")));
	version = PG_GETARG_INT32(1);
	at = OutcomeTime(fcinfo, 12, 0);
	if (!PG_ARGISNULL(2))
		OutcomeCheckUnit(PG_GETARG_TEXT_PP(2), 0);
	if (!PG_ARGISNULL(5))
		OutcomeCheckNonNegative("latency_ms", PG_GETARG_FLOAT8(5), 0);
	if (!PG_ARGISNULL(6))
		OutcomeCheckNonNegative("cost", PG_GETARG_FLOAT8(6), 0);
	if (!PG_ARGISNULL(10))
	{
		metrics = PG_GETARG_JSONB_P(10);
		OutcomeCheckMetrics(metrics, 0);
	}

	OutcomeBecomeOwner(fcinfo, &sw);
	SPI_connect();
	OutcomeRequireService(agent);
	if (PG_NARGS() > 13 && !PG_ARGISNULL(13))
		OutcomeResolveToken(agent, version, !PG_ARGISNULL(11) && PG_GETARG_BOOL(11),
							PG_GETARG_TEXT_PP(13), 0, &ctx);
	else
		OutcomeResolve(agent, version, at, 0, &ctx);
	if (!PG_ARGISNULL(4))
		OutcomeCheckQuality(agent, PG_GETARG_FLOAT8(4), &ctx, 0);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId()));
	values[1] = TimestampTzGetDatum(at);
	values[2] = PG_GETARG_DATUM(0);
	values[3] = Int32GetDatum(version);
	values[4] = Int64GetDatum(ctx.rollout_id);
	nulls[4] = ctx.has_rollout ? ' ' : 'n';
	values[5] = Int32GetDatum(ctx.stage);
	nulls[5] = ctx.has_rollout ? ' ' : 'n';
	values[6] = ctx.in_arm ? CStringGetTextDatum(ctx.arm) : (Datum) 0;
	nulls[6] = ctx.in_arm ? ' ' : 'n';
	values[7] = BoolGetDatum(ctx.in_arm);
	values[8] = BoolGetDatum(!PG_ARGISNULL(11) && PG_GETARG_BOOL(11));
	/* unit, success, quality, latency_ms, cost: passed through, NULL allowed */
	for (int i = 0; i < 5; i++)
	{
		values[9 + i] = PG_ARGISNULL(2 + i) ? (Datum) 0 : PG_GETARG_DATUM(2 + i);
		nulls[9 + i] = PG_ARGISNULL(2 + i) ? 'n' : ' ';
	}
	values[14] = BoolGetDatum(!PG_ARGISNULL(7) && PG_GETARG_BOOL(7));
	values[15] = BoolGetDatum(!PG_ARGISNULL(8) && PG_GETARG_BOOL(8));
	values[16] = PG_ARGISNULL(9) ? (Datum) 0 : PG_GETARG_DATUM(9);
	nulls[16] = PG_ARGISNULL(9) ? 'n' : ' ';
	if (metrics == NULL && EmptyMetrics == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		EmptyMetrics = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
		MemoryContextSwitchTo(old);
	}
	values[17] = JsonbPGetDatum(metrics ? metrics : EmptyMetrics);

	rc = SPI_execute_plan(GetInsertPlan(), values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "pg_rollout: outcome insert failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	OutcomeLeaveOwner(&sw);
	PG_RETURN_VOID();
}

/*
 * rollout._outcome_resolve(agent, version, quality, latency_ms, cost,
 * metrics, at, row, decision_token, shadow): validates one row of a batch
 * like record() does and returns (rollout_id, stage, arm, in_arm, at).
 * Errors name the row.
 */
Datum
rollout_outcome_resolve(PG_FUNCTION_ARGS)
{
	int			row = PG_ARGISNULL(7) ? 0 : PG_GETARG_INT32(7);
	char	   *agent;
	int32		version;
	TimestampTz at;
	OutcomeContext ctx;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%sargument \"agent\" must not be null", OutcomeRowPrefix(row))));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%sargument \"version\" must not be null", OutcomeRowPrefix(row))));
	agent = text_to_cstring(PG_GETARG_TEXT_PP(0));
	version = PG_GETARG_INT32(1);
	at = OutcomeTime(fcinfo, 6, row);
	if (!PG_ARGISNULL(3))
		OutcomeCheckNonNegative("latency_ms", PG_GETARG_FLOAT8(3), row);
	if (!PG_ARGISNULL(4))
		OutcomeCheckNonNegative("cost", PG_GETARG_FLOAT8(4), row);
	if (!PG_ARGISNULL(5))
		OutcomeCheckMetrics(PG_GETARG_JSONB_P(5), row);

	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
	{
		SPI_connect();
		OutcomeResolveToken(agent, version, PG_NARGS() > 9 && !PG_ARGISNULL(9) && PG_GETARG_BOOL(9),
							PG_GETARG_TEXT_PP(8), row, &ctx);
		SPI_finish();
	}
	else if (!OutcomeResolveCached(agent, version, at, &ctx))
	{
		/* Most rows of a batch resolve from the cache, without SPI. */
		SPI_connect();
		OutcomeResolve(agent, version, at, row, &ctx);
		SPI_finish();
	}
	if (!PG_ARGISNULL(2))
		OutcomeCheckQuality(agent, PG_GETARG_FLOAT8(2), &ctx, row);

	/* The result's TupleDesc, built once per call site (fn_extra). */
	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "rollout._outcome_resolve must return a composite");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	values[0] = Int64GetDatum(ctx.rollout_id);
	nulls[0] = !ctx.has_rollout;
	values[1] = Int32GetDatum(ctx.stage);
	nulls[1] = !ctx.has_rollout;
	values[2] = ctx.in_arm ? CStringGetTextDatum(ctx.arm) : (Datum) 0;
	nulls[2] = !ctx.in_arm;
	values[3] = BoolGetDatum(ctx.in_arm);
	values[4] = TimestampTzGetDatum(at);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
