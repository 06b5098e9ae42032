-- Every wait has a reason, and nothing is said twice: rollout.status's
-- waiting_for in every state, hold_reason listing every failing gate and
-- cleared on release and rollback, hold / alert / SRM events once per
-- episode over many ticks, sample collection (extensions then a hold, boost
-- while gates are inconclusive), the shadow phase (no pairs, short, hold on
-- similarity and release, model swap), guards that roll back in every active
-- state, and tick() in a read-only transaction. Verbs and tick() run as a
-- member of rollout_operator, outcomes are recorded as a member of
-- rollout_service, status is read as a member of rollout_reader.
\i test/sql/helpers.sql
SET client_min_messages = warning;
DROP ROLE IF EXISTS lw_operator;
DROP ROLE IF EXISTS lw_service;
DROP ROLE IF EXISTS lw_reader;
DROP ROLE IF EXISTS lw_approver;
RESET client_min_messages;
CREATE ROLE lw_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE lw_approver LOGIN IN ROLE rollout_operator;
CREATE ROLE lw_service LOGIN IN ROLE rollout_service;
CREATE ROLE lw_reader LOGIN IN ROLE rollout_reader;
SET TimeZone = 'UTC';

-- Deterministic traffic without route(): each 5-minute slot records p_nc
-- candidate and p_nb baseline outcomes (as lw_service), commits, and ticks
-- at the end of the slot (as lw_operator). Every p_err-th candidate outcome
-- is an error, every p_fail-th candidate outcome fails, every p_safety-th is
-- flagged for safety (0: never); baseline outcomes never are. p_shadow:
-- the candidate's outcomes are shadow outputs (the shadow phase). What tick()
-- did, waits included, goes to tlog.
CREATE TEMP TABLE tlog (seq serial, at timestamptz, agent text, action text, detail text);
CREATE PROCEDURE pg_temp.feed(p_agent text, p_start timestamptz, p_slots integer,
							  p_nc integer, p_nb integer, p_err integer DEFAULT 0,
							  p_fail integer DEFAULT 0, p_safety integer DEFAULT 0,
							  p_shadow boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
	v_at timestamptz;
	v_cand integer;
	v_base integer;
	v_rows jsonb;
BEGIN
	SELECT r.candidate, r.baseline INTO v_cand, v_base FROM rollout.rollouts r
		WHERE r.agent = p_agent ORDER BY r.id DESC LIMIT 1;
	FOR s IN 0 .. p_slots - 1 LOOP
		v_at := p_start + make_interval(mins => 5 * s);
		EXECUTE 'SET ROLE lw_service';
		FOR i IN 1 .. p_nc LOOP
			PERFORM rollout.record(p_agent, v_cand, 'c' || i,
				success => NOT (p_fail > 0 AND i % p_fail = 0),
				error => p_err > 0 AND i % p_err = 0,
				safety_flag => p_safety > 0 AND i % p_safety = 0,
				shadow => p_shadow,
				at => v_at + make_interval(secs => i * 0.5));
		END LOOP;
		FOR i IN 1 .. p_nb LOOP
			PERFORM rollout.record(p_agent, v_base, 'b' || i, success => true,
				at => v_at + make_interval(secs => i * 0.25));
		END LOOP;
		EXECUTE 'RESET ROLE';
		COMMIT;
		EXECUTE 'SET ROLE lw_operator';
		v_rows := (SELECT jsonb_agg(to_jsonb(x)) FROM rollout.tick(v_at + interval '5 minutes') x);
		EXECUTE 'RESET ROLE';
		INSERT INTO tlog (at, agent, action, detail)
			SELECT v_at + interval '5 minutes', x.agent, x.action, x.detail
			FROM jsonb_to_recordset(coalesce(v_rows, '[]')) x(agent text, action text, detail text);
		COMMIT;
	END LOOP;
END
$$;

SELECT rollout.create_agent(a) > 0 AS created
  FROM unnest(ARRAY['lw-samples', 'lw-boost', 'lw-holds', 'lw-srm', 'lw-guard', 'lw-shadow', 'lw-blackout']) a;
SELECT a, rollout.create_version(a, 'v1', 'model-a-2026-01-01'), rollout.create_version(a, 'v2', 'model-a-2026-01-01'),
       rollout.create_version(a, 'v3', 'model-b-2026-02-01'), rollout.set_label(a, 'production', 1)
  FROM unnest(ARRAY['lw-samples', 'lw-boost', 'lw-holds', 'lw-srm', 'lw-guard', 'lw-shadow', 'lw-blackout']) a;

-- The events of an agent's latest rollout, counted by action.
CREATE VIEW pg_temp.ev AS
SELECT e.agent, e.action, count(*) AS n FROM rollout.events e
 WHERE e.rollout_id = (SELECT max(r.id) FROM rollout.rollouts r WHERE r.agent = e.agent)
 GROUP BY e.agent, e.action;

------------------------------------------------------------------------------
-- Samples short: the estimate at the current traffic, two extensions of the
-- bake (events, count in status), then a hold with the reason; the hold is
-- written once however many ticks it lasts, and released when the samples
-- are in.
SET ROLE lw_operator;
SELECT rollout.start('lw-samples', 2, '{
  "steps": [{"percent": 10, "bake": "1 hour", "min_samples": 1000}, {"percent": 100}],
  "extend": {"allow_boost": false, "max_extensions": 2},
  "gates": [{"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.05,
             "min_samples": 10, "window": "30 minutes", "action": "rollback"}]}',
  at => '2026-03-02 09:00+00') > 0 AS started;
