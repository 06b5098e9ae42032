-- Hardening (issue 10): bad data and bad neighbours never stop the loop.
-- The sketch type refuses inconsistent input, outcomes are bounded, rows
-- that cannot be folded or drained go to rollout.outcome_rejects, one bad
-- rollout reports 'error' while the others tick, an aborted tick loses no
-- exposure, and lifecycle calls accept finite times and real reasons only.
\i test/sql/helpers.sql
SET timezone = 'UTC';

CREATE ROLE hard_svc LOGIN;
GRANT rollout_service TO hard_svc;
CREATE ROLE hard_ops LOGIN;
GRANT rollout_operator TO hard_ops;
CREATE ROLE hard_reader LOGIN;
GRANT rollout_reader TO hard_reader;
CREATE ROLE hard_admin LOGIN;
GRANT rollout_admin TO hard_admin;

------------------------------------------------------------------------------
-- 1. ddsketch input, combine and merge are range-checked.

-- The input that crashed the server (int32 overflow of the bucket span).
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=2 zero=0 min=1 max=2 sum=3 bins=1073741823:1,-1073741824:1'::rollout.ddsketch$$);
-- Bucket counts that add up past 2^63, with count 0.
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=0 zero=0 min=0 max=0 sum=0 bins=0:9223372036854775807,1:9223372036854775807'::rollout.ddsketch$$);
-- Non-finite min, max and sum.
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=1 zero=0 min=NaN max=Infinity sum=-Infinity bins=0:1'::rollout.ddsketch$$);
-- Out-of-range integers, inverted min/max, zero bucket counts, bad alpha.
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=99999999999999999999 zero=0 min=0 max=0 sum=0 bins='::rollout.ddsketch$$);
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=2 zero=0 min=2 max=1 sum=3 bins=0:2'::rollout.ddsketch$$);
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:0,1:1'::rollout.ddsketch$$);
SELECT pg_temp.err($$SELECT 'alpha=0.5 count=0 zero=0 min=0 max=0 sum=0 bins='::rollout.ddsketch$$);
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=16777217:1'::rollout.ddsketch$$);
SELECT pg_temp.err($$SELECT 'alpha=0.01 count=0 zero=0 min=0 max=0 sum=0 bins=x'::rollout.ddsketch$$);
-- A 1 MB input: the message echoes about 100 bytes of it.
SELECT length(pg_temp.err($$SELECT ('alpha=0.01 count=1 ' || repeat('x', 1000000))::rollout.ddsketch$$)) < 300 AS short_message;
-- Good sketches still read and print back exactly.
SELECT 'alpha=0.01 count=3 zero=0 min=1 max=9 sum=12 bins=0:1,110:2'::rollout.ddsketch;
SELECT 'alpha=0.01 count=0 zero=0 min=0 max=0 sum=0 bins='::rollout.ddsketch;
-- The extreme valid indexes combine without overflow (the span is collapsed).
SELECT rollout.ddsketch_count(rollout.ddsketch_combine(
	'alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=16777216:1',
	'alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=-16777216:1')) AS combined;
SELECT rollout.ddsketch_count(rollout.ddsketch_merge(s)) AS merged
FROM (VALUES ('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=16777216:1'::rollout.ddsketch),
			 ('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=-16777216:1')) v(s);
-- Counts that would overflow when merged are refused.
SELECT pg_temp.err($$SELECT rollout.ddsketch_combine(
	'alpha=0.01 count=4611686018427387904 zero=4611686018427387904 min=0 max=0 sum=0 bins=',
	'alpha=0.01 count=4611686018427387904 zero=4611686018427387904 min=0 max=0 sum=0 bins=')$$);
SELECT pg_temp.err($$SELECT rollout.ddsketch_merge(s) FROM (VALUES
	('alpha=0.01 count=4611686018427387904 zero=0 min=1 max=1 sum=1 bins=0:4611686018427387904'::rollout.ddsketch),
	('alpha=0.01 count=4611686018427387904 zero=0 min=1 max=1 sum=1 bins=0:4611686018427387904')) v(s)$$);
-- Sums past float8 are refused, not stored as Infinity.
SELECT pg_temp.err($$SELECT rollout.ddsketch_agg(x) FROM (VALUES (1e308::float8), (1e308)) v(x)$$);

