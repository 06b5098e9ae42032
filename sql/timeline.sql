-- rollout.timeline(): one ordered row per thing that happened to a rollout
-- (events, changes of gate verdicts, stage boundaries) with the state and
-- share after it and a sentence, read as a LOGIN member of rollout_reader.
\i test/sql/helpers.sql
\i test/sql/simulate.sql
SELECT setseed(0.14);

SELECT rollout.create_agent('tl-bot') > 0 AS created;
SELECT rollout.create_version('tl-bot', 'v1 prompt', 'model-001') AS v1,
       rollout.create_version('tl-bot', 'v2 prompt', 'model-001') AS v2,
       rollout.create_version('tl-bot', 'v3 prompt', 'model-001') AS v3;
SELECT rollout.set_label('tl-bot', 'production', 1);

CREATE TEMP TABLE p AS SELECT '{
  "steps": [{"percent": 10, "bake": "1 hour", "min_samples": 100},
            {"percent": 50, "bake": "1 hour", "min_samples": 100},
            {"percent": 100}],
  "evaluation_interval": "5 minutes",
  "gates": [
    {"name": "success", "metric": "success", "comparison": "rate", "margin": 0.05,
     "test": "sequential", "min_samples": 100, "window": "1 hour", "action": "rollback"}
  ]}'::jsonb AS plan;

-- A good candidate, paused and resumed by an operator on the way, promoted.
SELECT rollout.start('tl-bot', 2, (SELECT plan FROM p), reason => 'good candidate',
                     at => '2026-01-05 09:00+00') AS r_good \gset
CALL pg_temp.simulate('tl-bot', '2026-01-05 09:00+00', 30, 200, '{"1": 0.95, "2": 0.95}');
SELECT rollout.pause('tl-bot', 'looking at a ticket', at => '2026-01-05 09:32+00');
SELECT rollout.resume('tl-bot', 'ticket unrelated', at => '2026-01-05 09:40+00');
CALL pg_temp.simulate('tl-bot', '2026-01-05 09:40+00', 180, 200, '{"1": 0.95, "2": 0.95}');
SELECT state FROM rollout.rollouts WHERE id = :r_good;

-- A regressed candidate, rolled back by its gate.
SELECT rollout.start('tl-bot', 3, (SELECT plan FROM p), reason => 'regressed candidate',
                     at => '2026-01-06 09:00+00') AS r_bad \gset
CALL pg_temp.simulate('tl-bot', '2026-01-06 09:00+00', 120, 200, '{"2": 0.95, "3": 0.70}');
SELECT state FROM rollout.rollouts WHERE id = :r_bad;

-- The agent's own events, outside any rollout: a flag set, changed and
-- removed, the roles that serve it, an emergency deployment with no rollout
-- in flight (the label it moves is an event of its own), a quality scale
-- set, changed and removed by hand (each edit is audited).
CREATE ROLE regress_tl_svc IN ROLE rollout_service;
SELECT rollout.set_flag('tl-bot', 'web_search', 5, 'try it');
SELECT rollout.set_flag('tl-bot', 'web_search', 20);
SELECT rollout.remove_flag('tl-bot', 'web_search', 'done');
SELECT rollout.set_service_roles('tl-bot', ARRAY['regress_tl_svc']);
SELECT rollout.set_service_roles('tl-bot', NULL, 'any service again');
SELECT rollout.deploy_now('tl-bot', 1, 'v3 was bad, v2 too slow', at => '2026-01-07 09:00+00');
INSERT INTO rollout.quality_scales VALUES ('tl-bot', 0, 5);
UPDATE rollout.quality_scales SET max = 10 WHERE agent = 'tl-bot';
DELETE FROM rollout.quality_scales WHERE agent = 'tl-bot';

CREATE ROLE regress_tl_reader LOGIN IN ROLE rollout_reader;
SET SESSION AUTHORIZATION regress_tl_reader;

-- The good rollout's story: events, verdict changes and stage boundaries in order.
SELECT to_char(at AT TIME ZONE 'UTC', 'Dy HH24:MI') AS at, kind, action, state, stage, share,
       gate, verdict, actor IS NOT NULL AS has_actor,
       regexp_replace(description, ', p [0-9.e+-]+', ', p *') AS description
  FROM rollout.timeline('tl-bot', :r_good);