RESET ROLE;
SET ROLE lw_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-samples';
RESET ROLE;
CALL pg_temp.feed('lw-samples', '2026-03-02 09:00+00', 6, 10, 90);
SET ROLE lw_reader;
SELECT state, samples_candidate, samples_needed, bake_until, waiting_for FROM rollout.status WHERE agent = 'lw-samples';
RESET ROLE;
CALL pg_temp.feed('lw-samples', '2026-03-02 09:30+00', 42, 10, 90);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-samples' AND action <> 'wait' ORDER BY seq;
SET ROLE lw_reader;
SELECT state, bake_until, hold_reason, waiting_for FROM rollout.status WHERE agent = 'lw-samples';
RESET ROLE;
SELECT extensions FROM rollout.rollouts WHERE agent = 'lw-samples';
-- Traffic ten times higher: the samples come in, the hold is released and
-- the stage passes (the last step below 100%: promotion).
TRUNCATE tlog;
CALL pg_temp.feed('lw-samples', '2026-03-02 13:00+00', 6, 100, 900);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-samples' AND action <> 'wait' ORDER BY seq;
SELECT action, n FROM pg_temp.ev WHERE agent = 'lw-samples' ORDER BY action;
SELECT state, hold_reason, waiting_for FROM rollout.status WHERE agent = 'lw-samples';

------------------------------------------------------------------------------
-- Boost while a gate is inconclusive for lack of samples: the share rises
-- to the next step's for sample collection (the boosted period counts as
-- the one extension allowed), and the stage passes as soon as the boost has
-- brought the samples.
TRUNCATE tlog;
SET ROLE lw_operator;
SELECT rollout.start('lw-boost', 2, '{
  "steps": [{"percent": 5, "bake": "1 hour"}, {"percent": 20, "bake": "1 hour"}, {"percent": 100}],
  "extend": {"allow_boost": true, "max_extensions": 1},
  "gates": [{"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.05,
             "min_samples": 200, "window": "1 hour", "action": "rollback"}]}',
  at => '2026-03-03 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-boost', '2026-03-03 09:00+00', 6, 5, 95);
