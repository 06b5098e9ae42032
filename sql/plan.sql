-- Rollout plans: presets, normalization of each strategy, blackout windows,
-- preset edits.
\i test/sql/helpers.sql

-- Compact view of a normalized plan's timeline.
CREATE FUNCTION pg_temp.timeline(n jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce('shadow ' || (n->'shadow'->>'percent') || '% ' || (n->'shadow'->>'duration') || ' | ', '')
		|| coalesce((SELECT string_agg((s->>'percent') || '% ' || (s->>'bake') || ' n>=' || (s->>'min_samples'), ' -> ' ORDER BY o)
					 FROM jsonb_array_elements(n->'steps') WITH ORDINALITY e(s, o)), '')
		|| ' | stable ' || (n->>'stable_period')
$$;

-- 1. Every preset normalizes; NULL plan means the tier's preset.
SELECT p.risk, n->>'strategy' AS strategy, pg_temp.timeline(n) AS timeline
FROM rollout.plan_presets p, rollout.validate_plan(NULL, p.risk) n
ORDER BY array_position(ARRAY['low', 'medium', 'high', 'critical'], p.risk);

SELECT p.risk, (n->'shadow'->>'duration_seconds')::numeric AS shadow_s,
	   n->'shadow'->>'model_swap_extension' AS swap_ext,
	   (SELECT array_agg((s->>'bake_seconds')::numeric ORDER BY o)
		  FROM jsonb_array_elements(n->'steps') WITH ORDINALITY e(s, o)) AS bake_seconds,
	   n->'extend' AS extend
FROM rollout.plan_presets p, rollout.validate_plan(NULL, p.risk) n
ORDER BY array_position(ARRAY['low', 'medium', 'high', 'critical'], p.risk);

-- the default risk is medium
SELECT rollout.validate_plan(NULL) = rollout.validate_plan(NULL, 'medium') AS medium_default;

-- The whole normalized medium preset: the shape the lifecycle reads.
SELECT jsonb_pretty(rollout.validate_plan(NULL, 'medium') - 'gates');

-- The default gates (seed 001 plus the primary success gate), every field.
SELECT g->>'name' AS name, g->>'metric' AS metric, g->>'kind' AS kind, g->>'comparison' AS cmp,
	   g->>'margin' AS margin, g->>'ratio' AS ratio, g->>'higher_is_better' AS hib,
	   g->>'test' AS test, g->>'mode' AS mode, g->>'alpha' AS alpha, g->>'min_samples' AS n,
	   g->>'window' AS win, g->>'window_seconds' AS win_s, g->>'consecutive' AS consec,
	   g->>'action' AS action, g->>'alert' AS alert
FROM jsonb_array_elements(rollout.validate_plan(NULL, 'low')->'gates') g;

-- Normalizing is idempotent: a normalized plan validates to itself.
SELECT p.risk, rollout.validate_plan(rollout.validate_plan(NULL, p.risk)) = rollout.validate_plan(NULL, p.risk) AS idempotent
FROM rollout.plan_presets p ORDER BY p.risk;

-- 2. A plan stands alone: omitted keys take the built-in defaults, whatever the tier.
SELECT pg_temp.timeline(n) AS timeline, n->'shadow' AS shadow, jsonb_array_length(n->'gates') AS gates,
	   n->'pinning' AS pinning, n->>'judge_rate' AS judge_rate, n->>'evaluation_interval' AS eval
FROM rollout.validate_plan('{"steps": [{"percent": 10, "bake": "PT90M"}, {"percent": 100}]}', 'critical') n;
SELECT pg_temp.timeline(rollout.validate_plan('{}')) AS empty_plan_is_default_canary;
SELECT rollout.validate_plan('{"strategy": "canary"}') = rollout.validate_plan('{}') AS same;

-- intervals: canonical text whatever the session's IntervalStyle; seconds as extract(epoch)
SET IntervalStyle = 'iso_8601';
SELECT s->>'bake' AS bake, s->>'bake_seconds' AS bake_seconds,
	   extract(epoch FROM (s->>'bake')::interval) = (s->>'bake_seconds')::numeric AS agrees
FROM jsonb_array_elements(rollout.validate_plan('{"steps": [
	{"percent": 0.5, "bake": "PT30M"}, {"percent": 2, "bake": "1 day 2 hours"},
	{"percent": 12.25, "bake": "1 mon"}, {"percent": 40, "bake": "90 seconds"},
	{"percent": 99.99, "bake": "1 year 1 ms"}, {"percent": 100, "bake": "0", "min_samples": 0}]}')->'steps') s;
RESET IntervalStyle;

-- 3. A custom plan of each strategy, normalized in full.
-- canary, with every key
SELECT jsonb_pretty(rollout.validate_plan($${
	"strategy": "canary",
	"stickiness": "session",
	"shadow": {"percent": 20, "duration": "2 days", "min_similarity": 0.92, "min_samples": 3000,
			   "write_intercept": false, "model_swap_extension": 0},
	"steps": [{"percent": 2, "bake": "6 hours", "min_samples": 300},
			  {"percent": 20, "bake": "1 day", "min_samples": 1500},
			  {"percent": 100}],
	"rules": [{"tenants": ["internal", "acme"], "percent": 100},
			  {"attribute": "region", "values": ["eu", "uk"], "percent": 0}],
	"flags": [{"name": "db_write", "percent": 0}, {"name": "web_search", "percent": 12.5}],
	"pinning": {"enabled": true, "drain": "15 minutes"},
	"judge_rate": 0.05,
	"evaluation_interval": "10 minutes",
	"blackouts": [{"days": ["sun", "sat"], "timezone": "utc"}],
	"extend": {"allow_boost": true, "max_extensions": 5},
	"stable_period": "6 hours",
	"gates": [
		{"metric": "quality", "margin": 0.05, "min_samples": 400},
		{"name": "csat", "metric": "metrics.csat", "kind": "continuous", "comparison": "median",
		 "ratio": 0.1, "higher_is_better": true, "window": "2 hours"},
		{"name": "refusals", "metric": "metrics.refusal", "kind": "boolean", "margin": 0.005,
		 "higher_is_better": false, "test": "sequential", "alpha": 0.01, "action": "rollback",
		 "consecutive": 3, "alert": false},
		{"metric": "latency_ms", "comparison": "p99", "ratio": 0.25, "action": "dry_run"}
	]}$$));

-- blue_green: one switch to 100%, watched for the stable period
SELECT pg_temp.timeline(n) AS timeline, n->'variants' AS variants, n->'experiment' AS experiment
FROM rollout.validate_plan('{"strategy": "blue_green", "stable_period": "2 hours"}') n;
SELECT jsonb_pretty(rollout.validate_plan($${"strategy": "blue_green",
	"shadow": {"duration": "1 day"},
	"steps": [{"percent": 100}],
	"pinning": {"enabled": false, "drain": "0"},
	"gates": [{"metric": "error", "margin": 0.01, "test": "hard_limit", "min_samples": 1000,
			   "window": "15 minutes", "action": "rollback_now"}]}$$));

-- shadow: the candidate never serves users; the shadow phase is the rollout
SELECT jsonb_pretty(rollout.validate_plan($${"strategy": "shadow",
	"shadow": {"percent": 50, "duration": "5 days", "min_similarity": 0.8},
	"gates": [{"metric": "quality", "margin": 0.1, "action": "hold_for_approval"}]}$$) - 'gates');
SELECT rollout.validate_plan('{"strategy": "shadow"}')->'shadow' AS default_shadow_phase;

-- ab_test: weighted variants for a fixed experiment
SELECT jsonb_pretty(rollout.validate_plan($${"strategy": "ab_test",
	"stickiness": "tenant",
	"variants": [{"name": "control", "version": 1, "weight": 33.34},
				 {"name": "terse", "version": 2, "weight": 33.33},
				 {"name": "verbose", "version": 3, "weight": 33.33}],
	"experiment": {"duration": "14 days", "min_samples": 2500},
	"gates": [{"metric": "feedback", "margin": 0.05, "action": "alert"},
			  {"metric": "cost", "comparison": "mean", "ratio": 0.3, "test": "hard_limit", "action": "freeze"}]
	}$$));
SELECT rollout.validate_plan('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}]}')->'experiment' AS default_experiment;

-- 4. Blackout windows.
CREATE TEMP TABLE bo AS SELECT rollout.validate_plan($${"blackouts": [
	{"days": ["sat", "sun"], "from": "00:00", "to": "24:00", "timezone": "UTC"},
	{"days": ["fri"], "from": "22:00", "to": "06:00", "timezone": "Europe/Berlin"},
	{"start": "2024-12-24", "end": "2024-12-27 08:00", "timezone": "America/New_York"},
	{"start": "2025-03-01T09:30", "end": "2025-03-01 10:00:30"}
]}$$) AS plan;
SELECT jsonb_pretty(plan->'blackouts') FROM bo;
-- results do not depend on the session's TimeZone
SET TimeZone = 'Asia/Tokyo';
SELECT t AS at_utc, to_char(t AT TIME ZONE 'UTC', 'Dy') AS day, rollout.in_blackout(bo.plan, t) AS blackout
FROM bo, unnest(ARRAY[
	'2024-06-07 19:59:59+00',	-- Fri 21:59 Berlin (CEST): before the Friday night window
	'2024-06-07 20:00:00+00',	-- Fri 22:00 Berlin: inside
	'2024-06-07 23:59:59+00',	-- Sat 01:59 Berlin, Fri 23:59 UTC: inside (wraps past midnight)
	'2024-06-08 00:00:00+00',	-- Saturday UTC: weekend window
	'2024-06-09 23:59:59+00',	-- Sunday UTC, last second
	'2024-06-10 00:00:00+00',	-- Monday UTC: free
	'2024-06-10 03:59:00+00',	-- Mon 05:59 Berlin: Monday is not listed, free
	'2024-12-24 04:59:59+00',	-- 23:59 on Dec 23 in New York: before the absolute window
	'2024-12-24 05:00:00+00',	-- midnight in New York: inside
	'2024-12-27 12:59:59+00',	-- Fri 07:59 New York: inside
	'2024-12-27 13:00:00+00',	-- end is exclusive: free
	'2025-03-01 09:30:00+00',	-- Saturday anyway
	'2025-03-04 09:30:00+00'	-- Tuesday: free
]::timestamptz[]) t
ORDER BY t;
RESET TimeZone;
SELECT rollout.in_blackout('{}', now()) AS no_windows,
	   rollout.in_blackout('{"blackouts": [{"from": "00:00", "to": "24:00"}]}', now()) AS always,
	   rollout.in_blackout(NULL, now()) AS null_plan;

-- A normalized plan normalizes again to itself: tick() passes the stored
-- plan to in_blackout(), which validates it on every evaluation. Found by
-- the plan fuzzer (test/fuzz/fuzz_plan.c): a fraction that rounds up to a
-- whole second was printed as ":59.1000000" (earlier than start), a whole
-- margin beyond 2^63 came back from jsonb as an integer jansson refused, and
-- the seconds of a very long interval lost digits in the 15-digit output.
CREATE TEMP TABLE renorm AS SELECT k, rollout.validate_plan(p::jsonb) AS plan FROM (VALUES
	('rounded_second', '{"blackouts": [{"start": "2024-01-01 00:00:59.5", "end": "2024-01-01 00:00:59.9999999"}]}'),
	('leap_second_and_24h', '{"blackouts": [{"start": "2024-06-30 23:59:60", "end": "2024-12-31 24:00", "timezone": "Europe/Berlin"}]}'),
	('huge_margin', '{"gates": [{"metric": "latency_ms", "comparison": "mean", "test": "welch", "margin": 100000000000000000000.5, "fail_margin": 1e19}]}'),
	('long_interval', '{"stable_period": "10000 years 0.0004 seconds"}')
) v(k, p);
SELECT k, plan->'blackouts' AS blackouts, plan->'gates'->0->'margin' AS margin,
	   plan->'gates'->0->'fail_margin' AS fail_margin, plan->'stable_period_seconds' AS stable_period_seconds
FROM renorm ORDER BY k;
SELECT k, rollout.validate_plan(plan) = plan AS normalizes_to_itself,
	   rollout.in_blackout(plan, '2024-01-01 00:00:59.7+00') AS blackout_at_59_7
FROM renorm ORDER BY k;

-- 5. Preset edits are validated and audited. The edits are rolled back at
-- the end, so later tests in this database see the shipped presets and no
-- events.
BEGIN;
SELECT count(*) AS preset_events_before FROM rollout.events WHERE action = 'preset_change';
UPDATE rollout.plan_presets SET plan = plan || '{"judge_rate": 0.2}' WHERE risk = 'low';
SELECT rollout.validate_plan(NULL, 'low')->>'judge_rate' AS low_judge_rate;
SELECT pg_temp.err($$UPDATE rollout.plan_presets SET plan = plan || '{"judge_rate": 2}' WHERE risk = 'low'$$);
SELECT pg_temp.err($$UPDATE rollout.plan_presets SET plan = '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 40}]}' WHERE risk = 'high'$$);
SELECT pg_temp.err($$INSERT INTO rollout.plan_presets VALUES ('bad', '[]')$$);
SELECT pg_temp.err($$DELETE FROM rollout.plan_presets WHERE risk = 'medium'$$);
INSERT INTO rollout.plan_presets (risk, plan, description)
	VALUES ('experiment', '{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}]}', 'A/B tests');
SELECT rollout.validate_plan(NULL, 'experiment')->>'strategy' AS custom_tier;
DELETE FROM rollout.plan_presets WHERE risk = 'experiment';
SELECT action, old->>'risk' AS old_risk, new->>'risk' AS new_risk, new->'plan'->>'judge_rate' AS judge_rate,
	   agent IS NULL AND rollout_id IS NULL AS global
FROM rollout.events WHERE action = 'preset_change' ORDER BY id;
SELECT pg_temp.err($$SELECT rollout.validate_plan(NULL, 'experiment')$$);

-- privileges: readers validate and read presets but cannot change them
SET ROLE rollout_reader;
SELECT count(*) AS presets_visible FROM rollout.plan_presets;
SELECT pg_temp.timeline(rollout.validate_plan(NULL, 'low')) AS reader_validates;
SELECT rollout.in_blackout('{}', '2024-01-01 00:00+00') AS reader_in_blackout;
SELECT pg_temp.err($$UPDATE rollout.plan_presets SET description = 'x' WHERE risk = 'low'$$);
RESET ROLE;
SET ROLE rollout_admin;
UPDATE rollout.plan_presets SET description = 'Prompt tweaks.' WHERE risk = 'low';
SELECT updated_by = session_user AS updated_by_session FROM rollout.plan_presets WHERE risk = 'low';
RESET ROLE;
SELECT acting_role FROM rollout.events WHERE action = 'preset_change' ORDER BY id DESC LIMIT 1;
ROLLBACK;
SELECT count(*) AS preset_events_after_rollback FROM rollout.events WHERE action = 'preset_change';
SELECT rollout.validate_plan(NULL, 'low')->>'judge_rate' AS low_judge_rate_restored;

-- Rules as docs/routing.md writes them: an optional "name" for the reason,
-- and "arm" instead of "percent" to fix the arm served (exactly one).
SELECT rollout.validate_plan('{"rules": [{"name": "staff", "tenants": ["internal"], "percent": 100},
                                         {"attribute": "region", "values": ["eu"], "arm": "stable"}]}')->'rules' AS rules;
SELECT rollout.validate_plan('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}],
                               "rules": [{"name": "beta", "tenants": ["acme"], "arm": "b"}]}')->'rules' AS ab_rules;
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"rules": [{"tenants": ["x"], "percent": 10, "arm": "stable"}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"rules": [{"tenants": ["x"], "arm": "Stable!"}]}')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{"rules": [{"tenants": ["x"], "percent": 10, "name": 7}]}')$$);
