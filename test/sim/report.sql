-- Simulation report (test/sim/run.sh): the rates, in plain words, from
-- rollout.events, and a last line "RESULT ok" or "RESULT fail".
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on

-- Wilson score interval of k successes in n trials at 95%, in percent.
CREATE FUNCTION sim.wilson(k bigint, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_catalog.format('%s–%s%%',
		round((100 * (c - h) / d)::numeric, 1), round((100 * (c + h) / d)::numeric, 1))
	FROM (SELECT k::float8 / n AS p, 1.959964::float8 AS z) a,
		 LATERAL (SELECT 1 + z * z / n AS d, p + z * z / (2 * n) AS c,
						 z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) AS h) b
$$;

-- What happened to each run, from its audit trail.
CREATE TABLE sim.result AS
SELECT s.agent, s.kind, s.rollout_id,
	   bool_or(e.action IN ('hold', 'freeze', 'hold_for_approval')) AS held,
	   bool_or(e.action IN ('hold', 'freeze', 'hold_for_approval')
			   AND e.reason LIKE 'sample ratio mismatch%') AS held_srm,
	   bool_or(e.action IN ('rollback', 'rollback_now')) AS rolled_back,
	   min((e.old->>'stage')::integer) FILTER (WHERE e.action IN ('rollback', 'rollback_now')) AS rollback_stage,
	   min(e.at) FILTER (WHERE e.action IN ('rollback', 'rollback_now')) - :'t0'::timestamptz AS rollback_after,
	   coalesce(max((e.new->>'stage')::integer) FILTER (WHERE e.action = 'advance'), 1) AS max_stage
FROM sim.runs s
LEFT JOIN rollout.events e ON e.rollout_id = s.rollout_id
GROUP BY s.agent, s.kind, s.rollout_id;

-- A/A: any hold or rollback within the horizon is a false alarm.
CREATE TABLE sim.rates AS
SELECT 'aa' AS kind, count(*) AS runs,
	   count(*) FILTER (WHERE held OR rolled_back) AS hits,
	   count(*) FILTER (WHERE rolled_back) AS rollbacks,
	   count(*) FILTER (WHERE held) AS holds,
	   count(*) FILTER (WHERE held_srm) AS srm_holds,
	   count(*) FILTER (WHERE max_stage >= 2) AS reached_5,
	   count(*) FILTER (WHERE max_stage >= 3) AS reached_25
FROM sim.result WHERE kind = 'aa'
UNION ALL
-- Regression: a hit is a rollback while at 1% or 5%.
SELECT 'regression', count(*),
	   count(*) FILTER (WHERE rolled_back AND rollback_stage <= 2),
	   count(*) FILTER (WHERE rolled_back),
	   count(*) FILTER (WHERE held),
	   count(*) FILTER (WHERE held_srm),
	   count(*) FILTER (WHERE max_stage >= 2),
	   count(*) FILTER (WHERE max_stage >= 3)
FROM sim.result WHERE kind = 'regression';

SELECT pg_catalog.format('A/A: %s of %s rollouts held or rolled back (%s%%, 95%% CI %s), bound %s%%: %s',
		 hits, runs, round(100.0 * hits / runs, 1), sim.wilson(hits, runs), round(100 * :alpha),
		 CASE WHEN hits <= :alpha * runs THEN 'ok' ELSE 'FAILED' END)
	|| E'\n' || pg_catalog.format('     %s rolled back by the success gate, %s held (%s of them by the sample-ratio check); %s passed the 1%% stage and %s the 5%% stage in 12 hours',
		 rollbacks, holds, srm_holds, reached_5, reached_25)
FROM sim.rates WHERE kind = 'aa' AND runs > 0;

SELECT pg_catalog.format('Regression 0.90 -> 0.87: %s of %s rollouts rolled back before the 25%% stage (%s%%, 95%% CI %s), bound %s%%: %s',
		 hits, runs, round(100.0 * hits / runs, 1), sim.wilson(hits, runs), round(100 * :min_caught),
		 CASE WHEN hits >= :min_caught * runs THEN 'ok' ELSE 'FAILED' END)
	|| E'\n' || pg_catalog.format('     %s reached 25%%, %s neither rolled back nor at 25%% when the run ended; %s held on the way (%s by the sample-ratio check)',
		 reached_25, runs - hits - reached_25, holds, srm_holds)
FROM sim.rates WHERE kind = 'regression' AND runs > 0;

SELECT pg_catalog.format('     rolled back at 1%%: %s, at 5%%: %s; time to rollback: median %s, 95th percentile %s, longest %s',
		 count(*) FILTER (WHERE rollback_stage = 1), count(*) FILTER (WHERE rollback_stage = 2),
		 percentile_disc(0.5) WITHIN GROUP (ORDER BY rollback_after),
		 percentile_disc(0.95) WITHIN GROUP (ORDER BY rollback_after), max(rollback_after))
FROM sim.result WHERE kind = 'regression' AND rolled_back
HAVING count(*) > 0;

-- What the run cost.
SELECT pg_catalog.format('     %s ticks over %s simulated hours, %s rollout evaluations, %s candidate outcomes (raw rows) and %s stable ones (window aggregates); traffic %s s, ticks %s s',
		 count(*), round(count(*) / 12.0, 1), sum(rollouts), sum(candidate_rows), sum(stable_rows),
		 round(sum(traffic_seconds)::numeric), round(sum(tick_seconds)::numeric))
FROM sim.ticks WHERE rollouts > 0;

SELECT 'RESULT ' || CASE WHEN bool_and(CASE kind WHEN 'aa' THEN hits <= :alpha * runs
												 ELSE hits >= :min_caught * runs END)
						THEN 'ok' ELSE 'fail' END
FROM sim.rates WHERE runs > 0;
