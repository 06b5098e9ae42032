-- Routing: rollout.route(), bucketing vectors, rules, shadow, flags, judge
-- sampling, A/B tests, pins and drain, exposure counters.
\i test/sql/helpers.sql

-- Hash test vectors (docs/routing.md), computed independently with libxxhash.
SELECT k, s, rollout.bucket(k, s) AS bucket, rollout.bucket(k, s) = b AS matches_docs
  FROM (VALUES ('', 0::bigint, 3138), ('user-1', 0, 6057), ('user-1', 42, 9575),
               ('user-2', 42, 7511), ('alice', 1234567890123, 1198), ('bob', -1, 9005),
               ('session:abc', 9007199254740991, 6114),
               ('tenant-acme', -9223372036854775808, 2275), ('Zoë', 7, 580),
               (repeat('a', 300), 99, 8961)) AS v(k, s, b);

SELECT rollout.create_agent('bot') > 0 AS created;
SELECT rollout.create_version('bot', 'v1 prompt', 'gpt-4o-2024-08-06', template => 'T1') AS v1;
SELECT rollout.create_version('bot', 'v2 prompt', 'gpt-4o-2024-08-06', params => '{"temperature": 0.1}') AS v2;
SELECT rollout.create_version('bot', 'v3 prompt', 'claude-3-5-sonnet-20241022') AS v3;
SELECT rollout.set_label('bot', 'production', 1);

-- Outside a rollout: the production version with its content.
SELECT agent, version, fingerprint = (SELECT fingerprint FROM rollout.versions WHERE agent = 'bot' AND version = 1) AS fp_ok,
       model, system_prompt, template, few_shot, tools, params, arm, rollout_id, stage,
       shadow_version, judge_sample, pin, reason, flags, write_intercept
  FROM rollout.route('bot', 'u1', 's1');

-- A canary at 5%: arm = candidate exactly when bucket(unit, salt) < 500.
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt, judge_rate)
VALUES (101, 'bot', 1, 2, 5, 42, 0.1);
CREATE TEMP TABLE at5 AS
  SELECT i, d.* FROM generate_series(1, 10000) i, rollout.route('bot', 'u' || i) d;
SELECT arm, version, reason, rollout_id, stage, count(*) FROM at5 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1;
SELECT count(*) AS disagree_with_bucket FROM at5
 WHERE (arm = 'candidate') <> (rollout.bucket('u' || i, 42) < 500);
SELECT min(system_prompt) AS candidate_prompt, min(params::text) AS candidate_params
  FROM at5 WHERE arm = 'candidate';

-- Monotone ramp: every unit inside at 5% stays inside at 25%.
UPDATE rollout.rollouts SET percent = 25, stage = 3 WHERE id = 101;
CREATE TEMP TABLE at25 AS
  SELECT i, d.* FROM generate_series(1, 10000) i, rollout.route('bot', 'u' || i) d;
SELECT count(*) FILTER (WHERE arm = 'candidate') AS candidates_at_25,
       count(*) FILTER (WHERE arm = 'candidate' AND i IN (SELECT i FROM at5 WHERE arm = 'candidate')) AS kept_from_5,
       (SELECT count(*) FROM at5 WHERE arm = 'candidate') AS were_at_5,
       min(reason) AS reason, min(stage) AS stage
  FROM at25;

-- Stickiness by session: the unit does not matter any more.
UPDATE rollout.rollouts SET stickiness = 'session', percent = 50 WHERE id = 101;
SELECT count(DISTINCT arm) AS arms_for_one_session
  FROM generate_series(1, 200) i, rollout.route('bot', 'u' || i, 'fixed-session');
SELECT count(*) AS disagree_with_session_bucket
  FROM generate_series(1, 2000) i, rollout.route('bot', 'x', 's' || i) d
 WHERE (d.arm = 'candidate') <> (rollout.bucket('s' || i, 42) < 5000);
UPDATE rollout.rollouts SET stickiness = 'unit', percent = 5 WHERE id = 101;

-- A NULL stickiness key falls back as Unleash does (unit -> session ->
-- random), and the reason says which key was hashed.
SELECT d.reason, (d.arm = 'candidate') = (rollout.bucket('sess-x', 42) < 500) AS session_bucket_used
  FROM rollout.route('bot', NULL, 'sess-x') d;
SELECT count(*) AS requests, min(d.reason) AS reason, max(d.reason) = min(d.reason) AS one_reason,
       count(*) FILTER (WHERE d.version <> CASE d.arm WHEN 'candidate' THEN 2 ELSE 1 END) AS wrong_version
  FROM generate_series(1, 200) i, rollout.route('bot', NULL, request => 'r' || i) d;
