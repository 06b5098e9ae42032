-- rollout._verdict_av() and rollout._eta() are C since 0.5.0
-- (src/gate_verdict.c). Their PL/pgSQL definitions of 0.4.0 are kept here,
-- verbatim but for their names, as the reference: the C functions must
-- return the same verdict row (every field, floats bit for bit) for
-- thousands of drawn cases: the default presets' gates and variants of
-- them (sequential tests, quantiles, guardrails, prove_at_percent, an
-- unsupported metric), tallies with too few samples, NULL counts and
-- quantiles, zero variance, a missing clock; and the same text from _eta.
\i test/sql/helpers.sql

CREATE FUNCTION pg_temp.eta_reference(p_elapsed interval, p_factor float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	m bigint;
BEGIN
	-- PL/pgSQL, not SQL: an SQL function with SET is planned at every call.
	IF p_factor IS NULL OR p_factor <= 0 OR p_elapsed <= interval '0' THEN
		RETURN '';
	ELSIF p_factor > 1000 THEN
		RETURN ', more than 1000 times the time so far at the current rate';
	END IF;
	m := ceil(extract(epoch FROM p_elapsed) * p_factor / 60)::bigint;
	RETURN pg_catalog.format(', about %s%s h %s min more at the current rate',
		CASE WHEN m >= 1440 THEN (m / 1440) || ' d ' ELSE '' END, m % 1440 / 60, m % 60);
END
$$;

CREATE FUNCTION pg_temp.verdict_av_reference(r rollout.rollouts, g jsonb, p_at timestamptz,
									t rollout.gate_tally_sums)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql
AS $$
DECLARE
	res rollout.gate_verdict;
	v_metric text := g->>'metric';
	v_cmp text := g->>'comparison';
	v_test text := g->>'test';
	v_hib boolean := (g->>'higher_is_better')::boolean;
	v_alpha float8 := coalesce((g->>'alpha')::float8, 0.05);
	v_pass_alpha float8 := coalesce((g->>'pass_alpha')::float8, 0.05);
	v_min bigint := coalesce((g->>'min_samples')::bigint, 0);
	v_margin float8 := coalesce((g->>'margin')::float8, 0);
	v_fail_margin float8 := coalesce((g->>'fail_margin')::float8, (g->>'margin')::float8, 0);
	v_prove_at numeric := coalesce((g->>'prove_at_percent')::numeric, 0);
	v_q float8 := CASE v_cmp WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END;
	v_sign float8 := CASE WHEN v_hib THEN -1 ELSE 1 END;
	v_xc bigint[] := t.xc;
	v_xb bigint[] := t.xb;
	v_yc bigint[] := t.yc;
	v_yb bigint[] := t.yb;
	v_share float8[] := t.share;
	v_nc bigint := t.nc;
	v_nb bigint := t.nb;
	v_sxc float8 := t.sxc;
	v_sxb float8 := t.sxb;
	v_syc float8;
	v_sc float8 := t.sc;
	v_sb float8 := t.sb;
	v_qc float8 := t.qc;
	v_qb float8 := t.qb;
	v_base float8 := t.base;
	v_from timestamptz := t.canary_from;
	v_rate_b float8;
	v_theta_f float8;
	v_theta_p float8;
	v_fail_p float8;
	v_pass_p float8;
	v_fail_floor bigint := 0;
	v_se float8;
BEGIN
	IF v_cmp = 'rate' AND v_metric NOT IN ('success', 'error', 'safety')
	   OR v_cmp = 'mean' AND v_metric NOT IN ('quality', 'latency_ms', 'cost', 'success', 'error', 'safety')
		  AND v_metric NOT LIKE 'metrics.%' THEN
		RAISE EXCEPTION 'metric "%" is not supported by the % test', v_metric, v_test
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'Always-valid tests read success, error, safety (rates); quality, latency_ms, cost and custom metrics (means); latency_ms, cost (quantiles).';
	END IF;
	res.window_to := rollout.window_start(p_at);
	res.window_from := rollout.window_start(coalesce(v_from, r.stage_started_at));
	res.n_candidate := coalesce(v_nc, 0);
	res.n_baseline := coalesce(v_nb, 0);
	IF res.n_candidate < 2 OR res.n_baseline < 2 THEN
		res.verdict := 'inconclusive';
		res.detail := pg_catalog.format('too few samples: candidate %s, baseline %s (windows count once they have ended)',
										res.n_candidate, res.n_baseline);
		RETURN res;
	END IF;

	IF v_test = 'event_share' AND v_cmp = 'rate' THEN
		-- Events: failures for success, errors, safety flags.
		v_rate_b := v_sxb / v_nb;
		res.value_candidate := CASE WHEN v_metric = 'success' THEN 1 - v_sxc / v_nc ELSE v_sxc / v_nc END;
		res.value_baseline := CASE WHEN v_metric = 'success' THEN 1 - v_rate_b ELSE v_rate_b END;
		res.estimate := res.value_candidate - res.value_baseline;
		-- A margin on the rate is a ratio of event rates; a baseline
		-- without events yet counts as half an event.
		v_rate_b := greatest(v_rate_b, 0.5 / v_nb);
		v_theta_f := 1 + v_fail_margin / v_rate_b;
		v_theta_p := 1 + v_margin / v_rate_b;
	ELSIF v_test = 'event_share' THEN
		-- Quantiles: the candidate's values above each threshold, against
		-- 1 - q (the share above its own quantile). The event-share test
		-- with one segment of share 1 - q, the candidate's values above as
		-- its events and those below as the other arm's, is the always-valid
		-- one-sample binomial test of that share: fail when more than 1 - q
		-- lie above the fail threshold, pass when fewer than 1 - q lie above
		-- the pass threshold.
		-- value_candidate: the candidate's share above the fail threshold;
		-- value_baseline: the share its null hypothesis allows (1 - q).
		v_syc := (SELECT sum(u) FROM unnest(v_yc) u);
		res.value_candidate := v_sxc / v_nc;
		res.value_baseline := 1 - v_q;
		res.estimate := res.value_candidate - res.value_baseline;
		v_xc := ARRAY[v_sxc::bigint];
		v_xb := ARRAY[(v_nc - v_sxc)::bigint];
		v_yc := ARRAY[v_syc::bigint];
		v_yb := ARRAY[(v_nc - v_syc)::bigint];
		v_share := ARRAY[1 - v_q];
		v_theta_f := 1;
		v_theta_p := 1;
	ELSE
		-- sequential: a difference of means (of 0/1 values for a rate).
		IF v_cmp = 'rate' THEN
			v_sc := CASE WHEN v_metric = 'success' THEN v_nc - v_sxc ELSE v_sxc END;
			v_sb := CASE WHEN v_metric = 'success' THEN v_nb - v_sxb ELSE v_sxb END;
			v_qc := v_sc;
			v_qb := v_sb;
		END IF;
		res.value_candidate := v_sc / v_nc;
		res.value_baseline := v_sb / v_nb;
		res.estimate := res.value_candidate - res.value_baseline;
		v_se := sqrt(greatest((v_qc - v_sc * v_sc / v_nc) / (v_nc - 1), 0) / v_nc
					 + greatest((v_qb - v_sb * v_sb / v_nb) / (v_nb - 1), 0) / v_nb);
		v_fail_floor := 100;
		IF v_se = 0 THEN
			v_fail_p := CASE WHEN v_sign * res.estimate > v_fail_margin THEN 0 ELSE 1 END;
			v_pass_p := CASE WHEN v_sign * res.estimate < v_margin THEN 0 ELSE 1 END;
		ELSE
			res.statistic := res.estimate / v_se;
			-- The fail test, the pass test and the confidence sequence in one statement.
			SELECT f.p_value, p.p_value, c.lower, c.upper
				INTO v_fail_p, v_pass_p, res.ci_low, res.ci_high
				FROM rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, v_sign * v_fail_margin,
						 CASE WHEN v_hib THEN 'less' ELSE 'greater' END, v_alpha) f,
					 rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, v_sign * v_margin,
						 CASE WHEN v_hib THEN 'greater' ELSE 'less' END, v_pass_alpha) p,
					 rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, 0, 'two-sided', v_alpha) c;
		END IF;
	END IF;
	IF v_test = 'event_share' THEN
		-- The fail test and the pass test in one statement.
		SELECT f.p_value, f.log_e, p.p_value INTO v_fail_p, res.statistic, v_pass_p
			FROM rollout.event_share_test(v_xc, v_xb, v_share, v_theta_f, 'greater') f,
				 rollout.event_share_test(v_yc, v_yb, v_share, v_theta_p, 'less') p;
	END IF;

	IF v_fail_p < v_alpha AND v_nc >= v_fail_floor AND v_nb >= v_fail_floor THEN
		res.verdict := 'fail';
		res.p_value := v_fail_p;
		res.detail := 'harm shown';
	ELSIF res.n_candidate < v_min THEN
		res.verdict := 'inconclusive';
		res.p_value := v_fail_p;
		res.detail := pg_catalog.format('no harm shown; %s of %s candidate samples%s', res.n_candidate, v_min,
			pg_temp.eta_reference(res.window_to - res.window_from, (v_min - res.n_candidate)::float8 / greatest(res.n_candidate, 1)));
	ELSIF g->>'mode' = 'guardrail' THEN
		res.verdict := 'pass';
		res.p_value := v_fail_p;
		res.detail := 'no harm shown (guardrail)';
	ELSIF r.percent < v_prove_at AND coalesce((r.plan->'steps'->r.stage->>'percent')::numeric, 100) < 100 THEN
		-- Below prove_at_percent, and not the last step before 100%.
		res.verdict := 'pass';
		res.p_value := v_fail_p;
		res.detail := pg_catalog.format('no harm shown; non-inferiority must be shown from %s%% on', v_prove_at);
	ELSIF v_pass_p < v_pass_alpha THEN
		res.verdict := 'pass';
		res.p_value := v_pass_p;
		res.detail := 'non-inferiority shown';
	ELSE
		res.verdict := 'inconclusive';
		res.p_value := v_pass_p;
		-- The evidence grows about linearly with the samples: at the rate
		-- so far, it needs ln(1/pass_alpha) / ln(1/p) times the time so far.
		res.detail := 'no harm shown; non-inferiority not shown yet' ||
			CASE WHEN v_pass_p < exp(-0.5) THEN
				pg_temp.eta_reference(res.window_to - res.window_from, ln(v_pass_alpha) / ln(v_pass_p) - 1)
			ELSE ' (no evidence of it yet)' END;
	END IF;
	IF v_test = 'event_share' AND v_cmp <> 'rate' THEN
		res.detail := res.detail || pg_catalog.format(' (baseline %s %s; %s%% of the candidate''s values above the fail threshold, %s%% allowed)',
			v_cmp, round(v_base::numeric, 6), round((100 * v_sxc / v_nc)::numeric, 2), round((100 * (1 - v_q))::numeric));
	END IF;
	RETURN res;
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
END
$$;