-- The regressed one: the failing verdict comes before the rollback it caused.
SELECT to_char(at AT TIME ZONE 'UTC', 'Dy HH24:MI') AS at, kind, action, state, stage, share,
       gate, verdict,
       regexp_replace(regexp_replace(description, ', p [0-9.e+-]+', ', p *'),
                      'candidate [0-9.]+ vs baseline [0-9.]+, n [0-9]+/[0-9]+', 'candidate * vs baseline *, n *')
         AS description
  FROM rollout.timeline('tl-bot', :r_bad);

-- Without a rollout id: both rollouts, in time order, the first before the
-- second, and the agent's own events with rollout NULL (no state or share).
SELECT CASE rollout WHEN :r_good THEN 'good' WHEN :r_bad THEN 'bad' ELSE 'agent' END AS rollout,
       count(*) > 0 AS rows,
       bool_and(at IS NOT NULL AND description IS NOT NULL
                AND (state IS NOT NULL AND share IS NOT NULL) = (rollout IS NOT NULL)) AS complete
  FROM rollout.timeline('tl-bot') GROUP BY 1 ORDER BY min(at);
-- The lifecycle's label moves (the promotion, deploy_now) carry its
-- simulated clock, January; the calls that take no time (create_agent,
-- create_version, set_label, the flags, roles and scales) the real one.
SELECT kind, action, state, stage, share,
       CASE WHEN starts_with(description, actor || ' ')
            THEN '<actor>' || substr(description, length(actor) + 1) ELSE description END AS description
  FROM rollout.timeline('tl-bot') WHERE rollout IS NULL;
SELECT bool_and(ok) AS ordered
  FROM (SELECT at >= lag(at, 1, '-infinity') OVER () AS ok FROM rollout.timeline('tl-bot')) t;
-- Each event of the agent appears once; event rows carry their events.id.
SELECT (SELECT count(*) FROM rollout.timeline('tl-bot') WHERE kind = 'event')
     = (SELECT count(*) FROM rollout.events WHERE agent = 'tl-bot') AS every_event,
       (SELECT count(*) FROM rollout.timeline('tl-bot') t JOIN rollout.events e ON e.id = t.event_id
         WHERE t.action <> e.action) AS mismatched;

-- Bad arguments.
SELECT pg_temp.err($$SELECT * FROM rollout.timeline('no-such-bot')$$);
SELECT pg_temp.err($$SELECT * FROM rollout.timeline(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM rollout.timeline('tl-bot', 999999)$$);
RESET SESSION AUTHORIZATION;

-- Services do not read the history.
CREATE ROLE regress_tl_service LOGIN IN ROLE rollout_service;
SET SESSION AUTHORIZATION regress_tl_service;
SELECT pg_temp.err($$SELECT * FROM rollout.timeline('tl-bot')$$);
RESET SESSION AUTHORIZATION;
DROP ROLE regress_tl_reader;

-- Sentences of the actions a short story may not show: an advance whose
-- share a boost had raised already, a bake extension, a blue-green switch
-- and switch back, and events whose payload is not what the writer wrote
-- (a sentence still, never NULL).
SELECT a AS action, rollout._timeline_event_text(a, 'worker', o::jsonb, n::jsonb, r) AS description
  FROM (VALUES
    ('advance', '{"stage": 1, "percent": 5}', '{"stage": 2, "percent": 5}', NULL),
    ('advance', '{"stage": 1, "percent": 1}', '{"stage": 2, "percent": 5}', NULL),
    ('extend', '{"stage": 1, "percent": 1}', '{"stage": 1, "percent": 1}', 'short of samples'),
    ('switch', '{"stage": 0, "percent": 0}', '{"stage": 1, "percent": 100}', NULL),
    ('switch_back', '{"stage": 1, "percent": 100}', '{"stage": 1, "percent": 0}', 'green failed'),
    ('promote_manual', '{"stage": 1, "percent": 5}', '{"stage": 2, "percent": 5}', NULL),
    ('alert', NULL, '{"gates": ["errors", "safety"]}', 'gates started failing: errors, safety'),
    ('alert', NULL, '{"shadow_pairs": 0}', 'no shadow pairs recorded'),
    ('set_flag', NULL, '"not an object"', NULL),
    ('remove_flag', '[1, 2]', NULL, NULL),
    ('set_label', NULL, '{}', NULL),
    ('something_new', NULL, NULL, 'from a later release')) v(a, o, n, r);
DROP ROLE regress_tl_service;
DROP ROLE regress_tl_svc;
