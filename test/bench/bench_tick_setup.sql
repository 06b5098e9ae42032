-- Set-up of bench_tick.sh: agents t<lo>..t<hi>, each with a canary rollout
-- of the low preset (six default gates) started an hour ago and :per
-- outcomes over that hour, both arms evenly, folded into the aggregates.
SET client_min_messages = warning;
SELECT count(rollout.create_agent('t' || g)) FROM generate_series(:lo, :hi) g;
SELECT count(rollout.create_version('t' || g, 'Baseline.', 'gpt-4o-2024-08-06'))
	   + count(rollout.create_version('t' || g, 'Candidate.', 'gpt-4o-2024-08-06'))
FROM generate_series(:lo, :hi) g;
SELECT count(rollout.set_label('t' || g, 'production', 1)) FROM generate_series(:lo, :hi) g;
SELECT count(rollout.start('t' || g, 2, NULL, 'low', NULL, now() - interval '1 hour'))
FROM generate_series(:lo, :hi) g;
INSERT INTO rollout.outcomes (at, agent, version, rollout_id, stage, arm, in_arm, unit,
							  success, quality, latency_ms, cost, error)
SELECT now() - (i::float8 / :per) * interval '1 hour', r.agent, 1 + i % 2, r.id, r.stage,
	   CASE WHEN i % 2 = 0 THEN 'candidate' ELSE 'stable' END, true, 'u' || i,
	   i % 7 <> 0, (i % 101) / 100.0, 40 + (i::bigint * 7919) % 2000, (i % 997) / 10000.0, i % 50 = 0
FROM rollout.rollouts r, generate_series(1, :per) i
WHERE r.agent ~ '^t[0-9]+$' AND substr(r.agent, 2)::int BETWEEN :lo AND :hi;
SELECT rollout.refresh_aggregates();
VACUUM ANALYZE rollout.rollouts, rollout.outcome_windows, rollout.gate_tallies, rollout.stages;