SELECT setseed(0.4242);
SET client_min_messages = warning;
SELECT count(rollout.create_agent('ref' || i)) FROM generate_series(1, 3) i;
SELECT count(rollout.create_version('ref' || i, 'x', 'gpt-4o-2024-08-06'))
	   + count(rollout.create_version('ref' || i, 'y', 'gpt-4o-2024-08-06')) FROM generate_series(1, 3) i;
SELECT count(rollout.set_label('ref' || i, 'production', 1)) FROM generate_series(1, 3) i;
SELECT rollout.start('ref1', 2, risk => 'low') > 0, rollout.start('ref2', 2, risk => 'medium') > 0,
	   rollout.start('ref3', 2, risk => 'high') > 0;
RESET client_min_messages;
CREATE TEMP TABLE ref_gates AS
SELECT r.id AS rid, g FROM rollout.rollouts r, jsonb_array_elements(r.plan->'gates') g WHERE r.agent LIKE 'ref%'
UNION ALL SELECT r.id, g || '{"mode": "guardrail"}' FROM rollout.rollouts r, jsonb_array_elements(r.plan->'gates') g
	WHERE r.agent = 'ref1'
UNION ALL SELECT r.id, g || '{"test": "sequential"}' FROM rollout.rollouts r, jsonb_array_elements(r.plan->'gates') g
	WHERE r.agent = 'ref2' AND g->>'comparison' IN ('rate', 'mean')