SET ROLE lw_reader;
SELECT state, percent, waiting_for FROM rollout.status WHERE agent = 'lw-boost';
RESET ROLE;
CALL pg_temp.feed('lw-boost', '2026-03-03 09:30+00', 6, 5, 95);
SELECT percent, boosted FROM rollout.rollouts WHERE agent = 'lw-boost';
CALL pg_temp.feed('lw-boost', '2026-03-03 10:00+00', 12, 20, 80);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-boost' AND action <> 'wait' ORDER BY seq;
SELECT stage, percent, boosted, extensions FROM rollout.rollouts WHERE agent = 'lw-boost';
SET ROLE lw_operator;
SELECT rollout.rollback('lw-boost', 'test over', at => '2026-03-03 11:05+00');
RESET ROLE;
SELECT action, n FROM pg_temp.ev WHERE agent = 'lw-boost' ORDER BY action;

------------------------------------------------------------------------------
-- Holds and alerts: hold_reason lists every failing gate; over 24 ticks of
-- failure one hold and one alert are written; the hold is released when
-- every gate passes again (the alert's episode ends when its gate passes),
-- and a new failure is a new episode: a second hold and a second alert.
-- A rollback clears hold_reason.
TRUNCATE tlog;
SET ROLE lw_operator;
SELECT rollout.start('lw-holds', 2, '{
  "steps": [{"percent": 10, "bake": "6 hours"}, {"percent": 100}],
  "gates": [{"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.02,
             "min_samples": 20, "window": "30 minutes", "action": "hold"},
            {"name": "success", "metric": "success", "test": "hard_limit", "margin": 0.02,
             "min_samples": 20, "window": "30 minutes", "action": "hold"},
            {"name": "error_alert", "metric": "error", "test": "hard_limit", "margin": 0.01,
             "min_samples": 20, "window": "30 minutes", "action": "alert"}]}',
  at => '2026-03-04 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-holds', '2026-03-04 09:00+00', 24, 10, 90, p_err => 2, p_fail => 2);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-holds' AND action <> 'wait' ORDER BY seq;
SELECT count(*) AS ticks FROM tlog WHERE agent = 'lw-holds';
SELECT action, n FROM pg_temp.ev WHERE agent = 'lw-holds' ORDER BY action;
SET ROLE lw_reader;
SELECT state, hold_reason, waiting_for FROM rollout.status WHERE agent = 'lw-holds';
RESET ROLE;
TRUNCATE tlog;
CALL pg_temp.feed('lw-holds', '2026-03-04 11:00+00', 12, 10, 90);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-holds' AND action <> 'wait' ORDER BY seq;
SELECT state, hold_reason FROM rollout.rollouts WHERE agent = 'lw-holds';
TRUNCATE tlog;
CALL pg_temp.feed('lw-holds', '2026-03-04 12:00+00', 12, 10, 90, p_err => 2);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-holds' AND action <> 'wait' ORDER BY seq;
SELECT action, n FROM pg_temp.ev WHERE agent = 'lw-holds' ORDER BY action;
SET ROLE lw_reader;
SELECT state, hold_reason, waiting_for FROM rollout.status WHERE agent = 'lw-holds';
RESET ROLE;
SET ROLE lw_operator;
SELECT rollout.rollback('lw-holds', 'test over', at => '2026-03-04 13:05+00');
RESET ROLE;
SELECT state, hold_reason FROM rollout.rollouts WHERE agent = 'lw-holds';
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-holds';

------------------------------------------------------------------------------
-- A sample ratio mismatch (half the outcomes from a 10% candidate) holds
-- once, with a stable reason, over 36 ticks.
TRUNCATE tlog;
SET ROLE lw_operator;
SELECT rollout.start('lw-srm', 2, '{
  "steps": [{"percent": 10, "bake": "6 hours"}, {"percent": 100}],
  "gates": [{"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.05,
             "min_samples": 20, "window": "30 minutes", "action": "hold"}]}',
  at => '2026-03-05 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-srm', '2026-03-05 09:00+00', 36, 50, 50);
