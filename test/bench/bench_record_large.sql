-- Set-up of the read benchmark: two rollouts with the same shape, one with
-- :small outcomes and one with :large, spread over the last 7 days, written
-- straight into rollout.outcomes and folded by one refresh.
SET client_min_messages = warning;
SELECT rollout.create_agent('small');
SELECT rollout.create_agent('large');
SELECT rollout.create_version(a, 'Baseline.', 'gpt-4o-2024-08-06'),
	   rollout.create_version(a, 'Candidate.', 'gpt-4o-2024-08-06')
FROM unnest(ARRAY['small', 'large']) a;
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, started_at)
VALUES (2, 'small', 1, 2, now() - interval '8 days'), (3, 'large', 1, 2, now() - interval '8 days');
SELECT count(rollout._ensure_partition(p, (now() AT TIME ZONE 'UTC')::date - d))
FROM unnest(ARRAY['outcomes', 'shadow_pairs']) p, generate_series(0, 7) d;

INSERT INTO rollout.outcomes (at, agent, version, rollout_id, stage, arm, in_arm, unit,
							  success, quality, latency_ms, cost, error)
SELECT now() - (g::float8 / n) * interval '7 days', a, 1 + g % 2, r, 1,
	   CASE WHEN g % 2 = 0 THEN 'stable' ELSE 'candidate' END, true, 'u' || g,
	   g % 7 <> 0, (g % 101) / 100.0, 40 + (g::bigint * 7919) % 2000, (g % 997) / 10000.0, g % 50 = 0
FROM (VALUES ('small', 2, :small), ('large', 3, :large)) v(a, r, n),
	 generate_series(1, n) g;
SELECT rollout.refresh_aggregates() AS folded;
VACUUM ANALYZE rollout.outcome_windows;
