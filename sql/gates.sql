-- The default gates: the error budget split, the always-valid tests through
-- tick(), the quantile tallies, and bad gate settings.
\i test/sql/helpers.sql

-- The defaults: every gate always valid, 0.0015 each of the 1% budget
-- (0.001 for the sample-ratio check), non-inferiority from 25% on.
SELECT p->>'alpha' AS alpha, p->>'srm_alpha' AS srm_alpha FROM rollout.validate_plan('{}') p;
SELECT g->>'name' AS name, g->>'test' AS test, g->>'alpha' AS alpha, g->>'pass_alpha' AS pass_alpha,
       coalesce(g->>'fail_margin', 'ratio ' || (g->>'fail_ratio')) AS fails_beyond,
       coalesce(g->>'margin', 'ratio ' || (g->>'ratio')) AS passes_within,
       g->>'prove_at_percent' AS prove_at, g->>'mode' AS mode, g->>'action' AS action
  FROM jsonb_array_elements(rollout.validate_plan('{}')->'gates') g;
-- A plan's alpha is split the same way; explicit alphas are kept and stay
-- outside the budget; alert gates get a share without taking one.
SELECT g->>'name' AS name, g->>'alpha' AS alpha
  FROM jsonb_array_elements(rollout.validate_plan('{"alpha": 0.02}')->'gates') g LIMIT 2;
SELECT g->>'name' AS name, g->>'action' AS action, g->>'alpha' AS alpha
  FROM jsonb_array_elements(rollout.validate_plan('{"alpha": 0.02, "srm_alpha": 0.005, "gates": [
    {"metric": "success", "margin": 0.02, "alpha": 0.004},
    {"metric": "quality", "margin": 0.1},
    {"metric": "error", "margin": 0, "action": "alert"},
    {"metric": "safety", "margin": 0, "action": "rollback_now"}]}')->'gates') g;
-- A normalized plan validates to itself.
SELECT rollout.validate_plan(rollout.validate_plan('{}')) = rollout.validate_plan('{}') AS idempotent;

-- Bad settings.
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"alpha": 0}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"alpha": 0.5}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"alpha": "1%"}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"srm_alpha": 0.01}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "success", "margin": 0.02, "fail_margin": 0.03}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "success", "margin": 0.02, "fail_margin": -0.01}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "success", "margin": 0.02, "fail_ratio": 0.01}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "cost", "comparison": "median", "ratio": 0.2, "fail_margin": 0.01}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "success", "margin": 0.02, "pass_alpha": 0.5}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "success", "margin": 0.02, "prove_at_percent": 101}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "error", "ratio": 0.5}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "metrics.csat", "higher_is_better": true, "comparison": "p95", "ratio": 0.1, "test": "event_share"}]}')$$);

-- Through tick(): deterministic traffic, 480 requests every 5 minutes, the
-- candidate's share by route() (the rollouts' salts come from random(),
-- seeded here). Every 10th request fails, every 100th has an error, and
-- every p_bad_every-th candidate request has an error too.
SELECT setseed(0.25);
CREATE TEMP TABLE log (at timestamptz, action text, detail text);
CREATE PROCEDURE pg_temp.traffic(p_agent text, p_start timestamptz, p_slots integer,
								 p_bad_every integer)
LANGUAGE plpgsql AS $$
DECLARE
	v_at timestamptz;
	d record;
	t record;
	v_n integer := 0;
BEGIN
	FOR slot IN 0 .. p_slots - 1 LOOP
		v_at := p_start + make_interval(mins => slot * 5);
		FOR i IN 1 .. 480 LOOP
			v_n := v_n + 1;
			SELECT * INTO d FROM rollout.route(p_agent, 'u' || v_n);
			PERFORM rollout.record(p_agent, d.version, 'u' || v_n,
				success => v_n % 10 <> 0,
				quality => 0.5 + (v_n % 7) / 20.0,
				latency_ms => 1000 + (v_n * 37) % 1000,
				cost => 0.002 + (v_n % 5) / 1000.0,
				error => v_n % 100 = 0 OR (d.arm = 'candidate' AND v_n % p_bad_every = 0),
				at => v_at + make_interval(secs => i));
		END LOOP;
		COMMIT;
		FOR t IN SELECT * FROM rollout.tick(v_at + interval '5 minutes') LOOP
			IF t.action <> 'wait' THEN
				INSERT INTO log VALUES (v_at + interval '5 minutes', t.action, t.detail);
			END IF;
		END LOOP;
		COMMIT;
		EXIT WHEN NOT EXISTS (SELECT 1 FROM rollout.rollouts r WHERE r.agent = p_agent
							  AND rollout.is_active_state(r.state));
	END LOOP;
END
$$;
SELECT rollout.create_agent('gate-bot') > 0 AS created;
SELECT rollout.create_version('gate-bot', 'Prompt A', 'model-2026-01-01') AS v1,
       rollout.create_version('gate-bot', 'Prompt B', 'model-2026-01-01') AS v2,
       rollout.create_version('gate-bot', 'Prompt C', 'model-2026-01-01') AS v3;
SELECT rollout.set_label('gate-bot', 'production', 1);

-- A healthy candidate on a short plan with the default gates: no harm shown
-- at 10%, non-inferiority shown at 50% (the last step before 100%).
SELECT rollout.start('gate-bot', 2, '{"steps": [{"percent": 10, "bake": "1 hour", "min_samples": 100},
                                                 {"percent": 50, "bake": "1 hour"}, {"percent": 100}]}',
                     at => '2026-05-04 08:00+00') > 0 AS started;
