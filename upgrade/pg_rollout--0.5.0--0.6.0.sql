-- pg_rollout 0.5.0 -> 0.6.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.6.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.5.0 + this script equals a
-- fresh 0.6.0 install (test/t/040_upgrade.pl checks it from 0.1.0, 0.2.0,
-- 0.3.0, 0.4.0 and 0.5.0 by comparing pg_dump --schema-only). Sections are
-- named after the change they carry; a function changed by more than one
-- section is created once, in the last section that changes it, as the
-- release has it (upgrade/objects.py prints the current definitions).

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.6.0'" to load this file. \quit


-- The agent's whole story (0.6.0): rollout.timeline(agent) without a
-- rollout id also shows the agent's own events (create_agent,
-- set_service_roles, create_version, set_label, set_flag, remove_flag,
-- deploy_now without a rollout) with rollout NULL; every event action has
-- a sentence (extend, switch, switch_back and the agent's events read
-- "<action> by <actor>" before), and an advance whose share a boost had
-- already raised no longer reads "5% -> 5%". An A/B test's gate rows are
-- one history per variant (b's and c's verdicts of a gate alternated as
-- changes before), name the variant and the control, and the function
-- returns a new last column, variant, so it is dropped and created again
-- with its privileges; an A/B test's start names its variants, its share
-- is NULL while it runs, and its stage ends with each arm's samples.

