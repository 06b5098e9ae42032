-- 67: A/B/n tests (and the two-sample verdict blue-green uses, 66). Every variant is compared with the control variant
-- (plan experiment.control, default the first variant) by every gate of the
-- plan, over the whole experiment, with a Bonferroni correction across the
-- k - 1 comparisons (each gets alpha / (k - 1), docs/statistics.md). When
-- experiment.duration has passed with experiment.min_samples on every
-- variant, the test waits in state awaiting_decision with a recommendation
-- (the best variant that passed every gate, or none); a person ends it with
-- rollout.promote(agent, variant => ...) or rollout.rollback().

-- The variant a verdict is about (A/B tests; NULL for canaries).
ALTER TABLE rollout.gate_results ADD COLUMN variant text;
-- The variant an A/B test recommends once its experiment is over (NULL:
-- none passed every gate, or not over yet).
ALTER TABLE rollout.rollouts ADD COLUMN recommendation text;

-- The verdict of one gate for one arm's outcomes in [p_from, p_to) against
-- another arm's in [p_base_from, p_base_to): rates by the score test
-- (rollout.proportion_test), means by Welch's test, quantiles by their point
-- values (as hard_limit), at the gate's alpha divided by p_comparisons. A/B
-- tests compare each variant with the control over the same period; blue-
-- green compares green after the switch with blue before it. Decisions on
-- these fixed-horizon tests are taken once (the end of the experiment, the
-- end of the stable period); the verdicts stored at each tick before are
-- for people to watch, and for the gates that roll back. p_shadow: the
-- first arm's shadow outcomes (the shadow phase's guards).
CREATE FUNCTION rollout._arm_verdict(r rollout.rollouts, g jsonb, p_arm text, p_from timestamptz,
									 p_to timestamptz, p_base_arm text, p_base_from timestamptz,
									 p_base_to timestamptz, p_comparisons integer,
									 p_shadow boolean DEFAULT false)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res rollout.gate_verdict;
	v_metric text := g->>'metric';
	v_custom text := CASE WHEN g->>'metric' LIKE 'metrics.%' THEN substr(g->>'metric', 9) END;
	v_cmp text := g->>'comparison';
	v_hib boolean := coalesce((g->>'higher_is_better')::boolean, false);
	v_alpha float8 := coalesce((g->>'alpha')::float8, 0.05) / greatest(p_comparisons, 1);
	v_min bigint := greatest(coalesce((g->>'min_samples')::bigint, 0), 1);
	v_ratio float8 := (g->>'ratio')::float8;
	v_delta float8;
	v_sign float8 := CASE WHEN coalesce((g->>'higher_is_better')::boolean, false) THEN -1 ELSE 1 END;
	v_alt_pass text := CASE WHEN coalesce((g->>'higher_is_better')::boolean, false) THEN 'greater' ELSE 'less' END;
	v_alt_fail text := CASE WHEN coalesce((g->>'higher_is_better')::boolean, false) THEN 'less' ELSE 'greater' END;
	v_pass_p float8;
	v_fail_p float8;
	v_margin text;
	c record;
	b record;
	sc record;
	sb record;
	t record;
