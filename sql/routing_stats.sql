-- Routing statistics on 100 000 units: the canary share, the monotone ramp,
-- A/B shares, independence of two rollouts' salts, and the random fall-back.
-- Bounds are 4 standard deviations of a binomial; the salts are fixed, so
-- every count below is reproducible (except the random fall-back, which
-- prints only whether it is within bounds).
\i test/sql/helpers.sql

SELECT rollout.create_agent('st') > 0 AS created;
SELECT rollout.create_version('st', 'stable', 'gpt-4o-2024-08-06') AS v1;
SELECT rollout.create_version('st', 'candidate', 'gpt-4o-2024-08-06') AS v2;
SELECT rollout.create_version('st', 'third', 'gpt-4o-2024-08-06') AS v3;
SELECT rollout.set_label('st', 'production', 1);
CREATE TEMP TABLE units AS SELECT i, 'user-' || i AS unit FROM generate_series(1, 100000) i;

-- Canary at 5%: the share is within 4 standard deviations of 5%.
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt)
VALUES (301, 'st', 1, 2, 5, 20240601);
SELECT count(*) FILTER (WHERE d.arm = 'candidate') AS candidates,
       abs(count(*) FILTER (WHERE d.arm = 'candidate') - 5000) < 4 * sqrt(100000 * 0.05 * 0.95) AS within_4_sd,
       count(*) FILTER (WHERE d.version <> CASE d.arm WHEN 'candidate' THEN 2 ELSE 1 END) AS wrong_version
  FROM units u, rollout.route('st', u.unit) d;

-- Monotone ramp 1 -> 5 -> 25 -> 50 -> 100: the arm of every unit at every step.
CREATE TEMP TABLE ramp (percent integer, i integer, inside boolean);
UPDATE rollout.rollouts SET percent = 1 WHERE id = 301;
INSERT INTO ramp SELECT 1, u.i, d.arm = 'candidate' FROM units u, rollout.route('st', u.unit) d;
UPDATE rollout.rollouts SET percent = 5 WHERE id = 301;
INSERT INTO ramp SELECT 5, u.i, d.arm = 'candidate' FROM units u, rollout.route('st', u.unit) d;
UPDATE rollout.rollouts SET percent = 25 WHERE id = 301;
INSERT INTO ramp SELECT 25, u.i, d.arm = 'candidate' FROM units u, rollout.route('st', u.unit) d;
UPDATE rollout.rollouts SET percent = 50 WHERE id = 301;
INSERT INTO ramp SELECT 50, u.i, d.arm = 'candidate' FROM units u, rollout.route('st', u.unit) d;
UPDATE rollout.rollouts SET percent = 100 WHERE id = 301;
INSERT INTO ramp SELECT 100, u.i, d.arm = 'candidate' FROM units u, rollout.route('st', u.unit) d;
SELECT percent, count(*) FILTER (WHERE inside) AS inside,
       abs(count(*) FILTER (WHERE inside) - 1000 * percent) <= 4 * sqrt(100000 * percent / 100.0 * (1 - percent / 100.0))
         AS within_4_sd,
       count(*) FILTER (WHERE inside <> (rollout.bucket('user-' || i, 20240601) < percent * 100)) AS disagree_with_bucket
  FROM ramp GROUP BY percent ORDER BY percent;
-- A unit inside at one step and outside at a later one breaks monotonicity.
SELECT count(*) AS units_checked,
       count(*) FILTER (WHERE NOT monotone) AS non_monotone_units
  FROM (SELECT i, bool_and(NOT (prev AND NOT inside)) AS monotone
          FROM (SELECT i, inside, lag(inside, 1, false) OVER (PARTITION BY i ORDER BY percent) AS prev
                  FROM ramp) steps
         GROUP BY i) per_unit;
DELETE FROM rollout.rollouts WHERE id = 301;

-- A/B test 30/30/40: each share within 4 standard deviations of its weight.
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, strategy, salt, variants)
VALUES (302, 'st', 1, 2, 'ab_test', 77, '[{"name": "a", "version": 1, "weight": 30},
        {"name": "b", "version": 2, "weight": 30}, {"name": "c", "version": 3, "weight": 40}]');
SELECT d.arm, d.version, count(*) AS units,
       abs(count(*) - 100000 * w.weight) < 4 * sqrt(100000 * w.weight * (1 - w.weight)) AS within_4_sd
  FROM units u, rollout.route('st', u.unit) d
  JOIN (VALUES ('a', 0.3), ('b', 0.3), ('c', 0.4)) AS w(arm, weight) ON w.arm = d.arm
 GROUP BY d.arm, d.version, w.weight ORDER BY d.arm;
DELETE FROM rollout.rollouts WHERE id = 302;

-- Two rollouts' salts give independent assignments: at 50% each, the 2x2
-- table of (inside first, inside second) has a chi-square (1 df) below 16
-- (4 standard deviations), and the buckets are uncorrelated.
SELECT rollout.create_agent('st2') > 0 AS created;
SELECT rollout.create_version('st2', 'stable', 'gpt-4o-2024-08-06') AS v1;
SELECT rollout.create_version('st2', 'candidate', 'gpt-4o-2024-08-06') AS v2;
SELECT rollout.set_label('st2', 'production', 1);
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt)
VALUES (303, 'st', 1, 2, 50, 1111), (304, 'st2', 1, 2, 50, 2222);
CREATE TEMP TABLE pairs AS
  SELECT u.i, a.arm = 'candidate' AS first, b.arm = 'candidate' AS second
    FROM units u, rollout.route('st', u.unit) a, rollout.route('st2', u.unit) b;
SELECT n11 AS both_inside,
       abs(n11 - 25000) < 4 * sqrt(100000 * 0.25 * 0.75) AS both_within_4_sd,
       100000 * (n11 * n00 - n10 * n01) ^ 2 / ((n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)) < 16
         AS chi_square_below_16
  FROM (SELECT count(*) FILTER (WHERE first AND second)::float8 AS n11,
               count(*) FILTER (WHERE first AND NOT second)::float8 AS n10,
               count(*) FILTER (WHERE NOT first AND second)::float8 AS n01,
               count(*) FILTER (WHERE NOT first AND NOT second)::float8 AS n00
          FROM pairs) t;
SELECT abs(corr(rollout.bucket(unit, 1111), rollout.bucket(unit, 2222))) < 4 / sqrt(100000) AS buckets_uncorrelated
  FROM units;
DELETE FROM rollout.rollouts WHERE id IN (303, 304);

-- Fall-back to a random key when unit and session are NULL: each request
-- draws anew, and the share still follows the percentage. (The request
-- argument only makes each row a separate call of the STABLE function.)
INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt)
VALUES (305, 'st', 1, 2, 5, 20240601);
SELECT abs(count(*) FILTER (WHERE d.arm = 'candidate') - 5000) < 4 * sqrt(100000 * 0.05 * 0.95) AS random_within_4_sd,
       count(DISTINCT d.reason) AS reasons, min(d.reason) AS reason
  FROM units u, rollout.route('st', NULL, request => u.unit) d;
DELETE FROM rollout.rollouts WHERE id = 305;
