-- Bad plans: each is refused with the JSON path and the reason, and a
-- fitting SQLSTATE (22023 invalid_parameter_value, 22P02 for malformed
-- values).
\i test/sql/helpers.sql

CREATE FUNCTION pg_temp.bad(plan text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.err(format('SELECT rollout.validate_plan(%L::jsonb)', plan))
$$;

-- the plan itself
SELECT pg_temp.bad('[]');
SELECT pg_temp.bad('"canary"');
SELECT pg_temp.bad('{"strategi": "canary"}');
SELECT pg_temp.bad('{"strategy": "big_bang"}');
SELECT pg_temp.bad('{"strategy": 1}');
SELECT pg_temp.bad('{"stickiness": "user"}');
-- steps
SELECT pg_temp.bad('{"steps": {"percent": 100}}');
SELECT pg_temp.bad('{"steps": []}');
SELECT pg_temp.bad('{"steps": [5, 100]}');
SELECT pg_temp.bad('{"steps": [{"percent": "5", "bake": "1 hour"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"bake": "1 hour"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 0, "bake": "1 hour"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": -5, "bake": "1 hour"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour"}, {"percent": 150}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour"}, {"percent": 5, "bake": "1 hour"}, {"percent": 5, "bake": "1 hour"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour"}, {"percent": 50, "bake": "1 hour"}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 0.001, "bake": "1 hour"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "four hours"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": 4}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "-4 hours"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "0 hours"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 day -25 hours"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour"}, {"percent": 100, "bake": "1 hour"}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour", "min_samples": -1}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour", "min_samples": 10.5}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour", "samples": 10}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour", "bake_seconds": 60}, {"percent": 100}]}');
SELECT pg_temp.bad('{"strategy": "blue_green", "steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"strategy": "shadow", "steps": [{"percent": 100}]}');
-- shadow phase
SELECT pg_temp.bad('{"shadow": true}');
SELECT pg_temp.bad('{"shadow": {"percent": 0}}');
SELECT pg_temp.bad('{"shadow": {"duration": "0"}}');
SELECT pg_temp.bad('{"shadow": {"duration": "soon"}}');
SELECT pg_temp.bad('{"shadow": {"min_similarity": 1.5}}');
SELECT pg_temp.bad('{"shadow": {"write_intercept": "yes"}}');
SELECT pg_temp.bad('{"shadow": {"mirror": 10}}');
-- rules
SELECT pg_temp.bad('{"rules": {"tenants": ["a"]}}');
SELECT pg_temp.bad('{"rules": [{"percent": 100}]}');
SELECT pg_temp.bad('{"rules": [{"tenants": ["a"], "attribute": "region", "values": ["eu"], "percent": 1}]}');
SELECT pg_temp.bad('{"rules": [{"tenants": [], "percent": 100}]}');
SELECT pg_temp.bad('{"rules": [{"tenants": ["a", 7], "percent": 100}]}');
SELECT pg_temp.bad('{"rules": [{"tenants": ["a", "a"], "percent": 100}]}');
SELECT pg_temp.bad('{"rules": [{"tenants": ["a"]}]}');
SELECT pg_temp.bad('{"rules": [{"attribute": "Region!", "values": ["eu"], "percent": 0}]}');
SELECT pg_temp.bad('{"rules": [{"attribute": "region", "percent": 0}]}');
-- flags
SELECT pg_temp.bad('{"flags": [{"name": "db_write", "percent": 10}, {"name": "db_write", "percent": 20}]}');
SELECT pg_temp.bad('{"flags": [{"name": "db_write", "percent": 101}]}');
SELECT pg_temp.bad('{"flags": [{"percent": 10}]}');
SELECT pg_temp.bad('{"flags": [{"name": "db_write", "percent": 10, "enabled": true}]}');
-- pinning, judge rate, intervals, sample collection
SELECT pg_temp.bad('{"pinning": {"enabled": true, "drain": "-10 minutes"}}');
SELECT pg_temp.bad('{"pinning": true}');
SELECT pg_temp.bad('{"judge_rate": 1.5}');
SELECT pg_temp.bad('{"judge_rate": -0.1}');
SELECT pg_temp.bad('{"judge_rate": "10%"}');
SELECT pg_temp.bad('{"evaluation_interval": "0 minutes"}');
SELECT pg_temp.bad('{"evaluation_interval": "-5 minutes"}');
SELECT pg_temp.bad('{"stable_period": "forever"}');
SELECT pg_temp.bad('{"stable_period": "4 hours", "stable_period_seconds": 3600}');
SELECT pg_temp.bad('{"extend": {"allow_boost": 1}}');
SELECT pg_temp.bad('{"extend": {"max_extensions": -1}}');
-- blackouts
SELECT pg_temp.bad('{"blackouts": {"days": ["sat"]}}');
SELECT pg_temp.bad('{"blackouts": [{}]}');
SELECT pg_temp.bad('{"blackouts": [{"timezone": "UTC"}]}');
SELECT pg_temp.bad('{"blackouts": [{"days": ["saturday"]}]}');
SELECT pg_temp.bad('{"blackouts": [{"days": ["sat", "sat"]}]}');
SELECT pg_temp.bad('{"blackouts": [{"days": []}]}');
SELECT pg_temp.bad('{"blackouts": [{"from": "25:00", "to": "26:00"}]}');
SELECT pg_temp.bad('{"blackouts": [{"from": "24:00"}]}');
SELECT pg_temp.bad('{"blackouts": [{"from": "9:00", "to": "17:00"}]}');
SELECT pg_temp.bad('{"blackouts": [{"from": "09:00", "to": "09:00"}]}');
SELECT pg_temp.bad('{"blackouts": [{"days": ["sat"], "timezone": "Mars/Olympus_Mons"}]}');
SELECT pg_temp.bad('{"blackouts": [{"start": "2024-12-24"}]}');
SELECT pg_temp.bad('{"blackouts": [{"start": "2024-12-24", "end": "2024-12-23"}]}');
SELECT pg_temp.bad('{"blackouts": [{"start": "2024-12-24 00:00+02", "end": "2024-12-25"}]}');
SELECT pg_temp.bad('{"blackouts": [{"start": "2024-02-30", "end": "2024-03-02"}]}');
SELECT pg_temp.bad('{"blackouts": [{"start": "today", "end": "tomorrow"}]}');
SELECT pg_temp.bad('{"blackouts": [{"start": "2024-12-24", "end": "2024-12-25", "days": ["sat"]}]}');
-- gates
SELECT pg_temp.bad('{"gates": {"metric": "quality"}}');
SELECT pg_temp.bad('{"gates": []}');
SELECT pg_temp.bad('{"gates": ["quality"]}');
SELECT pg_temp.bad('{"gates": [{"margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "qualty", "margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "metrics.", "margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "comparison": "average", "margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "comparison": "rate", "margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "error", "comparison": "mean", "margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "kind": "boolean", "margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "ratio": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": -0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "cost", "comparison": "median", "ratio": -0.2}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "error", "margin": 1.5}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "error", "ratio": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "alpha": 0}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "alpha": 1.2}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "test": "t_test"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "test": "proportion"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "latency_ms", "comparison": "p95", "ratio": 0.15, "test": "mann_whitney"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "cost", "comparison": "median", "ratio": 0.2, "test": "welch"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "action": "panic"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "action": "alert", "alert": false}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "action": "dry_run", "alert": true}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "action": "dry_run"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "threshold": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "consecutive": 0}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "min_samples": -1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "window": "0"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "mode": "superiority"}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "metrics.csat", "margin": 0.1}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1}, {"metric": "quality", "margin": 0.2}]}');
SELECT pg_temp.bad('{"gates": [{"metric": "quality", "margin": 0.1, "name": "Quality Gate"}]}');
-- strategies
SELECT pg_temp.bad('{"strategy": "ab_test"}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 100}]}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 30}, {"name": "b", "version": 2, "weight": 60}]}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "a", "version": 2, "weight": 50}]}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 0, "weight": 50}, {"name": "b", "version": 2, "weight": 50}]}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 0}, {"name": "b", "version": 2, "weight": 100}]}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1}, {"name": "b", "version": 2, "weight": 100}]}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}], "steps": [{"percent": 100}]}');
SELECT pg_temp.bad('{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}], "experiment": {"duration": "0"}}');
SELECT pg_temp.bad('{"variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}]}');
SELECT pg_temp.bad('{"experiment": {"duration": "7 days"}}');
-- garbage
SELECT pg_temp.bad('{"steps": [[[[[[[[[[{"percent": 100}]]]]]]]]]]}');
SELECT pg_temp.bad('{"gates": [{"metric": {"name": {"of": {"the": ["metric"]}}}, "margin": 0.1}]}');
SELECT pg_temp.err(format('SELECT rollout.validate_plan(%L::jsonb)', '{"shadow": ' || repeat('[', 3000) || repeat(']', 3000) || '}'));
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "1 hour", "min_samples": 1e400}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "' || repeat('9', 30) || ' hours"}, {"percent": 100}]}');
SELECT pg_temp.bad('{"steps": [{"percent": 1, "bake": "2147483647 years"}, {"percent": 100}]}');
-- risk tiers and the blackout function
SELECT pg_temp.err($$SELECT rollout.validate_plan(NULL, 'extreme')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan('{}', 'Medium')$$);
SELECT pg_temp.err($$SELECT rollout.validate_plan(NULL, NULL)$$);
SELECT pg_temp.err($$SELECT rollout.in_blackout('{"blackouts": [{"from": "x"}]}', now())$$);
SELECT pg_temp.err($$SELECT rollout.in_blackout('{}', 'infinity')$$);