BEGIN
	res.window_from := p_from;
	res.window_to := p_to;
	SELECT * INTO c FROM rollout.arm_summary(r.id, p_from, p_to, v_custom) s
		WHERE s.arm = p_arm AND s.shadow = p_shadow;
	IF FOUND THEN
		SELECT * INTO b FROM rollout.arm_summary(r.id, p_base_from, p_base_to, v_custom) s
			WHERE s.arm = p_base_arm AND NOT s.shadow;
	END IF;
	IF c.arm IS NULL OR b.arm IS NULL THEN
		res.verdict := 'inconclusive';
		res.n_candidate := 0;
		res.n_baseline := 0;
		res.detail := pg_catalog.format('no outcomes of %s or of %s yet', p_arm, p_base_arm);
		RETURN res;
	END IF;
	SELECT * INTO sc FROM rollout._arm_stat(c, v_metric, v_cmp, v_custom);
	SELECT * INTO sb FROM rollout._arm_stat(b, v_metric, v_cmp, v_custom);
	res.n_candidate := coalesce(sc.n, 0);
	res.n_baseline := coalesce(sb.n, 0);
	res.value_candidate := sc.value;
	res.value_baseline := sb.value;
	IF res.n_candidate < v_min OR res.n_baseline < v_min OR sc.value IS NULL OR sb.value IS NULL THEN
		res.verdict := 'inconclusive';
		res.detail := pg_catalog.format('too few samples: %s %s, %s %s, need %s each',
										p_arm, res.n_candidate, p_base_arm, res.n_baseline, v_min);
		RETURN res;
	END IF;
	v_delta := CASE WHEN v_ratio IS NOT NULL THEN v_ratio * abs(sb.value)
					ELSE coalesce((g->>'margin')::float8, 0) END;
	res.estimate := sc.value - sb.value;
	IF v_cmp = 'rate' THEN
		SELECT * INTO t FROM rollout.proportion_test(sc.x, sc.n, sb.x, sb.n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.statistic;
		SELECT * INTO t FROM rollout.proportion_test(sc.x, sc.n, sb.x, sb.n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSIF v_cmp = 'mean' AND sc.sd IS NOT NULL AND sb.sd IS NOT NULL THEN
		SELECT * INTO t FROM rollout.welch_test(sc.value, sc.sd, sc.n, sb.value, sb.sd, sb.n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.t;
		SELECT * INTO t FROM rollout.welch_test(sc.value, sc.sd, sc.n, sb.value, sb.sd, sb.n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSE
		res.statistic := v_sign * res.estimate;
		res.verdict := CASE WHEN v_sign * res.estimate > v_delta THEN 'fail' ELSE 'pass' END;
		res.detail := pg_catalog.format('%s %s: %s %s vs %s %s (point values, limit %s)',
			v_metric, v_cmp, p_arm, round(sc.value::numeric, 4), p_base_arm, round(sb.value::numeric, 4), v_delta);
		RETURN res;
	END IF;
	IF v_fail_p < v_alpha THEN
		res.verdict := 'fail';
		res.p_value := v_fail_p;
	ELSIF coalesce(g->>'mode', 'non_inferiority') = 'guardrail' OR v_pass_p < v_alpha THEN
		res.verdict := 'pass';
		res.p_value := CASE WHEN v_pass_p < v_alpha THEN v_pass_p ELSE v_fail_p END;
	ELSE
		res.verdict := 'inconclusive';
		res.p_value := v_pass_p;
	END IF;
	-- The detail names the hypothesis its p belongs to: the fail test's
	-- (worse beyond the margin) or the pass test's (within it).
	v_margin := CASE WHEN v_ratio IS NOT NULL
					 THEN pg_catalog.trim_scale(round((v_ratio * 100)::numeric, 4)) || '%'
					 ELSE pg_catalog.trim_scale(round(v_delta::numeric, 6))::text END;
	res.detail := pg_catalog.format('%s %s: %s %s vs %s %s, n %s/%s, %s: p %s at alpha %s%s',
		v_metric, v_cmp, p_arm, round(sc.value::numeric, 4), p_base_arm, round(sb.value::numeric, 4),
		res.n_candidate, res.n_baseline,
		CASE WHEN res.verdict = 'fail' THEN 'worse than ' || p_base_arm || CASE WHEN v_delta > 0 THEN ' by more than ' || v_margin ELSE '' END
			 WHEN res.verdict = 'pass' AND v_pass_p < v_alpha THEN
				CASE WHEN v_delta > 0 THEN pg_catalog.format('within %s of %s or better', v_margin, p_base_arm)
					 ELSE 'better than ' || p_base_arm END
			 WHEN res.verdict = 'pass' THEN 'no evidence of worse than ' || p_base_arm || CASE WHEN v_delta > 0 THEN ' by more than ' || v_margin ELSE '' END
			 ELSE CASE WHEN v_delta > 0 THEN pg_catalog.format('not yet shown within %s of %s', v_margin, p_base_arm)
					   ELSE 'not yet shown better than ' || p_base_arm END END,
		round(res.p_value::numeric, 4), round(v_alpha::numeric, 6),
		CASE WHEN p_comparisons > 1
			 THEN pg_catalog.format(' (%s / %s comparisons)', coalesce((g->>'alpha')::float8, 0.05), p_comparisons)
			 ELSE '' END);
	RETURN res;
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
END
$$;

-- Evaluates one locked A/B test: every gate for every variant against the
-- control, stored with its variant; a failing rollback or rollback_now gate
-- ends the test (rolled back) in any active state. With p_protect (paused,
-- awaiting_approval) only those gates are evaluated. Otherwise, once the
-- experiment's duration is over and every variant has its min_samples, the
-- test moves to awaiting_decision (once) with its recommendation.
CREATE FUNCTION rollout._tick_ab(r rollout.rollouts, p_at timestamptz, p_protect boolean,
								 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_control text := coalesce(r.plan->'experiment'->>'control', r.variants->0->>'name');
	v_k integer := jsonb_array_length(coalesce(r.variants, '[]'));
	v_var jsonb;
	v_name text;
	g jsonb;
	v rollout.gate_verdict;
	v_verdicts jsonb := '{}';
	v_rollback text;
	v_rollback_action text;
	v_losers text[] := '{}';
	v_score jsonb := '{}';
	v_primary jsonb;
	v_until timestamptz;
	v_min bigint := coalesce((r.plan->'experiment'->>'min_samples')::bigint, 0);
	v_short text;
	v_best text;
	v_reason text;
BEGIN
	UPDATE rollout.rollouts SET last_eval_at = p_at WHERE id = r.id;
	SELECT x INTO v_primary FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x
		WHERE x->>'action' NOT IN ('dry_run', 'alert') LIMIT 1;
	FOR v_var IN SELECT x FROM jsonb_array_elements(coalesce(r.variants, '[]')) x LOOP
		v_name := v_var->>'name';
		CONTINUE WHEN v_name = v_control;
		v_verdicts := v_verdicts || jsonb_build_object(v_name, '{}'::jsonb);
		FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x LOOP
			CONTINUE WHEN p_protect AND g->>'action' NOT IN ('rollback', 'rollback_now');
			v := rollout._arm_verdict(r, g, v_name, rollout.window_start(r.started_at), p_at + interval '1 microsecond',
									  v_control, rollout.window_start(r.started_at), p_at + interval '1 microsecond', v_k - 1);
			INSERT INTO rollout.gate_results (rollout_id, stage, at, gate, metric, comparison, test, verdict,
				statistic, p_value, estimate, n_candidate, n_baseline, value_candidate, value_baseline,
				threshold, window_from, window_to, action, acted, detail, variant)
			VALUES (r.id, r.stage, p_at, g->>'name', g->>'metric', g->>'comparison',
				CASE WHEN g->>'comparison' = 'rate' THEN 'proportion'
					 WHEN g->>'comparison' = 'mean' THEN 'welch' ELSE 'hard_limit' END,
				v.verdict, v.statistic, v.p_value, v.estimate, v.n_candidate, v.n_baseline,
				v.value_candidate, v.value_baseline,
				jsonb_build_object('margin', g->'margin', 'ratio', g->'ratio',
								   'alpha', coalesce((g->>'alpha')::float8, 0.05) / greatest(v_k - 1, 1),
								   'comparisons', greatest(v_k - 1, 1), 'min_samples', g->'min_samples',
								   'control', v_control),
				v.window_from, v.window_to, g->>'action',
				v.verdict = 'fail' AND g->>'action' IN ('rollback', 'rollback_now'), v.detail, v_name);
			v_verdicts := jsonb_set(v_verdicts, ARRAY[v_name, g->>'name'], to_jsonb(v.verdict));
			IF v.verdict = 'fail' AND g->>'action' IN ('rollback', 'rollback_now') AND v_rollback IS NULL THEN
				v_rollback := pg_catalog.format('gate %s failed for variant %s against %s: %s',
												g->>'name', v_name, v_control, v.detail);
				v_rollback_action := g->>'action';
			END IF;
			IF v.verdict <> 'pass' AND g->>'action' NOT IN ('dry_run', 'alert') THEN
				v_losers := v_losers || v_name;
			END IF;
			IF g = v_primary AND v.value_candidate IS NOT NULL THEN
				v_score := v_score || jsonb_build_object(v_name,
					CASE WHEN coalesce((g->>'higher_is_better')::boolean, false)
						 THEN v.value_candidate ELSE -v.value_candidate END);
			END IF;
		END LOOP;
	END LOOP;
	IF NOT p_protect THEN
		UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage;
	END IF;
	IF v_rollback IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, v_rollback_action = 'rollback_now', v_rollback_action, v_rollback, p_at);
		action := v_rollback_action;
		detail := v_rollback;
		RETURN;
	END IF;
	action := 'wait';
	IF p_protect THEN
		detail := pg_catalog.format('%s: only the gates that roll back are evaluated', r.state);
		RETURN;
	END IF;
	v_until := r.started_at + make_interval(secs =>
		rollout._plan_seconds(r.plan->'experiment', 'duration_seconds', 604800));
	IF p_at < v_until THEN
		detail := pg_catalog.format('A/B test until %s', v_until);
		RETURN;
	END IF;
	SELECT string_agg(pg_catalog.format('%s %s', vs.x->>'name', coalesce(n.n, 0)), ', ' ORDER BY vs.o)
		INTO v_short
		FROM jsonb_array_elements(r.variants) WITH ORDINALITY vs(x, o)
		LEFT JOIN (SELECT s.arm, sum(s.n) AS n
					 FROM rollout._arm_counts(r.id, rollout.window_start(r.started_at),
											  p_at + interval '1 microsecond', r.stage) s
					GROUP BY s.arm) n ON n.arm = vs.x->>'name'
		WHERE coalesce(n.n, 0) < v_min;
	IF v_short IS NOT NULL THEN
		detail := pg_catalog.format('experiment over, short of samples (%s each): %s', v_min, v_short);
		RETURN;
	END IF;
	SELECT s.key INTO v_best FROM jsonb_each_text(v_score) s
		WHERE s.key <> ALL (v_losers) ORDER BY s.value::float8 DESC, s.key LIMIT 1;
	v_reason := CASE WHEN v_best IS NOT NULL
		THEN pg_catalog.format('experiment over: variant %s passed every gate against %s and is the best by %s; promote it with rollout.promote(agent, variant => ''%s'') or end the test with rollout.rollback()',
							   v_best, v_control, v_primary->>'name', v_best)
		ELSE pg_catalog.format('experiment over: no variant passed every gate against %s; end the test with rollout.rollback() or promote a variant by name',
							   v_control) END;
	IF r.recommendation IS DISTINCT FROM v_best THEN
		UPDATE rollout.rollouts SET recommendation = v_best WHERE id = r.id;
	END IF;
	action := CASE WHEN rollout._hold(r, 'awaiting_decision', 'experiment_over', v_reason, p_at)
				   THEN 'experiment_over' ELSE 'wait' END;
	detail := v_reason;
END
$$;
