-- 61: gate evaluation. A gate compares one metric of the candidate arm with
-- the stable arm over a window and returns pass, fail, inconclusive or error
-- (docs/lifecycle.md, "Gates"). The statistics are the C functions of
-- src/stats_*.c; the aggregates come from rollout.arm_summary().

CREATE TYPE rollout.gate_verdict AS (
	verdict		text,
	statistic	float8,
	p_value		float8,
	estimate	float8,
	ci_low		float8,
	ci_high		float8,
	n_candidate	bigint,
	n_baseline	bigint,
	value_candidate float8,
	value_baseline	float8,
	window_from	timestamptz,
	window_to	timestamptz,
	detail		text
);

-- The outcome counts per arm of a rollout's live (non-shadow) windows whose
-- start lies in [p_from, p_to), in one stage: the columns of
-- rollout.arm_summary that rates and the sample-ratio check need. Reading
-- them directly skips arm_summary's merge of sketches and custom-metric
-- maps, which costs about 60 us per window and arm (metric_stats_agg): with
-- a gate window of a whole stage, a tick would spend 20 ms per rollout on
-- merges that rate gates never read.
CREATE FUNCTION rollout._arm_counts(p_rollout_id bigint, p_from timestamptz, p_to timestamptz,
									p_stage integer)
RETURNS TABLE(arm text, n bigint, n_success bigint, n_success_known bigint, n_error bigint,
			  n_safety bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- PL/pgSQL keeps the plan; an SQL function with SET would be planned per call.
	RETURN QUERY
	SELECT w.arm, sum(w.n)::bigint, sum(w.n_success)::bigint, sum(w.n_success_known)::bigint,
		   sum(w.n_error)::bigint, sum(w.n_safety)::bigint
	FROM rollout.outcome_windows w
	WHERE w.rollout_id = p_rollout_id AND NOT w.shadow
	  AND w.window_start >= p_from AND w.window_start < p_to
	  AND (p_stage IS NULL OR w.stage = p_stage)
	GROUP BY w.arm;
END
$$;

-- The (n, successes) or (n, mean, sd) or quantile of one arm for a gate.
-- Returns (n, value, sd, x): x is the event count for rates.
CREATE FUNCTION rollout._arm_stat(s record, p_metric text, p_comparison text, p_custom text,
								  OUT n bigint, OUT value float8, OUT sd float8, OUT x bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_n bigint;
	v_sum float8;
	v_sumsq float8;
BEGIN
	IF p_comparison = 'rate' THEN
		CASE p_metric
			WHEN 'success' THEN x := s.n_success; n := s.n_success_known;
			WHEN 'error' THEN x := s.n_error; n := s.n;
			WHEN 'safety' THEN x := s.n_safety; n := s.n;
			ELSE RAISE EXCEPTION 'metric "%" has no rate', p_metric
				USING ERRCODE = 'invalid_parameter_value';
		END CASE;
		value := CASE WHEN n > 0 THEN x::float8 / n END;
		sd := CASE WHEN n > 0 THEN sqrt(value * (1 - value)) END;
		RETURN;
	END IF;
	IF p_comparison IN ('median', 'p95', 'p99') THEN
		CASE p_metric
			WHEN 'latency_ms' THEN
				n := s.n_latency;
				value := rollout.ddsketch_quantile(s.latency_sketch,
					CASE p_comparison WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END);
			WHEN 'cost' THEN
				n := s.n_cost;
				value := rollout.ddsketch_quantile(s.cost_sketch,
					CASE p_comparison WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END);
			ELSE
				-- Quantiles of other metrics come from their raw values (see caller).
				n := NULL;
		END CASE;
		RETURN;
	END IF;
	-- mean
	CASE p_metric
		WHEN 'quality' THEN v_n := s.n_quality; v_sum := s.sum_quality; v_sumsq := s.sumsq_quality;
		WHEN 'latency_ms' THEN v_n := s.n_latency; v_sum := s.sum_latency; v_sumsq := s.sumsq_latency;
		WHEN 'cost' THEN v_n := s.n_cost; v_sum := s.sum_cost; v_sumsq := s.sumsq_cost;
		WHEN 'success' THEN v_n := s.n_success_known; v_sum := s.n_success; v_sumsq := s.n_success;
		WHEN 'error' THEN v_n := s.n; v_sum := s.n_error; v_sumsq := s.n_error;
		WHEN 'safety' THEN v_n := s.n; v_sum := s.n_safety; v_sumsq := s.n_safety;
		ELSE
			IF p_custom IS NOT NULL THEN
				v_n := s.metric_n; v_sum := s.metric_sum; v_sumsq := s.metric_sumsq;
			ELSE
				RAISE EXCEPTION 'metric "%" has no mean with a variance in the aggregates', p_metric
					USING ERRCODE = 'feature_not_supported';
			END IF;
	END CASE;
	n := coalesce(v_n, 0);
	IF n > 0 THEN
		value := v_sum / n;
	END IF;
	IF n > 1 THEN
		sd := sqrt(greatest((v_sumsq - v_sum * v_sum / n) / (n - 1), 0));
	END IF;
END
$$;

-- Evaluates one gate of a rollout at p_at. Never raises for lack of data:
-- too few samples give 'inconclusive'; an internal problem gives 'error'.
CREATE FUNCTION rollout._evaluate_gate(r rollout.rollouts, g jsonb, p_at timestamptz)
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
	v_se float8;
	xs float8[];
	ys float8[];
	t record;
BEGIN
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
	ELSIF v_test = 'sequential' THEN
		v_se := sqrt(coalesce(sc_sd, 0) ^ 2 / sc_n + coalesce(sb_sd, 0) ^ 2 / sb_n);
		IF v_se = 0 THEN
			-- Both arms constant: the difference is known exactly.
			res.verdict := CASE WHEN v_sign * res.estimate > v_delta THEN 'fail'
								WHEN v_sign * res.estimate < v_delta OR v_mode = 'guardrail' THEN 'pass'
								ELSE 'inconclusive' END;
			res.detail := 'no variance in either arm';
			RETURN res;
		END IF;
		SELECT * INTO t FROM rollout.sequential_test(res.estimate, v_se, sc_n + sb_n, v_sign * v_delta, v_alt_pass, v_alpha);
		v_pass_p := t.p_value;
		SELECT * INTO t FROM rollout.sequential_test(res.estimate, v_se, sc_n + sb_n, v_sign * v_delta, v_alt_fail, v_alpha);
		v_fail_p := t.p_value;
		SELECT * INTO t FROM rollout.sequential_test(res.estimate, v_se, sc_n + sb_n, 0, 'two-sided', v_alpha);
		res.ci_low := t.lower;
		res.ci_high := t.upper;
		res.statistic := res.estimate / v_se;
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
