-- The role matrix (docs/security.md): one LOGIN user per role plus one with
-- none, each connected as itself (\c, not SET ROLE), then
--   1. what each login may do with every function, table, view and sequence
--      of schema rollout, read from the catalog: a new object shows up as a
--      new row, so it fails this test until its row is decided here;
--   2. each role doing its job, and being refused what is not its job;
--   3. the record: no direct writes, two-person approval, outcome authors,
--      service roles per agent, the clock tolerance, maintenance.
\set VERBOSITY terse
CREATE EXTENSION pg_rollout;
SET client_min_messages = warning;
DROP ROLE IF EXISTS rr_admin, rr_operator, rr_operator2, rr_service, rr_service2, rr_reader, rr_nobody;
RESET client_min_messages;
CREATE ROLE rr_admin LOGIN;
CREATE ROLE rr_operator LOGIN;
CREATE ROLE rr_operator2 LOGIN;
CREATE ROLE rr_service LOGIN;
CREATE ROLE rr_service2 LOGIN;
CREATE ROLE rr_reader LOGIN;
CREATE ROLE rr_nobody LOGIN;
GRANT rollout_admin TO rr_admin;
GRANT rollout_operator TO rr_operator, rr_operator2;
GRANT rollout_service TO rr_service, rr_service2;
GRANT rollout_reader TO rr_reader;
-- Clocks are real here: the test instance turns the check off for the
-- simulated clocks of other suites.
ALTER ROLE rr_admin SET rollout.clock_tolerance = 3600;
ALTER ROLE rr_service SET rollout.clock_tolerance = 3600;

-- Runs a statement; returns 'ok' or the SQLSTATE and message it raised.
CREATE FUNCTION public.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION public.try(text) TO PUBLIC;

-- What each login is allowed, per object, as seen from its own session.
CREATE TABLE public.seen (login text, kind text, object text, allowed text);
GRANT INSERT ON public.seen TO PUBLIC;
CREATE VIEW public.rollout_objects AS
	SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END AS kind,
		   p.oid::regprocedure::text AS object,
		   CASE WHEN pg_catalog.has_function_privilege(p.oid, 'EXECUTE') THEN 'x' ELSE '-' END AS allowed
	FROM pg_catalog.pg_proc p
	WHERE p.pronamespace = 'rollout'::regnamespace
	UNION ALL
	SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' ELSE 'table' END,
		   c.oid::regclass::text,
		   CASE WHEN c.relkind = 'S' THEN
				CASE WHEN pg_catalog.has_sequence_privilege(c.oid, 'USAGE') THEN 'U' ELSE '-' END
		   ELSE
				CASE WHEN pg_catalog.has_table_privilege(c.oid, 'SELECT') THEN 'r' ELSE '-' END
				|| CASE WHEN pg_catalog.has_table_privilege(c.oid, 'INSERT') THEN 'a' ELSE '-' END
				|| CASE WHEN pg_catalog.has_table_privilege(c.oid, 'UPDATE') THEN 'w' ELSE '-' END
				|| CASE WHEN pg_catalog.has_table_privilege(c.oid, 'DELETE') THEN 'd' ELSE '-' END
				|| CASE WHEN pg_catalog.has_table_privilege(c.oid, 'TRUNCATE') THEN 'D' ELSE '-' END
		   END
	FROM pg_catalog.pg_class c
	WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
	  -- daily partitions come and go; the default ones stand for them
	  AND (NOT c.relispartition OR c.relname LIKE '%\_default');
GRANT SELECT ON public.rollout_objects TO PUBLIC;

------------------------------------------------------------------------------
-- Fixture, built by each role through the public functions.
\c - rr_admin
SELECT rollout.create_agent('matrix-bot') > 0 AS created;
SELECT rollout.create_version('matrix-bot', 'One.', 'gpt-4o-2024-08-06') AS v1,
	   rollout.create_version('matrix-bot', 'Two.', 'gpt-4o-2024-08-06') AS v2;
SELECT rollout.set_label('matrix-bot', 'production', 1);
SELECT rollout.create_agent('team-b-bot', service_roles => ARRAY['rr_service2']) > 0 AS created_restricted;
SELECT rollout.create_version('team-b-bot', 'B1.', 'gpt-4o-2024-08-06') AS b1,
	   rollout.create_version('team-b-bot', 'B2.', 'gpt-4o-2024-08-06') AS b2;
SELECT rollout.set_label('team-b-bot', 'production', 1);
SELECT public.try($$SELECT rollout.create_agent('x-bot', service_roles => ARRAY['no_such_role'])$$);

