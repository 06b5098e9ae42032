/*-------------------------------------------------------------------------
 *
 * outcome_decision.c
 *		Attribution of an outcome to the decision that served it.
 *
 * route() returns a decision token naming the rollout, stage, arm and
 * version that served a request (route_token.c). record(), record_batch(),
 * the staging drain and record_shadow_pair() take it back: the outcome is
 * then stored under exactly that rollout, stage and arm, whatever happened
 * since (a flip of the percentage, a new stage, the end of the rollout, a
 * new rollout). Without a token the time-based attribution of
 * outcome_cache.c stays the fall-back (docs/outcomes.md says why the token
 * is better).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "outcome.h"
#include "route.h"

/* Bytes of a bad token echoed in an error message. */
#define TOKEN_ECHO_BYTES 40

/* The first TOKEN_ECHO_BYTES of a bad token, with "..." when clipped. */
static char *
TokenEcho(const char *s, int len)
{
	if (len <= TOKEN_ECHO_BYTES)
		return pnstrdup(s, len);
	return psprintf("%s...", pnstrdup(s, pg_mbcliplen(s, len, TOKEN_ECHO_BYTES)));
}

/*
 * Validates a decision token and fills ctx with the decision it names. A
 * live outcome must be of the token's version and goes to its arm; a shadow
 * outcome (shadow = true: the candidate run beside a stable request) goes
 * to the arm of its own version in the token's rollout. Raises 22P02 for a
 * malformed token and 22023 for one that is too long, fails verification,
 * names another version or a rollout the agent does not have. The caller is
 * connected to SPI.
 */
void
OutcomeResolveToken(const char *agent, int32 version, bool shadow, text *token,
					int row, OutcomeContext *ctx)
{
	const char *data = VARDATA_ANY(token);
	int			len = VARSIZE_ANY_EXHDR(token);
	RouteToken	t;
	char	   *str;

	if (len > ROUTE_TOKEN_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sargument \"decision_token\" is too long", OutcomeRowPrefix(row)),
				 errdetail("It has %d bytes; the limit is %d.", len, ROUTE_TOKEN_MAX_LEN)));
	if (!RouteTokenParse(data, len, &t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%sargument \"decision_token\" is malformed", OutcomeRowPrefix(row)),
				 errdetail("Pass the decision_token column of the rollout.route() result as it is; the value given begins \"%s\".",
						   TokenEcho(data, len))));

	/* Agent and version first: an unknown one is reported as such (42704). */
	(void) OutcomeResolveRollout(agent, version, 0, row, ctx);
	/* The secret comes with the routing cache; load it if it is stale. */
	(void) RouteCacheLookup(agent);
	str = pnstrdup(data, len);
	if (!RouteTokenVerify(str, agent, &t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sargument \"decision_token\" does not verify for agent \"%s\"",
						OutcomeRowPrefix(row), agent),
				 errdetail("The token was issued for another agent, was altered, or the pin secret was rotated since rollout.route() issued it.")));
	if (!shadow && t.version != version)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sargument \"decision_token\" names version %d, not version %d",
						OutcomeRowPrefix(row), t.version, version),
				 errdetail("The token belongs to the decision that served version %d; an outcome recorded with it must be of that version.",
						   t.version)));
	if (!OutcomeResolveRollout(agent, version, t.rollout_id, row, ctx))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sargument \"decision_token\" names rollout " INT64_FORMAT ", which agent \"%s\" does not have",
						OutcomeRowPrefix(row), t.rollout_id, agent)));
	if (t.rollout_id == 0)
		return;					/* served outside any rollout: stored, not aggregated */
	ctx->stage = t.stage;
	if (shadow)
	{
		if (!ctx->in_arm)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%sversion %d is in no arm of rollout " INT64_FORMAT " named by argument \"decision_token\"",
							OutcomeRowPrefix(row), version, t.rollout_id),
					 errdetail("A shadow outcome recorded with a decision token must be of a version of that rollout.")));
		return;
	}
	ctx->in_arm = true;
	strlcpy(ctx->arm, t.arm, OUTCOME_ARM_LEN);
}
