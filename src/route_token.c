/*-------------------------------------------------------------------------
 *
 * route_token.c
 *		Decision tokens: the identity of the decision that served a request.
 *
 * route() returns, with every decision, a token naming the rollout, stage,
 * arm and version that served the request; the service passes it back to
 * record(), which stores the outcome under exactly that decision whatever
 * happened since (docs/outcomes.md). A token is
 *
 *		"d1.<rollout_id>.<stage>.<version>.<arm>.<mac>"
 *
 * where rollout_id is 0 (and arm empty) for a decision outside any rollout,
 * and mac is the first 16 bytes, in hex, of HMAC-SHA256 under the pin
 * secret (route_pin.c) over
 *
 *		"pg_rollout-decision-v1\n" agent "\n" rollout_id "." stage "."
 *		version "." arm
 *
 * so a token verifies only for the agent it was issued to and cannot be
 * made or altered without the secret. The arm is the last field before the
 * MAC, so arm names may contain dots. A token depends on no request data:
 * route() signs each (rollout, stage, arm) once per cache load and hands out
 * the same text to every request of that arm (route.c), and record()
 * remembers the tokens it has verified (the pin cache, with an empty
 * session), so neither path pays an HMAC per call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/sha2.h"
#include "utils/builtins.h"

#include "route.h"

/* Bytes of the HMAC kept in the token (128 bits). */
#define TOKEN_MAC_BYTES 16
#define TOKEN_MAC_HEX (TOKEN_MAC_BYTES * 2)
#define TOKEN_PREFIX "d1."

/* Computes the hex MAC of a token's fields; false if HMAC fails. */
static bool
TokenMac(const char *agent, const RouteToken *t, char *hex_out)
{
	char	   *msg;
	uint8		mac[PG_SHA256_DIGEST_LENGTH];

	msg = psprintf("pg_rollout-decision-v1\n%s\n" INT64_FORMAT ".%d.%d.%s",
				   agent, t->rollout_id, t->stage, t->version, t->arm);
	if (!RouteHmac((const uint8 *) msg, strlen(msg), mac))
		return false;
	hex_encode((const char *) mac, TOKEN_MAC_BYTES, hex_out);
	hex_out[TOKEN_MAC_HEX] = '\0';
	return true;
}

/*
 * Makes the token of a decision; NULL when there is no secret to sign with.
 * rollout_id 0 and an empty arm stand for a decision outside any rollout.
 */
char *
RouteTokenMake(const char *agent, int64 rollout_id, int32 stage, int32 version,
			   const char *arm)
{
	RouteToken	t;
	char		hex[TOKEN_MAC_HEX + 1];

	if (RouteCacheSecret() == NULL || strlen(arm) >= ROUTE_NAME_LEN)
		return NULL;
	t.rollout_id = rollout_id;
	t.stage = stage;
	t.version = version;
	strlcpy(t.arm, arm, sizeof(t.arm));
	if (!TokenMac(agent, &t, hex))
		return NULL;
	return psprintf(TOKEN_PREFIX INT64_FORMAT ".%d.%d.%s.%s",
					rollout_id, stage, version, arm, hex);
}

/* Parses one decimal field ending at a '.'; advances *p. */
static bool
TokenField(const char **p, const char *end, int64 *out, int64 max)
{
	int64		v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9')
	{
		int			digit = *s - '0';

		if (v > (max - digit) / 10)
			return false;
		v = v * 10 + digit;
		s++;
	}
	if (s >= end || *s != '.')
		return false;
	*p = s + 1;
	*out = v;
	return true;
}

/*
 * Parses a token of len bytes (not necessarily NUL-terminated) into its
 * fields; false when it is malformed. Checks no signature.
 */
bool
RouteTokenParse(const char *token, size_t len, RouteToken *t)
{
	const char *p = token;
	const char *end = token + len;
	const char *mac;
	int64		v;
	size_t		armlen;

	if (len > ROUTE_TOKEN_MAX_LEN || len < strlen(TOKEN_PREFIX) + TOKEN_MAC_HEX + 7 ||
		memcmp(p, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
		return false;
	p += strlen(TOKEN_PREFIX);
	if (!TokenField(&p, end, &t->rollout_id, PG_INT64_MAX))
		return false;
	if (!TokenField(&p, end, &v, PG_INT32_MAX))
		return false;
	t->stage = (int32) v;
	if (!TokenField(&p, end, &v, PG_INT32_MAX))
		return false;
	t->version = (int32) v;
	/* The MAC is the last TOKEN_MAC_HEX bytes, after a '.'. */
	mac = end - TOKEN_MAC_HEX;
	if (mac - 1 < p || mac[-1] != '.')
		return false;
	for (int i = 0; i < TOKEN_MAC_HEX; i++)
		if (!((mac[i] >= '0' && mac[i] <= '9') || (mac[i] >= 'a' && mac[i] <= 'f')))
			return false;
	armlen = (mac - 1) - p;
	if (armlen >= ROUTE_NAME_LEN || memchr(p, '\0', armlen) != NULL)
		return false;
	memcpy(t->arm, p, armlen);
	t->arm[armlen] = '\0';
	/* Outside a rollout there is no arm; inside one there always is. */
	if ((t->rollout_id == 0) != (armlen == 0))
		return false;
	return true;
}

/*
 * Whether a parsed token (NUL-terminated text) carries a valid MAC for the
 * agent. Tokens verified before under the current cache load are not
 * checked again.
 */
bool
RouteTokenVerify(const char *token, const char *agent, const RouteToken *t)
{
	char		expected[TOKEN_MAC_HEX + 1];
	const char *given = token + strlen(token) - TOKEN_MAC_HEX;
	int			diff = 0;

	if (RouteCacheSecret() == NULL)
		return false;
	if (RoutePinKnown(token, agent, ""))
		return true;
	if (!TokenMac(agent, t, expected))
		return false;
	/* Constant-time comparison. */
	for (int i = 0; i < TOKEN_MAC_HEX; i++)
		diff |= given[i] ^ expected[i];
	if (diff != 0)
		return false;
	RoutePinRemember(token, agent, "");
	return true;
}