\c - rr_operator
SELECT rollout.start('matrix-bot', 2, '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 100}],
	"gates": [{"name": "success", "metric": "success", "comparison": "rate", "margin": 0.1,
			   "test": "hard_limit", "min_samples": 5, "window": "1 hour", "action": "hold"}]}',
	at => rollout.window_start(now()) - interval '10 minutes') > 0 AS started;
SELECT rollout.start('team-b-bot', 2, '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 100}]}') > 0 AS started_b;

\c - rr_service
SELECT (rollout.route('matrix-bot', 'unit-1')).agent;
SELECT count(*) AS recorded FROM (
	SELECT rollout.record('matrix-bot', v, 'u' || i, success => true, latency_ms => 10 * i,
						  at => now() - interval '1 minute')
	FROM generate_series(1, 2) v, generate_series(1, 10) i) r;
SELECT rollout.record_batch('matrix-bot', ARRAY[1, 2], successes => ARRAY[true, false]) AS batch;
-- A forged author in the staging table is replaced by the login.
INSERT INTO rollout.outcome_staging (agent, version, success, author) VALUES ('matrix-bot', 1, true, 'somebody-else');
SELECT rollout.drain_outcome_staging() AS drained;
-- Another team's agent names its own service role: 42501, and nothing is written.
SELECT public.try($$SELECT rollout.route('team-b-bot', 'u')$$);
SELECT public.try($$SELECT rollout.record('team-b-bot', 2, safety_flag => true)$$);
SELECT public.try($$SELECT rollout.record_batch('team-b-bot', ARRAY[2], safety_flags => ARRAY[true])$$);
SELECT public.try($$INSERT INTO rollout.outcome_staging (agent, version) VALUES ('team-b-bot', 2)$$);
SELECT public.try($$SELECT rollout.record_shadow_pair('team-b-bot', 1, 2, similarity => 0.5)$$);
-- Outcomes may not be dated more than rollout.clock_tolerance ahead.
SELECT public.try($$SELECT rollout.record('matrix-bot', 1, at => now() + interval '2 hours')$$);
SELECT public.try($$SELECT rollout.record('matrix-bot', 1, at => now() + interval '10 minutes')$$);
SELECT public.try($$SELECT rollout.record_batch('matrix-bot', ARRAY[1], ats => ARRAY[now() + interval '1 day'])$$);
-- Services read nothing but versions.
SELECT public.try('SELECT * FROM rollout.status');
SELECT public.try('SELECT * FROM rollout.outcomes');
SELECT public.try($$SELECT rollout.start('matrix-bot', 1)$$);

\c - rr_service2
SELECT (rollout.route('team-b-bot', 'u')).agent;
SELECT rollout.record('team-b-bot', 2, success => true);

\c - rr_operator
SELECT rollout.refresh_aggregates() IS NOT NULL AS refreshed;

------------------------------------------------------------------------------
-- 2. Every role can do its job.
\c - rr_reader
SELECT agent, state, percent FROM rollout.status ORDER BY agent;
SELECT count(*) > 0 AS comparison_rows FROM rollout.comparison WHERE agent = 'matrix-bot';
SELECT count(*) > 0 AS compare_rows FROM rollout.compare((SELECT id FROM rollout.rollouts WHERE agent = 'matrix-bot'));
SELECT arm, n FROM rollout.arm_summary((SELECT id FROM rollout.rollouts WHERE agent = 'matrix-bot'),
	now() - interval '1 day', now() + interval '1 hour') ORDER BY arm;
SELECT rollout.ddsketch_quantile(rollout.ddsketch_agg(x), 0.5) > 0 AS median FROM generate_series(1, 100) x;
SELECT rollout.ddsketch_quantile(rollout.ddsketch_merge(latency_sketch), 0.5) > 0 AS merged FROM rollout.outcome_windows;
SELECT count(*) > 0 AS events FROM rollout.events;
SELECT count(*) AS exposures_visible FROM (SELECT * FROM rollout.exposures) e WHERE false;
SELECT author, count(*) FROM rollout.outcomes GROUP BY author ORDER BY author;
SELECT public.try($$SELECT rollout.route('matrix-bot', 'u')$$);
SELECT public.try($$SELECT rollout.record('matrix-bot', 1)$$);
SELECT public.try($$SELECT rollout.pause('matrix-bot')$$);
SELECT public.try($$SELECT * FROM rollout._route_secret$$);

\c - rr_nobody
SELECT public.try('SELECT * FROM rollout.status');
SELECT public.try($$SELECT rollout.route('matrix-bot', 'u')$$);

------------------------------------------------------------------------------
-- 3. The record.
\c - rr_operator
SELECT rollout.pause('matrix-bot', 'look');
SELECT rollout.resume('matrix-bot');
SELECT public.try($$SELECT rollout.maintain_outcomes()$$);
SELECT public.try($$SELECT rollout.create_agent('op-bot')$$);
SELECT public.try($$UPDATE rollout.rollouts SET percent = 100$$);

