-- 50: rollout plans: validation and normalization (src/plan*.c), risk-tier
-- presets DBAs can edit, blackout windows. docs/plans.md has the format.

-- The normalized plan, or an error naming the JSON path of the first problem.
CREATE FUNCTION rollout._normalize_plan(plan jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'rollout_normalize_plan'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Risk-tier presets: the plan rollout.start() follows when given none.
-- Plans are stored as written; a trigger validates every change.
CREATE TABLE rollout.plan_presets (
	risk		text PRIMARY KEY CHECK (risk ~ '^[a-z][a-z0-9_]{0,62}$'),
	plan		jsonb NOT NULL,
	description	text,
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_by	text NOT NULL DEFAULT session_user
);

-- Seed 001 timelines. Omitted keys (gates, pinning, judge_rate, ...) take
-- the built-in defaults of docs/plans.md.
INSERT INTO rollout.plan_presets (risk, plan, description) VALUES
('low', '{
	"strategy": "canary",
	"steps": [{"percent": 1, "bake": "4 hours", "min_samples": 200},
			  {"percent": 5, "bake": "8 hours", "min_samples": 500},
			  {"percent": 25, "bake": "4 hours", "min_samples": 500},
			  {"percent": 100}],
	"extend": {"allow_boost": true, "max_extensions": 3},
	"stable_period": "4 hours"
}', 'Prompt wording and similar bounded changes: accelerated canary 1% (4 h) -> 5% (8 h) -> 25% (4 h) -> 100%, no shadow phase.'),
('medium', '{
	"strategy": "canary",
	"shadow": {"percent": 100, "duration": "3 days", "min_similarity": 0.90, "min_samples": 5000},
	"steps": [{"percent": 1, "bake": "4 hours", "min_samples": 200},
			  {"percent": 5, "bake": "8 hours", "min_samples": 500},
			  {"percent": 25, "bake": "24 hours", "min_samples": 1000},
			  {"percent": 50, "bake": "24 hours", "min_samples": 2000},
			  {"percent": 100}],
	"stable_period": "4 hours"
}', 'New tools and similar changes: 3 days of shadow mode, then 1% (4 h) -> 5% (8 h) -> 25% (24 h) -> 50% (24 h) -> 100%.'),
('high', '{
	"strategy": "canary",
	"shadow": {"percent": 100, "duration": "5 days", "min_similarity": 0.90, "min_samples": 5000,
			   "model_swap_extension": 0.5},
	"steps": [{"percent": 1, "bake": "12 hours", "min_samples": 500},
			  {"percent": 5, "bake": "24 hours", "min_samples": 1000},
			  {"percent": 25, "bake": "48 hours", "min_samples": 2000},
			  {"percent": 50, "bake": "48 hours", "min_samples": 5000},
			  {"percent": 100}],
	"stable_period": "8 hours"
}', 'Model swaps: 5 days of shadow mode (50% longer when the model changes), then 1% (12 h) -> 5% (24 h) -> 25% (48 h) -> 50% (48 h) -> 100%.'),
('critical', '{
	"strategy": "canary",
	"shadow": {"percent": 100, "duration": "14 days", "min_similarity": 0.90, "min_samples": 5000,
			   "model_swap_extension": 0.5},
	"steps": [{"percent": 1, "bake": "3 days", "min_samples": 1000},
			  {"percent": 5, "bake": "5 days", "min_samples": 2000},
			  {"percent": 25, "bake": "7 days", "min_samples": 5000},
			  {"percent": 50, "bake": "7 days", "min_samples": 10000},
			  {"percent": 100}],
	"stable_period": "24 hours"
}', 'Architecture changes: 14 days of shadow mode, then a 3-week canary 1% (3 d) -> 5% (5 d) -> 25% (7 d) -> 50% (7 d) -> 100%.');

-- Validates a preset before it is stored, keeps the four built-in tiers,
-- and records every change in rollout.events.
CREATE FUNCTION rollout._plan_preset_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old jsonb;
	v_new jsonb;
BEGIN
	IF TG_OP = 'DELETE' THEN
		IF OLD.risk IN ('low', 'medium', 'high', 'critical') THEN
			RAISE EXCEPTION 'risk tier "%" cannot be deleted', OLD.risk
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'The tiers low, medium, high and critical are built in; edit their plan instead.';
		END IF;
	ELSE
		-- raises "invalid rollout plan: <path>: <reason>" for a bad plan
		PERFORM rollout._normalize_plan(NEW.plan);
		NEW.updated_at := pg_catalog.now();
		NEW.updated_by := session_user;
	END IF;
	IF TG_OP <> 'INSERT' THEN
		v_old := pg_catalog.jsonb_build_object('risk', OLD.risk, 'plan', OLD.plan,
											   'description', OLD.description);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_new := pg_catalog.jsonb_build_object('risk', NEW.risk, 'plan', NEW.plan,
											   'description', NEW.description);
	END IF;
	PERFORM rollout._log_event(NULL, NULL, 'preset_change', v_old, v_new, NULL);
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER plan_presets_change BEFORE INSERT OR UPDATE OR DELETE ON rollout.plan_presets
	FOR EACH ROW EXECUTE FUNCTION rollout._plan_preset_change();

-- The normalized plan: plan with every default filled in, or, when plan is
-- NULL, the preset of the risk tier. risk is checked either way.
CREATE FUNCTION rollout.validate_plan(plan jsonb, risk text DEFAULT 'medium')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_preset jsonb;
BEGIN
	IF validate_plan.risk IS NULL THEN
		RAISE EXCEPTION 'argument "risk" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'Pass a risk tier of rollout.plan_presets, e.g. ''medium''.';
	END IF;
	SELECT p.plan INTO v_preset FROM rollout.plan_presets p WHERE p.risk = validate_plan.risk;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown risk tier "%"',
			CASE WHEN octet_length(validate_plan.risk) > 100 THEN left(validate_plan.risk, 100) || '...'
				 ELSE validate_plan.risk END
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Argument "risk" must be one of: %s.',
					(SELECT pg_catalog.string_agg(p.risk, ', ' ORDER BY p.risk) FROM rollout.plan_presets p));
	END IF;
	RETURN rollout._normalize_plan(coalesce(validate_plan.plan, v_preset));
END
$$;

-- Whether a rollout following plan may not advance at time at.
CREATE FUNCTION rollout.in_blackout(plan jsonb, at timestamptz) RETURNS boolean
AS 'MODULE_PATHNAME', 'rollout_in_blackout'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

REVOKE ALL ON FUNCTION rollout._normalize_plan(jsonb), rollout._plan_preset_change(),
	rollout.validate_plan(jsonb, text), rollout.in_blackout(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._normalize_plan(jsonb), rollout.validate_plan(jsonb, text),
	rollout.in_blackout(jsonb, timestamptz)
	TO rollout_reader, rollout_operator, rollout_admin;
GRANT SELECT ON rollout.plan_presets TO rollout_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON rollout.plan_presets TO rollout_admin;
