-- Simulation set-up (test/sim/run.sh) of one case, :kind = aa (both
-- versions succeed 90% of the time) or regression (the candidate 87%):
-- :runs rollouts, each of its own agent, all on the same plan and started
-- at the same simulated time, so that one rollout.tick() evaluates them all.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION pg_rollout;
CREATE SCHEMA sim;
SELECT setseed(:seed);

-- The plan: the medium preset's canary steps without its 3-day shadow phase
-- (1% 4 h -> 5% 8 h -> 25% 24 h -> 50% 24 h -> 100%), and one acting gate:
-- the success rate, sequential test (always valid, so a look every 5
-- minutes costs no extra false alarms), guardrail mode with a margin of one
-- point: roll back as soon as the candidate is shown to lose more than one
-- point of success rate. The window (1 day) is longer than every bake, so
-- the sequence is the whole stage so far; a 1-hour window would hold only
-- about 180 candidate outcomes at 1% and restart the sequence every hour.
CREATE TABLE sim.plan AS
SELECT (p.plan - 'shadow') || '{
  "gates": [{"name": "success", "metric": "success", "comparison": "rate",
             "test": "sequential", "mode": "guardrail", "margin": 0.01, "alpha": 0.05,
             "min_samples": 200, "window": "1 day", "action": "rollback"}]
}'::jsonb AS plan
FROM rollout.plan_presets p WHERE p.risk = 'medium';

-- One row per simulated rollout: its case and the success rate of each arm.
CREATE TABLE sim.runs (
	agent		text PRIMARY KEY,
	kind		text NOT NULL CHECK (kind IN ('aa', 'regression')),
	rate_stable	float8 NOT NULL,
	rate_candidate float8 NOT NULL,
	rollout_id	bigint
);
INSERT INTO sim.runs (agent, kind, rate_stable, rate_candidate)
SELECT :'kind' || '-' || lpad(i::text, 3, '0'), :'kind', 0.90,
	   CASE :'kind' WHEN 'aa' THEN 0.90 ELSE 0.87 END
FROM generate_series(1, :runs) i
ORDER BY 1;

-- Two versions per agent (the candidate differs only in its code_ref), the
-- first in production, and the rollout of the second.
SELECT count(rollout.create_agent(agent)) AS agents FROM sim.runs;
SELECT count(rollout.create_version(agent, 'You are a helpful agent.', 'model-2026-01-01', code_ref => 'build-1'))
	+ count(rollout.create_version(agent, 'You are a helpful agent.', 'model-2026-01-01', code_ref => 'build-2'))
	AS versions FROM sim.runs;
SELECT count(rollout.set_label(agent, 'production', 1)) AS labels FROM sim.runs;
UPDATE sim.runs s SET rollout_id = rollout.start(s.agent, 2, (SELECT plan FROM sim.plan),
												 reason => 'simulation', at => :'t0');
