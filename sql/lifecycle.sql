-- Rollout lifecycle with a simulated clock: start, ticks that advance a
-- good candidate to promotion and roll a regressed one back, manual
-- operations, the one-active rule, approvals and blackouts.
\i test/sql/helpers.sql
\i test/sql/simulate.sql
SELECT setseed(0.42);

SELECT rollout.create_agent('lc-bot') > 0 AS created;
SELECT rollout.create_version('lc-bot', 'v1 prompt', 'model-001') AS v1,
       rollout.create_version('lc-bot', 'v2 prompt', 'model-001') AS v2,
       rollout.create_version('lc-bot', 'v3 prompt', 'model-001') AS v3;
SELECT rollout.set_label('lc-bot', 'production', 1);

-- A short plan: 10% for an hour, 50% for an hour, then 100% (promotion).
-- One acting gate on success (sequential test, always valid), one dry run.
CREATE TEMP TABLE p AS SELECT '{
  "steps": [{"percent": 10, "bake": "1 hour", "min_samples": 100},
            {"percent": 50, "bake": "1 hour", "min_samples": 100},
            {"percent": 100}],
  "evaluation_interval": "5 minutes",
  "gates": [
    {"name": "success", "metric": "success", "comparison": "rate", "margin": 0.05,
     "test": "sequential", "min_samples": 100, "window": "1 hour", "action": "rollback"},
    {"name": "quality", "metric": "quality", "comparison": "mean", "margin": 0.1,
     "test": "welch", "min_samples": 10, "window": "1 hour", "action": "dry_run"}
  ]}'::jsonb AS plan;

-- A good candidate: same success rate. It ramps 10 -> 50 -> promoted.
SELECT rollout.start('lc-bot', 2, (SELECT plan FROM p), reason => 'good candidate',
                     at => '2026-01-05 09:00+00') > 0 AS started;
SELECT state, stage, percent, baseline, candidate, strategy FROM rollout.rollouts WHERE agent = 'lc-bot';
CALL pg_temp.simulate('lc-bot', '2026-01-05 09:00+00', 480, 200, '{"1": 0.95, "2": 0.95}');
SELECT at, action, detail, state, stage, percent FROM sim_log ORDER BY seq;
TRUNCATE sim_log;
SELECT version FROM rollout.get_version('lc-bot');
SELECT stage, percent, outcome, ended_at - started_at AS duration, verdicts
  FROM rollout.stages WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'lc-bot')
  ORDER BY stage;
SELECT agent, state, stage, percent, progress, samples_needed FROM rollout.status WHERE agent = 'lc-bot';

-- A regressed candidate (0.95 -> 0.70): rolled back by its gate; production stays.
SELECT rollout.start('lc-bot', 3, (SELECT plan FROM p), reason => 'regressed candidate',
                     at => '2026-01-06 09:00+00') > 0 AS started;
CALL pg_temp.simulate('lc-bot', '2026-01-06 09:00+00', 120, 200, '{"2": 0.95, "3": 0.70}');
SELECT at, action, detail, state, stage, percent FROM sim_log ORDER BY seq;
TRUNCATE sim_log;
SELECT version FROM rollout.get_version('lc-bot');
SELECT state, stage, percent, drain_until - ended_at AS drain FROM rollout.rollouts
  WHERE agent = 'lc-bot' ORDER BY id DESC LIMIT 1;
SELECT gate, verdict, n_candidate > 0 AS has_n, p_value < 0.05 AS significant, acted
  FROM rollout.gate_results
  WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'lc-bot') AND verdict = 'fail'
  ORDER BY id LIMIT 3;

-- The audit trail of the two rollouts.
SELECT action, new->>'state' AS state, new->>'stage' AS stage, new->>'percent' AS percent, reason
  FROM rollout.events WHERE agent = 'lc-bot' AND rollout_id IS NOT NULL ORDER BY id;

-- What status says about the finished rollouts, and the comparison analysts read.
SELECT agent, rollout_id > 0 AS has_id, state, stage, percent, progress FROM rollout.status;
SELECT count(*) > 0 AS gate_rows, count(DISTINCT gate) AS gates,
       count(*) FILTER (WHERE verdict = 'fail' AND acted) AS acted_failures
  FROM rollout.gate_results;
