-- 26: standalone capability flags: an agent's flags that live with or
-- without a rollout (rollout.agents.flags), drawn by route() for every
-- request of the agent. A rollout's plan flags override a standalone flag of
-- the same name while the rollout lasts. Reference: docs/routing.md.

-- Sets a standalone capability flag of an agent: on for percent % of its
-- callers (by unit, else session, else tenant), whatever rollout runs.
-- Audited.
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

-- Removes a standalone capability flag of an agent. Audited.
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

-- Raises invalid_parameter_value unless flag is a flag name as plans have
-- them; the message echoes at most 64 characters of it.
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
