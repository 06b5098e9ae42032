/*-------------------------------------------------------------------------
 *
 * gate.h
 *		Gate verdicts computed in C (gate_verdict.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROLLOUT_GATE_H
#define ROLLOUT_GATE_H

#include "postgres.h"

#include "datatype/timestamp.h"

/*
 * ", about N h M min more at the current rate" for a gate that has taken
 * `elapsed` (NULL: unknown) and needs factor times as much again.
 */
extern char *GateEta(Interval *elapsed, bool factor_null, float8 factor);

#endif							/* ROLLOUT_GATE_H */
