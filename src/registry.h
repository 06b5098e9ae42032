/*-------------------------------------------------------------------------
 *
 * registry.h
 *		Version registry helpers: canonical JSON, fingerprints, name checks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_REGISTRY_H
#define ROLLOUT_REGISTRY_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* Longest agent or label name, in bytes. */
#define ROLLOUT_MAX_NAME_LEN 63

extern void RegistryAppendCanonicalJson(StringInfo out, Jsonb *jb);
extern bool RegistryModelIsPinned(const char *model);
extern void RegistryCheckName(const char *name, const char *argname);

#endif							/* ROLLOUT_REGISTRY_H */