UNION ALL SELECT r.id, g || '{"prove_at_percent": 0, "min_samples": 0}' FROM rollout.rollouts r,
	jsonb_array_elements(r.plan->'gates') g WHERE r.agent = 'ref3'
UNION ALL SELECT r.id, g || '{"prove_at_percent": 99.5, "min_samples": 5, "pass_alpha": 0.2}' FROM rollout.rollouts r,
	jsonb_array_elements(r.plan->'gates') g WHERE r.agent = 'ref2'
UNION ALL SELECT r.id, g || '{"comparison": "p95", "metric": "latency_ms", "test": "event_share"}' FROM rollout.rollouts r,
	jsonb_array_elements(r.plan->'gates') g WHERE r.agent = 'ref1' AND g->>'name' = 'latency'
UNION ALL SELECT r.id, g || '{"comparison": "median", "metric": "cost", "test": "event_share"}' FROM rollout.rollouts r,
	jsonb_array_elements(r.plan->'gates') g WHERE r.agent = 'ref1' AND g->>'name' = 'latency'
UNION ALL SELECT r.id, g || '{"comparison": "rate", "metric": "quality"}' FROM rollout.rollouts r,
	jsonb_array_elements(r.plan->'gates') g WHERE r.agent = 'ref1'
UNION ALL SELECT r.id, g || '{"comparison": "mean", "metric": "metrics.tokens", "test": "sequential"}' FROM rollout.rollouts r,
	jsonb_array_elements(r.plan->'gates') g WHERE r.agent = 'ref1' AND g->>'name' = 'quality'
