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
	v_last timestamptz;
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
				-- A failing window counts once, as in _tick_canary.
				v_count := coalesce((v_streak->v_name->>'count')::integer, 0);
				v_last := (v_streak->v_name->>'last')::timestamptz;
				IF v_last IS NULL OR p_at - v_last >= make_interval(secs => coalesce((g->>'window_seconds')::float8, 0)) THEN
					v_count := v_count + 1;
					v_last := p_at;
				END IF;
				v_streak := v_streak || jsonb_build_object(v_name, jsonb_build_object('count', v_count, 'last', v_last));
				v_acts := v_count >= coalesce((g->>'consecutive')::integer, 1);
				IF v_acts THEN
					v_rollback := v_rollback || pg_catalog.format('gate %s failed in %s consecutive windows while %s: %s',
																  v_name, v_count, r.state, v.detail);
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
