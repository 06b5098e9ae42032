-- Set-up of bench_record.sh: an agent in a canary rollout, and a plain
-- table with the same columns, partitioning and indexes as rollout.outcomes
-- for the baseline INSERT.
SET client_min_messages = warning;
SELECT rollout.create_agent('bench');
SELECT rollout.create_version('bench', 'Baseline.', 'gpt-4o-2024-08-06');
SELECT rollout.create_version('bench', 'Candidate.', 'gpt-4o-2024-08-06');
SELECT rollout.set_label('bench', 'production', 1);
-- Half the units to the candidate, so route() hands out a decision_token
-- for each arm (bench_record.sh).
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, started_at, percent)
VALUES (1, 'bench', 1, 2, now() - interval '1 day', 50);
SELECT count(*) FROM rollout.maintain_outcomes();

CREATE TABLE bench_plain (LIKE rollout.outcomes INCLUDING DEFAULTS) PARTITION BY RANGE (at);
CREATE TABLE bench_plain_default PARTITION OF bench_plain DEFAULT;
CREATE TABLE bench_plain_today PARTITION OF bench_plain
	FOR VALUES FROM (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
	TO ((date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC');
CREATE INDEX ON bench_plain (rollout_id, arm, at);
CREATE INDEX ON bench_plain USING brin (txid);
