-- 60: the rollout lifecycle: start, pause, resume, approve, promote,
-- rollback, deploy_now, retry; the stage and gate history analysts read.
-- Every state change is one transaction with the rollout row locked, an
-- events row, and NOTIFY rollout with a JSON payload (src/notify.c).

ALTER TABLE rollout.rollouts
	ADD COLUMN paused_from		text,
	ADD COLUMN approved_stage	integer,
	ADD COLUMN hold_reason		text,
	ADD COLUMN fail_streak		jsonb NOT NULL DEFAULT '{}',
	ADD COLUMN last_eval_at		timestamptz,
	ADD COLUMN boosted			boolean NOT NULL DEFAULT false,
	ADD COLUMN extensions		integer NOT NULL DEFAULT 0,
	ADD COLUMN retry_of			bigint REFERENCES rollout.rollouts (id),
	ADD COLUMN promoted_at		timestamptz,
	ADD COLUMN baseline_refreshed_at timestamptz;

-- One row per stage a rollout went through (0 = shadow phase).
CREATE TABLE rollout.stages (
	rollout_id	bigint NOT NULL REFERENCES rollout.rollouts (id),
	stage		integer NOT NULL,
	percent		numeric(5, 2) NOT NULL,
	started_at	timestamptz NOT NULL,
	ended_at	timestamptz,
	-- How the stage ended: advanced, promoted, rolled_back, superseded.
	outcome		text,
	-- Per-arm metrics over the whole stage, filled when it ends.
	metrics		jsonb,
	-- The last verdict of each gate in this stage.
	verdicts	jsonb,
	PRIMARY KEY (rollout_id, stage)
);

-- Every gate evaluation: the verdict, the statistics behind it, the thresholds used.
-- No foreign key to rollouts (since 0.5.0): only tick() writes here, with
-- the rollout's row locked, and neither table loses rows (this one is
-- append-only); the per-row check cost a tenth of a tick (issue 15).
CREATE TABLE rollout.gate_results (
	id			bigserial PRIMARY KEY,
	rollout_id	bigint NOT NULL,
	stage		integer NOT NULL,
	at			timestamptz NOT NULL,
	gate		text NOT NULL,
	metric		text NOT NULL,
	comparison	text,
	test		text,
	verdict		text NOT NULL CHECK (verdict IN ('pass', 'fail', 'inconclusive', 'error')),
	statistic	float8,
	p_value		float8,
	estimate	float8,
	ci_low		float8,
	ci_high		float8,
	n_candidate	bigint,
	n_baseline	bigint,
	value_candidate float8,
	value_baseline	float8,
	threshold	jsonb,
	window_from	timestamptz,
	window_to	timestamptz,
	action		text,
	acted		boolean NOT NULL DEFAULT false,
	detail		text
);
CREATE INDEX gate_results_rollout_idx ON rollout.gate_results (rollout_id, at);
CREATE TRIGGER gate_results_append_only BEFORE UPDATE OR DELETE ON rollout.gate_results
	FOR EACH ROW EXECUTE FUNCTION rollout._reject_change();