-- Two people mean two people: out of awaiting_approval, the starter can
-- neither approve nor promote.
\c - postgres
UPDATE rollout.rollouts SET state = 'awaiting_approval' WHERE agent = 'matrix-bot';
\c - rr_operator
SELECT public.try($$SELECT rollout.approve('matrix-bot')$$);
SELECT public.try($$SELECT rollout.promote('matrix-bot')$$);
SELECT public.try($$SELECT rollout.promote('matrix-bot', true)$$);
\c - rr_operator2
SELECT rollout.promote('matrix-bot', reason => 'second pair of eyes');
SELECT state, stage, percent FROM rollout.rollouts WHERE agent = 'matrix-bot';

\c - rr_admin
-- No raw writes that leave no event, rollout_admin included.
SELECT public.try($$UPDATE rollout.labels SET version = 2$$);
SELECT public.try($$DELETE FROM rollout.labels$$);
SELECT public.try($$UPDATE rollout.rollouts SET percent = 100$$);
SELECT public.try($$INSERT INTO rollout.versions (agent, version, fingerprint, system_prompt, model)
	VALUES ('matrix-bot', 9, repeat('0', 64), 'x', 'latest')$$);
SELECT public.try($$INSERT INTO rollout.events (action, actor, acting_role) VALUES ('forged', 'alice', 'alice')$$);
SELECT public.try($$INSERT INTO rollout.label_history (agent, label, new_version, actor) VALUES ('matrix-bot', 'x', 1, 'alice')$$);
SELECT public.try($$DELETE FROM rollout.gate_results$$);
SELECT public.try($$TRUNCATE rollout.label_history$$);
-- What admins edit directly leaves an event.
UPDATE rollout.outcome_settings SET retention = '60 days';
UPDATE rollout.plan_presets SET description = 'edited' WHERE risk = 'low';
SELECT action, new->>'retention' AS retention FROM rollout.events WHERE action = 'outcome_settings_update';
SELECT risk, builtin FROM rollout.plan_presets ORDER BY risk;
SELECT rollout.set_service_roles('matrix-bot', ARRAY['rr_service'], 'only team A');
SELECT action, new FROM rollout.events WHERE action = 'set_service_roles';
-- Maintenance: no clock beyond the server's, and an event for what it drops.
SELECT public.try($$SELECT rollout.maintain_outcomes('2100-01-01')$$);
SELECT public.try($$SELECT rollout.maintain_outcomes('infinity')$$);
SELECT count(*) >= 0 AS maintained FROM rollout.maintain_outcomes();

\c - rr_service2
SELECT public.try($$SELECT rollout.record('matrix-bot', 1)$$);

-- The table owner cannot truncate append-only tables either.
\c - postgres
SELECT public.try('TRUNCATE rollout.label_history');
SELECT public.try('TRUNCATE rollout.gate_results');
SELECT public.try('TRUNCATE rollout.events');
SELECT public.try('TRUNCATE rollout.versions CASCADE');

------------------------------------------------------------------------------
-- 1. The matrix: every object of schema rollout, as each login sees it.
-- Functions: x = may execute. Tables: r a w d D = SELECT INSERT UPDATE
-- DELETE TRUNCATE. Sequences: U = usage.
\c - rr_admin
INSERT INTO public.seen SELECT 'admin', * FROM public.rollout_objects;
\c - rr_operator
INSERT INTO public.seen SELECT 'operator', * FROM public.rollout_objects;
\c - rr_service
INSERT INTO public.seen SELECT 'service', * FROM public.rollout_objects;
\c - rr_reader
INSERT INTO public.seen SELECT 'reader', * FROM public.rollout_objects;
\c - rr_nobody
INSERT INTO public.seen SELECT 'none', * FROM public.rollout_objects;
\c - postgres
\pset format unaligned
SELECT pg_catalog.format('%-9s %-5s %-5s %-5s %-5s %-5s %s', kind,
		max(allowed) FILTER (WHERE login = 'admin'),
		max(allowed) FILTER (WHERE login = 'operator'),
		max(allowed) FILTER (WHERE login = 'service'),
		max(allowed) FILTER (WHERE login = 'reader'),
		max(allowed) FILTER (WHERE login = 'none'),
		object) AS "kind      admin oper. serv. read. none  object"
FROM public.seen
GROUP BY kind, object
ORDER BY kind, object COLLATE "C";
\pset format aligned

DROP EXTENSION pg_rollout CASCADE;
DROP OWNED BY rr_admin, rr_operator, rr_operator2, rr_service, rr_service2, rr_reader, rr_nobody;
DROP ROLE rr_admin, rr_operator, rr_operator2, rr_service, rr_service2, rr_reader, rr_nobody;