SELECT count(*) FILTER (WHERE (d.arm = 'candidate') <> (rollout.bucket('u' || i, 42) < 500)) AS unit_key_ignored,
       min(d.reason) AS reason
  FROM generate_series(1, 500) i, rollout.route('bot', 'u' || i, 's' || i) d;
UPDATE rollout.rollouts SET stickiness = 'session' WHERE id = 101;
SELECT count(*) FILTER (WHERE (d.arm = 'candidate') <> (rollout.bucket('u' || i, 42) < 500)) AS unit_key_ignored,
       min(d.reason) AS reason
  FROM generate_series(1, 500) i, rollout.route('bot', 'u' || i) d;
SELECT reason FROM rollout.route('bot', NULL);
UPDATE rollout.rollouts SET stickiness = 'tenant' WHERE id = 101;
SELECT count(*) FILTER (WHERE (d.arm = 'candidate') <> (rollout.bucket('t' || i, 42) < 500)) AS tenant_key_ignored,
       min(d.reason) AS reason
  FROM generate_series(1, 500) i, rollout.route('bot', 'u' || i, tenant => 't' || i) d;
SELECT reason FROM rollout.route('bot', 'u7');
SELECT reason FROM rollout.route('bot', NULL, 's7');
SELECT reason FROM rollout.route('bot', NULL);
UPDATE rollout.rollouts SET stickiness = 'unit' WHERE id = 101;

-- Tenant and cohort rules come before the percentage, in order.
UPDATE rollout.rollouts SET rules = '[{"tenants": ["internal", "staff"], "percent": 100, "name": "beta"},
                                      {"attribute": "region", "values": ["eu"], "percent": 0},
                                      {"tenants": ["acme"], "arm": "stable"}]' WHERE id = 101;
SELECT tenant, attrs, count(*) FILTER (WHERE d.arm = 'candidate') AS candidates, min(d.reason) AS reason
  FROM (VALUES ('internal', NULL::jsonb), ('staff', '{"region": "eu"}'), (NULL, '{"region": "eu"}'),
               ('acme', NULL), ('other', '{"region": "us"}')) AS t(tenant, attrs),
       generate_series(1, 1000) i,
       rollout.route('bot', 'u' || i, tenant => t.tenant, attrs => t.attrs) d
 GROUP BY 1, 2 ORDER BY 1, 2;
UPDATE rollout.rollouts SET rules = '[]' WHERE id = 101;

-- Capability flags are drawn for every request of the rollout, whatever its
-- arm and version, each by its own split.
UPDATE rollout.rollouts SET flags = '[{"name": "db_write", "percent": 50}, {"name": "email", "percent": 0}]'
 WHERE id = 101;
SELECT arm, count(*) AS requests,
       count(*) FILTER (WHERE (flags ->> 'db_write')::boolean) AS db_write_on,
       count(*) FILTER (WHERE (flags ->> 'email')::boolean) AS email_on,
       min(flags::text) AS some_flags
  FROM generate_series(1, 4000) i, rollout.route('bot', 'u' || i) GROUP BY arm ORDER BY arm;
UPDATE rollout.rollouts SET flags = '[]' WHERE id = 101;

-- Judge sampling: reproducible with a request id, about judge_rate of requests.
SELECT count(*) FILTER (WHERE judge_sample) AS judged, count(*) AS requests
  FROM generate_series(1, 10000) i, rollout.route('bot', 'u' || (i % 7), request => 'req-' || i);
SELECT count(*) AS unstable_judge
  FROM generate_series(1, 500) i
 WHERE (rollout.route('bot', 'u1', request => 'r' || i)).judge_sample
    <> (rollout.route('bot', 'u2', request => 'r' || i)).judge_sample;

-- Shadow phase: everyone gets stable; a share also runs the candidate, with
-- its writes intercepted.
UPDATE rollout.rollouts SET state = 'shadow', stage = 0, shadow_percent = 30 WHERE id = 101;
SELECT arm, version, shadow_version, write_intercept, reason, count(*)
  FROM generate_series(1, 10000) i, rollout.route('bot', 'u' || i)
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 3 NULLS FIRST;
UPDATE rollout.rollouts SET state = 'paused', stage = 1, shadow_percent = 0 WHERE id = 101;
SELECT DISTINCT reason FROM generate_series(1, 100) i, rollout.route('bot', 'u' || i);

