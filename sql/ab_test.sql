-- A/B/n: three variants against the control (a), one clearly worse (b),
-- one clearly better (c). Every variant is compared with the control by
-- every gate, at alpha / (k - 1) each (Bonferroni); when the experiment is
-- over the test waits in awaiting_decision with its recommendation, and an
-- operator promotes the chosen variant. A variant failing a rollback gate
-- ends the test at once. Verbs and tick() run as rollout_operator members,
-- outcomes are recorded as rollout_service members, status is read as a
-- rollout_reader member.
\i test/sql/helpers.sql
SET client_min_messages = warning;
DROP ROLE IF EXISTS ab_operator;
DROP ROLE IF EXISTS ab_service;
DROP ROLE IF EXISTS ab_reader;
RESET client_min_messages;
CREATE ROLE ab_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE ab_service LOGIN IN ROLE rollout_service;
CREATE ROLE ab_reader LOGIN IN ROLE rollout_reader;
SET TimeZone = 'UTC';

-- Each 5-minute slot records p_n outcomes per version (as ab_service) and
-- ticks (as ab_operator). Success: version 1 fails every 10th, version 2
-- every 10th and 2 more in 10, version 3 every 50th; every 50th outcome of
-- every version is an error, and every p_err-th of version p_bad too.
CREATE TEMP TABLE tlog (seq serial, at timestamptz, action text, detail text);
CREATE PROCEDURE pg_temp.ab_feed(p_agent text, p_start timestamptz, p_slots integer, p_n integer,
								 p_bad integer DEFAULT 0, p_err integer DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
	v_at timestamptz;
	v_rows jsonb;
BEGIN
	FOR s IN 0 .. p_slots - 1 LOOP
		v_at := p_start + make_interval(mins => 5 * s);
		EXECUTE 'SET ROLE ab_service';
		FOR ver IN 1 .. 3 LOOP
			FOR i IN 1 .. p_n LOOP
				PERFORM rollout.record(p_agent, ver, 'u' || ver || '-' || i,
					success => CASE ver WHEN 1 THEN i % 10 <> 0
										WHEN 2 THEN i % 10 NOT IN (0, 1, 2)
										ELSE i % 50 <> 0 END,
					error => (s * p_n + i) % 50 = 0 OR (ver = p_bad AND i % p_err = 0),
					at => v_at + make_interval(secs => i * 0.5 + ver));
			END LOOP;
		END LOOP;
		EXECUTE 'RESET ROLE';
		COMMIT;
		EXECUTE 'SET ROLE ab_operator';
		v_rows := (SELECT jsonb_agg(to_jsonb(x)) FROM rollout.tick(v_at + interval '5 minutes') x);
		EXECUTE 'RESET ROLE';
		INSERT INTO tlog (at, action, detail)
			SELECT v_at + interval '5 minutes', x.action, x.detail
			FROM jsonb_to_recordset(coalesce(v_rows, '[]')) x(action text, detail text);
		COMMIT;
	END LOOP;
END
$$;

SELECT rollout.create_agent('ab-bot') > 0 AS created;
SELECT rollout.create_version('ab-bot', 'prompt a', 'model-a-2026-01-01') AS a,
       rollout.create_version('ab-bot', 'prompt b', 'model-a-2026-01-01') AS b,
       rollout.create_version('ab-bot', 'prompt c', 'model-a-2026-01-01') AS c;
SELECT rollout.set_label('ab-bot', 'production', 1);

CREATE TEMP TABLE ab_plan AS SELECT '{
  "strategy": "ab_test",
  "variants": [{"name": "a", "version": 1, "weight": 34}, {"name": "b", "version": 2, "weight": 33},
               {"name": "c", "version": 3, "weight": 33}],
  "experiment": {"duration": "4 hours", "min_samples": 500},
  "gates": [{"name": "success", "metric": "success", "margin": 0.02, "min_samples": 300, "action": "hold"},
            {"name": "errors", "metric": "error", "margin": 0.05, "min_samples": 100, "action": "rollback_now"}]}'::jsonb AS plan;
GRANT SELECT ON ab_plan TO ab_operator;
-- The control defaults to the first variant; naming one that is not a variant is refused.
SELECT rollout.validate_plan((SELECT plan FROM ab_plan))->'experiment' AS experiment;
SELECT pg_temp.err($$SELECT rollout.validate_plan((SELECT plan FROM ab_plan) || '{"experiment": {"control": "z"}}')$$);