CREATE FUNCTION rollout._notify_change(rollout_id bigint, agent text, action text, state text,
									   stage integer, percent numeric, at timestamptz, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'rollout_notify_change'
LANGUAGE C VOLATILE;

-- Records a state change of a locked rollout row: stage rows, event, NOTIFY.
-- The caller has already updated the row; p_old is its state before.
CREATE FUNCTION rollout._record_change(p_old rollout.rollouts, p_action text,
									   p_reason text, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	SELECT * INTO r FROM rollout.rollouts WHERE id = p_old.id;
	IF p_old.stage IS DISTINCT FROM r.stage OR NOT rollout.is_active_state(r.state) THEN
		UPDATE rollout.stages SET ended_at = p_at,
				outcome = CASE WHEN r.state = 'promoted' THEN 'promoted'
							   WHEN r.state = 'rolled_back' THEN 'rolled_back'
							   ELSE 'advanced' END,
				metrics = rollout._stage_metrics(r.id, started_at, p_at)
			WHERE rollout_id = r.id AND stage = p_old.stage AND ended_at IS NULL;
	END IF;
	IF p_old.stage IS DISTINCT FROM r.stage AND rollout.is_active_state(r.state) THEN
		INSERT INTO rollout.stages (rollout_id, stage, percent, started_at)
			VALUES (r.id, r.stage, r.percent, p_at)
			ON CONFLICT ON CONSTRAINT stages_pkey DO UPDATE
				SET percent = EXCLUDED.percent, started_at = EXCLUDED.started_at,
					ended_at = NULL, outcome = NULL;
	END IF;
	PERFORM rollout._log_event(r.agent, r.id, p_action,
		jsonb_build_object('state', p_old.state, 'stage', p_old.stage, 'percent', p_old.percent),
		jsonb_build_object('state', r.state, 'stage', r.stage, 'percent', r.percent),
		p_reason, p_at);
	PERFORM rollout._notify_change(r.id, r.agent, p_action, r.state, r.stage, r.percent, p_at, p_reason);
END
$$;

-- Per-arm metrics of a rollout over [p_from, p_to), for the stage history.
-- Returns NULL until outcomes are recorded.
CREATE FUNCTION rollout._stage_metrics(p_rollout_id bigint, p_from timestamptz, p_to timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT jsonb_object_agg(s.arm, to_jsonb(s) - 'arm')
			  FROM rollout.arm_summary(p_rollout_id, p_from, p_to) s);
END
$$;

-- The active rollout of an agent, locked; raises when there is none. The
-- agent row is locked first, as by every function that moves a label or a
-- rollout (start, rollback, deploy_now, set_label, tick): one lock order,
-- and each one's checks read what the previous holder committed.
CREATE FUNCTION rollout._active_rollout(p_agent text) RETURNS rollout.rollouts
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	PERFORM rollout._require_agent(p_agent, true);
	SELECT * INTO r FROM rollout.rollouts
		WHERE agent = p_agent AND rollout.is_active_state(state)
		FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" has no active rollout', p_agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Start one with rollout.start().';
	END IF;
	RETURN r;
END
$$;

-- Raises a clean error unless a locked rollout is in the given state.
CREATE FUNCTION rollout._require_state(r rollout.rollouts, p_state text, p_what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF r.state <> p_state THEN
		RAISE EXCEPTION 'rollout % of agent "%" is not %', r.id, r.agent, p_what
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('Its state is %s.', r.state);
	END IF;
END
$$;

-- Raises a clean error when a required argument is NULL.
CREATE FUNCTION rollout._require_arg(p_value anyelement, p_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_value IS NULL THEN
		RAISE EXCEPTION 'argument "%" must not be null', p_name
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
END
$$;

-- The clock of a lifecycle call: `at`, or now() when NULL (the same in every
-- lifecycle function); infinite times are refused.
CREATE FUNCTION rollout._lifecycle_at(p_at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_at IS NULL THEN
		RETURN pg_catalog.now();
	END IF;
	IF NOT pg_catalog.isfinite(p_at) THEN
		RAISE EXCEPTION 'argument "at" must be a finite time'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The time given was %s.', p_at);
	END IF;
	RETURN p_at;
END
$$;

-- Whether a text is NULL, empty or only whitespace (Unicode spaces included:
-- no-break, ideographic, zero-width no-break, line and paragraph separators).
CREATE FUNCTION rollout._is_blank(p_text text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p_text IS NULL
		OR p_text ~ '^[\s\u0085\u00a0\u1680\u180e\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]*$'
$$;

CREATE FUNCTION rollout.start(agent text, candidate integer, plan jsonb DEFAULT NULL,
							  risk text DEFAULT 'medium', reason text DEFAULT NULL,
							  at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p jsonb;
	v_baseline integer;
	v_id bigint;
	v_state text;
	v_stage integer;
	v_percent numeric;
	v_strategy text;
	v_variants jsonb;
	v_var jsonb;
	r rollout.rollouts;
BEGIN
	at := rollout._lifecycle_at(at);
	PERFORM rollout._require_agent(agent, true);
	PERFORM rollout._require_arg(candidate, 'candidate');
	PERFORM 1 FROM rollout.versions v WHERE v.agent = start.agent AND v.version = candidate;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', candidate, agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "candidate" must name a version created with rollout.create_version().';
	END IF;
	SELECT l.version INTO v_baseline FROM rollout.labels l
		WHERE l.agent = start.agent AND l.label = 'production';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" has no production version', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A rollout compares the candidate with the production version.',
				  HINT = 'Set one with rollout.set_label(agent, ''production'', version).';
	END IF;
	IF v_baseline = candidate THEN
		RAISE EXCEPTION 'version % of agent "%" is already in production', candidate, agent
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Argument "candidate" must differ from the production version.';
	END IF;
	PERFORM 1 FROM rollout.rollouts x WHERE x.agent = start.agent AND rollout.is_active_state(x.state);
	IF FOUND THEN
		RAISE EXCEPTION 'agent "%" already has an active rollout', agent
			USING ERRCODE = 'object_in_use',
				  DETAIL = 'One rollout per agent can be active; finish, promote or roll back the current one first.';
	END IF;

	p := rollout.validate_plan(plan, risk);
	v_strategy := p->>'strategy';
	v_variants := p->'variants';
	IF v_strategy = 'ab_test' THEN
		FOR v_var IN SELECT * FROM jsonb_array_elements(v_variants) LOOP
			PERFORM 1 FROM rollout.versions v
				WHERE v.agent = start.agent AND v.version = (v_var->>'version')::integer;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'invalid rollout plan: variants: version % of agent "%" does not exist',
					v_var->>'version', agent
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END LOOP;
	END IF;

	IF v_strategy = 'shadow' OR (p->'shadow' IS NOT NULL AND jsonb_typeof(p->'shadow') = 'object') THEN
		v_state := 'shadow';
		v_stage := 0;
		v_percent := 0;
	ELSIF v_strategy IN ('ab_test', 'blue_green') THEN
		-- A/B: the variants' weights split the traffic; blue-green: blue
		-- serves everyone until rollout.switch().
		v_state := 'canary';
		v_stage := 1;
		v_percent := 0;
	ELSE
		v_state := 'canary';
		v_stage := 1;
		v_percent := (p->'steps'->0->>'percent')::numeric;
	END IF;

	INSERT INTO rollout.rollouts AS x (agent, baseline, candidate, strategy, state, stage, percent,
		stickiness, variants, shadow_percent, write_intercept, rules, flags, judge_rate,
		pinning, drain, plan, risk, started_at, stage_started_at, reason)
	VALUES (agent, v_baseline, candidate,
		v_strategy,
		v_state, v_stage, v_percent,
		p->>'stickiness', v_variants,
		coalesce((p->'shadow'->>'percent')::numeric, 0),
		coalesce((p->'shadow'->>'write_intercept')::boolean, true),
		coalesce(p->'rules', '[]'), coalesce(p->'flags', '[]'),
		coalesce((p->>'judge_rate')::float8, 0.10),
		coalesce((p->'pinning'->>'enabled')::boolean, true),
		make_interval(secs => coalesce((p->'pinning'->>'drain_seconds')::float8, 600)),
		p, risk, at, at, reason)
	RETURNING * INTO r;
	v_id := r.id;

	INSERT INTO rollout.stages (rollout_id, stage, percent, started_at)
		VALUES (v_id, v_stage, v_percent, at);
	PERFORM rollout._log_event(agent, v_id, 'start', NULL,
		jsonb_build_object('baseline', v_baseline, 'candidate', candidate, 'strategy', v_strategy,
						   'state', v_state, 'stage', v_stage, 'percent', v_percent,
						   'risk', risk, 'plan', p),
		reason, at);
	PERFORM rollout._notify_change(v_id, agent, 'start', v_state, v_stage, v_percent, at, reason);
	RETURN v_id;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'agent "%" already has an active rollout', agent
		USING ERRCODE = 'object_in_use',
			  DETAIL = 'One rollout per agent can be active; a concurrent rollout.start() won.';
END
$$;

CREATE FUNCTION rollout.pause(agent text, reason text DEFAULT NULL,
							  at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	IF r.state = 'paused' THEN
		RETURN;
	END IF;
	UPDATE rollout.rollouts SET state = 'paused', paused_from = r.state WHERE id = r.id;
	PERFORM rollout._record_change(r, 'pause', reason, at);
END
$$;

CREATE FUNCTION rollout.resume(agent text, reason text DEFAULT NULL,
							   at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	PERFORM rollout._require_state(r, 'paused', 'paused');
	-- Back to the state it was paused from; the reason of a freeze goes, the
	-- reason of a hold or an approval wait it returns to stays.
	UPDATE rollout.rollouts SET state = coalesce(r.paused_from, 'canary'), paused_from = NULL,
		hold_reason = CASE WHEN r.paused_from IN ('holding', 'awaiting_approval') THEN r.hold_reason END,
		last_eval_at = NULL
		WHERE id = r.id;
	PERFORM rollout._record_change(r, 'resume', reason, at);
END
$$;

CREATE FUNCTION rollout.approve(agent text, reason text DEFAULT NULL,
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

-- Moves the production label to the candidate and closes the rollout as promoted.
CREATE FUNCTION rollout._finish_promotion(r rollout.rollouts, p_reason text, p_at timestamptz)
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

-- Moves a locked active rollout to its next step (or promotes it after the last).
CREATE FUNCTION rollout._advance(r rollout.rollouts, p_full boolean, p_action text,
								 p_reason text, p_at timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_steps jsonb := r.plan->'steps';
	v_next integer;
	v_percent numeric;
BEGIN
	IF r.strategy = 'blue_green' AND r.stage = 0 AND NOT p_full THEN
		-- Out of the shadow phase, blue still serves until rollout.switch().
		UPDATE rollout.rollouts SET state = 'canary', stage = 1, percent = 0, stage_started_at = p_at,
			shadow_percent = 0, hold_reason = NULL, last_eval_at = NULL
			WHERE id = r.id;
		PERFORM rollout._record_change(r, p_action, p_reason, p_at);
		RETURN 'stage 1: blue until rollout.switch()';
	END IF;
	IF r.strategy = 'ab_test' OR p_full OR jsonb_array_length(coalesce(v_steps, '[]')) = 0 THEN
		PERFORM rollout._finish_promotion(r, p_reason, p_at);
		RETURN 'promoted';
	END IF;
	v_next := r.stage + 1;
	IF v_next > jsonb_array_length(v_steps) THEN
		PERFORM rollout._finish_promotion(r, p_reason, p_at);
		RETURN 'promoted';
	END IF;
	v_percent := (v_steps->(v_next - 1)->>'percent')::numeric;
	IF v_percent >= 100 THEN
		PERFORM rollout._finish_promotion(r, p_reason, p_at);
		RETURN 'promoted';
	END IF;
	UPDATE rollout.rollouts SET state = 'canary', stage = v_next, percent = v_percent,
		stage_started_at = p_at, shadow_percent = 0, boosted = false, extensions = 0,
		-- A new stage starts new failure streaks; an alert episode goes on
		-- until its gate passes.
		fail_streak = (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each(r.fail_streak) f(k, v)
					   WHERE k LIKE 'alert:%'),
		hold_reason = NULL, approved_stage = NULL, last_eval_at = NULL
		WHERE id = r.id;
	PERFORM rollout._record_change(r, p_action, p_reason, p_at);
	RETURN pg_catalog.format('stage %s at %s%%', v_next, v_percent);
END
$$;

-- Advances the active rollout one stage by hand (or to 100% with full).
-- An A/B test ends with the chosen variant (or, without one, the
-- recommendation of its finished experiment) promoted to production.
CREATE FUNCTION rollout.promote(agent text, "full" boolean DEFAULT false, reason text DEFAULT NULL,
								at timestamptz DEFAULT pg_catalog.now(), variant text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_role text := rollout._acting_role();
	v_name text;
	v_version integer;
BEGIN
	at := rollout._lifecycle_at(at);
	r := rollout._active_rollout(agent);
	IF variant IS NOT NULL AND r.strategy <> 'ab_test' THEN
		RAISE EXCEPTION 'argument "variant" is only for A/B tests'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Rollout %s of agent "%s" has strategy %s.', r.id, agent, r.strategy);
	END IF;
	-- Out of awaiting_approval, promoting is approving: the same second
	-- person as rollout.approve() (or a member of rollout_admin).
	IF r.state = 'awaiting_approval'
	   AND (session_user = r.started_by OR v_role = r.started_by)
	   AND NOT pg_has_role(v_role, 'rollout_admin', 'USAGE') THEN
		RAISE EXCEPTION 'role "%" started rollout % and cannot promote it out of awaiting_approval', r.started_by, r.id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'The rollout waits for an approval, which needs a second person.',
				  HINT = 'Ask another operator, or a member of rollout_admin, to run rollout.approve() or rollout.promote().';
	END IF;
	IF r.strategy = 'ab_test' THEN
		v_name := coalesce(variant, r.recommendation);
		IF v_name IS NULL THEN
			RAISE EXCEPTION 'argument "variant" must name the variant to promote'
				USING ERRCODE = 'null_value_not_allowed',
					  DETAIL = pg_catalog.format('A/B test %s has no recommendation (yet).', r.id),
					  HINT = 'Call rollout.promote(agent, variant => ''<name>''), or end the test with rollout.rollback().';
		END IF;
		SELECT (x->>'version')::integer INTO v_version
			FROM jsonb_array_elements(r.variants) x WHERE x->>'name' = v_name;
		IF v_version IS NULL THEN
			RAISE EXCEPTION 'variant "%" is not in A/B test %', v_name, r.id
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = pg_catalog.format('Its variants are %s.',
						(SELECT string_agg(x->>'name', ', ') FROM jsonb_array_elements(r.variants) x));
		END IF;
		UPDATE rollout.rollouts SET candidate = v_version, recommendation = v_name WHERE id = r.id;
		r.candidate := v_version;
		PERFORM rollout._finish_promotion(r,
			coalesce(reason, pg_catalog.format('A/B test ended: variant %s (version %s) promoted', v_name, v_version)), at);
		RETURN pg_catalog.format('promoted variant %s (version %s)', v_name, v_version);
	END IF;
	RETURN rollout._advance(r, coalesce("full", false), 'promote_manual',
							coalesce(reason, 'manual promotion'), at);
END
$$;

-- Ends a locked rollout as rolled back; production stays on the baseline.
-- Undoing a promotion leaves the rollout's interval [started_at, ended_at)
-- as it was (ended_at is the promotion) and stamps the end of the
-- post-promotion watch in watch_ended_at, so no outcome's attribution
-- changes after the fact.
CREATE FUNCTION rollout._finish_rollback(r rollout.rollouts, p_safety boolean, p_action text,
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

-- safety => true is a safety rollback: no drain, pinned sessions move too.
CREATE FUNCTION rollout.rollback(agent text, reason text DEFAULT NULL,
								 safety boolean DEFAULT false,
								 at timestamptz DEFAULT pg_catalog.now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_production integer;
BEGIN
	at := rollout._lifecycle_at(at);
	-- The agent lock first: a concurrent start() or deploy_now() either
	-- committed before (and the checks below see it) or waits for us.
	PERFORM rollout._require_agent(agent, true);
	-- The active rollout, or else the latest promoted one (undo a promotion).
	SELECT * INTO r FROM rollout.rollouts x
		WHERE x.agent = rollback.agent AND (rollout.is_active_state(x.state) OR x.state = 'promoted')
		ORDER BY x.id DESC LIMIT 1
		FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" has no rollout to roll back', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'There is no active or promoted rollout.';
	END IF;
	IF r.state = 'promoted' AND EXISTS (SELECT 1 FROM rollout.rollouts x
										WHERE x.agent = rollback.agent AND x.id > r.id) THEN
		RAISE EXCEPTION 'agent "%" has no rollout to roll back', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Its latest rollout has already ended.';
	END IF;
	-- Undoing a promotion puts the baseline back only while production
	-- still serves that rollout's candidate: after deploy_now() or a manual
	-- set_label() it would silently discard the newer version.
	IF r.state = 'promoted' THEN
		SELECT l.version INTO v_production FROM rollout.labels l
			WHERE l.agent = rollback.agent AND l.label = 'production';
		IF v_production IS DISTINCT FROM r.candidate THEN
			RAISE EXCEPTION 'production of agent "%" no longer serves the candidate of rollout %', agent, r.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = pg_catalog.format('Rollout %s promoted version %s, but production is version %s now; rolling back would replace it with version %s.',
												 r.id, r.candidate, coalesce(v_production::text, 'none'), r.baseline),
					  HINT = 'To serve another version, use rollout.deploy_now() (audited) or start a rollout of it.';
		END IF;
	END IF;
	PERFORM rollout._finish_rollback(r, coalesce(safety, false),
		CASE WHEN safety THEN 'rollback_now' ELSE 'rollback' END,
		coalesce(reason, 'manual rollback'), at);
END
$$;

CREATE FUNCTION rollout.deploy_now(agent text, version integer, reason text,
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

CREATE FUNCTION rollout.retry(agent text, reason text DEFAULT NULL,
							  at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_id bigint;
BEGIN
	at := rollout._lifecycle_at(at);
	PERFORM rollout._require_agent(agent, true);
	SELECT * INTO r FROM rollout.rollouts x WHERE x.agent = retry.agent ORDER BY x.id DESC LIMIT 1;
	IF NOT FOUND OR r.state <> 'rolled_back' THEN
		RAISE EXCEPTION 'agent "%" has no rolled-back rollout to retry', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'retry starts the latest rollout again when it was rolled back.';
	END IF;
	v_id := rollout.start(agent, r.candidate, r.plan, r.risk,
						  coalesce(reason, pg_catalog.format('retry of rollout %s', r.id)), at);
	UPDATE rollout.rollouts SET retry_of = r.id WHERE id = v_id;
	RETURN v_id;
END
$$;