-- A/B test: weights partition the buckets in array order.
DELETE FROM rollout.rollouts WHERE id = 101;
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, strategy, state, percent, salt, variants, rules)
VALUES (102, 'bot', 1, 2, 'ab_test', 'canary', 0, 7, '[{"name": "a", "version": 1, "weight": 30},
        {"name": "b", "version": 3, "weight": 69.5}, {"name": "c", "version": 2, "weight": 0.5}]',
        '[{"tenants": ["vip"], "arm": "b"}]');
SELECT arm, version, reason, count(*),
       count(*) FILTER (WHERE NOT (CASE arm WHEN 'a' THEN rollout.bucket('u' || i, 7) < 3000
                                          WHEN 'b' THEN rollout.bucket('u' || i, 7) BETWEEN 3000 AND 9949
                                          ELSE rollout.bucket('u' || i, 7) >= 9950 END)) AS misplaced
  FROM generate_series(1, 10000) i, rollout.route('bot', 'u' || i) GROUP BY 1, 2, 3 ORDER BY 1;
SELECT DISTINCT arm, reason FROM generate_series(1, 50) i, rollout.route('bot', 'u' || i, tenant => 'vip');
DELETE FROM rollout.rollouts WHERE id = 102;

-- Blue-green: all traffic on one side; switch and switch back. A pin of the
-- other side does not hold the switch back.
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, strategy, percent, salt)
VALUES (106, 'bot', 1, 2, 'blue_green', 0, 42);
SELECT arm, version, reason, count(*) FROM generate_series(1, 1000) i, rollout.route('bot', 'u' || i) GROUP BY 1, 2, 3;
SELECT pin AS pin_blue FROM rollout.route('bot', 'u1', 'sess-bg') \gset
UPDATE rollout.rollouts SET percent = 100, stage = 2 WHERE id = 106;
SELECT arm, version, reason, count(*) FROM generate_series(1, 1000) i, rollout.route('bot', 'u' || i) GROUP BY 1, 2, 3;
SELECT version, reason, pin <> :'pin_blue' AS new_pin FROM rollout.route('bot', 'u1', 'sess-bg', pin => :'pin_blue');
UPDATE rollout.rollouts SET percent = 0, stage = 3 WHERE id = 106;
SELECT arm, version, reason, count(*) FROM generate_series(1, 1000) i, rollout.route('bot', 'u' || i) GROUP BY 1, 2, 3;
SELECT version, reason, pin = :'pin_blue' AS same_pin FROM rollout.route('bot', 'u1', 'sess-bg', pin => :'pin_blue');
DELETE FROM rollout.rollouts WHERE id = 106;

-- Pins: issued per session, honoured, unforgeable, bound to agent and session.
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt)
VALUES (103, 'bot', 1, 2, 50, 42);
SELECT pin AS pin_c, version AS ver_c FROM rollout.route('bot', 'u3', 'sess-c') \gset
SELECT :'pin_c' ~ '^1\.103\.[0-9]+\.[0-9]+\.[0-9a-f]{32}$' AS pin_format, :ver_c AS version_c;
SELECT pin IS NULL AS no_pin_without_session FROM rollout.route('bot', 'u3');
-- The same session on another unit, whose own bucket says otherwise, keeps its version.
SELECT count(*) FILTER (WHERE d.version = :ver_c) AS kept, count(*) AS requests,
       min(d.reason) AS reason, bool_and(d.pin = :'pin_c') AS same_pin
  FROM generate_series(1, 200) i, rollout.route('bot', 'u' || i, 'sess-c', pin => :'pin_c') d;
SELECT reason FROM rollout.route('bot', 'u3', 'sess-c',
       pin => overlay(:'pin_c' placing (CASE WHEN right(:'pin_c', 1) = '0' THEN '1' ELSE '0' END)
                      from length(:'pin_c')));
SELECT reason FROM rollout.route('bot', 'u3', 'sess-c',
       pin => regexp_replace(:'pin_c', '^1\.103\.[0-9]+\.', '1.103.' || (3 - :ver_c) || '.'));
SELECT reason FROM rollout.route('bot', 'u3', 'other-session', pin => :'pin_c');
SELECT reason FROM rollout.route('bot', 'u3', pin => :'pin_c');
SELECT reason FROM rollout.route('bot', 'u3', 'sess-c', pin => 'not a pin');
SELECT reason FROM rollout.route('bot', 'u3', 'sess-c', pin => '1.103.2.99999999999999999999.00');

