-- 10: the version registry: agents, immutable versions, movable labels.

-- Whether an agent's standalone capability flags are well formed: an object
-- of at most 100 flag names (lowercase identifiers, as in plans) to percents
-- in [0, 100] in steps of 0.01 (rollout.set_flag, docs/routing.md).
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

CREATE TABLE rollout.agents (
	id			bigserial PRIMARY KEY,
	name		text NOT NULL UNIQUE,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	text NOT NULL DEFAULT session_user,
	-- Roles allowed to route and record for this agent; NULL: any member
	-- of rollout_service (docs/security.md).
	service_roles	text[],
	-- Standalone capability flags, with or without a rollout: flag name ->
	-- percent of callers it is on for (rollout.set_flag).
	flags		jsonb NOT NULL DEFAULT '{}' CHECK (rollout._flags_valid(flags))
);

CREATE TABLE rollout.versions (
	agent			text NOT NULL REFERENCES rollout.agents (name),
	version			integer NOT NULL CHECK (version > 0),
	fingerprint		text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
	system_prompt	text NOT NULL,
	model			text NOT NULL,
	template		text,
	few_shot		jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(few_shot) = 'array'),
	tools			jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tools) = 'array'),
	params			jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
	code_ref		text,
	note			text,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by		text NOT NULL DEFAULT session_user,
	PRIMARY KEY (agent, version),
	UNIQUE (agent, fingerprint)
);

CREATE TRIGGER versions_immutable BEFORE UPDATE OR DELETE ON rollout.versions
	FOR EACH ROW EXECUTE FUNCTION rollout._reject_change();
CREATE TRIGGER versions_no_truncate BEFORE TRUNCATE ON rollout.versions
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._reject_change();

-- Current position of each label; label_history keeps every move.
CREATE TABLE rollout.labels (
	agent		text NOT NULL REFERENCES rollout.agents (name),
	label		text NOT NULL,
	version		integer NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_by	text NOT NULL DEFAULT session_user,
	PRIMARY KEY (agent, label),
	FOREIGN KEY (agent, version) REFERENCES rollout.versions (agent, version)
);

CREATE TABLE rollout.label_history (
	id			bigserial PRIMARY KEY,
	agent		text NOT NULL,
	label		text NOT NULL,
	old_version	integer,
	new_version	integer NOT NULL,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	actor		text NOT NULL DEFAULT session_user,
	reason		text
);
CREATE INDEX label_history_agent_idx ON rollout.label_history (agent, label, at);
CREATE TRIGGER label_history_append_only BEFORE UPDATE OR DELETE ON rollout.label_history
	FOR EACH ROW EXECUTE FUNCTION rollout._reject_change();

-- C helpers (src/registry.c).

-- Hex SHA-256 of the canonical serialization of a version's content
-- (docs/registry.md, "Fingerprint").
CREATE FUNCTION rollout.fingerprint(system_prompt text, template text, few_shot jsonb,
									model text, tools jsonb, params jsonb, code_ref text)