------------------------------------------------------------------------------
-- 2. Outcomes are bounded at record(), record_batch() and the staging drain.

SELECT rollout.create_agent('bot') > 0 AS bot,
	   rollout.create_agent('a-bot') > 0 AS a_bot,
	   rollout.create_agent('b-bot') > 0 AS b_bot;
SELECT rollout.create_version(a, 'One.', 'gpt-4o-2024-08-06') AS v1,
	   rollout.create_version(a, 'Two.', 'gpt-4o-2024-08-06') AS v2
FROM unnest(ARRAY['bot', 'a-bot', 'b-bot']) a;
SELECT rollout.set_label(a, 'production', 1) FROM unnest(ARRAY['bot', 'a-bot', 'b-bot']) a;

SET SESSION AUTHORIZATION hard_svc;
-- The poisoned outcomes of the issue are refused, naming the argument and the limit.
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, 'u1', true, 0.9, 1e200, 0.1)$$);
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, 'u1', latency_ms => 1.4e154)$$);
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, 'u1', cost => 1e200)$$);
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, 'u1', metrics => '{"k": 1e400}')$$);
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, 'u1', metrics => '{"k": -1e13}')$$);
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, 'u1', metrics => (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 65) i))$$);
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, 'u1', metrics => jsonb_build_object(repeat('k', 200), 1))$$);
SELECT pg_temp.err($$SELECT rollout.record('bot', 2, repeat('u', 1025))$$);
SELECT length(pg_temp.err($$SELECT rollout.record(repeat('a', 1000000), 1)$$)) < 200 AS short_message;
SELECT pg_temp.err($$SELECT rollout.record_batch('bot', ARRAY[[1, 1], [1, 1]])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('bot', ARRAY[1, 1], latencies_ms => ARRAY[[1, 2]]::float8[])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('bot', ARRAY[1, 1], units => ARRAY['u', repeat('u', 2000)])$$);
SELECT pg_temp.err($$SELECT rollout.record_batch('bot', ARRAY[1, 1], costs => ARRAY[1, 1e13])$$);
SELECT pg_temp.err($$SELECT rollout.record_shadow_pair('bot', 1, 2, shadow_latency_ms => 1e200)$$);
-- At the limits, outcomes are accepted.
SELECT rollout.record('bot', 1, repeat('u', 1024), latency_ms => 1e12, cost => 1e12,
					  metrics => (SELECT jsonb_object_agg('k' || i, -1e12) FROM generate_series(1, 64) i));
SELECT length(pg_temp.err($$SELECT rollout.route(repeat('a', 1000000), 'u1')$$)) < 200 AS short_route_message;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION hard_reader;
SELECT length(pg_temp.err($$SELECT rollout.get_version('bot', repeat('x', 1000000))$$)) < 300 AS short_ref_message;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS recorded FROM rollout.outcomes WHERE agent = 'bot';

------------------------------------------------------------------------------
-- 3. Rows already in the table that break the bounds are set aside, never folded.

SET SESSION AUTHORIZATION hard_ops;
SELECT rollout.start('bot', 2, '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 100}]}',
					 at => '2026-01-05 09:00+00') > 0 AS started;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION hard_svc;
SELECT rollout.record('bot', v, 'u' || i, success => true, latency_ms => 100, cost => 0.01,
					  metrics => '{"tokens": 10}', at => '2026-01-05 09:01+00')
FROM generate_series(1, 2) v, generate_series(1, 5) i;
RESET SESSION AUTHORIZATION;
-- Planted as a superuser could (or as an older version accepted them).
INSERT INTO rollout.outcomes (at, agent, version, rollout_id, stage, arm, in_arm, latency_ms, cost, metrics)
SELECT '2026-01-05 09:02+00', 'bot', 2, id, 1, 'candidate', true, l, c, m::jsonb
FROM rollout.rollouts, (VALUES (1e200::float8, 0.1::float8, '{}'), (1.4e154, NULL, '{}'),
						 (1, 1e200, '{}'), (1, 1, '{"k": 1e400}'), (1, 1, '{"k": "x"}')) v(l, c, m)
WHERE agent = 'bot';
SET SESSION AUTHORIZATION hard_ops;
SELECT rollout.refresh_aggregates('2026-01-05 09:10+00') AS folded;
SELECT arm, sum(n) AS n, sum(n_latency) AS n_latency, max(sum_latency) < 1e12 AS finite_sums,
	   max((metrics->'tokens'->>'n')::int) AS tokens_n