SELECT count(*) AS ticks, count(*) FILTER (WHERE action = 'hold') AS holds FROM tlog WHERE agent = 'lw-srm';
SELECT action, n FROM pg_temp.ev WHERE agent = 'lw-srm' ORDER BY action;
SELECT state, hold_reason LIKE 'sample ratio mismatch:%' AS srm_reason FROM rollout.rollouts WHERE agent = 'lw-srm';
SET ROLE lw_operator;
SELECT rollout.rollback('lw-srm', 'test over', at => '2026-03-05 12:05+00');
RESET ROLE;

------------------------------------------------------------------------------
-- Guards never sleep: a rollback_now gate acts in canary, holding, paused
-- and awaiting_approval. Each rollout below ends rolled back at once by the
-- safety gate, from the state it was in.
CREATE TEMP TABLE guard_plan AS SELECT '{
  "steps": [{"percent": 10, "bake": "6 hours"}, {"percent": 100}],
  "gates": [{"name": "safety", "metric": "safety", "test": "hard_limit", "margin": 0,
             "min_samples": 1, "window": "30 minutes", "action": "rollback_now"},
            {"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.02,
             "min_samples": 20, "window": "30 minutes", "action": "hold"},
            {"name": "success", "metric": "success", "test": "hard_limit", "margin": 0.02,
             "min_samples": 20, "window": "30 minutes", "action": "hold_for_approval"}]}'::jsonb AS plan;
GRANT SELECT ON guard_plan TO lw_operator;
TRUNCATE tlog;
-- canary
SET ROLE lw_operator;
SELECT rollout.start('lw-guard', 2, (SELECT plan FROM guard_plan), at => '2026-03-06 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-guard', '2026-03-06 09:00+00', 3, 10, 90);
SELECT state FROM rollout.rollouts WHERE agent = 'lw-guard' ORDER BY id DESC LIMIT 1;
CALL pg_temp.feed('lw-guard', '2026-03-06 09:15+00', 2, 10, 90, p_safety => 5);
-- holding
SET ROLE lw_operator;
SELECT rollout.start('lw-guard', 2, (SELECT plan FROM guard_plan), at => '2026-03-06 10:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-guard', '2026-03-06 10:00+00', 3, 10, 90, p_err => 2);
SELECT state FROM rollout.rollouts WHERE agent = 'lw-guard' ORDER BY id DESC LIMIT 1;
CALL pg_temp.feed('lw-guard', '2026-03-06 10:15+00', 2, 10, 90, p_err => 2, p_safety => 5);
-- paused
SET ROLE lw_operator;
SELECT rollout.start('lw-guard', 2, (SELECT plan FROM guard_plan), at => '2026-03-06 11:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-guard', '2026-03-06 11:00+00', 3, 10, 90);
SET ROLE lw_operator;
SELECT rollout.pause('lw-guard', 'waiting for the release notes', at => '2026-03-06 11:16+00');
RESET ROLE;
SET ROLE lw_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-guard';
RESET ROLE;
CALL pg_temp.feed('lw-guard', '2026-03-06 11:15+00', 2, 10, 90, p_safety => 5);
-- awaiting_approval
SET ROLE lw_operator;
SELECT rollout.start('lw-guard', 2, (SELECT plan FROM guard_plan), at => '2026-03-06 12:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-guard', '2026-03-06 12:00+00', 3, 10, 90, p_fail => 2);
SET ROLE lw_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-guard';
RESET ROLE;
CALL pg_temp.feed('lw-guard', '2026-03-06 12:15+00', 2, 10, 90, p_fail => 2, p_safety => 5);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-guard' AND action <> 'wait' ORDER BY seq;
SELECT r.id - min(r.id) OVER () AS n, e.action, e.old->>'state' AS from_state, r.state, r.hold_reason
  FROM rollout.rollouts r JOIN rollout.events e ON e.rollout_id = r.id AND e.action = 'rollback_now'
 WHERE r.agent = 'lw-guard' ORDER BY r.id;

