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

-- Without a rollout id: both rollouts, in time order, the first before the second.
SELECT rollout = :r_good AS first_rollout, count(*) > 0 AS rows,
       bool_and(at IS NOT NULL AND description IS NOT NULL AND state IS NOT NULL AND share IS NOT NULL) AS complete
  FROM rollout.timeline('tl-bot') GROUP BY 1 ORDER BY 1 DESC;
SELECT bool_and(ok) AS ordered
  FROM (SELECT at >= lag(at, 1, '-infinity') OVER () AS ok FROM rollout.timeline('tl-bot')) t;
-- Each event appears once; event rows carry their events.id.
SELECT (SELECT count(*) FROM rollout.timeline('tl-bot') WHERE kind = 'event')
     = (SELECT count(*) FROM rollout.events WHERE agent = 'tl-bot' AND rollout_id IS NOT NULL) AS every_event,
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
DROP ROLE regress_tl_service;