FROM rollout.outcome_windows GROUP BY arm ORDER BY arm;
RESET SESSION AUTHORIZATION;
-- Readers and operators see the rejects; only rollout_admin deletes them.
SET SESSION AUTHORIZATION hard_reader;
SELECT source, agent, sqlstate, error FROM rollout.outcome_rejects ORDER BY error;
SELECT pg_temp.err($$DELETE FROM rollout.outcome_rejects$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION hard_ops;
SELECT count(*) AS rejects_seen_by_operator FROM rollout.outcome_rejects;
SELECT pg_temp.err($$DELETE FROM rollout.outcome_rejects$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION hard_svc;
SELECT pg_temp.err($$SELECT count(*) FROM rollout.outcome_rejects$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION hard_admin;
DELETE FROM rollout.outcome_rejects;
RESET SESSION AUTHORIZATION;

-- One undrainable staged row does not block the drain: it becomes a reject.
SET SESSION AUTHORIZATION hard_svc;
INSERT INTO rollout.outcome_staging (agent, version, success) VALUES ('bot', 999, true);
INSERT INTO rollout.outcome_staging (agent, version, success, latency_ms) VALUES ('bot', 1, true, 5);
INSERT INTO rollout.outcome_staging (agent, version, cost) VALUES ('bot', 1, 1e200);
SELECT rollout.drain_outcome_staging() AS moved;
SELECT rollout.drain_outcome_staging() AS moved_again;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS still_staged FROM rollout.outcome_staging;
SELECT source, agent, sqlstate, error, row_data->>'version' AS version FROM rollout.outcome_rejects ORDER BY id;
DELETE FROM rollout.outcome_rejects;

------------------------------------------------------------------------------
-- 4. One bad rollout reports 'error' (kept in status); the others tick.

SET SESSION AUTHORIZATION hard_ops;
SELECT rollout.start(a, 2, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}]}',
					 at => '2026-01-05 09:00+00') > 0 AS started
FROM unnest(ARRAY['a-bot', 'b-bot']) a;
RESET SESSION AUTHORIZATION;
-- A bad plan value and a bad flag percent, written behind the functions' backs.
UPDATE rollout.rollouts SET plan = plan || '{"evaluation_interval_seconds": "x"}',
	flags = '[{"name": "db_write", "percent": 1e400}]'
