-- pg_rollout 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.2.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.1.0 + this script equals a
-- fresh 0.2.0 install (test/t/ checks it by comparing pg_dump --schema-only).
-- Sections are grouped by the src/sql/ piece they mirror.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit


-- default gates (issue 9): always-valid tests, one error budget, gate tallies

CREATE OR REPLACE FUNCTION rollout.event_share_test(x_candidate bigint[], x_baseline bigint[],
	share float8[], ratio float8 DEFAULT 1, alternative text DEFAULT 'greater',
	OUT log_e float8, OUT p_value float8, OUT estimate float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_event_share_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

REVOKE ALL ON FUNCTION rollout.event_share_test(bigint[], bigint[], float8[], float8, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION rollout.event_share_test(bigint[], bigint[], float8[], float8, text)
	TO rollout_reader, rollout_service, rollout_operator, rollout_admin;

CREATE OR REPLACE FUNCTION rollout.ddsketch_count_above(sketch rollout.ddsketch, threshold float8) RETURNS bigint
AS 'MODULE_PATHNAME', 'rollout_ddsketch_count_above'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

REVOKE ALL ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch, float8) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch, float8)
	TO rollout_reader, rollout_service, rollout_operator, rollout_admin;

CREATE TABLE rollout.gate_tallies (
	rollout_id		bigint NOT NULL REFERENCES rollout.rollouts (id),
	gate			text NOT NULL,
	stage			integer NOT NULL,
	counted_to		timestamptz NOT NULL,	-- windows starting before this are counted
	n_candidate		bigint NOT NULL DEFAULT 0,
	n_baseline		bigint NOT NULL DEFAULT 0,
	x_candidate		bigint NOT NULL DEFAULT 0,
	x_baseline		bigint NOT NULL DEFAULT 0,
	y_candidate		bigint NOT NULL DEFAULT 0,
	y_baseline		bigint NOT NULL DEFAULT 0,
	sum_candidate	float8 NOT NULL DEFAULT 0,
	sum_baseline	float8 NOT NULL DEFAULT 0,
	sumsq_candidate	float8 NOT NULL DEFAULT 0,
	sumsq_baseline	float8 NOT NULL DEFAULT 0,
	baseline_quantile float8,			-- quantile gates: the last threshold base
	PRIMARY KEY (rollout_id, gate, stage)
);

SELECT pg_catalog.pg_extension_config_dump('rollout.gate_tallies', '');

REVOKE ALL ON rollout.gate_tallies FROM PUBLIC;

GRANT SELECT ON rollout.gate_tallies TO rollout_reader, rollout_operator, rollout_admin;

CREATE OR REPLACE FUNCTION rollout._tally_gate(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_gate text := g->>'name';
	v_metric text := coalesce(g->>'metric', '.srm');
	v_cmp text := coalesce(g->>'comparison', 'rate');
	v_q float8 := CASE g->>'comparison' WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END;
	v_window interval := make_interval(secs => coalesce((g->>'window_seconds')::float8, 3600));
	v_from timestamptz;
	v_to timestamptz := rollout.window_start(p_at);
	v_base float8;
	v_fail float8;
	v_pass float8;
	t record;
	v_nc bigint := 0;
	v_nb bigint := 0;
	v_xc bigint := 0;
	v_xb bigint := 0;
	v_yc bigint := 0;
	v_yb bigint := 0;
BEGIN
	SELECT x.counted_to INTO v_from FROM rollout.gate_tallies x
		WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
	IF NOT FOUND THEN
		v_from := rollout.window_start(r.stage_started_at);
		INSERT INTO rollout.gate_tallies (rollout_id, gate, stage, counted_to)
			VALUES (r.id, v_gate, r.stage, v_from);
	END IF;
	IF v_to <= v_from THEN
		RETURN;
	END IF;

	IF v_cmp = 'rate' THEN
		SELECT coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS xc,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS xb
			INTO t
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_from AND w.window_start < v_to;
		UPDATE rollout.gate_tallies x SET counted_to = v_to,
			n_candidate = x.n_candidate + t.nc, n_baseline = x.n_baseline + t.nb,
			x_candidate = x.x_candidate + t.xc, x_baseline = x.x_baseline + t.xb,
			y_candidate = x.y_candidate + t.xc, y_baseline = x.y_baseline + t.xb
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
	ELSIF v_cmp = 'mean' AND v_metric LIKE 'metrics.%' THEN
		-- A custom metric: its per-window {"n", "sum", "sumsq"} in metrics.
		SELECT coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS sc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS sb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS qc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS qb
			INTO t
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_from AND w.window_start < v_to;
		UPDATE rollout.gate_tallies x SET counted_to = v_to,
			n_candidate = x.n_candidate + t.nc, n_baseline = x.n_baseline + t.nb,
			sum_candidate = x.sum_candidate + t.sc, sum_baseline = x.sum_baseline + t.sb,
			sumsq_candidate = x.sumsq_candidate + t.qc, sumsq_baseline = x.sumsq_baseline + t.qb
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
	ELSIF v_cmp = 'mean' THEN
		SELECT coalesce(sum(CASE v_metric WHEN 'quality' THEN w.n_quality WHEN 'latency_ms' THEN w.n_latency
							 WHEN 'cost' THEN w.n_cost WHEN 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.n_quality WHEN 'latency_ms' THEN w.n_latency
							 WHEN 'cost' THEN w.n_cost WHEN 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sum_quality WHEN 'latency_ms' THEN w.sum_latency
							 WHEN 'cost' THEN w.sum_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS sc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sum_quality WHEN 'latency_ms' THEN w.sum_latency
							 WHEN 'cost' THEN w.sum_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'stable'), 0) AS sb,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sumsq_quality WHEN 'latency_ms' THEN w.sumsq_latency
							 WHEN 'cost' THEN w.sumsq_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS qc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sumsq_quality WHEN 'latency_ms' THEN w.sumsq_latency
							 WHEN 'cost' THEN w.sumsq_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'stable'), 0) AS qb
			INTO t
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_from AND w.window_start < v_to;
		UPDATE rollout.gate_tallies x SET counted_to = v_to,
			n_candidate = x.n_candidate + t.nc, n_baseline = x.n_baseline + t.nb,
			sum_candidate = x.sum_candidate + t.sc, sum_baseline = x.sum_baseline + t.sb,
			sumsq_candidate = x.sumsq_candidate + t.qc, sumsq_baseline = x.sumsq_baseline + t.qb
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
	ELSE
		-- The base: the baseline's quantile over the gate's window before v_from.
		SELECT rollout.ddsketch_quantile(rollout.ddsketch_merge(
				CASE WHEN v_metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END), v_q)
			INTO v_base
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND w.arm = 'stable' AND NOT w.shadow
			  AND w.window_start >= v_from - v_window AND w.window_start < v_from;
		IF v_base IS NOT NULL THEN
			-- Latency and cost: higher is worse.
			v_fail := CASE WHEN g->'ratio' <> 'null' THEN v_base * (1 + (g->>'fail_ratio')::float8)
						   ELSE v_base + (g->>'fail_margin')::float8 END;
			v_pass := CASE WHEN g->'ratio' <> 'null' THEN v_base * (1 + (g->>'ratio')::float8)
						   ELSE v_base + (g->>'margin')::float8 END;
			SELECT coalesce(sum(s.n) FILTER (WHERE s.arm = 'candidate'), 0) AS nc,
				   coalesce(sum(s.n) FILTER (WHERE s.arm = 'stable'), 0) AS nb,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_fail)) FILTER (WHERE s.arm = 'candidate'), 0) AS xc,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_fail)) FILTER (WHERE s.arm = 'stable'), 0) AS xb,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_pass)) FILTER (WHERE s.arm = 'candidate'), 0) AS yc,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_pass)) FILTER (WHERE s.arm = 'stable'), 0) AS yb
				INTO t
				FROM (SELECT w.arm,
							 CASE WHEN v_metric = 'latency_ms' THEN w.n_latency ELSE w.n_cost END AS n,
							 CASE WHEN v_metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END AS sketch
					  FROM rollout.outcome_windows w
					  WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
						AND w.window_start >= v_from AND w.window_start < v_to) s
				WHERE s.sketch IS NOT NULL;
			v_nc := t.nc; v_nb := t.nb; v_xc := t.xc; v_xb := t.xb; v_yc := t.yc; v_yb := t.yb;
		END IF;
		-- Windows before any baseline data are passed over: nothing fixed
		-- a threshold for them in advance.
		UPDATE rollout.gate_tallies x SET counted_to = v_to,
			n_candidate = x.n_candidate + v_nc, n_baseline = x.n_baseline + v_nb,
			x_candidate = x.x_candidate + v_xc, x_baseline = x.x_baseline + v_xb,
			y_candidate = x.y_candidate + v_yc, y_baseline = x.y_baseline + v_yb,
			baseline_quantile = coalesce(v_base, x.baseline_quantile)
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION rollout._eta(p_elapsed interval, p_factor float8) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p_factor IS NULL OR p_factor <= 0 OR p_elapsed <= interval '0' THEN ''
				WHEN p_factor > 1000 THEN ', more than 1000 times the time so far at the current rate'
				ELSE pg_catalog.format(', about %s%s h %s min more at the current rate',
						CASE WHEN m >= 1440 THEN (m / 1440) || ' d ' ELSE '' END, m % 1440 / 60, m % 60) END
	FROM (SELECT ceil(extract(epoch FROM p_elapsed) * p_factor / 60)::bigint AS m) x
$$;

CREATE OR REPLACE FUNCTION rollout._evaluate_gate_av(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
	v_xc bigint[];
	v_xb bigint[];
	v_yc bigint[];
	v_yb bigint[];
	v_share float8[];
	v_nc bigint;
	v_nb bigint;
	v_sxc float8;
	v_sxb float8;
	v_syb float8;
	v_syc float8;
	v_sc float8;
	v_sb float8;
	v_qc float8;
	v_qb float8;
	v_base float8;
	v_from timestamptz;
	v_rate_b float8;
	v_theta_f float8;
	v_theta_p float8;
	v_fail_p float8;
	v_pass_p float8;
	v_fail_floor bigint := 0;
	v_se float8;
	t record;
BEGIN
	IF v_cmp = 'rate' AND v_metric NOT IN ('success', 'error', 'safety')
	   OR v_cmp = 'mean' AND v_metric NOT IN ('quality', 'latency_ms', 'cost', 'success', 'error', 'safety')
		  AND v_metric NOT LIKE 'metrics.%' THEN
		RAISE EXCEPTION 'metric "%" is not supported by the % test', v_metric, v_test
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'Always-valid tests read success, error, safety (rates); quality, latency_ms, cost and custom metrics (means); latency_ms, cost (quantiles).';
	END IF;
	PERFORM rollout._tally_gate(r, g, p_at);
	SELECT array_agg(x.x_candidate ORDER BY x.stage), array_agg(x.x_baseline ORDER BY x.stage),
		   array_agg(x.y_candidate ORDER BY x.stage), array_agg(x.y_baseline ORDER BY x.stage),
		   array_agg(x.n_candidate::float8 / (x.n_candidate + x.n_baseline) ORDER BY x.stage),
		   sum(x.n_candidate), sum(x.n_baseline), sum(x.x_candidate), sum(x.x_baseline), sum(x.y_baseline),
		   sum(x.sum_candidate), sum(x.sum_baseline), sum(x.sumsq_candidate), sum(x.sumsq_baseline),
		   (array_agg(x.baseline_quantile ORDER BY x.stage DESC))[1], min(x.counted_to) FILTER (WHERE x.stage = 1)
		INTO v_xc, v_xb, v_yc, v_yb, v_share, v_nc, v_nb, v_sxc, v_sxb, v_syb,
			 v_sc, v_sb, v_qc, v_qb, v_base, v_from
		FROM rollout.gate_tallies x
		WHERE x.rollout_id = r.id AND x.gate = g->>'name' AND x.stage >= 1
		  AND x.n_candidate + x.n_baseline > 0;
	res.window_to := rollout.window_start(p_at);
	SELECT s.started_at INTO v_from FROM rollout.stages s WHERE s.rollout_id = r.id AND s.stage = 1;
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
		v_syc := (SELECT sum(u) FROM unnest(v_yc) u);
		res.value_candidate := v_sxc / v_nc;
		res.value_baseline := v_sxb / v_nb;
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
			SELECT * INTO t FROM rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, v_sign * v_fail_margin,
				CASE WHEN v_hib THEN 'less' ELSE 'greater' END, v_alpha);
			v_fail_p := t.p_value;
			SELECT * INTO t FROM rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, v_sign * v_margin,
				CASE WHEN v_hib THEN 'greater' ELSE 'less' END, v_pass_alpha);
			v_pass_p := t.p_value;
			SELECT * INTO t FROM rollout.sequential_test(res.estimate, v_se, v_nc + v_nb, 0, 'two-sided', v_alpha);
			res.ci_low := t.lower;
			res.ci_high := t.upper;
		END IF;
	END IF;
	IF v_test = 'event_share' THEN
		SELECT * INTO t FROM rollout.event_share_test(v_xc, v_xb, v_share, v_theta_f, 'greater');
		v_fail_p := t.p_value;
		res.statistic := t.log_e;
		SELECT * INTO t FROM rollout.event_share_test(v_yc, v_yb, v_share, v_theta_p, 'less');
		v_pass_p := t.p_value;
	END IF;

	IF v_fail_p < v_alpha AND v_nc >= v_fail_floor AND v_nb >= v_fail_floor THEN
		res.verdict := 'fail';
		res.p_value := v_fail_p;
		res.detail := 'harm shown';
	ELSIF res.n_candidate < v_min THEN
		res.verdict := 'inconclusive';
		res.p_value := v_fail_p;
		res.detail := pg_catalog.format('no harm shown; %s of %s candidate samples%s', res.n_candidate, v_min,
			rollout._eta(res.window_to - res.window_from, (v_min - res.n_candidate)::float8 / greatest(res.n_candidate, 1)));
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
				rollout._eta(res.window_to - res.window_from, ln(v_pass_alpha) / ln(v_pass_p) - 1)
			ELSE ' (no evidence of it yet)' END;
	END IF;
	IF v_test = 'event_share' AND v_cmp <> 'rate' THEN
		res.detail := res.detail || pg_catalog.format(' (baseline %s %s)', v_cmp, round(v_base::numeric, 6));
	END IF;
	RETURN res;
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
END
$$;