CREATE OR REPLACE FUNCTION rollout._timeline_event_text(p_action text, p_actor text, p_old jsonb,
											 p_new jsonb, p_reason text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(CASE p_action
		WHEN 'start' THEN pg_catalog.format('%s started %s %s rollout of version %s against version %s (risk %s) in state %s at %s%%',
			p_actor, CASE WHEN p_new->>'strategy' ~ '^[aeiou]' THEN 'an' ELSE 'a' END, p_new->>'strategy', p_new->>'candidate', p_new->>'baseline',
			coalesce(p_new->>'risk', 'custom'), p_new->>'state', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'advance' THEN CASE
			-- A boost raised the share to this step's already: say so, not "5% -> 5%".
			WHEN (p_old->>'percent')::numeric = (p_new->>'percent')::numeric THEN
				pg_catalog.format('advanced from stage %s to stage %s at candidate share %s%%, reached early by a boost',
					p_old->>'stage', p_new->>'stage', pg_catalog.trim_scale((p_new->>'percent')::numeric))
			ELSE pg_catalog.format('advanced from stage %s to stage %s: candidate share %s%% -> %s%%',
				p_old->>'stage', p_new->>'stage', pg_catalog.trim_scale((p_old->>'percent')::numeric),
				pg_catalog.trim_scale((p_new->>'percent')::numeric)) END
		WHEN 'promote_manual' THEN CASE
			WHEN (p_old->>'percent')::numeric = (p_new->>'percent')::numeric THEN
				pg_catalog.format('%s advanced it by hand at candidate share %s%%, reached early by a boost',
					p_actor, pg_catalog.trim_scale((p_new->>'percent')::numeric))
			ELSE pg_catalog.format('%s advanced it by hand: candidate share %s%% -> %s%%',
				p_actor, pg_catalog.trim_scale((p_old->>'percent')::numeric),
				pg_catalog.trim_scale((p_new->>'percent')::numeric)) END
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
		WHEN 'alert' THEN coalesce('alert: gate(s) ' || (SELECT pg_catalog.string_agg(g, ', ')
				FROM pg_catalog.jsonb_array_elements_text(
					CASE WHEN pg_catalog.jsonb_typeof(p_new->'gates') = 'array' THEN p_new->'gates' END) g) || ' failed',
			'alert')
		WHEN 'superseded' THEN pg_catalog.format('ended by an emergency deployment (%s)', p_new->>'state')
		WHEN 'deploy_now' THEN pg_catalog.format('%s deployed version %s at once, bypassing the canary%s', p_actor,
			coalesce(p_new->>'production', '?'),
			coalesce(' (production was version ' || (p_old->>'production') || ')', ''))
		WHEN 'extend' THEN pg_catalog.format('bake extended at %s%% to collect more samples',
			pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'switch' THEN pg_catalog.format('traffic switched to the candidate (green): share %s%% -> %s%%',
			pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'switch_back' THEN pg_catalog.format('traffic switched back to the baseline (blue) from %s%%',
			pg_catalog.trim_scale((p_old->>'percent')::numeric))
		WHEN 'experiment_over' THEN 'the experiment is over; it waits for a person to decide'
		-- Events of the agent itself (no rollout): timeline(agent) shows them.
		WHEN 'quality_scales_insert' THEN pg_catalog.format('%s set the quality scale to %s..%s', p_actor,
			p_new->>'min', p_new->>'max')
		WHEN 'quality_scales_update' THEN pg_catalog.format('%s changed the quality scale from %s..%s to %s..%s', p_actor,
			p_old->>'min', p_old->>'max', p_new->>'min', p_new->>'max')
		WHEN 'quality_scales_delete' THEN pg_catalog.format('%s removed the quality scale (was %s..%s)', p_actor,
			p_old->>'min', p_old->>'max')
		WHEN 'create_agent' THEN pg_catalog.format('%s created the agent', p_actor)
		WHEN 'set_service_roles' THEN pg_catalog.format('%s allowed %s to route and record for it', p_actor,
			coalesce((SELECT pg_catalog.string_agg(x, ', ') FROM pg_catalog.jsonb_array_elements_text(
				CASE WHEN pg_catalog.jsonb_typeof(p_new->'service_roles') = 'array' THEN p_new->'service_roles' END) x),
				'every member of rollout_service'))
		WHEN 'create_version' THEN pg_catalog.format('%s registered version %s (model %s)', p_actor,
			p_new->>'version', coalesce(p_new->>'model', '-'))
		WHEN 'set_label' THEN pg_catalog.format('%s pointed label %s at version %s%s', p_actor,
			coalesce(p_new->>'label', '?'), coalesce(p_new->>'version', '?'),
			coalesce(' (was version ' || (p_old->>'version') || ')', ''))
		WHEN 'set_flag' THEN (SELECT pg_catalog.format('%s set flag %s to %s%% (%s)', p_actor, f.key,
				pg_catalog.trim_scale((f.value #>> '{}')::numeric),
				coalesce('was ' || pg_catalog.trim_scale((p_old->>f.key)::numeric) || '%', 'new'))
			FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(p_new) = 'object' THEN p_new END) f LIMIT 1)
		WHEN 'remove_flag' THEN (SELECT pg_catalog.format('%s removed flag %s (was %s%%)', p_actor, f.key,
				pg_catalog.trim_scale((f.value #>> '{}')::numeric))
			FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(p_old) = 'object' THEN p_old END) f LIMIT 1)
		WHEN 'baseline_refresh' THEN pg_catalog.format('stable period over: version %s is the new baseline',
			p_new->>'version')
	END, pg_catalog.format('%s by %s', p_action, p_actor)) || coalesce(' -- ' || p_reason, '')
$$;

DROP FUNCTION rollout.timeline(text, bigint);
CREATE FUNCTION rollout.timeline(agent text, rollout_id bigint DEFAULT NULL)
RETURNS TABLE(at timestamptz, rollout bigint, kind text, action text, state text,
			  stage integer, share numeric, gate text, verdict text, actor text,
			  description text, event_id bigint, variant text)
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
		-- An A/B test has no candidate share while it runs (the variants'
		-- weights split the traffic): its share is NULL until it ends.
		SELECT e.at, e.rollout_id, 'event'::text AS kind, e.action, e.new->>'state' AS state,
			   (e.new->>'stage')::integer AS stage,
			   CASE WHEN ro.strategy = 'ab_test' AND rollout.is_active_state(e.new->>'state') THEN NULL
					ELSE pg_catalog.trim_scale((e.new->>'percent')::numeric) END AS share,
			   NULL::text AS gate, NULL::text AS verdict, e.actor,
			   CASE WHEN ro.strategy = 'ab_test' AND e.action = 'start' THEN
						pg_catalog.format('%s started an A/B test of %s (control %s, risk %s)', e.actor,
							(SELECT pg_catalog.string_agg(pg_catalog.format('%s = version %s', x->>'name', x->>'version'), ', ')
							 FROM pg_catalog.jsonb_array_elements(ro.variants) x),
							coalesce(ro.plan->'experiment'->>'control', ro.variants->0->>'name'),
							coalesce(e.new->>'risk', 'custom')) || coalesce(' -- ' || e.reason, '')
					WHEN ro.strategy = 'ab_test' AND e.action = 'promote' THEN
						'promoted: the chosen variant now serves all traffic and is labelled production'
						|| coalesce(' -- ' || e.reason, '')
					ELSE rollout._timeline_event_text(e.action, e.actor, e.old, e.new, e.reason) END AS description,
			   e.id AS event_id, NULL::text AS variant, 3 AS seq, e.id AS tiebreak
		FROM rollout.events e JOIN ro ON ro.id = e.rollout_id
		UNION ALL
		-- The agent's own events (versions, labels, flags, service roles,
		-- deploy_now without a rollout) in the agent's whole story; their
		-- rollout, state, stage and share are NULL.
		SELECT e.at, NULL::bigint, 'event', e.action, NULL, NULL, NULL, NULL, NULL, e.actor,
			   rollout._timeline_event_text(e.action, e.actor, e.old, e.new, e.reason),
			   e.id, NULL, 3, e.id
		FROM rollout.events e
		WHERE timeline.rollout_id IS NULL AND e.agent = timeline.agent AND e.rollout_id IS NULL
		UNION ALL
		-- Gate verdicts, only when they change (the first verdict counts as a change).
		SELECT g.at, g.rollout_id, 'gate', 'verdict', NULL, g.stage, NULL, g.gate, g.verdict, NULL,
			   pg_catalog.format('gate %s%s: %s%s%s%s%s',
				   g.gate, coalesce(' for variant ' || g.variant, ''),
				   CASE WHEN g.prev IS NULL THEN g.verdict
						ELSE pg_catalog.format('%s (was %s)', g.verdict, g.prev) END,
				   CASE WHEN g.value_candidate IS NOT NULL OR g.value_baseline IS NOT NULL THEN
					   pg_catalog.format(', %s %s %s %s vs %s %s', g.comparison, g.metric,
						   coalesce(g.variant, 'candidate'),
						   coalesce(round(g.value_candidate::numeric, 4)::text, '-'),
						   CASE WHEN g.variant IS NULL THEN 'baseline' ELSE coalesce(g.threshold->>'control', 'control') END,
						   coalesce(round(g.value_baseline::numeric, 4)::text, '-')) ELSE '' END,
				   pg_catalog.format(', n %s/%s', coalesce(g.n_candidate, 0), coalesce(g.n_baseline, 0)),
				   CASE WHEN g.p_value IS NOT NULL THEN
					   pg_catalog.format(', p %s', CASE WHEN g.p_value >= 0.001 THEN round(g.p_value::numeric, 4)::text
							ELSE pg_catalog.btrim(pg_catalog.to_char(g.p_value::numeric, '9.99EEEE')) END)
					   -- An A/B verdict's p is the fail test's or the pass test's:
					   -- its detail (rollout._arm_verdict) names which.
					   || CASE WHEN g.variant IS NOT NULL THEN coalesce(' (' || pg_catalog.substring(g.detail,
							', n [0-9]+/[0-9]+, ([^:]+): p ') || ')', '') ELSE '' END
				   ELSE '' END,
				   CASE WHEN g.acted THEN pg_catalog.format(' -> %s', g.action) ELSE '' END),
			   NULL, g.variant, 1, g.id
		FROM (SELECT gr.*, pg_catalog.lag(gr.verdict) OVER (PARTITION BY gr.rollout_id, gr.gate, gr.variant
														   ORDER BY gr.at, gr.id) AS prev
			  FROM rollout.gate_results gr JOIN ro ON ro.id = gr.rollout_id) g
		WHERE g.prev IS DISTINCT FROM g.verdict
		UNION ALL
		SELECT s.started_at, s.rollout_id, 'stage', 'stage_start', NULL, s.stage,
			   CASE WHEN ro.strategy <> 'ab_test' THEN pg_catalog.trim_scale(s.percent) END, NULL, NULL, NULL,
			   CASE WHEN s.stage = 0 THEN 'shadow phase began: the candidate runs beside production, its answers discarded'
					WHEN ro.strategy = 'ab_test' THEN 'the experiment began: the variants split the traffic by weight'
					ELSE pg_catalog.format('stage %s began: candidate share %s%%', s.stage, pg_catalog.trim_scale(s.percent)) END,
			   NULL, NULL, 4, s.stage::bigint
		FROM rollout.stages s JOIN ro ON ro.id = s.rollout_id
		UNION ALL
		SELECT s.ended_at, s.rollout_id, 'stage', 'stage_end', NULL, s.stage, NULL, NULL, NULL, NULL,
			   pg_catalog.format('stage %s ended (%s) after %s: %s',
				   s.stage, coalesce(s.outcome, 'ended'),
				   rollout._timeline_duration(s.ended_at - s.started_at),
				   coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('%s %s', coalesce(m.value->>'n', '0'), m.key), ', '
															ORDER BY m.key)
							 || ' samples'
							 FROM pg_catalog.jsonb_each(s.metrics) m
							 WHERE ro.strategy = 'ab_test' AND pg_catalog.jsonb_typeof(s.metrics) = 'object'),
							pg_catalog.format('%s candidate and %s baseline samples',
								coalesce(s.metrics->'candidate'->>'n', '0'), coalesce(s.metrics->'stable'->>'n', '0')))),
			   NULL, NULL, 2, s.stage::bigint
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
		   o.gate, o.verdict, o.actor, o.description, o.event_id, o.variant
	FROM ordered o
	ORDER BY o.pos;
END
$$;

REVOKE ALL ON FUNCTION rollout.timeline(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.timeline(text, bigint) TO rollout_reader, rollout_operator, rollout_admin;

COMMENT ON FUNCTION rollout.timeline(text, bigint) IS
	'The story of a rollout (or of the agent, every rollout and its own events, when rollout_id is NULL): one ordered row per event, gate verdict change and stage boundary, with the state and candidate share after it and a sentence. For rollout_reader.';


-- A/B, blue-green and shadow-guard verdicts name their hypothesis (0.6.0):
-- the detail of rollout._arm_verdict() says which test its p belongs to
-- ("worse than a by more than 0.02", "within 0.05 of a or better", "no
-- evidence of worse than ...", "not yet shown within ..."), where it read
-- "p 0.0000" for a pass and a fail alike. Verdicts and p-values unchanged.

CREATE OR REPLACE FUNCTION rollout._arm_verdict(r rollout.rollouts, g jsonb, p_arm text, p_from timestamptz,
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


-- Label moves at the lifecycle's time (0.6.0): a promotion, the undo of a
-- promotion and deploy_now move the production label with the new internal
-- rollout._set_label(), stamped with the lifecycle's own time, so that
-- labels.updated_at, label_history.at and the set_label event agree with
-- the events of the rollout (they carried now() before, which differs from
-- "at" whenever a caller passes one: a simulated clock, a backfill).
-- rollout.set_label() keeps its arguments and privileges and calls it with
-- now().

CREATE FUNCTION rollout._set_label(agent text, label text, version integer, reason text, at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old integer;
BEGIN
	PERFORM rollout._check_name(label, 'label');
	IF label ~ '^[0-9]+$' THEN
		RAISE EXCEPTION 'argument "label" must not be a number'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Numbers refer to versions; a label needs at least one letter.';
	END IF;
	IF version IS NULL THEN
		RAISE EXCEPTION 'argument "version" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM rollout._require_agent(agent, true);
	PERFORM 1 FROM rollout.versions v WHERE v.agent = _set_label.agent AND v.version = _set_label.version;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', version, agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "version" must name a version created with rollout.create_version().';
	END IF;

	SELECT l.version INTO v_old FROM rollout.labels l
		WHERE l.agent = _set_label.agent AND l.label = _set_label.label;
	IF v_old IS NOT DISTINCT FROM version THEN
		RETURN;
	END IF;
	-- During a rollout, production is its baseline: moving it would change
	-- what the stable arm serves under the gates' feet. (The lifecycle
	-- moves it itself once the rollout has ended: promotion, undo.)
	IF label = 'production' AND EXISTS (SELECT 1 FROM rollout.rollouts x
										WHERE x.agent = _set_label.agent
										  AND rollout.is_active_state(x.state)) THEN
		RAISE EXCEPTION 'agent "%" has an active rollout; its production label cannot move', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('Production is version %s, the baseline of the active rollout.', v_old),
				  HINT = 'Finish the rollout first (rollout.promote() or rollout.rollback()), or use rollout.deploy_now(), which ends it and moves production in one audited step.';
	END IF;
	INSERT INTO rollout.labels AS l (agent, label, version, updated_at)
		VALUES (agent, label, version, _set_label.at)
		ON CONFLICT ON CONSTRAINT labels_pkey DO UPDATE
			SET version = EXCLUDED.version, updated_at = _set_label.at, updated_by = session_user;
	INSERT INTO rollout.label_history (agent, label, old_version, new_version, reason, at)
		VALUES (agent, label, v_old, version, reason, _set_label.at);
	PERFORM rollout._log_event(agent, NULL, 'set_label',
							   CASE WHEN v_old IS NULL THEN NULL
									ELSE jsonb_build_object('label', label, 'version', v_old) END,
							   jsonb_build_object('label', label, 'version', version), reason, _set_label.at);
END
$$;
REVOKE ALL ON FUNCTION rollout._set_label(text, text, integer, text, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rollout.set_label(agent text, label text, version integer, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout._set_label(agent, label, version, reason, pg_catalog.now());
END
$$;

CREATE OR REPLACE FUNCTION rollout._finish_promotion(r rollout.rollouts, p_reason text, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE rollout.rollouts SET state = 'promoted', percent = 100, ended_at = p_at,
		promoted_at = p_at, hold_reason = NULL
		WHERE id = r.id;
	PERFORM rollout._set_label(r.agent, 'production', r.candidate,
							   coalesce(p_reason, pg_catalog.format('rollout %s promoted', r.id)), p_at);
	PERFORM rollout._record_change(r, 'promote', p_reason, p_at);
END
$$;

CREATE OR REPLACE FUNCTION rollout._finish_rollback(r rollout.rollouts, p_safety boolean, p_action text,
										 p_reason text, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE rollout.rollouts SET state = 'rolled_back', percent = 0, shadow_percent = 0,
		ended_at = CASE WHEN r.state = 'promoted' THEN r.ended_at ELSE p_at END,
		watch_ended_at = CASE WHEN r.state = 'promoted' THEN p_at END,
		paused_from = NULL, hold_reason = NULL,
		drain_skipped = p_safety,
		drain_until = CASE WHEN p_safety OR NOT r.pinning THEN p_at ELSE p_at + r.drain END
		WHERE id = r.id;
	IF r.state = 'promoted' THEN
		PERFORM rollout._set_label(r.agent, 'production', r.baseline,
								   coalesce(p_reason, pg_catalog.format('rollout %s rolled back', r.id)), p_at);
	END IF;
	PERFORM rollout._record_change(r, p_action, p_reason, p_at);
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
	PERFORM rollout._set_label(agent, 'production', version, 'deploy_now: ' || reason, at);
	PERFORM rollout._log_event(agent, r.id, 'deploy_now',
		jsonb_build_object('production', v_old), jsonb_build_object('production', version), reason, at);
	PERFORM rollout._notify_change(r.id, agent, 'deploy_now', NULL, NULL, NULL, at, reason);
END
$$;