------------------------------------------------------------------------------
-- The shadow phase says what it needs: no pairs yet (the service must record
-- them), pairs short with the time they need, a hold on low similarity
-- (once) released when similarity recovers; a model swap lengthens the phase
-- by model_swap_extension (1 hour -> 1.5 hours).
TRUNCATE tlog;
CREATE TEMP TABLE shadow_plan AS SELECT '{
  "shadow": {"percent": 100, "duration": "1 hour", "min_samples": 20, "min_similarity": 0.9,
             "model_swap_extension": 0.5},
  "steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}],
  "gates": [{"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.05,
             "min_samples": 20, "window": "30 minutes", "action": "hold"}]}'::jsonb AS plan;
GRANT SELECT ON shadow_plan TO lw_operator;
CREATE PROCEDURE pg_temp.pairs(p_agent text, p_shadow integer, p_from timestamptz, p_n integer, p_sim float8)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SET ROLE lw_service';
	FOR i IN 1 .. p_n LOOP
		PERFORM rollout.record_shadow_pair(p_agent, 1, p_shadow, 'u' || i, similarity => p_sim,
										   at => p_from + make_interval(secs => i));
	END LOOP;
	EXECUTE 'RESET ROLE';
END
$$;
SET ROLE lw_operator;
SELECT rollout.start('lw-shadow', 2, (SELECT plan FROM shadow_plan), at => '2026-03-07 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-shadow', '2026-03-07 09:00+00', 2, 0, 0);
SET ROLE lw_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-shadow';
RESET ROLE;
CALL pg_temp.pairs('lw-shadow', 2, '2026-03-07 09:10+00', 10, 0.5);
CALL pg_temp.feed('lw-shadow', '2026-03-07 09:10+00', 4, 0, 0);
SET ROLE lw_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-shadow';
RESET ROLE;
CALL pg_temp.pairs('lw-shadow', 2, '2026-03-07 09:30+00', 20, 0.5);
CALL pg_temp.feed('lw-shadow', '2026-03-07 09:30+00', 18, 0, 0);
SET ROLE lw_reader;
SELECT state, hold_reason, waiting_for FROM rollout.status WHERE agent = 'lw-shadow';
RESET ROLE;
CALL pg_temp.pairs('lw-shadow', 2, '2026-03-07 11:00+00', 300, 1.0);
CALL pg_temp.feed('lw-shadow', '2026-03-07 11:00+00', 3, 10, 90);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SELECT action, n FROM pg_temp.ev WHERE agent = 'lw-shadow' ORDER BY action;
SELECT state, stage, percent, hold_reason FROM rollout.rollouts WHERE agent = 'lw-shadow' ORDER BY id DESC LIMIT 1;
SET ROLE lw_operator;
SELECT rollout.rollback('lw-shadow', 'next: a model swap', at => '2026-03-07 11:20+00');
-- Version 3 swaps the model: the phase lasts 1.5 hours.
SELECT rollout.start('lw-shadow', 3, (SELECT plan FROM shadow_plan), at => '2026-03-08 09:00+00') > 0 AS started;
RESET ROLE;
TRUNCATE tlog;
CALL pg_temp.pairs('lw-shadow', 3, '2026-03-08 09:00+00', 50, 0.95);
CALL pg_temp.feed('lw-shadow', '2026-03-08 09:00+00', 13, 0, 0);
SET ROLE lw_reader;
SELECT state, stage, waiting_for FROM rollout.status WHERE agent = 'lw-shadow';
RESET ROLE;
CALL pg_temp.feed('lw-shadow', '2026-03-08 10:05+00', 6, 0, 0);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SET ROLE lw_operator;
SELECT rollout.rollback('lw-shadow', 'test over', at => '2026-03-08 10:40+00');
RESET ROLE;
-- Guards in the shadow phase: the candidate's shadow outputs raise safety
-- flags; its rollback_now gate ends the rollout before it serves anyone.
TRUNCATE tlog;
SET ROLE lw_operator;
SELECT rollout.start('lw-shadow', 2, (SELECT plan FROM shadow_plan) || '{"gates": [
  {"name": "safety", "metric": "safety", "test": "hard_limit", "margin": 0, "min_samples": 1,
   "window": "30 minutes", "action": "rollback_now"}]}', at => '2026-03-08 12:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-shadow', '2026-03-08 12:00+00', 2, 10, 90, p_shadow => true);
