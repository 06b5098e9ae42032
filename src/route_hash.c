/*-------------------------------------------------------------------------
 *
 * route_hash.c
 *		Bucketing: the documented, portable hash behind every routing split.
 *
 * bucket(key, salt) = XXH3_64bits_withSeed(key bytes, salt as uint64) mod
 * 10000. The key is the UTF-8 (server encoding) bytes of the stickiness
 * argument with no terminator; the salt is the rollout's bigint reinterpreted
 * as an unsigned 64-bit seed. docs/routing.md lists test vectors computed
 * independently, and sql/routing.sql asserts them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <xxhash.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "route.h"

PG_FUNCTION_INFO_V1(rollout_bucket);

/* XXH3 64-bit hash of a byte string with a seed. */
uint64
RouteHash(const char *data, size_t len, uint64 seed)
{
	return (uint64) XXH3_64bits_withSeed(data, len, (XXH64_hash_t) seed);
}

/* The bucket 0..9999 of a key under a rollout's salt. */
int
RouteBucket(const char *key, size_t len, uint64 salt)
{
	return (int) (RouteHash(key, len, salt) % ROUTE_BUCKETS);
}

/*
 * The seed of a capability flag's own split: the hash of the flag name
 * under the rollout salt, so flags are independent of the arm split and of
 * each other.
 */
uint64
RouteFlagSeed(const char *name, uint64 salt)
{
	return RouteHash(name, strlen(name), salt);
}

/* rollout.bucket(key text, salt bigint): the bucket a client can recompute. */
Datum
rollout_bucket(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	int64		salt = PG_GETARG_INT64(1);

	PG_RETURN_INT32(RouteBucket(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), (uint64) salt));
}