-- Find a session pinned to the candidate, then roll back with a drain.
SELECT 'sess-d' AS cand_session, d.pin AS cand_pin, rollout.bucket('u1', 42) >= 5000 AS u1_is_stable
  FROM generate_series(1, 100) i, rollout.route('bot', 'u' || i, 'sess-d') d
 WHERE d.arm = 'candidate' ORDER BY i LIMIT 1 \gset
SELECT :'u1_is_stable' AS u1_is_stable, arm FROM rollout.route('bot', 'u1', :'cand_session', pin => :'cand_pin');
UPDATE rollout.rollouts SET state = 'rolled_back', ended_at = now(),
       drain_until = now() + interval '10 minutes' WHERE id = 103;
SELECT version, arm, rollout_id, reason FROM rollout.route('bot', 'u1', :'cand_session');
SELECT version, arm, rollout_id, pin = :'cand_pin' AS same_pin, reason
  FROM rollout.route('bot', 'u1', :'cand_session', pin => :'cand_pin');
-- The drain deadline passed: the pin expired.
UPDATE rollout.rollouts SET drain_until = now() - interval '1 second' WHERE id = 103;
SELECT version, reason FROM rollout.route('bot', 'u1', :'cand_session', pin => :'cand_pin');
-- Without drain_until the deadline is ended_at + drain.
UPDATE rollout.rollouts SET drain_until = NULL, drain = '1 hour' WHERE id = 103;
SELECT version, reason FROM rollout.route('bot', 'u1', :'cand_session', pin => :'cand_pin');
-- A safety rollback skips the drain: everyone moves at once.
UPDATE rollout.rollouts SET drain_until = now() + interval '10 minutes', drain_skipped = true WHERE id = 103;
SELECT version, reason FROM rollout.route('bot', 'u1', :'cand_session', pin => :'cand_pin');
-- A pin of an ended rollout is not used inside the next rollout.
UPDATE rollout.rollouts SET drain_skipped = false WHERE id = 103;
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt, pinning)
VALUES (104, 'bot', 1, 3, 0, 42, false);
SELECT version, arm, rollout_id, pin, reason FROM rollout.route('bot', 'u1', :'cand_session', pin => :'cand_pin');
DELETE FROM rollout.rollouts WHERE id IN (103, 104);

-- Rotating the secret invalidates every pin.
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt) VALUES (105, 'bot', 1, 2, 50, 42);
SELECT pin AS pin_e FROM rollout.route('bot', 'u1', 'sess-e') \gset
SELECT reason FROM rollout.route('bot', 'u9', 'sess-e', pin => :'pin_e');
SELECT rollout.rotate_pin_secret('test');
SELECT reason FROM rollout.route('bot', 'u9', 'sess-e', pin => :'pin_e');

-- Exposure counters: one per decision inside a rollout, read and reset.
SELECT count(*) >= 0 AS flushed FROM rollout.flush_exposures();
CREATE TEMP TABLE decisions AS SELECT d.* FROM generate_series(1, 1000) i, rollout.route('bot', 'u' || i) d;
INSERT INTO decisions SELECT d.* FROM generate_series(1, 10) i, rollout.route('bot', 'u' || i, 's' || i) d;
SELECT rollout_id, sum(exposures) AS total, count(*) AS arms FROM rollout.exposures GROUP BY 1;
CREATE TEMP TABLE flushed AS SELECT * FROM rollout.flush_exposures();
SELECT f.rollout_id, f.arm, f.exposures = (SELECT count(*) FROM decisions d WHERE d.arm = f.arm) AS counted_right
  FROM flushed f ORDER BY 2;
SELECT count(*) AS after_flush FROM rollout.exposures;
DELETE FROM rollout.rollouts WHERE id = 105;
SELECT reason, rollout_id FROM rollout.route('bot', 'u1');

-- Privileges: services route, but read no state tables and no secret.
SET ROLE rollout_service;
SELECT version, reason FROM rollout.route('bot', 'u1');
SELECT pg_temp.err('SELECT * FROM rollout._route_secret');
SELECT pg_temp.err('SELECT * FROM rollout.rollouts');
SELECT pg_temp.err('SELECT * FROM rollout.flush_exposures()');
RESET ROLE;
SET ROLE rollout_reader;
SELECT count(*) FROM rollout.exposures;
RESET ROLE;
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef
  FROM pg_proc p WHERE p.oid = 'rollout.route(text, text, text, text, text, jsonb, text)'::regprocedure;
