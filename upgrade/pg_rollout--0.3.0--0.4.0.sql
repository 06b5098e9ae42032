-- pg_rollout 0.3.0 -> 0.4.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.4.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.3.0 + this script equals a
-- fresh 0.4.0 install (test/t/040_upgrade.pl checks it from 0.1.0, 0.2.0 and
-- 0.3.0 by comparing pg_dump --schema-only). Sections are named after the
-- change they carry; a function changed by more than one section is created
-- once, in the last section that changes it, as the release has it
-- (upgrade/objects.py prints the current definitions).
--
-- Built-in risk tiers: rows with builtin = true are the release's and are not
-- dumped; a section that changes a shipped tier updates only rows WHERE
-- builtin, with the triggers plan_presets_edited and plan_presets_change
-- disabled around the UPDATE.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.4.0'" to load this file. \quit


-- comparison per variant (issue 13, 0.4.0): rollout.compare() and the
-- comparison view gain the columns arm and baseline_arm; an A/B test has a
-- row per variant other than the control, against the control. The return
-- type changes, so the view and the function are dropped and created again
-- with their privileges and comments.

DROP VIEW rollout.comparison;
DROP FUNCTION rollout.compare(bigint);

CREATE FUNCTION rollout.compare(rollout_id bigint)
RETURNS TABLE(rollout_id bigint, stage integer, scope text, window_start timestamptz,
			  window_end timestamptz,
			  baseline_n bigint, candidate_n bigint, candidate_shadow_n bigint,
			  baseline_success_rate float8, candidate_success_rate float8,
			  baseline_mean_quality float8, candidate_mean_quality float8,
			  baseline_error_rate float8, candidate_error_rate float8,
			  baseline_safety_rate float8, candidate_safety_rate float8,
			  baseline_mean_cost float8, candidate_mean_cost float8,
			  baseline_median_cost float8, candidate_median_cost float8,
			  baseline_p50_ms float8, candidate_p50_ms float8,
			  baseline_p95_ms float8, candidate_p95_ms float8,
			  baseline_p99_ms float8, candidate_p99_ms float8,
			  shadow_pairs bigint, shadow_similarity float8, shadow_agreement float8,
			  arm text, baseline_arm text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH base AS (
		SELECT CASE WHEN x.strategy = 'ab_test'
					THEN coalesce(x.plan->'experiment'->>'control', x.variants->0->>'name')
					ELSE 'stable' END AS arm,
			   x.strategy, x.variants
		FROM rollout.rollouts x WHERE x.id = compare.rollout_id),
	cmp AS (
		SELECT v->>'name' AS arm
		FROM base, jsonb_array_elements(CASE WHEN jsonb_typeof(base.variants) = 'array'
											 THEN base.variants ELSE '[]' END) AS t(v)
		WHERE base.strategy = 'ab_test' AND v->>'name' IS DISTINCT FROM base.arm
		UNION ALL
		SELECT 'candidate' FROM base WHERE base.strategy <> 'ab_test'),
	a AS (
		SELECT w.stage, CASE WHEN grouping(w.window_start) = 0 THEN 'window' ELSE 'stage' END AS scope,
			   min(w.window_start) AS ws, max(w.window_start) + interval '5 minutes' AS we,
			   coalesce(w.window_start, '-infinity') AS k, w.arm,
			   sum(w.n)::bigint AS n, sum(w.n) FILTER (WHERE w.shadow)::bigint AS shadow_n,
			   sum(w.n_success)::float8 / nullif(sum(w.n_success_known), 0) AS success_rate,
			   sum(w.sum_quality) / nullif(sum(w.n_quality), 0) AS mean_quality,
			   sum(w.n_error)::float8 / nullif(sum(w.n), 0) AS error_rate,
			   sum(w.n_safety)::float8 / nullif(sum(w.n), 0) AS safety_rate,
			   sum(w.sum_cost) / nullif(sum(w.n_cost), 0) AS mean_cost,
			   rollout.ddsketch_merge(w.cost_sketch) AS cs,
			   rollout.ddsketch_merge(w.latency_sketch) AS ls
		FROM rollout.outcome_windows w
		WHERE w.rollout_id = compare.rollout_id
		  AND (w.arm IN (SELECT base.arm FROM base) OR w.arm IN (SELECT cmp.arm FROM cmp))
		GROUP BY w.stage, w.arm, GROUPING SETS ((w.window_start), ())),
	s AS (
		SELECT sw.stage, coalesce(sw.window_start, '-infinity') AS k,
			   min(sw.window_start) AS ws, max(sw.window_start) + interval '5 minutes' AS we,
			   sum(sw.n)::bigint AS n,
			   sum(sw.sum_similarity) / nullif(sum(sw.n_similarity), 0) AS similarity,
			   sum(sw.n_agree)::float8 / nullif(sum(sw.n_agree_known), 0) AS agreement
		FROM rollout.shadow_windows sw
		WHERE sw.rollout_id = compare.rollout_id
		GROUP BY sw.stage, GROUPING SETS ((sw.window_start), ())),
	keys AS (
		SELECT a.stage, a.k, a.scope, min(a.ws) AS ws, max(a.we) AS we FROM a GROUP BY 1, 2, 3
		UNION
		SELECT s.stage, s.k, CASE WHEN s.k = '-infinity' THEN 'stage' ELSE 'window' END, s.ws, s.we
		FROM s),
	k AS (SELECT stage, k, scope, min(ws) AS ws, max(we) AS we FROM keys GROUP BY 1, 2, 3)
	SELECT compare.rollout_id, k.stage, k.scope, k.ws, k.we,
		   coalesce(b.n, 0), coalesce(c.n, 0), coalesce(c.shadow_n, 0),
		   b.success_rate, c.success_rate, b.mean_quality, c.mean_quality,
		   b.error_rate, c.error_rate, b.safety_rate, c.safety_rate,
		   b.mean_cost, c.mean_cost,
		   rollout.ddsketch_quantile(b.cs, 0.5), rollout.ddsketch_quantile(c.cs, 0.5),
		   rollout.ddsketch_quantile(b.ls, 0.5), rollout.ddsketch_quantile(c.ls, 0.5),
		   rollout.ddsketch_quantile(b.ls, 0.95), rollout.ddsketch_quantile(c.ls, 0.95),
		   rollout.ddsketch_quantile(b.ls, 0.99), rollout.ddsketch_quantile(c.ls, 0.99),
		   coalesce(s.n, 0), s.similarity, s.agreement,
		   cmp.arm, base.arm
	FROM k CROSS JOIN cmp CROSS JOIN base
	LEFT JOIN a b ON b.stage = k.stage AND b.k = k.k AND b.arm = base.arm
	LEFT JOIN a c ON c.stage = k.stage AND c.k = k.k AND c.arm = cmp.arm
	LEFT JOIN s ON s.stage = k.stage AND s.k = k.k
	ORDER BY k.stage, k.scope DESC, k.ws, cmp.arm
$$;


CREATE VIEW rollout.comparison AS
	SELECT r.agent, c.*
	FROM rollout.rollouts r CROSS JOIN LATERAL rollout.compare(r.id) c;


REVOKE ALL ON FUNCTION rollout.compare(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.compare(bigint) TO rollout_reader;
GRANT SELECT ON rollout.comparison TO rollout_reader;
COMMENT ON VIEW rollout.comparison IS 'Candidate against baseline for every rollout, per window and per stage, from the window aggregates (rollout.compare()); an A/B test has a row per variant against the control.';
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
COMMENT ON COLUMN rollout.comparison.arm IS 'The compared arm (the candidate_ columns): candidate, or an A/B variant other than the control.';
COMMENT ON COLUMN rollout.comparison.baseline_arm IS 'The arm it is compared with (the baseline_ columns): stable, or the control variant of an A/B test.';
COMMENT ON FUNCTION rollout.compare(bigint) IS 'Candidate against baseline of one rollout, per window and per stage; an A/B test has a row per variant against the control.';


-- standalone capability flags (issue 13, 0.4.0): rollout.agents.flags,
-- set by rollout.set_flag() and rollout.remove_flag() (operators), drawn by
-- route() with or without a rollout.

CREATE FUNCTION rollout._flags_valid(flags jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_typeof(flags) = 'object'
	   AND (SELECT count(*) FROM jsonb_object_keys(flags)) <= 100
	   AND NOT EXISTS (SELECT 1 FROM jsonb_each(flags) f
					   WHERE f.key !~ '^[a-z_][a-z0-9_-]{0,62}$'
						  OR jsonb_typeof(f.value) <> 'number'
						  OR f.value::numeric < 0 OR f.value::numeric > 100
						  OR f.value::numeric % 0.01 <> 0)
$$;


ALTER TABLE rollout.agents
	ADD COLUMN flags jsonb NOT NULL DEFAULT '{}' CHECK (rollout._flags_valid(flags));

CREATE FUNCTION rollout.set_flag(agent text, flag text, percent numeric, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_flags jsonb;
BEGIN
	PERFORM rollout._require_agent(agent, true);
	PERFORM rollout._check_flag(flag);
	IF percent IS NULL THEN
		RAISE EXCEPTION 'argument "percent" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Remove a flag with rollout.remove_flag().';
	END IF;
	IF percent = 'NaN' OR percent < 0 OR percent > 100 OR percent % 0.01 <> 0 THEN
		RAISE EXCEPTION 'argument "percent" must be from 0 to 100 in steps of 0.01'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('It is %s.',
					CASE WHEN percent IN ('NaN', 'Infinity', '-Infinity') THEN percent::text
						 WHEN abs(percent) BETWEEN 1e-6 AND 1e9 THEN left(trim_scale(percent)::text, 40)
						 ELSE btrim(to_char(percent, '9.99EEEE')) END);
	END IF;
	SELECT a.flags INTO v_flags FROM rollout.agents a WHERE a.name = set_flag.agent;
	IF NOT v_flags ? flag AND (SELECT count(*) FROM jsonb_object_keys(v_flags)) >= 100 THEN
		RAISE EXCEPTION 'agent "%" has 100 capability flags', agent
			USING ERRCODE = 'program_limit_exceeded',
				  DETAIL = 'An agent has at most 100 standalone flags.',
				  HINT = 'Remove flags that are no longer used with rollout.remove_flag().';
	END IF;
	percent := trim_scale(percent);
	UPDATE rollout.agents a SET flags = a.flags || jsonb_build_object(flag, percent)
		WHERE a.name = set_flag.agent;
	PERFORM rollout._log_event(agent, NULL, 'set_flag', jsonb_build_object(flag, v_flags->flag),
							   jsonb_build_object(flag, percent), reason);
	-- The payload's percent is a rollout's share; the flag's is in the event.
	PERFORM rollout._notify_change(NULL, agent, 'set_flag', NULL, NULL, NULL, pg_catalog.now(),
		pg_catalog.format('flag %s at %s%%%s', flag, trim_scale(percent),
						  coalesce(': ' || reason, '')));
END
$$;

CREATE FUNCTION rollout.remove_flag(agent text, flag text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_flags jsonb;
BEGIN
	PERFORM rollout._require_agent(agent, true);
	PERFORM rollout._check_flag(flag);
	SELECT a.flags INTO v_flags FROM rollout.agents a WHERE a.name = remove_flag.agent;
	IF NOT v_flags ? flag THEN
		RAISE EXCEPTION 'agent "%" has no flag "%"', agent, flag
			USING ERRCODE = 'undefined_object',
				  DETAIL = pg_catalog.format('Its standalone flags are: %s.',
					coalesce((SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(v_flags) k), 'none'));
	END IF;
	UPDATE rollout.agents a SET flags = a.flags - flag WHERE a.name = remove_flag.agent;
	PERFORM rollout._log_event(agent, NULL, 'remove_flag', jsonb_build_object(flag, v_flags->flag),
							   NULL, reason);
	PERFORM rollout._notify_change(NULL, agent, 'remove_flag', NULL, NULL, NULL, pg_catalog.now(),
		pg_catalog.format('flag %s removed%s', flag, coalesce(': ' || reason, '')));
END
$$;

CREATE FUNCTION rollout._check_flag(flag text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF flag IS NULL THEN
		RAISE EXCEPTION 'argument "flag" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF flag !~ '^[a-z_][a-z0-9_-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid flag name "%"', left(flag, 64)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Flag names are 1 to 63 characters: lowercase letters, digits, "_" and "-", starting with a letter or "_".';
	END IF;
END
$$;

REVOKE ALL ON FUNCTION rollout.set_flag(text, text, numeric, text),
	rollout.remove_flag(text, text, text), rollout._check_flag(text) FROM PUBLIC;


REVOKE ALL ON FUNCTION rollout._flags_valid(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.set_flag(text, text, numeric, text),
	rollout.remove_flag(text, text, text) TO rollout_operator;
COMMENT ON COLUMN rollout.agents.flags IS 'Standalone capability flags: flag name -> percent of callers it is on for, with or without a rollout (rollout.set_flag).';
COMMENT ON FUNCTION rollout.set_flag(text,text,numeric,text) IS 'Sets a standalone capability flag of an agent: on for percent % of its callers, with or without a rollout; the change is an event.';
COMMENT ON FUNCTION rollout.remove_flag(text,text,text) IS 'Removes a standalone capability flag of an agent; the change is an event.';
COMMENT ON FUNCTION rollout._check_flag(text) IS 'Raises invalid_parameter_value unless the argument is a flag name as plans have them.';
COMMENT ON FUNCTION rollout._flags_valid(jsonb) IS 'Whether an agent''s standalone flags are well formed (the CHECK of rollout.agents.flags).';


-- lifecycle (issue 13, 0.4.0): the shadow phase's guards act while paused or
-- awaiting approval too (rollout._shadow_guards); the gates that roll back a
-- paused or approval-waiting rollout act as in canary: all evaluated,
-- rollback_now before rollback, rollback after its consecutive failing
-- windows (it acted at the first failure), one alert per episode; a
-- shadow-only rollout (strategy shadow) waits for approval at the end of its
-- phase instead of promoting a candidate that served no user, and approve()
-- sends it back to its phase; deploy_now clears the superseded rollout's
-- hold_reason and paused_from.

CREATE FUNCTION rollout._shadow_guards(r rollout.rollouts, p_at timestamptz,
									   OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_fail text[] := '{}';
	v_now boolean := false;
BEGIN
	-- Every such gate is evaluated and stored; a failing rollback_now wins
	-- over a failing rollback (no drain), whatever their order in the plan.
	FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x
			 WHERE x->>'action' IN ('rollback', 'rollback_now') LOOP
		v := rollout._arm_verdict(r, g, 'candidate', rollout.window_start(r.stage_started_at),
								  p_at + interval '1 microsecond', 'stable',
								  rollout.window_start(r.stage_started_at), p_at + interval '1 microsecond', 1, true);
		CONTINUE WHEN v.n_candidate = 0;
		PERFORM rollout._store_verdict(r, g, v, p_at, v.verdict = 'fail');
		IF v.verdict = 'fail' THEN
			v_fail := v_fail || pg_catalog.format('gate %s failed on shadow outputs%s: %s', g->>'name',
				CASE WHEN r.state IN ('paused', 'awaiting_approval') THEN ' while ' || r.state ELSE '' END,
				v.detail);
			v_now := v_now OR g->>'action' = 'rollback_now';
		END IF;
	END LOOP;
	IF cardinality(v_fail) > 0 THEN
		action := CASE WHEN v_now THEN 'rollback_now' ELSE 'rollback' END;
		detail := array_to_string(v_fail, '; ');
		PERFORM rollout._finish_rollback(r, v_now, action, detail, p_at);
	END IF;
END
$$;


CREATE OR REPLACE FUNCTION rollout._tick_shadow(r rollout.rollouts, p_at timestamptz,
									 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sh jsonb := r.plan->'shadow';
	v_n bigint;
	v_sim float8;
	v_need bigint := coalesce((sh->>'min_samples')::bigint, 0);
	v_min_sim float8 := coalesce((sh->>'min_similarity')::float8, 0);
	v_until timestamptz := rollout._shadow_until(r);
	v_low text;
	v_none text;
BEGIN
	-- Guards never sleep (rollout._shadow_guards).
	SELECT x.action, x.detail INTO action, detail FROM rollout._shadow_guards(r, p_at) x;
	IF action IS NOT NULL THEN
		RETURN;
	END IF;
	SELECT coalesce(sum(w.n_similarity), 0), sum(w.sum_similarity) / nullif(sum(w.n_similarity), 0)
		INTO v_n, v_sim
		FROM rollout.shadow_windows w WHERE w.rollout_id = r.id AND w.stage = 0;
	v_low := pg_catalog.format('shadow similarity %s below %s over %s pairs',
							   round(v_sim::numeric, 3), v_min_sim, v_n);
	v_none := pg_catalog.format('no shadow pairs recorded since %s: the service must call rollout.record_shadow_pair() for the requests route() mirrors (decision.shadow_version)',
								r.stage_started_at);
	-- No pair at all after the grace period, in a phase that needs pairs:
	-- hold, and alert once.
	IF v_n = 0 AND (v_need > 0 OR v_min_sim > 0) AND p_at >= r.stage_started_at
		+ make_interval(secs => rollout._plan_seconds(sh, 'pair_grace_seconds', 3600)) THEN
		IF rollout._hold(r, 'holding', 'hold', v_none, p_at) THEN
			PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
				jsonb_build_object('shadow_pairs', 0), v_none, p_at);
			PERFORM rollout._notify_change(r.id, r.agent, 'alert', 'holding', r.stage, r.percent, p_at, v_none);
			action := 'hold';
		ELSE
			action := 'wait';
		END IF;
		detail := v_none;
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		IF v_sim IS NULL OR v_sim < v_min_sim THEN
			PERFORM rollout._hold(r, 'holding', 'hold', v_low, p_at);
			action := 'wait';
			detail := v_low;
			RETURN;
		END IF;
		UPDATE rollout.rollouts SET state = 'shadow', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release',
			pg_catalog.format('shadow similarity at least the minimum: %s over %s pairs',
							  round(v_sim::numeric, 3), v_n), p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
		action := 'release';
	END IF;
	IF p_at < v_until THEN
		action := coalesce(action, 'wait');
		detail := pg_catalog.format('shadow phase until %s: %s pairs, mean similarity %s',
									v_until, v_n, coalesce(round(v_sim::numeric, 3)::text, 'none'));
		RETURN;
	END IF;
	IF v_n < v_need OR (v_n = 0 AND v_min_sim > 0) THEN
		action := coalesce(action, 'wait');
		detail := pg_catalog.format('shadow phase short of pairs: %s of %s', v_n, v_need);
		RETURN;
	END IF;
	IF v_sim IS NOT NULL AND v_sim < v_min_sim THEN
		IF rollout._hold(r, 'holding', 'hold', v_low, p_at) THEN
			action := 'hold';
		ELSE
			action := 'wait';
		END IF;
		detail := v_low;
		RETURN;
	END IF;
	detail := pg_catalog.format('shadow phase passed: %s pairs, mean similarity %s', v_n,
								coalesce(round(v_sim::numeric, 3)::text, 'n/a'));
	IF r.strategy = 'shadow' AND r.approved_stage IS DISTINCT FROM 0 THEN
		-- Strategy shadow: the candidate has served no user, so a person
		-- decides (a second one, as for any approval).
		detail := detail || '; strategy shadow: the candidate has served no user';
		action := CASE WHEN rollout._hold(r, 'awaiting_approval', 'hold_for_approval', detail, p_at)
					   THEN 'hold_for_approval' ELSE 'wait' END;
		RETURN;
	END IF;
	detail := rollout._advance(r, false, 'advance', detail, p_at);
	action := CASE WHEN detail = 'promoted' THEN 'promote' ELSE 'advance' END;
END
$$;

CREATE FUNCTION rollout._count_failing_window(p_streak jsonb, g jsonb, p_at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_name text := g->>'name';
	v_count integer := coalesce((p_streak->v_name->>'count')::integer, 0);
	v_last timestamptz := (p_streak->v_name->>'last')::timestamptz;
BEGIN
	IF v_last IS NULL OR p_at - v_last >= make_interval(secs => coalesce((g->>'window_seconds')::float8, 0)) THEN
		v_count := v_count + 1;
		v_last := p_at;
	END IF;
	RETURN p_streak || jsonb_build_object(v_name, jsonb_build_object('count', v_count, 'last', v_last));
END
$$;

CREATE OR REPLACE FUNCTION rollout._tick_protect(r rollout.rollouts, p_at timestamptz,
									  OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_action text;
	v_detail text;
	v_name text;
	v_acts boolean;
	v_count integer;
	v_streak jsonb := r.fail_streak;
	v_now text[] := '{}';
	v_rollback text[] := '{}';
	v_alerts text[] := '{}';
	v_store_g jsonb[] := '{}';
	v_store_v rollout.gate_verdict[] := '{}';
	v_store_a boolean[] := '{}';
BEGIN
	action := 'wait';
	detail := pg_catalog.format('%s: only the gates that roll back are evaluated', r.state);
	IF r.stage = 0 THEN
		-- The shadow phase: its guards, on the candidate's shadow outputs.
		UPDATE rollout.rollouts SET last_eval_at = p_at WHERE id = r.id;
		SELECT x.action, x.detail INTO v_action, v_detail FROM rollout._shadow_guards(r, p_at) x;
		action := coalesce(v_action, action);
		detail := coalesce(v_detail, detail);
		RETURN;
	END IF;
	IF r.percent <= 0 THEN
		RETURN;
	END IF;
	FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x
			 WHERE x->>'action' IN ('rollback', 'rollback_now') LOOP
		v_name := g->>'name';
		IF g->>'test' IN ('event_share', 'sequential') THEN
			v := rollout._evaluate_gate_av(r, g, p_at);
		ELSE
			v := rollout._evaluate_gate(r, g, p_at);
		END IF;
		v_acts := false;
		-- The alert episode, as in _tick_canary: once when the gate starts
		-- failing, again only after it has passed.
		IF v.verdict = 'pass' AND v_streak ? ('alert:' || v_name) THEN
			v_streak := v_streak - ('alert:' || v_name);
		END IF;
		IF v.verdict = 'fail' THEN
			IF coalesce((g->>'alert')::boolean, false) AND NOT v_streak ? ('alert:' || v_name) THEN
				v_alerts := v_alerts || v_name;
				v_streak := v_streak || jsonb_build_object('alert:' || v_name, p_at);
			END IF;
			IF g->>'action' = 'rollback_now' THEN
				v_acts := true;
				v_now := v_now || pg_catalog.format('gate %s failed while %s: %s', v_name, r.state, v.detail);
			ELSE
				v_streak := rollout._count_failing_window(v_streak, g, p_at);
				v_count := (v_streak->v_name->>'count')::integer;
				v_acts := v_count >= coalesce((g->>'consecutive')::integer, 1);
				IF v_acts THEN
					v_rollback := v_rollback || CASE WHEN v_count > 1
						THEN pg_catalog.format('gate %s failed in %s consecutive windows while %s: %s',
											   v_name, v_count, r.state, v.detail)
						ELSE pg_catalog.format('gate %s failed while %s: %s', v_name, r.state, v.detail) END;
				ELSE
					detail := pg_catalog.format('%s: gate %s failed (%s of %s windows)', r.state, v_name, v_count,
												g->>'consecutive');
				END IF;
			END IF;
		ELSIF v_streak ? v_name THEN
			v_streak := v_streak - v_name;
		END IF;
		v_store_g := v_store_g || g; v_store_v := v_store_v || v; v_store_a := v_store_a || v_acts;
	END LOOP;
	PERFORM rollout._store_verdicts(r, v_store_g, v_store_v, p_at, v_store_a);
	UPDATE rollout.rollouts SET last_eval_at = p_at, fail_streak = v_streak WHERE id = r.id;
	IF cardinality(v_alerts) > 0 THEN
		PERFORM rollout._log_event(r.agent, r.id, 'alert', NULL,
			jsonb_build_object('gates', to_jsonb(v_alerts)),
			'gates started failing: ' || array_to_string(v_alerts, ', '), p_at);
		PERFORM rollout._notify_change(r.id, r.agent, 'alert', r.state, r.stage, r.percent, p_at,
									   'gates failed: ' || array_to_string(v_alerts, ', '));
	END IF;
	-- rollback_now wins over rollback (no drain), whatever the plan's order.
	IF cardinality(v_now) > 0 THEN
		action := 'rollback_now';
		detail := array_to_string(v_now || v_rollback, '; ');
		PERFORM rollout._finish_rollback(r, true, action, detail, p_at);
	ELSIF cardinality(v_rollback) > 0 THEN
		action := 'rollback';
		detail := array_to_string(v_rollback, '; ');
		PERFORM rollout._finish_rollback(r, false, action, detail, p_at);
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION rollout.approve(agent text, reason text DEFAULT NULL,
								at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_role text := rollout._acting_role();
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	PERFORM rollout._require_state(r, 'awaiting_approval', 'awaiting approval');
	IF (session_user = r.started_by OR v_role = r.started_by)
	   AND NOT pg_has_role(v_role, 'rollout_admin', 'USAGE') THEN
		RAISE EXCEPTION 'role "%" started rollout % and cannot approve it', r.started_by, r.id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'An approval needs a second person.',
				  HINT = 'Ask another operator, or a member of rollout_admin, to approve.';
	END IF;
	-- Stage 0 waits for approval only at the end of a shadow-only rollout
	-- (strategy shadow): approved, the next tick promotes it.
	UPDATE rollout.rollouts SET state = CASE WHEN r.stage = 0 THEN 'shadow' ELSE 'canary' END,
		approved_stage = r.stage, hold_reason = NULL, last_eval_at = NULL
		WHERE id = r.id;
	PERFORM rollout._record_change(r, 'approve', reason, at);
END
$$;

CREATE OR REPLACE FUNCTION rollout.deploy_now(agent text, version integer, reason text,
								   at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_old integer;
BEGIN
	at := rollout._lifecycle_at(at);
	PERFORM rollout._require_agent(agent, true);
	PERFORM rollout._require_arg(version, 'version');
	IF rollout._is_blank(reason) THEN
		RAISE EXCEPTION 'argument "reason" must not be empty'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'deploy_now bypasses the canary; the audit log needs to say why.';
	END IF;
	PERFORM 1 FROM rollout.versions v WHERE v.agent = deploy_now.agent AND v.version = deploy_now.version;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', version, agent
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT * INTO r FROM rollout.rollouts x
		WHERE x.agent = deploy_now.agent AND rollout.is_active_state(x.state) FOR UPDATE;
	IF FOUND THEN
		UPDATE rollout.rollouts SET state = 'rolled_back', percent = 0, shadow_percent = 0,
			ended_at = at, drain_skipped = true, drain_until = at, hold_reason = NULL,
			paused_from = NULL
			WHERE id = r.id;
		PERFORM rollout._record_change(r, 'superseded', 'deploy_now: ' || reason, at);
	END IF;
	SELECT l.version INTO v_old FROM rollout.labels l
		WHERE l.agent = deploy_now.agent AND l.label = 'production';
	PERFORM rollout.set_label(agent, 'production', version, 'deploy_now: ' || reason);
	PERFORM rollout._log_event(agent, r.id, 'deploy_now',
		jsonb_build_object('production', v_old), jsonb_build_object('production', version), reason, at);
	PERFORM rollout._notify_change(r.id, agent, 'deploy_now', NULL, NULL, NULL, at, reason);
END
$$;

REVOKE ALL ON FUNCTION rollout._shadow_guards(rollout.rollouts, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION rollout._shadow_guards(rollout.rollouts,timestamp with time zone) IS 'The shadow phase''s gates that roll back, on the candidate''s shadow outputs, in every state of the phase.';

------------------------------------------------------------------------------
-- scale (issue 15, 0.4.0): a canary's always-valid gates are tallied in three
-- statements per rollout instead of several per gate (rollout._tally_gates:
-- rates and means of built-in metrics in one that reads the stage's windows
-- once, quantiles in one, custom-metric means gate by gate), and their tallies
-- are read in one statement (rollout.gate_tally_sums); the verdict is
-- rollout._verdict_av() of them, the logic _evaluate_gate_av() had, which now
-- calls it. _tick_canary() walks its gates without a query, does not read its
-- rollout row again, and writes a stage's verdicts only when they changed.
-- rollout.is_active_state() loses its SET clause so that queries inline it;
-- rollout._due_rollouts() takes a plan's evaluation interval out once per
-- rollout instead of decompressing the plan at each use; rollout._srm_reason()
-- writes its tally itself instead of calling _tally_gate().

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

COMMENT ON TYPE rollout.gate_tally_sums IS 'What an always-valid gate''s test reads from its tallies over the stages of a canary (internal to the tick).';

CREATE OR REPLACE FUNCTION rollout.is_active_state(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT state OPERATOR(pg_catalog.=) ANY (ARRAY['shadow', 'canary', 'holding', 'awaiting_approval',
	'paused', 'awaiting_decision']::pg_catalog.text[]) $$;

CREATE OR REPLACE FUNCTION rollout._gate_set_tallied(g jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT (g OPERATOR(pg_catalog.->>) 'test') OPERATOR(pg_catalog.=) ANY ('{event_share,sequential}'::pg_catalog.text[])
	   AND ((g OPERATOR(pg_catalog.->>) 'comparison') OPERATOR(pg_catalog.=) 'rate'
			AND (g OPERATOR(pg_catalog.->>) 'metric') OPERATOR(pg_catalog.=) ANY ('{success,error,safety}'::pg_catalog.text[])
			OR (g OPERATOR(pg_catalog.->>) 'comparison') OPERATOR(pg_catalog.=) 'mean'
			AND (g OPERATOR(pg_catalog.->>) 'metric') OPERATOR(pg_catalog.=)
				ANY ('{quality,latency_ms,cost,success,error,safety}'::pg_catalog.text[]))
$$;

REVOKE ALL ON FUNCTION rollout._gate_set_tallied(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION rollout._gate_set_tallied(jsonb) IS 'Whether _tally_gates() tallies a gate in its one statement for rates and means (internal).';

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
	-- Rates and means: the windows are read once (MATERIALIZED), not once
	-- per gate.
	WITH a AS MATERIALIZED (SELECT
			coalesce(sum(w.n) FILTER (WHERE w.arm = 'candidate'), 0) AS n_c,
			coalesce(sum(w.n) FILTER (WHERE w.arm = 'stable'), 0) AS n_b,
			coalesce(sum(w.n_success_known) FILTER (WHERE w.arm = 'candidate'), 0) AS nsk_c,
			coalesce(sum(w.n_success_known) FILTER (WHERE w.arm = 'stable'), 0) AS nsk_b,
			coalesce(sum(w.n_success_known - w.n_success) FILTER (WHERE w.arm = 'candidate'), 0) AS fail_c,
			coalesce(sum(w.n_success_known - w.n_success) FILTER (WHERE w.arm = 'stable'), 0) AS fail_b,
			coalesce(sum(w.n_error) FILTER (WHERE w.arm = 'candidate'), 0) AS err_c,
			coalesce(sum(w.n_error) FILTER (WHERE w.arm = 'stable'), 0) AS err_b,
			coalesce(sum(w.n_safety) FILTER (WHERE w.arm = 'candidate'), 0) AS saf_c,
			coalesce(sum(w.n_safety) FILTER (WHERE w.arm = 'stable'), 0) AS saf_b,
			coalesce(sum(w.n_quality) FILTER (WHERE w.arm = 'candidate'), 0) AS nq_c,
			coalesce(sum(w.n_quality) FILTER (WHERE w.arm = 'stable'), 0) AS nq_b,
			coalesce(sum(w.n_latency) FILTER (WHERE w.arm = 'candidate'), 0) AS nl_c,
			coalesce(sum(w.n_latency) FILTER (WHERE w.arm = 'stable'), 0) AS nl_b,
			coalesce(sum(w.n_cost) FILTER (WHERE w.arm = 'candidate'), 0) AS nco_c,
			coalesce(sum(w.n_cost) FILTER (WHERE w.arm = 'stable'), 0) AS nco_b,
			coalesce(sum(w.sum_quality) FILTER (WHERE w.arm = 'candidate'), 0) AS sq_c,
			coalesce(sum(w.sum_quality) FILTER (WHERE w.arm = 'stable'), 0) AS sq_b,
			coalesce(sum(w.sum_latency) FILTER (WHERE w.arm = 'candidate'), 0) AS sl_c,
			coalesce(sum(w.sum_latency) FILTER (WHERE w.arm = 'stable'), 0) AS sl_b,
			coalesce(sum(w.sum_cost) FILTER (WHERE w.arm = 'candidate'), 0) AS sco_c,
			coalesce(sum(w.sum_cost) FILTER (WHERE w.arm = 'stable'), 0) AS sco_b,
			coalesce(sum(w.sumsq_quality) FILTER (WHERE w.arm = 'candidate'), 0) AS qq_c,
			coalesce(sum(w.sumsq_quality) FILTER (WHERE w.arm = 'stable'), 0) AS qq_b,
			coalesce(sum(w.sumsq_latency) FILTER (WHERE w.arm = 'candidate'), 0) AS ql_c,
			coalesce(sum(w.sumsq_latency) FILTER (WHERE w.arm = 'stable'), 0) AS ql_b,
			coalesce(sum(w.sumsq_cost) FILTER (WHERE w.arm = 'candidate'), 0) AS qco_c,
			coalesce(sum(w.sumsq_cost) FILTER (WHERE w.arm = 'stable'), 0) AS qco_b,
			-- Counts summed as float8 row by row, as a mean gate sums them.
			coalesce(sum(w.n_success::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS fs_c,
			coalesce(sum(w.n_success::float8) FILTER (WHERE w.arm = 'stable'), 0) AS fs_b,
			coalesce(sum(w.n_error::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS fe_c,
			coalesce(sum(w.n_error::float8) FILTER (WHERE w.arm = 'stable'), 0) AS fe_b,
			coalesce(sum(w.n_safety::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS fsa_c,
			coalesce(sum(w.n_safety::float8) FILTER (WHERE w.arm = 'stable'), 0) AS fsa_b
		FROM rollout.outcome_windows w
		WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
		  AND w.window_start >= v_stage_from AND w.window_start < v_to)
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

REVOKE ALL ON FUNCTION rollout._tally_gates(rollout.rollouts, jsonb, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION rollout._tally_gates(rollout.rollouts,jsonb,timestamp with time zone) IS 'Adds the ended windows to the tallies of every always-valid gate of a rollout, in three statements (internal).';

CREATE OR REPLACE FUNCTION rollout._verdict_av(r rollout.rollouts, g jsonb, p_at timestamptz,
									t rollout.gate_tally_sums)
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

REVOKE ALL ON FUNCTION rollout._verdict_av(rollout.rollouts, jsonb, timestamptz, rollout.gate_tally_sums) FROM PUBLIC;
COMMENT ON FUNCTION rollout._verdict_av(rollout.rollouts,jsonb,timestamp with time zone,rollout.gate_tally_sums) IS 'The verdict of an always-valid gate from its tallies (internal).';

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
	SELECT array_agg(s.t ORDER BY o.ord),
		   array_agg(v_tallied AND (rollout._gate_set_tallied(o.x)
					  OR o.x->>'test' IN ('event_share', 'sequential')
						 AND (o.x->>'comparison' NOT IN ('rate', 'mean')
							  OR o.x->>'comparison' = 'mean' AND o.x->>'metric' LIKE 'metrics.%')) ORDER BY o.ord)
		INTO v_sums, v_fast
		FROM jsonb_array_elements(v_gates) WITH ORDINALITY AS o(x, ord)
		CROSS JOIN LATERAL (
			SELECT ROW(array_agg(y.x_candidate ORDER BY y.stage), array_agg(y.x_baseline ORDER BY y.stage),
					   array_agg(y.y_candidate ORDER BY y.stage), array_agg(y.y_baseline ORDER BY y.stage),
					   array_agg(y.n_candidate::float8 / (y.n_candidate + y.n_baseline) ORDER BY y.stage),
					   sum(y.n_candidate), sum(y.n_baseline), sum(y.x_candidate), sum(y.x_baseline),
					   sum(y.sum_candidate), sum(y.sum_baseline), sum(y.sumsq_candidate), sum(y.sumsq_baseline),
					   (array_agg(y.baseline_quantile ORDER BY y.stage DESC))[1],
					   (SELECT st.started_at FROM rollout.stages st WHERE st.rollout_id = r.id AND st.stage = 1)
					  )::rollout.gate_tally_sums AS t
			FROM rollout.gate_tallies y
			WHERE y.rollout_id = r.id AND y.gate = o.x->>'name' AND y.stage >= 1
			  AND y.n_candidate + y.n_baseline > 0
			  AND o.x->>'test' IN ('event_share', 'sequential')) s;

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


CREATE OR REPLACE FUNCTION rollout._due_rollouts(at timestamptz, p_limit bigint DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT x.id FROM rollout.rollouts x
	-- The plan is stored compressed: its interval is taken out once per
	-- rollout (OFFSET 0), not once per use; e #>> '{}' is what
	-- x.plan->>'evaluation_interval_seconds' was, and the CASE what
	-- _plan_seconds(x.plan, 'evaluation_interval_seconds', 300) was.
	CROSS JOIN LATERAL (SELECT x.plan->'evaluation_interval_seconds' AS e OFFSET 0) p
	WHERE rollout.is_active_state(x.state)
	  AND (x.last_eval_at IS NULL
		   OR jsonb_typeof(p.e) NOT IN ('number', 'null')
		   OR NOT ((p.e #>> '{}')::numeric BETWEEN 0 AND 1e9)
		   OR at >= x.last_eval_at
				+ make_interval(secs => CASE WHEN jsonb_typeof(p.e) = 'number'
												  AND (p.e #>> '{}')::numeric BETWEEN 0 AND 1e9
											 THEN (p.e #>> '{}')::float8 ELSE 300 END))
	ORDER BY x.last_eval_at NULLS FIRST, x.id
	LIMIT p_limit
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
	-- Its tally row: what _tally_gate(r, '{"name": ".srm"}', p_at) writes
	-- (the outcomes of the stage's ended windows, per arm, as both n and
	-- x), here without a call.
	INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
		n_baseline, x_candidate, x_baseline, y_candidate, y_baseline)
	SELECT r.id, '.srm', r.stage, greatest(rollout.window_start(p_at), rollout.window_start(r.stage_started_at)),
		   a.nc, a.nb, a.nc, a.nb, a.nc, a.nb
	FROM (SELECT coalesce(sum(w.n) FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
				 coalesce(sum(w.n) FILTER (WHERE w.arm = 'stable'), 0) AS nb
		  FROM rollout.outcome_windows w
		  WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			AND w.window_start >= rollout.window_start(r.stage_started_at)
			AND w.window_start < rollout.window_start(p_at)) a
	ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = rollout.window_start(p_at),
		n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
		x_candidate = excluded.x_candidate, x_baseline = excluded.x_baseline,
		y_candidate = excluded.y_candidate, y_baseline = excluded.y_baseline
		WHERE x.counted_to < rollout.window_start(p_at);
	SELECT array_agg(x.n_candidate ORDER BY x.stage), array_agg(x.n_baseline ORDER BY x.stage),
		   array_agg(s.percent::float8 / 100 ORDER BY x.stage)
		INTO v_c, v_b, v_share
		FROM rollout.gate_tallies x
		JOIN rollout.stages s ON s.rollout_id = r.id AND s.stage = x.stage
		WHERE x.rollout_id = r.id AND x.gate = '.srm' AND x.stage >= 1
		  AND s.percent > 0 AND s.percent < 100;
	-- Below 1 000 outcomes the split says little about the assignment:
	-- outcomes of one unit come together, and fixtures record arms evenly.
	IF v_c IS NULL OR (SELECT sum(u) FROM unnest(v_c || v_b) u) < 1000 THEN
		RETURN NULL;
	END IF;
	SELECT * INTO t FROM rollout.event_share_test(v_c, v_b, v_share, 1, 'two-sided');
	IF t.p_value < v_alpha THEN
		-- The reason stays the same while the mismatch lasts, so the hold
		-- is recorded once.
		RETURN pg_catalog.format('sample ratio mismatch: the candidate''s share of outcomes is not the %s%% routed to it (always-valid test at %s)',
								 r.percent, v_alpha);
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION rollout._count_failing_window(jsonb, jsonb, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION rollout._count_failing_window(jsonb,jsonb,timestamp with time zone) IS 'Counts a failing evaluation of a rollback gate in fail_streak, once per gate window.';