SET ROLE ab_operator;
SELECT rollout.start('ab-bot', 2, (SELECT plan FROM ab_plan), at => '2026-04-01 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.ab_feed('ab-bot', '2026-04-01 09:00+00', 12, 40);
SET ROLE ab_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'ab-bot';
RESET ROLE;
-- Every variant but the control, every gate, alpha halved (two comparisons).
-- The detail names the hypothesis its p belongs to.
SELECT variant, gate, verdict, n_candidate, n_baseline, threshold->>'alpha' AS alpha, threshold->>'control' AS control,
       detail
  FROM rollout.gate_results
 WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot')
   AND at = '2026-04-01 10:00+00' ORDER BY variant, gate;
CALL pg_temp.ab_feed('ab-bot', '2026-04-01 10:00+00', 40, 40);
SELECT at, action, detail FROM tlog WHERE action <> 'wait' ORDER BY seq;
SET ROLE ab_reader;
SELECT state, waiting_for FROM rollout.status WHERE agent = 'ab-bot';
SELECT stage, verdicts FROM rollout.stages
 WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot');
RESET ROLE;
SELECT state, recommendation FROM rollout.rollouts WHERE agent = 'ab-bot';
SELECT variant, gate, verdict, round(value_candidate::numeric, 3) AS variant_value,
       round(value_baseline::numeric, 3) AS control_value, detail
  FROM rollout.gate_results
 WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot')
   AND at = (SELECT max(at) FROM rollout.gate_results) ORDER BY variant, gate;
-- The decision: a variant that is not in the test is refused, then c is promoted.
SET ROLE ab_operator;
SELECT pg_temp.err($$SELECT rollout.promote('ab-bot', variant => 'z', at => '2026-04-01 13:30+00')$$);
SELECT rollout.promote('ab-bot', variant => 'c', at => '2026-04-01 13:30+00');
RESET ROLE;
SELECT version FROM rollout.get_version('ab-bot');
SELECT state, candidate, recommendation FROM rollout.rollouts WHERE agent = 'ab-bot';
SELECT action, new->>'state' AS state, reason FROM rollout.events
 WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot') ORDER BY id;
SELECT stage, outcome, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(metrics) k) AS arms
  FROM rollout.stages WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot');
-- The comparison has a row per variant other than the control, against it.
SET ROLE ab_reader;
SELECT stage, arm, baseline_arm, baseline_n, candidate_n,
       round(baseline_success_rate::numeric, 3) AS control_success,
       round(candidate_success_rate::numeric, 3) AS variant_success
  FROM rollout.comparison
 WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot') AND scope = 'stage'
 ORDER BY stage, arm;
-- The test's story: a gate row when a variant's verdict changes, named by
-- variant (b's and c's verdicts of one gate are two histories).
SELECT to_char(at, 'Dy HH24:MI') AS at, kind, action, state, share, gate, variant, verdict,
       CASE WHEN starts_with(description, actor || ' ')
            THEN '<actor>' || substr(description, length(actor) + 1) ELSE description END AS description
  FROM rollout.timeline('ab-bot', (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot'));
RESET ROLE;

-- With a zero margin the detail compares without one ("worse than a",
-- "better than a"): the gates as the plan validates them.
SELECT x.arm, (x.v).verdict, (x.v).detail
  FROM (SELECT a.arm, rollout._arm_verdict(r, rollout.validate_plan(jsonb_set(p.plan, '{gates}', gs.g))->'gates'->0,
                                           a.arm, r.started_at, '2026-04-01 13:30+00', 'a', r.started_at,
                                           '2026-04-01 13:30+00', 2) AS v
          FROM rollout.rollouts r, ab_plan p, (VALUES ('b'), ('c')) a(arm),
               (VALUES ('[{"name": "success", "metric": "success", "margin": 0, "min_samples": 300}]'::jsonb),
                       ('[{"name": "errors", "metric": "error", "margin": 0, "min_samples": 100}]'::jsonb)) gs(g)
         WHERE r.id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot')) x
 ORDER BY 1, 3;

-- A variant whose errors rise ends the test at once (rollback_now); the
-- control (production) serves everyone again.
TRUNCATE tlog;
SELECT rollout.set_label('ab-bot', 'production', 1);
SET ROLE ab_operator;
SELECT rollout.start('ab-bot', 2, (SELECT plan FROM ab_plan), at => '2026-04-02 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.ab_feed('ab-bot', '2026-04-02 09:00+00', 6, 40, p_bad => 3, p_err => 4);
SELECT at, action, detail FROM tlog WHERE action <> 'wait' ORDER BY seq;
SELECT state FROM rollout.rollouts WHERE id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'ab-bot');
SELECT version FROM rollout.get_version('ab-bot');

-- promote(variant) outside an A/B test is refused.
SET ROLE ab_operator;
SELECT rollout.start('ab-bot', 2, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}]}',
                     at => '2026-04-03 09:00+00') > 0 AS started;
SELECT pg_temp.err($$SELECT rollout.promote('ab-bot', variant => 'a', at => '2026-04-03 09:05+00')$$);
SELECT rollout.rollback('ab-bot', 'test over', at => '2026-04-03 09:10+00');
RESET ROLE;

DROP OWNED BY ab_operator, ab_service, ab_reader;
DROP ROLE ab_operator, ab_service, ab_reader;
