-- Bad input to the registry: every call fails cleanly with a fitting
-- SQLSTATE, names the argument, and leaves the tables as they were.
\i test/sql/helpers.sql

CREATE TEMP TABLE counts_before AS
  SELECT (SELECT count(*) FROM rollout.agents) a, (SELECT count(*) FROM rollout.versions) v,
         (SELECT count(*) FROM rollout.labels) l, (SELECT count(*) FROM rollout.events) e;
SELECT rollout.create_agent('err-bot') > 0 AS created;
SELECT rollout.create_version('err-bot', 'p', 'model-001') AS v1;

-- names
SELECT pg_temp.err($$SELECT rollout.create_agent(NULL)$$);
SELECT pg_temp.err($$SELECT rollout.create_agent('')$$);
SELECT pg_temp.err($$SELECT rollout.create_agent('Support Bot')$$);
SELECT pg_temp.err($$SELECT rollout.create_agent('-leading-dash')$$);
SELECT pg_temp.err($$SELECT rollout.create_agent(repeat('a', 64))$$);
SELECT pg_temp.err($$SELECT rollout.create_agent('err-bot')$$);
SELECT pg_temp.err($$SELECT rollout.create_agent('ok-name', repeat('d', 10001))$$);
-- versions
SELECT pg_temp.err($$SELECT rollout.create_version(NULL, 'p', 'model-001')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('no-such-agent', 'p', 'model-001')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', NULL, 'model-001')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', NULL)$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', '  ')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', 'gpt-4o-latest')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', 'gpt-4o')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', 'model-001', params => '[]')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', 'model-001', params => NULL)$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', 'model-001', tools => '{}')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', 'model-001', few_shot => '"x"')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', repeat('p', 1048577), 'model-001')$$);
SELECT pg_temp.err($$SELECT rollout.create_version('err-bot', 'p', 'model-001', params => jsonb_build_object('k', repeat('x', 1048576)))$$);
-- labels and look-ups
SELECT pg_temp.err($$SELECT rollout.set_label('err-bot', 'production', 99)$$);
SELECT pg_temp.err($$SELECT rollout.set_label('err-bot', 'production', NULL)$$);
SELECT pg_temp.err($$SELECT rollout.set_label('err-bot', NULL, 1)$$);
SELECT pg_temp.err($$SELECT rollout.set_label('err-bot', '42', 1)$$);
SELECT pg_temp.err($$SELECT rollout.set_label('err-bot', 'Prod', 1)$$);
SELECT pg_temp.err($$SELECT rollout.set_label('nobody', 'production', 1)$$);
SELECT pg_temp.err($$SELECT * FROM rollout.get_version('err-bot')$$);
SELECT pg_temp.err($$SELECT * FROM rollout.get_version('err-bot', 'canary')$$);
SELECT pg_temp.err($$SELECT * FROM rollout.get_version('err-bot', '7')$$);
SELECT pg_temp.err($$SELECT * FROM rollout.get_version('err-bot', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM rollout.get_version('nobody')$$);
SELECT pg_temp.err($$SELECT * FROM rollout.diff('err-bot', 1, 5)$$);
SELECT pg_temp.err($$SELECT * FROM rollout.diff('err-bot', NULL, 1)$$);
SELECT pg_temp.err($$SELECT * FROM rollout.diff('nobody', 1, 2)$$);


-- Nothing half-applied: one agent, one version, one label-less state, two events.
SELECT (SELECT count(*) FROM rollout.agents) - a AS agents_added,
       (SELECT count(*) FROM rollout.versions) - v AS versions_added,
       (SELECT count(*) FROM rollout.labels) - l AS labels_added,
       (SELECT count(*) FROM rollout.events) - e AS events_added
  FROM counts_before;
