-- Blue-green: blue serves everyone until an operator switches; green is then
-- compared with blue's outcomes before the switch. A green that stays good
-- for the stable period is promoted; one that fails a rollback gate is
-- switched back by tick(); an operator may switch back by hand. The share is
-- only ever 0 or 100. Verbs and tick() run as a rollout_operator member,
-- outcomes are recorded as a rollout_service member, status is read as a
-- rollout_reader member.
\i test/sql/helpers.sql
SET client_min_messages = warning;
DROP ROLE IF EXISTS bg_operator;
DROP ROLE IF EXISTS bg_service;
DROP ROLE IF EXISTS bg_reader;
RESET client_min_messages;
CREATE ROLE bg_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE bg_service LOGIN IN ROLE rollout_service;
CREATE ROLE bg_reader LOGIN IN ROLE rollout_reader;
SET TimeZone = 'UTC';

-- Each 5-minute slot: p_n outcomes of the version route() serves (every
-- 10th fails; every p_err-th is an error), then a tick.
CREATE TEMP TABLE tlog (seq serial, at timestamptz, action text, detail text);
CREATE PROCEDURE pg_temp.bg_feed(p_agent text, p_start timestamptz, p_slots integer, p_n integer,
								 p_err integer DEFAULT 50)
LANGUAGE plpgsql AS $$
DECLARE
	v_at timestamptz;
	v_rows jsonb;
	d record;
BEGIN
	FOR s IN 0 .. p_slots - 1 LOOP
		v_at := p_start + make_interval(mins => 5 * s);
		EXECUTE 'SET ROLE bg_service';
		FOR i IN 1 .. p_n LOOP
			SELECT * INTO d FROM rollout.route(p_agent, 'u' || i);
			PERFORM rollout.record(p_agent, d.version, 'u' || i, success => i % 10 <> 0,
								   error => i % p_err = 0, at => v_at + make_interval(secs => i));
		END LOOP;
		EXECUTE 'RESET ROLE';
		COMMIT;
		EXECUTE 'SET ROLE bg_operator';
		v_rows := (SELECT jsonb_agg(to_jsonb(x)) FROM rollout.tick(v_at + interval '5 minutes') x);
		EXECUTE 'RESET ROLE';
		INSERT INTO tlog (at, action, detail)
			SELECT v_at + interval '5 minutes', x.action, x.detail
			FROM jsonb_to_recordset(coalesce(v_rows, '[]')) x(action text, detail text);
		COMMIT;
	END LOOP;
END
$$;

SELECT rollout.create_agent('bg-bot') > 0 AS created;
SELECT rollout.create_version('bg-bot', 'blue', 'model-a-2026-01-01') AS blue,
       rollout.create_version('bg-bot', 'green', 'model-a-2026-01-01') AS green,
       rollout.create_version('bg-bot', 'green 2', 'model-a-2026-01-01') AS green2;
SELECT rollout.set_label('bg-bot', 'production', 1);
CREATE TEMP TABLE bg_plan AS SELECT '{
  "strategy": "blue_green", "stable_period": "1 hour",
  "gates": [{"name": "success", "metric": "success", "margin": 0.05, "min_samples": 100, "action": "hold"},
            {"name": "errors", "metric": "error", "margin": 0.05, "min_samples": 100, "action": "rollback"}]}'::jsonb AS plan;
GRANT SELECT ON bg_plan TO bg_operator;