UNION ALL SELECT r.id, g || '{"higher_is_better": null, "alpha": 0.3}' FROM rollout.rollouts r,
	jsonb_array_elements(r.plan->'gates') g WHERE r.agent = 'ref3';
SELECT count(*) AS gates FROM ref_gates;
-- 60 draws per gate: the rollout at another share and stage, 1 to 4
-- stages of tallies.
CREATE TEMP TABLE ref_cases AS
SELECT b.g, rr.r, a.at, tt.t
FROM (SELECT g.rid, g.g, i, 1 + (random() * 3)::int AS s FROM ref_gates g, generate_series(1, 60) i) b
CROSS JOIN LATERAL (SELECT jsonb_populate_record(x, jsonb_build_object(
		'percent', (ARRAY[1, 5, 25, 50, 99])[1 + b.i % 5], 'stage', b.i % 5,
		'stage_started_at', now() - make_interval(mins => (b.i * 7) % 500))) AS r
	FROM rollout.rollouts x WHERE x.id = b.rid) rr
CROSS JOIN LATERAL (SELECT CASE WHEN b.i % 17 = 0 THEN NULL
	ELSE now() + make_interval(mins => (b.i * 13) % 700) END AS at) a
CROSS JOIN LATERAL (
	SELECT ROW(xc, xb, yc, yb, sh, nc, nb, sxc, sxb, sc, sb, qc, qb, base, cf)::rollout.gate_tally_sums AS t
	FROM (SELECT xc, xb, yc, yb, sh,
			  CASE WHEN b.i % 11 = 0 THEN NULL ELSE n_c END AS nc,
			  CASE WHEN b.i % 11 = 0 THEN NULL ELSE n_b END AS nb,
			  (SELECT sum(u) FROM unnest(xc) u)::float8 AS sxc, (SELECT sum(u) FROM unnest(xb) u)::float8 AS sxb,
			  n_c * m_c AS sc, n_b * m_b AS sb, n_c * (m_c * m_c + v_c) AS qc, n_b * (m_b * m_b + v_b) AS qb,
			  CASE WHEN b.i % 5 = 0 THEN NULL ELSE random() * 2000 END AS base,
			  CASE WHEN b.i % 7 = 0 THEN NULL ELSE now() - interval '3 hours' END AS cf
		  FROM (SELECT
				ARRAY(SELECT (random() * 4 * b.i)::bigint FROM generate_series(1, b.s)) AS xc,
				ARRAY(SELECT (random() * 4 * b.i)::bigint FROM generate_series(1, b.s)) AS xb,
				ARRAY(SELECT (random() * 3 * b.i)::bigint FROM generate_series(1, b.s)) AS yc,
				ARRAY(SELECT (random() * 3 * b.i)::bigint FROM generate_series(1, b.s)) AS yb,
				ARRAY(SELECT (ARRAY[0.01, 0.05, 0.25, 0.5, 1, 0])[1 + (random() * 5)::int]::float8
					  FROM generate_series(1, b.s)) AS sh,
				(CASE WHEN b.i % 13 = 0 THEN 1 ELSE 50 * b.i END)::bigint AS n_c,
				(CASE WHEN b.i % 19 = 0 THEN 1 ELSE 60 * b.i END)::bigint AS n_b,
				random() AS m_c, random() AS m_b,
				CASE WHEN b.i % 23 = 0 THEN 0 ELSE random() * 0.1 END AS v_c,
				CASE WHEN b.i % 23 = 0 THEN 0 ELSE random() * 0.1 END AS v_b) q) q2) tt;