SELECT state FROM rollout.rollouts WHERE agent = 'lw-shadow' ORDER BY id DESC LIMIT 1;
CALL pg_temp.feed('lw-shadow', '2026-03-08 12:10+00', 2, 10, 90, p_safety => 5, p_shadow => true);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SELECT e.action, e.old->>'state' AS from_state, r.state, r.stage FROM rollout.rollouts r
  JOIN rollout.events e ON e.rollout_id = r.id AND e.action = 'rollback_now'
 WHERE r.id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'lw-shadow');

-- No pair at all after shadow.pair_grace (1 hour by default): the rollout
-- holds with the reason and alerts once, however many ticks follow; pairs
-- with a good similarity release it, and the phase (over) advances.
TRUNCATE tlog;
SET ROLE lw_operator;
SELECT rollout.start('lw-shadow', 2, (SELECT plan FROM shadow_plan), at => '2026-03-08 14:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-shadow', '2026-03-08 14:00+00', 18, 0, 0);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SET ROLE lw_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-shadow';
RESET ROLE;
CALL pg_temp.pairs('lw-shadow', 2, '2026-03-08 15:30+00', 30, 0.97);
CALL pg_temp.feed('lw-shadow', '2026-03-08 15:30+00', 2, 0, 0);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SELECT action, n FROM pg_temp.ev WHERE agent = 'lw-shadow' ORDER BY action;
SET ROLE lw_operator;
SELECT rollout.rollback('lw-shadow', 'test over', at => '2026-03-08 15:45+00');
RESET ROLE;

-- Strategy shadow: the phase is the whole rollout and the candidate never
-- serves a user. Paused, its guards still act on the shadow outputs. At the
-- end of the phase it waits for the approval of a second person instead of
-- promoting a version nobody was served; approved, the next tick promotes it.
TRUNCATE tlog;
CREATE TEMP TABLE shadow_only AS SELECT '{"strategy": "shadow",
  "shadow": {"percent": 100, "duration": "1 hour", "min_samples": 20, "min_similarity": 0.9},
  "gates": [{"name": "safety", "metric": "safety", "test": "hard_limit", "margin": 0, "min_samples": 1,
             "window": "30 minutes", "action": "rollback_now"}]}'::jsonb AS plan;
GRANT SELECT ON shadow_only TO lw_operator;
SET ROLE lw_operator;
SELECT rollout.start('lw-shadow', 2, (SELECT plan FROM shadow_only), at => '2026-03-09 09:00+00') > 0 AS started;
SELECT rollout.pause('lw-shadow', 'release freeze', at => '2026-03-09 09:05+00');
RESET ROLE;
CALL pg_temp.feed('lw-shadow', '2026-03-09 09:05+00', 2, 10, 90, p_safety => 5, p_shadow => true);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SELECT e.action, e.old->>'state' AS from_state, r.state, r.stage FROM rollout.rollouts r
  JOIN rollout.events e ON e.rollout_id = r.id AND e.action = 'rollback_now'
 WHERE r.id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'lw-shadow');
