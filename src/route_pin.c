/*-------------------------------------------------------------------------
 *
 * route_pin.c
 *		Pin tokens: session pinning without writes.
 *
 * A pin is "1.<rollout_id>.<version>.<issued>.<mac>" where issued is Unix
 * seconds and mac is the first 16 bytes, in hex, of HMAC-SHA256 under the
 * server secret (table rollout._route_secret, created at CREATE EXTENSION)
 * over
 *
 *		"pg_rollout-pin-v1\n" agent "\n" len(session) ":" session "\n"
 *		rollout_id "." version "." issued
 *
 * so a token only verifies for the agent and session it was issued to, and
 * nobody without the secret can make one. Nothing is stored per session.
 *
 * HMAC costs more than the rest of a decision, and a session passes the same
 * pin back on every turn. Each backend therefore remembers, in a small
 * direct-mapped table, the (agent, session, token) triples it signed or
 * verified under the current cache load (the secret only changes with a
 * reload); a later call with exactly the same triple skips the HMAC. Only
 * exact matches hit, so the table never accepts a token the secret did not
 * sign.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "route.h"

/* Bytes of the HMAC kept in the token (128 bits). */
#define PIN_MAC_BYTES 16

/* Slots of the per-backend table of checked pins, and the longest triple kept. */
#define PIN_CACHE_SLOTS 256
#define PIN_CACHE_MAX_TRIPLE 512

/* One (agent, session, token) triple known to verify. */
typedef struct PinCacheEntry
{
	uint64		generation;		/* RouteCacheGeneration() when stored; 0 = empty */
	uint64		hash;
	int			len;
	char	   *triple;			/* agent \0 session \0 token */
} PinCacheEntry;

static PinCacheEntry pin_cache[PIN_CACHE_SLOTS];
static MemoryContext pin_context = NULL;

/* The backend's HMAC context, keyed for cache generation pin_hmac_generation. */
static pg_hmac_ctx *pin_hmac = NULL;
static ResourceOwner pin_owner = NULL;
static uint64 pin_hmac_generation = 0;
static bool pin_hmac_reuse = false;

PG_FUNCTION_INFO_V1(rollout_random_secret);

/* One HMAC-SHA256 with ctx: the key, or (key NULL) the key set before. */
static bool
HmacOnce(pg_hmac_ctx *ctx, const uint8 *key, const uint8 *msg, size_t len, uint8 *mac)
{
	return pg_hmac_init(ctx, key, key ? ROUTE_SECRET_LEN : 0) >= 0 &&
		pg_hmac_update(ctx, msg, len) >= 0 &&
		pg_hmac_final(ctx, mac, PG_SHA256_DIGEST_LENGTH) >= 0;
}

/*
 * HMAC-SHA256 of msg under the pin secret (pins and decision tokens,
 * route_token.c, with distinct message prefixes). The context lives as long as the
 * backend (under a private resource owner, so transaction ends leave it
 * alone). After each cache load it is keyed once; later calls re-initialise
 * it without the key, which OpenSSL's HMAC_Init_ex turns into a copy of the
 * keyed state instead of hashing the key pads again. Whether the
 * implementation behind pg_hmac does that is checked on a probe message
 * against a freshly keyed MAC; if not, every call passes the key.
 */
