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

-- What an always-valid gate's test reads from its tallies (rollout.gate_tallies)
-- over the stages from 1 on: per stage (ordered) the events x and y of each
-- arm and the candidate's share of the samples, the sums over the stages, the
-- last baseline quantile, and when the canary started (stage 1).
CREATE TYPE rollout.gate_tally_sums AS (
	xc			bigint[],
	xb			bigint[],
	yc			bigint[],
	yb			bigint[],
	share		float8[],
	nc			bigint,
	nb			bigint,
	sxc			float8,
	sxb			float8,
	sc			float8,
	sb			float8,
	qc			float8,
	qb			float8,
	base		float8,
	canary_from	timestamptz
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
		WHEN 'feedback' THEN v_n := s.n_feedback; v_sum := s.sum_feedback; v_sumsq := NULL;
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

-- Running tallies of the always-valid gates (tests event_share and
-- sequential): per rollout, gate and stage, what the gate's test reads from
-- the ended windows of the stage. Rates and means are summed again over the
-- current stage at each evaluation, so outcomes folded late (a long
-- transaction held the fold back, or a service recorded with an earlier
-- "at") still count; a finished stage's row stays as it was when the stage
-- ended. Quantile gates count each window once, against thresholds fixed
-- before it (see below), so a value folded into a window after it was
-- counted is not seen by them. What the columns hold depends on the gate:
--   rate      n = exposures, x = events (errors, safety flags, failures)
--   quantile  n = values, x = values above the fail threshold, y = above
--             the pass threshold; both thresholds come from the baseline's
--             windows before the counted ones, so they are fixed before the
--             counts they apply to (docs/statistics.md)
--   mean      n, sum, sumsq of the values
-- The sample-ratio check keeps its own rows (gate '.srm', n = outcomes).
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

-- Adds the windows of the current stage that ended since the last count to
-- the gate's tally row, and returns nothing. g is a normalized gate, or
-- {"name": ".srm"} for the sample-ratio check.
CREATE FUNCTION rollout._tally_gate(r rollout.rollouts, g jsonb, p_at timestamptz)
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
	v_stage_from timestamptz := rollout.window_start(r.stage_started_at);
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
	-- Rates and means: one statement sums the stage's ended windows into
	-- the tally row, creating it (counted_to the stage's first window when
	-- none has ended) or replacing it unless it already counts to v_to.
	IF v_cmp = 'rate' THEN
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, x_candidate, x_baseline, y_candidate, y_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.xc, a.xb, a.xc, a.xb
		FROM (SELECT coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS xc,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS xb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			x_candidate = excluded.x_candidate, x_baseline = excluded.x_baseline,
			y_candidate = excluded.y_candidate, y_baseline = excluded.y_baseline
			WHERE x.counted_to < v_to;
	ELSIF v_cmp = 'mean' AND v_metric LIKE 'metrics.%' THEN
		-- A custom metric: its per-window {"n", "sum", "sumsq"} in metrics.
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, sum_candidate, sum_baseline, sumsq_candidate, sumsq_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.sc, a.sb, a.qc, a.qb
		FROM (SELECT coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS sc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS sb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS qc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS qb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			sum_candidate = excluded.sum_candidate, sum_baseline = excluded.sum_baseline,
			sumsq_candidate = excluded.sumsq_candidate, sumsq_baseline = excluded.sumsq_baseline
			WHERE x.counted_to < v_to;
	ELSIF v_cmp = 'mean' THEN
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, sum_candidate, sum_baseline, sumsq_candidate, sumsq_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.sc, a.sb, a.qc, a.qb
		FROM (SELECT coalesce(sum(CASE v_metric WHEN 'quality' THEN w.n_quality WHEN 'latency_ms' THEN w.n_latency
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
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			sum_candidate = excluded.sum_candidate, sum_baseline = excluded.sum_baseline,
			sumsq_candidate = excluded.sumsq_candidate, sumsq_baseline = excluded.sumsq_baseline
			WHERE x.counted_to < v_to;
	ELSE
		SELECT x.counted_to INTO v_from FROM rollout.gate_tallies x
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
		IF NOT FOUND THEN
			v_from := v_stage_from;
			INSERT INTO rollout.gate_tallies (rollout_id, gate, stage, counted_to)
				VALUES (r.id, v_gate, r.stage, v_from);
		END IF;
		IF v_to <= v_from THEN
			RETURN;
		END IF;
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

-- Whether _tally_gates() keeps the tally of gate g: an always-valid test
-- (event_share, sequential) of a rate or a mean of a built-in metric.
-- Quantile and custom-metric gates are tallied by _tally_gate().
CREATE FUNCTION rollout._gate_set_tallied(g jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT (g OPERATOR(pg_catalog.->>) 'test') OPERATOR(pg_catalog.=) ANY ('{event_share,sequential}'::pg_catalog.text[])
	   AND ((g OPERATOR(pg_catalog.->>) 'comparison') OPERATOR(pg_catalog.=) 'rate'
			AND (g OPERATOR(pg_catalog.->>) 'metric') OPERATOR(pg_catalog.=) ANY ('{success,error,safety}'::pg_catalog.text[])
			OR (g OPERATOR(pg_catalog.->>) 'comparison') OPERATOR(pg_catalog.=) 'mean'
			AND (g OPERATOR(pg_catalog.->>) 'metric') OPERATOR(pg_catalog.=)
				ANY ('{quality,latency_ms,cost,success,error,safety}'::pg_catalog.text[]))
$$;

-- _tally_gate() for every always-valid gate of p_gates, in three
-- statements instead of several per gate: one for the rates and means of
-- built-in metrics (_gate_set_tallied()), which reads the stage's ended
-- windows once and writes the same sums, over the same windows in the same
-- order, into the same rows (a rate row keeps its sums at 0 and a mean row
-- its events at 0, as _tally_gate() leaves them); one for the quantiles;
-- one loop over the means of custom metrics. _tick_canary() calls it
-- before it reads every gate's tallies at once.
CREATE FUNCTION rollout._tally_gates(r rollout.rollouts, p_gates jsonb, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_stage_from timestamptz := rollout.window_start(r.stage_started_at);
	v_to timestamptz := rollout.window_start(p_at);
	v_g jsonb;
BEGIN
	-- Rates and means: the windows are read once, summed per arm (s), and
	-- the two arms' sums put side by side (a, MATERIALIZED: once, not once
	-- per gate).
	WITH s AS (SELECT w.arm, sum(w.n) AS n, sum(w.n_success_known) AS nsk,
			sum(w.n_success_known - w.n_success) AS fail, sum(w.n_error) AS err,
			sum(w.n_safety) AS saf, sum(w.n_quality) AS nq, sum(w.n_latency) AS nl,
			sum(w.n_cost) AS nco, sum(w.sum_quality) AS sq, sum(w.sum_latency) AS sl,
			sum(w.sum_cost) AS sco, sum(w.sumsq_quality) AS qq, sum(w.sumsq_latency) AS ql,
			sum(w.sumsq_cost) AS qco,
			-- Counts summed as float8 row by row, as a mean gate sums them.
			sum(w.n_success::float8) AS fs, sum(w.n_error::float8) AS fe,
			sum(w.n_safety::float8) AS fsa
		-- In window order within each arm, as the per-arm filters summed
		-- them (float sums depend on the order).
		FROM (SELECT * FROM rollout.outcome_windows w
			  WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
				AND w.window_start >= v_stage_from AND w.window_start < v_to
				AND w.arm IN ('candidate', 'stable')
			  ORDER BY w.arm, w.window_start) w
		GROUP BY w.arm),
	a AS MATERIALIZED (SELECT
			coalesce(c.n, 0) AS n_c, coalesce(b.n, 0) AS n_b,
			coalesce(c.nsk, 0) AS nsk_c, coalesce(b.nsk, 0) AS nsk_b,
			coalesce(c.fail, 0) AS fail_c, coalesce(b.fail, 0) AS fail_b,
			coalesce(c.err, 0) AS err_c, coalesce(b.err, 0) AS err_b,
			coalesce(c.saf, 0) AS saf_c, coalesce(b.saf, 0) AS saf_b,
			coalesce(c.nq, 0) AS nq_c, coalesce(b.nq, 0) AS nq_b,
			coalesce(c.nl, 0) AS nl_c, coalesce(b.nl, 0) AS nl_b,
			coalesce(c.nco, 0) AS nco_c, coalesce(b.nco, 0) AS nco_b,
			coalesce(c.sq, 0) AS sq_c, coalesce(b.sq, 0) AS sq_b,
			coalesce(c.sl, 0) AS sl_c, coalesce(b.sl, 0) AS sl_b,
			coalesce(c.sco, 0) AS sco_c, coalesce(b.sco, 0) AS sco_b,
			coalesce(c.qq, 0) AS qq_c, coalesce(b.qq, 0) AS qq_b,
			coalesce(c.ql, 0) AS ql_c, coalesce(b.ql, 0) AS ql_b,
			coalesce(c.qco, 0) AS qco_c, coalesce(b.qco, 0) AS qco_b,
			coalesce(c.fs, 0) AS fs_c, coalesce(b.fs, 0) AS fs_b,
			coalesce(c.fe, 0) AS fe_c, coalesce(b.fe, 0) AS fe_b,
			coalesce(c.fsa, 0) AS fsa_c, coalesce(b.fsa, 0) AS fsa_b
		FROM (SELECT) one
		LEFT JOIN s c ON c.arm = 'candidate'
		LEFT JOIN s b ON b.arm = 'stable')
	INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
		n_baseline, x_candidate, x_baseline, y_candidate, y_baseline, sum_candidate, sum_baseline,
		sumsq_candidate, sumsq_baseline)
	SELECT r.id, g->>'name', r.stage, greatest(v_to, v_stage_from), t.nc, t.nb, t.xc, t.xb, t.xc, t.xb,
		   t.sc, t.sb, t.qc, t.qb
	FROM jsonb_array_elements(p_gates) g
	CROSS JOIN a
	CROSS JOIN LATERAL (SELECT
			CASE WHEN g->>'comparison' = 'rate' THEN
				CASE WHEN g->>'metric' = 'success' THEN a.nsk_c ELSE a.n_c END
			ELSE CASE g->>'metric' WHEN 'quality' THEN a.nq_c WHEN 'latency_ms' THEN a.nl_c
					WHEN 'cost' THEN a.nco_c WHEN 'success' THEN a.nsk_c ELSE a.n_c END END AS nc,
			CASE WHEN g->>'comparison' = 'rate' THEN
				CASE WHEN g->>'metric' = 'success' THEN a.nsk_b ELSE a.n_b END
			ELSE CASE g->>'metric' WHEN 'quality' THEN a.nq_b WHEN 'latency_ms' THEN a.nl_b
					WHEN 'cost' THEN a.nco_b WHEN 'success' THEN a.nsk_b ELSE a.n_b END END AS nb,
			CASE WHEN g->>'comparison' = 'rate' THEN
				CASE g->>'metric' WHEN 'success' THEN a.fail_c WHEN 'error' THEN a.err_c ELSE a.saf_c END
			ELSE 0 END AS xc,
			CASE WHEN g->>'comparison' = 'rate' THEN
				CASE g->>'metric' WHEN 'success' THEN a.fail_b WHEN 'error' THEN a.err_b ELSE a.saf_b END
			ELSE 0 END AS xb,
			CASE WHEN g->>'comparison' = 'rate' THEN 0
			ELSE CASE g->>'metric' WHEN 'quality' THEN a.sq_c WHEN 'latency_ms' THEN a.sl_c
					WHEN 'cost' THEN a.sco_c WHEN 'success' THEN a.fs_c WHEN 'error' THEN a.fe_c
					ELSE a.fsa_c END END AS sc,
			CASE WHEN g->>'comparison' = 'rate' THEN 0
			ELSE CASE g->>'metric' WHEN 'quality' THEN a.sq_b WHEN 'latency_ms' THEN a.sl_b
					WHEN 'cost' THEN a.sco_b WHEN 'success' THEN a.fs_b WHEN 'error' THEN a.fe_b
					ELSE a.fsa_b END END AS sb,
			CASE WHEN g->>'comparison' = 'rate' THEN 0
			ELSE CASE g->>'metric' WHEN 'quality' THEN a.qq_c WHEN 'latency_ms' THEN a.ql_c
					WHEN 'cost' THEN a.qco_c WHEN 'success' THEN a.fs_c WHEN 'error' THEN a.fe_c
					ELSE a.fsa_c END END AS qc,
			CASE WHEN g->>'comparison' = 'rate' THEN 0
			ELSE CASE g->>'metric' WHEN 'quality' THEN a.qq_b WHEN 'latency_ms' THEN a.ql_b
					WHEN 'cost' THEN a.qco_b WHEN 'success' THEN a.fs_b WHEN 'error' THEN a.fe_b
					ELSE a.fsa_b END END AS qb) t
	WHERE rollout._gate_set_tallied(g)
	ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
		n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
		x_candidate = excluded.x_candidate, x_baseline = excluded.x_baseline,
		y_candidate = excluded.y_candidate, y_baseline = excluded.y_baseline,
		sum_candidate = excluded.sum_candidate, sum_baseline = excluded.sum_baseline,
		sumsq_candidate = excluded.sumsq_candidate, sumsq_baseline = excluded.sumsq_baseline
		WHERE x.counted_to < v_to;
	-- Quantiles: what _tally_gate() does in its steps (the row, the base
	-- before the uncounted windows, the counts above both thresholds, the
	-- sum), for every such gate in one statement. A missing row is written
	-- at once with what those steps would have left in it.
	INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
		n_baseline, x_candidate, x_baseline, y_candidate, y_baseline, baseline_quantile)
	SELECT r.id, q.gate, r.stage, greatest(v_to, q.v_from), c.nc, c.nb, c.xc, c.xb, c.yc, c.yb, b.base
	FROM (SELECT g, g->>'name' AS gate, g->>'metric' AS metric,
				 CASE g->>'comparison' WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END AS q,
				 make_interval(secs => coalesce((g->>'window_seconds')::float8, 3600)) AS win,
				 coalesce((SELECT y.counted_to FROM rollout.gate_tallies y
						   WHERE y.rollout_id = r.id AND y.gate = g->>'name' AND y.stage = r.stage),
						  v_stage_from) AS v_from
		  FROM jsonb_array_elements(p_gates) g
		  WHERE g->>'test' IN ('event_share', 'sequential') AND g->>'comparison' NOT IN ('rate', 'mean')
		  OFFSET 0) q
	CROSS JOIN LATERAL (SELECT CASE WHEN v_to > q.v_from THEN
			(SELECT rollout.ddsketch_quantile(rollout.ddsketch_merge(
						CASE WHEN q.metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END), q.q)
			 FROM rollout.outcome_windows w
			 WHERE w.rollout_id = r.id AND w.arm = 'stable' AND NOT w.shadow
			   AND w.window_start >= q.v_from - q.win AND w.window_start < q.v_from) END AS base
			-- OFFSET 0: each of these is computed once per gate, not once per use.
			OFFSET 0) b
	LEFT JOIN LATERAL (SELECT
			-- Latency and cost: higher is worse.
			CASE WHEN q.g->'ratio' <> 'null' THEN b.base * (1 + (q.g->>'fail_ratio')::float8)
				 ELSE b.base + (q.g->>'fail_margin')::float8 END AS fail,
			CASE WHEN q.g->'ratio' <> 'null' THEN b.base * (1 + (q.g->>'ratio')::float8)
				 ELSE b.base + (q.g->>'margin')::float8 END AS pass
			WHERE b.base IS NOT NULL OFFSET 0) th ON true
	-- Windows before any baseline data are passed over: nothing fixed a
	-- threshold for them in advance.
	CROSS JOIN LATERAL (SELECT coalesce(sum(s.n) FILTER (WHERE s.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(s.n) FILTER (WHERE s.arm = 'stable'), 0) AS nb,
			   coalesce(sum(rollout.ddsketch_count_above(s.sketch, th.fail)) FILTER (WHERE s.arm = 'candidate'), 0) AS xc,
			   coalesce(sum(rollout.ddsketch_count_above(s.sketch, th.fail)) FILTER (WHERE s.arm = 'stable'), 0) AS xb,
			   coalesce(sum(rollout.ddsketch_count_above(s.sketch, th.pass)) FILTER (WHERE s.arm = 'candidate'), 0) AS yc,
			   coalesce(sum(rollout.ddsketch_count_above(s.sketch, th.pass)) FILTER (WHERE s.arm = 'stable'), 0) AS yb
			FROM (SELECT w.arm,
						 CASE WHEN q.metric = 'latency_ms' THEN w.n_latency ELSE w.n_cost END AS n,
						 CASE WHEN q.metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END AS sketch
				  FROM rollout.outcome_windows w
				  WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
					AND w.window_start >= q.v_from AND w.window_start < v_to) s
			WHERE s.sketch IS NOT NULL AND b.base IS NOT NULL) c
	ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
		n_candidate = x.n_candidate + excluded.n_candidate, n_baseline = x.n_baseline + excluded.n_baseline,
		x_candidate = x.x_candidate + excluded.x_candidate, x_baseline = x.x_baseline + excluded.x_baseline,
		y_candidate = x.y_candidate + excluded.y_candidate, y_baseline = x.y_baseline + excluded.y_baseline,
		baseline_quantile = coalesce(excluded.baseline_quantile, x.baseline_quantile)
		WHERE x.counted_to < v_to;
	-- Means of custom metrics, gate by gate (a query only when there are).
	IF NOT p_gates @? '$[*] ? (@.metric starts with "metrics.")' THEN
		RETURN;
	END IF;
	FOR v_g IN SELECT y FROM jsonb_array_elements(p_gates) y
			 WHERE y->>'test' IN ('event_share', 'sequential') AND y->>'comparison' = 'mean'
			   AND y->>'metric' LIKE 'metrics.%' LOOP
		PERFORM rollout._tally_gate(r, v_g, p_at);
	END LOOP;
END
$$;

-- ", about 2 h 10 min more at the current rate": the time a gate still
-- needs when it has taken p_elapsed and needs p_factor times as much again
-- (src/gate_verdict.c, which the verdicts below also use).
CREATE FUNCTION rollout._eta(p_elapsed interval, p_factor float8) RETURNS text
AS 'MODULE_PATHNAME', 'rollout_eta'
LANGUAGE C IMMUTABLE;

-- The verdict of an always-valid gate (test event_share or sequential) from
-- its tallies t over the whole canary so far (every stage from 1 on, as
-- _evaluate_gate_av() and _tick_canary() read them from
-- rollout.gate_tallies), so that looking at every evaluation keeps the
-- chance of failing an identical candidate within the gate's alpha. Fails
-- when harm beyond fail_margin/fail_ratio is shown at alpha, at any sample
-- count (the sequential test waits for 100 per arm, where its normal
-- approximation holds); passes when it shows non-inferiority within
-- margin/ratio at pass_alpha after min_samples, or, for guardrails and at
-- steps below prove_at_percent but the last before 100%, when no harm is
-- shown after min_samples. A problem gives 'error'. In C
-- (src/gate_verdict.c): it was a tenth of a tick in PL/pgSQL (issue 15).
CREATE FUNCTION rollout._verdict_av(r rollout.rollouts, g jsonb, p_at timestamptz,
									t rollout.gate_tally_sums)
RETURNS rollout.gate_verdict
AS 'MODULE_PATHNAME', 'rollout_verdict_av'
LANGUAGE C VOLATILE;

-- Evaluates an always-valid gate (test event_share or sequential) at p_at:
-- adds the ended windows to its tally (_tally_gate), reads the tallies of
-- every stage from 1 on and returns _verdict_av() of them. _tick_canary()
-- does the same for all its gates at once.
CREATE FUNCTION rollout._evaluate_gate_av(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res rollout.gate_verdict;
	v_metric text := g->>'metric';
	v_cmp text := g->>'comparison';
	v_test text := g->>'test';
	t rollout.gate_tally_sums;
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
		   sum(x.n_candidate), sum(x.n_baseline), sum(x.x_candidate), sum(x.x_baseline),
		   sum(x.sum_candidate), sum(x.sum_baseline), sum(x.sumsq_candidate), sum(x.sumsq_baseline),
		   (array_agg(x.baseline_quantile ORDER BY x.stage DESC))[1],
		   -- The canary's start, read in the same statement.
		   (SELECT s.started_at FROM rollout.stages s WHERE s.rollout_id = r.id AND s.stage = 1)
		INTO t.xc, t.xb, t.yc, t.yb, t.share, t.nc, t.nb, t.sxc, t.sxb,
			 t.sc, t.sb, t.qc, t.qb, t.base, t.canary_from
		FROM rollout.gate_tallies x
		WHERE x.rollout_id = r.id AND x.gate = g->>'name' AND x.stage >= 1
		  AND x.n_candidate + x.n_baseline > 0;
	RETURN rollout._verdict_av(r, g, p_at, t);
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
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
