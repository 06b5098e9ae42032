-- Decision identity (issue 12): route() returns a decision_token naming the
-- rollout, stage, arm and version that served the request; record() with
-- it stores the outcome under exactly that decision, whatever happened
-- since. Routes 200 units under rollout R1, rolls R1 back, starts R2, and
-- records: with the token every outcome lands in R1 with its arm; without
-- it (the time-based fall-back) they land in R2. Then the other paths
-- (batch, staging, shadow pairs, shadow outcomes, stages, outside a
-- rollout) and the lifecycle's lock-order rules: rollback() of a promotion
-- that production no longer serves, set_label() during a rollout.
-- Services and operators act as LOGIN members of their roles.
\i test/sql/helpers.sql

CREATE ROLE dec_svc LOGIN IN ROLE rollout_service;
CREATE ROLE dec_ops LOGIN IN ROLE rollout_operator;
CREATE ROLE dec_admin LOGIN IN ROLE rollout_admin;

SELECT rollout.create_agent('dec-bot') > 0 AS created;
SELECT rollout.create_version('dec-bot', 'p' || i, 'model-001') FROM generate_series(1, 4) i;
SELECT rollout.set_label('dec-bot', 'production', 1);
CREATE TEMP TABLE plan AS SELECT '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 90, "bake": "1 hour"}, {"percent": 100}],
  "gates": [{"name": "success", "metric": "success", "comparison": "rate", "margin": 0.05,
             "test": "sequential", "min_samples": 10, "window": "1 hour", "action": "hold"}]}'::jsonb AS p;
GRANT SELECT ON plan TO PUBLIC;

-- Outside a rollout the token names no rollout: rollout 0, no arm.
SET SESSION AUTHORIZATION dec_svc;
CREATE TEMP TABLE before_r1 AS SELECT (rollout.route('dec-bot', 'early')).*;
SELECT version, arm, rollout_id, decision_token ~ '^d1\.0\.0\.1\.\.[0-9a-f]{32}$' AS no_rollout_token
FROM before_r1;
RESET SESSION AUTHORIZATION;

-- R1: candidate 2 at 50 %. The service routes 200 units.
SET SESSION AUTHORIZATION dec_ops;
SELECT rollout.start('dec-bot', 2, (SELECT p FROM plan), reason => 'R1') AS r1 \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dec_svc;
CREATE TEMP TABLE served AS
	SELECT 'u' || i AS unit, d.* FROM generate_series(1, 200) i,
		LATERAL rollout.route('dec-bot', 'u' || i) d;
SELECT count(*) AS decisions, count(DISTINCT arm) AS arms,
	   bool_and(rollout_id = :r1) AS all_r1,
	   bool_and(decision_token = format('d1.%s.%s.%s.%s.', rollout_id, stage, version, arm)
				|| right(decision_token, 32)) AS token_names_decision,
	   count(DISTINCT decision_token) AS distinct_tokens
FROM served;
GRANT SELECT ON served, before_r1 TO PUBLIC;
RESET SESSION AUTHORIZATION;

-- R1 is rolled back; production is still 1; R2 starts with candidate 3.
SET SESSION AUTHORIZATION dec_ops;
SELECT rollout.rollback('dec-bot', 'R1 regressed');
SELECT rollout.start('dec-bot', 3, (SELECT p FROM plan), reason => 'R2') AS r2 \gset
RESET SESSION AUTHORIZATION;

-- The outcomes arrive now, after the flip: with the token they count for
-- R1 and the arm that served them; without it, by time, for R2.
SET SESSION AUTHORIZATION dec_svc;
SELECT count(*) AS recorded FROM (
	SELECT rollout.record('dec-bot', s.version, 'tok-' || s.unit, success => true,
						  decision_token => s.decision_token) FROM served s) x;
SELECT count(*) AS recorded FROM (
	SELECT rollout.record('dec-bot', s.version, 'time-' || s.unit, success => true) FROM served s) x;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS with_token,
	   count(*) FILTER (WHERE o.rollout_id = s.rollout_id AND o.stage = s.stage
						  AND o.arm = s.arm AND o.in_arm) AS in_their_decision,
	   count(*) FILTER (WHERE o.rollout_id = :r1) AS in_r1
FROM rollout.outcomes o JOIN served s ON o.unit = 'tok-' || s.unit;
SELECT count(*) AS by_time, count(*) FILTER (WHERE o.rollout_id = :r1) AS in_r1,
	   count(*) FILTER (WHERE o.rollout_id = :r2) AS in_r2
FROM rollout.outcomes o JOIN served s ON o.unit = 'time-' || s.unit;
-- The token outcomes are R1's after folding (late: after R1 ended, so no
-- gate of R1 acts on them, but its history and comparison count them).
SELECT rollout.refresh_aggregates() > 0 AS folded;
SELECT sum(w.n) = (SELECT count(*) FROM served) AS r1_windows_hold_them
FROM rollout.outcome_windows w WHERE w.rollout_id = :r1;

-- A decision outside any rollout is stored outside any rollout, even
-- though R2's stable arm serves the same version now.
SET SESSION AUTHORIZATION dec_svc;
SELECT rollout.record('dec-bot', 1, 'early', success => true,
					  decision_token => (SELECT decision_token FROM before_r1));
SELECT rollout_id = :r2 AS r2_by_time, stage FROM rollout.outcome_context('dec-bot', 1);
RESET SESSION AUTHORIZATION;
SELECT rollout_id, arm, in_arm FROM rollout.outcomes WHERE unit = 'early';