CREATE OR REPLACE FUNCTION rollout._evaluate_gate(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res rollout.gate_verdict;
	v_metric text := g->>'metric';
	v_custom text;
	v_cmp text := g->>'comparison';
	v_test text := g->>'test';
	v_mode text := coalesce(g->>'mode', 'non_inferiority');
	v_hib boolean := (g->>'higher_is_better')::boolean;
	v_alpha float8 := coalesce((g->>'alpha')::float8, 0.05);
	v_min bigint := coalesce((g->>'min_samples')::bigint, 0);
	v_window interval := make_interval(secs => coalesce((g->>'window_seconds')::float8, 3600));
	v_margin float8 := (g->>'margin')::float8;
	v_ratio float8 := (g->>'ratio')::float8;
	v_from timestamptz;
	c record;
	b record;
	c_found boolean;
	b_found boolean;
	sc_n bigint;
	sc_value float8;
	sc_sd float8;
	sc_x bigint;
	sb_n bigint;
	sb_value float8;
	sb_sd float8;
	sb_x bigint;
	v_delta float8;
	v_sign float8;
	v_alt_pass text;
	v_alt_fail text;
	v_pass_p float8;
	v_fail_p float8;
	xs float8[];
	ys float8[];
	t record;
BEGIN
	IF v_test IN ('event_share', 'sequential') THEN
		RETURN rollout._evaluate_gate_av(r, g, p_at);
	END IF;
	IF v_metric LIKE 'metrics.%' THEN
		v_custom := substr(v_metric, 9);
	END IF;
	res.window_to := p_at;
	-- Windows are 5-minute buckets tagged with their stage: start from the
	-- bucket holding the boundary, so a stage's first partial bucket counts.
	v_from := rollout.window_start(greatest(r.stage_started_at, p_at - v_window));

	-- The rolling window, widened to the whole stage when it is too thin.
	FOR i IN 1..2 LOOP
		res.window_from := v_from;
		IF v_metric IN ('success', 'error', 'safety') THEN
			-- Boolean metrics need only the counts.
			SELECT * INTO c FROM rollout._arm_counts(r.id, v_from, p_at + interval '1 microsecond', r.stage) s
				WHERE s.arm = 'candidate';
			c_found := FOUND;
			SELECT * INTO b FROM rollout._arm_counts(r.id, v_from, p_at + interval '1 microsecond', r.stage) s
				WHERE s.arm = 'stable';
			b_found := FOUND;
		ELSE
			SELECT * INTO c FROM rollout.arm_summary(r.id, v_from, p_at + interval '1 microsecond', v_custom, r.stage) s
				WHERE s.arm = 'candidate' AND NOT s.shadow;
			c_found := FOUND;
			SELECT * INTO b FROM rollout.arm_summary(r.id, v_from, p_at + interval '1 microsecond', v_custom, r.stage) s
				WHERE s.arm = 'stable' AND NOT s.shadow;
			b_found := FOUND;
		END IF;
		sc_n := 0; sc_value := NULL; sc_sd := NULL; sc_x := NULL;
		sb_n := 0; sb_value := NULL; sb_sd := NULL; sb_x := NULL;
		IF c_found AND b_found THEN
			SELECT * INTO sc_n, sc_value, sc_sd, sc_x FROM rollout._arm_stat(c, v_metric, v_cmp, v_custom);
			SELECT * INTO sb_n, sb_value, sb_sd, sb_x FROM rollout._arm_stat(b, v_metric, v_cmp, v_custom);
		END IF;
		EXIT WHEN v_from <= rollout.window_start(r.stage_started_at)
			OR (coalesce(sc_n, 0) >= greatest(v_min, 1) AND coalesce(sb_n, 0) >= greatest(v_min, 1));
		v_from := rollout.window_start(r.stage_started_at);
	END LOOP;

	-- Quantiles of metrics without a sketch come from raw values.
	IF c_found AND b_found AND sc_n IS NULL THEN
		xs := rollout.arm_values(r.id, 'candidate', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		ys := rollout.arm_values(r.id, 'stable', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		sc_n := coalesce(cardinality(xs), 0);
		sb_n := coalesce(cardinality(ys), 0);
		sc_value := (SELECT percentile_disc(CASE v_cmp WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END)
					   WITHIN GROUP (ORDER BY u) FROM unnest(xs) u);
		sb_value := (SELECT percentile_disc(CASE v_cmp WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END)
					   WITHIN GROUP (ORDER BY u) FROM unnest(ys) u);
	END IF;

	res.n_candidate := coalesce(sc_n, 0);
	res.n_baseline := coalesce(sb_n, 0);
	res.value_candidate := sc_value;
	res.value_baseline := sb_value;
	IF res.n_candidate < greatest(v_min, 1) OR res.n_baseline < greatest(v_min, 1) THEN
		res.verdict := 'inconclusive';
		res.detail := pg_catalog.format('too few samples: candidate %s, baseline %s, need %s each',
										res.n_candidate, res.n_baseline, greatest(v_min, 1));
		RETURN res;
	END IF;

	-- Orientation: degradation D = sign * (candidate - baseline) > 0 is worse.
	v_sign := CASE WHEN v_hib THEN -1 ELSE 1 END;
	v_delta := CASE WHEN v_ratio IS NOT NULL THEN v_ratio * abs(sb_value) ELSE coalesce(v_margin, 0) END;
	res.estimate := sc_value - sb_value;
	-- H0 of the pass test: D >= delta; of the fail test: D <= delta. In terms
	-- of candidate - baseline the boundary is sign * delta.
	v_alt_pass := CASE WHEN v_hib THEN 'greater' ELSE 'less' END;
	v_alt_fail := CASE WHEN v_hib THEN 'less' ELSE 'greater' END;

	IF v_test = 'hard_limit' THEN
		res.statistic := v_sign * res.estimate;
		res.verdict := CASE WHEN v_sign * res.estimate > v_delta THEN 'fail' ELSE 'pass' END;
		res.detail := pg_catalog.format('limit: candidate %s baseline by at most %s',
										CASE WHEN v_hib THEN 'below' ELSE 'above' END, v_delta);
		RETURN res;
	ELSIF v_test = 'proportion' THEN
		SELECT * INTO t FROM rollout.proportion_test(sc_x, sc_n, sb_x, sb_n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.statistic;
		SELECT * INTO t FROM rollout.proportion_test(sc_x, sc_n, sb_x, sb_n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSIF v_test = 'welch' THEN
		IF sc_sd IS NULL OR sb_sd IS NULL THEN
			res.verdict := 'inconclusive';
			res.detail := 'a variance needs at least two samples per arm';
			RETURN res;
		END IF;
		SELECT * INTO t FROM rollout.welch_test(sc_value, sc_sd, sc_n, sb_value, sb_sd, sb_n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.t;
		SELECT * INTO t FROM rollout.welch_test(sc_value, sc_sd, sc_n, sb_value, sb_sd, sb_n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSIF v_test = 'mann_whitney' THEN
		xs := rollout.arm_values(r.id, 'candidate', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		ys := rollout.arm_values(r.id, 'stable', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		-- Shift the baseline to the threshold: candidate vs baseline worsened by delta.
		IF v_ratio IS NOT NULL THEN
			ys := ARRAY(SELECT u * (1 + v_sign * v_ratio) FROM unnest(ys) u);
		ELSE
			ys := ARRAY(SELECT u + v_sign * v_delta FROM unnest(ys) u);
		END IF;
		IF cardinality(xs) = 0 OR cardinality(ys) = 0 THEN
			res.verdict := 'inconclusive';
			res.detail := 'no raw values in the window';
			RETURN res;
		END IF;
		SELECT * INTO t FROM rollout.mann_whitney(xs, ys, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.u;
		SELECT * INTO t FROM rollout.mann_whitney(xs, ys, v_alt_fail);
		v_fail_p := t.p_value;
	ELSE
		res.verdict := 'error';
		res.detail := pg_catalog.format('unknown test "%s"', v_test);
		RETURN res;
	END IF;

	IF v_fail_p IS NOT NULL AND v_fail_p < v_alpha THEN
		res.verdict := 'fail';
		res.p_value := v_fail_p;
		res.detail := 'inferiority shown';
	ELSIF v_mode = 'guardrail' THEN
		res.verdict := 'pass';
		res.p_value := v_fail_p;
		res.detail := 'no significant degradation';
	ELSIF v_pass_p IS NOT NULL AND v_pass_p < v_alpha THEN
		res.verdict := 'pass';
		res.p_value := v_pass_p;
		res.detail := 'non-inferiority shown';
	ELSE
		res.verdict := 'inconclusive';
		res.p_value := v_pass_p;
		res.detail := 'the test cannot tell yet';
	END IF;
	RETURN res;
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
END
$$;

CREATE OR REPLACE FUNCTION rollout._srm_reason(r rollout.rollouts, p_at timestamptz) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_alpha float8 := coalesce((r.plan->>'srm_alpha')::float8, 0.001);
	v_c bigint[];
	v_b bigint[];
	v_share float8[];
	t record;
BEGIN
	IF r.strategy <> 'canary' OR r.percent <= 0 OR r.percent >= 100
	   OR jsonb_array_length(r.rules) > 0 OR r.boosted THEN
		RETURN NULL;
	END IF;
	PERFORM rollout._tally_gate(r, '{"name": ".srm"}', p_at);
	SELECT array_agg(x.n_candidate ORDER BY x.stage), array_agg(x.n_baseline ORDER BY x.stage),
		   array_agg(s.percent::float8 / 100 ORDER BY x.stage)
		INTO v_c, v_b, v_share
		FROM rollout.gate_tallies x
		JOIN rollout.stages s ON s.rollout_id = r.id AND s.stage = x.stage
		WHERE x.rollout_id = r.id AND x.gate = '.srm' AND x.stage >= 1
		  AND s.percent > 0 AND s.percent < 100;
	IF v_c IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT * INTO t FROM rollout.event_share_test(v_c, v_b, v_share, 1, 'two-sided');
	IF t.p_value < v_alpha THEN
		RETURN pg_catalog.format('sample ratio mismatch: %s candidate / %s stable outcomes at %s%% (always-valid p = %s)',
								 v_c[cardinality(v_c)], v_b[cardinality(v_b)], r.percent, to_char(t.p_value, '9.9EEEE'));
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION rollout._boost(r rollout.rollouts, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_next jsonb := r.plan->'steps'->r.stage;
BEGIN
	IF r.boosted OR NOT coalesce((r.plan->'extend'->>'allow_boost')::boolean, false)
	   OR v_next IS NULL OR (v_next->>'percent')::numeric >= 100 THEN
		RETURN false;
	END IF;
	UPDATE rollout.rollouts SET percent = (v_next->>'percent')::numeric, boosted = true WHERE id = r.id;
	PERFORM rollout._record_change(r, 'boost',
		pg_catalog.format('short of samples: share raised to %s%% for sample collection', v_next->>'percent'), p_at);
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION rollout._tick_canary(r rollout.rollouts, p_at timestamptz,
									 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_name text;
	v_act text;
	v_streak jsonb := r.fail_streak;
	v_count integer;
	v_last timestamptz;
	v_all_pass boolean := true;
	v_rollback_now text;
	v_rollback text;
	v_freeze text;
	v_approval text;
	v_hold text;
	v_alerts text[] := '{}';
	v_blocking text[] := '{}';
	v_verdicts jsonb := '{}';
	v_srm text;
	v_step jsonb;
	v_bake_until timestamptz;
	v_need bigint;
	v_n_c bigint;
	v_n_b bigint;
BEGIN
	FOR g IN SELECT * FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) LOOP
		v_name := g->>'name';
		v_act := g->>'action';
		v := rollout._evaluate_gate(r, g, p_at);
		v_verdicts := v_verdicts || jsonb_build_object(v_name, v.verdict);
		IF v_act = 'dry_run' THEN
			PERFORM rollout._store_verdict(r, g, v, p_at, false);
			CONTINUE;
		END IF;
		IF v.verdict <> 'pass' THEN
			v_all_pass := false;
			v_blocking := v_blocking || pg_catalog.format('%s %s', v_name, v.verdict);
		END IF;
		IF v.verdict = 'fail' THEN
			IF coalesce((g->>'alert')::boolean, false) OR v_act = 'alert' THEN
				v_alerts := v_alerts || v_name;
			END IF;
			CASE v_act
				WHEN 'rollback_now' THEN
					v_rollback_now := coalesce(v_rollback_now, pg_catalog.format('gate %s failed: %s', v_name, v.detail));
				WHEN 'rollback' THEN
					v_count := coalesce((v_streak->v_name->>'count')::integer, 0);
					v_last := (v_streak->v_name->>'last')::timestamptz;
					IF v_last IS NULL OR p_at - v_last >= make_interval(secs => coalesce((g->>'window_seconds')::float8, 0)) THEN
						v_count := v_count + 1;
						v_last := p_at;
					END IF;
					v_streak := v_streak || jsonb_build_object(v_name, jsonb_build_object('count', v_count, 'last', v_last));
					IF v_count >= coalesce((g->>'consecutive')::integer, 1) THEN
						v_rollback := coalesce(v_rollback, pg_catalog.format('gate %s failed in %s consecutive windows', v_name, v_count));
					ELSE
						v_hold := coalesce(v_hold, pg_catalog.format('gate %s failed (%s of %s windows)', v_name, v_count, g->>'consecutive'));
					END IF;
				WHEN 'freeze' THEN
					v_freeze := coalesce(v_freeze, pg_catalog.format('gate %s failed', v_name));
				WHEN 'hold_for_approval' THEN
					IF r.approved_stage IS DISTINCT FROM r.stage THEN
						v_approval := coalesce(v_approval, pg_catalog.format('gate %s failed', v_name));
					ELSE
						-- Approved for this stage: the failure no longer blocks.
						v_blocking := array_remove(v_blocking, pg_catalog.format('%s fail', v_name));
					END IF;
				WHEN 'hold' THEN
					v_hold := coalesce(v_hold, pg_catalog.format('gate %s failed', v_name));
				ELSE
					NULL;
			END CASE;
		ELSIF v_streak ? v_name THEN
			v_streak := v_streak - v_name;
		END IF;
		PERFORM rollout._store_verdict(r, g, v, p_at,
			v.verdict = 'fail' AND v_act IN ('rollback_now', 'rollback', 'freeze', 'hold_for_approval', 'hold'));
	END LOOP;

	UPDATE rollout.rollouts SET fail_streak = v_streak, last_eval_at = p_at WHERE id = r.id;
	UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage;
	SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;

	IF cardinality(v_alerts) > 0 THEN
		PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
			jsonb_build_object('gates', to_jsonb(v_alerts)), 'gate failed', p_at);
		PERFORM rollout._notify_change(r.id, r.agent, 'alert', r.state, r.stage, r.percent, p_at,
									   'gates failed: ' || array_to_string(v_alerts, ', '));
	END IF;

	IF v_rollback_now IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, true, 'rollback_now', v_rollback_now, p_at);
		action := 'rollback_now'; detail := v_rollback_now;
		RETURN;
	END IF;
	IF v_rollback IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, false, 'rollback', v_rollback, p_at);
		action := 'rollback'; detail := v_rollback;
		RETURN;
	END IF;
	IF v_freeze IS NOT NULL THEN
		PERFORM rollout._hold(r, 'paused', 'freeze', v_freeze, p_at);
		action := 'freeze'; detail := v_freeze;
		RETURN;
	END IF;
	IF v_approval IS NOT NULL THEN
		PERFORM rollout._hold(r, 'awaiting_approval', 'hold_for_approval', v_approval, p_at);
		action := 'hold_for_approval'; detail := v_approval;
		RETURN;
	END IF;
	v_srm := rollout._srm_reason(r, p_at);
	v_hold := coalesce(v_hold, v_srm);
	IF v_hold IS NOT NULL THEN
		IF rollout._hold(r, 'holding', 'hold', v_hold, p_at) THEN
			action := 'hold';
		ELSE
			action := 'wait';
		END IF;
		detail := v_hold;
		RETURN;
	END IF;

	-- Nothing failed. Advancing needs every acting gate to pass, the bake
	-- time and the step's samples.
	v_step := r.plan->'steps'->(r.stage - 1);
	v_bake_until := r.stage_started_at + make_interval(secs => coalesce((v_step->>'bake_seconds')::float8, 0));
	IF cardinality(v_blocking) > 0 THEN
		action := 'wait';
		detail := 'gates not passed: ' || array_to_string(v_blocking, ', ');
		-- After the bake, gates that cannot tell yet need more samples.
		IF p_at >= v_bake_until
		   AND NOT EXISTS (SELECT 1 FROM unnest(v_blocking) b WHERE b NOT LIKE '% inconclusive')
		   AND rollout._boost(r, p_at) THEN
			action := 'boost';
		END IF;
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		UPDATE rollout.rollouts SET state = 'canary', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release', 'every gate passes again', p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
	END IF;

	v_need := coalesce((v_step->>'min_samples')::bigint, 0);
	SELECT coalesce(sum(s.n) FILTER (WHERE s.arm = 'candidate'), 0),
		   coalesce(sum(s.n) FILTER (WHERE s.arm = 'stable'), 0)
		INTO v_n_c, v_n_b
		FROM rollout._arm_counts(r.id, rollout.window_start(r.stage_started_at), p_at + interval '1 microsecond', r.stage) s;

	IF p_at < v_bake_until THEN
		action := 'wait';
		detail := pg_catalog.format('baking until %s', v_bake_until);
		RETURN;
	END IF;
	IF v_n_c < v_need OR v_n_b < v_need THEN
		action := 'wait';
		detail := pg_catalog.format('bake time over, short of samples: candidate %s, baseline %s, need %s',
									v_n_c, v_n_b, v_need);
		IF rollout._boost(r, p_at) THEN
			action := 'boost';
		END IF;
		RETURN;
	END IF;
	IF rollout.in_blackout(r.plan, p_at) THEN
		action := 'wait';
		detail := 'inside a blackout window';
		RETURN;
	END IF;
	detail := rollout._advance(r, false, 'advance',
		pg_catalog.format('stage %s passed: every gate passed, %s candidate and %s baseline samples',
						  r.stage, v_n_c, v_n_b), p_at);
	action := CASE WHEN detail = 'promoted' THEN 'promote' ELSE 'advance' END;
END
$$;

-- A fresh install revokes every function from PUBLIC once (63_status.sql).
REVOKE ALL ON FUNCTION rollout._tally_gate(rollout.rollouts, jsonb, timestamptz),
	rollout._eta(interval, float8),
	rollout._evaluate_gate_av(rollout.rollouts, jsonb, timestamptz),
	rollout._boost(rollout.rollouts, timestamptz) FROM PUBLIC;
-- end of default gates (issue 9)

-- timeline, metrics, comments (issue 14)
-- Identical to src/sql/70_timeline.sql, src/sql/71_metrics.sql, src/sql/90_comments.sql.

-- 70: rollout.timeline(): one rollout's story for analysts, one ordered row
-- per thing that happened: every event (start, advance, hold, release,
-- pause, approval, promotion, rollback, alerts), every change of a gate's
-- verdict, and every stage boundary, each with the state and candidate
-- share after it and a sentence a person reads. Reference: docs/lifecycle.md.

-- A duration as a person says it: 45 s, 25 min, 2 h 5 min, 3 d 4 h.
CREATE FUNCTION rollout._timeline_duration(d interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN s < 60 THEN pg_catalog.format('%s s', s)
		WHEN s < 3600 THEN pg_catalog.format('%s min', s / 60)
		WHEN s < 86400 THEN pg_catalog.format('%s h', s / 3600)
			 || CASE WHEN s % 3600 >= 60 THEN pg_catalog.format(' %s min', s % 3600 / 60) ELSE '' END
		ELSE pg_catalog.format('%s d', s / 86400)
			 || CASE WHEN s % 86400 >= 3600 THEN pg_catalog.format(' %s h', s % 86400 / 3600) ELSE '' END
	END
	FROM (SELECT floor(extract(epoch FROM d))::bigint AS s) x
$$;

-- A one-line description of a rollout event.
CREATE FUNCTION rollout._timeline_event_text(p_action text, p_actor text, p_old jsonb,
											 p_new jsonb, p_reason text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE p_action
		WHEN 'start' THEN pg_catalog.format('%s started a %s rollout of version %s against version %s (risk %s) in state %s at %s%%',
			p_actor, p_new->>'strategy', p_new->>'candidate', p_new->>'baseline',
			coalesce(p_new->>'risk', 'custom'), p_new->>'state', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'advance' THEN pg_catalog.format('advanced from stage %s to stage %s: candidate share %s%% -> %s%%',
			p_old->>'stage', p_new->>'stage', pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'promote_manual' THEN pg_catalog.format('%s advanced it by hand: candidate share %s%% -> %s%%',
			p_actor, pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'promote' THEN 'promoted: the candidate now serves all traffic and is labelled production'
		WHEN 'rollback' THEN pg_catalog.format('rolled back from %s%% to the baseline; pinned sessions drain first',
			pg_catalog.trim_scale((p_old->>'percent')::numeric))
		WHEN 'rollback_now' THEN pg_catalog.format('rolled back at once from %s%%, without drain',
			pg_catalog.trim_scale((p_old->>'percent')::numeric))
		WHEN 'hold' THEN pg_catalog.format('holding at %s%%', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'release' THEN pg_catalog.format('released from hold, back to %s at %s%%',
			p_new->>'state', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'freeze' THEN pg_catalog.format('frozen by a gate at %s%% (paused until someone resumes it)',
			pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'hold_for_approval' THEN pg_catalog.format('waiting at %s%% for a person to approve',
			pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'approve' THEN pg_catalog.format('%s approved it', p_actor)
		WHEN 'pause' THEN pg_catalog.format('%s paused it at %s%%', p_actor, pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'resume' THEN pg_catalog.format('%s resumed it (%s at %s%%)', p_actor, p_new->>'state',
			pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'boost' THEN pg_catalog.format('share raised from %s%% to %s%% to collect samples faster',
			pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'alert' THEN pg_catalog.format('alert: gate(s) %s failed',
			(SELECT pg_catalog.string_agg(g, ', ') FROM pg_catalog.jsonb_array_elements_text(p_new->'gates') g))
		WHEN 'superseded' THEN pg_catalog.format('ended by an emergency deployment (%s)', p_new->>'state')
		WHEN 'deploy_now' THEN pg_catalog.format('%s deployed a version at once, bypassing the canary', p_actor)
		WHEN 'baseline_refresh' THEN pg_catalog.format('stable period over: version %s is the new baseline',
			p_new->>'version')
		ELSE pg_catalog.format('%s by %s', p_action, p_actor)
	END || coalesce(' -- ' || p_reason, '')
$$;

-- The story of one rollout of an agent, or of every rollout of the agent
-- when rollout_id is NULL, in the order things happened (column rollout
-- names the rollout of each row). kind is event,
-- gate (a gate's verdict changed, or its first verdict) or stage (a stage
-- began or ended); state, stage and share are those after the row.
CREATE FUNCTION rollout.timeline(agent text, rollout_id bigint DEFAULT NULL)
RETURNS TABLE(at timestamptz, rollout bigint, kind text, action text, state text,
			  stage integer, share numeric, gate text, verdict text, actor text,
			  description text, event_id bigint)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout._require_arg(timeline.agent, 'agent');
	PERFORM 1 FROM rollout.agents a WHERE a.name = timeline.agent;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" does not exist', timeline.agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "agent" must name an agent created with rollout.create_agent().';
	END IF;
	IF timeline.rollout_id IS NOT NULL THEN
		PERFORM 1 FROM rollout.rollouts r
			WHERE r.id = timeline.rollout_id AND r.agent = timeline.agent;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'rollout % of agent "%" does not exist', timeline.rollout_id, timeline.agent
				USING ERRCODE = 'undefined_object',
					  DETAIL = 'Argument "rollout_id" must name a rollout of that agent (see rollout.rollouts).';
		END IF;
	END IF;

	RETURN QUERY
	WITH ro AS (
		SELECT r.* FROM rollout.rollouts r
		WHERE r.agent = timeline.agent
		  AND (timeline.rollout_id IS NULL OR r.id = timeline.rollout_id)
	), items AS (
		-- Events; within one instant: verdicts (1), stage end (2), event (3), stage start (4).
		SELECT e.at, e.rollout_id, 'event'::text AS kind, e.action, e.new->>'state' AS state,
			   (e.new->>'stage')::integer AS stage, pg_catalog.trim_scale((e.new->>'percent')::numeric) AS share,
			   NULL::text AS gate, NULL::text AS verdict, e.actor,
			   rollout._timeline_event_text(e.action, e.actor, e.old, e.new, e.reason) AS description,
			   e.id AS event_id, 3 AS seq, e.id AS tiebreak
		FROM rollout.events e JOIN ro ON ro.id = e.rollout_id
		UNION ALL
		-- Gate verdicts, only when they change (the first verdict counts as a change).
		SELECT g.at, g.rollout_id, 'gate', 'verdict', NULL, g.stage, NULL, g.gate, g.verdict, NULL,
			   pg_catalog.format('gate %s: %s%s%s%s%s',
				   g.gate,
				   CASE WHEN g.prev IS NULL THEN g.verdict
						ELSE pg_catalog.format('%s (was %s)', g.verdict, g.prev) END,
				   CASE WHEN g.value_candidate IS NOT NULL OR g.value_baseline IS NOT NULL THEN
					   pg_catalog.format(', %s %s candidate %s vs baseline %s', g.comparison, g.metric,
						   coalesce(round(g.value_candidate::numeric, 4)::text, '-'),
						   coalesce(round(g.value_baseline::numeric, 4)::text, '-')) ELSE '' END,
				   pg_catalog.format(', n %s/%s', coalesce(g.n_candidate, 0), coalesce(g.n_baseline, 0)),
				   CASE WHEN g.p_value IS NOT NULL THEN
					   pg_catalog.format(', p %s', CASE WHEN g.p_value >= 0.001 THEN round(g.p_value::numeric, 4)::text
							ELSE pg_catalog.btrim(pg_catalog.to_char(g.p_value::numeric, '9.99EEEE')) END)
				   ELSE '' END,
				   CASE WHEN g.acted THEN pg_catalog.format(' -> %s', g.action) ELSE '' END),
			   NULL, 1, g.id
		FROM (SELECT gr.*, pg_catalog.lag(gr.verdict) OVER (PARTITION BY gr.rollout_id, gr.gate
														   ORDER BY gr.at, gr.id) AS prev
			  FROM rollout.gate_results gr JOIN ro ON ro.id = gr.rollout_id) g
		WHERE g.prev IS DISTINCT FROM g.verdict
		UNION ALL
		SELECT s.started_at, s.rollout_id, 'stage', 'stage_start', NULL, s.stage, pg_catalog.trim_scale(s.percent), NULL, NULL, NULL,
			   CASE WHEN s.stage = 0 THEN 'shadow phase began: the candidate runs beside production, its answers discarded'
					ELSE pg_catalog.format('stage %s began: candidate share %s%%', s.stage, pg_catalog.trim_scale(s.percent)) END,
			   NULL, 4, s.stage::bigint
		FROM rollout.stages s JOIN ro ON ro.id = s.rollout_id
		UNION ALL
		SELECT s.ended_at, s.rollout_id, 'stage', 'stage_end', NULL, s.stage, NULL, NULL, NULL, NULL,
			   pg_catalog.format('stage %s ended (%s) after %s: %s candidate and %s baseline samples',
				   s.stage, coalesce(s.outcome, 'ended'),
				   rollout._timeline_duration(s.ended_at - s.started_at),
				   coalesce(s.metrics->'candidate'->>'n', '0'), coalesce(s.metrics->'stable'->>'n', '0')),
			   NULL, 2, s.stage::bigint
		FROM rollout.stages s JOIN ro ON ro.id = s.rollout_id
		WHERE s.ended_at IS NOT NULL
	), ordered AS (
		SELECT i.*,
			   pg_catalog.row_number() OVER (ORDER BY i.at, i.rollout_id, i.seq, i.tiebreak) AS pos,
			   pg_catalog.count(i.state) OVER w AS state_grp,
			   pg_catalog.count(i.stage) OVER w AS stage_grp,
			   pg_catalog.count(i.share) OVER w AS share_grp
		FROM items i
		WINDOW w AS (PARTITION BY i.rollout_id ORDER BY i.at, i.seq, i.tiebreak)
	)
	SELECT o.at, o.rollout_id, o.kind, o.action,
		   pg_catalog.first_value(o.state) OVER (PARTITION BY o.rollout_id, o.state_grp ORDER BY o.pos),
		   pg_catalog.first_value(o.stage) OVER (PARTITION BY o.rollout_id, o.stage_grp ORDER BY o.pos),
		   pg_catalog.first_value(o.share) OVER (PARTITION BY o.rollout_id, o.share_grp ORDER BY o.pos),
		   o.gate, o.verdict, o.actor, o.description, o.event_id
	FROM ordered o
	ORDER BY o.pos;
END
$$;

REVOKE ALL ON FUNCTION rollout._timeline_event_text(text, text, jsonb, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._timeline_duration(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.timeline(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.timeline(text, bigint) TO rollout_reader, rollout_operator, rollout_admin;

COMMENT ON FUNCTION rollout.timeline(text, bigint) IS
	'The story of a rollout (or of every rollout of the agent when rollout_id is NULL): one ordered row per event, gate verdict change and stage boundary, with the state and candidate share after it and a sentence. For rollout_reader.';

-- 71: rollout.metrics: the rows a Prometheus exporter maps to series, one
-- row per sample, for the latest rollout of every agent plus a few global
-- gauges. It reads rollout.status, the window aggregates (arm_summary),
-- the exposure totals, the gate results and the events, never raw outcomes.
-- contrib/prometheus/queries.yaml maps it for postgres_exporter;
-- docs/operations.md ("Monitoring") lists the series. rollout.arm_windows()
-- gives the per-window series of contrib/grafana/pg_rollout.json.

-- Every metric sample now. SECURITY DEFINER so that rollout_reader can read
-- it whatever the grants of the helpers it calls (sketch merges, windows).
CREATE FUNCTION rollout._metrics()
RETURNS TABLE(metric text, type text, agent text, rollout_id bigint, arm text, gate text,
			  state text, verdict text, quantile text, value float8, help text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH latest AS (
		SELECT s.agent, s.rollout_id, s.state, s.stage, s.percent, s.strategy, s.samples_needed,
			   s.bake_left, r.stage_started_at, r.last_eval_at, r.started_at,
			   rollout.is_active_state(s.state) AS active
		FROM rollout.status s JOIN rollout.rollouts r ON r.id = s.rollout_id
	), arms AS (
		-- Per-arm aggregates of the current stage (windows tagged with it).
		SELECT l.agent, l.rollout_id, a.arm, a.n, a.n_success, a.n_success_known, a.n_error,
			   a.n_safety, a.n_quality, a.sum_quality, a.latency_p50, a.latency_p95, a.latency_p99
		FROM latest l
		CROSS JOIN LATERAL rollout.arm_summary(l.rollout_id, rollout.window_start(l.stage_started_at),
											   'infinity', NULL, l.stage) a
		WHERE NOT a.shadow
	), arm_names AS (
		-- The arms a rollout serves, so an arm without samples reads 0, not absent.
		SELECT l.agent, l.rollout_id, x.arm
		FROM latest l
		CROSS JOIN LATERAL (SELECT 'stable'::text AS arm WHERE l.strategy <> 'ab_test'
							UNION SELECT 'candidate' WHERE l.strategy <> 'ab_test'
							UNION SELECT a.arm FROM arms a WHERE a.rollout_id = l.rollout_id
							UNION SELECT t.arm FROM rollout.exposure_totals t
								  WHERE t.rollout_id = l.rollout_id) x
	), gates AS (
		SELECT DISTINCT ON (g.rollout_id, g.gate) l.agent, g.rollout_id, g.gate, g.verdict,
			   g.p_value, g.estimate
		FROM latest l JOIN rollout.gate_results g ON g.rollout_id = l.rollout_id
		ORDER BY g.rollout_id, g.gate, g.at DESC, g.id DESC
	)
	-- Per rollout
	SELECT 'state', 'gauge', l.agent, l.rollout_id, NULL, NULL, st.state, NULL, NULL,
		   (l.state = st.state)::integer::float8,
		   'Rollout state as a labelled gauge: 1 for the current state, 0 for the others'
	FROM latest l
	CROSS JOIN (VALUES ('shadow'), ('canary'), ('holding'), ('awaiting_approval'), ('paused'),
					   ('promoted'), ('rolled_back')) st(state)
	UNION ALL
	SELECT 'stage', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL, l.stage::float8,
		   'Step of the plan (0 = shadow phase)'
	FROM latest l
	UNION ALL
	SELECT 'candidate_percent', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   l.percent::float8, 'Share of traffic the candidate serves now, 0 to 100'
	FROM latest l
	UNION ALL
	SELECT 'samples_needed', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   coalesce(l.samples_needed, 0)::float8, 'Samples each arm needs in this stage before it may advance'
	FROM latest l WHERE l.active
	UNION ALL
	SELECT 'seconds_since_evaluation', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   extract(epoch FROM pg_catalog.now() - coalesce(l.last_eval_at, l.started_at))::float8,
		   'Seconds since tick() last evaluated this rollout''s gates (since its start before that)'
	FROM latest l WHERE l.active
	UNION ALL
	SELECT 'bake_seconds_left', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   extract(epoch FROM l.bake_left)::float8, 'Seconds of bake time left in this stage'
	FROM latest l WHERE l.active AND l.bake_left IS NOT NULL
	-- Per arm, over the current stage
	UNION ALL
	SELECT 'samples', 'gauge', n.agent, n.rollout_id, n.arm, NULL, NULL, NULL, NULL,
		   coalesce(a.n, 0)::float8, 'Outcomes recorded for this arm in the current stage (aggregated)'
	FROM arm_names n LEFT JOIN arms a ON a.rollout_id = n.rollout_id AND a.arm = n.arm
	UNION ALL
	SELECT 'exposures', 'counter', n.agent, n.rollout_id, n.arm, NULL, NULL, NULL, NULL,
		   coalesce(t.exposures, 0)::float8, 'Routing decisions served to this arm (flushed by every tick)'
	FROM arm_names n LEFT JOIN rollout.exposure_totals t ON t.rollout_id = n.rollout_id AND t.arm = n.arm
	UNION ALL
	SELECT m.metric, 'gauge', a.agent, a.rollout_id, a.arm, NULL, NULL, NULL, NULL, m.value, m.help
	FROM arms a
	CROSS JOIN LATERAL (VALUES
		('success_rate', a.n_success::float8 / nullif(a.n_success_known, 0),
		 'Share of outcomes with success = true among those that report success, current stage'),
		('error_rate', a.n_error::float8 / nullif(a.n, 0), 'Share of outcomes with error = true, current stage'),
		('safety_rate', a.n_safety::float8 / nullif(a.n, 0), 'Share of outcomes with safety_flag = true, current stage'),
		('quality_mean', a.sum_quality / nullif(a.n_quality, 0), 'Mean quality score, current stage')) m(metric, value, help)
	WHERE m.value IS NOT NULL
	UNION ALL
	SELECT 'latency_ms', 'gauge', a.agent, a.rollout_id, a.arm, NULL, NULL, NULL, q.quantile, q.value,
		   'Latency quantile in milliseconds from the merged DDSketch of the current stage'
	FROM arms a
	CROSS JOIN LATERAL (VALUES ('0.5', a.latency_p50), ('0.95', a.latency_p95), ('0.99', a.latency_p99)) q(quantile, value)
	WHERE q.value IS NOT NULL
	-- Per gate: its latest verdict
	UNION ALL
	SELECT 'gate_verdict', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, v.verdict, NULL,
		   (g.verdict = v.verdict)::integer::float8,
		   'Latest verdict of the gate as a labelled gauge: 1 for the verdict, 0 for the others'
	FROM gates g
	CROSS JOIN (VALUES ('pass'), ('fail'), ('inconclusive'), ('error')) v(verdict)
	UNION ALL
	SELECT 'gate_p_value', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, NULL, NULL, g.p_value,
		   'p-value of the gate''s latest verdict'
	FROM gates g WHERE g.p_value IS NOT NULL
	UNION ALL
	SELECT 'gate_estimate', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, NULL, NULL, g.estimate,
		   'Estimate of the gate''s latest verdict (candidate minus baseline, or their ratio)'
	FROM gates g WHERE g.estimate IS NOT NULL
	-- Per agent, over every rollout: counters from the audit log
	UNION ALL
	SELECT c.metric, 'counter', l.agent, NULL, NULL, NULL, NULL, NULL, NULL,
		   (SELECT count(*) FROM rollout.events e
			WHERE e.agent = l.agent AND e.rollout_id IS NOT NULL AND e.action = ANY (c.actions))::float8,
		   c.help
	FROM latest l
	CROSS JOIN (VALUES
		('holds', ARRAY['hold', 'freeze', 'hold_for_approval'], 'Times a rollout of this agent was held, frozen or sent for approval'),
		('rollbacks', ARRAY['rollback', 'rollback_now'], 'Rollouts of this agent rolled back'),
		('promotions', ARRAY['promote'], 'Rollouts of this agent promoted'),
		('advances', ARRAY['advance', 'promote_manual'], 'Stages of this agent''s rollouts advanced')) c(metric, actions, help)
	-- Global
	UNION ALL
	SELECT 'active_rollouts', 'gauge', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		   (SELECT count(*) FROM latest l WHERE l.active)::float8, 'Rollouts in an active state'
	UNION ALL
	SELECT 'seconds_since_tick', 'gauge', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		   coalesce(extract(epoch FROM pg_catalog.now() - w.refreshed_at)::float8, 'Infinity'::float8),
		   'Seconds since outcomes were last folded into the aggregates, which every tick() does (+Inf: never)'
	FROM rollout.outcome_watermark w
$$;

CREATE VIEW rollout.metrics AS
SELECT m.metric, m.type, m.agent, m.rollout_id, m.arm, m.gate, m.state, m.verdict, m.quantile,
	   m.value, m.help
FROM rollout._metrics() m;

REVOKE ALL ON FUNCTION rollout._metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._metrics() TO rollout_reader, rollout_operator, rollout_admin;
GRANT SELECT ON rollout.metrics TO rollout_reader, rollout_operator, rollout_admin;

-- Per-window, per-arm series of a rollout for dashboards (contrib/grafana):
-- rates, mean quality and latency quantiles of every 5-minute aggregation
-- window starting in [from_at, to_at), shadow outcomes apart. Reads the
-- window aggregates only. SECURITY DEFINER for the sketch functions.
CREATE FUNCTION rollout.arm_windows(rollout_id bigint, from_at timestamptz DEFAULT '-infinity',
									to_at timestamptz DEFAULT 'infinity')
RETURNS TABLE(window_start timestamptz, stage integer, arm text, shadow boolean, n bigint,
			  success_rate float8, error_rate float8, safety_rate float8, quality_mean float8,
			  latency_p50 float8, latency_p95 float8, latency_p99 float8, cost_median float8)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT w.window_start, w.stage, w.arm, w.shadow, w.n,
		   w.n_success::float8 / nullif(w.n_success_known, 0),
		   w.n_error::float8 / nullif(w.n, 0),
		   w.n_safety::float8 / nullif(w.n, 0),
		   w.sum_quality / nullif(w.n_quality, 0),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.5),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.95),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.99),
		   rollout.ddsketch_quantile(w.cost_sketch, 0.5)
	FROM rollout.outcome_windows w
	WHERE w.rollout_id = arm_windows.rollout_id
	  AND w.window_start >= from_at AND w.window_start < to_at
	ORDER BY w.window_start, w.arm, w.shadow, w.stage
$$;

REVOKE ALL ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz)
	TO rollout_reader, rollout_operator, rollout_admin;

COMMENT ON VIEW rollout.metrics IS
	'One row per Prometheus sample for the latest rollout of every agent plus global gauges; contrib/prometheus/queries.yaml maps it. Reads aggregates, never raw outcomes. For rollout_reader.';
COMMENT ON COLUMN rollout.metrics.metric IS 'Metric name, e.g. state, candidate_percent, samples, gate_verdict, seconds_since_tick.';
COMMENT ON COLUMN rollout.metrics.type IS 'gauge or counter.';
COMMENT ON COLUMN rollout.metrics.agent IS 'Agent label (NULL for global metrics).';
COMMENT ON COLUMN rollout.metrics.rollout_id IS 'Rollout label: the agent''s latest rollout (NULL for per-agent counters and global metrics).';
COMMENT ON COLUMN rollout.metrics.arm IS 'Arm label for per-arm metrics: stable, candidate or an A/B variant.';
COMMENT ON COLUMN rollout.metrics.gate IS 'Gate label for per-gate metrics.';
COMMENT ON COLUMN rollout.metrics.state IS 'State label of the state metric (1 for the current state, 0 for the others).';
COMMENT ON COLUMN rollout.metrics.verdict IS 'Verdict label of gate_verdict (1 for the latest verdict, 0 for the others).';
COMMENT ON COLUMN rollout.metrics.quantile IS 'Quantile label of latency_ms: 0.5, 0.95 or 0.99.';
COMMENT ON COLUMN rollout.metrics.value IS 'Sample value.';
COMMENT ON COLUMN rollout.metrics.help IS 'What the metric means.';
COMMENT ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz) IS
	'Per-window, per-arm series of a rollout (rates, mean quality, latency and cost quantiles) from the window aggregates, for dashboards. For rollout_reader.';

-- 90: comments on the objects of the earlier pieces, so that \d+ and \df+
-- explain every public table, view, column, function and type. Objects
-- added by later pieces carry their comments next to their definitions.
-- Keep in step with the definitions: a comment on a dropped object fails
-- the install.

COMMENT ON TABLE rollout.agents IS 'Agents whose versions pg_rollout manages; one row per agent (rollout.create_agent).';
COMMENT ON COLUMN rollout.agents.id IS 'Surrogate key.';
COMMENT ON COLUMN rollout.agents.name IS 'Agent name: the first argument of route(), record() and every lifecycle function.';
COMMENT ON COLUMN rollout.agents.description IS 'Free text from create_agent().';
COMMENT ON COLUMN rollout.agents.created_at IS 'When the agent was created.';
COMMENT ON COLUMN rollout.agents.created_by IS 'Login (session_user) that created it.';

COMMENT ON TABLE rollout.versions IS 'Immutable versions of each agent (prompt, model, tools, code); append-only, numbered 1, 2, ... per agent.';
COMMENT ON COLUMN rollout.versions.agent IS 'Agent the version belongs to.';
COMMENT ON COLUMN rollout.versions.version IS 'Version number within the agent (1, 2, ...).';
COMMENT ON COLUMN rollout.versions.fingerprint IS 'Hex SHA-256 of the canonical content; identical content gets the same version back.';
COMMENT ON COLUMN rollout.versions.system_prompt IS 'System prompt the service sends to the model.';
COMMENT ON COLUMN rollout.versions.model IS 'Pinned model id (floating ids are refused unless allowed).';
COMMENT ON COLUMN rollout.versions.template IS 'Optional prompt template.';
COMMENT ON COLUMN rollout.versions.few_shot IS 'Few-shot examples (JSON array).';
COMMENT ON COLUMN rollout.versions.tools IS 'Tool definitions (JSON array).';
COMMENT ON COLUMN rollout.versions.params IS 'Model parameters (JSON object), e.g. temperature.';
COMMENT ON COLUMN rollout.versions.code_ref IS 'Optional reference to the agent code (commit, image).';
COMMENT ON COLUMN rollout.versions.note IS 'Free text from create_version().';
COMMENT ON COLUMN rollout.versions.created_at IS 'When the version was created.';
COMMENT ON COLUMN rollout.versions.created_by IS 'Login that created it.';

COMMENT ON TABLE rollout.labels IS 'Movable labels per agent (production, staging, ...); production is what route() serves outside a rollout.';
COMMENT ON COLUMN rollout.labels.agent IS 'Agent.';
COMMENT ON COLUMN rollout.labels.label IS 'Label name.';
COMMENT ON COLUMN rollout.labels.version IS 'Version the label points to.';
COMMENT ON COLUMN rollout.labels.updated_at IS 'Last move.';
COMMENT ON COLUMN rollout.labels.updated_by IS 'Login that moved it last.';

COMMENT ON TABLE rollout.label_history IS 'Every move of a label, append-only.';
COMMENT ON COLUMN rollout.label_history.id IS 'Surrogate key, in order of the moves.';
COMMENT ON COLUMN rollout.label_history.agent IS 'Agent.';
COMMENT ON COLUMN rollout.label_history.label IS 'Label moved.';
COMMENT ON COLUMN rollout.label_history.old_version IS 'Version before (NULL: new label).';
COMMENT ON COLUMN rollout.label_history.new_version IS 'Version after.';
COMMENT ON COLUMN rollout.label_history.at IS 'When.';
COMMENT ON COLUMN rollout.label_history.actor IS 'Login that moved it.';
COMMENT ON COLUMN rollout.label_history.reason IS 'Why, as given to set_label().';

COMMENT ON TABLE rollout.events IS 'Append-only audit log: one row per change the extension makes (versions, labels, rollout transitions, alerts).';
COMMENT ON COLUMN rollout.events.id IS 'Event id; NOTIFY rollout payloads name it.';
COMMENT ON COLUMN rollout.events.at IS 'When (the simulated clock for lifecycle functions called with at).';
COMMENT ON COLUMN rollout.events.agent IS 'Agent concerned (NULL for global changes such as preset edits).';
COMMENT ON COLUMN rollout.events.rollout_id IS 'Rollout concerned, if any.';
COMMENT ON COLUMN rollout.events.action IS 'What happened: create_version, set_label, start, advance, hold, release, pause, resume, approve, promote, rollback, rollback_now, alert, ...';
COMMENT ON COLUMN rollout.events.actor IS 'Login (session_user) that caused it.';
COMMENT ON COLUMN rollout.events.acting_role IS 'Role the caller acted as (current_user outside SECURITY DEFINER).';
COMMENT ON COLUMN rollout.events.old IS 'State before (JSON), e.g. {"state", "stage", "percent"}.';
COMMENT ON COLUMN rollout.events.new IS 'State after (JSON).';
COMMENT ON COLUMN rollout.events.reason IS 'Reason given or computed by the gates.';

COMMENT ON TABLE rollout.rollouts IS 'One row per rollout of a candidate version: the state route() serves from and the lifecycle moves. At most one active rollout per agent.';
COMMENT ON COLUMN rollout.rollouts.id IS 'Rollout id.';
COMMENT ON COLUMN rollout.rollouts.agent IS 'Agent.';
COMMENT ON COLUMN rollout.rollouts.baseline IS 'Stable version served outside the candidate arm (production at start).';
COMMENT ON COLUMN rollout.rollouts.candidate IS 'Version being rolled out.';
COMMENT ON COLUMN rollout.rollouts.strategy IS 'canary, blue_green, shadow or ab_test.';
COMMENT ON COLUMN rollout.rollouts.state IS 'shadow, canary, holding, awaiting_approval, paused (active); promoted, rolled_back (final).';
COMMENT ON COLUMN rollout.rollouts.stage IS 'Step of the plan, 1-based; 0 during the shadow phase.';
COMMENT ON COLUMN rollout.rollouts.percent IS 'Candidate share now, 0 to 100 in 0.01 steps.';
COMMENT ON COLUMN rollout.rollouts.stickiness IS 'Which route() argument is hashed into the bucket: unit, session or tenant.';
COMMENT ON COLUMN rollout.rollouts.salt IS 'Per-rollout seed of the bucketing hash.';
COMMENT ON COLUMN rollout.rollouts.variants IS 'A/B variants: [{"name", "version", "weight"}], weights summing to 100.';
COMMENT ON COLUMN rollout.rollouts.shadow_percent IS 'Share of requests that also run the candidate in shadow.';
COMMENT ON COLUMN rollout.rollouts.write_intercept IS 'Whether callers must dry-run the shadow run''s writing tools.';
COMMENT ON COLUMN rollout.rollouts.rules IS 'Tenant and cohort rules evaluated before the percentage (JSON array).';
COMMENT ON COLUMN rollout.rollouts.flags IS 'Capability flags with their own share (JSON array).';
COMMENT ON COLUMN rollout.rollouts.judge_rate IS 'Share of requests marked for the LLM judge, 0 to 1.';
COMMENT ON COLUMN rollout.rollouts.pinning IS 'Whether sessions are pinned to their version.';
COMMENT ON COLUMN rollout.rollouts.drain IS 'How long pinned sessions keep the candidate after a rollback.';
COMMENT ON COLUMN rollout.rollouts.drain_until IS 'End of the drain after a rollback.';
COMMENT ON COLUMN rollout.rollouts.drain_skipped IS 'Set by a safety rollback (rollback_now): no drain.';
COMMENT ON COLUMN rollout.rollouts.plan IS 'The validated, normalized plan this rollout follows.';
COMMENT ON COLUMN rollout.rollouts.risk IS 'Risk tier whose preset supplied the plan (NULL for an explicit plan).';
COMMENT ON COLUMN rollout.rollouts.started_at IS 'Start time.';
COMMENT ON COLUMN rollout.rollouts.stage_started_at IS 'Start of the current stage.';
COMMENT ON COLUMN rollout.rollouts.ended_at IS 'When it was promoted or rolled back.';
COMMENT ON COLUMN rollout.rollouts.started_by IS 'Login that started it.';
COMMENT ON COLUMN rollout.rollouts.reason IS 'Reason given to start().';
COMMENT ON COLUMN rollout.rollouts.paused_from IS 'State to return to on resume().';
COMMENT ON COLUMN rollout.rollouts.approved_stage IS 'Stage a person approved (hold_for_approval gates).';
COMMENT ON COLUMN rollout.rollouts.hold_reason IS 'Why it is holding, paused by a gate or awaiting approval.';
COMMENT ON COLUMN rollout.rollouts.fail_streak IS 'Consecutive failing windows per rollback gate (JSON).';
COMMENT ON COLUMN rollout.rollouts.last_eval_at IS 'Last gate evaluation by tick().';
COMMENT ON COLUMN rollout.rollouts.boosted IS 'Whether the share was raised to collect samples in this stage.';
COMMENT ON COLUMN rollout.rollouts.extensions IS 'Times the bake was extended.';
COMMENT ON COLUMN rollout.rollouts.retry_of IS 'Rollout this one retries (rollout.retry).';
COMMENT ON COLUMN rollout.rollouts.promoted_at IS 'When it was promoted.';
COMMENT ON COLUMN rollout.rollouts.baseline_refreshed_at IS 'When the promoted version''s baseline metrics were refreshed after the stable period.';

COMMENT ON TABLE rollout.stages IS 'One row per stage a rollout went through (0 = shadow phase), with its per-arm metrics and last verdicts.';
COMMENT ON COLUMN rollout.stages.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.stages.stage IS 'Stage number.';
COMMENT ON COLUMN rollout.stages.percent IS 'Candidate share in the stage.';
COMMENT ON COLUMN rollout.stages.started_at IS 'Start of the stage.';
COMMENT ON COLUMN rollout.stages.ended_at IS 'End of the stage (NULL while current).';
COMMENT ON COLUMN rollout.stages.outcome IS 'How it ended: advanced, promoted, rolled_back, superseded.';
COMMENT ON COLUMN rollout.stages.metrics IS 'Per-arm metrics over the whole stage (JSON), filled when it ends.';
COMMENT ON COLUMN rollout.stages.verdicts IS 'Last verdict of each gate in the stage (JSON).';

COMMENT ON TABLE rollout.gate_results IS 'Every gate evaluation: the verdict, the statistics behind it and the thresholds used; append-only.';
COMMENT ON COLUMN rollout.gate_results.id IS 'Evaluation id.';
COMMENT ON COLUMN rollout.gate_results.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.gate_results.stage IS 'Stage evaluated.';
COMMENT ON COLUMN rollout.gate_results.at IS 'Evaluation time (tick clock).';
COMMENT ON COLUMN rollout.gate_results.gate IS 'Gate name from the plan.';
COMMENT ON COLUMN rollout.gate_results.metric IS 'Metric: success, error, safety, quality, latency_ms, cost or a custom metric.';
COMMENT ON COLUMN rollout.gate_results.comparison IS 'rate, mean, median, p95, p99, ...';
COMMENT ON COLUMN rollout.gate_results.test IS 'Statistical test used.';
COMMENT ON COLUMN rollout.gate_results.verdict IS 'pass, fail, inconclusive or error.';
COMMENT ON COLUMN rollout.gate_results.statistic IS 'Test statistic.';
COMMENT ON COLUMN rollout.gate_results.p_value IS 'p-value (always-valid for sequential tests).';
COMMENT ON COLUMN rollout.gate_results.estimate IS 'Estimated difference or ratio, candidate against baseline.';
COMMENT ON COLUMN rollout.gate_results.ci_low IS 'Lower confidence bound of the estimate.';
COMMENT ON COLUMN rollout.gate_results.ci_high IS 'Upper confidence bound of the estimate.';
COMMENT ON COLUMN rollout.gate_results.n_candidate IS 'Candidate samples used.';
COMMENT ON COLUMN rollout.gate_results.n_baseline IS 'Baseline samples used.';
COMMENT ON COLUMN rollout.gate_results.value_candidate IS 'Metric value of the candidate.';
COMMENT ON COLUMN rollout.gate_results.value_baseline IS 'Metric value of the baseline.';
COMMENT ON COLUMN rollout.gate_results.threshold IS 'Margin, ratio, alpha, minimum samples, window and mode the gate used (JSON).';
COMMENT ON COLUMN rollout.gate_results.window_from IS 'Start of the data window.';
COMMENT ON COLUMN rollout.gate_results.window_to IS 'End of the data window.';
COMMENT ON COLUMN rollout.gate_results.action IS 'Action of the gate on failure.';
COMMENT ON COLUMN rollout.gate_results.acted IS 'Whether this verdict made the rollout act.';
COMMENT ON COLUMN rollout.gate_results.detail IS 'One-line explanation.';

COMMENT ON TABLE rollout.gate_tallies IS 'Running per-stage tallies of each gate''s counts, so a tick reads only the windows that ended since the last one.';
COMMENT ON COLUMN rollout.gate_tallies.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.gate_tallies.gate IS 'Gate name (.srm: the sample-ratio check).';
COMMENT ON COLUMN rollout.gate_tallies.stage IS 'Stage.';
COMMENT ON COLUMN rollout.gate_tallies.counted_to IS 'Windows starting before this are counted.';
COMMENT ON COLUMN rollout.gate_tallies.n_candidate IS 'Candidate samples.';
COMMENT ON COLUMN rollout.gate_tallies.n_baseline IS 'Baseline samples.';
COMMENT ON COLUMN rollout.gate_tallies.x_candidate IS 'Candidate events: the rate''s events, or for quantile gates the samples above the fail threshold.';
COMMENT ON COLUMN rollout.gate_tallies.x_baseline IS 'Baseline events, as x_candidate.';
COMMENT ON COLUMN rollout.gate_tallies.y_candidate IS 'Quantile gates: candidate samples above the pass threshold.';
COMMENT ON COLUMN rollout.gate_tallies.y_baseline IS 'Quantile gates: baseline samples above the pass threshold.';
COMMENT ON COLUMN rollout.gate_tallies.sum_candidate IS 'Sum of the candidate''s values (mean gates).';
COMMENT ON COLUMN rollout.gate_tallies.sum_baseline IS 'Sum of the baseline''s values.';
COMMENT ON COLUMN rollout.gate_tallies.sumsq_candidate IS 'Sum of squares of the candidate''s values.';
COMMENT ON COLUMN rollout.gate_tallies.sumsq_baseline IS 'Sum of squares of the baseline''s values.';
COMMENT ON COLUMN rollout.gate_tallies.baseline_quantile IS 'Quantile gates: the baseline quantile the thresholds were last based on.';

COMMENT ON TABLE rollout.baselines IS 'Baseline metrics of promoted versions, recorded when their stable period ends.';
COMMENT ON COLUMN rollout.baselines.agent IS 'Agent.';
COMMENT ON COLUMN rollout.baselines.version IS 'Promoted version.';
COMMENT ON COLUMN rollout.baselines.rollout_id IS 'Rollout that promoted it.';
COMMENT ON COLUMN rollout.baselines.refreshed_at IS 'When recorded.';
COMMENT ON COLUMN rollout.baselines.metrics IS 'Per-arm metrics over the stable period (JSON).';

COMMENT ON TABLE rollout.plan_presets IS 'Risk-tier presets: the plan rollout.start() follows when given none. Editable by rollout_admin; every change is validated and logged.';
COMMENT ON COLUMN rollout.plan_presets.risk IS 'Risk tier: low, medium, high, critical or your own.';
COMMENT ON COLUMN rollout.plan_presets.plan IS 'Plan (JSON, docs/plans.md).';
COMMENT ON COLUMN rollout.plan_presets.description IS 'What the tier is for.';
COMMENT ON COLUMN rollout.plan_presets.updated_at IS 'Last change.';
COMMENT ON COLUMN rollout.plan_presets.updated_by IS 'Login that changed it last.';

COMMENT ON TABLE rollout.outcome_settings IS 'Settings of the outcome store (one row).';
COMMENT ON COLUMN rollout.outcome_settings.id IS 'Always true: the single row.';
COMMENT ON COLUMN rollout.outcome_settings.retention IS 'Raw outcomes and shadow pairs older than this are dropped.';
COMMENT ON COLUMN rollout.outcome_settings.aggregate_retention IS 'Window aggregates older than this are deleted.';
COMMENT ON COLUMN rollout.outcome_settings.premake_days IS 'Daily partitions created ahead by maintain_outcomes().';

COMMENT ON TABLE rollout.quality_scales IS 'Per-agent quality scale; agents without a row use [0, 1].';
COMMENT ON COLUMN rollout.quality_scales.agent IS 'Agent.';
COMMENT ON COLUMN rollout.quality_scales.min IS 'Lowest quality score.';
COMMENT ON COLUMN rollout.quality_scales.max IS 'Highest quality score.';

COMMENT ON TABLE rollout.outcomes IS 'Raw outcomes, one per recorded request, partitioned by day; folded into rollout.outcome_windows by refresh_aggregates().';
COMMENT ON COLUMN rollout.outcomes.id IS 'Outcome id.';
COMMENT ON COLUMN rollout.outcomes.txid IS 'Top-level transaction id of the writer; refresh folds by it.';
COMMENT ON COLUMN rollout.outcomes.rollout_id IS 'Rollout the outcome counts for (NULL: none).';
COMMENT ON COLUMN rollout.outcomes.stage IS 'Stage of that rollout when recorded.';
COMMENT ON COLUMN rollout.outcomes.arm IS 'Arm: stable, candidate or an A/B variant (NULL: the version is in no arm).';
COMMENT ON COLUMN rollout.outcomes.in_arm IS 'Whether the version is in an arm of the rollout (only those are aggregated).';
COMMENT ON COLUMN rollout.outcomes.agent IS 'Agent.';
COMMENT ON COLUMN rollout.outcomes.version IS 'Version that served the request.';
COMMENT ON COLUMN rollout.outcomes.unit IS 'Unit (user, account) the outcome is about.';
COMMENT ON COLUMN rollout.outcomes.success IS 'Whether the task succeeded (NULL: unknown).';
COMMENT ON COLUMN rollout.outcomes.quality IS 'Quality score, e.g. from an LLM judge.';
COMMENT ON COLUMN rollout.outcomes.latency_ms IS 'Latency in milliseconds.';
COMMENT ON COLUMN rollout.outcomes.cost IS 'Cost of the request.';
COMMENT ON COLUMN rollout.outcomes.error IS 'Whether the request failed with an error.';
COMMENT ON COLUMN rollout.outcomes.safety_flag IS 'Whether a safety check flagged the answer.';
COMMENT ON COLUMN rollout.outcomes.feedback IS 'User feedback, e.g. -1, 0, 1.';
COMMENT ON COLUMN rollout.outcomes.metrics IS 'Custom numeric metrics (JSON object).';
COMMENT ON COLUMN rollout.outcomes.shadow IS 'Whether this is a shadow run''s outcome.';
COMMENT ON COLUMN rollout.outcomes.at IS 'When the request was served.';

COMMENT ON TABLE rollout.outcome_staging IS 'Staging table for COPY: services copy outcomes in, drain_outcome_staging() moves them into rollout.outcomes.';
COMMENT ON COLUMN rollout.outcome_staging.id IS 'Row id.';
COMMENT ON COLUMN rollout.outcome_staging.agent IS 'Agent.';
COMMENT ON COLUMN rollout.outcome_staging.version IS 'Version that served the request.';
COMMENT ON COLUMN rollout.outcome_staging.unit IS 'Unit (user, account) the outcome is about.';
COMMENT ON COLUMN rollout.outcome_staging.success IS 'Whether the task succeeded (NULL: unknown).';
COMMENT ON COLUMN rollout.outcome_staging.quality IS 'Quality score, e.g. from an LLM judge.';
COMMENT ON COLUMN rollout.outcome_staging.latency_ms IS 'Latency in milliseconds.';
COMMENT ON COLUMN rollout.outcome_staging.cost IS 'Cost of the request.';
COMMENT ON COLUMN rollout.outcome_staging.error IS 'Whether the request failed with an error.';
COMMENT ON COLUMN rollout.outcome_staging.safety_flag IS 'Whether a safety check flagged the answer.';
COMMENT ON COLUMN rollout.outcome_staging.feedback IS 'User feedback, e.g. -1, 0, 1.';
COMMENT ON COLUMN rollout.outcome_staging.metrics IS 'Custom numeric metrics (JSON object).';
COMMENT ON COLUMN rollout.outcome_staging.shadow IS 'Whether this is a shadow run''s outcome.';
COMMENT ON COLUMN rollout.outcome_staging.at IS 'When the request was served.';

COMMENT ON TABLE rollout.shadow_pairs IS 'Production/shadow answer pairs with their similarity, partitioned by day.';
COMMENT ON COLUMN rollout.shadow_pairs.id IS 'Pair id.';
COMMENT ON COLUMN rollout.shadow_pairs.txid IS 'Top-level transaction id of the writer.';
COMMENT ON COLUMN rollout.shadow_pairs.at IS 'When.';
COMMENT ON COLUMN rollout.shadow_pairs.agent IS 'Agent.';
COMMENT ON COLUMN rollout.shadow_pairs.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.shadow_pairs.stage IS 'Stage.';
COMMENT ON COLUMN rollout.shadow_pairs.production_version IS 'Version that answered the user.';
COMMENT ON COLUMN rollout.shadow_pairs.shadow_version IS 'Version run in shadow.';
COMMENT ON COLUMN rollout.shadow_pairs.unit IS 'Unit.';
COMMENT ON COLUMN rollout.shadow_pairs.similarity IS 'Similarity of the two answers, -1 to 1.';
COMMENT ON COLUMN rollout.shadow_pairs.decisions_agree IS 'Whether the tool calls or decisions agreed.';
COMMENT ON COLUMN rollout.shadow_pairs.production_latency_ms IS 'Latency of the production answer.';
COMMENT ON COLUMN rollout.shadow_pairs.shadow_latency_ms IS 'Latency of the shadow answer.';
COMMENT ON COLUMN rollout.shadow_pairs.production_cost IS 'Cost of the production answer.';
COMMENT ON COLUMN rollout.shadow_pairs.shadow_cost IS 'Cost of the shadow answer.';

COMMENT ON TABLE rollout.outcome_windows IS 'Window aggregates: one row per rollout, 5-minute window, arm, shadow flag and stage. Gates and dashboards read these, not raw outcomes.';
COMMENT ON COLUMN rollout.outcome_windows.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.outcome_windows.window_start IS 'Start of the 5-minute window (rollout.window_start()).';
COMMENT ON COLUMN rollout.outcome_windows.arm IS 'Arm.';
COMMENT ON COLUMN rollout.outcome_windows.shadow IS 'Shadow outcomes.';
COMMENT ON COLUMN rollout.outcome_windows.stage IS 'Stage.';
COMMENT ON COLUMN rollout.outcome_windows.n IS 'Outcomes.';
COMMENT ON COLUMN rollout.outcome_windows.n_success IS 'Outcomes with success = true.';
COMMENT ON COLUMN rollout.outcome_windows.n_success_known IS 'Outcomes with success not NULL.';
COMMENT ON COLUMN rollout.outcome_windows.n_error IS 'Outcomes with error = true.';
COMMENT ON COLUMN rollout.outcome_windows.n_safety IS 'Outcomes with safety_flag = true.';
COMMENT ON COLUMN rollout.outcome_windows.n_feedback IS 'Outcomes with feedback.';
COMMENT ON COLUMN rollout.outcome_windows.sum_feedback IS 'Sum of feedback.';
COMMENT ON COLUMN rollout.outcome_windows.n_quality IS 'Outcomes with a quality score.';
COMMENT ON COLUMN rollout.outcome_windows.sum_quality IS 'Sum of quality.';
COMMENT ON COLUMN rollout.outcome_windows.sumsq_quality IS 'Sum of squared quality.';
COMMENT ON COLUMN rollout.outcome_windows.n_latency IS 'Outcomes with a latency.';
COMMENT ON COLUMN rollout.outcome_windows.sum_latency IS 'Sum of latency_ms.';
COMMENT ON COLUMN rollout.outcome_windows.sumsq_latency IS 'Sum of squared latency_ms.';
COMMENT ON COLUMN rollout.outcome_windows.n_cost IS 'Outcomes with a cost.';
COMMENT ON COLUMN rollout.outcome_windows.sum_cost IS 'Sum of cost.';
COMMENT ON COLUMN rollout.outcome_windows.sumsq_cost IS 'Sum of squared cost.';
COMMENT ON COLUMN rollout.outcome_windows.latency_sketch IS 'DDSketch of latency_ms (mergeable).';
COMMENT ON COLUMN rollout.outcome_windows.cost_sketch IS 'DDSketch of cost.';
COMMENT ON COLUMN rollout.outcome_windows.metrics IS 'Custom metrics: {"name": {"n", "sum", "sumsq"}}.';

COMMENT ON TABLE rollout.shadow_windows IS 'Window aggregates of shadow pairs: one row per rollout, 5-minute window and stage.';
COMMENT ON COLUMN rollout.shadow_windows.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.shadow_windows.window_start IS 'Start of the window.';
COMMENT ON COLUMN rollout.shadow_windows.stage IS 'Stage.';
COMMENT ON COLUMN rollout.shadow_windows.n IS 'Pairs.';
COMMENT ON COLUMN rollout.shadow_windows.n_similarity IS 'Pairs with a similarity.';
COMMENT ON COLUMN rollout.shadow_windows.sum_similarity IS 'Sum of similarity.';
COMMENT ON COLUMN rollout.shadow_windows.sumsq_similarity IS 'Sum of squared similarity.';
COMMENT ON COLUMN rollout.shadow_windows.n_agree_known IS 'Pairs with decisions_agree known.';
COMMENT ON COLUMN rollout.shadow_windows.n_agree IS 'Pairs whose decisions agreed.';
COMMENT ON COLUMN rollout.shadow_windows.n_production_latency IS 'Pairs with a production latency.';
COMMENT ON COLUMN rollout.shadow_windows.sum_production_latency IS 'Sum of production latency.';
COMMENT ON COLUMN rollout.shadow_windows.n_shadow_latency IS 'Pairs with a shadow latency.';
COMMENT ON COLUMN rollout.shadow_windows.sum_shadow_latency IS 'Sum of shadow latency.';
COMMENT ON COLUMN rollout.shadow_windows.n_production_cost IS 'Pairs with a production cost.';
COMMENT ON COLUMN rollout.shadow_windows.sum_production_cost IS 'Sum of production cost.';
COMMENT ON COLUMN rollout.shadow_windows.n_shadow_cost IS 'Pairs with a shadow cost.';
COMMENT ON COLUMN rollout.shadow_windows.sum_shadow_cost IS 'Sum of shadow cost.';

COMMENT ON TABLE rollout.outcome_watermark IS 'Where folding of outcomes into the aggregates stands (one row).';
COMMENT ON COLUMN rollout.outcome_watermark.id IS 'Always true: the single row.';
COMMENT ON COLUMN rollout.outcome_watermark.folded_below IS 'Every outcome with a txid below this is in the aggregates, none at or above it.';
COMMENT ON COLUMN rollout.outcome_watermark.refreshed_at IS 'Wall-clock time of the last refresh (every tick refreshes).';
COMMENT ON COLUMN rollout.outcome_watermark.refreshed_upto IS 'The upto argument of the last refresh.';
COMMENT ON COLUMN rollout.outcome_watermark.outcomes_folded IS 'Outcomes folded so far.';
COMMENT ON COLUMN rollout.outcome_watermark.pairs_folded IS 'Shadow pairs folded so far.';

COMMENT ON TABLE rollout.exposure_totals IS 'Running totals of routing decisions per rollout and arm, moved from shared memory by every tick().';
COMMENT ON COLUMN rollout.exposure_totals.rollout_id IS 'Rollout (0: decisions that could not be counted per rollout).';
COMMENT ON COLUMN rollout.exposure_totals.arm IS 'Arm.';
COMMENT ON COLUMN rollout.exposure_totals.exposures IS 'Decisions served.';
COMMENT ON COLUMN rollout.exposure_totals.updated_at IS 'Last tick that added to it.';

COMMENT ON VIEW rollout.exposures IS 'Routing decisions per rollout and arm counted in this server''s shared memory since the last flush.';
COMMENT ON COLUMN rollout.exposures.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.exposures.arm IS 'Arm.';
COMMENT ON COLUMN rollout.exposures.exposures IS 'Decisions since the last flush.';

COMMENT ON VIEW rollout.status IS 'One row per agent about its latest rollout (final ones too): state, share, samples, bake, progress and the last gate results.';
COMMENT ON COLUMN rollout.status.agent IS 'Agent.';
COMMENT ON COLUMN rollout.status.rollout_id IS 'Latest rollout.';
COMMENT ON COLUMN rollout.status.state IS 'State.';
COMMENT ON COLUMN rollout.status.stage IS 'Stage.';
COMMENT ON COLUMN rollout.status.percent IS 'Candidate share now, 0 to 100.';
COMMENT ON COLUMN rollout.status.strategy IS 'Strategy.';
COMMENT ON COLUMN rollout.status.baseline IS 'Baseline version.';
COMMENT ON COLUMN rollout.status.candidate IS 'Candidate version.';
COMMENT ON COLUMN rollout.status.samples_candidate IS 'Candidate outcomes in the current stage.';
COMMENT ON COLUMN rollout.status.samples_baseline IS 'Baseline outcomes in the current stage.';
COMMENT ON COLUMN rollout.status.samples_needed IS 'Samples each arm needs in this stage.';
COMMENT ON COLUMN rollout.status.bake_until IS 'End of the stage''s bake time.';
COMMENT ON COLUMN rollout.status.bake_left IS 'Bake time left (active rollouts).';
COMMENT ON COLUMN rollout.status.progress IS 'Progress through the plan, 0 to 1.';
COMMENT ON COLUMN rollout.status.hold_reason IS 'Why it holds, if it does.';
COMMENT ON COLUMN rollout.status.last_gate_results IS 'Latest verdict of every gate (JSON).';
COMMENT ON COLUMN rollout.status.next_evaluation IS 'When tick() evaluates it next.';
COMMENT ON COLUMN rollout.status.started_at IS 'Start of the rollout.';
COMMENT ON COLUMN rollout.status.stage_started_at IS 'Start of the current stage.';
COMMENT ON COLUMN rollout.status.ended_at IS 'End of the rollout.';

COMMENT ON VIEW rollout.comparison IS 'Candidate against baseline for every rollout, per window and per stage, from the window aggregates (rollout.compare()).';
COMMENT ON COLUMN rollout.comparison.agent IS 'Agent.';
COMMENT ON COLUMN rollout.comparison.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.comparison.stage IS 'Stage.';
COMMENT ON COLUMN rollout.comparison.scope IS 'window: one 5-minute window; stage: the whole stage.';
COMMENT ON COLUMN rollout.comparison.window_start IS 'Start.';
COMMENT ON COLUMN rollout.comparison.window_end IS 'End.';
COMMENT ON COLUMN rollout.comparison.baseline_n IS 'Baseline outcomes.';
COMMENT ON COLUMN rollout.comparison.candidate_n IS 'Candidate outcomes.';
COMMENT ON COLUMN rollout.comparison.candidate_shadow_n IS 'Candidate shadow outcomes.';
COMMENT ON COLUMN rollout.comparison.baseline_success_rate IS 'Baseline success rate.';
COMMENT ON COLUMN rollout.comparison.candidate_success_rate IS 'Candidate success rate.';
COMMENT ON COLUMN rollout.comparison.baseline_mean_quality IS 'Baseline mean quality.';
COMMENT ON COLUMN rollout.comparison.candidate_mean_quality IS 'Candidate mean quality.';
COMMENT ON COLUMN rollout.comparison.baseline_error_rate IS 'Baseline error rate.';
COMMENT ON COLUMN rollout.comparison.candidate_error_rate IS 'Candidate error rate.';
COMMENT ON COLUMN rollout.comparison.baseline_safety_rate IS 'Baseline safety-flag rate.';
COMMENT ON COLUMN rollout.comparison.candidate_safety_rate IS 'Candidate safety-flag rate.';
COMMENT ON COLUMN rollout.comparison.baseline_mean_cost IS 'Baseline mean cost.';
COMMENT ON COLUMN rollout.comparison.candidate_mean_cost IS 'Candidate mean cost.';
COMMENT ON COLUMN rollout.comparison.baseline_median_cost IS 'Baseline median cost.';
COMMENT ON COLUMN rollout.comparison.candidate_median_cost IS 'Candidate median cost.';
COMMENT ON COLUMN rollout.comparison.baseline_p50_ms IS 'Baseline median latency.';
COMMENT ON COLUMN rollout.comparison.candidate_p50_ms IS 'Candidate median latency.';
COMMENT ON COLUMN rollout.comparison.baseline_p95_ms IS 'Baseline p95 latency.';
COMMENT ON COLUMN rollout.comparison.candidate_p95_ms IS 'Candidate p95 latency.';
COMMENT ON COLUMN rollout.comparison.baseline_p99_ms IS 'Baseline p99 latency.';
COMMENT ON COLUMN rollout.comparison.candidate_p99_ms IS 'Candidate p99 latency.';
COMMENT ON COLUMN rollout.comparison.shadow_pairs IS 'Shadow pairs.';
COMMENT ON COLUMN rollout.comparison.shadow_similarity IS 'Mean similarity of shadow pairs.';
COMMENT ON COLUMN rollout.comparison.shadow_agreement IS 'Share of shadow pairs whose decisions agreed.';

COMMENT ON FUNCTION rollout.create_agent(text,text) IS 'Creates an agent and returns its id. Needs rollout_admin.';
COMMENT ON FUNCTION rollout.create_version(text,text,text,text,jsonb,jsonb,jsonb,text,text,boolean) IS 'Creates an immutable version of an agent and returns its number; identical content returns the existing number. Floating model ids are refused unless allow_floating_model.';
COMMENT ON FUNCTION rollout.set_label(text,text,integer,text) IS 'Moves a label (e.g. production) to a version, with history and an event.';
COMMENT ON FUNCTION rollout.get_version(text,text) IS 'A version of an agent by label (default production) or number.';
COMMENT ON FUNCTION rollout.diff(text,integer,integer) IS 'The fields that differ between two versions of an agent, one row each.';
COMMENT ON FUNCTION rollout.fingerprint(text,text,jsonb,text,jsonb,jsonb,text) IS 'Hex SHA-256 of the canonical content of a version.';
COMMENT ON FUNCTION rollout.canonical_json(jsonb) IS 'Canonical text of a JSON value (sorted keys, no spaces), as the fingerprint hashes it.';
COMMENT ON FUNCTION rollout.model_is_pinned(text) IS 'Whether a model id names a pinned snapshot (not a floating alias such as -latest).';
COMMENT ON FUNCTION rollout.route(text,text,text,text,text,jsonb,text) IS 'The routing decision for one request: version and content to serve, arm, shadow version, judge sample, pin and reason. Reads no table (per-backend cache); runs on standbys and behind pgbouncer.';
COMMENT ON FUNCTION rollout.bucket(text,bigint) IS 'The bucket of a key under a salt: XXH3_64 with seed mod 10000, for clients and tests.';
COMMENT ON FUNCTION rollout.exposure_counts() IS 'Routing decisions per rollout and arm counted in shared memory since the last flush.';
COMMENT ON FUNCTION rollout.flush_exposures() IS 'Returns the shared-memory exposure counters and resets them in one step (tick() does this).';
COMMENT ON FUNCTION rollout.rotate_pin_secret(text) IS 'Replaces the pin secret: every pin issued so far stops verifying.';
COMMENT ON FUNCTION rollout.proportion_test(bigint,bigint,bigint,bigint,double precision,text,text) IS 'Two-proportion test, H0: p1 - p2 = margin (sample 1 the candidate); statsmodels test_proportions_2indep.';
COMMENT ON FUNCTION rollout.mann_whitney(double precision[],double precision[],text,boolean,text) IS 'Mann-Whitney U test of x against y; scipy.stats.mannwhitneyu.';
COMMENT ON AGGREGATE rollout.mann_whitney_agg(double precision,boolean) IS 'Mann-Whitney U test over rows: value and whether the row is the candidate.';
COMMENT ON AGGREGATE rollout.mann_whitney_agg(double precision,boolean,text,boolean,text) IS 'Mann-Whitney U test over rows, with alternative, continuity correction and method.';
COMMENT ON FUNCTION rollout.welch_test(double precision,double precision,bigint,double precision,double precision,bigint,double precision,text) IS 'Welch t-test from summary statistics, H0: mean1 - mean2 = margin; scipy.stats.ttest_ind_from_stats.';
COMMENT ON FUNCTION rollout.srm_test(bigint[],double precision[]) IS 'Sample-ratio mismatch: chi-square of observed counts against weights; scipy.stats.chisquare.';
COMMENT ON FUNCTION rollout.sample_size_proportions(double precision,double precision,double precision,double precision,double precision,text) IS 'Candidate-arm sample size to tell two proportions apart; statsmodels samplesize_proportions_2indep_onetail.';
COMMENT ON FUNCTION rollout.sequential_test(double precision,double precision,bigint,double precision,text,double precision,double precision) IS 'Always-valid p-value and confidence sequence (mixture SPRT), safe to look at every evaluation.';
COMMENT ON FUNCTION rollout.event_share_test(bigint[],bigint[],double precision[],double precision,text) IS 'Always-valid exact test of the candidate-to-baseline event-rate ratio from each arm''s share of the events, per segment of constant traffic share.';
COMMENT ON FUNCTION rollout.ddsketch_in(cstring) IS 'Input function of the ddsketch type.';
COMMENT ON FUNCTION rollout.ddsketch_out(rollout.ddsketch) IS 'Output function of the ddsketch type.';
COMMENT ON AGGREGATE rollout.ddsketch_agg(double precision) IS 'DDSketch of the values (relative accuracy 1%).';
COMMENT ON AGGREGATE rollout.ddsketch_agg(double precision,double precision) IS 'DDSketch of the values with the given relative accuracy.';
COMMENT ON AGGREGATE rollout.ddsketch_merge(rollout.ddsketch) IS 'Merges sketches into one.';
COMMENT ON FUNCTION rollout.ddsketch_combine(rollout.ddsketch,rollout.ddsketch) IS 'Merges two sketches.';
COMMENT ON FUNCTION rollout.ddsketch_quantile(rollout.ddsketch,double precision) IS 'Quantile q of a sketch.';
COMMENT ON FUNCTION rollout.ddsketch_quantiles(rollout.ddsketch,double precision[]) IS 'Quantiles of a sketch.';
COMMENT ON FUNCTION rollout.ddsketch_count(rollout.ddsketch) IS 'Number of values in a sketch.';
COMMENT ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch,double precision) IS 'Number of values of a sketch above a threshold (quantile gates).';
COMMENT ON FUNCTION rollout.metric_stats_merge(jsonb,jsonb) IS 'Adds two custom-metric summaries {"name": {"n", "sum", "sumsq"}}.';
COMMENT ON AGGREGATE rollout.metric_stats_agg(jsonb) IS 'Adds custom-metric summaries over rows.';
COMMENT ON FUNCTION rollout.cosine_similarity(real[],real[]) IS 'Cosine similarity of two embeddings.';
COMMENT ON FUNCTION rollout.window_start(timestamp with time zone) IS 'Start of the 5-minute aggregation window containing a time.';
COMMENT ON FUNCTION rollout.record(text,integer,text,boolean,double precision,double precision,double precision,boolean,boolean,smallint,jsonb,boolean,timestamp with time zone) IS 'Records the outcome of one request; the rollout and arm come from the version and the time. For rollout_service.';
COMMENT ON FUNCTION rollout.record_batch(text,integer[],text[],boolean[],double precision[],double precision[],double precision[],boolean[],boolean[],smallint[],jsonb[],boolean[],timestamp with time zone[]) IS 'Records many outcomes of one agent from parallel arrays, in one statement.';
COMMENT ON FUNCTION rollout.record_shadow_pair(text,integer,integer,text,double precision,real[],real[],boolean,double precision,double precision,double precision,double precision,timestamp with time zone) IS 'Records a production/shadow answer pair with its similarity (given, or the cosine of the embeddings).';
COMMENT ON FUNCTION rollout.drain_outcome_staging() IS 'Moves the rows of rollout.outcome_staging into rollout.outcomes; returns how many.';
COMMENT ON FUNCTION rollout.outcome_context(text,integer,timestamp with time zone) IS 'The rollout, stage and arm an outcome of (agent, version) at a time would count for.';
COMMENT ON FUNCTION rollout.refresh_aggregates(timestamp with time zone) IS 'Folds committed outcomes and shadow pairs into the window aggregates; tick() calls it.';
COMMENT ON FUNCTION rollout.maintain_outcomes(timestamp with time zone) IS 'Creates upcoming day partitions and drops those past the retention; run it daily.';
COMMENT ON FUNCTION rollout.arm_summary(bigint,timestamp with time zone,timestamp with time zone,text,integer) IS 'Per-arm summary of a rollout over the windows starting in [from_at, to_at), merged from the window aggregates.';
COMMENT ON FUNCTION rollout.arm_values(bigint,text,text,timestamp with time zone,timestamp with time zone,boolean) IS 'Raw values of one metric of one arm over a time range, for rank tests.';
COMMENT ON FUNCTION rollout.compare(bigint) IS 'Candidate against baseline of one rollout, per window and per stage.';
COMMENT ON FUNCTION rollout.validate_plan(jsonb,text) IS 'Validates and normalizes a plan (NULL: the preset of the risk tier); errors name the JSON path.';
COMMENT ON FUNCTION rollout.in_blackout(jsonb,timestamp with time zone) IS 'Whether a time falls inside a blackout window of a plan.';
COMMENT ON FUNCTION rollout.start(text,integer,jsonb,text,text,timestamp with time zone) IS 'Starts a rollout of a candidate version against production; returns its id. One active rollout per agent.';
COMMENT ON FUNCTION rollout.pause(text,text,timestamp with time zone) IS 'Pauses the active rollout: no advancement; rollback gates still protect.';
COMMENT ON FUNCTION rollout.resume(text,text,timestamp with time zone) IS 'Resumes a paused rollout in the state it was paused from.';
COMMENT ON FUNCTION rollout.approve(text,text,timestamp with time zone) IS 'Approves a rollout awaiting approval; the approver must differ from whoever started it.';
COMMENT ON FUNCTION rollout.promote(text,boolean,text,timestamp with time zone) IS 'Advances the active rollout one stage by hand, or to 100% with full.';
COMMENT ON FUNCTION rollout.rollback(text,text,boolean,timestamp with time zone) IS 'Rolls the active (or just promoted) rollout back to the baseline; safety skips the drain. Never blocked.';
COMMENT ON FUNCTION rollout.retry(text,text,timestamp with time zone) IS 'Starts a new rollout of the candidate of a rolled-back rollout with the same plan.';
COMMENT ON FUNCTION rollout.tick(timestamp with time zone) IS 'Evaluates every active rollout once and acts on the gates; the worker and cron call it, tests call it with a simulated clock.';
COMMENT ON FUNCTION rollout.deploy_now(text,integer,text,timestamp with time zone) IS 'The audited emergency path: makes a version production at once, ending any active rollout. rollout_admin only.';
COMMENT ON FUNCTION rollout.is_active_state(text) IS 'Whether a rollout state is active (not promoted or rolled_back).';

COMMENT ON TYPE rollout.decision IS 'The routing decision route() returns, one per request (docs/routing.md).';
COMMENT ON TYPE rollout.ddsketch IS 'DDSketch: a mergeable quantile sketch with relative accuracy (latency and cost per window).';
COMMENT ON TYPE rollout.mann_whitney_result IS 'Result of rollout.mann_whitney_agg: U and p-value.';
COMMENT ON TYPE rollout.gate_verdict IS 'One gate evaluation: verdict and the statistics behind it.';

-- end of timeline, metrics, comments (issue 14)