WHERE agent = 'a-bot' AND state = 'canary';
-- route(): only a-bot's rollout is unservable.
SET SESSION AUTHORIZATION hard_svc;
SELECT pg_temp.err($$SELECT rollout.route('a-bot', 'u1')$$);
SELECT agent, reason IS NOT NULL AS routed FROM rollout.route('b-bot', 'u1');
SELECT agent, reason IS NOT NULL AS routed FROM rollout.route('bot', 'u1');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION hard_ops;
-- (Details of healthy rollouts come from the gates; only the error's is shown.)
SELECT agent, action, CASE WHEN action = 'error' THEN detail END AS detail
FROM rollout.tick('2026-01-05 09:10+00') ORDER BY agent;
RESET SESSION AUTHORIZATION;
-- (As the superuser: rollout.status calls functions rollout_reader may not
-- execute yet, e.g. window_start; roles are issue 11.)
SELECT agent, state, last_error, last_error_at, next_evaluation FROM rollout.status ORDER BY agent;
-- Fixed, the next tick evaluates it and clears the error.
UPDATE rollout.rollouts SET plan = plan - 'evaluation_interval_seconds', flags = '[]'
WHERE agent = 'a-bot' AND state = 'canary';
SET SESSION AUTHORIZATION hard_ops;
SELECT agent, action FROM rollout.tick('2026-01-05 09:20+00') WHERE agent = 'a-bot';
RESET SESSION AUTHORIZATION;
SELECT agent, last_error FROM rollout.status WHERE agent = 'a-bot';

------------------------------------------------------------------------------
-- 5. A tick that aborts loses no exposure: route 500, abort a tick, tick again.

SELECT rollout.tick('2026-01-05 09:30+00') IS NOT NULL AS flushed_before;
SELECT coalesce(sum(exposures), 0) AS b_total_before FROM rollout.exposure_totals t
	JOIN rollout.rollouts r ON r.id = t.rollout_id WHERE r.agent = 'b-bot';
SET SESSION AUTHORIZATION hard_svc;
SELECT count(*) AS routed FROM generate_series(1, 500) i, rollout.route('b-bot', 'u' || i) d;
RESET SESSION AUTHORIZATION;
BEGIN;
SELECT count(*) > 0 AS ticked FROM rollout.tick('2026-01-05 09:40+00');
SELECT sum(exposures) AS b_total_inside FROM rollout.exposure_totals t
	JOIN rollout.rollouts r ON r.id = t.rollout_id WHERE r.agent = 'b-bot';
ROLLBACK;
SELECT count(*) > 0 AS ticked FROM rollout.tick('2026-01-05 09:50+00');
SELECT sum(exposures) AS b_total_after FROM rollout.exposure_totals t
	JOIN rollout.rollouts r ON r.id = t.rollout_id WHERE r.agent = 'b-bot';
-- Flushed and committed: the next tick adds nothing more.
SELECT count(*) > 0 AS ticked FROM rollout.tick('2026-01-05 10:00+00');
SELECT sum(exposures) AS b_total_final FROM rollout.exposure_totals t
	JOIN rollout.rollouts r ON r.id = t.rollout_id WHERE r.agent = 'b-bot';

------------------------------------------------------------------------------
-- 6. Lifecycle arguments: finite times, NULL is now(), real reasons, 'stable' reserved.

SET SESSION AUTHORIZATION hard_ops;
SELECT pg_temp.err($$SELECT rollout.pause('a-bot', at => 'infinity')$$);
SELECT pg_temp.err($$SELECT rollout.resume('a-bot', at => '-infinity')$$);
SELECT pg_temp.err($$SELECT rollout.approve('a-bot', at => 'infinity')$$);
SELECT pg_temp.err($$SELECT rollout.promote('a-bot', at => 'infinity')$$);
SELECT pg_temp.err($$SELECT rollout.rollback('a-bot', at => 'infinity')$$);
SELECT pg_temp.err($$SELECT rollout.retry('a-bot', at => 'infinity')$$);
SELECT pg_temp.err($$SELECT rollout.start('a-bot', 2, at => 'infinity')$$);
SELECT pg_temp.err($$SELECT rollout.tick('infinity')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "stable", "version": 2, "weight": 50}]}')$$);
-- Nothing half-applied: both rollouts are where they were.
SELECT agent, state, stage FROM rollout.rollouts WHERE rollout.is_active_state(state) ORDER BY agent;
-- A reason longer than a NOTIFY payload: the action happens, the event keeps it whole.
SELECT rollout.pause('a-bot', repeat('why ', 5000)) IS NOT NULL AS paused;
SELECT action, octet_length(reason) AS reason_bytes FROM rollout.events
	WHERE agent = 'a-bot' ORDER BY id DESC LIMIT 1;
-- NULL means now() in every lifecycle call.
SELECT rollout.resume('a-bot', at => NULL) IS NOT NULL AS resumed;
SELECT rollout.promote('a-bot', at => NULL) IS NOT NULL AS promoted;
SELECT abs(extract(epoch FROM at - now())) < 60 AS now_ish FROM rollout.events
	WHERE agent = 'a-bot' ORDER BY id DESC LIMIT 1;
RESET SESSION AUTHORIZATION;
-- Blank reasons, Unicode whitespace included, are refused where a reason is required.
SET SESSION AUTHORIZATION hard_admin;
SELECT pg_temp.err($$SELECT rollout.deploy_now('bot', 2, '')$$);
SELECT pg_temp.err($$SELECT rollout.deploy_now('bot', 2, E' \t\n')$$);
SELECT pg_temp.err($$SELECT rollout.deploy_now('bot', 2, U&'\00A0\3000\2003\FEFF')$$);
SELECT pg_temp.err($$SELECT rollout.deploy_now('bot', 2, 'x', at => 'infinity')$$);
SELECT version FROM rollout.get_version('bot');
RESET SESSION AUTHORIZATION;

DROP OWNED BY hard_svc, hard_ops, hard_reader, hard_admin;
DROP ROLE hard_svc, hard_ops, hard_reader, hard_admin;
