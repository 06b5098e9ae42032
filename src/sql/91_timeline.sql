-- 91: rollout.timeline(): one rollout's story for analysts, one ordered row
-- per thing that happened: every event (start, advance, hold, release,
-- pause, approval, promotion, rollback, alerts), every change of a gate's
-- verdict, and every stage boundary, each with the state and candidate
-- share after it and a sentence a person reads. Reference: docs/lifecycle.md.
-- It follows 90_roles_backup.sql, which revokes every privilege and grants
-- its own list, so that the grants at the end of this piece stand.

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

-- A one-line description of an event of a rollout or of its agent; an
-- action without a sentence of its own reads "<action> by <actor>".
CREATE FUNCTION rollout._timeline_event_text(p_action text, p_actor text, p_old jsonb,
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

-- The story of one rollout of an agent, or of the agent (every rollout and
-- the agent's own events) when rollout_id is NULL, in the order things
-- happened (column rollout names the rollout of each row). kind is event,
-- gate (a gate's verdict changed, or its first verdict) or stage (a stage
-- began or ended); state, stage and share are those after the row. An A/B
-- test's gate rows name their variant: each variant's verdicts of a gate
-- are a history of their own.
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

REVOKE ALL ON FUNCTION rollout._timeline_event_text(text, text, jsonb, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._timeline_duration(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.timeline(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.timeline(text, bigint) TO rollout_reader, rollout_operator, rollout_admin;

COMMENT ON FUNCTION rollout.timeline(text, bigint) IS
	'The story of a rollout (or of the agent, every rollout and its own events, when rollout_id is NULL): one ordered row per event, gate verdict change and stage boundary, with the state and candidate share after it and a sentence. For rollout_reader.';
