/*-------------------------------------------------------------------------
 *
 * route_parse.h
 *		Reading the JSON columns of a rollout row into the routing cache.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_ROUTE_PARSE_H
#define ROLLOUT_ROUTE_PARSE_H

#include "utils/jsonb.h"

#include "route.h"

/* Finds a cached version of an agent, or NULL. */
typedef RouteVersion *(*RouteVersionLookup) (const char *agent, int32 version);

extern void RouteParseVariants(RouteRollout *r, Jsonb *jb, RouteVersionLookup lookup,
							   const char *agent);
extern void RouteParseRules(RouteRollout *r, Jsonb *jb);
extern void RouteParseFlags(RouteRollout *r, Jsonb *jb);
extern void RouteParseFail(RouteRollout *r, const char *detail);

#endif							/* ROLLOUT_ROUTE_PARSE_H */