CREATE TEMP TABLE ref_results AS
SELECT pg_temp.verdict_av_reference(r, g, at, t) AS want, rollout._verdict_av(r, g, at, t) AS got
FROM ref_cases;
-- Every case equal; every verdict and the detail's kinds covered.
SELECT count(*) AS compared, count(*) FILTER (WHERE want IS DISTINCT FROM got) AS differ,
	   count(DISTINCT (got).verdict) AS verdicts,
	   count(DISTINCT regexp_replace((got).detail, '[0-9.]+', 'N', 'g')) >= 25 AS detail_kinds_25_or_more
FROM ref_results;
SELECT (want).verdict, (want).detail, (got).verdict, (got).detail
FROM ref_results WHERE want IS DISTINCT FROM got LIMIT 5;
-- Missing and NULL inputs: a gate without test, comparison, metric or
-- higher_is_better, no gate at all, no tallies, no rollout row, a rollout
-- without share, stage or plan. The same rows come back (no crash, no
-- error where SQL gave a verdict).
CREATE TEMP TABLE ref_null_cases AS
SELECT v.g, v.r, c.at, v.t
FROM (SELECT * FROM ref_cases LIMIT 330) c
CROSS JOIN LATERAL (VALUES
	(c.g - 'test', c.r, c.t), (c.g - 'comparison', c.r, c.t), (c.g - 'metric', c.r, c.t),
	(c.g - 'higher_is_better' - 'mode', c.r, c.t), (c.g - 'test' - 'comparison', c.r, c.t),
	(NULL::jsonb, c.r, c.t), (c.g, c.r, NULL::rollout.gate_tally_sums), (c.g, NULL::rollout.rollouts, c.t),
	(c.g, jsonb_populate_record(c.r, '{"percent": null, "stage": null}'), c.t),
	(c.g, jsonb_populate_record(c.r, '{"plan": null, "stage_started_at": null}'), c.t)) v(g, r, t);
SELECT count(*) AS compared,
	   count(*) FILTER (WHERE pg_temp.verdict_av_reference(r, g, at, t)
							  IS DISTINCT FROM rollout._verdict_av(r, g, at, t)) AS differ
FROM ref_null_cases;

-- _eta over odd elapsed times and factors.
SELECT count(*) AS eta_cases,
	   count(*) FILTER (WHERE pg_temp.eta_reference(e, f) IS DISTINCT FROM rollout._eta(e, f)) AS eta_differ
FROM (VALUES (NULL::interval), (interval '0'), (interval '-1 hour'), (interval '5 minutes'),
			 (interval '3 days 2 hours'), (interval '1 month'), (interval '40 hours')) e(e),
	 (VALUES (NULL::float8), (0), (-1), (0.001), (0.5), (1), (7.3), (999.9), (1000), (1000.01),
			 ('NaN'::float8), ('Infinity'::float8)) f(f);
SELECT rollout._eta(interval '2 hours', 0.5) AS half_again, rollout._eta(interval '20 hours', 3) AS thrice;

-- Leave the shared test database as this file found it.
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
RESET client_min_messages;
