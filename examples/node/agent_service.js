#!/usr/bin/env node
// A small agent service on pg_rollout, with node-postgres (npm: pg).
//
// Per request: one query asks the database which version of the agent
// serves this user (rollout.route), the service runs that version (prompt,
// model, tools), and one query records the outcome (rollout.record) with the
// decision_token route() returned, so the outcome counts for the rollout,
// stage and arm that served it even if the rollout moved meanwhile. When
// the decision names a shadow version, the service also runs it, discards
// its answer, intercepts its writes if told to, and records it as a shadow
// outcome.
//
// Connection: libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE, ...)
// or DATABASE_URL; the login must be a member of rollout_service.
// PG_ROLLOUT_POOLER=transaction uses unnamed statements instead of named
// prepared ones, for pgbouncer in transaction pooling mode before 1.21.
//
// Usage: node agent_service.js AGENT REQUESTS
'use strict';

const { Client } = require('pg');

const ROUTE = `SELECT version, arm, model, system_prompt, tools, params, shadow_version,
       write_intercept, judge_sample, pin, reason, decision_token
  FROM rollout.route($1, $2, session => $3, pin => $4)`;

// decision_token: the outcome counts for the decision that served the request.
const RECORD = `SELECT rollout.record($1, $2, $3, success => $4, quality => $5,
       latency_ms => $6, error => $7, shadow => $8, decision_token => $9)`;

const VERSION = 'SELECT model, system_prompt, tools, params FROM rollout.get_version($1, $2)';

// Stands in for the LLM call and its tool calls. A real service sends
// systemPrompt and the request to model with tools; with dryRunWrites the
// write tools must not touch anything (shadow runs).
function callModel(model, systemPrompt, tools, params, request, dryRunWrites) {
  const started = process.hrtime.bigint();
  const ok = Math.random() < 0.9;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  return { answer: ok ? '...' : null, success: ok, error: false,
           latencyMs: elapsed + 200 + Math.random() * 700 };
}

// Stands in for the LLM judge that scores sampled answers (0..1).
function judge(answer) {
  return answer ? 0.6 + Math.random() * 0.4 : Math.random() * 0.4;
}

async function main() {
  const [agent, nArg] = process.argv.slice(2);
  const n = parseInt(nArg, 10);
  if (!agent || !(n >= 0)) {
    console.error('usage: node agent_service.js AGENT REQUESTS');
    process.exit(2);
  }
  const pooled = process.env.PG_ROLLOUT_POOLER === 'transaction';
  // A query with a name is prepared once per connection and then reused.
  const q = (name, text, values) => (pooled ? { text, values } : { name, text, values });
  const client = new Client(process.env.DATABASE_URL ? { connectionString: process.env.DATABASE_URL } : {});
  await client.connect();

  const pins = new Map();
  for (let i = 0; i < n; i++) {
    const unit = `user-${i % 97}`;
    const session = `${unit}/conversation-${i % 3}`; // a user's conversations
    const request = `request ${i}`;
    const { rows: [d] } = await client.query(q('route', ROUTE, [agent, unit, session, pins.get(session) ?? null]));
    if (d.pin !== null) pins.set(session, d.pin); // the next turn of this session keeps its version

    const out = callModel(d.model, d.system_prompt, d.tools, d.params, request, false);
    const quality = d.judge_sample ? judge(out.answer) : null;
    await client.query(q('record', RECORD, [agent, d.version, unit, out.success, quality,
                                            out.latencyMs, out.error, false, d.decision_token]));

    if (d.shadow_version !== null) {
      // Run the shadow version on the same request; its answer is discarded.
      const { rows: [s] } = await client.query(q('version', VERSION, [agent, String(d.shadow_version)]));
      const shadowOut = callModel(s.model, s.system_prompt, s.tools, s.params, request,
                                  d.write_intercept !== false);
      await client.query(q('record', RECORD, [agent, d.shadow_version, unit, shadowOut.success, null,
                                              shadowOut.latencyMs, shadowOut.error, true,
                                              d.decision_token]));
    }
  }
  await client.end();
  console.log(JSON.stringify({ client: 'node', agent, requests: n }));
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