-- A good green: blue for an hour, the switch, an hour of green, promoted.
SET ROLE bg_operator;
SELECT rollout.start('bg-bot', 2, (SELECT plan FROM bg_plan), at => '2026-05-01 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.bg_feed('bg-bot', '2026-05-01 09:00+00', 12, 40);
SET ROLE bg_reader;
SELECT state, percent, waiting_for FROM rollout.status WHERE agent = 'bg-bot';
RESET ROLE;
SELECT count(*) FILTER (WHERE version = 1) AS blue, count(*) FILTER (WHERE version = 2) AS green
  FROM rollout.outcomes WHERE agent = 'bg-bot';
SET ROLE bg_operator;
SELECT rollout.switch('bg-bot', 'release 2', at => '2026-05-01 10:00+00');
SELECT pg_temp.err($$SELECT rollout.switch('bg-bot', at => '2026-05-01 10:01+00')$$);
RESET ROLE;
SELECT percent, switched_at FROM rollout.rollouts WHERE agent = 'bg-bot';
CALL pg_temp.bg_feed('bg-bot', '2026-05-01 10:00+00', 6, 40);
SET ROLE bg_reader;
SELECT state, percent, waiting_for FROM rollout.status WHERE agent = 'bg-bot';
RESET ROLE;
CALL pg_temp.bg_feed('bg-bot', '2026-05-01 10:30+00', 8, 40);
SELECT at, action, detail FROM tlog WHERE action <> 'wait' ORDER BY seq;
SELECT gate, verdict, n_candidate, n_baseline, window_from, window_to FROM rollout.gate_results
 WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'bg-bot')
   AND at = '2026-05-01 11:00+00' ORDER BY gate;
SELECT state, percent FROM rollout.rollouts WHERE agent = 'bg-bot';
SELECT version FROM rollout.get_version('bg-bot');
SELECT action, new->>'percent' AS percent, reason FROM rollout.events
 WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'bg-bot') ORDER BY id;

-- The stable period after the promotion: version 2 serves as production
-- (its outcomes carry no rollout); tick() then stores its metrics over that
-- hour as the new baseline.
TRUNCATE tlog;
CALL pg_temp.bg_feed('bg-bot', '2026-05-01 11:10+00', 13, 40);
SELECT at, action, detail FROM tlog WHERE action <> 'wait' ORDER BY seq;
SELECT version, refreshed_at, metrics->>'n' AS n, round((metrics->>'success_rate')::numeric, 3) AS success_rate,
       round((metrics->>'error_rate')::numeric, 4) AS error_rate, metrics->>'from' AS "from", metrics->>'to' AS "to"
  FROM rollout.baselines WHERE agent = 'bg-bot';

-- A bad green: its errors rise after the switch; tick() switches back.
TRUNCATE tlog;
SET ROLE bg_operator;
SELECT rollout.start('bg-bot', 3, (SELECT plan FROM bg_plan), at => '2026-05-02 09:00+00') > 0 AS started;
RESET ROLE;
CALL pg_temp.bg_feed('bg-bot', '2026-05-02 09:00+00', 12, 40);
SET ROLE bg_operator;
SELECT rollout.switch('bg-bot', at => '2026-05-02 10:00+00');
RESET ROLE;
CALL pg_temp.bg_feed('bg-bot', '2026-05-02 10:00+00', 6, 40, p_err => 4);
SELECT at, action, detail FROM tlog WHERE action <> 'wait' ORDER BY seq;
SELECT state, percent FROM rollout.rollouts WHERE id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'bg-bot');
SELECT version FROM rollout.get_version('bg-bot');

-- By hand: switch, then switch back; switch_back before a switch, and
-- switch on a canary, are refused.
SET ROLE bg_operator;
SELECT rollout.start('bg-bot', 3, (SELECT plan FROM bg_plan), at => '2026-05-03 09:00+00') > 0 AS started;
SELECT pg_temp.err($$SELECT rollout.switch_back('bg-bot', at => '2026-05-03 09:01+00')$$);
SELECT rollout.switch('bg-bot', at => '2026-05-03 09:30+00');
SELECT rollout.switch_back('bg-bot', 'customer reports', at => '2026-05-03 09:40+00');
SELECT action, old->>'percent' AS from_percent, new->>'percent' AS to_percent, new->>'state' AS state, reason
  FROM rollout.events WHERE rollout_id = (SELECT max(id) FROM rollout.rollouts WHERE agent = 'bg-bot') ORDER BY id;
SELECT rollout.start('bg-bot', 3, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}]}',
                     at => '2026-05-04 09:00+00') > 0 AS started;
SELECT pg_temp.err($$SELECT rollout.switch('bg-bot', at => '2026-05-04 09:01+00')$$);
SELECT rollout.rollback('bg-bot', 'test over', at => '2026-05-04 09:02+00');
RESET ROLE;

DROP OWNED BY bg_operator, bg_service, bg_reader;
DROP ROLE bg_operator, bg_service, bg_reader;
