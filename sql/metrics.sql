-- rollout.metrics: the rows contrib/prometheus/queries.yaml maps to series,
-- read as a LOGIN member of rollout_reader during a running canary.
\i test/sql/helpers.sql
\i test/sql/simulate.sql
SELECT setseed(0.71);

SELECT rollout.create_agent('mx-bot') > 0 AS created;
SELECT rollout.create_version('mx-bot', 'v1 prompt', 'model-001') AS v1,
       rollout.create_version('mx-bot', 'v2 prompt', 'model-001') AS v2;
SELECT rollout.set_label('mx-bot', 'production', 1);

-- Before any rollout: only the global gauges.
SELECT metric, type, value FROM rollout.metrics ORDER BY metric;

SELECT rollout.start('mx-bot', 2, '{
  "steps": [{"percent": 20, "bake": "1 day", "min_samples": 100}, {"percent": 100}],
  "evaluation_interval": "5 minutes",
  "gates": [
    {"name": "success", "metric": "success", "comparison": "rate", "margin": 0.05,
     "test": "sequential", "min_samples": 100, "window": "1 hour", "action": "rollback"},
    {"name": "errors", "metric": "error", "comparison": "rate", "margin": 0.01,
     "test": "hard_limit", "min_samples": 50, "window": "1 hour", "action": "hold"}]}',
  at => rollout.window_start(now()) - interval '30 minutes') AS rid \gset
-- 400 requests routed and recorded with latency, then a tick: verdicts, exposures flushed.
SELECT count(*) AS recorded FROM (
  SELECT rollout.record('mx-bot', (d).version, 'u' || i, success => i % 10 <> 0,
                        latency_ms => 100 + i % 50, error => i % 25 = 0,
                        at => now() - interval '20 minutes')
  FROM (SELECT i, rollout.route('mx-bot', 'u' || i) AS d FROM generate_series(1, 400) i) r) x;
SELECT action FROM rollout.tick();

CREATE ROLE regress_mx_reader LOGIN IN ROLE rollout_reader;
SET SESSION AUTHORIZATION regress_mx_reader;

-- Every metric, its type and label set (time-dependent values aside).
SELECT metric, type, agent IS NOT NULL AS agent, rollout_id IS NOT NULL AS rollout,
       count(*) AS series, array_agg(DISTINCT arm) FILTER (WHERE arm IS NOT NULL) AS arms,
       array_agg(DISTINCT coalesce(gate, '') || coalesce(state, '') || coalesce(verdict, '') || coalesce(quantile, ''))
         FILTER (WHERE coalesce(gate, state, verdict, quantile) IS NOT NULL) AS labels,
       bool_and(help <> '') AS helped
  FROM rollout.metrics GROUP BY 1, 2, 3, 4 ORDER BY 1;

-- State, stage and share agree with rollout.status (read as the superuser).
SELECT m.state, m.value FROM rollout.metrics m WHERE m.metric = 'state' AND m.value = 1;
RESET SESSION AUTHORIZATION;
SELECT s.percent AS st_percent, s.stage AS st_stage, s.samples_candidate AS st_cand,
       s.samples_baseline AS st_base, s.samples_needed AS st_needed,
       extract(epoch FROM s.bake_left) AS st_bake
  FROM rollout.status s WHERE s.agent = 'mx-bot' \gset
SET SESSION AUTHORIZATION regress_mx_reader;
SELECT (SELECT value FROM rollout.metrics WHERE metric = 'candidate_percent') = :st_percent AS percent_ok,
       (SELECT value FROM rollout.metrics WHERE metric = 'stage') = :st_stage AS stage_ok,
       (SELECT value FROM rollout.metrics WHERE metric = 'samples' AND arm = 'candidate') = :st_cand AS cand_ok,
       (SELECT value FROM rollout.metrics WHERE metric = 'samples' AND arm = 'stable') = :st_base AS base_ok,
       (SELECT value FROM rollout.metrics WHERE metric = 'samples_needed') = :st_needed AS needed_ok,
       (SELECT value FROM rollout.metrics WHERE metric = 'bake_seconds_left') = :st_bake AS bake_ok;
-- Samples add up to what was recorded; exposures to what was routed.
SELECT sum(value) FILTER (WHERE metric = 'samples') AS samples,
       sum(value) FILTER (WHERE metric = 'exposures') AS exposures
  FROM rollout.metrics;
-- Gate verdicts agree with the latest gate_results rows, one verdict set per gate.
SELECT m.gate, m.verdict,
       m.verdict = (SELECT g.verdict FROM rollout.gate_results g WHERE g.rollout_id = m.rollout_id
                    AND g.gate = m.gate ORDER BY g.id DESC LIMIT 1) AS matches
  FROM rollout.metrics m WHERE m.metric = 'gate_verdict' AND m.value = 1 ORDER BY 1;
-- Rates per arm: i % 10 <> 0 succeeds, i % 25 = 0 errs (by construction, within rounding).
SELECT metric, arm, round(value::numeric, 2) AS value FROM rollout.metrics
  WHERE metric IN ('success_rate', 'error_rate', 'safety_rate') ORDER BY metric, arm;
SELECT arm, quantile, value BETWEEN 99 AND 151 AS plausible FROM rollout.metrics
  WHERE metric = 'latency_ms' ORDER BY arm, quantile;
SELECT value >= 0 AS fresh FROM rollout.metrics WHERE metric IN ('seconds_since_tick', 'seconds_since_evaluation');

-- Counters follow the audit log: a rollback counts once and the state moves.
RESET SESSION AUTHORIZATION;
SELECT rollout.rollback('mx-bot', 'metrics test');
SET SESSION AUTHORIZATION regress_mx_reader;
SELECT metric, state, value FROM rollout.metrics
  WHERE metric IN ('rollbacks', 'promotions', 'holds', 'active_rollouts', 'candidate_percent')
     OR (metric = 'state' AND value = 1)
  ORDER BY metric;
RESET SESSION AUTHORIZATION;

-- Services do not read metrics.
CREATE ROLE regress_mx_service LOGIN IN ROLE rollout_service;
SET SESSION AUTHORIZATION regress_mx_service;
SELECT pg_temp.err($$SELECT * FROM rollout.metrics$$);
RESET SESSION AUTHORIZATION;
DROP ROLE regress_mx_reader;
DROP ROLE regress_mx_service;
