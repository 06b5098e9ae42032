-- Each gate action in each active state of a canary: one agent per (state,
-- action) pair, one failing gate (the candidate's error rate is 50%, the
-- baseline's 0) with that action, twelve evaluations (an hour: two windows
-- of the gate, which a rollback gate with consecutive = 2 needs). The gates
-- that roll back act in every state, at the same time (rollback_now at the
-- first failure, rollback at the second failing window); hold,
-- hold_for_approval and alert act while the rollout may advance (canary,
-- holding), and a paused or approval-waiting rollout is left as a person
-- left it. "both": a rollback gate listed before a rollback_now gate, both
-- failing: rollback_now wins (no drain) in every state. Verbs and tick() run as a
-- rollout_operator member, outcomes are recorded as a rollout_service member.
\i test/sql/helpers.sql
SET client_min_messages = warning;
DROP ROLE IF EXISTS gm_operator;
DROP ROLE IF EXISTS gm_service;
RESET client_min_messages;
CREATE ROLE gm_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE gm_service LOGIN IN ROLE rollout_service;
SET TimeZone = 'UTC';

CREATE TEMP TABLE cases AS
	SELECT s AS state, a AS action, 'gm-' || s || '-' || a AS agent
	FROM unnest(ARRAY['canary', 'holding', 'paused', 'awaiting_approval']) s,
		 unnest(ARRAY['rollback_now', 'rollback', 'hold_for_approval', 'hold', 'alert', 'both']) a;
SELECT count(*) AS agents FROM cases c,
	LATERAL (SELECT rollout.create_agent(c.agent), rollout.create_version(c.agent, 'v1', 'model-a-2026-01-01'),
					rollout.create_version(c.agent, 'v2', 'model-a-2026-01-01'),
					rollout.set_label(c.agent, 'production', 1)) x;
GRANT SELECT ON cases TO gm_operator, gm_service;

-- Start every case with its gate, then put it in its state: pause() for
-- paused; holding and awaiting_approval as a failing hold or
-- hold_for_approval gate would have left them (written here directly).
SET ROLE gm_operator;
SELECT count(rollout.start(c.agent, 2, jsonb_build_object(
	'steps', '[{"percent": 10, "bake": "6 hours"}, {"percent": 100}]'::jsonb,
	'gates', (SELECT jsonb_agg(jsonb_build_object(
				'name', g.name, 'metric', 'error', 'test', 'hard_limit', 'margin', 0.02,
				'min_samples', 20, 'window', '30 minutes', 'consecutive', 2, 'action', g.action) ORDER BY g.ord)
			  FROM (SELECT 'errors' AS name, c.action AS action, 1 AS ord WHERE c.action <> 'both'
					UNION ALL SELECT 'errors', 'rollback', 1 WHERE c.action = 'both'
					UNION ALL SELECT 'errors_now', 'rollback_now', 2 WHERE c.action = 'both') g)),
	at => '2026-05-04 09:00+00')) AS started
  FROM cases c;
SELECT count(rollout.pause(c.agent, 'release freeze', at => '2026-05-04 09:01+00')) AS paused
  FROM cases c WHERE c.state = 'paused';
RESET ROLE;
UPDATE rollout.rollouts r SET state = c.state, hold_reason = 'set by the test'
  FROM cases c WHERE r.agent = c.agent AND c.state IN ('holding', 'awaiting_approval');
SELECT r.state, count(*) FROM rollout.rollouts r JOIN cases c USING (agent) GROUP BY 1 ORDER BY 1;

-- Twelve 5-minute slots: 10 candidate outcomes (every other one an error) and
-- 90 baseline outcomes per agent, then a tick.
CREATE PROCEDURE pg_temp.feed()
LANGUAGE plpgsql AS $$
DECLARE
	v_at timestamptz;
BEGIN
	FOR s IN 0 .. 11 LOOP
		v_at := '2026-05-04 09:00+00'::timestamptz + make_interval(mins => 5 * s);
		EXECUTE 'SET ROLE gm_service';
		PERFORM rollout.record(c.agent, 2, 'c' || i, success => true, error => i % 2 = 0,
							   at => v_at + make_interval(secs => 60 + i))
			FROM cases c, generate_series(1, 10) i;
		PERFORM rollout.record(c.agent, 1, 'b' || i, success => true,
							   at => v_at + make_interval(secs => 60 + i))
			FROM cases c, generate_series(1, 90) i;
		EXECUTE 'RESET ROLE';
		COMMIT;
		EXECUTE 'SET ROLE gm_operator';
		PERFORM rollout.tick(v_at + interval '5 minutes');
		EXECUTE 'RESET ROLE';
		COMMIT;
	END LOOP;
END
$$;
CALL pg_temp.feed();

SELECT c.state AS started_in, c.action, r.state AS ended_in, to_char(r.ended_at, 'HH24:MI') AS at,
	   r.drain_skipped AS no_drain,
	   (SELECT string_agg(e.action, ', ' ORDER BY e.id) FROM rollout.events e
		 WHERE e.rollout_id = r.id AND e.action NOT IN ('start', 'pause')) AS events
  FROM cases c JOIN rollout.rollouts r USING (agent)
 ORDER BY array_position(ARRAY['canary', 'holding', 'paused', 'awaiting_approval'], c.state),
		  array_position(ARRAY['rollback_now', 'rollback', 'hold_for_approval', 'hold', 'alert', 'both'], c.action);

DROP OWNED BY gm_operator, gm_service;
DROP ROLE gm_operator, gm_service;
