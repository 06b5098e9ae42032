-- pg_rollout 0.4.0 -> 0.5.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.5.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.4.0 + this script equals a
-- fresh 0.5.0 install (test/t/040_upgrade.pl checks it from 0.1.0, 0.2.0,
-- 0.3.0 and 0.4.0 by comparing pg_dump --schema-only). Sections are named
-- after the change they carry; a function changed by more than one section
-- is created once, in the last section that changes it, as the release has
-- it (upgrade/objects.py prints the current definitions).

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.5.0'" to load this file. \quit


-- record() closer to INSERT (issue 15, 0.5.0): record() is no longer
-- declared SECURITY DEFINER with SET search_path; its C function runs its
-- statements as the function's owner with search_path pg_catalog itself
-- (src/outcome_record.c), without fmgr's two search_path assignments per
-- call. Same arguments, privileges and comment; CREATE OR REPLACE resets
-- the security and configuration attributes.

CREATE OR REPLACE FUNCTION rollout.record(agent text, version integer, unit text DEFAULT NULL,
							   success boolean DEFAULT NULL, quality float8 DEFAULT NULL,
							   latency_ms float8 DEFAULT NULL, cost float8 DEFAULT NULL,
							   error boolean DEFAULT false, safety_flag boolean DEFAULT false,
							   feedback smallint DEFAULT NULL, metrics jsonb DEFAULT '{}',
							   shadow boolean DEFAULT false, at timestamptz DEFAULT pg_catalog.now(),
							   decision_token text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rollout_record'
LANGUAGE C VOLATILE SECURITY INVOKER;


-- A cheaper tick (issue 15, 0.5.0): gate_results loses its foreign key to
-- rollouts (only tick() writes it, with the rollout's row locked, and
-- neither table loses rows); the verdicts are unnested side by side
-- (_store_verdicts), every gate's tallies read in one grouped query
-- (_tick_canary), and the rates and means summed per arm before they are
-- put side by side (_tally_gates). No verdict, event or reason changes.

ALTER TABLE rollout.gate_results DROP CONSTRAINT gate_results_rollout_id_fkey;

CREATE OR REPLACE FUNCTION rollout._store_verdicts(r rollout.rollouts, g jsonb[], v rollout.gate_verdict[],
										p_at timestamptz, acted boolean[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO rollout.gate_results (rollout_id, stage, at, gate, metric, comparison, test, verdict,
		statistic, p_value, estimate, ci_low, ci_high, n_candidate, n_baseline,
		value_candidate, value_baseline, threshold, window_from, window_to, action, acted, detail)
	SELECT r.id, r.stage, p_at, x.g->>'name', x.g->>'metric', x.g->>'comparison', x.g->>'test',
		x.verdict, x.statistic, x.p_value, x.estimate, x.ci_low, x.ci_high,
		x.n_candidate, x.n_baseline, x.value_candidate, x.value_baseline,
		jsonb_build_object('margin', x.g->'margin', 'ratio', x.g->'ratio', 'alpha', x.g->'alpha',
						   'min_samples', x.g->'min_samples', 'window', x.g->'window',
						   'mode', x.g->'mode', 'higher_is_better', x.g->'higher_is_better',
						   'fail_margin', x.g->'fail_margin', 'fail_ratio', x.g->'fail_ratio',
						   'pass_alpha', x.g->'pass_alpha', 'prove_at_percent', x.g->'prove_at_percent'),
		x.window_from, x.window_to, x.g->>'action', x.acted, x.detail
	FROM ROWS FROM (unnest(g), unnest(v), unnest(acted)) WITH ORDINALITY
		AS x(g, verdict, statistic, p_value, estimate, ci_low, ci_high, n_candidate, n_baseline,
			 value_candidate, value_baseline, window_from, window_to, detail, acted, i)
	-- A row per gate: ROWS FROM pads the shorter arrays with NULLs.
	WHERE x.i <= cardinality(_store_verdicts.g)
	ORDER BY x.i;
END
$$;

CREATE OR REPLACE FUNCTION rollout._tally_gates(r rollout.rollouts, p_gates jsonb, p_at timestamptz)
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
	v_min bigint;
	v_rollback_now text[] := '{}';
	v_rollback text[] := '{}';
	v_freeze text[] := '{}';
	v_approval text[] := '{}';
	v_hold text[] := '{}';
	v_alerts text[] := '{}';
	v_blocking text[] := '{}';
	v_short_gates text[] := '{}';
	v_errors boolean := false;
	v_verdicts jsonb := '{}';
	v_srm text;
	v_reason text;
	v_step jsonb;
	v_bake float8;
	v_bake_until timestamptz;
	v_max_ext integer := coalesce((r.plan->'extend'->>'max_extensions')::integer, 3);
	v_need bigint;
	v_n_c bigint;
	v_n_b bigint;
	v_store_g jsonb[] := '{}';
	v_store_v rollout.gate_verdict[] := '{}';
	v_store_a boolean[] := '{}';
	v_short text;
	v_collect_until timestamptz;
	v_gates jsonb := coalesce(r.plan->'gates', '[]');
	v_sums rollout.gate_tally_sums[];
	v_fast boolean[];
	v_tallied boolean := true;
	v_i integer;
BEGIN
	-- The always-valid gates read their tallies (issue 15): tallied in three
	-- statements (_tally_gates), then every gate's read at once. If the
	-- tallies fail, each gate is evaluated on its own below, where the
	-- failure becomes its 'error' verdict, as before.
	BEGIN
		PERFORM rollout._tally_gates(r, v_gates, p_at);
	EXCEPTION WHEN OTHERS THEN
		v_tallied := false;
	END;
	-- Every gate's tallies in one grouped read (a gate without rows, or not
	-- always-valid, gets NULLs but for canary_from), not one read per gate.
	SELECT array_agg(ROW(s.xc, s.xb, s.yc, s.yb, s.share, s.nc, s.nb, s.sxc, s.sxb, s.sc, s.sb,
						 s.qc, s.qb, s.base,
						 (SELECT st.started_at FROM rollout.stages st
						  WHERE st.rollout_id = r.id AND st.stage = 1))::rollout.gate_tally_sums
					 ORDER BY o.ord),
		   array_agg(v_tallied AND (rollout._gate_set_tallied(o.x)
					  OR o.x->>'test' IN ('event_share', 'sequential')
						 AND (o.x->>'comparison' NOT IN ('rate', 'mean')
							  OR o.x->>'comparison' = 'mean' AND o.x->>'metric' LIKE 'metrics.%')) ORDER BY o.ord)
		INTO v_sums, v_fast
		FROM jsonb_array_elements(v_gates) WITH ORDINALITY AS o(x, ord)
		LEFT JOIN (
			SELECT y.gate, array_agg(y.x_candidate ORDER BY y.stage) AS xc,
				   array_agg(y.x_baseline ORDER BY y.stage) AS xb,
				   array_agg(y.y_candidate ORDER BY y.stage) AS yc,
				   array_agg(y.y_baseline ORDER BY y.stage) AS yb,
				   array_agg(y.n_candidate::float8 / (y.n_candidate + y.n_baseline) ORDER BY y.stage) AS share,
				   sum(y.n_candidate) AS nc, sum(y.n_baseline) AS nb,
				   sum(y.x_candidate) AS sxc, sum(y.x_baseline) AS sxb,
				   sum(y.sum_candidate) AS sc, sum(y.sum_baseline) AS sb,
				   sum(y.sumsq_candidate) AS qc, sum(y.sumsq_baseline) AS qb,
				   (array_agg(y.baseline_quantile ORDER BY y.stage DESC))[1] AS base
			FROM rollout.gate_tallies y
			WHERE y.rollout_id = r.id AND y.stage >= 1 AND y.n_candidate + y.n_baseline > 0
			GROUP BY y.gate) s
		  ON s.gate = o.x->>'name' AND o.x->>'test' IN ('event_share', 'sequential');

	-- The gates in plan order, without a query.
	FOR v_i IN 1..jsonb_array_length(v_gates) LOOP
		g := v_gates->(v_i - 1);
		v_name := g->>'name';
		v_act := g->>'action';
		-- Always-valid tests directly: _evaluate_gate would only pass them on.
		IF v_fast[v_i] THEN
			v := rollout._verdict_av(r, g, p_at, v_sums[v_i]);
		ELSIF g->>'test' IN ('event_share', 'sequential') THEN
			v := rollout._evaluate_gate_av(r, g, p_at);
		ELSE
			v := rollout._evaluate_gate(r, g, p_at);
		END IF;
		v_verdicts := v_verdicts || jsonb_build_object(v_name, v.verdict);
		IF v_act = 'dry_run' THEN
			v_store_g := v_store_g || g; v_store_v := v_store_v || v; v_store_a := v_store_a || false;
			CONTINUE;
		END IF;
		-- An alert gate tells people; it does not stop the rollout.
		IF v.verdict <> 'pass' AND v_act <> 'alert' THEN
			v_blocking := v_blocking || pg_catalog.format('%s %s', v_name, v.verdict);
			v_errors := v_errors OR v.verdict = 'error';
		END IF;
		v_min := coalesce((g->>'min_samples')::bigint, 0);
		IF v.verdict = 'inconclusive' AND v_act <> 'alert'
		   AND (coalesce(v.n_candidate, 0) < v_min OR coalesce(v.n_baseline, 0) < v_min) THEN
			v_short_gates := v_short_gates || pg_catalog.format('%s %s of %s', v_name,
				least(coalesce(v.n_candidate, 0), coalesce(v.n_baseline, 0)), v_min);
		END IF;
		-- Alerts go out once per failure episode: when a gate starts failing,
		-- and again only after it has passed (fail_streak remembers
		-- "alert:<gate>" across stages; an inconclusive verdict does not end
		-- the episode).
		IF v.verdict = 'pass' AND v_streak ? ('alert:' || v_name) THEN
			v_streak := v_streak - ('alert:' || v_name);
		END IF;
		IF v.verdict = 'fail' THEN
			IF (coalesce((g->>'alert')::boolean, false) OR v_act = 'alert')
			   AND NOT v_streak ? ('alert:' || v_name) THEN
				v_alerts := v_alerts || v_name;
				v_streak := v_streak || jsonb_build_object('alert:' || v_name, p_at);
			END IF;
			CASE v_act
				WHEN 'rollback_now' THEN
					v_rollback_now := v_rollback_now || pg_catalog.format('gate %s failed: %s', v_name, v.detail);
				WHEN 'rollback' THEN
					v_streak := rollout._count_failing_window(v_streak, g, p_at);
					v_count := (v_streak->v_name->>'count')::integer;
					IF v_count >= coalesce((g->>'consecutive')::integer, 1) THEN
						v_rollback := v_rollback || pg_catalog.format('gate %s failed in %s consecutive windows', v_name, v_count);
					ELSE
						v_hold := v_hold || pg_catalog.format('gate %s failed (%s of %s windows)', v_name, v_count, g->>'consecutive');
					END IF;
				WHEN 'freeze' THEN
					v_freeze := v_freeze || pg_catalog.format('gate %s failed', v_name);
				WHEN 'hold_for_approval' THEN
					IF r.approved_stage IS DISTINCT FROM r.stage THEN
						v_approval := v_approval || pg_catalog.format('gate %s failed', v_name);
					ELSE
						-- Approved for this stage: the failure no longer blocks.
						v_blocking := array_remove(v_blocking, pg_catalog.format('%s fail', v_name));
					END IF;
				WHEN 'hold' THEN
					v_hold := v_hold || pg_catalog.format('gate %s failed', v_name);
				ELSE
					NULL;
			END CASE;
		ELSIF v_streak ? v_name THEN
			v_streak := v_streak - v_name;
		END IF;
		v_store_g := v_store_g || g; v_store_v := v_store_v || v;
		v_store_a := v_store_a ||
			(v.verdict = 'fail' AND v_act IN ('rollback_now', 'rollback', 'freeze', 'hold_for_approval', 'hold'));
	END LOOP;
	-- The verdicts, in one statement (issue 15).
	PERFORM rollout._store_verdicts(r, v_store_g, v_store_v, p_at, v_store_a);

	UPDATE rollout.rollouts SET fail_streak = v_streak, last_eval_at = p_at WHERE id = r.id;
	-- Unchanged verdicts (most evaluations) are not written again.
	UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage
		AND verdicts IS DISTINCT FROM v_verdicts;
	-- The row as the UPDATE left it, without reading it again.
	r.fail_streak := v_streak;
	r.last_eval_at := p_at;

	IF cardinality(v_alerts) > 0 THEN
		PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
			jsonb_build_object('gates', to_jsonb(v_alerts)),
			'gates started failing: ' || array_to_string(v_alerts, ', '), p_at);
		PERFORM rollout._notify_change(r.id, r.agent, 'alert', r.state, r.stage, r.percent, p_at,
									   'gates failed: ' || array_to_string(v_alerts, ', '));
	END IF;

	IF cardinality(v_rollback_now) > 0 THEN
		detail := array_to_string(v_rollback_now, '; ');
		PERFORM rollout._finish_rollback(r, true, 'rollback_now', detail, p_at);
		action := 'rollback_now';
		RETURN;
	END IF;
	IF cardinality(v_rollback) > 0 THEN
		detail := array_to_string(v_rollback, '; ');
		PERFORM rollout._finish_rollback(r, false, 'rollback', detail, p_at);
		action := 'rollback';
		RETURN;
	END IF;
	IF cardinality(v_freeze) > 0 THEN
		detail := array_to_string(v_freeze, '; ');
		PERFORM rollout._hold(r, 'paused', 'freeze', detail, p_at);
		action := 'freeze';
		RETURN;
	END IF;
	IF cardinality(v_approval) > 0 THEN
		detail := array_to_string(v_approval, '; ');
		PERFORM rollout._hold(r, 'awaiting_approval', 'hold_for_approval', detail, p_at);
		action := 'hold_for_approval';
		RETURN;
	END IF;
	v_srm := rollout._srm_reason(r, p_at);
	IF v_srm IS NOT NULL THEN
		v_hold := v_hold || v_srm;
	END IF;
	IF cardinality(v_hold) > 0 THEN
		detail := array_to_string(v_hold, '; ');
		action := CASE WHEN rollout._hold(r, 'holding', 'hold', detail, p_at) THEN 'hold' ELSE 'wait' END;
		RETURN;
	END IF;

	-- Nothing failed. Advancing needs every acting gate to pass, the bake
	-- time and the step's samples.
	v_step := r.plan->'steps'->(r.stage - 1);
	v_bake := coalesce((v_step->>'bake_seconds')::float8, 0);
	v_bake_until := r.stage_started_at + make_interval(secs => v_bake);
	-- Sample collection runs in bake periods: the boosted one and each
	-- extension add one; the next step is taken when the current one ends.
	v_collect_until := r.stage_started_at + make_interval(secs => v_bake * (1 + r.extensions));
	v_need := coalesce((v_step->>'min_samples')::bigint, 0);
	-- The stage's live windows so far (what _arm_counts() sums), read here.
	SELECT coalesce(sum(w.n) FILTER (WHERE w.arm = 'candidate'), 0),
		   coalesce(sum(w.n) FILTER (WHERE w.arm = 'stable'), 0)
		INTO v_n_c, v_n_b
		FROM rollout.outcome_windows w
		WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
		  AND w.window_start >= rollout.window_start(r.stage_started_at)
		  AND w.window_start < p_at + interval '1 microsecond';
	IF v_n_c < v_need OR v_n_b < v_need THEN
		v_short := pg_catalog.format('candidate %s, baseline %s, need %s', v_n_c, v_n_b, v_need);
	END IF;
	IF cardinality(v_short_gates) > 0 THEN
		v_short := concat_ws('; ', v_short, 'gates ' || array_to_string(v_short_gates, ', '));
	END IF;

	IF p_at >= v_bake_until AND v_short IS NOT NULL AND NOT v_errors
	   AND v_step IS NOT NULL AND r.strategy <> 'ab_test' THEN
		-- Sample collection: boost once when allowed, else extend the bake,
		-- else hold until the samples are in; within a period, wait. The
		-- rollout advances as soon as the samples are in.
		IF p_at < v_collect_until THEN
			action := 'wait';
			detail := pg_catalog.format('short of samples (%s): collecting until %s', v_short, v_collect_until);
			RETURN;
		END IF;
		IF v_bake > 0 AND rollout._boost(r, p_at) THEN
			-- The boosted period counts as one extension.
			UPDATE rollout.rollouts SET extensions = r.extensions + 1 WHERE id = r.id;
			action := 'boost';
			detail := 'bake time over, short of samples: ' || v_short;
			RETURN;
		END IF;
		IF r.extensions < v_max_ext AND v_bake > 0 THEN
			UPDATE rollout.rollouts SET extensions = r.extensions + 1 WHERE id = r.id;
			detail := pg_catalog.format('bake time over, short of samples (%s): collecting until %s (extension %s of %s)',
				v_short, v_collect_until + make_interval(secs => v_bake), r.extensions + 1, v_max_ext);
			PERFORM rollout._record_change(r, 'extend', detail, p_at);
			action := 'extend';
			RETURN;
		END IF;
		v_reason := pg_catalog.format('short of samples after %s extensions of the bake: %s', r.extensions, v_short);
		action := CASE WHEN rollout._hold(r, 'holding', 'hold', v_reason, p_at) THEN 'hold' ELSE 'wait' END;
		detail := v_reason;
		RETURN;
	END IF;

	IF cardinality(v_blocking) > 0 THEN
		action := 'wait';
		detail := 'gates not passed: ' || array_to_string(v_blocking, ', ');
		IF r.state = 'holding' THEN
			-- No gate fails any more; the hold ends when every gate passes.
			PERFORM rollout._hold(r, 'holding', 'hold',
				'no gate fails now; released when every gate passes (' || array_to_string(v_blocking, ', ') || ')', p_at);
		END IF;
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		UPDATE rollout.rollouts SET state = 'canary', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release', 'every gate passes again', p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
	END IF;

	IF p_at < v_bake_until THEN
		action := 'wait';
		detail := pg_catalog.format('baking until %s', v_bake_until);
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



-- Gate verdicts in C (issue 15, 0.5.0): rollout._verdict_av() and
-- rollout._eta() become C functions (src/gate_verdict.c) with the same
-- arguments, results, privileges and comments; sql/verdict_reference.sql
-- compares them with the PL/pgSQL they replace. CREATE OR REPLACE drops
-- their SET search_path (a C function has no use for it).

CREATE OR REPLACE FUNCTION rollout._eta(p_elapsed interval, p_factor float8) RETURNS text
AS 'MODULE_PATHNAME', 'rollout_eta'
LANGUAGE C IMMUTABLE;

CREATE OR REPLACE FUNCTION rollout._verdict_av(r rollout.rollouts, g jsonb, p_at timestamptz,
									t rollout.gate_tally_sums)
RETURNS rollout.gate_verdict
AS 'MODULE_PATHNAME', 'rollout_verdict_av'
LANGUAGE C VOLATILE;

