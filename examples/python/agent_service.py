#!/usr/bin/python3
"""A small agent service on pg_rollout, with psycopg 3 (Debian: python3-psycopg).

Per request: one query asks the database which version of the agent serves
this user (rollout.route), the service runs that version (prompt, model,
tools), and one query records the outcome (rollout.record) with the
decision_token route() returned, so the outcome counts for the rollout, stage
and arm that served it even if the rollout moved meanwhile. When the
decision names a shadow version, the service also runs it, discards its
answer, intercepts its writes if told to, and records it as a shadow outcome.

Connection: libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE, ...) or
DATABASE_URL; the login must be a member of rollout_service.
PG_ROLLOUT_POOLER=transaction turns off server-side prepared statements, for
pgbouncer in transaction pooling mode before 1.21.

Usage: agent_service.py AGENT REQUESTS
"""
import json
import os
import random
import sys
import time

import psycopg

ROUTE = """SELECT version, arm, model, system_prompt, tools, params, shadow_version,
                  write_intercept, judge_sample, pin, reason, decision_token
             FROM rollout.route(%(agent)s, %(unit)s, session => %(session)s, pin => %(pin)s)"""

# decision_token: the outcome counts for the decision that served the request.
RECORD = """SELECT rollout.record(%(agent)s, %(version)s, %(unit)s,
                                  success => %(success)s, quality => %(quality)s,
                                  latency_ms => %(latency_ms)s, error => %(error)s,
                                  shadow => %(shadow)s, decision_token => %(token)s)"""


def call_model(model, system_prompt, tools, params, request, dry_run_writes):
    """Stands in for the LLM call and its tool calls. A real service sends
    system_prompt and request to model with tools; with dry_run_writes, the
    write tools must not touch anything (shadow runs)."""
    started = time.monotonic()
    ok = random.random() < 0.9
    return {"answer": "..." if ok else None, "success": ok, "error": False,
            "latency_ms": (time.monotonic() - started) * 1000 + random.uniform(200, 900)}


def judge(answer):
    """Stands in for the LLM judge that scores sampled answers (0..1)."""
    return random.uniform(0.6, 1.0) if answer else random.uniform(0.0, 0.4)


def main():
    agent, n = sys.argv[1], int(sys.argv[2])
    pooled = os.environ.get("PG_ROLLOUT_POOLER") == "transaction"
    # prepare_threshold=0: prepare both statements on first use and reuse them;
    # None: never prepare (pgbouncer in transaction mode moves us between servers).
    conn = psycopg.connect(os.environ.get("DATABASE_URL", ""), autocommit=True,
                           prepare_threshold=None if pooled else 0)
    pins = {}
    for i in range(n):
        unit = "user-%d" % (i % 97)
        session = "%s/conversation-%d" % (unit, i % 3)  # a user's conversations
        request = "request %d" % i
        d = conn.execute(ROUTE, {"agent": agent, "unit": unit, "session": session,
                                 "pin": pins.get(session)}).fetchone()
        (version, arm, model, system_prompt, tools, params, shadow_version,
         write_intercept, judge_sample, pin, reason, token) = d
        if pin is not None:
            pins[session] = pin  # the next turn of this session keeps its version

        out = call_model(model, system_prompt, tools, params, request, dry_run_writes=False)
        quality = judge(out["answer"]) if judge_sample else None
        conn.execute(RECORD, {"agent": agent, "version": version, "unit": unit,
                              "success": out["success"], "quality": quality,
                              "latency_ms": out["latency_ms"], "error": out["error"],
                              "shadow": False, "token": token})

        if shadow_version is not None:
            # Run the shadow version on the same request; its answer is discarded.
            s = conn.execute("SELECT model, system_prompt, tools, params FROM rollout.get_version(%s, %s)",
                             (agent, str(shadow_version))).fetchone()
            shadow_out = call_model(s[0], s[1], s[2], s[3], request, dry_run_writes=write_intercept)
            conn.execute(RECORD, {"agent": agent, "version": shadow_version, "unit": unit,
                                  "success": shadow_out["success"], "quality": None,
                                  "latency_ms": shadow_out["latency_ms"],
                                  "error": shadow_out["error"], "shadow": True,
                                  "token": token})
    conn.close()
    print(json.dumps({"client": "python", "agent": agent, "requests": n}))


if __name__ == "__main__":
    main()
