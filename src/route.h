/*-------------------------------------------------------------------------
 *
 * route.h
 *		Routing: the per-backend cache of routing state, bucketing, pin
 *		tokens and exposure counters behind rollout.route().
 *
 * The cache structures below live in a memory context under
 * TopMemoryContext and are rebuilt wholesale when a relcache invalidation
 * of one of the state tables arrives (route_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_ROUTE_H
#define ROLLOUT_ROUTE_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "datatype/timestamp.h"

/* Buckets per rollout: percentages are served in 0.01% steps. */
#define ROUTE_BUCKETS 10000

/* Longest agent or arm name the cache keys on (agent names allow 63 bytes). */
#define ROUTE_NAME_LEN 64

/* Length in bytes of the server secret that signs pin tokens. */
#define ROUTE_SECRET_LEN 32

/* Which route() argument a rollout hashes. */
typedef enum RouteStickiness
{
	ROUTE_STICKY_UNIT,
	ROUTE_STICKY_SESSION,
	ROUTE_STICKY_TENANT
} RouteStickiness;

/* Columns of rollout.decision that a version fills (agent .. params). */
#define ROUTE_VERSION_NATTS 9

/* Columns of rollout.decision in all (0.2.0 schemas lack decision_token). */
#define ROUTE_DECISION_NATTS 19
#define ROUTE_DECISION_NATTS_0_2 18

/* Longest decision token record() accepts, in bytes. */
#define ROUTE_TOKEN_MAX_LEN 256

/*
 * The content of one version, as the decision returns it: the first
 * ROUTE_VERSION_NATTS columns of rollout.decision (agent, version,
 * fingerprint, model, system_prompt, template, few_shot, tools, params),
 * built once per cache load so a call copies them into its row as they are.
 */
typedef struct RouteVersion
{
	int32		version;
	Datum		values[ROUTE_VERSION_NATTS];
	bool		nulls[ROUTE_VERSION_NATTS];
} RouteVersion;

/* One tenant or cohort rule, evaluated in order before the percentage. */
typedef struct RouteRule
{
	char	   *name;			/* label used in the reason */
	char	   *attribute;		/* NULL for a tenant rule */
	int			nvalues;
	char	  **values;			/* tenants, or attribute values */
	int			percent_bp;		/* candidate share in buckets, or -1 */
	char	   *arm;			/* fixed arm name, or NULL */
} RouteRule;

/* One arm of an A/B test: buckets [previous upper_bp, upper_bp). */
typedef struct RouteVariant
{
	char	   *name;
	Datum		name_datum;		/* text, the arm column */
	RouteVersion *version;
	int			upper_bp;
	Datum		token;			/* decision token of this arm, 0 until made */
} RouteVariant;

/* One capability flag, on for its own share of the callers. */
typedef struct RouteFlag
{
	char	   *name;
	int			percent_bp;
	uint64		seed;
} RouteFlag;

/* A rollout as routing serves it: an active one, or a final one draining. */
typedef struct RouteRollout
{
	int64		id;
	bool		active;
	bool		promoted;		/* final state promoted (else rolled back) */
	char		state[24];
	char		strategy[16];
	int32		stage;
	int			percent_bp;		/* candidate share, 0..10000 */
	int			shadow_bp;		/* shadow share, 0..10000 */
	RouteStickiness stickiness;
	uint64		salt;
	bool		write_intercept;
	double		judge_rate;
	bool		pinning;
	bool		has_drain_until;
	TimestampTz drain_until;	/* deadline of pins after the rollout ended */
	bool		drain_skipped;
	RouteVersion *baseline;
	RouteVersion *candidate;
	int			nvariants;
	RouteVariant *variants;
	int			nrules;
	RouteRule  *rules;
	int			nflags;
	RouteFlag  *flags;
	char	   *percent_text;	/* e.g. "5" or "12.5", for reasons */
	char	   *reason;			/* strategy reason, e.g. "canary 5%" */
	Datum		reason_datum;	/* the same as text */
	Datum		token_stable;	/* decision tokens of the arms, 0 until made */
	Datum		token_candidate;
	/* Set when the row cannot be served; route() raises it for this agent. */
	char	   *error_msg;
	char	   *error_detail;
} RouteRollout;

/* Everything routing knows about one agent. */
typedef struct RouteAgent
{
	char		name[ROUTE_NAME_LEN];	/* hash key */
	RouteVersion *production;	/* NULL when the label is not set */
	Datum		token_production;	/* decision token outside a rollout, 0 until made */
	RouteRollout *active;		/* NULL outside a rollout */
	int			nfinal;
	RouteRollout **final;		/* ended rollouts whose drain may still run */
	int			nflags;
	RouteFlag  *flags;			/* standalone flags (agents.flags), name order */
	bool		restricted;		/* service_roles set: only their members route */
	int			nservice_roles;
	Oid		   *service_roles;	/* existing roles of agents.service_roles */
} RouteAgent;

/* Text datums built once per cache load for the hot path. */
typedef struct RouteConstants
{
	TupleDesc	decision_desc;	/* rollout.decision */
	Datum		arm_stable;		/* 'stable' */
	Datum		arm_candidate;	/* 'candidate' */
	Datum		reason_no_rollout;	/* 'no rollout' */
	Datum		empty_flags;	/* '{}'::jsonb */
} RouteConstants;

/* route.c */
extern void RoutePrepareRollout(RouteRollout *r);

/* What a decision token names (route_token.c). */
typedef struct RouteToken
{
	int64		rollout_id;		/* 0: served outside any rollout */
	int32		stage;
	int32		version;
	char		arm[ROUTE_NAME_LEN];	/* "" outside a rollout */
} RouteToken;

/* route_cache.c */
extern RouteAgent *RouteCacheLookup(const char *agent);
extern MemoryContext RouteCacheMemory(void);
extern const uint8 *RouteCacheSecret(void);
extern uint64 RouteCacheGeneration(void);
extern const RouteConstants *RouteCacheConstants(void);

/* route_hash.c */
extern uint64 RouteHash(const char *data, size_t len, uint64 seed);
extern int	RouteBucket(const char *key, size_t len, uint64 salt);
extern uint64 RouteFlagSeed(const char *name, uint64 salt);

/* route_pin.c */
extern char *RoutePinMake(const char *agent, const char *session, int64 rollout_id,
						  int32 version, int64 issued);
extern bool RoutePinParse(const char *token, int64 *rollout_id, int32 *version,
						  int64 *issued, char *mac_hex);
extern bool RoutePinVerify(const char *token, const char *agent, const char *session);
extern void RoutePinRemember(const char *token, const char *agent, const char *session);
extern bool RoutePinKnown(const char *token, const char *agent, const char *session);
extern bool RouteHmac(const uint8 *msg, size_t len, uint8 *mac);

/* route_token.c */
extern char *RouteTokenMake(const char *agent, int64 rollout_id, int32 stage,
							int32 version, const char *arm);
extern bool RouteTokenParse(const char *token, size_t len, RouteToken *t);
extern bool RouteTokenVerify(const char *token, const char *agent, const RouteToken *t);

/* route_shmem.c */
extern void RouteShmemRegister(void);
extern void RouteExposureCount(int64 rollout_id, const char *arm);

#endif							/* ROLLOUT_ROUTE_H */