bool
RouteHmac(const uint8 *msg, size_t len, uint8 *mac)
{
	static const uint8 probe[] = "pg_rollout-pin-probe";
	const uint8 *secret = RouteCacheSecret();

	if (secret == NULL)
		return false;
	if (pin_hmac == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		ResourceOwner save_owner = CurrentResourceOwner;

		if (pin_owner == NULL)
			pin_owner = ResourceOwnerCreate(NULL, "pg_rollout pin signing");
		CurrentResourceOwner = pin_owner;
		pin_hmac = pg_hmac_create(PG_SHA256);
		CurrentResourceOwner = save_owner;
		MemoryContextSwitchTo(old);
		if (pin_hmac == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while signing a pin token")));
		pin_hmac_generation = 0;
	}
	if (pin_hmac_generation != RouteCacheGeneration())
	{
		uint8		keyed[PG_SHA256_DIGEST_LENGTH];
		uint8		reused[PG_SHA256_DIGEST_LENGTH];

		pin_hmac_reuse = HmacOnce(pin_hmac, secret, probe, sizeof(probe), keyed) &&
			HmacOnce(pin_hmac, NULL, probe, sizeof(probe), reused) &&
			memcmp(keyed, reused, sizeof(keyed)) == 0;
		pin_hmac_generation = RouteCacheGeneration();
	}
	return HmacOnce(pin_hmac, pin_hmac_reuse ? NULL : secret, msg, len, mac);
}

/* Computes the hex MAC of a pin's fields; returns false if HMAC fails. */
static bool
PinMac(const char *agent, const char *session, int64 rollout_id, int32 version,
	   int64 issued, char *hex_out)
{
	char		buf[PIN_CACHE_MAX_TRIPLE];
	char	   *msg = buf;
	int			len;
	uint8		mac[PG_SHA256_DIGEST_LENGTH];

#define PIN_MESSAGE_ARGS "pg_rollout-pin-v1\n%s\n%zu:%s\n" INT64_FORMAT ".%d." INT64_FORMAT, \
	agent, strlen(session), session, rollout_id, version, issued
	len = snprintf(buf, sizeof(buf), PIN_MESSAGE_ARGS);
	if (len >= (int) sizeof(buf))
	{
		msg = psprintf(PIN_MESSAGE_ARGS);
		len = strlen(msg);
	}
#undef PIN_MESSAGE_ARGS
	if (!RouteHmac((const uint8 *) msg, len, mac))
		return false;
	hex_encode((const char *) mac, PIN_MAC_BYTES, hex_out);
	hex_out[PIN_MAC_BYTES * 2] = '\0';
	return true;
}

/* Writes "agent\0session\0token" into buf; its length, or -1 if too long. */
static int
PinTriple(const char *token, const char *agent, const char *session, char *buf)
{
	size_t		la = strlen(agent) + 1;
	size_t		ls = strlen(session) + 1;
	size_t		lt = strlen(token);

	if (la + ls + lt > PIN_CACHE_MAX_TRIPLE)
		return -1;
	memcpy(buf, agent, la);
	memcpy(buf + la, session, ls);
	memcpy(buf + la + ls, token, lt);
	return (int) (la + ls + lt);
}

/*
 * Whether the triple is in the table of tokens checked under this cache
 * load (pins, and decision tokens with an empty session).
 */
bool
RoutePinKnown(const char *token, const char *agent, const char *session)
{
	char		buf[PIN_CACHE_MAX_TRIPLE];
	int			len = PinTriple(token, agent, session, buf);
	uint64		h;
	PinCacheEntry *e;

	if (len < 0)
		return false;
	h = RouteHash(buf, len, 0);
	e = &pin_cache[h % PIN_CACHE_SLOTS];
	return e->generation == RouteCacheGeneration() && e->hash == h &&
		e->len == len && memcmp(e->triple, buf, len) == 0;
}

/*
 * Remembers that a token verifies for an agent and session, until the next
 * cache load; route() calls it for the pins it signs.
 */
void
RoutePinRemember(const char *token, const char *agent, const char *session)
{
	char		buf[PIN_CACHE_MAX_TRIPLE];
	int			len = PinTriple(token, agent, session, buf);
	uint64		h;
	PinCacheEntry *e;

	if (len < 0)
		return;
	if (pin_context == NULL)
		pin_context = AllocSetContextCreate(TopMemoryContext, "pg_rollout pin cache",
											ALLOCSET_SMALL_SIZES);
	h = RouteHash(buf, len, 0);
	e = &pin_cache[h % PIN_CACHE_SLOTS];
	if (e->triple == NULL)
		e->triple = MemoryContextAlloc(pin_context, PIN_CACHE_MAX_TRIPLE);
	memcpy(e->triple, buf, len);
	e->len = len;
	e->hash = h;
	e->generation = RouteCacheGeneration();
}

/* Makes the pin token for a session served a version of a rollout. */
char *
RoutePinMake(const char *agent, const char *session, int64 rollout_id,
			 int32 version, int64 issued)
{
	char		hex[PIN_MAC_BYTES * 2 + 1];

	if (!PinMac(agent, session, rollout_id, version, issued, hex))
		return NULL;
	return psprintf("1." INT64_FORMAT ".%d." INT64_FORMAT ".%s",
					rollout_id, version, issued, hex);
}

/* Parses one decimal field ending at a '.' or the end; advances *p. */
static bool
PinField(const char **p, int64 *out, int64 max)
{
	int64		v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
	{
		int			digit = *s - '0';

		if (v > (max - digit) / 10)
			return false;
		v = v * 10 + digit;
		s++;
	}
	if (*s != '.')
		return false;
	*p = s + 1;
	*out = v;
	return true;
}

/*
 * Parses a token into its fields; false when it is malformed. mac_hex
 * receives the MAC text (PIN_MAC_BYTES * 2 + 1 bytes).
 */
bool
RoutePinParse(const char *token, int64 *rollout_id, int32 *version,
			  int64 *issued, char *mac_hex)
{
	const char *p = token;
	int64		v;

	if (strncmp(p, "1.", 2) != 0)
		return false;
	p += 2;
	if (!PinField(&p, rollout_id, PG_INT64_MAX))
		return false;
	if (!PinField(&p, &v, PG_INT32_MAX))
		return false;
	*version = (int32) v;
	if (!PinField(&p, issued, PG_INT64_MAX))
		return false;
	if (strlen(p) != PIN_MAC_BYTES * 2)
		return false;
	for (int i = 0; i < PIN_MAC_BYTES * 2; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	memcpy(mac_hex, p, PIN_MAC_BYTES * 2 + 1);
	return true;
}

/* Whether a well-formed token carries a valid MAC for this agent and session. */
bool
RoutePinVerify(const char *token, const char *agent, const char *session)
{
	int64		rollout_id;
	int32		version;
	int64		issued;
	char		given[PIN_MAC_BYTES * 2 + 1];
	char		expected[PIN_MAC_BYTES * 2 + 1];
	int			diff = 0;

	if (!RoutePinParse(token, &rollout_id, &version, &issued, given))
		return false;
	if (RoutePinKnown(token, agent, session))
		return true;
	if (!PinMac(agent, session, rollout_id, version, issued, expected))
		return false;
	/* Constant-time comparison. */
	for (int i = 0; i < PIN_MAC_BYTES * 2; i++)
		diff |= given[i] ^ expected[i];
	if (diff != 0)
		return false;
	RoutePinRemember(token, agent, session);
	return true;
}

/* rollout._random_secret(): 32 bytes from the strong random source. */
Datum
rollout_random_secret(PG_FUNCTION_ARGS)
{
	bytea	   *result = palloc(VARHDRSZ + ROUTE_SECRET_LEN);

	SET_VARSIZE(result, VARHDRSZ + ROUTE_SECRET_LEN);
	if (!pg_strong_random(VARDATA(result), ROUTE_SECRET_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for the pin secret")));
	PG_RETURN_BYTEA_P(result);
}