-- Approvals go by session user: lw_operator starts, lw_approver approves.
TRUNCATE tlog;
SET SESSION AUTHORIZATION lw_operator;
SELECT rollout.start('lw-shadow', 2, (SELECT plan FROM shadow_only), at => '2026-03-09 11:00+00') > 0 AS started;
RESET SESSION AUTHORIZATION;
CALL pg_temp.pairs('lw-shadow', 2, '2026-03-09 11:00+00', 30, 0.97);
CALL pg_temp.feed('lw-shadow', '2026-03-09 11:00+00', 15, 10, 90, p_shadow => true);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SET ROLE lw_reader;
SELECT state, stage, percent, waiting_for FROM rollout.status WHERE agent = 'lw-shadow';
RESET ROLE;
SET SESSION AUTHORIZATION lw_operator;
SELECT pg_temp.err($$SELECT rollout.approve('lw-shadow', 'mine', at => '2026-03-09 12:20+00')$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION lw_approver;
SELECT rollout.approve('lw-shadow', 'shadow outputs reviewed', at => '2026-03-09 12:20+00');
RESET SESSION AUTHORIZATION;
SELECT state, stage, approved_stage FROM rollout.rollouts WHERE agent = 'lw-shadow' ORDER BY id DESC LIMIT 1;
CALL pg_temp.feed('lw-shadow', '2026-03-09 12:20+00', 1, 0, 0);
SELECT at, action, detail FROM tlog WHERE agent = 'lw-shadow' AND action <> 'wait' ORDER BY seq;
SELECT state, stage, percent FROM rollout.rollouts WHERE agent = 'lw-shadow' ORDER BY id DESC LIMIT 1;
SELECT version FROM rollout.get_version('lw-shadow');

------------------------------------------------------------------------------
-- A blackout: the bake is over and every gate passes, but no advancing
-- before the window ends; status says until when.
TRUNCATE tlog;
SET ROLE lw_operator;
SELECT rollout.start('lw-blackout', 2, '{
  "steps": [{"percent": 10, "bake": "30 minutes"}, {"percent": 100}],
  "blackouts": [{"start": "2026-03-09 10:00", "end": "2026-03-09 14:30", "timezone": "UTC"}],
  "gates": [{"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.05,
             "min_samples": 20, "window": "30 minutes", "action": "hold"}]}',
  at => '2026-03-09 09:40+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.feed('lw-blackout', '2026-03-09 09:40+00', 9, 10, 90);
SET ROLE lw_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'lw-blackout';
RESET ROLE;
SELECT at, action, detail FROM tlog WHERE agent = 'lw-blackout' AND action <> 'wait' ORDER BY seq;
SET ROLE lw_operator;
SELECT rollout.rollback('lw-blackout', 'test over', at => '2026-03-09 10:30+00');
RESET ROLE;

------------------------------------------------------------------------------
-- A pin to a rollout ended by a safety rollback is refused with that reason
-- (docs/routing.md), not as "expired". Real time here: route() reads now().
SET ROLE lw_operator;
SELECT rollout.start('lw-blackout', 2, '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 100}],
  "gates": [{"name": "errors", "metric": "error", "test": "hard_limit", "margin": 0.05, "action": "hold"}]}') > 0 AS started;
RESET ROLE;
SET ROLE lw_service;
CREATE TEMP TABLE pinned AS
SELECT u.unit, d.pin, d.arm FROM generate_series(1, 50) i
  CROSS JOIN LATERAL (SELECT 'p' || i AS unit) u
  CROSS JOIN LATERAL rollout.route('lw-blackout', u.unit, session => 's-' || u.unit) d
 WHERE d.arm = 'candidate' LIMIT 1;
SELECT arm, pin IS NOT NULL AS has_pin FROM pinned;
RESET ROLE;
SET ROLE lw_operator;
SELECT rollout.rollback('lw-blackout', 'safety flags in the candidate', safety => true);
RESET ROLE;
SET ROLE lw_service;
SELECT d.version, d.arm, d.reason
  FROM pinned p CROSS JOIN LATERAL rollout.route('lw-blackout', p.unit, session => 's-' || p.unit, pin => p.pin) d;
RESET ROLE;

------------------------------------------------------------------------------
-- tick() where nothing may be written: a clean 25006, not a lower-level
-- error from its first write.
BEGIN TRANSACTION READ ONLY;
SET LOCAL ROLE lw_operator;
SELECT pg_temp.err($$SELECT * FROM rollout.tick('2026-03-10 09:00+00')$$);
ROLLBACK;

DROP OWNED BY lw_operator, lw_service, lw_reader, lw_approver;
DROP ROLE lw_operator, lw_service, lw_reader, lw_approver;
