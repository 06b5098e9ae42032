-- Manual lifecycle operations with a simulated clock: the one-active rule,
-- pause/resume, promote, approvals, rollback from any state, deploy_now,
-- retry, shadow phase, blackouts, and bad input.
\i test/sql/helpers.sql

SELECT rollout.create_agent('ops-bot') > 0 AS created;
SELECT rollout.create_version('ops-bot', 'p' || i, 'model-001') FROM generate_series(1, 4) i;
SELECT rollout.set_label('ops-bot', 'production', 1);
CREATE TEMP TABLE plan AS SELECT '{"steps": [{"percent": 5, "bake": "1 hour"}, {"percent": 50, "bake": "1 hour"}, {"percent": 100}],
  "gates": [{"name": "success", "metric": "success", "comparison": "rate", "margin": 0.05,
             "test": "sequential", "min_samples": 10, "window": "1 hour", "action": "hold"}]}'::jsonb AS p;
GRANT SELECT ON plan TO PUBLIC;

SELECT rollout.start('ops-bot', 2, (SELECT p FROM plan), reason => 'ops test', at => '2026-02-01 10:00+00') > 0 AS started;
-- One active rollout per agent.
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 3, at => '2026-02-01 10:01+00')$$);
-- Pause, resume.
SELECT rollout.pause('ops-bot', 'investigating', at => '2026-02-01 10:05+00');
SELECT state, paused_from FROM rollout.rollouts WHERE agent = 'ops-bot';
SELECT action, detail FROM rollout.tick('2026-02-01 10:10+00');
SELECT pg_temp.err($$SELECT rollout.approve('ops-bot')$$);
SELECT rollout.resume('ops-bot', at => '2026-02-01 10:15+00');
SELECT pg_temp.err($$SELECT rollout.resume('ops-bot')$$);
SELECT state FROM rollout.rollouts WHERE agent = 'ops-bot';
-- Manual promotion: next stage, then full.
SELECT rollout.promote('ops-bot', reason => 'looks fine', at => '2026-02-01 10:20+00');
SELECT state, stage, percent FROM rollout.rollouts WHERE agent = 'ops-bot';
SELECT rollout.promote('ops-bot', "full" => true, at => '2026-02-01 10:25+00');
SELECT state, stage, percent FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;
SELECT version FROM rollout.get_version('ops-bot');
-- Rolling back a promotion puts the baseline back in production.
SELECT rollout.rollback('ops-bot', 'customer complaints', at => '2026-02-01 11:00+00');
-- ended_at stays the promotion (10:25); the undo is stamped in watch_ended_at.
SELECT state, ended_at, watch_ended_at, drain_until - watch_ended_at AS drain FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;
SELECT version FROM rollout.get_version('ops-bot');
SELECT pg_temp.err($$SELECT rollout.rollback('ops-bot')$$);

-- Retry the rolled-back candidate as a new rollout with the same plan.
SELECT rollout.retry('ops-bot', at => '2026-02-02 10:00+00') > 0 AS retried;
SELECT state, stage, candidate, retry_of IS NOT NULL AS is_retry FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;
-- A safety rollback: no drain.
SELECT rollout.rollback('ops-bot', 'unsafe output', at => '2026-02-02 10:30+00', safety => true);
SELECT state, drain_skipped, drain_until = ended_at AS no_drain FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;

-- Approvals: the one who started a rollout may not approve it.
CREATE ROLE ops_alice LOGIN;
CREATE ROLE ops_bob LOGIN;
GRANT rollout_operator TO ops_alice, ops_bob;
SET SESSION AUTHORIZATION ops_alice;
SELECT rollout.start('ops-bot', 3, (SELECT p FROM plan), at => '2026-02-03 10:00+00') > 0 AS started_by_alice;
RESET SESSION AUTHORIZATION;
UPDATE rollout.rollouts SET state = 'awaiting_approval', hold_reason = 'gate cost failed'
  WHERE agent = 'ops-bot' AND state = 'canary';