RETURNS text
AS 'MODULE_PATHNAME', 'rollout_fingerprint'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Canonical JSON text: keys sorted bytewise, no white space.
CREATE FUNCTION rollout.canonical_json(value jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'rollout_canonical_json'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Whether a model id is pinned (a date or an explicit version), not floating.
CREATE FUNCTION rollout.model_is_pinned(model text) RETURNS boolean
AS 'MODULE_PATHNAME', 'rollout_model_is_pinned'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Raises a clean error unless name is a valid agent name; argname names the argument.
CREATE FUNCTION rollout._check_name(name text, argname text) RETURNS void
AS 'MODULE_PATHNAME', 'rollout_check_name'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Returns the agent's name, or raises undefined_object when it does not exist.
CREATE FUNCTION rollout._require_agent(p_agent text, p_lock boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout._check_name(p_agent, 'agent');
	IF p_lock THEN
		PERFORM 1 FROM rollout.agents WHERE name = p_agent FOR UPDATE;
	ELSE
		PERFORM 1 FROM rollout.agents WHERE name = p_agent;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'agent "%" does not exist', p_agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "agent" must name an agent created with rollout.create_agent().';
	END IF;
	RETURN p_agent;
END
$$;

-- Raises undefined_object unless every element of roles names an existing role.
CREATE FUNCTION rollout._check_roles(p_roles text[], p_argname text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r text;
BEGIN
	IF p_roles IS NULL THEN
		RETURN;
	END IF;
	IF cardinality(p_roles) = 0 THEN
		RAISE EXCEPTION 'argument "%" must not be an empty array', p_argname
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Pass NULL to let every member of rollout_service route and record.';
	END IF;
	FOREACH r IN ARRAY p_roles LOOP
		IF r IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			RAISE EXCEPTION 'role "%" of argument "%" does not exist', r, p_argname
				USING ERRCODE = 'undefined_object',
					  DETAIL = 'Every element must name an existing role (usually a member of rollout_service).';
		END IF;
	END LOOP;
END
$$;

CREATE FUNCTION rollout.create_agent(name text, description text DEFAULT NULL,
									 service_roles text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
BEGIN
	PERFORM rollout._check_name(name, 'name');
	IF description IS NOT NULL AND octet_length(description) > 10000 THEN
		RAISE EXCEPTION 'argument "description" is too long'
			USING ERRCODE = 'string_data_right_truncation',
				  DETAIL = pg_catalog.format('It has %s bytes; the limit is 10000.', octet_length(description));
	END IF;
	PERFORM rollout._check_roles(service_roles, 'service_roles');
	INSERT INTO rollout.agents (name, description, service_roles)
		VALUES (name, description, service_roles)
		ON CONFLICT DO NOTHING
		RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RAISE EXCEPTION 'agent "%" already exists', name
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'Agent names are unique; argument "name" names an existing agent.';
	END IF;
	PERFORM rollout._log_event(name, NULL, 'create_agent', NULL,
							   jsonb_build_object('id', v_id, 'name', name, 'description', description)
							   || CASE WHEN service_roles IS NULL THEN '{}'::jsonb
									   ELSE jsonb_build_object('service_roles', to_jsonb(service_roles)) END,
							   NULL);
	RETURN v_id;
END
$$;

-- Names the roles allowed to route and record for an agent (NULL: every
-- member of rollout_service); the change is an event.
CREATE FUNCTION rollout.set_service_roles(agent text, service_roles text[], reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old text[];
BEGIN
	PERFORM rollout._require_agent(agent, true);
	PERFORM rollout._check_roles(service_roles, 'service_roles');
	SELECT a.service_roles INTO v_old FROM rollout.agents a WHERE a.name = set_service_roles.agent;
	IF v_old IS NOT DISTINCT FROM service_roles THEN
		RETURN;
	END IF;
	UPDATE rollout.agents a SET service_roles = set_service_roles.service_roles
		WHERE a.name = set_service_roles.agent;
	PERFORM rollout._log_event(agent, NULL, 'set_service_roles',
							   jsonb_build_object('service_roles', to_jsonb(v_old)),
							   jsonb_build_object('service_roles', to_jsonb(service_roles)), reason);
END
$$;

-- Raises insufficient_privilege unless the calling role may write outcomes
-- for the agent: a member of one of its service_roles, or any caller when
-- it names none. Agents that do not exist pass (the caller reports them).
CREATE FUNCTION rollout._require_service(p_agent text) RETURNS void
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_roles text[];
	v_role text := rollout._acting_role();
	r text;
BEGIN
	SELECT a.service_roles INTO v_roles FROM rollout.agents a WHERE a.name = p_agent;
	IF v_roles IS NULL THEN
		RETURN;
	END IF;
	FOREACH r IN ARRAY v_roles LOOP
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)
		   AND pg_catalog.pg_has_role(v_role, r, 'USAGE') THEN
			RETURN;
		END IF;
	END LOOP;
	RAISE EXCEPTION 'role "%" may not write outcomes for agent "%"', v_role, p_agent
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('Agent "%s" accepts outcomes only from members of %s.',
										 p_agent, pg_catalog.array_to_string(v_roles, ', ')),
			  HINT = 'Grant one of those roles to this login, or change them with rollout.set_service_roles().';
END
$$;

-- Raises a clean error when a version field is larger than the documented limit.
CREATE FUNCTION rollout._check_size(p_value text, p_argname text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF octet_length(p_value) > 1048576 THEN
		RAISE EXCEPTION 'argument "%" is too large', p_argname
			USING ERRCODE = 'program_limit_exceeded',
				  DETAIL = pg_catalog.format('It has %s bytes; each field of a version is limited to 1048576 bytes (1 MiB).', octet_length(p_value));
	END IF;
END
$$;

CREATE FUNCTION rollout.create_version(agent text, system_prompt text, model text,
									   template text DEFAULT NULL,
									   few_shot jsonb DEFAULT '[]',
									   tools jsonb DEFAULT '[]',
									   params jsonb DEFAULT '{}',
									   code_ref text DEFAULT NULL,
									   note text DEFAULT NULL,
									   allow_floating_model boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_fp text;
	v_version integer;
BEGIN
	IF system_prompt IS NULL THEN
		RAISE EXCEPTION 'argument "system_prompt" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'Every version has a system prompt; pass an empty string for none.';
	END IF;
	IF model IS NULL OR btrim(model) = '' THEN
		RAISE EXCEPTION 'argument "model" must not be null or empty'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'Every version names the model it runs on.';
	END IF;
	IF few_shot IS NULL OR jsonb_typeof(few_shot) <> 'array' THEN
		RAISE EXCEPTION 'argument "few_shot" must be a JSON array'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('It is %s.', coalesce('a JSON ' || jsonb_typeof(few_shot), 'null'));
	END IF;
	IF tools IS NULL OR jsonb_typeof(tools) <> 'array' THEN
		RAISE EXCEPTION 'argument "tools" must be a JSON array'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('It is %s.', coalesce('a JSON ' || jsonb_typeof(tools), 'null'));
	END IF;
	IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
		RAISE EXCEPTION 'argument "params" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('It is %s.', coalesce('a JSON ' || jsonb_typeof(params), 'null'));
	END IF;
	PERFORM rollout._check_size(system_prompt, 'system_prompt');
	PERFORM rollout._check_size(model, 'model');
	PERFORM rollout._check_size(template, 'template');
	PERFORM rollout._check_size(few_shot::text, 'few_shot');
	PERFORM rollout._check_size(tools::text, 'tools');
	PERFORM rollout._check_size(params::text, 'params');
	PERFORM rollout._check_size(code_ref, 'code_ref');
	PERFORM rollout._check_size(note, 'note');
	IF NOT coalesce(allow_floating_model, false) AND NOT rollout.model_is_pinned(model) THEN
		RAISE EXCEPTION 'model "%" is not pinned to a version', model
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Argument "model" ends in "latest" or carries no version or date, so the provider may change what it serves without a new version here.',
				  HINT = 'Name a dated or versioned snapshot (e.g. "gpt-4o-2024-08-06"), or pass allow_floating_model => true.';
	END IF;

	-- Serialize version creation per agent: numbers stay gapless and a
	-- concurrent identical insert finds the first one.
	PERFORM rollout._require_agent(agent, true);

	v_fp := rollout.fingerprint(system_prompt, template, few_shot, model, tools, params, code_ref);
	SELECT v.version INTO v_version FROM rollout.versions v
		WHERE v.agent = create_version.agent AND v.fingerprint = v_fp;
	IF FOUND THEN
		RETURN v_version;
	END IF;

	SELECT coalesce(max(v.version), 0) + 1 INTO v_version FROM rollout.versions v
		WHERE v.agent = create_version.agent;
	INSERT INTO rollout.versions (agent, version, fingerprint, system_prompt, model, template,
								  few_shot, tools, params, code_ref, note)
	VALUES (agent, v_version, v_fp, system_prompt, model, template,
			few_shot, tools, params, code_ref, note);

	PERFORM rollout._log_event(agent, NULL, 'create_version', NULL,
							   jsonb_build_object('version', v_version, 'fingerprint', v_fp,
												  'model', model, 'code_ref', code_ref, 'note', note),
							   note);
	RETURN v_version;
END
$$;

-- Resolves a version reference (a label or a number) to a version number.
CREATE FUNCTION rollout._resolve_version(p_agent text, p_ref text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_version integer;
BEGIN
	IF p_ref IS NULL THEN
		RAISE EXCEPTION 'argument "ref" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = 'Pass a label such as ''production'' or a version number.';
	END IF;
	IF p_ref ~ '^[0-9]{1,9}$' THEN
		SELECT v.version INTO v_version FROM rollout.versions v
			WHERE v.agent = p_agent AND v.version = p_ref::integer;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'version % of agent "%" does not exist', p_ref, p_agent
				USING ERRCODE = 'undefined_object',
					  DETAIL = 'Argument "ref" must be an existing version number or label.';
		END IF;
		RETURN v_version;
	END IF;
	SELECT l.version INTO v_version FROM rollout.labels l
		WHERE l.agent = p_agent AND l.label = p_ref;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'label "%" of agent "%" does not exist',
			CASE WHEN octet_length(p_ref) > 100 THEN left(p_ref, 100) || '...' ELSE p_ref END, p_agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "ref" must be an existing version number or label.';
	END IF;
	RETURN v_version;
END
$$;

-- Moves a label to a version at time "at", with its history row and event:
-- production may not move during a rollout (the lifecycle moves it once
-- the rollout has ended).
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

-- Moves a label to a version now; the lifecycle moves production with
-- _set_label() at its own time (the time of the promotion, rollback or
-- deploy_now it belongs to).
CREATE FUNCTION rollout.set_label(agent text, label text, version integer, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout._set_label(agent, label, version, reason, pg_catalog.now());
END
$$;

CREATE FUNCTION rollout.get_version(agent text, ref text DEFAULT 'production')
RETURNS SETOF rollout.versions
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_version integer;
BEGIN
	PERFORM rollout._require_agent(agent);
	v_version := rollout._resolve_version(agent, ref);
	RETURN QUERY SELECT * FROM rollout.versions v
		WHERE v.agent = get_version.agent AND v.version = v_version;
END
$$;

-- The fields that differ between two versions of an agent, one row each.
CREATE FUNCTION rollout.diff(agent text, a integer, b integer)
RETURNS TABLE (field text, value_a text, value_b text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	va rollout.versions;
	vb rollout.versions;
BEGIN
	PERFORM rollout._require_agent(agent);
	IF a IS NULL OR b IS NULL THEN
		RAISE EXCEPTION 'argument "%" must not be null', CASE WHEN a IS NULL THEN 'a' ELSE 'b' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO va FROM rollout.versions v WHERE v.agent = diff.agent AND v.version = a;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', a, agent
			USING ERRCODE = 'undefined_object', DETAIL = 'Argument "a" must be an existing version number.';
	END IF;
	SELECT * INTO vb FROM rollout.versions v WHERE v.agent = diff.agent AND v.version = b;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', b, agent
			USING ERRCODE = 'undefined_object', DETAIL = 'Argument "b" must be an existing version number.';
	END IF;
	RETURN QUERY
		SELECT f.fname, f.a_val, f.b_val
		FROM (VALUES
				(1, 'system_prompt', va.system_prompt, vb.system_prompt),
				(2, 'template', va.template, vb.template),
				(3, 'few_shot', va.few_shot::text, vb.few_shot::text),
				(4, 'model', va.model, vb.model),
				(5, 'tools', va.tools::text, vb.tools::text),
				(6, 'params', va.params::text, vb.params::text),
				(7, 'code_ref', va.code_ref, vb.code_ref),
				(8, 'note', va.note, vb.note)) AS f(ord, fname, a_val, b_val)
		WHERE f.a_val IS DISTINCT FROM f.b_val
		ORDER BY f.ord;
END
$$;

-- Privileges: tables are read through grants and written only by the
-- functions above (SECURITY DEFINER), or directly by rollout_admin.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rollout FROM PUBLIC;
GRANT SELECT ON rollout.agents, rollout.versions, rollout.labels, rollout.label_history TO rollout_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON rollout.agents, rollout.labels TO rollout_admin;
GRANT SELECT, INSERT ON rollout.versions, rollout.label_history, rollout.events TO rollout_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA rollout TO rollout_admin;
GRANT EXECUTE ON FUNCTION rollout.create_agent(text, text, text[]),
	rollout.create_version(text, text, text, text, jsonb, jsonb, jsonb, text, text, boolean),
	rollout.set_label(text, text, integer, text)
	TO rollout_admin;
GRANT EXECUTE ON FUNCTION rollout.get_version(text, text), rollout.diff(text, integer, integer),
	rollout.fingerprint(text, text, jsonb, text, jsonb, jsonb, text),
	rollout.canonical_json(jsonb), rollout.model_is_pinned(text)
	TO rollout_reader, rollout_service;
