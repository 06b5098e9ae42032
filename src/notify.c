/*-------------------------------------------------------------------------
 *
 * notify.c
 *		NOTIFY rollout with a JSON payload for every state change.
 *
 * The payload is built with jansson, so that every field is escaped as
 * JSON requires, and queued with Async_Notify: listeners receive it when
 * (and only if) the transaction that made the change commits.
 *
 * Any login may send NOTIFY rollout itself, so the payload names the
 * rollout.events row it announces ("event_id"): a listener reads that row,
 * which only the extension's functions can write, before it acts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
/* fmgrprotos.h declares PostgreSQL's json_object(); hide it from jansson's. */
#define json_object pg_json_object_fn
#include "utils/builtins.h"
#undef json_object
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include <jansson.h>

PG_FUNCTION_INFO_V1(rollout_notify_change);

/*
 * Bytes of the reason a payload carries; escaped as JSON (at most 6 bytes a
 * byte) it stays well inside NOTIFY's 8000-byte limit.
 */
#define NOTIFY_MAX_REASON 1000

/* Sets key to a text argument, or to JSON null when the argument is NULL. */
static void
SetTextArg(json_t *obj, const char *key, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		json_object_set_new(obj, key, json_null());
	else
		json_object_set_new(obj, key,
							json_string(text_to_cstring(PG_GETARG_TEXT_PP(argno))));
}

/*
 * The id of the rollout.events row this session logged last: every caller
 * of rollout._notify_change logs its event (rollout._log_event) first.
 */
static int64
LastEventId(void)
{
	Oid			seq = get_relname_relid("events_id_seq",
										get_namespace_oid("rollout", false));

	if (!OidIsValid(seq))
		elog(ERROR, "pg_rollout: sequence rollout.events_id_seq does not exist");
	return DatumGetInt64(DirectFunctionCall1(currval_oid, ObjectIdGetDatum(seq)));
}

/*
 * rollout._notify_change(rollout_id, agent, action, state, stage, percent,
 * at, reason): queues NOTIFY rollout, '<json>'.
 */
Datum
rollout_notify_change(PG_FUNCTION_ARGS)
{
	/*
	 * Not json_object(): the postgres executable exports a function of that
	 * name, which would win the symbol lookup over jansson's.
	 */
	json_t	   *obj = json_pack("{}");
	char	   *payload;
	char	   *copy;

	if (PG_ARGISNULL(0))
		json_object_set_new(obj, "rollout_id", json_null());
	else
		json_object_set_new(obj, "rollout_id", json_integer(PG_GETARG_INT64(0)));
	SetTextArg(obj, "agent", fcinfo, 1);
	SetTextArg(obj, "action", fcinfo, 2);
	SetTextArg(obj, "state", fcinfo, 3);
	if (PG_ARGISNULL(4))
		json_object_set_new(obj, "stage", json_null());
	else
		json_object_set_new(obj, "stage", json_integer(PG_GETARG_INT32(4)));
	if (PG_ARGISNULL(5))
		json_object_set_new(obj, "percent", json_null());
	else
		json_object_set_new(obj, "percent",
							json_real(DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																		 PG_GETARG_DATUM(5)))));
	if (PG_ARGISNULL(6))
		json_object_set_new(obj, "at", json_null());
	else
		json_object_set_new(obj, "at",
							json_string(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(6))));
	if (!PG_ARGISNULL(7) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(7)) > NOTIFY_MAX_REASON)
	{
		/* A long reason is kept whole in rollout.events; the payload gets its start. */
		text	   *reason = PG_GETARG_TEXT_PP(7);
		int			len = pg_mbcliplen(VARDATA_ANY(reason), VARSIZE_ANY_EXHDR(reason),
									   NOTIFY_MAX_REASON);

		json_object_set_new(obj, "reason", json_stringn(VARDATA_ANY(reason), len));
		json_object_set_new(obj, "reason_truncated", json_true());
	}
	else
		SetTextArg(obj, "reason", fcinfo, 7);
	json_object_set_new(obj, "event_id", json_integer(LastEventId()));

	payload = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(obj);
	if (payload == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not build the notification payload")));
	copy = pstrdup(payload);
	free(payload);

	/*
	 * NOTIFY payloads are limited to 8000 bytes. The reason is clipped above
	 * and names are short, so this never fails the action; should the
	 * payload still be too long, listeners get its fixed fields only.
	 */
	if (strlen(copy) >= NAMEDATALEN * 125)
		copy = psprintf("{\"rollout_id\": %s, \"truncated\": true}",
						PG_ARGISNULL(0) ? "null" : psprintf(INT64_FORMAT, PG_GETARG_INT64(0)));
	Async_Notify("rollout", copy);
	PG_RETURN_VOID();
}