SET SESSION AUTHORIZATION ops_alice;
SELECT pg_temp.err($$SELECT rollout.approve('ops-bot')$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ops_bob;
SELECT rollout.approve('ops-bot', 'cost increase accepted', at => '2026-02-03 11:00+00');
RESET SESSION AUTHORIZATION;
SELECT state, approved_stage FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;
SELECT action, actor, reason FROM rollout.events WHERE agent = 'ops-bot' AND action IN ('start', 'approve') ORDER BY id DESC LIMIT 2;
-- A rollout_admin may approve their own rollout.
UPDATE rollout.rollouts SET state = 'awaiting_approval' WHERE agent = 'ops-bot' AND state = 'canary';
GRANT rollout_admin TO ops_alice;
SET SESSION AUTHORIZATION ops_alice;
SELECT rollout.approve('ops-bot', 'admin override', at => '2026-02-03 11:30+00');
RESET SESSION AUTHORIZATION;

-- deploy_now: the audited emergency path ends the rollout and moves production.
SELECT pg_temp.err($$SELECT rollout.deploy_now('ops-bot', 4, NULL)$$);
SELECT rollout.deploy_now('ops-bot', 4, 'hotfix for incident 42', at => '2026-02-03 12:00+00');
SELECT version FROM rollout.get_version('ops-bot');
SELECT state FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;
SELECT action, old, new, reason FROM rollout.events WHERE agent = 'ops-bot' AND action = 'deploy_now';

-- A shadow phase comes first when the plan has one.
SELECT rollout.set_label('ops-bot', 'production', 1);
SELECT rollout.start('ops-bot', 2, (SELECT p || '{"shadow": {"percent": 50, "duration": "1 hour", "min_samples": 0, "min_similarity": 0}}' FROM plan),
                     at => '2026-02-04 10:00+00') > 0 AS started;
SELECT state, stage, percent, shadow_percent FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;
SELECT pg_temp.err($$SELECT rollout.retry('ops-bot')$$);
SELECT action, detail FROM rollout.tick('2026-02-04 10:30+00');
SELECT action, detail FROM rollout.tick('2026-02-04 11:05+00');
SELECT state, stage, percent, shadow_percent FROM rollout.rollouts WHERE agent = 'ops-bot' ORDER BY id DESC LIMIT 1;
SELECT rollout.rollback('ops-bot', at => '2026-02-04 11:10+00');

-- A stage that starts inside a 5-minute window counts that window's outcomes
-- (always-valid gates count a window once it has ended: tick at 10:06).
SELECT rollout.start('ops-bot', 3, (SELECT p FROM plan), at => '2026-02-06 10:02+00') > 0 AS started;
SELECT rollout.record('ops-bot', 3, 'u' || i, success => true, at => '2026-02-06 10:03+00') FROM generate_series(1, 3) i;
SELECT rollout.record('ops-bot', 1, 'v' || i, success => true, at => '2026-02-06 10:03+00') FROM generate_series(1, 4) i;
SELECT action FROM rollout.tick('2026-02-06 10:06+00');
SELECT samples_candidate, samples_baseline FROM rollout.status WHERE agent = 'ops-bot';
SELECT gate, n_candidate, n_baseline, window_from FROM rollout.gate_results
  WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ops-bot');
SELECT rollout.rollback('ops-bot', at => '2026-02-06 10:05+00');

-- Blackouts: no advancement inside one.
SELECT rollout.in_blackout((SELECT p || '{"blackouts": [{"start": "2026-02-05 00:00", "end": "2026-02-06 00:00"}]}' FROM plan),
                           '2026-02-05 12:00+00') AS in_blackout;

-- Bad input.
SELECT pg_temp.err($$SELECT rollout.start(NULL, 2)$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', NULL)$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 99)$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 1)$$);
SELECT pg_temp.err($$SELECT rollout.start('nobody', 2)$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 2, risk => 'extreme')$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 2, '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 20, "bake": "1 hour"}, {"percent": 100}]}')$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 2, '{"gates": [{"name": "q", "metric": "qualty", "comparison": "mean", "margin": 0.1, "action": "hold"}]}')$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 2, '{"strategi": "canary"}')$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 2, '{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 77, "weight": 50}]}')$$);
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 2, at => 'infinity')$$);
SELECT pg_temp.err($$SELECT rollout.pause('ops-bot')$$);
SELECT pg_temp.err($$SELECT rollout.promote('ops-bot')$$);
SELECT pg_temp.err($$SELECT rollout.tick('-infinity')$$);
SELECT pg_temp.err($$SELECT rollout.deploy_now('ops-bot', 99, 'x')$$);
-- Nothing half-applied: still no active rollout.
SELECT count(*) AS active FROM rollout.rollouts WHERE agent = 'ops-bot' AND rollout.is_active_state(state);

-- Privileges: a service may route and record, not start rollouts or tick.
CREATE ROLE ops_svc LOGIN;
GRANT rollout_service TO ops_svc;
SET SESSION AUTHORIZATION ops_svc;
SELECT pg_temp.err($$SELECT rollout.start('ops-bot', 2)$$);
SELECT pg_temp.err($$SELECT rollout.tick()$$);
RESET SESSION AUTHORIZATION;
DROP ROLE ops_alice, ops_bob, ops_svc;