-- Stages: a stage-1 decision recorded after R2 advanced stays in stage 1.
SET SESSION AUTHORIZATION dec_svc;
CREATE TEMP TABLE stage1 AS SELECT (rollout.route('dec-bot', 'st')).*;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dec_ops;
SELECT rollout.promote('dec-bot', reason => 'next stage');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dec_svc;
SELECT rollout.record('dec-bot', version, 'st', success => true, decision_token => decision_token)
FROM stage1;
RESET SESSION AUTHORIZATION;
SELECT o.rollout_id = :r2 AS r2, o.stage, r.stage AS rollout_stage_now, o.arm = s.arm AS same_arm
FROM rollout.outcomes o JOIN stage1 s ON true JOIN rollout.rollouts r ON r.id = o.rollout_id
WHERE o.unit = 'st';

-- Batches, staging (COPY path) and shadow pairs take tokens too.
SET SESSION AUTHORIZATION dec_svc;
SELECT rollout.record_batch('dec-bot', array_agg(s.version), array_agg('batch-' || s.unit),
							successes => array_agg(true), decision_tokens => array_agg(s.decision_token))
FROM (SELECT * FROM served ORDER BY unit LIMIT 20) s;
INSERT INTO rollout.outcome_staging (agent, version, unit, success, decision_token)
SELECT 'dec-bot', s.version, 'staged-' || s.unit, true, s.decision_token
FROM (SELECT * FROM served ORDER BY unit LIMIT 10) s;
SELECT rollout.drain_outcome_staging() AS drained;
SELECT rollout.record_shadow_pair('dec-bot', 1, 2, 'pair', similarity => 0.95,
								  decision_token => (SELECT decision_token FROM served WHERE arm = 'stable' LIMIT 1));
-- A shadow outcome: the candidate's run beside a stable request of R1.
SELECT rollout.record('dec-bot', 2, 'shadow-run', success => true, shadow => true,
					  decision_token => (SELECT decision_token FROM served WHERE arm = 'stable' LIMIT 1));
RESET SESSION AUTHORIZATION;
SELECT left(o.unit, 6) AS path, count(*) AS n,
	   count(*) FILTER (WHERE o.rollout_id = s.rollout_id AND o.arm = s.arm) AS in_their_decision
FROM rollout.outcomes o JOIN served s ON o.unit IN ('batch-' || s.unit, 'staged-' || s.unit)
GROUP BY 1 ORDER BY 1;
SELECT rollout_id = :r1 AS r1, stage FROM rollout.shadow_pairs WHERE unit = 'pair';
SELECT rollout_id = :r1 AS r1, arm, shadow FROM rollout.outcomes WHERE unit = 'shadow-run';

-- Bad tokens: clean errors, nothing stored (the corpus has many more).
SET SESSION AUTHORIZATION dec_svc;
SELECT pg_temp.err($$SELECT rollout.record('dec-bot', 1, decision_token => 'not a token')$$);
SELECT pg_temp.err($$SELECT rollout.record('dec-bot', 3, decision_token => (SELECT decision_token FROM before_r1))$$);
SELECT pg_temp.err($$SELECT rollout.record('dec-bot', 1, decision_token => replace((SELECT decision_token FROM before_r1), 'd1.0.0.1.', 'd1.0.0.3.'))$$);
SELECT pg_temp.err($$SELECT rollout.record('dec-bot', 4, shadow => true, decision_token => (SELECT decision_token FROM served WHERE arm = 'stable' LIMIT 1))$$);
SELECT pg_temp.err($$SELECT rollout.record('dec-bot', 1, decision_token => repeat('d1.', 100))$$);
RESET SESSION AUTHORIZATION;
-- Rotating the secret invalidates tokens in flight, as it does pins.
SET SESSION AUTHORIZATION dec_admin;
SELECT rollout.rotate_pin_secret('test');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dec_svc;
SELECT pg_temp.err($$SELECT rollout.record('dec-bot', 1, decision_token => (SELECT decision_token FROM before_r1))$$);
RESET SESSION AUTHORIZATION;

-- Lifecycle: production cannot move under an active rollout.
SET SESSION AUTHORIZATION dec_admin;
SELECT pg_temp.err($$SELECT rollout.set_label('dec-bot', 'production', 4)$$);
SELECT rollout.set_label('dec-bot', 'staging', 4);
SELECT rollout.set_label('dec-bot', 'production', 1);
RESET SESSION AUTHORIZATION;
-- Promote R2 fully: ended_at is the promotion and stays it.
SET SESSION AUTHORIZATION dec_ops;
SELECT rollout.promote('dec-bot', "full" => true);
RESET SESSION AUTHORIZATION;
CREATE TEMP TABLE promoted AS SELECT id, ended_at FROM rollout.rollouts WHERE id = :r2;
-- After deploy_now(4), undoing R2's promotion would discard the hotfix.
SET SESSION AUTHORIZATION dec_admin;
SELECT rollout.deploy_now('dec-bot', 4, 'hotfix');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dec_ops;
SELECT pg_temp.err($$SELECT rollout.rollback('dec-bot')$$);
RESET SESSION AUTHORIZATION;
SELECT version FROM rollout.get_version('dec-bot');
-- Back on R2's candidate, the undo is allowed; R2's interval does not move.
SET SESSION AUTHORIZATION dec_admin;
SELECT rollout.set_label('dec-bot', 'production', 3);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dec_ops;
SELECT rollout.rollback('dec-bot', 'undo');
RESET SESSION AUTHORIZATION;
SELECT r.state, r.ended_at = p.ended_at AS ended_at_kept, r.watch_ended_at >= r.ended_at AS watch_stamped
FROM rollout.rollouts r JOIN promoted p USING (id);
SELECT version FROM rollout.get_version('dec-bot');