CALL pg_temp.traffic('gate-bot', '2026-05-04 08:00+00', 72, 1000000);
SELECT at, action, detail FROM log ORDER BY at, action;
TRUNCATE log;
-- Every verdict of each stage's last evaluation, with what it read.
SELECT stage, gate, verdict, n_candidate > 0 AS has_candidate, detail
  FROM rollout.gate_results WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts)
   AND (stage, at) IN (SELECT stage, max(at) FROM rollout.gate_results
                       WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts) GROUP BY stage)
  ORDER BY stage, gate;
-- The tallies hold the ended windows up to each stage's last evaluation and
-- none after it; latency and cost thresholds came from the baseline before
-- the windows they were applied to.
SELECT x.gate, x.stage, x.n_candidate > 0 AS counted,
       x.counted_to = (SELECT max(g.at) FROM rollout.gate_results g
                       WHERE g.rollout_id = x.rollout_id AND g.stage = x.stage) AS up_to_last_evaluation,
       x.baseline_quantile IS NOT NULL AS has_threshold
  FROM rollout.gate_tallies x WHERE x.rollout_id = (SELECT max(id) FROM rollout.rollouts)
  ORDER BY x.gate, x.stage;

-- A severe regression: every 4th candidate request fails (25% errors against
-- 1%). The reliability gate rolls it back at 10% on a handful of events,
-- long before its 500 samples.
SELECT rollout.start('gate-bot', 3, '{"steps": [{"percent": 10, "bake": "1 hour", "min_samples": 100},
                                                 {"percent": 50, "bake": "1 hour"}, {"percent": 100}]}',
                     at => '2026-05-05 08:00+00') > 0 AS started;
CALL pg_temp.traffic('gate-bot', '2026-05-05 08:00+00', 24, 4);
SELECT at, action, detail FROM log ORDER BY at, action;
SELECT gate, verdict, n_candidate < 500 AS before_min_samples, value_candidate > value_baseline AS worse,
       p_value < 0.0015 AS below_alpha, detail
  FROM rollout.gate_results WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts) AND verdict = 'fail';
SELECT state, stage FROM rollout.rollouts WHERE id = (SELECT max(id) FROM rollout.rollouts);

-- A custom metric's mean is tested like a built-in one. Feedback has no
-- sums of squares in the windows: its mean is compared as a limit, and a
-- test of it is refused up front.
SELECT rollout.validate_plan('{"gates": [{"metric": "feedback", "margin": 0.5}]}')->'gates'->0->>'test' AS feedback_test;
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"gates": [{"metric": "feedback", "margin": 0.5, "test": "sequential"}]}')$$);
SELECT rollout.start('gate-bot', 3, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}],
  "gates": [{"metric": "success", "margin": 0.02},
            {"name": "csat", "metric": "metrics.csat", "higher_is_better": true, "margin": 0.1, "test": "sequential"}]}',
                     at => '2026-05-06 08:00+00') > 0 AS started;
SELECT count(rollout.record('gate-bot', d.version, 'c' || i, success => true, metrics => jsonb_build_object('csat', 3 + i % 3),
                            at => '2026-05-06 08:01+00'))
  FROM generate_series(1, 400) i, rollout.route('gate-bot', 'c' || i) d;
SELECT action FROM rollout.tick('2026-05-06 08:10+00');
SELECT gate, verdict, detail FROM rollout.gate_results
  WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts) ORDER BY id;
SELECT rollout.rollback('gate-bot', 'test over', at => '2026-05-06 08:15+00');

-- An alert gate alerts once per failure episode: when it starts failing,
-- again only after it has passed (a new stage does not start a new
-- episode), never at every evaluation; it does not stop the rollout: the
-- error spike below alerts once, and the rollout still advances.
TRUNCATE log;
SELECT rollout.start('gate-bot', 3, '{"steps": [{"percent": 10, "bake": "30 minutes"}, {"percent": 50, "bake": "30 minutes"}, {"percent": 100}],
  "gates": [{"metric": "quality", "margin": 0.1, "min_samples": 50},
            {"name": "errors", "metric": "error", "margin": 0, "action": "alert"}]}',
                     at => '2026-05-07 08:00+00') > 0 AS started;
CALL pg_temp.traffic('gate-bot', '2026-05-07 08:00+00', 12, 4);
SELECT at, action, detail FROM log ORDER BY at, action;
SELECT action, reason FROM rollout.events
  WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts) AND action IN ('alert', 'advance', 'hold') ORDER BY id;
SELECT rollout.rollback('gate-bot', 'test over', at => '2026-05-07 09:05+00');

-- Pausing stops advancement, never protection: a paused rollout whose
-- candidate starts failing is still rolled back by its rollback gate.
TRUNCATE log;
SELECT rollout.start('gate-bot', 3, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}]}',
                     at => '2026-05-08 08:00+00') > 0 AS started;
SELECT rollout.pause('gate-bot', 'release freeze', at => '2026-05-08 08:01+00');
CALL pg_temp.traffic('gate-bot', '2026-05-08 08:00+00', 12, 4);
SELECT at, action, detail FROM log ORDER BY at, action;
SELECT state FROM rollout.rollouts WHERE id = (SELECT max(id) FROM rollout.rollouts);
SELECT action, old->>'state' AS was, reason FROM rollout.events
  WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts) ORDER BY id;
