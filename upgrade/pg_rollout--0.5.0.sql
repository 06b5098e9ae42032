-- pg_rollout install script. Pieces of src/sql/ are concatenated in name order.
-- 00: roles and the shared audit helpers every later piece uses.

\echo Use "CREATE EXTENSION pg_rollout" to load this file. \quit

-- Roles are cluster-wide: create them once, keep them across databases and
-- re-installs. They are NOLOGIN; the DBA grants them to login roles.
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['rollout_admin', 'rollout_operator', 'rollout_service', 'rollout_reader']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

-- Operators can do what readers can; admins can do what operators can.
GRANT rollout_reader TO rollout_operator;
GRANT rollout_operator TO rollout_admin;
GRANT rollout_service TO rollout_admin;

GRANT USAGE ON SCHEMA rollout TO rollout_admin, rollout_operator, rollout_service, rollout_reader;

-- The audit log: append-only, one row per change the extension makes.
CREATE TABLE rollout.events (
	id			bigserial PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	agent		text,
	rollout_id	bigint,
	action		text NOT NULL,
	actor		text NOT NULL DEFAULT session_user,
	acting_role	text NOT NULL,
	old			jsonb,
	new			jsonb,
	reason		text
);
CREATE INDEX events_agent_at_idx ON rollout.events (agent, at);
CREATE INDEX events_rollout_idx ON rollout.events (rollout_id) WHERE rollout_id IS NOT NULL;

-- The role the caller acts as (after SET ROLE), even inside SECURITY DEFINER
-- functions, where current_user is the extension owner.
CREATE FUNCTION rollout._acting_role() RETURNS text
AS 'MODULE_PATHNAME', 'rollout_acting_role'
LANGUAGE C STABLE PARALLEL SAFE;

-- Rejects UPDATE, DELETE and TRUNCATE on append-only tables.
CREATE FUNCTION rollout._reject_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'rollout.% is append-only', TG_TABLE_NAME
		USING ERRCODE = 'object_not_in_prerequisite_state',
			  DETAIL = pg_catalog.format('%s on rollout.%s is not allowed: its rows are an immutable record.', TG_OP, TG_TABLE_NAME),
			  HINT = 'Create a new row instead.';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON rollout.events
	FOR EACH ROW EXECUTE FUNCTION rollout._reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON rollout.events
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._reject_change();

-- Appends one audit event; who and when come from the session. Returns its id.
CREATE FUNCTION rollout._log_event(p_agent text, p_rollout_id bigint, p_action text,
								   p_old jsonb, p_new jsonb, p_reason text,
								   p_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO rollout.events (at, agent, rollout_id, action, actor, acting_role, old, new, reason)
	VALUES (coalesce(p_at, pg_catalog.now()), p_agent, p_rollout_id, p_action,
			session_user, rollout._acting_role(), p_old, p_new, p_reason)
	RETURNING id;
$$;
REVOKE ALL ON FUNCTION rollout._log_event(text, bigint, text, jsonb, jsonb, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._reject_change() FROM PUBLIC;

GRANT SELECT ON rollout.events TO rollout_reader;
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

CREATE FUNCTION rollout.set_label(agent text, label text, version integer, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
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
	PERFORM 1 FROM rollout.versions v WHERE v.agent = set_label.agent AND v.version = set_label.version;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version % of agent "%" does not exist', version, agent
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Argument "version" must name a version created with rollout.create_version().';
	END IF;

	SELECT l.version INTO v_old FROM rollout.labels l
		WHERE l.agent = set_label.agent AND l.label = set_label.label;
	IF v_old IS NOT DISTINCT FROM version THEN
		RETURN;
	END IF;
	-- During a rollout, production is its baseline: moving it would change
	-- what the stable arm serves under the gates' feet. (The lifecycle
	-- moves it itself once the rollout has ended: promotion, undo.)
	IF label = 'production' AND EXISTS (SELECT 1 FROM rollout.rollouts x
										WHERE x.agent = set_label.agent
										  AND rollout.is_active_state(x.state)) THEN
		RAISE EXCEPTION 'agent "%" has an active rollout; its production label cannot move', agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('Production is version %s, the baseline of the active rollout.', v_old),
				  HINT = 'Finish the rollout first (rollout.promote() or rollout.rollback()), or use rollout.deploy_now(), which ends it and moves production in one audited step.';
	END IF;
	INSERT INTO rollout.labels AS l (agent, label, version)
		VALUES (agent, label, version)
		ON CONFLICT ON CONSTRAINT labels_pkey DO UPDATE
			SET version = EXCLUDED.version, updated_at = pg_catalog.now(), updated_by = session_user;
	INSERT INTO rollout.label_history (agent, label, old_version, new_version, reason)
		VALUES (agent, label, v_old, version, reason);
	PERFORM rollout._log_event(agent, NULL, 'set_label',
							   CASE WHEN v_old IS NULL THEN NULL
									ELSE jsonb_build_object('label', label, 'version', v_old) END,
							   jsonb_build_object('label', label, 'version', version), reason);
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
-- 20: rollouts: one row per rollout of a candidate version, the state that
-- routing serves from and the lifecycle moves. Routing (src/route*.c) reads
-- it into each backend's cache; the lifecycle (rollout.start, tick, ...)
-- is the only writer in production; tests may write it as rollout_admin.

CREATE TABLE rollout.rollouts (
	id				bigserial PRIMARY KEY,
	agent			text NOT NULL REFERENCES rollout.agents (name),
	-- The stable version served outside the candidate arm (production at start).
	baseline		integer NOT NULL,
	candidate		integer NOT NULL,
	strategy		text NOT NULL DEFAULT 'canary'
		CHECK (strategy IN ('canary', 'blue_green', 'shadow', 'ab_test')),
	state			text NOT NULL DEFAULT 'canary'
		CHECK (state IN ('shadow', 'canary', 'holding', 'awaiting_approval', 'paused',
						 'awaiting_decision', 'promoted', 'rolled_back')),
	-- Step number of the plan (1-based); 0 during the shadow phase.
	stage			integer NOT NULL DEFAULT 1 CHECK (stage >= 0),
	-- Candidate share now, 0..100 in 0.01 steps (bucket < percent * 100).
	percent			numeric(5, 2) NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
	-- Which route() argument is hashed: unit, session or tenant.
	stickiness		text NOT NULL DEFAULT 'unit' CHECK (stickiness IN ('unit', 'session', 'tenant')),
	-- Per-rollout seed of the bucketing hash.
	salt			bigint NOT NULL DEFAULT (pg_catalog.random() * 9007199254740991)::bigint,
	-- ab_test: [{"name": "a", "version": 1, "weight": 30}, ...], weights sum to 100.
	variants		jsonb,
	-- shadow: share of requests that also run the candidate, and whether the
	-- caller must intercept its writes (dry-run tools).
	shadow_percent	numeric(5, 2) NOT NULL DEFAULT 0 CHECK (shadow_percent BETWEEN 0 AND 100),
	write_intercept	boolean NOT NULL DEFAULT true,
	-- Ordered tenant/cohort rules evaluated before the percentage:
	-- [{"tenants": ["internal"], "percent": 100},
	--  {"attribute": "region", "values": ["eu"], "percent": 0}]
	rules			jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rules) = 'array'),
	-- Capability flags with their own share: [{"name": "db_write", "percent": 10}]
	flags			jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(flags) = 'array'),
	-- Share of requests marked for the LLM judge, 0..1.
	judge_rate		float8 NOT NULL DEFAULT 0.10 CHECK (judge_rate BETWEEN 0 AND 1),
	-- Session pinning and drain after a rollback.
	pinning			boolean NOT NULL DEFAULT true,
	drain			interval NOT NULL DEFAULT '10 minutes',
	drain_until		timestamptz,
	-- Set by a safety rollback (rollback_now): no drain, everyone moves at once.
	drain_skipped	boolean NOT NULL DEFAULT false,
	-- The validated plan this rollout follows, and its risk tier.
	plan			jsonb NOT NULL DEFAULT '{}',
	risk			text,
	started_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	stage_started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	ended_at		timestamptz,
	started_by		text NOT NULL DEFAULT session_user,
	reason			text,
	FOREIGN KEY (agent, baseline) REFERENCES rollout.versions (agent, version),
	FOREIGN KEY (agent, candidate) REFERENCES rollout.versions (agent, version)
);

-- One active rollout per agent: a constraint, not a convention.
CREATE UNIQUE INDEX rollouts_one_active ON rollout.rollouts (agent)
	WHERE state IN ('shadow', 'canary', 'holding', 'awaiting_approval', 'paused', 'awaiting_decision');
CREATE INDEX rollouts_agent_started_idx ON rollout.rollouts (agent, started_at);

-- Whether a rollout state is active (not final). No SET clause, so that
-- queries inline it (one call per row otherwise); its operator is named
-- with its schema instead.
CREATE FUNCTION rollout.is_active_state(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT state OPERATOR(pg_catalog.=) ANY (ARRAY['shadow', 'canary', 'holding', 'awaiting_approval',
	'paused', 'awaiting_decision']::pg_catalog.text[]) $$;

GRANT SELECT ON rollout.rollouts TO rollout_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON rollout.rollouts TO rollout_admin;
GRANT USAGE ON SEQUENCE rollout.rollouts_id_seq TO rollout_admin;
GRANT EXECUTE ON FUNCTION rollout.is_active_state(text) TO PUBLIC;
-- 25: routing: rollout.route() and what it needs (src/route*.c,
-- docs/routing.md): the decision type, the pin secret, cache invalidation
-- triggers on the state tables, bucketing and exposure counters.

-- The routing decision, one row per request.
CREATE TYPE rollout.decision AS (
	agent			text,
	version			integer,
	fingerprint		text,
	model			text,
	system_prompt	text,
	template		text,
	few_shot		jsonb,
	tools			jsonb,
	params			jsonb,
	arm				text,
	rollout_id		bigint,
	stage			integer,
	shadow_version	integer,
	judge_sample	boolean,
	pin				text,
	reason			text,
	-- Capability flags of the rollout: name -> drawn for this request.
	flags			jsonb,
	-- Whether the caller must intercept the writes of the shadow run.
	write_intercept	boolean,
	-- Opaque, signed identity of this decision (rollout, stage, arm,
	-- version); pass it to record() so the outcome counts for it.
	decision_token	text
);

-- 32 bytes from the server's strong random source.
CREATE FUNCTION rollout._random_secret() RETURNS bytea
AS 'MODULE_PATHNAME', 'rollout_random_secret'
LANGUAGE C VOLATILE;

-- The secret that signs pin tokens (HMAC-SHA256). Readable only by the
-- extension owner; route() reads it through its cache loader, which runs
-- as the owner of rollout.rollouts. Replicated, so standbys accept the pins
-- the primary issued. Rotating it invalidates every pin.
CREATE TABLE rollout._route_secret (
	id			integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	secret		bytea NOT NULL CHECK (octet_length(secret) = 32),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON rollout._route_secret FROM PUBLIC;
INSERT INTO rollout._route_secret (secret) VALUES (rollout._random_secret());

-- Statement trigger: queues a relcache invalidation of the changed table,
-- sent at commit and replayed on standbys; route() caches go stale.
CREATE FUNCTION rollout._route_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'rollout_route_invalidate'
LANGUAGE C;

CREATE TRIGGER agents_route_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.agents
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
CREATE TRIGGER versions_route_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.versions
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
CREATE TRIGGER labels_route_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.labels
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
-- Only updates of what routing reads invalidate: tick()'s bookkeeping
-- (last_eval_at, fail_streak) must not clear every backend's cache.
CREATE TRIGGER rollouts_route_invalidate
	AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF agent, baseline, candidate, strategy, state, stage, percent, stickiness, salt, variants, shadow_percent, write_intercept, rules, flags, judge_rate, pinning, drain, drain_until, drain_skipped, started_at, ended_at ON rollout.rollouts
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();
CREATE TRIGGER route_secret_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout._route_secret
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._route_invalidate();

-- The routing decision for one request (docs/routing.md). attrs holds the
-- request attributes cohort rules match (e.g. {"region": "eu"}); request is
-- an optional request id that makes judge sampling reproducible.
CREATE FUNCTION rollout.route(agent text, unit text, session text DEFAULT NULL,
							  tenant text DEFAULT NULL, pin text DEFAULT NULL,
							  attrs jsonb DEFAULT NULL, request text DEFAULT NULL)
RETURNS rollout.decision
AS 'MODULE_PATHNAME', 'rollout_route'
LANGUAGE C STABLE PARALLEL SAFE;

-- bucket = XXH3_64bits_withSeed(key bytes, salt) mod 10000.
CREATE FUNCTION rollout.bucket(key text, salt bigint) RETURNS integer
AS 'MODULE_PATHNAME', 'rollout_bucket'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Exposure counters per (rollout, arm) since the last flush; empty when the
-- library is not in shared_preload_libraries.
CREATE FUNCTION rollout.exposure_counts()
RETURNS TABLE (rollout_id bigint, arm text, exposures bigint)
AS 'MODULE_PATHNAME', 'rollout_exposure_counts'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Returns the counters and resets them in one step; the worker calls it.
CREATE FUNCTION rollout.flush_exposures()
RETURNS TABLE (rollout_id bigint, arm text, exposures bigint)
AS 'MODULE_PATHNAME', 'rollout_flush_exposures'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE VIEW rollout.exposures AS
	SELECT e.rollout_id, e.arm, e.exposures FROM rollout.exposure_counts() e;

-- Replaces the pin secret: every pin issued so far stops verifying.
CREATE FUNCTION rollout.rotate_pin_secret(reason text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE rollout._route_secret SET secret = rollout._random_secret(), created_at = pg_catalog.now()
		WHERE id = 1;
	PERFORM rollout._log_event(NULL, NULL, 'rotate_pin_secret', NULL, NULL, reason);
END
$$;

REVOKE ALL ON FUNCTION rollout._random_secret(), rollout._route_invalidate(),
	rollout.route(text, text, text, text, text, jsonb, text), rollout.bucket(text, bigint),
	rollout.exposure_counts(), rollout.flush_exposures(), rollout.rotate_pin_secret(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.route(text, text, text, text, text, jsonb, text)
	TO rollout_service, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.bucket(text, bigint) TO rollout_service, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.exposure_counts() TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.flush_exposures(), rollout.rotate_pin_secret(text) TO rollout_admin;
GRANT SELECT ON rollout.exposures TO rollout_reader;
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
-- 30: statistics. Pure C functions (no table access) that gates call;
-- formulas, references and edge cases are in docs/statistics.md.

-- Two independent proportions, H0: p1 - p2 = margin (sample 1 the candidate).
-- Reference: statsmodels 0.13.5 test_proportions_2indep(compare='diff',
-- value=margin, correction=True).
CREATE FUNCTION rollout.proportion_test(x1 bigint, n1 bigint, x2 bigint, n2 bigint,
	margin float8 DEFAULT 0, alternative text DEFAULT 'two-sided',
	method text DEFAULT 'score',
	OUT statistic float8, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_proportion_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Mann-Whitney U test, U of x. Reference: scipy 1.10 mannwhitneyu.
CREATE FUNCTION rollout.mann_whitney(x float8[], y float8[],
	alternative text DEFAULT 'two-sided', use_continuity boolean DEFAULT true,
	method text DEFAULT 'auto',
	OUT u float8, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_mann_whitney'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Result of the Mann-Whitney aggregate.
CREATE TYPE rollout.mann_whitney_result AS (u float8, p_value float8);

CREATE FUNCTION rollout._mann_whitney_agg_transfn(internal, float8, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_mann_whitney_agg_transfn'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION rollout._mann_whitney_agg_transfn(internal, float8, boolean, text, boolean, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_mann_whitney_agg_transfn'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION rollout._mann_whitney_agg_finalfn(internal)
RETURNS rollout.mann_whitney_result
AS 'MODULE_PATHNAME', 'rollout_mann_whitney_agg_finalfn'
LANGUAGE C PARALLEL SAFE;

-- Mann-Whitney over rows: candidate rows (is_candidate) against the others.
-- Rows with a NULL value or NULL is_candidate are skipped; NULL when an arm
-- has no rows.
CREATE AGGREGATE rollout.mann_whitney_agg(value float8, is_candidate boolean) (
	SFUNC = rollout._mann_whitney_agg_transfn,
	STYPE = internal,
	FINALFUNC = rollout._mann_whitney_agg_finalfn,
	PARALLEL = SAFE
);

CREATE AGGREGATE rollout.mann_whitney_agg(value float8, is_candidate boolean,
	alternative text, use_continuity boolean, method text) (
	SFUNC = rollout._mann_whitney_agg_transfn,
	STYPE = internal,
	FINALFUNC = rollout._mann_whitney_agg_finalfn,
	PARALLEL = SAFE
);

-- Welch's t-test from summary statistics, H0: mean1 - mean2 = margin.
-- Reference: scipy 1.10 ttest_ind_from_stats(mean1 - margin, ..., equal_var=False).
CREATE FUNCTION rollout.welch_test(mean1 float8, sd1 float8, n1 bigint,
	mean2 float8, sd2 float8, n2 bigint,
	margin float8 DEFAULT 0, alternative text DEFAULT 'two-sided',
	OUT t float8, OUT df float8, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_welch_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Sample ratio mismatch: chi-square of counts against weights scaled to
-- the total. Reference: scipy 1.10 chisquare.
CREATE FUNCTION rollout.srm_test(observed bigint[], weights float8[],
	OUT chi2 float8, OUT df integer, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_srm_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Candidate-arm sample size (not rounded); the baseline arm has ratio times
-- as many. Reference: statsmodels 0.13.5 samplesize_proportions_2indep_onetail.
CREATE FUNCTION rollout.sample_size_proportions(p_baseline float8, p_candidate float8,
	alpha float8 DEFAULT 0.05, power float8 DEFAULT 0.8, ratio float8 DEFAULT 1,
	alternative text DEFAULT 'two-sided')
RETURNS float8
AS 'MODULE_PATHNAME', 'rollout_sample_size_proportions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Always-valid p-value and confidence sequence for a difference from its
-- estimate, standard error and total sample size n (both arms): the
-- normal-mixture SPRT / asymptotic confidence sequence GrowthBook uses,
-- tuned to be tightest at n = tuning.
CREATE FUNCTION rollout.sequential_test(estimate float8, std_error float8, n bigint,
	margin float8 DEFAULT 0, alternative text DEFAULT 'two-sided',
	alpha float8 DEFAULT 0.05, tuning float8 DEFAULT 5000,
	OUT p_value float8, OUT lower float8, OUT upper float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_sequential_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Privileges: these functions read no data, but like every function of the
-- extension they are callable by its roles only.
REVOKE ALL ON FUNCTION
	rollout.proportion_test(bigint, bigint, bigint, bigint, float8, text, text),
	rollout.mann_whitney(float8[], float8[], text, boolean, text),
	rollout.mann_whitney_agg(float8, boolean),
	rollout.mann_whitney_agg(float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_finalfn(internal),
	rollout.welch_test(float8, float8, bigint, float8, float8, bigint, float8, text),
	rollout.srm_test(bigint[], float8[]),
	rollout.sample_size_proportions(float8, float8, float8, float8, float8, text),
	rollout.sequential_test(float8, float8, bigint, float8, text, float8, float8)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	rollout.proportion_test(bigint, bigint, bigint, bigint, float8, text, text),
	rollout.mann_whitney(float8[], float8[], text, boolean, text),
	rollout.mann_whitney_agg(float8, boolean),
	rollout.mann_whitney_agg(float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean),
	rollout._mann_whitney_agg_transfn(internal, float8, boolean, text, boolean, text),
	rollout._mann_whitney_agg_finalfn(internal),
	rollout.welch_test(float8, float8, bigint, float8, float8, bigint, float8, text),
	rollout.srm_test(bigint[], float8[]),
	rollout.sample_size_proportions(float8, float8, float8, float8, float8, text),
	rollout.sequential_test(float8, float8, bigint, float8, text, float8, float8)
TO rollout_reader, rollout_service, rollout_operator, rollout_admin;
-- 32: the event-share test (src/stats_share.c): an always-valid, exact
-- test of the ratio of the candidate's event rate to the baseline's from
-- each arm's share of the events, per segment of constant traffic share.
-- The default gates for rates and quantiles use it (docs/statistics.md).
CREATE FUNCTION rollout.event_share_test(x_candidate bigint[], x_baseline bigint[],
	share float8[], ratio float8 DEFAULT 1, alternative text DEFAULT 'greater',
	OUT log_e float8, OUT p_value float8, OUT estimate float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rollout_event_share_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

REVOKE ALL ON FUNCTION rollout.event_share_test(bigint[], bigint[], float8[], float8, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.event_share_test(bigint[], bigint[], float8[], float8, text)
	TO rollout_reader, rollout_service, rollout_operator, rollout_admin;
-- 40: outcomes: raw outcomes partitioned by time, shadow pairs, per-window
-- aggregates with DDSketch latency/cost sketches, and what gates read.
-- Reference: docs/outcomes.md.

-- Settings of the outcome store (one row).
CREATE TABLE rollout.outcome_settings (
	id					boolean PRIMARY KEY DEFAULT true CHECK (id),
	-- Raw outcomes and shadow pairs older than this are dropped.
	retention			interval NOT NULL DEFAULT '30 days' CHECK (retention > interval '1 day'),
	-- Window aggregates older than this are deleted.
	aggregate_retention	interval NOT NULL DEFAULT '400 days' CHECK (aggregate_retention > interval '1 day'),
	-- Daily partitions created ahead by maintain_outcomes().
	premake_days		integer NOT NULL DEFAULT 3 CHECK (premake_days BETWEEN 1 AND 60)
);
INSERT INTO rollout.outcome_settings DEFAULT VALUES;

-- Per-agent quality scale; agents without a row use [0, 1].
CREATE TABLE rollout.quality_scales (
	agent	text PRIMARY KEY REFERENCES rollout.agents (name),
	min		float8 NOT NULL,
	max		float8 NOT NULL,
	CHECK (min < max)
);

-- Relcache invalidation for the per-backend outcome cache (src/outcome_cache.c).
CREATE FUNCTION rollout._outcomes_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'rollout_outcomes_invalidate'
LANGUAGE C;
REVOKE ALL ON FUNCTION rollout._outcomes_invalidate() FROM PUBLIC;
CREATE TRIGGER rollouts_outcome_cache AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF agent, baseline, candidate, strategy, state, stage, percent, stickiness, salt, variants, shadow_percent, write_intercept, rules, flags, judge_rate, pinning, drain, drain_until, drain_skipped, started_at, ended_at
	ON rollout.rollouts FOR EACH STATEMENT EXECUTE FUNCTION rollout._outcomes_invalidate();
CREATE TRIGGER quality_scales_outcome_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON rollout.quality_scales FOR EACH STATEMENT EXECUTE FUNCTION rollout._outcomes_invalidate();

------------------------------------------------------------------------------
-- The DDSketch type (src/sketch_ddsketch.c)

CREATE TYPE rollout.ddsketch;
CREATE FUNCTION rollout.ddsketch_in(cstring) RETURNS rollout.ddsketch
AS 'MODULE_PATHNAME', 'rollout_ddsketch_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_out(rollout.ddsketch) RETURNS cstring
AS 'MODULE_PATHNAME', 'rollout_ddsketch_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE rollout.ddsketch (
	INPUT = rollout.ddsketch_in,
	OUTPUT = rollout.ddsketch_out,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = extended
);

CREATE FUNCTION rollout._ddsketch_add(internal, float8) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_add_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_add(internal, float8, float8) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_add_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_merge(internal, rollout.ddsketch) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_merge_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_combine_states(internal, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_state_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_serialize(internal) RETURNS bytea
AS 'MODULE_PATHNAME', 'rollout_ddsketch_state_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_deserialize(bytea, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'rollout_ddsketch_state_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout._ddsketch_final(internal) RETURNS rollout.ddsketch
AS 'MODULE_PATHNAME', 'rollout_ddsketch_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Sketch of non-negative values, relative accuracy 1% (or alpha).
CREATE AGGREGATE rollout.ddsketch_agg(value float8) (
	SFUNC = rollout._ddsketch_add, STYPE = internal, FINALFUNC = rollout._ddsketch_final,
	COMBINEFUNC = rollout._ddsketch_combine_states,
	SERIALFUNC = rollout._ddsketch_serialize, DESERIALFUNC = rollout._ddsketch_deserialize,
	PARALLEL = SAFE
);
CREATE AGGREGATE rollout.ddsketch_agg(value float8, alpha float8) (
	SFUNC = rollout._ddsketch_add, STYPE = internal, FINALFUNC = rollout._ddsketch_final,
	COMBINEFUNC = rollout._ddsketch_combine_states,
	SERIALFUNC = rollout._ddsketch_serialize, DESERIALFUNC = rollout._ddsketch_deserialize,
	PARALLEL = SAFE
);
-- Merge of sketches (same alpha): the sketch of all their values.
CREATE AGGREGATE rollout.ddsketch_merge(sketch rollout.ddsketch) (
	SFUNC = rollout._ddsketch_merge, STYPE = internal, FINALFUNC = rollout._ddsketch_final,
	COMBINEFUNC = rollout._ddsketch_combine_states,
	SERIALFUNC = rollout._ddsketch_serialize, DESERIALFUNC = rollout._ddsketch_deserialize,
	PARALLEL = SAFE
);
CREATE FUNCTION rollout.ddsketch_combine(a rollout.ddsketch, b rollout.ddsketch) RETURNS rollout.ddsketch
AS 'MODULE_PATHNAME', 'rollout_ddsketch_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_quantile(sketch rollout.ddsketch, q float8) RETURNS float8
AS 'MODULE_PATHNAME', 'rollout_ddsketch_quantile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_quantiles(sketch rollout.ddsketch, qs float8[]) RETURNS float8[]
AS 'MODULE_PATHNAME', 'rollout_ddsketch_quantiles' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.ddsketch_count(sketch rollout.ddsketch) RETURNS bigint
AS 'MODULE_PATHNAME', 'rollout_ddsketch_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Cosine similarity of two embeddings (src/outcome_shadow.c).
CREATE FUNCTION rollout.cosine_similarity(production_embedding float4[], shadow_embedding float4[])
RETURNS float8
AS 'MODULE_PATHNAME', 'rollout_cosine_similarity' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------
-- Raw outcomes and shadow pairs, partitioned by day (UTC) with a default
-- partition, so an insert never fails for want of a partition.

-- Aggregation window: fixed at 5 minutes, aligned on 2000-01-01 00:00 UTC.
-- No SET clause, so the planner inlines it (gates call it a few dozen times
-- per rollout and tick; a SET made each call a separate SQL-function run of
-- about 35 us). Every name in the body is qualified, so the caller's
-- search_path cannot change its meaning.
CREATE FUNCTION rollout.window_start(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.date_bin('5 minutes'::pg_catalog.interval, at,
								 '2000-01-01 00:00:00+00'::pg_catalog.timestamptz) $$;

CREATE TABLE rollout.outcomes (
	id			bigserial,
	-- Top-level transaction id of the writer; refresh folds by it.
	txid		bigint NOT NULL DEFAULT pg_catalog.txid_current(),
	at			timestamptz NOT NULL,
	agent		text NOT NULL,
	version		integer NOT NULL,
	rollout_id	bigint,
	stage		integer,
	arm			text,
	in_arm		boolean NOT NULL DEFAULT false,
	shadow		boolean NOT NULL DEFAULT false,
	unit		text,
	success		boolean,
	quality		float8,
	latency_ms	float8,
	cost		float8,
	error		boolean NOT NULL DEFAULT false,
	safety_flag	boolean NOT NULL DEFAULT false,
	feedback	smallint,
	metrics		jsonb NOT NULL DEFAULT '{}',
	-- The login that wrote the outcome (session_user of record(), the batch
	-- or the COPY into rollout.outcome_staging).
	author		text NOT NULL DEFAULT session_user
) PARTITION BY RANGE (at);
CREATE TABLE rollout.outcomes_default PARTITION OF rollout.outcomes DEFAULT;
-- Indexes are per partition, not on the parent: a daily partition is not
-- part of the extension, and pg_dump restores its indexes itself, which
-- would collide with those ATTACH PARTITION creates from a parent's index.
-- _ensure_partition() copies the default partition's indexes.
CREATE INDEX outcomes_arm_at_idx ON rollout.outcomes_default (rollout_id, arm, at);
CREATE INDEX outcomes_txid_idx ON rollout.outcomes_default USING brin (txid);

CREATE TABLE rollout.shadow_pairs (
	id					bigserial,
	txid				bigint NOT NULL DEFAULT pg_catalog.txid_current(),
	at					timestamptz NOT NULL,
	agent				text NOT NULL,
	rollout_id			bigint,
	stage				integer,
	production_version	integer NOT NULL,
	shadow_version		integer NOT NULL,
	unit				text,
	similarity			float8 CHECK (similarity BETWEEN -1 AND 1),
	decisions_agree		boolean,
	production_latency_ms float8,
	shadow_latency_ms	float8,
	production_cost		float8,
	shadow_cost			float8
) PARTITION BY RANGE (at);
CREATE TABLE rollout.shadow_pairs_default PARTITION OF rollout.shadow_pairs DEFAULT;
CREATE INDEX shadow_pairs_rollout_at_idx ON rollout.shadow_pairs_default (rollout_id, at);
CREATE INDEX shadow_pairs_txid_idx ON rollout.shadow_pairs_default USING brin (txid);

-- Staging table for COPY: services copy rows in, drain_outcome_staging()
-- moves them into rollout.outcomes in one statement.
CREATE TABLE rollout.outcome_staging (
	id			bigserial PRIMARY KEY,
	agent		text NOT NULL,
	version		integer NOT NULL,
	unit		text,
	success		boolean,
	quality		float8,
	latency_ms	float8,
	cost		float8,
	error		boolean NOT NULL DEFAULT false,
	safety_flag	boolean NOT NULL DEFAULT false,
	feedback	smallint,
	metrics		jsonb NOT NULL DEFAULT '{}',
	shadow		boolean NOT NULL DEFAULT false,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- Set by a trigger to the login that staged the row.
	author		text NOT NULL DEFAULT session_user,
	-- The decision_token route() returned for the request, if any.
	decision_token text
);

-- Rows that could not be folded or drained, with the error: refresh_aggregates()
-- moves stored outcomes and shadow pairs whose values break the documented
-- bounds here, and drain_outcome_staging() staged rows it cannot insert, so
-- one bad row never stops aggregation or draining for everyone else.
-- Operators read it; rollout_admin deletes what has been dealt with.
CREATE TABLE rollout.outcome_rejects (
	id			bigserial PRIMARY KEY,
	rejected_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	source		text NOT NULL CHECK (source IN ('outcomes', 'shadow_pairs', 'outcome_staging')),
	agent		text,
	error		text NOT NULL,
	sqlstate	text,
	-- The row as it was, as JSON.
	row_data	jsonb NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_rejects', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_rejects_id_seq', '');
GRANT SELECT ON rollout.outcome_rejects TO rollout_reader, rollout_operator;
GRANT SELECT, DELETE ON rollout.outcome_rejects TO rollout_admin;

------------------------------------------------------------------------------
-- Window aggregates: one row per (rollout, stage, arm, shadow, window).

CREATE TABLE rollout.outcome_windows (
	rollout_id		bigint NOT NULL,
	window_start	timestamptz NOT NULL,
	arm				text NOT NULL,
	shadow			boolean NOT NULL,
	stage			integer NOT NULL,
	n				bigint NOT NULL,
	n_success		bigint NOT NULL,	-- success = true
	n_success_known	bigint NOT NULL,	-- success not null
	n_error			bigint NOT NULL,
	n_safety		bigint NOT NULL,
	n_feedback		bigint NOT NULL,
	sum_feedback	float8 NOT NULL,
	n_quality		bigint NOT NULL,
	sum_quality		float8 NOT NULL,
	sumsq_quality	float8 NOT NULL,
	n_latency		bigint NOT NULL,
	sum_latency		float8 NOT NULL,
	sumsq_latency	float8 NOT NULL,
	n_cost			bigint NOT NULL,
	sum_cost		float8 NOT NULL,
	sumsq_cost		float8 NOT NULL,
	latency_sketch	rollout.ddsketch,
	cost_sketch		rollout.ddsketch,
	-- {"metric": {"n": .., "sum": .., "sumsq": ..}, ...}
	metrics			jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (rollout_id, window_start, arm, shadow, stage)
);

CREATE TABLE rollout.shadow_windows (
	rollout_id				bigint NOT NULL,
	window_start			timestamptz NOT NULL,
	stage					integer NOT NULL,
	n						bigint NOT NULL,
	n_similarity			bigint NOT NULL,
	sum_similarity			float8 NOT NULL,
	sumsq_similarity		float8 NOT NULL,
	n_agree_known			bigint NOT NULL,
	n_agree					bigint NOT NULL,
	n_production_latency	bigint NOT NULL,
	sum_production_latency	float8 NOT NULL,
	n_shadow_latency		bigint NOT NULL,
	sum_shadow_latency		float8 NOT NULL,
	n_production_cost		bigint NOT NULL,
	sum_production_cost		float8 NOT NULL,
	n_shadow_cost			bigint NOT NULL,
	sum_shadow_cost			float8 NOT NULL,
	PRIMARY KEY (rollout_id, window_start, stage)
);

-- Where folding stands: every row whose txid is below folded_below is in
-- the aggregates, and no row at or above it is.
CREATE TABLE rollout.outcome_watermark (
	id				boolean PRIMARY KEY DEFAULT true CHECK (id),
	folded_below	bigint NOT NULL DEFAULT 0,
	refreshed_at	timestamptz,
	refreshed_upto	timestamptz,
	outcomes_folded	bigint NOT NULL DEFAULT 0,
	pairs_folded	bigint NOT NULL DEFAULT 0
);
INSERT INTO rollout.outcome_watermark DEFAULT VALUES;

-- Merges two custom-metric maps {"m": {"n", "sum", "sumsq"}}.
CREATE FUNCTION rollout.metric_stats_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_object_agg(k, jsonb_build_object('n', n, 'sum', s, 'sumsq', ss)), '{}')
	FROM (SELECT k, sum(n) AS n, sum(s) AS s, sum(ss) AS ss
		  FROM (SELECT e.key AS k, (e.value->>'n')::bigint AS n, (e.value->>'sum')::float8 AS s,
					   (e.value->>'sumsq')::float8 AS ss
				FROM jsonb_each(coalesce(a, '{}')) e
				UNION ALL
				SELECT e.key, (e.value->>'n')::bigint, (e.value->>'sum')::float8,
					   (e.value->>'sumsq')::float8
				FROM jsonb_each(coalesce(b, '{}')) e) x
		  GROUP BY k) y
$$;
CREATE AGGREGATE rollout.metric_stats_agg(jsonb) (
	SFUNC = rollout.metric_stats_merge, STYPE = jsonb, INITCOND = '{}'
);

------------------------------------------------------------------------------
-- Recording

-- One outcome (src/outcome_record.c). Called per request by services.
-- decision_token (from route()) attributes it to the decision that served
-- the request; without it, to the rollout covering `at`. Not declared
-- SECURITY DEFINER: the C function runs its statements as this function's
-- owner with search_path pg_catalog itself, which costs less per call than
-- fmgr's search_path switch (docs/security.md).
CREATE FUNCTION rollout.record(agent text, version integer, unit text DEFAULT NULL,
							   success boolean DEFAULT NULL, quality float8 DEFAULT NULL,
							   latency_ms float8 DEFAULT NULL, cost float8 DEFAULT NULL,
							   error boolean DEFAULT false, safety_flag boolean DEFAULT false,
							   feedback smallint DEFAULT NULL, metrics jsonb DEFAULT '{}',
							   shadow boolean DEFAULT false, at timestamptz DEFAULT pg_catalog.now(),
							   decision_token text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rollout_record'
LANGUAGE C VOLATILE;

-- Validates one batch row like record() and returns where it belongs.
CREATE FUNCTION rollout._outcome_resolve(agent text, version integer, quality float8,
										 latency_ms float8, cost float8, metrics jsonb,
										 at timestamptz, row_number integer,
										 decision_token text DEFAULT NULL,
										 shadow boolean DEFAULT false,
										 OUT rollout_id bigint, OUT stage integer,
										 OUT arm text, OUT in_arm boolean, OUT at timestamptz)
AS 'MODULE_PATHNAME', 'rollout_outcome_resolve'
LANGUAGE C STABLE;

-- NULL when a stored outcome's values are within the bounds aggregation
-- relies on (src/outcome_record.c), else what is wrong with them.
CREATE FUNCTION rollout._outcome_problem(quality float8, latency_ms float8, cost float8,
										 metrics jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'rollout_outcome_problem'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION rollout._outcome_problem(float8, float8, float8, jsonb) FROM PUBLIC;

-- Raises array_subscript_error naming argname unless the array has at most one dimension.
CREATE FUNCTION rollout._check_batch_dims(ndims integer, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF ndims > 1 THEN
		RAISE EXCEPTION 'argument "%" must be a one-dimensional array', argname
			USING ERRCODE = 'array_subscript_error',
				  DETAIL = pg_catalog.format('It has %s dimensions.', ndims);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION rollout._check_batch_dims(integer, text) FROM PUBLIC;

-- Where an outcome of (agent, version) at `at` would be counted.
CREATE FUNCTION rollout.outcome_context(agent text, version integer,
										at timestamptz DEFAULT pg_catalog.now(),
										OUT rollout_id bigint, OUT stage integer, OUT arm text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.rollout_id, r.stage, r.arm
	FROM rollout._outcome_resolve(agent, version, NULL, NULL, NULL, NULL, at, 0) r
$$;

-- Raises an error naming `argname` when an array's length differs from n.
CREATE FUNCTION rollout._check_batch_length(len integer, n integer, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF len IS NOT NULL AND len <> n THEN
		RAISE EXCEPTION 'argument "%" has % elements, "versions" has %', argname, len, n
			USING ERRCODE = 'array_subscript_error',
				  DETAIL = 'Every array of a batch must have one element per outcome.';
	END IF;
END
$$;

-- A batch of one agent's outcomes as parallel arrays; all rows or none.
-- decision_tokens[i] attributes row i to the decision that served it.
CREATE FUNCTION rollout.record_batch(agent text, versions integer[], units text[] DEFAULT NULL,
									 successes boolean[] DEFAULT NULL, qualities float8[] DEFAULT NULL,
									 latencies_ms float8[] DEFAULT NULL, costs float8[] DEFAULT NULL,
									 errors boolean[] DEFAULT NULL, safety_flags boolean[] DEFAULT NULL,
									 feedbacks smallint[] DEFAULT NULL, metrics jsonb[] DEFAULT NULL,
									 shadows boolean[] DEFAULT NULL, ats timestamptz[] DEFAULT NULL,
									 decision_tokens text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer := coalesce(cardinality(versions), 0);
	inserted bigint;
	long_unit bigint;
BEGIN
	IF versions IS NULL THEN
		RAISE EXCEPTION 'argument "versions" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM rollout._require_service(agent);
	PERFORM rollout._check_batch_length(cardinality(units), n, 'units'),
			rollout._check_batch_length(cardinality(successes), n, 'successes'),
			rollout._check_batch_length(cardinality(qualities), n, 'qualities'),
			rollout._check_batch_length(cardinality(latencies_ms), n, 'latencies_ms'),
			rollout._check_batch_length(cardinality(costs), n, 'costs'),
			rollout._check_batch_length(cardinality(errors), n, 'errors'),
			rollout._check_batch_length(cardinality(safety_flags), n, 'safety_flags'),
			rollout._check_batch_length(cardinality(feedbacks), n, 'feedbacks'),
			rollout._check_batch_length(cardinality(metrics), n, 'metrics'),
			rollout._check_batch_length(cardinality(shadows), n, 'shadows'),
			rollout._check_batch_length(cardinality(ats), n, 'ats'),
			rollout._check_batch_length(cardinality(decision_tokens), n, 'decision_tokens');
	PERFORM rollout._check_batch_dims(array_ndims(versions), 'versions'),
			rollout._check_batch_dims(array_ndims(units), 'units'),
			rollout._check_batch_dims(array_ndims(successes), 'successes'),
			rollout._check_batch_dims(array_ndims(qualities), 'qualities'),
			rollout._check_batch_dims(array_ndims(latencies_ms), 'latencies_ms'),
			rollout._check_batch_dims(array_ndims(costs), 'costs'),
			rollout._check_batch_dims(array_ndims(errors), 'errors'),
			rollout._check_batch_dims(array_ndims(safety_flags), 'safety_flags'),
			rollout._check_batch_dims(array_ndims(feedbacks), 'feedbacks'),
			rollout._check_batch_dims(array_ndims(metrics), 'metrics'),
			rollout._check_batch_dims(array_ndims(shadows), 'shadows'),
			rollout._check_batch_dims(array_ndims(ats), 'ats'),
			rollout._check_batch_dims(array_ndims(decision_tokens), 'decision_tokens');
	SELECT min(u.i) INTO long_unit FROM unnest(units) WITH ORDINALITY AS u(x, i)
	WHERE octet_length(u.x) > 1024;
	IF long_unit IS NOT NULL THEN
		RAISE EXCEPTION 'batch row %: argument "unit" is too long', long_unit
			USING ERRCODE = 'string_data_right_truncation',
				  DETAIL = 'The limit is 1024 bytes.';
	END IF;
	INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id, stage, arm, in_arm,
								  shadow, unit, success, quality, latency_ms, cost, error,
								  safety_flag, feedback, metrics)
	SELECT pg_catalog.txid_current(), c.at, agent, b.v, c.rollout_id, c.stage, c.arm, c.in_arm,
		   coalesce(b.sh, false), b.u, b.s, b.q, b.l, b.c, coalesce(b.e, false),
		   coalesce(b.sf, false), b.f, coalesce(b.m, '{}')
	FROM unnest(versions, units, successes, qualities, latencies_ms, costs, errors,
				safety_flags, feedbacks, metrics, shadows, ats, decision_tokens)
			WITH ORDINALITY AS b(v, u, s, q, l, c, e, sf, f, m, sh, t, tok, ord)
		CROSS JOIN LATERAL rollout._outcome_resolve(agent, b.v, b.q, b.l, b.c, b.m,
													coalesce(b.t, pg_catalog.now()),
													b.ord::integer, b.tok,
													coalesce(b.sh, false)) c
	ORDER BY b.ord;
	GET DIAGNOSTICS inserted = ROW_COUNT;
	RETURN inserted;
END
$$;

-- Moves every staged row into rollout.outcomes, in one statement when every
-- row is good. When one is not, the rows are moved one by one and each row
-- that cannot be inserted goes to rollout.outcome_rejects with its error, so
-- one bad row never blocks the drain. Returns the number of rows moved.
CREATE FUNCTION rollout.drain_outcome_staging() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	moved bigint := 0;
	s rollout.outcome_staging;
	v_state text;
	v_msg text;
BEGIN
	BEGIN
		WITH d AS (DELETE FROM rollout.outcome_staging RETURNING *),
		o AS (SELECT d.*, row_number() OVER (ORDER BY d.id) AS pos FROM d),
		ins AS (
			INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id, stage, arm, in_arm,
										  shadow, unit, success, quality, latency_ms, cost, error,
										  safety_flag, feedback, metrics, author)
			SELECT pg_catalog.txid_current(), c.at, o.agent, o.version, c.rollout_id, c.stage,
				   c.arm, c.in_arm, o.shadow, o.unit, o.success, o.quality, o.latency_ms, o.cost,
				   o.error, o.safety_flag, o.feedback, o.metrics, o.author
			FROM o CROSS JOIN LATERAL rollout._outcome_resolve(o.agent, o.version, o.quality,
															   o.latency_ms, o.cost, o.metrics,
															   o.at, o.pos::integer,
															   o.decision_token, o.shadow) c
			WHERE octet_length(o.unit) <= 1024 OR o.unit IS NULL
			   OR rollout._raise_long_unit(o.pos)
			ORDER BY o.pos
			RETURNING 1)
		SELECT count(*) INTO moved FROM ins;
		RETURN moved;
	EXCEPTION WHEN OTHERS THEN
		moved := 0;		-- the statement was undone; move row by row below
	END;
	FOR s IN SELECT * FROM rollout.outcome_staging ORDER BY id LOOP
		BEGIN
			IF octet_length(s.unit) > 1024 THEN
				PERFORM rollout._raise_long_unit(0);
			END IF;
			INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id, stage, arm, in_arm,
										  shadow, unit, success, quality, latency_ms, cost, error,
										  safety_flag, feedback, metrics, author)
			SELECT pg_catalog.txid_current(), c.at, s.agent, s.version, c.rollout_id, c.stage,
				   c.arm, c.in_arm, s.shadow, s.unit, s.success, s.quality, s.latency_ms, s.cost,
				   s.error, s.safety_flag, s.feedback, s.metrics, s.author
			FROM rollout._outcome_resolve(s.agent, s.version, s.quality, s.latency_ms, s.cost,
										  s.metrics, s.at, 0, s.decision_token, s.shadow) c;
			moved := moved + 1;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
			INSERT INTO rollout.outcome_rejects (source, agent, error, sqlstate, row_data)
			VALUES ('outcome_staging', left(s.agent, 63), left(v_msg, 1000), v_state,
					pg_catalog.to_jsonb(s));
		END;
		DELETE FROM rollout.outcome_staging WHERE id = s.id;
	END LOOP;
	RETURN moved;
END
$$;

-- Raises string_data_right_truncation for a unit over 1024 bytes (batch row pos).
CREATE FUNCTION rollout._raise_long_unit(pos bigint) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION '%argument "unit" is too long',
		CASE WHEN pos > 0 THEN pg_catalog.format('batch row %s: ', pos) ELSE '' END
		USING ERRCODE = 'string_data_right_truncation',
			  DETAIL = 'The limit is 1024 bytes.';
END
$$;
REVOKE ALL ON FUNCTION rollout._raise_long_unit(bigint) FROM PUBLIC;

-- Raises invalid_parameter_value naming argname unless value is NULL or a
-- finite number >= 0, and numeric_value_out_of_range above 1e12 (the outcome bound).
CREATE FUNCTION rollout._check_non_negative(value float8, argname text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF value IS NOT NULL AND (value < 0 OR value = 'NaN' OR value = 'Infinity') THEN
		RAISE EXCEPTION 'argument "%" must be a finite non-negative number', argname
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The value given was %s.', value);
	END IF;
	IF value > 1e12 THEN
		RAISE EXCEPTION 'argument "%" is out of range', argname
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = pg_catalog.format('The limit is 1e+12; the value given was %s.', value);
	END IF;
END
$$;

-- A production/shadow pair. similarity is the caller's score, or the cosine
-- of the two embeddings; returns the similarity stored. decision_token is
-- the one route() returned for the production request.
CREATE FUNCTION rollout.record_shadow_pair(agent text, production_version integer,
										   shadow_version integer, unit text DEFAULT NULL,
										   similarity float8 DEFAULT NULL,
										   production_embedding float4[] DEFAULT NULL,
										   shadow_embedding float4[] DEFAULT NULL,
										   decisions_agree boolean DEFAULT NULL,
										   production_latency_ms float8 DEFAULT NULL,
										   shadow_latency_ms float8 DEFAULT NULL,
										   production_cost float8 DEFAULT NULL,
										   shadow_cost float8 DEFAULT NULL,
										   at timestamptz DEFAULT pg_catalog.now(),
										   decision_token text DEFAULT NULL)
RETURNS float8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ctx record;
	sim float8 := similarity;
BEGIN
	IF production_version IS NULL OR shadow_version IS NULL THEN
		RAISE EXCEPTION 'argument "%" must not be null',
			CASE WHEN production_version IS NULL THEN 'production_version' ELSE 'shadow_version' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF octet_length(unit) > 1024 THEN
		PERFORM rollout._raise_long_unit(0);
	END IF;
	PERFORM rollout._check_non_negative(production_latency_ms, 'production_latency_ms'),
			rollout._check_non_negative(shadow_latency_ms, 'shadow_latency_ms'),
			rollout._check_non_negative(production_cost, 'production_cost'),
			rollout._check_non_negative(shadow_cost, 'shadow_cost');
	IF (production_embedding IS NULL) <> (shadow_embedding IS NULL) THEN
		RAISE EXCEPTION 'argument "%" is missing',
			CASE WHEN production_embedding IS NULL THEN 'production_embedding' ELSE 'shadow_embedding' END
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Pass both embeddings, or neither.';
	END IF;
	IF production_embedding IS NOT NULL THEN
		IF similarity IS NOT NULL THEN
			RAISE EXCEPTION 'argument "similarity" conflicts with the embeddings'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Pass either a similarity score or the two embeddings, not both.';
		END IF;
		sim := rollout.cosine_similarity(production_embedding, shadow_embedding);
	ELSIF sim IS NOT NULL AND NOT (sim BETWEEN -1 AND 1) THEN
		RAISE EXCEPTION 'argument "similarity" must be between -1 and 1'
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = pg_catalog.format('The value given was %s.', sim);
	END IF;
	PERFORM rollout._require_service(agent);
	-- Validates agent, both versions and time; the rollout comes from the
	-- decision that served the production version (its token), else from
	-- production's rollout at `at`.
	PERFORM rollout._outcome_resolve(agent, shadow_version, NULL, NULL, NULL, NULL, at, 0);
	SELECT * INTO ctx FROM rollout._outcome_resolve(agent, production_version, NULL, NULL, NULL,
												   NULL, at, 0, decision_token, false);
	INSERT INTO rollout.shadow_pairs (txid, at, agent, rollout_id, stage, production_version,
									  shadow_version, unit, similarity, decisions_agree,
									  production_latency_ms, shadow_latency_ms,
									  production_cost, shadow_cost)
	VALUES (pg_catalog.txid_current(), ctx.at, agent, ctx.rollout_id, ctx.stage,
			production_version, shadow_version, unit, sim, decisions_agree,
			production_latency_ms, shadow_latency_ms, production_cost, shadow_cost);
	RETURN sim;
END
$$;

------------------------------------------------------------------------------
-- Folding raw rows into window aggregates

-- Folds every outcome and shadow pair whose writing transaction finished
-- (txid below the snapshot's xmin) and is not folded yet. Concurrent calls
-- serialize on the watermark row. `upto` is the caller's clock, kept as
-- refreshed_upto. Returns the number of outcomes folded.
CREATE FUNCTION rollout.refresh_aggregates(upto timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	lo bigint;
	hi bigint;
	folded bigint := 0;
	pairs bigint := 0;
BEGIN
	SELECT w.folded_below INTO lo FROM rollout.outcome_watermark w FOR UPDATE;
	-- A new statement, so a new snapshot: every transaction with an id
	-- below its xmin has finished, and its committed rows are visible below.
	hi := pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot());
	IF hi > lo THEN
		-- Rows whose values break the bounds (written before they were
		-- enforced, or by hand) are moved to the rejects, never folded: the
		-- sums below cannot overflow whatever else is in the table.
		WITH bad AS (
			DELETE FROM rollout.outcomes o
			WHERE o.txid >= lo AND o.txid < hi AND o.in_arm
			  AND rollout._outcome_problem(o.quality, o.latency_ms, o.cost, o.metrics) IS NOT NULL
			RETURNING o.*)
		INSERT INTO rollout.outcome_rejects (source, agent, error, sqlstate, row_data)
		SELECT 'outcomes', bad.agent,
			   rollout._outcome_problem(bad.quality, bad.latency_ms, bad.cost, bad.metrics),
			   '22003', pg_catalog.to_jsonb(bad)
		FROM bad;
		WITH bad AS (
			DELETE FROM rollout.shadow_pairs p
			WHERE p.txid >= lo AND p.txid < hi AND p.rollout_id IS NOT NULL
			  AND NOT (coalesce(p.production_latency_ms, 0) BETWEEN 0 AND 1e12
					   AND coalesce(p.shadow_latency_ms, 0) BETWEEN 0 AND 1e12
					   AND coalesce(p.production_cost, 0) BETWEEN 0 AND 1e12
					   AND coalesce(p.shadow_cost, 0) BETWEEN 0 AND 1e12)
			RETURNING p.*)
		INSERT INTO rollout.outcome_rejects (source, agent, error, sqlstate, row_data)
		SELECT 'shadow_pairs', bad.agent,
			   'a latency or cost is out of range (the limit is 1e+12)', '22003',
			   pg_catalog.to_jsonb(bad)
		FROM bad;

		WITH g AS (
			SELECT o.rollout_id, rollout.window_start(o.at) AS ws, o.arm, o.shadow, o.stage,
				   count(*) AS n,
				   count(*) FILTER (WHERE o.success) AS n_success,
				   count(o.success) AS n_success_known,
				   count(*) FILTER (WHERE o.error) AS n_error,
				   count(*) FILTER (WHERE o.safety_flag) AS n_safety,
				   count(o.feedback) AS n_feedback,
				   coalesce(sum(o.feedback), 0)::float8 AS sum_feedback,
				   count(o.quality) AS n_quality,
				   coalesce(sum(o.quality), 0) AS sum_quality,
				   coalesce(sum(o.quality * o.quality), 0) AS sumsq_quality,
				   count(o.latency_ms) AS n_latency,
				   coalesce(sum(o.latency_ms), 0) AS sum_latency,
				   coalesce(sum(o.latency_ms * o.latency_ms), 0) AS sumsq_latency,
				   count(o.cost) AS n_cost,
				   coalesce(sum(o.cost), 0) AS sum_cost,
				   coalesce(sum(o.cost * o.cost), 0) AS sumsq_cost,
				   rollout.ddsketch_agg(o.latency_ms) AS latency_sketch,
				   rollout.ddsketch_agg(o.cost) AS cost_sketch
			FROM rollout.outcomes o
			WHERE o.txid >= lo AND o.txid < hi AND o.in_arm
			GROUP BY 1, 2, 3, 4, 5),
		ins AS (
			INSERT INTO rollout.outcome_windows AS w
				(rollout_id, window_start, arm, shadow, stage, n, n_success, n_success_known,
				 n_error, n_safety, n_feedback, sum_feedback, n_quality, sum_quality,
				 sumsq_quality, n_latency, sum_latency, sumsq_latency, n_cost, sum_cost,
				 sumsq_cost, latency_sketch, cost_sketch)
			SELECT * FROM g
			ON CONFLICT (rollout_id, window_start, arm, shadow, stage) DO UPDATE SET
				n = w.n + excluded.n,
				n_success = w.n_success + excluded.n_success,
				n_success_known = w.n_success_known + excluded.n_success_known,
				n_error = w.n_error + excluded.n_error,
				n_safety = w.n_safety + excluded.n_safety,
				n_feedback = w.n_feedback + excluded.n_feedback,
				sum_feedback = w.sum_feedback + excluded.sum_feedback,
				n_quality = w.n_quality + excluded.n_quality,
				sum_quality = w.sum_quality + excluded.sum_quality,
				sumsq_quality = w.sumsq_quality + excluded.sumsq_quality,
				n_latency = w.n_latency + excluded.n_latency,
				sum_latency = w.sum_latency + excluded.sum_latency,
				sumsq_latency = w.sumsq_latency + excluded.sumsq_latency,
				n_cost = w.n_cost + excluded.n_cost,
				sum_cost = w.sum_cost + excluded.sum_cost,
				sumsq_cost = w.sumsq_cost + excluded.sumsq_cost,
				latency_sketch = rollout.ddsketch_combine(w.latency_sketch, excluded.latency_sketch),
				cost_sketch = rollout.ddsketch_combine(w.cost_sketch, excluded.cost_sketch)
			RETURNING 1)
		SELECT coalesce(sum(g.n), 0) INTO folded FROM g;

		-- Custom metrics: per window and name, n / sum / sumsq.
		WITH m AS (
			SELECT o.rollout_id, rollout.window_start(o.at) AS ws, o.arm, o.shadow, o.stage,
				   e.key, count(*) AS n, sum(e.value::float8) AS s,
				   sum(e.value::float8 * e.value::float8) AS ss
			FROM rollout.outcomes o CROSS JOIN LATERAL jsonb_each(o.metrics) e
			WHERE o.txid >= lo AND o.txid < hi AND o.in_arm AND o.metrics <> '{}'
			GROUP BY 1, 2, 3, 4, 5, 6),
		j AS (
			SELECT rollout_id, ws, arm, shadow, stage,
				   jsonb_object_agg(key, jsonb_build_object('n', n, 'sum', s, 'sumsq', ss)) AS stats
			FROM m GROUP BY 1, 2, 3, 4, 5)
		UPDATE rollout.outcome_windows w
		SET metrics = rollout.metric_stats_merge(w.metrics, j.stats)
		FROM j
		WHERE w.rollout_id = j.rollout_id AND w.window_start = j.ws AND w.arm = j.arm
		  AND w.shadow = j.shadow AND w.stage = j.stage;

		WITH g AS (
			SELECT p.rollout_id, rollout.window_start(p.at) AS ws, p.stage, count(*) AS n,
				   count(p.similarity) AS n_similarity,
				   coalesce(sum(p.similarity), 0) AS sum_similarity,
				   coalesce(sum(p.similarity * p.similarity), 0) AS sumsq_similarity,
				   count(p.decisions_agree) AS n_agree_known,
				   count(*) FILTER (WHERE p.decisions_agree) AS n_agree,
				   count(p.production_latency_ms), coalesce(sum(p.production_latency_ms), 0),
				   count(p.shadow_latency_ms), coalesce(sum(p.shadow_latency_ms), 0),
				   count(p.production_cost), coalesce(sum(p.production_cost), 0),
				   count(p.shadow_cost), coalesce(sum(p.shadow_cost), 0)
			FROM rollout.shadow_pairs p
			WHERE p.txid >= lo AND p.txid < hi AND p.rollout_id IS NOT NULL
			GROUP BY 1, 2, 3),
		ins AS (
			INSERT INTO rollout.shadow_windows AS w
			SELECT * FROM g
			ON CONFLICT (rollout_id, window_start, stage) DO UPDATE SET
				n = w.n + excluded.n,
				n_similarity = w.n_similarity + excluded.n_similarity,
				sum_similarity = w.sum_similarity + excluded.sum_similarity,
				sumsq_similarity = w.sumsq_similarity + excluded.sumsq_similarity,
				n_agree_known = w.n_agree_known + excluded.n_agree_known,
				n_agree = w.n_agree + excluded.n_agree,
				n_production_latency = w.n_production_latency + excluded.n_production_latency,
				sum_production_latency = w.sum_production_latency + excluded.sum_production_latency,
				n_shadow_latency = w.n_shadow_latency + excluded.n_shadow_latency,
				sum_shadow_latency = w.sum_shadow_latency + excluded.sum_shadow_latency,
				n_production_cost = w.n_production_cost + excluded.n_production_cost,
				sum_production_cost = w.sum_production_cost + excluded.sum_production_cost,
				n_shadow_cost = w.n_shadow_cost + excluded.n_shadow_cost,
				sum_shadow_cost = w.sum_shadow_cost + excluded.sum_shadow_cost
			RETURNING 1)
		SELECT coalesce(sum(g.n), 0) INTO pairs FROM g;
	END IF;
	UPDATE rollout.outcome_watermark
	SET folded_below = greatest(lo, hi), refreshed_at = pg_catalog.clock_timestamp(),
		refreshed_upto = upto, outcomes_folded = outcomes_folded + folded,
		pairs_folded = pairs_folded + pairs;
	RETURN folded;
END
$$;

------------------------------------------------------------------------------
-- Partitions and retention

-- Creates the daily partition [day, day + 1) of rollout.<parent> unless it
-- exists, with the indexes of the default partition, moving rows of that
-- day out of the default partition first.
CREATE FUNCTION rollout._ensure_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	part text := parent || '_p' || to_char(day, 'YYYYMMDD');
	lo timestamptz := (day::timestamp AT TIME ZONE 'UTC');
	hi timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
	idx record;
BEGIN
	IF to_regclass('rollout.' || part) IS NOT NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('CREATE TABLE rollout.%I (LIKE rollout.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
				   part, parent);
	FOR idx IN
		SELECT pg_get_indexdef(i.indexrelid) AS def
		FROM pg_index i
		WHERE i.indrelid = ('rollout.' || parent || '_default')::regclass
		ORDER BY i.indexrelid
	LOOP
		EXECUTE regexp_replace(idx.def, '^CREATE (UNIQUE )?INDEX \S+ ON \S+ ',
							   format('CREATE \1INDEX ON rollout.%I ', part));
	END LOOP;
	EXECUTE format('WITH m AS (DELETE FROM rollout.%I WHERE at >= $1 AND at < $2 RETURNING *)'
				   ' INSERT INTO rollout.%I SELECT * FROM m', parent || '_default', part)
		USING lo, hi;
	EXECUTE format('ALTER TABLE rollout.%I ATTACH PARTITION rollout.%I FOR VALUES FROM (%L) TO (%L)',
				   parent, part, lo, hi);
	RETURN true;
END
$$;

-- How far ahead of the server clock a caller's `at` may lie
-- (rollout.clock_tolerance, seconds); NULL when the check is off (-1).
CREATE FUNCTION rollout._clock_tolerance() RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v text := pg_catalog.current_setting('rollout.clock_tolerance', true);
BEGIN
	IF v IS NULL OR v = '' THEN
		RETURN interval '1 hour';
	ELSIF v ~ '^-' THEN
		RETURN NULL;
	ELSIF v ~ '^[0-9]+$' THEN
		RETURN pg_catalog.make_interval(secs => v::float8);
	END IF;
	RETURN v::interval;
END
$$;

-- Creates the partitions of the coming days, folds what is pending, drops
-- partitions past rollout.outcome_settings.retention and deletes window
-- aggregates past aggregate_retention. Returns what it did. The worker's
-- tick or a cron job calls it (docs/outcomes.md).
CREATE FUNCTION rollout.maintain_outcomes(at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE(action text, object text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s rollout.outcome_settings;
	today date := (at AT TIME ZONE 'UTC')::date;
	cutoff timestamptz;
	parent text;
	p record;
	n bigint;
	v_tolerance interval := rollout._clock_tolerance();
	v_done jsonb := '[]';
BEGIN
	IF at IS NULL OR NOT pg_catalog.isfinite(at) THEN
		RAISE EXCEPTION 'argument "at" must be a finite time'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v_tolerance IS NOT NULL AND at > pg_catalog.now() + v_tolerance THEN
		RAISE EXCEPTION 'argument "at" is too far in the future'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('It is %s; maintenance may run at most %s ahead of the server clock (rollout.clock_tolerance), so that retention cannot drop outcomes that are still young.',
											 at, v_tolerance);
	END IF;
	SELECT * INTO s FROM rollout.outcome_settings;
	cutoff := at - s.retention;
	PERFORM rollout.refresh_aggregates(at);
	FOREACH parent IN ARRAY ARRAY['outcomes', 'shadow_pairs'] LOOP
		FOR d IN 0 .. s.premake_days - 1 LOOP
			IF rollout._ensure_partition(parent, today + d) THEN
				action := 'create partition';
				object := 'rollout.' || parent || '_p' || to_char(today + d, 'YYYYMMDD');
				RETURN NEXT;
			END IF;
		END LOOP;
		FOR p IN
			SELECT c.relname
			FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = ('rollout.' || parent)::regclass
			  AND c.relname ~ ('^' || parent || '_p[0-9]{8}$')
			  AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
			ORDER BY c.relname
		LOOP
			EXECUTE format('SELECT count(*) FROM rollout.%I', p.relname) INTO n;
			EXECUTE format('DROP TABLE rollout.%I', p.relname);
			action := 'drop partition';
			object := 'rollout.' || p.relname;
			v_done := v_done || jsonb_build_object('action', action, 'object', object, 'rows', n);
			RETURN NEXT;
		END LOOP;
		EXECUTE format('DELETE FROM rollout.%I WHERE at < $1', parent || '_default') USING cutoff;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n > 0 THEN
			action := 'delete expired rows';
			object := format('rollout.%s_default (%s rows)', parent, n);
			v_done := v_done || jsonb_build_object('action', action, 'object', 'rollout.' || parent || '_default', 'rows', n);
			RETURN NEXT;
		END IF;
	END LOOP;
	DELETE FROM rollout.outcome_windows WHERE window_start < at - s.aggregate_retention;
	GET DIAGNOSTICS n = ROW_COUNT;
	DELETE FROM rollout.shadow_windows WHERE window_start < at - s.aggregate_retention;
	IF n > 0 THEN
		action := 'delete expired windows';
		object := format('rollout.outcome_windows (%s rows)', n);
		v_done := v_done || jsonb_build_object('action', action, 'object', 'rollout.outcome_windows', 'rows', n);
		RETURN NEXT;
	END IF;
	-- What was destroyed is evidence too: one event names it.
	IF jsonb_array_length(v_done) > 0 THEN
		PERFORM rollout._log_event(NULL, NULL, 'maintain_outcomes', NULL,
								   jsonb_build_object('at', at, 'cutoff', cutoff, 'dropped', v_done),
								   NULL);
	END IF;
END
$$;
-- 41: outcomes, continued: what gates and analysts read (arm_summary,
-- arm_values, compare and the comparison view) and the privileges of every
-- outcome object. Reference: docs/outcomes.md.

------------------------------------------------------------------------------
-- What gates and analysts read

-- Per-arm summary of a rollout over the windows starting in [from_at, to_at),
-- merged from window aggregates (never from raw rows). metric names a custom
-- metric for metric_n / metric_sum / metric_sumsq; stage limits to a stage.
CREATE FUNCTION rollout.arm_summary(rollout_id bigint, from_at timestamptz, to_at timestamptz,
									metric text DEFAULT NULL, stage integer DEFAULT NULL)
RETURNS TABLE(arm text, shadow boolean, n bigint, n_success bigint, n_success_known bigint,
			  n_error bigint, n_safety bigint, n_feedback bigint, sum_feedback float8,
			  n_quality bigint, sum_quality float8, sumsq_quality float8,
			  n_latency bigint, sum_latency float8, sumsq_latency float8,
			  n_cost bigint, sum_cost float8, sumsq_cost float8,
			  latency_sketch rollout.ddsketch, latency_p50 float8, latency_p95 float8,
			  latency_p99 float8, cost_sketch rollout.ddsketch, cost_median float8,
			  metric_n bigint, metric_sum float8, metric_sumsq float8, metrics jsonb,
			  windows bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.arm, a.shadow, a.n, a.n_success, a.n_success_known, a.n_error, a.n_safety,
		   a.n_feedback, a.sum_feedback, a.n_quality, a.sum_quality, a.sumsq_quality,
		   a.n_latency, a.sum_latency, a.sumsq_latency, a.n_cost, a.sum_cost, a.sumsq_cost,
		   a.ls, rollout.ddsketch_quantile(a.ls, 0.5), rollout.ddsketch_quantile(a.ls, 0.95),
		   rollout.ddsketch_quantile(a.ls, 0.99), a.cs, rollout.ddsketch_quantile(a.cs, 0.5),
		   coalesce((a.metrics->metric->>'n')::bigint, 0), coalesce((a.metrics->metric->>'sum')::float8, 0),
		   coalesce((a.metrics->metric->>'sumsq')::float8, 0), a.metrics, a.windows
	FROM (SELECT w.arm, w.shadow, sum(w.n)::bigint AS n, sum(w.n_success)::bigint AS n_success,
				 sum(w.n_success_known)::bigint AS n_success_known, sum(w.n_error)::bigint AS n_error,
				 sum(w.n_safety)::bigint AS n_safety, sum(w.n_feedback)::bigint AS n_feedback,
				 sum(w.sum_feedback) AS sum_feedback, sum(w.n_quality)::bigint AS n_quality,
				 sum(w.sum_quality) AS sum_quality, sum(w.sumsq_quality) AS sumsq_quality,
				 sum(w.n_latency)::bigint AS n_latency, sum(w.sum_latency) AS sum_latency,
				 sum(w.sumsq_latency) AS sumsq_latency, sum(w.n_cost)::bigint AS n_cost,
				 sum(w.sum_cost) AS sum_cost, sum(w.sumsq_cost) AS sumsq_cost,
				 rollout.ddsketch_merge(w.latency_sketch) AS ls,
				 rollout.ddsketch_merge(w.cost_sketch) AS cs,
				 rollout.metric_stats_agg(w.metrics) AS metrics,
				 count(DISTINCT w.window_start) AS windows
		  FROM rollout.outcome_windows w
		  WHERE w.rollout_id = arm_summary.rollout_id
			AND w.window_start >= from_at AND w.window_start < to_at
			AND (arm_summary.stage IS NULL OR w.stage = arm_summary.stage)
		  GROUP BY w.arm, w.shadow) a
	ORDER BY a.arm, a.shadow
$$;

-- Raw values of one metric for one arm over [from_at, to_at), in recording
-- order, for rank tests. metric: quality, latency_ms, cost, feedback,
-- success, error, safety_flag (as 0/1) or the name of a custom metric.
CREATE FUNCTION rollout.arm_values(rollout_id bigint, arm text, metric text,
								   from_at timestamptz, to_at timestamptz,
								   shadow boolean DEFAULT false)
RETURNS float8[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	expr text;
	result float8[];
BEGIN
	IF metric IS NULL OR metric = '' THEN
		RAISE EXCEPTION 'argument "metric" must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	expr := CASE metric
		WHEN 'quality' THEN 'o.quality'
		WHEN 'latency_ms' THEN 'o.latency_ms'
		WHEN 'cost' THEN 'o.cost'
		WHEN 'feedback' THEN 'o.feedback::float8'
		WHEN 'success' THEN 'o.success::integer::float8'
		WHEN 'error' THEN 'o.error::integer::float8'
		WHEN 'safety_flag' THEN 'o.safety_flag::integer::float8'
		ELSE '(o.metrics->$6)::float8' END;
	EXECUTE format('SELECT coalesce(array_agg(v ORDER BY id), ''{}'') FROM ('
				   ' SELECT o.id, %s AS v FROM rollout.outcomes o'
				   ' WHERE o.rollout_id = $1 AND o.arm = $2 AND o.at >= $3 AND o.at < $4'
				   '   AND o.shadow = $5) s WHERE v IS NOT NULL', expr)
		INTO result
		USING rollout_id, arm, from_at, to_at, shadow, metric;
	RETURN result;
END
$$;

-- Candidate against baseline of one rollout, per window and per stage, from
-- the window aggregates. A canary (shadow, blue-green) has one compared arm,
-- candidate against stable; an A/B test has one row per variant other than
-- the control, each against the control (arm, baseline_arm).
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

-- The side-by-side view: every rollout, per window and per stage (and per
-- variant of an A/B test).
CREATE VIEW rollout.comparison AS
	SELECT r.agent, c.*
	FROM rollout.rollouts r CROSS JOIN LATERAL rollout.compare(r.id) c;

------------------------------------------------------------------------------
-- Privileges

REVOKE ALL ON FUNCTION rollout.record(text, integer, text, boolean, float8, float8, float8, boolean,
									  boolean, smallint, jsonb, boolean, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.record_batch(text, integer[], text[], boolean[], float8[], float8[],
											float8[], boolean[], boolean[], smallint[], jsonb[],
											boolean[], timestamptz[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.record_shadow_pair(text, integer, integer, text, float8, float4[],
												  float4[], boolean, float8, float8, float8,
												  float8, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.drain_outcome_staging() FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._outcome_resolve(text, integer, float8, float8, float8, jsonb,
												timestamptz, integer, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.outcome_context(text, integer, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.refresh_aggregates(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.maintain_outcomes(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._ensure_partition(text, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.arm_summary(bigint, timestamptz, timestamptz, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.arm_values(bigint, text, text, timestamptz, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.compare(bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION rollout.record(text, integer, text, boolean, float8, float8, float8, boolean,
										 boolean, smallint, jsonb, boolean, timestamptz, text) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.record_batch(text, integer[], text[], boolean[], float8[], float8[],
											   float8[], boolean[], boolean[], smallint[], jsonb[],
											   boolean[], timestamptz[], text[]) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.record_shadow_pair(text, integer, integer, text, float8, float4[],
													 float4[], boolean, float8, float8, float8,
													 float8, timestamptz, text) TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.drain_outcome_staging() TO rollout_service, rollout_operator;
GRANT INSERT ON rollout.outcome_staging TO rollout_service;
GRANT USAGE ON SEQUENCE rollout.outcome_staging_id_seq TO rollout_service;
GRANT EXECUTE ON FUNCTION rollout.outcome_context(text, integer, timestamptz) TO rollout_service, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.refresh_aggregates(timestamptz) TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.maintain_outcomes(timestamptz) TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.arm_summary(bigint, timestamptz, timestamptz, text, integer) TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.arm_values(bigint, text, text, timestamptz, timestamptz, boolean) TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.compare(bigint) TO rollout_reader;

GRANT SELECT ON rollout.outcomes, rollout.shadow_pairs, rollout.outcome_windows,
	rollout.shadow_windows, rollout.outcome_watermark, rollout.outcome_settings,
	rollout.quality_scales, rollout.comparison TO rollout_reader;
GRANT UPDATE ON rollout.outcome_settings TO rollout_admin;
GRANT INSERT, UPDATE, DELETE ON rollout.quality_scales TO rollout_admin;
-- 42: counts of a latency or cost sketch above a threshold
-- (src/sketch_rank.c), which the quantile gates feed to the event-share test.
CREATE FUNCTION rollout.ddsketch_count_above(sketch rollout.ddsketch, threshold float8) RETURNS bigint
AS 'MODULE_PATHNAME', 'rollout_ddsketch_count_above'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

REVOKE ALL ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch, float8)
	TO rollout_reader, rollout_service, rollout_operator, rollout_admin;
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
	PERFORM rollout.set_label(r.agent, 'production', r.candidate,
							  coalesce(p_reason, pg_catalog.format('rollout %s promoted', r.id)));
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
		PERFORM rollout.set_label(r.agent, 'production', r.baseline,
								  coalesce(p_reason, pg_catalog.format('rollout %s rolled back', r.id)));
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
	PERFORM rollout.set_label(agent, 'production', version, 'deploy_now: ' || reason);
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
-- 61: gate evaluation. A gate compares one metric of the candidate arm with
-- the stable arm over a window and returns pass, fail, inconclusive or error
-- (docs/lifecycle.md, "Gates"). The statistics are the C functions of
-- src/stats_*.c; the aggregates come from rollout.arm_summary().

CREATE TYPE rollout.gate_verdict AS (
	verdict		text,
	statistic	float8,
	p_value		float8,
	estimate	float8,
	ci_low		float8,
	ci_high		float8,
	n_candidate	bigint,
	n_baseline	bigint,
	value_candidate float8,
	value_baseline	float8,
	window_from	timestamptz,
	window_to	timestamptz,
	detail		text
);

-- What an always-valid gate's test reads from its tallies (rollout.gate_tallies)
-- over the stages from 1 on: per stage (ordered) the events x and y of each
-- arm and the candidate's share of the samples, the sums over the stages, the
-- last baseline quantile, and when the canary started (stage 1).
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

-- The outcome counts per arm of a rollout's live (non-shadow) windows whose
-- start lies in [p_from, p_to), in one stage: the columns of
-- rollout.arm_summary that rates and the sample-ratio check need. Reading
-- them directly skips arm_summary's merge of sketches and custom-metric
-- maps, which costs about 60 us per window and arm (metric_stats_agg): with
-- a gate window of a whole stage, a tick would spend 20 ms per rollout on
-- merges that rate gates never read.
CREATE FUNCTION rollout._arm_counts(p_rollout_id bigint, p_from timestamptz, p_to timestamptz,
									p_stage integer)
RETURNS TABLE(arm text, n bigint, n_success bigint, n_success_known bigint, n_error bigint,
			  n_safety bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- PL/pgSQL keeps the plan; an SQL function with SET would be planned per call.
	RETURN QUERY
	SELECT w.arm, sum(w.n)::bigint, sum(w.n_success)::bigint, sum(w.n_success_known)::bigint,
		   sum(w.n_error)::bigint, sum(w.n_safety)::bigint
	FROM rollout.outcome_windows w
	WHERE w.rollout_id = p_rollout_id AND NOT w.shadow
	  AND w.window_start >= p_from AND w.window_start < p_to
	  AND (p_stage IS NULL OR w.stage = p_stage)
	GROUP BY w.arm;
END
$$;

-- The (n, successes) or (n, mean, sd) or quantile of one arm for a gate.
-- Returns (n, value, sd, x): x is the event count for rates.
CREATE FUNCTION rollout._arm_stat(s record, p_metric text, p_comparison text, p_custom text,
								  OUT n bigint, OUT value float8, OUT sd float8, OUT x bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_n bigint;
	v_sum float8;
	v_sumsq float8;
BEGIN
	IF p_comparison = 'rate' THEN
		CASE p_metric
			WHEN 'success' THEN x := s.n_success; n := s.n_success_known;
			WHEN 'error' THEN x := s.n_error; n := s.n;
			WHEN 'safety' THEN x := s.n_safety; n := s.n;
			ELSE RAISE EXCEPTION 'metric "%" has no rate', p_metric
				USING ERRCODE = 'invalid_parameter_value';
		END CASE;
		value := CASE WHEN n > 0 THEN x::float8 / n END;
		sd := CASE WHEN n > 0 THEN sqrt(value * (1 - value)) END;
		RETURN;
	END IF;
	IF p_comparison IN ('median', 'p95', 'p99') THEN
		CASE p_metric
			WHEN 'latency_ms' THEN
				n := s.n_latency;
				value := rollout.ddsketch_quantile(s.latency_sketch,
					CASE p_comparison WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END);
			WHEN 'cost' THEN
				n := s.n_cost;
				value := rollout.ddsketch_quantile(s.cost_sketch,
					CASE p_comparison WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END);
			ELSE
				-- Quantiles of other metrics come from their raw values (see caller).
				n := NULL;
		END CASE;
		RETURN;
	END IF;
	-- mean
	CASE p_metric
		WHEN 'quality' THEN v_n := s.n_quality; v_sum := s.sum_quality; v_sumsq := s.sumsq_quality;
		WHEN 'latency_ms' THEN v_n := s.n_latency; v_sum := s.sum_latency; v_sumsq := s.sumsq_latency;
		WHEN 'cost' THEN v_n := s.n_cost; v_sum := s.sum_cost; v_sumsq := s.sumsq_cost;
		WHEN 'success' THEN v_n := s.n_success_known; v_sum := s.n_success; v_sumsq := s.n_success;
		WHEN 'error' THEN v_n := s.n; v_sum := s.n_error; v_sumsq := s.n_error;
		WHEN 'safety' THEN v_n := s.n; v_sum := s.n_safety; v_sumsq := s.n_safety;
		WHEN 'feedback' THEN v_n := s.n_feedback; v_sum := s.sum_feedback; v_sumsq := NULL;
		ELSE
			IF p_custom IS NOT NULL THEN
				v_n := s.metric_n; v_sum := s.metric_sum; v_sumsq := s.metric_sumsq;
			ELSE
				RAISE EXCEPTION 'metric "%" has no mean with a variance in the aggregates', p_metric
					USING ERRCODE = 'feature_not_supported';
			END IF;
	END CASE;
	n := coalesce(v_n, 0);
	IF n > 0 THEN
		value := v_sum / n;
	END IF;
	IF n > 1 THEN
		sd := sqrt(greatest((v_sumsq - v_sum * v_sum / n) / (n - 1), 0));
	END IF;
END
$$;

-- Running tallies of the always-valid gates (tests event_share and
-- sequential): per rollout, gate and stage, what the gate's test reads from
-- the ended windows of the stage. Rates and means are summed again over the
-- current stage at each evaluation, so outcomes folded late (a long
-- transaction held the fold back, or a service recorded with an earlier
-- "at") still count; a finished stage's row stays as it was when the stage
-- ended. Quantile gates count each window once, against thresholds fixed
-- before it (see below), so a value folded into a window after it was
-- counted is not seen by them. What the columns hold depends on the gate:
--   rate      n = exposures, x = events (errors, safety flags, failures)
--   quantile  n = values, x = values above the fail threshold, y = above
--             the pass threshold; both thresholds come from the baseline's
--             windows before the counted ones, so they are fixed before the
--             counts they apply to (docs/statistics.md)
--   mean      n, sum, sumsq of the values
-- The sample-ratio check keeps its own rows (gate '.srm', n = outcomes).
CREATE TABLE rollout.gate_tallies (
	rollout_id		bigint NOT NULL REFERENCES rollout.rollouts (id),
	gate			text NOT NULL,
	stage			integer NOT NULL,
	counted_to		timestamptz NOT NULL,	-- windows starting before this are counted
	n_candidate		bigint NOT NULL DEFAULT 0,
	n_baseline		bigint NOT NULL DEFAULT 0,
	x_candidate		bigint NOT NULL DEFAULT 0,
	x_baseline		bigint NOT NULL DEFAULT 0,
	y_candidate		bigint NOT NULL DEFAULT 0,
	y_baseline		bigint NOT NULL DEFAULT 0,
	sum_candidate	float8 NOT NULL DEFAULT 0,
	sum_baseline	float8 NOT NULL DEFAULT 0,
	sumsq_candidate	float8 NOT NULL DEFAULT 0,
	sumsq_baseline	float8 NOT NULL DEFAULT 0,
	baseline_quantile float8,			-- quantile gates: the last threshold base
	PRIMARY KEY (rollout_id, gate, stage)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.gate_tallies', '');
REVOKE ALL ON rollout.gate_tallies FROM PUBLIC;
GRANT SELECT ON rollout.gate_tallies TO rollout_reader, rollout_operator, rollout_admin;

-- Adds the windows of the current stage that ended since the last count to
-- the gate's tally row, and returns nothing. g is a normalized gate, or
-- {"name": ".srm"} for the sample-ratio check.
CREATE FUNCTION rollout._tally_gate(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_gate text := g->>'name';
	v_metric text := coalesce(g->>'metric', '.srm');
	v_cmp text := coalesce(g->>'comparison', 'rate');
	v_q float8 := CASE g->>'comparison' WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END;
	v_window interval := make_interval(secs => coalesce((g->>'window_seconds')::float8, 3600));
	v_from timestamptz;
	v_stage_from timestamptz := rollout.window_start(r.stage_started_at);
	v_to timestamptz := rollout.window_start(p_at);
	v_base float8;
	v_fail float8;
	v_pass float8;
	t record;
	v_nc bigint := 0;
	v_nb bigint := 0;
	v_xc bigint := 0;
	v_xb bigint := 0;
	v_yc bigint := 0;
	v_yb bigint := 0;
BEGIN
	-- Rates and means: one statement sums the stage's ended windows into
	-- the tally row, creating it (counted_to the stage's first window when
	-- none has ended) or replacing it unless it already counts to v_to.
	IF v_cmp = 'rate' THEN
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, x_candidate, x_baseline, y_candidate, y_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.xc, a.xb, a.xc, a.xb
		FROM (SELECT coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(CASE WHEN v_metric = 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS xc,
			   coalesce(sum(CASE v_metric WHEN 'success' THEN w.n_success_known - w.n_success
							WHEN 'error' THEN w.n_error WHEN 'safety' THEN w.n_safety ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS xb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			x_candidate = excluded.x_candidate, x_baseline = excluded.x_baseline,
			y_candidate = excluded.y_candidate, y_baseline = excluded.y_baseline
			WHERE x.counted_to < v_to;
	ELSIF v_cmp = 'mean' AND v_metric LIKE 'metrics.%' THEN
		-- A custom metric: its per-window {"n", "sum", "sumsq"} in metrics.
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, sum_candidate, sum_baseline, sumsq_candidate, sumsq_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.sc, a.sb, a.qc, a.qb
		FROM (SELECT coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'n')::bigint) FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS sc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sum')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS sb,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'candidate'), 0) AS qc,
			   coalesce(sum((w.metrics->substr(v_metric, 9)->>'sumsq')::float8) FILTER (WHERE w.arm = 'stable'), 0) AS qb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			sum_candidate = excluded.sum_candidate, sum_baseline = excluded.sum_baseline,
			sumsq_candidate = excluded.sumsq_candidate, sumsq_baseline = excluded.sumsq_baseline
			WHERE x.counted_to < v_to;
	ELSIF v_cmp = 'mean' THEN
		INSERT INTO rollout.gate_tallies AS x (rollout_id, gate, stage, counted_to, n_candidate,
			n_baseline, sum_candidate, sum_baseline, sumsq_candidate, sumsq_baseline)
		SELECT r.id, v_gate, r.stage, greatest(v_to, v_stage_from), a.nc, a.nb, a.sc, a.sb, a.qc, a.qb
		FROM (SELECT coalesce(sum(CASE v_metric WHEN 'quality' THEN w.n_quality WHEN 'latency_ms' THEN w.n_latency
							 WHEN 'cost' THEN w.n_cost WHEN 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS nc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.n_quality WHEN 'latency_ms' THEN w.n_latency
							 WHEN 'cost' THEN w.n_cost WHEN 'success' THEN w.n_success_known ELSE w.n END)
							FILTER (WHERE w.arm = 'stable'), 0) AS nb,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sum_quality WHEN 'latency_ms' THEN w.sum_latency
							 WHEN 'cost' THEN w.sum_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS sc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sum_quality WHEN 'latency_ms' THEN w.sum_latency
							 WHEN 'cost' THEN w.sum_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'stable'), 0) AS sb,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sumsq_quality WHEN 'latency_ms' THEN w.sumsq_latency
							 WHEN 'cost' THEN w.sumsq_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'candidate'), 0) AS qc,
			   coalesce(sum(CASE v_metric WHEN 'quality' THEN w.sumsq_quality WHEN 'latency_ms' THEN w.sumsq_latency
							 WHEN 'cost' THEN w.sumsq_cost WHEN 'success' THEN w.n_success
							 WHEN 'error' THEN w.n_error ELSE w.n_safety END)
							FILTER (WHERE w.arm = 'stable'), 0) AS qb
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
			  AND w.window_start >= v_stage_from AND w.window_start < v_to) a
		ON CONFLICT (rollout_id, gate, stage) DO UPDATE SET counted_to = v_to,
			n_candidate = excluded.n_candidate, n_baseline = excluded.n_baseline,
			sum_candidate = excluded.sum_candidate, sum_baseline = excluded.sum_baseline,
			sumsq_candidate = excluded.sumsq_candidate, sumsq_baseline = excluded.sumsq_baseline
			WHERE x.counted_to < v_to;
	ELSE
		SELECT x.counted_to INTO v_from FROM rollout.gate_tallies x
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
		IF NOT FOUND THEN
			v_from := v_stage_from;
			INSERT INTO rollout.gate_tallies (rollout_id, gate, stage, counted_to)
				VALUES (r.id, v_gate, r.stage, v_from);
		END IF;
		IF v_to <= v_from THEN
			RETURN;
		END IF;
		-- The base: the baseline's quantile over the gate's window before v_from.
		SELECT rollout.ddsketch_quantile(rollout.ddsketch_merge(
				CASE WHEN v_metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END), v_q)
			INTO v_base
			FROM rollout.outcome_windows w
			WHERE w.rollout_id = r.id AND w.arm = 'stable' AND NOT w.shadow
			  AND w.window_start >= v_from - v_window AND w.window_start < v_from;
		IF v_base IS NOT NULL THEN
			-- Latency and cost: higher is worse.
			v_fail := CASE WHEN g->'ratio' <> 'null' THEN v_base * (1 + (g->>'fail_ratio')::float8)
						   ELSE v_base + (g->>'fail_margin')::float8 END;
			v_pass := CASE WHEN g->'ratio' <> 'null' THEN v_base * (1 + (g->>'ratio')::float8)
						   ELSE v_base + (g->>'margin')::float8 END;
			SELECT coalesce(sum(s.n) FILTER (WHERE s.arm = 'candidate'), 0) AS nc,
				   coalesce(sum(s.n) FILTER (WHERE s.arm = 'stable'), 0) AS nb,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_fail)) FILTER (WHERE s.arm = 'candidate'), 0) AS xc,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_fail)) FILTER (WHERE s.arm = 'stable'), 0) AS xb,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_pass)) FILTER (WHERE s.arm = 'candidate'), 0) AS yc,
				   coalesce(sum(rollout.ddsketch_count_above(s.sketch, v_pass)) FILTER (WHERE s.arm = 'stable'), 0) AS yb
				INTO t
				FROM (SELECT w.arm,
							 CASE WHEN v_metric = 'latency_ms' THEN w.n_latency ELSE w.n_cost END AS n,
							 CASE WHEN v_metric = 'latency_ms' THEN w.latency_sketch ELSE w.cost_sketch END AS sketch
					  FROM rollout.outcome_windows w
					  WHERE w.rollout_id = r.id AND NOT w.shadow AND w.stage = r.stage
						AND w.window_start >= v_from AND w.window_start < v_to) s
				WHERE s.sketch IS NOT NULL;
			v_nc := t.nc; v_nb := t.nb; v_xc := t.xc; v_xb := t.xb; v_yc := t.yc; v_yb := t.yb;
		END IF;
		-- Windows before any baseline data are passed over: nothing fixed
		-- a threshold for them in advance.
		UPDATE rollout.gate_tallies x SET counted_to = v_to,
			n_candidate = x.n_candidate + v_nc, n_baseline = x.n_baseline + v_nb,
			x_candidate = x.x_candidate + v_xc, x_baseline = x.x_baseline + v_xb,
			y_candidate = x.y_candidate + v_yc, y_baseline = x.y_baseline + v_yb,
			baseline_quantile = coalesce(v_base, x.baseline_quantile)
			WHERE x.rollout_id = r.id AND x.gate = v_gate AND x.stage = r.stage;
	END IF;
END
$$;

-- Whether _tally_gates() keeps the tally of gate g: an always-valid test
-- (event_share, sequential) of a rate or a mean of a built-in metric.
-- Quantile and custom-metric gates are tallied by _tally_gate().
CREATE FUNCTION rollout._gate_set_tallied(g jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT (g OPERATOR(pg_catalog.->>) 'test') OPERATOR(pg_catalog.=) ANY ('{event_share,sequential}'::pg_catalog.text[])
	   AND ((g OPERATOR(pg_catalog.->>) 'comparison') OPERATOR(pg_catalog.=) 'rate'
			AND (g OPERATOR(pg_catalog.->>) 'metric') OPERATOR(pg_catalog.=) ANY ('{success,error,safety}'::pg_catalog.text[])
			OR (g OPERATOR(pg_catalog.->>) 'comparison') OPERATOR(pg_catalog.=) 'mean'
			AND (g OPERATOR(pg_catalog.->>) 'metric') OPERATOR(pg_catalog.=)
				ANY ('{quality,latency_ms,cost,success,error,safety}'::pg_catalog.text[]))
$$;

-- _tally_gate() for every always-valid gate of p_gates, in three
-- statements instead of several per gate: one for the rates and means of
-- built-in metrics (_gate_set_tallied()), which reads the stage's ended
-- windows once and writes the same sums, over the same windows in the same
-- order, into the same rows (a rate row keeps its sums at 0 and a mean row
-- its events at 0, as _tally_gate() leaves them); one for the quantiles;
-- one loop over the means of custom metrics. _tick_canary() calls it
-- before it reads every gate's tallies at once.
CREATE FUNCTION rollout._tally_gates(r rollout.rollouts, p_gates jsonb, p_at timestamptz)
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

-- ", about 2 h 10 min more at the current rate": the time a gate still
-- needs when it has taken p_elapsed and needs p_factor times as much again
-- (src/gate_verdict.c, which the verdicts below also use).
CREATE FUNCTION rollout._eta(p_elapsed interval, p_factor float8) RETURNS text
AS 'MODULE_PATHNAME', 'rollout_eta'
LANGUAGE C IMMUTABLE;

-- The verdict of an always-valid gate (test event_share or sequential) from
-- its tallies t over the whole canary so far (every stage from 1 on, as
-- _evaluate_gate_av() and _tick_canary() read them from
-- rollout.gate_tallies), so that looking at every evaluation keeps the
-- chance of failing an identical candidate within the gate's alpha. Fails
-- when harm beyond fail_margin/fail_ratio is shown at alpha, at any sample
-- count (the sequential test waits for 100 per arm, where its normal
-- approximation holds); passes when it shows non-inferiority within
-- margin/ratio at pass_alpha after min_samples, or, for guardrails and at
-- steps below prove_at_percent but the last before 100%, when no harm is
-- shown after min_samples. A problem gives 'error'. In C
-- (src/gate_verdict.c): it was a tenth of a tick in PL/pgSQL (issue 15).
CREATE FUNCTION rollout._verdict_av(r rollout.rollouts, g jsonb, p_at timestamptz,
									t rollout.gate_tally_sums)
RETURNS rollout.gate_verdict
AS 'MODULE_PATHNAME', 'rollout_verdict_av'
LANGUAGE C VOLATILE;

-- Evaluates an always-valid gate (test event_share or sequential) at p_at:
-- adds the ended windows to its tally (_tally_gate), reads the tallies of
-- every stage from 1 on and returns _verdict_av() of them. _tick_canary()
-- does the same for all its gates at once.
CREATE FUNCTION rollout._evaluate_gate_av(r rollout.rollouts, g jsonb, p_at timestamptz)
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

-- Evaluates one gate of a rollout at p_at. Never raises for lack of data:
-- too few samples give 'inconclusive'; an internal problem gives 'error'.
CREATE FUNCTION rollout._evaluate_gate(r rollout.rollouts, g jsonb, p_at timestamptz)
RETURNS rollout.gate_verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res rollout.gate_verdict;
	v_metric text := g->>'metric';
	v_custom text;
	v_cmp text := g->>'comparison';
	v_test text := g->>'test';
	v_mode text := coalesce(g->>'mode', 'non_inferiority');
	v_hib boolean := (g->>'higher_is_better')::boolean;
	v_alpha float8 := coalesce((g->>'alpha')::float8, 0.05);
	v_min bigint := coalesce((g->>'min_samples')::bigint, 0);
	v_window interval := make_interval(secs => coalesce((g->>'window_seconds')::float8, 3600));
	v_margin float8 := (g->>'margin')::float8;
	v_ratio float8 := (g->>'ratio')::float8;
	v_from timestamptz;
	c record;
	b record;
	c_found boolean;
	b_found boolean;
	sc_n bigint;
	sc_value float8;
	sc_sd float8;
	sc_x bigint;
	sb_n bigint;
	sb_value float8;
	sb_sd float8;
	sb_x bigint;
	v_delta float8;
	v_sign float8;
	v_alt_pass text;
	v_alt_fail text;
	v_pass_p float8;
	v_fail_p float8;
	xs float8[];
	ys float8[];
	t record;
BEGIN
	IF v_test IN ('event_share', 'sequential') THEN
		RETURN rollout._evaluate_gate_av(r, g, p_at);
	END IF;
	IF v_metric LIKE 'metrics.%' THEN
		v_custom := substr(v_metric, 9);
	END IF;
	res.window_to := p_at;
	-- Windows are 5-minute buckets tagged with their stage: start from the
	-- bucket holding the boundary, so a stage's first partial bucket counts.
	v_from := rollout.window_start(greatest(r.stage_started_at, p_at - v_window));

	-- The rolling window, widened to the whole stage when it is too thin.
	FOR i IN 1..2 LOOP
		res.window_from := v_from;
		IF v_metric IN ('success', 'error', 'safety') THEN
			-- Boolean metrics need only the counts.
			SELECT * INTO c FROM rollout._arm_counts(r.id, v_from, p_at + interval '1 microsecond', r.stage) s
				WHERE s.arm = 'candidate';
			c_found := FOUND;
			SELECT * INTO b FROM rollout._arm_counts(r.id, v_from, p_at + interval '1 microsecond', r.stage) s
				WHERE s.arm = 'stable';
			b_found := FOUND;
		ELSE
			SELECT * INTO c FROM rollout.arm_summary(r.id, v_from, p_at + interval '1 microsecond', v_custom, r.stage) s
				WHERE s.arm = 'candidate' AND NOT s.shadow;
			c_found := FOUND;
			SELECT * INTO b FROM rollout.arm_summary(r.id, v_from, p_at + interval '1 microsecond', v_custom, r.stage) s
				WHERE s.arm = 'stable' AND NOT s.shadow;
			b_found := FOUND;
		END IF;
		sc_n := 0; sc_value := NULL; sc_sd := NULL; sc_x := NULL;
		sb_n := 0; sb_value := NULL; sb_sd := NULL; sb_x := NULL;
		IF c_found AND b_found THEN
			SELECT * INTO sc_n, sc_value, sc_sd, sc_x FROM rollout._arm_stat(c, v_metric, v_cmp, v_custom);
			SELECT * INTO sb_n, sb_value, sb_sd, sb_x FROM rollout._arm_stat(b, v_metric, v_cmp, v_custom);
		END IF;
		EXIT WHEN v_from <= rollout.window_start(r.stage_started_at)
			OR (coalesce(sc_n, 0) >= greatest(v_min, 1) AND coalesce(sb_n, 0) >= greatest(v_min, 1));
		v_from := rollout.window_start(r.stage_started_at);
	END LOOP;

	-- Quantiles of metrics without a sketch come from raw values.
	IF c_found AND b_found AND sc_n IS NULL THEN
		xs := rollout.arm_values(r.id, 'candidate', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		ys := rollout.arm_values(r.id, 'stable', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		sc_n := coalesce(cardinality(xs), 0);
		sb_n := coalesce(cardinality(ys), 0);
		sc_value := (SELECT percentile_disc(CASE v_cmp WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END)
					   WITHIN GROUP (ORDER BY u) FROM unnest(xs) u);
		sb_value := (SELECT percentile_disc(CASE v_cmp WHEN 'median' THEN 0.5 WHEN 'p95' THEN 0.95 ELSE 0.99 END)
					   WITHIN GROUP (ORDER BY u) FROM unnest(ys) u);
	END IF;

	res.n_candidate := coalesce(sc_n, 0);
	res.n_baseline := coalesce(sb_n, 0);
	res.value_candidate := sc_value;
	res.value_baseline := sb_value;
	IF res.n_candidate < greatest(v_min, 1) OR res.n_baseline < greatest(v_min, 1) THEN
		res.verdict := 'inconclusive';
		res.detail := pg_catalog.format('too few samples: candidate %s, baseline %s, need %s each',
										res.n_candidate, res.n_baseline, greatest(v_min, 1));
		RETURN res;
	END IF;

	-- Orientation: degradation D = sign * (candidate - baseline) > 0 is worse.
	v_sign := CASE WHEN v_hib THEN -1 ELSE 1 END;
	v_delta := CASE WHEN v_ratio IS NOT NULL THEN v_ratio * abs(sb_value) ELSE coalesce(v_margin, 0) END;
	res.estimate := sc_value - sb_value;
	-- H0 of the pass test: D >= delta; of the fail test: D <= delta. In terms
	-- of candidate - baseline the boundary is sign * delta.
	v_alt_pass := CASE WHEN v_hib THEN 'greater' ELSE 'less' END;
	v_alt_fail := CASE WHEN v_hib THEN 'less' ELSE 'greater' END;

	IF v_test = 'hard_limit' THEN
		res.statistic := v_sign * res.estimate;
		res.verdict := CASE WHEN v_sign * res.estimate > v_delta THEN 'fail' ELSE 'pass' END;
		res.detail := pg_catalog.format('limit: candidate %s baseline by at most %s',
										CASE WHEN v_hib THEN 'below' ELSE 'above' END, v_delta);
		RETURN res;
	ELSIF v_test = 'proportion' THEN
		SELECT * INTO t FROM rollout.proportion_test(sc_x, sc_n, sb_x, sb_n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.statistic;
		SELECT * INTO t FROM rollout.proportion_test(sc_x, sc_n, sb_x, sb_n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSIF v_test = 'welch' THEN
		IF sc_sd IS NULL OR sb_sd IS NULL THEN
			res.verdict := 'inconclusive';
			res.detail := 'a variance needs at least two samples per arm';
			RETURN res;
		END IF;
		SELECT * INTO t FROM rollout.welch_test(sc_value, sc_sd, sc_n, sb_value, sb_sd, sb_n, v_sign * v_delta, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.t;
		SELECT * INTO t FROM rollout.welch_test(sc_value, sc_sd, sc_n, sb_value, sb_sd, sb_n, v_sign * v_delta, v_alt_fail);
		v_fail_p := t.p_value;
	ELSIF v_test = 'mann_whitney' THEN
		xs := rollout.arm_values(r.id, 'candidate', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		ys := rollout.arm_values(r.id, 'stable', coalesce(v_custom, v_metric), res.window_from, p_at + interval '1 microsecond');
		-- Shift the baseline to the threshold: candidate vs baseline worsened by delta.
		IF v_ratio IS NOT NULL THEN
			ys := ARRAY(SELECT u * (1 + v_sign * v_ratio) FROM unnest(ys) u);
		ELSE
			ys := ARRAY(SELECT u + v_sign * v_delta FROM unnest(ys) u);
		END IF;
		IF cardinality(xs) = 0 OR cardinality(ys) = 0 THEN
			res.verdict := 'inconclusive';
			res.detail := 'no raw values in the window';
			RETURN res;
		END IF;
		SELECT * INTO t FROM rollout.mann_whitney(xs, ys, v_alt_pass);
		v_pass_p := t.p_value;
		res.statistic := t.u;
		SELECT * INTO t FROM rollout.mann_whitney(xs, ys, v_alt_fail);
		v_fail_p := t.p_value;
	ELSE
		res.verdict := 'error';
		res.detail := pg_catalog.format('unknown test "%s"', v_test);
		RETURN res;
	END IF;

	IF v_fail_p IS NOT NULL AND v_fail_p < v_alpha THEN
		res.verdict := 'fail';
		res.p_value := v_fail_p;
		res.detail := 'inferiority shown';
	ELSIF v_mode = 'guardrail' THEN
		res.verdict := 'pass';
		res.p_value := v_fail_p;
		res.detail := 'no significant degradation';
	ELSIF v_pass_p IS NOT NULL AND v_pass_p < v_alpha THEN
		res.verdict := 'pass';
		res.p_value := v_pass_p;
		res.detail := 'non-inferiority shown';
	ELSE
		res.verdict := 'inconclusive';
		res.p_value := v_pass_p;
		res.detail := 'the test cannot tell yet';
	END IF;
	RETURN res;
EXCEPTION WHEN OTHERS THEN
	res.verdict := 'error';
	res.detail := SQLERRM;
	RETURN res;
END
$$;
-- 62: tick(): evaluates every active rollout once and acts on the verdicts.
-- The worker calls it every rollout.tick_interval; cron may call it; tests
-- call it with a simulated clock. Every time rule reads p_at, never now().

-- Baseline metrics of promoted versions, refreshed after the stable period.
CREATE TABLE rollout.baselines (
	agent		text NOT NULL,
	version		integer NOT NULL,
	rollout_id	bigint NOT NULL REFERENCES rollout.rollouts (id),
	refreshed_at timestamptz NOT NULL,
	metrics		jsonb,
	PRIMARY KEY (agent, version, refreshed_at)
);

-- Records one verdict and returns its row id. PL/pgSQL keeps the plan; an
-- SQL function with SET is planned at every call, six times a tick per
-- rollout.
CREATE FUNCTION rollout._store_verdict(r rollout.rollouts, g jsonb, v rollout.gate_verdict,
									   p_at timestamptz, p_acted boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
BEGIN
	INSERT INTO rollout.gate_results (rollout_id, stage, at, gate, metric, comparison, test, verdict,
		statistic, p_value, estimate, ci_low, ci_high, n_candidate, n_baseline,
		value_candidate, value_baseline, threshold, window_from, window_to, action, acted, detail)
	VALUES (r.id, r.stage, p_at, g->>'name', g->>'metric', g->>'comparison', g->>'test', v.verdict,
		v.statistic, v.p_value, v.estimate, v.ci_low, v.ci_high, v.n_candidate, v.n_baseline,
		v.value_candidate, v.value_baseline,
		jsonb_build_object('margin', g->'margin', 'ratio', g->'ratio', 'alpha', g->'alpha',
						   'min_samples', g->'min_samples', 'window', g->'window',
						   'mode', g->'mode', 'higher_is_better', g->'higher_is_better',
						   'fail_margin', g->'fail_margin', 'fail_ratio', g->'fail_ratio',
						   'pass_alpha', g->'pass_alpha', 'prove_at_percent', g->'prove_at_percent'),
		v.window_from, v.window_to, g->>'action', p_acted, v.detail)
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

-- Records the verdicts of one evaluation in one statement, in gate order:
-- g[i], v[i] and acted[i] as _store_verdict() takes them. The arrays are
-- unnested side by side (ROWS FROM), so each verdict is taken apart once,
-- not once per column (issue 15).
CREATE FUNCTION rollout._store_verdicts(r rollout.rollouts, g jsonb[], v rollout.gate_verdict[],
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

-- Sets a locked rollout to a holding-type state with a reason. The event
-- (and NOTIFY) is written when the rollout enters the state, once per
-- episode; while it stays there, a changed reason (another gate failing
-- too) only updates hold_reason. True when it entered the state.
CREATE FUNCTION rollout._hold(r rollout.rollouts, p_state text, p_action text, p_reason text,
							  p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF r.state = p_state THEN
		IF r.hold_reason IS DISTINCT FROM p_reason THEN
			UPDATE rollout.rollouts SET hold_reason = p_reason WHERE id = r.id;
		END IF;
		RETURN false;
	END IF;
	UPDATE rollout.rollouts SET state = p_state, hold_reason = p_reason,
		paused_from = CASE WHEN p_state = 'paused' THEN r.state END
		WHERE id = r.id;
	PERFORM rollout._record_change(r, p_action, p_reason, p_at);
	RETURN true;
END
$$;

-- The shadow phase (stage 0: state shadow, or holding on low similarity):
-- the gates that roll back act on shadow outputs; with no pair at all after
-- shadow.pair_grace it holds and alerts once; advance once its duration (longer by model_swap_extension when the
-- candidate's model differs from the baseline's) has passed with enough
-- pairs and enough similarity; hold when similarity is too low, and
-- release the hold once the mean similarity reaches the minimum again.
CREATE FUNCTION rollout._tick_shadow(r rollout.rollouts, p_at timestamptz,
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

-- The shadow phase's guards, in every state of the phase: the gates that
-- roll back compare the candidate's shadow outcomes (record(..., shadow =>
-- true)) with production's in the phase, and a failing one ends the rollout
-- before anyone is served. action is NULL when none failed.
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

-- Sample ratio mismatch: the observed candidate/stable split of outcomes
-- against the share each stage routes to the candidate. Returns a reason,
-- or NULL. The check looks at a growing sample at every tick, so it uses
-- the always-valid event-share test (two-sided, every stage of the canary
-- one segment) at the plan's srm_alpha, a tenth of its error budget: a
-- fixed-sample chi-square at p < 0.001 repeated every 5 minutes held 5% of
-- the A/A canaries of test/sim within their 1% and 5% stages.
CREATE FUNCTION rollout._srm_reason(r rollout.rollouts, p_at timestamptz) RETURNS text
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

-- Raises a locked rollout's share to its next step's for sample collection
-- when the plan allows it (extend.allow_boost), once per stage (_advance
-- clears the flag); true when it did. The stage and its bake stay; only
-- the share changes.
CREATE FUNCTION rollout._boost(r rollout.rollouts, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_next jsonb := r.plan->'steps'->r.stage;
BEGIN
	IF r.boosted OR NOT coalesce((r.plan->'extend'->>'allow_boost')::boolean, false)
	   OR v_next IS NULL OR (v_next->>'percent')::numeric >= 100 THEN
		RETURN false;
	END IF;
	UPDATE rollout.rollouts SET percent = (v_next->>'percent')::numeric, boosted = true WHERE id = r.id;
	PERFORM rollout._record_change(r, 'boost',
		pg_catalog.format('short of samples: share raised to %s%% for sample collection', v_next->>'percent'), p_at);
	RETURN true;
END
$$;

-- Counts a failing evaluation of a rollback gate in a rollout's fail_streak:
-- once per gate window, so that "consecutive" counts windows, not ticks.
-- Returns the streak with {"<gate>": {"count": n, "last": <time counted>}}.
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

-- A paused or awaiting_approval rollout: its candidate still serves, so
-- the gates that roll back are still evaluated and act as they would in
-- canary: every one is evaluated and stored, each alerts once per failure
-- episode, rollback_now acts at the first failure and wins over rollback,
-- which acts after its consecutive failing windows (the same fail_streak
-- count). Nothing else is evaluated and nothing advances.
CREATE FUNCTION rollout._tick_protect(r rollout.rollouts, p_at timestamptz,
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

-- Evaluates the gates of one locked canary (or holding) rollout and acts on
-- them: the worst failing action wins (rollback_now, rollback, freeze,
-- hold_for_approval, hold; SRM holds too), its reason listing every gate
-- failing with that action. With nothing failing, a stage whose bake is over
-- but short of samples (the step's, or a gate's own min_samples) is boosted
-- when the plan allows it (inconclusive gates do not prevent it), else its
-- bake is extended by one bake period, up to extend.max_extensions periods
-- (the boosted one included), then it holds until the samples are in; it
-- advances as soon as they are in.
CREATE FUNCTION rollout._tick_canary(r rollout.rollouts, p_at timestamptz,
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

-- The last error tick() met evaluating a rollout (NULL after a clean
-- evaluation); rollout.status shows it.
ALTER TABLE rollout.rollouts
	ADD COLUMN last_error		text,
	ADD COLUMN last_error_at	timestamptz;

-- A number of seconds from a plan (e.g. evaluation_interval_seconds), or
-- p_default when the key is missing or not a finite non-negative number:
-- a bad value in one plan never breaks a query over every rollout.
CREATE FUNCTION rollout._plan_seconds(p_plan jsonb, p_key text, p_default float8)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN jsonb_typeof(p_plan->p_key) = 'number'
					 AND (p_plan->>p_key)::numeric BETWEEN 0 AND 1e9
				THEN (p_plan->>p_key)::float8 ELSE p_default END
$$;
GRANT EXECUTE ON FUNCTION rollout._plan_seconds(jsonb, text, float8) TO rollout_reader;

-- Evaluates one rollout at the clock `at`, its row already locked by the
-- caller: dispatches on its state and strategy and returns what it did
-- (action NULL: not due yet). The loop of tick() and the worker call it once
-- per rollout; an error here is the rollout's own and the caller records it.
CREATE FUNCTION rollout._tick_one(r rollout.rollouts, at timestamptz,
	OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res record;
	v_interval interval;
BEGIN
	IF jsonb_typeof(r.plan->'evaluation_interval_seconds') NOT IN ('number', 'null') THEN
		RAISE EXCEPTION 'plan of rollout % has a bad "evaluation_interval_seconds"', r.id
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'It must be a number of seconds.';
	END IF;
	v_interval := make_interval(secs => coalesce((r.plan->>'evaluation_interval_seconds')::float8, 300));
	IF r.last_eval_at IS NOT NULL AND at < r.last_eval_at + v_interval THEN
		RETURN;
	END IF;
	IF r.strategy = 'blue_green' AND r.stage >= 1 THEN
		-- Green after the switch against blue before it.
		res := rollout._tick_bg(r, at, r.state IN ('paused', 'awaiting_approval'));
	ELSIF r.strategy = 'ab_test' THEN
		-- Every variant against the control; paused: only the gates that
		-- roll back.
		res := rollout._tick_ab(r, at, r.state IN ('paused', 'awaiting_approval'));
	ELSIF r.state IN ('paused', 'awaiting_approval') THEN
		-- Pausing stops advancement, never protection.
		res := rollout._tick_protect(r, at);
	ELSIF r.stage = 0 AND r.state IN ('shadow', 'holding') THEN
		-- The shadow phase, or a hold on its similarity.
		UPDATE rollout.rollouts x SET last_eval_at = at WHERE x.id = r.id;
		res := rollout._tick_shadow(r, at);
	ELSE
		res := rollout._tick_canary(r, at);
	END IF;
	action := coalesce(res.action, 'wait');
	detail := res.detail;
	IF r.last_error IS NOT NULL THEN
		UPDATE rollout.rollouts x SET last_error = NULL, last_error_at = NULL
		WHERE x.id = r.id;
	END IF;
END
$$;

-- The prelude of a tick at the clock `at`: folds the committed outcomes into
-- the window aggregates and moves route()'s exposure counters into their
-- totals. tick() runs it in its own transaction; the worker commits it
-- before it evaluates the rollouts, each in a transaction of its own.
CREATE FUNCTION rollout._tick_begin(at timestamptz) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout.refresh_aggregates(at);
	PERFORM rollout._flush_exposures_into_totals(at);
END
$$;

-- The active rollouts due for an evaluation at the clock `at`, those never
-- evaluated or evaluated longest ago first; at most p_limit (NULL: all).
-- A plan whose evaluation interval _tick_one() would reject is always
-- listed, so the error is recorded.
CREATE FUNCTION rollout._due_rollouts(at timestamptz, p_limit bigint DEFAULT NULL)
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

-- Evaluates one rollout at the clock `at`: locks its row (a row locked by
-- another transaction is skipped, never waited for), re-reads it, runs
-- _tick_one() and returns what it did; no row when the rollout is no longer
-- active or not due. An error is the rollout's own: it is returned and
-- kept in last_error. tick() calls it for every due rollout; the worker
-- calls it once per transaction.
CREATE FUNCTION rollout._tick_rollout(p_id bigint, at timestamptz)
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_msg text;
BEGIN
	-- Lock the agent, then the row, and re-read it: a concurrent
	-- promote/rollback may have won. Agent first, as every lifecycle
	-- function does (60_lifecycle.sql), so the two never deadlock.
	SELECT r0.* INTO r FROM rollout.rollouts r0
		JOIN rollout.agents a ON a.name = r0.agent
		WHERE r0.id = p_id FOR UPDATE OF a, r0 SKIP LOCKED;
	IF NOT FOUND THEN
		SELECT * INTO r FROM rollout.rollouts x WHERE x.id = p_id;
		IF FOUND THEN
			rollout_id := r.id;
			agent := r.agent;
			action := 'skipped';
			detail := 'the rollout or its agent is locked by another transaction; the next tick evaluates it';
			RETURN NEXT;
		END IF;
		RETURN;
	END IF;
	IF NOT rollout.is_active_state(r.state) THEN
		RETURN;
	END IF;
	rollout_id := r.id;
	agent := r.agent;
	BEGIN
		SELECT o.action, o.detail INTO action, detail FROM rollout._tick_one(r, at) o;
		IF action IS NULL THEN
			RETURN;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
		action := 'error';
		detail := v_msg;
		UPDATE rollout.rollouts x SET last_error = left(v_msg, 1000), last_error_at = at
		WHERE x.id = r.id;
	END;
	RETURN NEXT;
END
$$;

-- After the stable period, refreshes the promoted version's baseline
-- metrics; one row per rollout refreshed. The end of every tick.
CREATE FUNCTION rollout._tick_baselines(at timestamptz)
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
BEGIN
	FOR r IN SELECT * FROM rollout.rollouts x
			 WHERE x.state = 'promoted' AND x.baseline_refreshed_at IS NULL
			   AND x.promoted_at + make_interval(secs => rollout._plan_seconds(x.plan, 'stable_period_seconds', 14400)) <= at
			 FOR UPDATE SKIP LOCKED LOOP
		INSERT INTO rollout.baselines (agent, version, rollout_id, refreshed_at, metrics)
			VALUES (r.agent, r.candidate, r.id, at,
					rollout._baseline_metrics(r.agent, r.candidate, r.promoted_at,
						r.promoted_at + make_interval(secs => rollout._plan_seconds(r.plan, 'stable_period_seconds', 14400))));
		UPDATE rollout.rollouts x SET baseline_refreshed_at = at WHERE x.id = r.id;
		PERFORM rollout._log_event(r.agent, r.id, 'baseline_refresh', NULL,
			jsonb_build_object('version', r.candidate), 'stable period over', at);
		rollout_id := r.id;
		agent := r.agent;
		action := 'baseline_refresh';
		detail := pg_catalog.format('version %s is the new baseline', r.candidate);
		RETURN NEXT;
	END LOOP;
END
$$;

-- Evaluates every active rollout once at the clock `at` (NULL: now()) and
-- returns one row per rollout acted on, waiting, skipped or in error.
-- Everything happens in the caller's transaction; rollouts not due are not
-- locked. The worker runs the same steps with a transaction per rollout.
CREATE FUNCTION rollout.tick(at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rollout_id bigint, agent text, action text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
BEGIN
	at := coalesce(at, pg_catalog.now());
	IF NOT isfinite(at) THEN
		RAISE EXCEPTION 'argument "at" must be a finite time'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- A standby (or a read-only transaction) cannot change rollout state:
	-- say so before the first write fails with a lower-level message.
	IF pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean THEN
		RAISE EXCEPTION 'rollout.tick() cannot run in a read-only transaction'
			USING ERRCODE = 'read_only_sql_transaction',
				  DETAIL = CASE WHEN pg_is_in_recovery()
							    THEN 'This server is a standby; rollout state changes only on the primary.'
							    ELSE 'tick() changes rollout state.' END,
				  HINT = 'Call rollout.tick() on the primary, in a read-write transaction.';
	END IF;
	-- Ticks from the worker and from cron never overlap.
	PERFORM pg_advisory_xact_lock(7286523461853490001);
	PERFORM rollout._tick_begin(at);
	-- Each rollout on its own: see _tick_rollout().
	FOR v_id IN SELECT d FROM rollout._due_rollouts(at) d ORDER BY d LOOP
		RETURN QUERY SELECT * FROM rollout._tick_rollout(v_id, at);
	END LOOP;
	RETURN QUERY SELECT * FROM rollout._tick_baselines(at);
END
$$;
-- 63: rollout.status and the privileges of the lifecycle.

-- When the shadow phase of a rollout ends: its start plus the plan's
-- duration, longer by shadow.model_swap_extension (a fraction) when the
-- candidate's model differs from the baseline's (seed 001: a model swap
-- under high risk keeps 7.5 days of shadow instead of 5).
CREATE FUNCTION rollout._shadow_until(r rollout.rollouts) RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.stage_started_at + make_interval(secs =>
		rollout._plan_seconds(r.plan->'shadow', 'duration_seconds', 0)
		* CASE WHEN (SELECT c.model FROM rollout.versions c WHERE c.agent = r.agent AND c.version = r.candidate)
					IS DISTINCT FROM
					(SELECT b.model FROM rollout.versions b WHERE b.agent = r.agent AND b.version = r.baseline)
			   THEN 1 + coalesce(rollout._plan_seconds(r.plan->'shadow', 'model_swap_extension', 0), 0)
			   ELSE 1 END)
$$;

-- The end of the blackout window a plan is in at p_at (NULL when it is not
-- in one): scanned forward in 10-minute steps for up to 8 days, then
-- narrowed to the second. Past 8 days: 'infinity'.
CREATE FUNCTION rollout._blackout_until(p_plan jsonb, p_at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_in timestamptz := p_at;
	v_out timestamptz;
	v_mid timestamptz;
BEGIN
	IF NOT rollout.in_blackout(p_plan, p_at) THEN
		RETURN NULL;
	END IF;
	FOR i IN 1 .. 1152 LOOP
		v_out := p_at + make_interval(mins => 10 * i);
		EXIT WHEN NOT rollout.in_blackout(p_plan, v_out);
		v_in := v_out;
		v_out := NULL;
	END LOOP;
	IF v_out IS NULL THEN
		RETURN 'infinity';
	END IF;
	WHILE v_out - v_in > interval '1 second' LOOP
		v_mid := v_in + (v_out - v_in) / 2;
		IF rollout.in_blackout(p_plan, v_mid) THEN
			v_in := v_mid;
		ELSE
			v_out := v_mid;
		END IF;
	END LOOP;
	RETURN date_trunc('second', v_out + interval '999 milliseconds');
END
$$;

-- One line a person reads saying why a rollout is not advancing, as of its
-- last evaluation (NULL for a finished rollout): what a paused, held or
-- approval-waiting rollout waits for; in the shadow phase, the pairs and
-- the time; in a canary, every gate failing or inconclusive, alerts fired,
-- the bake, samples short with the time they need at the current traffic,
-- blackout until when, and the last evaluation error.
CREATE FUNCTION rollout._waiting_for(r rollout.rollouts, p_n_candidate bigint, p_n_baseline bigint,
									 p_need bigint, p_bake_until timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_now timestamptz := coalesce(r.last_eval_at, r.stage_started_at);
	v_parts text[] := '{}';
	v_ev record;
	v_n bigint;
	v_sim float8;
	v_need bigint;
	v_until timestamptz;
	v_fail text[];
	v_alert text[];
	v_error text[];
	v_incon text[];
	v_factor float8;
	v_blackout timestamptz;
BEGIN
	IF NOT rollout.is_active_state(r.state) THEN
		RETURN NULL;
	END IF;
	IF r.state = 'paused' THEN
		SELECT e.action, e.acting_role, e.reason INTO v_ev FROM rollout.events e
			WHERE e.rollout_id = r.id AND e.action IN ('pause', 'freeze') ORDER BY e.id DESC LIMIT 1;
		RETURN CASE WHEN v_ev.action = 'freeze'
					THEN pg_catalog.format('a person to resume it (rollout.resume()): frozen by a gate: %s', r.hold_reason)
					ELSE pg_catalog.format('a person to resume it (rollout.resume()): paused by %s%s',
										   coalesce(v_ev.acting_role, 'someone'), coalesce(': ' || v_ev.reason, ''))
			   END || '; gates that roll back are still evaluated';
	END IF;
	IF r.state = 'awaiting_decision' THEN
		RETURN 'a decision: ' || coalesce(r.hold_reason, 'the experiment is over');
	END IF;
	IF r.state = 'awaiting_approval' THEN
		RETURN pg_catalog.format('approval by a second person (rollout.approve() or rollout.promote()): %s; gates that roll back are still evaluated',
								 coalesce(r.hold_reason, 'a gate failed'));
	END IF;

	IF r.stage = 0 THEN
		-- The shadow phase.
		SELECT coalesce(sum(w.n_similarity), 0), sum(w.sum_similarity) / nullif(sum(w.n_similarity), 0)
			INTO v_n, v_sim
			FROM rollout.shadow_windows w WHERE w.rollout_id = r.id AND w.stage = 0;
		v_need := coalesce((r.plan->'shadow'->>'min_samples')::bigint, 0);
		v_until := rollout._shadow_until(r);
		IF r.state = 'holding' AND v_n = 0 THEN
			RETURN 'shadow pairs (held: ' || coalesce(r.hold_reason, 'none recorded') || ')';
		ELSIF r.state = 'holding' THEN
			RETURN pg_catalog.format('shadow similarity to recover to %s (held: %s)',
									 r.plan->'shadow'->>'min_similarity', r.hold_reason);
		END IF;
		IF v_n = 0 THEN
			v_parts := v_parts || 'no shadow pairs recorded: the service must call rollout.record_shadow_pair() for the requests route() mirrors (decision.shadow_version)'::text;
		ELSIF v_n < v_need THEN
			v_parts := v_parts || pg_catalog.format('shadow pairs short: %s of %s%s', v_n, v_need,
				rollout._eta(v_now - r.stage_started_at, (v_need - v_n)::float8 / v_n));
		END IF;
		IF v_now < v_until THEN
			v_parts := v_parts || pg_catalog.format('shadow phase until %s', v_until);
		END IF;
		IF v_sim IS NOT NULL THEN
			v_parts := v_parts || pg_catalog.format('mean similarity %s (at least %s needed)',
				round(v_sim::numeric, 3), r.plan->'shadow'->>'min_similarity');
		END IF;
		RETURN array_to_string(v_parts, '; ');
	END IF;

	IF r.state = 'holding' THEN
		v_parts := v_parts || ('held: ' || coalesce(r.hold_reason, 'a gate failed'));
	END IF;
	-- The verdicts of the last evaluation.
	-- The verdicts of the last evaluation (A/B tests: variant:gate).
	SELECT array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'fail' AND gr.action NOT IN ('alert', 'dry_run')),
		   array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'fail' AND gr.action = 'alert'),
		   array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'error' AND gr.action <> 'dry_run'),
		   array_agg(gr.g ORDER BY gr.id) FILTER (WHERE gr.verdict = 'inconclusive' AND gr.action NOT IN ('alert', 'dry_run'))
		INTO v_fail, v_alert, v_error, v_incon
		FROM (SELECT x.*, coalesce(x.variant || ':', '') || x.gate AS g FROM rollout.gate_results x) gr
		WHERE gr.rollout_id = r.id
		  AND gr.at = (SELECT max(g2.at) FROM rollout.gate_results g2 WHERE g2.rollout_id = r.id);
	IF r.state <> 'holding' AND cardinality(v_fail) > 0 THEN
		v_parts := v_parts || ('gates failing: ' || array_to_string(v_fail, ', '));
	END IF;
	IF cardinality(v_error) > 0 THEN
		v_parts := v_parts || ('gates in error: ' || array_to_string(v_error, ', '));
	END IF;
	IF cardinality(v_alert) > 0 THEN
		v_parts := v_parts || ('alert fired (does not block): ' || array_to_string(v_alert, ', '));
	END IF;
	IF r.strategy = 'blue_green' THEN
		v_parts := v_parts || CASE WHEN r.switched_at IS NULL
			THEN 'a person to switch the traffic to green (rollout.switch())'
			ELSE pg_catalog.format('green stable until %s (then promoted, if every gate passes)',
				r.switched_at + make_interval(secs => rollout._plan_seconds(r.plan, 'stable_period_seconds', 14400))) END;
	END IF;
	IF r.strategy = 'ab_test' THEN
		v_until := r.started_at + make_interval(secs =>
			rollout._plan_seconds(r.plan->'experiment', 'duration_seconds', 604800));
		v_parts := v_parts || CASE WHEN v_now < v_until
			THEN pg_catalog.format('the end of the experiment at %s', v_until)
			ELSE pg_catalog.format('experiment over, short of %s samples on a variant', r.plan->'experiment'->>'min_samples') END;
	END IF;
	IF p_bake_until IS NOT NULL AND v_now < p_bake_until THEN
		v_parts := v_parts || pg_catalog.format('bake until %s', p_bake_until);
	ELSIF r.extensions > 0 AND r.state <> 'holding' THEN
		v_parts := v_parts || pg_catalog.format('samples collected until %s (%s of %s extensions%s)',
			p_bake_until + (p_bake_until - r.stage_started_at) * r.extensions, r.extensions,
			coalesce(r.plan->'extend'->>'max_extensions', '3'), CASE WHEN r.boosted THEN ', boosted' ELSE '' END);
	END IF;
	IF p_need > 0 AND (p_n_candidate < p_need OR p_n_baseline < p_need) THEN
		-- The arms short of the step's samples, and the time the slower needs.
		v_factor := greatest((p_need - p_n_candidate)::float8 / nullif(p_n_candidate, 0),
							 (p_need - p_n_baseline)::float8 / nullif(p_n_baseline, 0));
		v_parts := v_parts || ('samples short: ' || concat_ws(', ',
			CASE WHEN p_n_candidate < p_need THEN pg_catalog.format('candidate %s of %s', p_n_candidate, p_need) END,
			CASE WHEN p_n_baseline < p_need THEN pg_catalog.format('baseline %s of %s', p_n_baseline, p_need) END)
			|| CASE WHEN least(p_n_candidate, p_n_baseline) = 0 THEN ', none yet, so no estimate of the time'
					ELSE rollout._eta(v_now - r.stage_started_at, v_factor) END);
	END IF;
	IF cardinality(v_incon) > 0 THEN
		v_parts := v_parts || ('gates inconclusive: ' || array_to_string(v_incon, ', '));
	END IF;
	v_blackout := rollout._blackout_until(r.plan, v_now);
	IF v_blackout IS NOT NULL THEN
		v_parts := v_parts || pg_catalog.format('blackout until %s', v_blackout);
	END IF;
	IF r.last_error IS NOT NULL THEN
		v_parts := v_parts || ('the last evaluation failed: ' || r.last_error);
	END IF;
	IF cardinality(v_parts) = 0 THEN
		RETURN CASE WHEN r.last_eval_at IS NULL THEN 'the first evaluation'
					ELSE 'nothing: it advances at the next evaluation' END;
	END IF;
	RETURN array_to_string(v_parts, '; ');
END
$$;

CREATE VIEW rollout.status AS
SELECT DISTINCT ON (r.agent)
	r.agent,
	r.id AS rollout_id,
	r.state,
	r.stage,
	r.percent,
	r.strategy,
	r.baseline,
	r.candidate,
	n.n_candidate AS samples_candidate,
	n.n_baseline AS samples_baseline,
	CASE WHEN jsonb_typeof(step->'min_samples') = 'number'
			  AND (step->>'min_samples')::numeric BETWEEN 0 AND 9e18
		 THEN (step->>'min_samples')::numeric::bigint END AS samples_needed,
	bake.until AS bake_until,
	CASE WHEN rollout.is_active_state(r.state) AND bake.until IS NOT NULL THEN
		greatest(bake.until - coalesce(r.last_eval_at, r.stage_started_at), interval '0')
	END AS bake_left,
	CASE
		WHEN r.state = 'promoted' THEN 1.0
		WHEN r.stage = 0 OR nsteps = 0 THEN 0.0
		ELSE round(((r.stage - 1) + least(1.0, greatest(0.0,
				extract(epoch FROM coalesce(r.last_eval_at, r.stage_started_at) - r.stage_started_at)
				/ nullif(rollout._plan_seconds(step, 'bake_seconds', 0)::numeric, 0)))) / nsteps, 3)
	END AS progress,
	r.hold_reason,
	g.verdicts AS last_gate_results,
	CASE WHEN rollout.is_active_state(r.state) THEN
		coalesce(r.last_eval_at, r.started_at)
		+ make_interval(secs => rollout._plan_seconds(r.plan, 'evaluation_interval_seconds', 300))
	END AS next_evaluation,
	r.started_at,
	r.stage_started_at,
	r.ended_at,
	r.last_error,
	r.last_error_at,
	rollout._waiting_for(r, n.n_candidate::bigint, n.n_baseline::bigint,
		CASE WHEN jsonb_typeof(step->'min_samples') = 'number'
				  AND (step->>'min_samples')::numeric BETWEEN 0 AND 9e18
			 THEN (step->>'min_samples')::numeric::bigint ELSE 0 END,
		bake.until) AS waiting_for
FROM rollout.rollouts r
CROSS JOIN LATERAL (SELECT r.plan->'steps'->(r.stage - 1) AS step,
						   CASE WHEN jsonb_typeof(r.plan->'steps') = 'array'
								THEN jsonb_array_length(r.plan->'steps') ELSE 0 END AS nsteps) s
CROSS JOIN LATERAL (SELECT r.stage_started_at
						   + make_interval(secs => rollout._plan_seconds(s.step, 'bake_seconds', NULL)) AS until) bake
CROSS JOIN LATERAL (
	SELECT coalesce(sum(a.n) FILTER (WHERE a.arm = 'candidate' AND NOT a.shadow), 0) AS n_candidate,
		   coalesce(sum(a.n) FILTER (WHERE a.arm = 'stable' AND NOT a.shadow), 0) AS n_baseline
	FROM rollout.arm_summary(r.id, rollout.window_start(r.stage_started_at), 'infinity', NULL, r.stage) a) n
LEFT JOIN LATERAL (
	SELECT jsonb_object_agg(gr.gate, jsonb_build_object('verdict', gr.verdict, 'p_value', gr.p_value,
												  'estimate', gr.estimate, 'detail', gr.detail)) AS verdicts
	FROM rollout.gate_results gr
	WHERE gr.rollout_id = r.id
	  AND gr.at = (SELECT max(gr2.at) FROM rollout.gate_results gr2 WHERE gr2.rollout_id = r.id)) g ON true
ORDER BY r.agent, r.id DESC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rollout FROM PUBLIC;
GRANT SELECT ON rollout.status, rollout.stages, rollout.gate_results, rollout.baselines TO rollout_reader;
GRANT EXECUTE ON FUNCTION
	rollout.start(text, integer, jsonb, text, text, timestamptz),
	rollout.pause(text, text, timestamptz),
	rollout.resume(text, text, timestamptz),
	rollout.approve(text, text, timestamptz),
	rollout.promote(text, boolean, text, timestamptz, text),
	rollout.rollback(text, text, boolean, timestamptz),
	rollout.retry(text, text, timestamptz),
	rollout.tick(timestamptz)
	TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.deploy_now(text, integer, text, timestamptz) TO rollout_admin;
GRANT EXECUTE ON FUNCTION rollout.is_active_state(text) TO PUBLIC;
-- 64: exposure totals. route() counts its decisions per (rollout, arm) in
-- shared memory (src/route_shmem.c); every tick() moves those counters into
-- rollout.exposure_totals, so they survive a restart and readers see the
-- running totals. Counters are read and reset in one step, so two ticks
-- never add the same exposures twice.

CREATE TABLE rollout.exposure_totals (
	rollout_id	bigint NOT NULL,
	arm			text NOT NULL,
	exposures	bigint NOT NULL,
	updated_at	timestamptz NOT NULL,
	PRIMARY KEY (rollout_id, arm)
);
-- No foreign key on rollout_id: the counters live in shared memory across
-- DROP/CREATE EXTENSION, and a stale id must not make every tick fail.
-- Decisions route() could not count per rollout (its table was full) are
-- added under rollout_id 0, arm '(not counted)'.

-- Adds the shared-memory counters to the totals and resets them; returns
-- the number of exposures moved. tick() calls it under its advisory lock.
CREATE FUNCTION rollout._flush_exposures_into_totals(p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_moved bigint;
BEGIN
	WITH f AS (
		SELECT coalesce(e.rollout_id, 0) AS rollout_id, e.arm, sum(e.exposures)::bigint AS exposures
		FROM rollout.flush_exposures() e
		WHERE e.arm IS NOT NULL AND e.exposures > 0
		GROUP BY 1, 2
	), ins AS (
		INSERT INTO rollout.exposure_totals AS t (rollout_id, arm, exposures, updated_at)
		SELECT f.rollout_id, f.arm, f.exposures, p_at FROM f
		ON CONFLICT (rollout_id, arm) DO UPDATE
			SET exposures = t.exposures + EXCLUDED.exposures,
				updated_at = greatest(t.updated_at, EXCLUDED.updated_at)
	)
	SELECT coalesce(sum(f.exposures), 0) INTO v_moved FROM f;
	RETURN v_moved;
END
$$;

REVOKE ALL ON FUNCTION rollout._flush_exposures_into_totals(timestamptz) FROM PUBLIC;
GRANT SELECT ON rollout.exposure_totals TO rollout_reader;
-- 65: baselines. After a promoted rollout's stable period, tick() stores the
-- metrics of the promoted version over that period in rollout.baselines.
-- Once promoted, the version is production and its outcomes carry no
-- rollout (rollout_id NULL), so the metrics come from the agent's raw
-- outcomes of that version in the interval, whichever rollout they belong to.

-- The metrics of one version of an agent over [p_from, p_to), from its raw
-- live (non-shadow) outcomes: counts, rates, means and quantiles. Never
-- NULL: without outcomes, n is 0 and the rest are NULL.
CREATE FUNCTION rollout._baseline_metrics(p_agent text, p_version integer, p_from timestamptz,
										  p_to timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
		'from', p_from, 'to', p_to, 'n', count(*),
		'success_rate', avg(o.success::integer),
		'error_rate', avg(o.error::integer),
		'safety_rate', avg(o.safety_flag::integer),
		'quality_mean', avg(o.quality),
		'feedback_mean', avg(o.feedback),
		'latency_p50', percentile_cont(0.5) WITHIN GROUP (ORDER BY o.latency_ms),
		'latency_p95', percentile_cont(0.95) WITHIN GROUP (ORDER BY o.latency_ms),
		'cost_mean', avg(o.cost),
		'cost_median', percentile_cont(0.5) WITHIN GROUP (ORDER BY o.cost))
	FROM rollout.outcomes o
	WHERE o.agent = p_agent AND o.version = p_version AND NOT o.shadow
	  AND o.at >= p_from AND o.at < p_to
$$;
-- 65: how transitions are stamped (docs/lifecycle.md, "Transitions"): a
-- rollout's [started_at, ended_at) is the period its split was served and
-- is never rewritten; undoing a promotion stamps the end of the
-- post-promotion watch in its own column. (A piece of its own, after every
-- other column of rollout.rollouts, so that a fresh install and an upgraded
-- one have the same column order.)

ALTER TABLE rollout.rollouts ADD COLUMN watch_ended_at timestamptz;
-- 66: blue-green. Blue (the baseline) serves everyone until a person calls
-- rollout.switch(); green (the candidate) then serves everyone (percent is
-- only ever 0 or 100). Gates compare green after the switch with blue's
-- outcomes before it (rollout._arm_verdict, two independent samples); a
-- failing rollback or rollback_now gate switches back at once, other
-- failing gates hold; after stable_period with every acting gate passing,
-- the rollout is promoted. rollout.switch_back() is the manual way back.

-- When traffic switched to green (NULL: not yet, or not blue-green).
ALTER TABLE rollout.rollouts ADD COLUMN switched_at timestamptz;

-- Switches a blue-green rollout's traffic to green (the candidate).
CREATE FUNCTION rollout.switch(agent text, reason text DEFAULT NULL,
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
	IF r.strategy <> 'blue_green' THEN
		RAISE EXCEPTION 'rollout % of agent "%" is not blue-green', r.id, agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('Its strategy is %s; switch and switch_back are for blue_green.', r.strategy);
	END IF;
	IF r.switched_at IS NOT NULL THEN
		RAISE EXCEPTION 'rollout % of agent "%" has already switched to green', r.id, agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('It switched at %s; rollout.switch_back() returns to blue.', r.switched_at);
	END IF;
	IF r.stage < 1 OR r.state NOT IN ('canary', 'holding') THEN
		RAISE EXCEPTION 'rollout % of agent "%" cannot switch in state %', r.id, agent, r.state
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A blue-green rollout switches after its shadow phase, when it is not paused or waiting.';
	END IF;
	UPDATE rollout.rollouts SET percent = 100, switched_at = at, state = 'canary', hold_reason = NULL,
		last_eval_at = NULL, fail_streak = '{}'
		WHERE id = r.id;
	PERFORM rollout._record_change(r, 'switch', coalesce(reason, 'traffic switched to green'), at);
END
$$;

-- Switches a blue-green rollout back to blue: the rollout ends rolled back.
CREATE FUNCTION rollout.switch_back(agent text, reason text DEFAULT NULL,
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
	IF r.strategy <> 'blue_green' OR r.switched_at IS NULL THEN
		RAISE EXCEPTION 'rollout % of agent "%" has not switched to green', r.id, agent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'switch_back returns a blue-green rollout to blue after rollout.switch(); rollout.rollback() ends any rollout.';
	END IF;
	PERFORM rollout._finish_rollback(r, false, 'switch_back', coalesce(reason, 'traffic switched back to blue'), at);
END
$$;

-- Evaluates one locked blue-green rollout (stage 1). Before the switch it
-- waits for one. After it: every gate, green since the switch against blue
-- before it; a failing rollback/rollback_now gate switches back, a failing
-- hold-type gate holds (released when every gate passes again); after
-- stable_period with every acting gate passing, promotion. p_protect
-- (paused, awaiting_approval): only the gates that roll back.
CREATE FUNCTION rollout._tick_bg(r rollout.rollouts, p_at timestamptz, p_protect boolean,
								 OUT action text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	v rollout.gate_verdict;
	v_verdicts jsonb := '{}';
	v_back text;
	v_back_now boolean := false;
	v_holds text[] := '{}';
	v_blocking text[] := '{}';
	v_until timestamptz;
BEGIN
	UPDATE rollout.rollouts SET last_eval_at = p_at WHERE id = r.id;
	action := 'wait';
	IF r.switched_at IS NULL THEN
		detail := 'blue serves everyone; rollout.switch() sends the traffic to green';
		RETURN;
	END IF;
	FOR g IN SELECT x FROM jsonb_array_elements(coalesce(r.plan->'gates', '[]')) x LOOP
		CONTINUE WHEN p_protect AND g->>'action' NOT IN ('rollback', 'rollback_now');
		v := rollout._arm_verdict(r, g, 'candidate', rollout.window_start(r.switched_at), p_at + interval '1 microsecond',
								  'stable', rollout.window_start(r.started_at), rollout.window_start(r.switched_at), 1);
		PERFORM rollout._store_verdict(r, g, v, p_at,
			v.verdict = 'fail' AND g->>'action' NOT IN ('dry_run', 'alert'));
		v_verdicts := v_verdicts || jsonb_build_object(g->>'name', v.verdict);
		CONTINUE WHEN g->>'action' IN ('dry_run', 'alert');
		IF v.verdict = 'fail' AND g->>'action' IN ('rollback', 'rollback_now') THEN
			v_back := coalesce(v_back || '; ', '') || pg_catalog.format('gate %s failed: %s', g->>'name', v.detail);
			v_back_now := v_back_now OR g->>'action' = 'rollback_now';
		ELSIF v.verdict = 'fail' THEN
			v_holds := v_holds || pg_catalog.format('gate %s failed', g->>'name');
		ELSIF v.verdict <> 'pass' THEN
			v_blocking := v_blocking || pg_catalog.format('%s %s', g->>'name', v.verdict);
		END IF;
	END LOOP;
	IF NOT p_protect THEN
		UPDATE rollout.stages SET verdicts = v_verdicts WHERE rollout_id = r.id AND stage = r.stage;
	END IF;
	IF v_back IS NOT NULL THEN
		PERFORM rollout._finish_rollback(r, v_back_now, 'switch_back', 'green failed: ' || v_back, p_at);
		action := 'switch_back';
		detail := 'green failed: ' || v_back;
		RETURN;
	END IF;
	IF p_protect THEN
		detail := pg_catalog.format('%s: only the gates that roll back are evaluated', r.state);
		RETURN;
	END IF;
	IF cardinality(v_holds) > 0 THEN
		detail := array_to_string(v_holds, '; ');
		action := CASE WHEN rollout._hold(r, 'holding', 'hold', detail, p_at) THEN 'hold' ELSE 'wait' END;
		RETURN;
	END IF;
	IF cardinality(v_blocking) > 0 THEN
		detail := 'gates not passed: ' || array_to_string(v_blocking, ', ');
		RETURN;
	END IF;
	IF r.state = 'holding' THEN
		UPDATE rollout.rollouts SET state = 'canary', hold_reason = NULL WHERE id = r.id;
		PERFORM rollout._record_change(r, 'release', 'every gate passes again', p_at);
		SELECT * INTO r FROM rollout.rollouts WHERE id = r.id;
	END IF;
	v_until := r.switched_at + make_interval(secs => rollout._plan_seconds(r.plan, 'stable_period_seconds', 14400));
	IF p_at < v_until THEN
		detail := pg_catalog.format('green stable until %s', v_until);
		RETURN;
	END IF;
	PERFORM rollout._finish_promotion(r, pg_catalog.format('green stable for its stable period, every gate passed'), p_at);
	action := 'promote';
	detail := 'promoted';
END
$$;
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
	res.detail := pg_catalog.format('%s %s: %s %s vs %s %s, n %s/%s, p %s at alpha %s%s',
		v_metric, v_cmp, p_arm, round(sc.value::numeric, 4), p_base_arm, round(sb.value::numeric, 4),
		res.n_candidate, res.n_baseline, round(res.p_value::numeric, 4), round(v_alpha::numeric, 6),
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
-- 90: who may do what (docs/security.md), the record nothing bypasses, and
-- what pg_dump keeps. This piece runs last: it decides the privileges of
-- every object in schema rollout, whatever earlier pieces granted, so the
-- permission table of docs/security.md is this file. A new function or
-- table gets no privilege until it is listed here (test: sql/roles.sql).

------------------------------------------------------------------------------
-- Audit of the tables rollout_admin edits directly

-- Appends an event for every row changed in a settings table; the event is
-- the record of a direct edit (rollout.outcome_settings, quality_scales).
CREATE FUNCTION rollout._audit_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rollout._log_event(
		CASE WHEN TG_TABLE_NAME = 'quality_scales'
			 THEN coalesce(pg_catalog.to_jsonb(NEW), pg_catalog.to_jsonb(OLD))->>'agent' END,
		NULL, TG_TABLE_NAME || '_' || pg_catalog.lower(TG_OP),
		CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
		CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END,
		NULL);
	RETURN NULL;
END
$$;

CREATE TRIGGER outcome_settings_audit AFTER INSERT OR UPDATE OR DELETE ON rollout.outcome_settings
	FOR EACH ROW EXECUTE FUNCTION rollout._audit_change();
CREATE TRIGGER quality_scales_audit AFTER INSERT OR UPDATE OR DELETE ON rollout.quality_scales
	FOR EACH ROW EXECUTE FUNCTION rollout._audit_change();

-- TRUNCATE would erase an append-only record without a row trigger firing.
CREATE TRIGGER label_history_no_truncate BEFORE TRUNCATE ON rollout.label_history
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._reject_change();
CREATE TRIGGER gate_results_no_truncate BEFORE TRUNCATE ON rollout.gate_results
	FOR EACH STATEMENT EXECUTE FUNCTION rollout._reject_change();

------------------------------------------------------------------------------
-- Backups: every table that holds user state is dumped by pg_dump.

-- Built-in risk tiers as shipped are not dumped (the next release may ship
-- better ones); a tier a DBA edited is dumped like a custom one. The
-- column starts true for the seed rows only.
ALTER TABLE rollout.plan_presets ADD COLUMN builtin boolean NOT NULL DEFAULT true;
ALTER TABLE rollout.plan_presets ALTER COLUMN builtin SET DEFAULT false;

-- An edited built-in tier is the DBA's from then on.
CREATE FUNCTION rollout._plan_preset_edited() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.builtin := false;
	RETURN NEW;
END
$$;
CREATE TRIGGER plan_presets_edited BEFORE INSERT OR UPDATE ON rollout.plan_presets
	FOR EACH ROW EXECUTE FUNCTION rollout._plan_preset_edited();

-- Restoring a dump (in session_replication_role = replica, docs/security.md)
-- inserts rows that CREATE EXTENSION already seeded: the single-row
-- settings, the pin secret and edited built-in tiers. The restored row
-- replaces the seeded one. TG_ARGV[0] names the key column.
CREATE FUNCTION rollout._restore_replace() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE pg_catalog.format('DELETE FROM %I.%I WHERE %I = ($1).%I',
							  TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[0])
		USING NEW;
	RETURN NEW;
END
$$;
CREATE TRIGGER plan_presets_restore BEFORE INSERT ON rollout.plan_presets
	FOR EACH ROW WHEN (pg_catalog.current_setting('session_replication_role') = 'replica')
	EXECUTE FUNCTION rollout._restore_replace('risk');
ALTER TABLE rollout.plan_presets ENABLE ALWAYS TRIGGER plan_presets_restore;
CREATE TRIGGER outcome_settings_restore BEFORE INSERT ON rollout.outcome_settings
	FOR EACH ROW WHEN (pg_catalog.current_setting('session_replication_role') = 'replica')
	EXECUTE FUNCTION rollout._restore_replace('id');
ALTER TABLE rollout.outcome_settings ENABLE ALWAYS TRIGGER outcome_settings_restore;
CREATE TRIGGER outcome_watermark_restore BEFORE INSERT ON rollout.outcome_watermark
	FOR EACH ROW WHEN (pg_catalog.current_setting('session_replication_role') = 'replica')
	EXECUTE FUNCTION rollout._restore_replace('id');
ALTER TABLE rollout.outcome_watermark ENABLE ALWAYS TRIGGER outcome_watermark_restore;
CREATE TRIGGER route_secret_restore BEFORE INSERT ON rollout._route_secret
	FOR EACH ROW WHEN (pg_catalog.current_setting('session_replication_role') = 'replica')
	EXECUTE FUNCTION rollout._restore_replace('id');
ALTER TABLE rollout._route_secret ENABLE ALWAYS TRIGGER route_secret_restore;

-- Transaction ids do not carry over to another cluster: after a restore,
-- outcomes already folded get txid 0, those not yet folded the id of this
-- transaction, and the watermark moves to it, so that refresh_aggregates()
-- neither counts a restored row twice nor skips a new one. Run once after
-- restoring a dump (docs/security.md); it writes an event.
CREATE FUNCTION rollout.finish_restore() RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_folded bigint;
	v_now bigint := pg_catalog.txid_current();
	n_outcomes bigint;
	n_pairs bigint;
BEGIN
	SELECT w.folded_below INTO v_folded FROM rollout.outcome_watermark w FOR UPDATE;
	UPDATE rollout.outcomes SET txid = CASE WHEN txid < v_folded THEN 0 ELSE v_now END
		WHERE txid <> 0 AND txid <> v_now;
	GET DIAGNOSTICS n_outcomes = ROW_COUNT;
	UPDATE rollout.shadow_pairs SET txid = CASE WHEN txid < v_folded THEN 0 ELSE v_now END
		WHERE txid <> 0 AND txid <> v_now;
	GET DIAGNOSTICS n_pairs = ROW_COUNT;
	UPDATE rollout.outcome_watermark SET folded_below = v_now;
	PERFORM rollout._log_event(NULL, NULL, 'finish_restore',
							   jsonb_build_object('folded_below', v_folded),
							   jsonb_build_object('folded_below', v_now, 'outcomes', n_outcomes,
												  'shadow_pairs', n_pairs),
							   NULL);
END
$$;

SELECT pg_catalog.pg_extension_config_dump('rollout.agents', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.versions', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.labels', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.label_history', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.events', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.rollouts', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.stages', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.gate_results', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.baselines', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.plan_presets', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_settings', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.quality_scales', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcomes_default', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.shadow_pairs_default', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_staging', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_windows', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.shadow_windows', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_watermark', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.exposure_totals', '');
SELECT pg_catalog.pg_extension_config_dump('rollout._route_secret', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.agents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.label_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.rollouts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.gate_results_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcomes_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.shadow_pairs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.outcome_staging_id_seq', '');

------------------------------------------------------------------------------
-- Outcomes staged by COPY carry their author, and only an allowed service
-- may stage them (rollout._require_service).

-- Sets the author of a staged outcome and checks the agent's service roles.
CREATE FUNCTION rollout._staging_author() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.author := session_user;
	PERFORM rollout._require_service(NEW.agent);
	RETURN NEW;
END
$$;
CREATE TRIGGER outcome_staging_author BEFORE INSERT ON rollout.outcome_staging
	FOR EACH ROW EXECUTE FUNCTION rollout._staging_author();

------------------------------------------------------------------------------
-- Privileges. Everything is revoked, then granted to the lowest role that
-- needs it: rollout_admin is a member of rollout_operator and
-- rollout_service, rollout_operator of rollout_reader. No role may write a
-- state table directly; functions that write are SECURITY DEFINER.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rollout
	FROM PUBLIC, rollout_admin, rollout_operator, rollout_service, rollout_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA rollout
	FROM PUBLIC, rollout_admin, rollout_operator, rollout_service, rollout_reader;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA rollout
	FROM PUBLIC, rollout_admin, rollout_operator, rollout_service, rollout_reader;

-- Pure helpers and the statistics tests: readers and services.
GRANT EXECUTE ON FUNCTION
	rollout.proportion_test,
	rollout.mann_whitney,
	rollout.mann_whitney_agg(float8, boolean),
	rollout.mann_whitney_agg(float8, boolean, text, boolean, text),
	rollout.welch_test,
	rollout.srm_test,
	rollout.sample_size_proportions,
	rollout.sequential_test,
	rollout.event_share_test,
	rollout.ddsketch_count_above,
	rollout.fingerprint,
	rollout.canonical_json,
	rollout.model_is_pinned,
	rollout.is_active_state,
	rollout.bucket,
	rollout.window_start,
	rollout.cosine_similarity,
	rollout.get_version,
	rollout.diff,
	rollout.outcome_context
	TO rollout_reader, rollout_service;

-- Sketches, plans, history: readers (and so operators, admins).
GRANT EXECUTE ON FUNCTION
	rollout.ddsketch_in,
	rollout.ddsketch_out,
	rollout.ddsketch_agg(float8),
	rollout.ddsketch_agg(float8, float8),
	rollout.ddsketch_merge,
	rollout.ddsketch_combine,
	rollout.ddsketch_quantile,
	rollout.ddsketch_quantiles,
	rollout.ddsketch_count,
	rollout.metric_stats_merge,
	rollout.metric_stats_agg,
	rollout.arm_summary,
	rollout.arm_values,
	rollout.compare,
	rollout.exposure_counts,
	rollout._normalize_plan,
	rollout.validate_plan,
	rollout.in_blackout,
	rollout._plan_seconds,
	rollout._waiting_for,
	rollout._eta,
	rollout._shadow_until,
	rollout._blackout_until
	TO rollout_reader;
GRANT SELECT ON
	rollout.agents, rollout.versions, rollout.labels, rollout.label_history, rollout.events,
	rollout.rollouts, rollout.stages, rollout.gate_results, rollout.baselines,
	rollout.plan_presets, rollout.outcome_settings, rollout.quality_scales,
	rollout.outcomes, rollout.shadow_pairs, rollout.outcome_windows, rollout.shadow_windows,
	rollout.outcome_watermark, rollout.exposure_totals, rollout.gate_tallies,
	rollout.outcome_rejects,
	rollout.status, rollout.comparison, rollout.exposures
	TO rollout_reader;

-- Services: route and record.
GRANT EXECUTE ON FUNCTION
	rollout.route,
	rollout.record,
	rollout.record_batch,
	rollout.record_shadow_pair,
	rollout.drain_outcome_staging
	TO rollout_service;
GRANT INSERT ON rollout.outcome_staging TO rollout_service;
GRANT USAGE ON SEQUENCE rollout.outcome_staging_id_seq TO rollout_service;

-- Operators: the lifecycle.
GRANT EXECUTE ON FUNCTION
	rollout.start,
	rollout.pause,
	rollout.resume,
	rollout.approve,
	rollout.promote,
	rollout.switch,
	rollout.switch_back,
	rollout.rollback,
	rollout.retry,
	rollout.tick,
	rollout.refresh_aggregates,
	rollout.drain_outcome_staging,
	rollout.set_flag,
	rollout.remove_flag
	TO rollout_operator;

-- The pieces of a tick (_tick_begin, _due_rollouts, _tick_rollout,
-- _tick_baselines, _store_verdicts, and the gates' _tally_gates,
-- _gate_set_tallied and _verdict_av) are granted to nobody: tick(), SECURITY
-- DEFINER, and the worker, which runs as the bootstrap superuser, call them.

-- Admins: the registry, the emergency path, maintenance, settings. Direct
-- edits of presets, settings and quality scales write an event (triggers).
GRANT EXECUTE ON FUNCTION
	rollout.create_agent,
	rollout.create_version,
	rollout.set_label,
	rollout.set_service_roles,
	rollout.deploy_now,
	rollout.rotate_pin_secret,
	rollout.flush_exposures,
	rollout.maintain_outcomes,
	rollout.finish_restore
	TO rollout_admin;
GRANT INSERT, UPDATE, DELETE ON rollout.plan_presets TO rollout_admin;
GRANT UPDATE ON rollout.outcome_settings TO rollout_admin;
GRANT INSERT, UPDATE, DELETE ON rollout.quality_scales TO rollout_admin;
-- Rows that could not be folded or drained: admins clear them once handled.
GRANT DELETE ON rollout.outcome_rejects TO rollout_admin;
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

-- A one-line description of a rollout event.
CREATE FUNCTION rollout._timeline_event_text(p_action text, p_actor text, p_old jsonb,
											 p_new jsonb, p_reason text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE p_action
		WHEN 'start' THEN pg_catalog.format('%s started a %s rollout of version %s against version %s (risk %s) in state %s at %s%%',
			p_actor, p_new->>'strategy', p_new->>'candidate', p_new->>'baseline',
			coalesce(p_new->>'risk', 'custom'), p_new->>'state', pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'advance' THEN pg_catalog.format('advanced from stage %s to stage %s: candidate share %s%% -> %s%%',
			p_old->>'stage', p_new->>'stage', pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
		WHEN 'promote_manual' THEN pg_catalog.format('%s advanced it by hand: candidate share %s%% -> %s%%',
			p_actor, pg_catalog.trim_scale((p_old->>'percent')::numeric), pg_catalog.trim_scale((p_new->>'percent')::numeric))
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
		WHEN 'alert' THEN pg_catalog.format('alert: gate(s) %s failed',
			(SELECT pg_catalog.string_agg(g, ', ') FROM pg_catalog.jsonb_array_elements_text(p_new->'gates') g))
		WHEN 'superseded' THEN pg_catalog.format('ended by an emergency deployment (%s)', p_new->>'state')
		WHEN 'deploy_now' THEN pg_catalog.format('%s deployed a version at once, bypassing the canary', p_actor)
		WHEN 'baseline_refresh' THEN pg_catalog.format('stable period over: version %s is the new baseline',
			p_new->>'version')
		ELSE pg_catalog.format('%s by %s', p_action, p_actor)
	END || coalesce(' -- ' || p_reason, '')
$$;

-- The story of one rollout of an agent, or of every rollout of the agent
-- when rollout_id is NULL, in the order things happened (column rollout
-- names the rollout of each row). kind is event,
-- gate (a gate's verdict changed, or its first verdict) or stage (a stage
-- began or ended); state, stage and share are those after the row.
CREATE FUNCTION rollout.timeline(agent text, rollout_id bigint DEFAULT NULL)
RETURNS TABLE(at timestamptz, rollout bigint, kind text, action text, state text,
			  stage integer, share numeric, gate text, verdict text, actor text,
			  description text, event_id bigint)
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
		SELECT e.at, e.rollout_id, 'event'::text AS kind, e.action, e.new->>'state' AS state,
			   (e.new->>'stage')::integer AS stage, pg_catalog.trim_scale((e.new->>'percent')::numeric) AS share,
			   NULL::text AS gate, NULL::text AS verdict, e.actor,
			   rollout._timeline_event_text(e.action, e.actor, e.old, e.new, e.reason) AS description,
			   e.id AS event_id, 3 AS seq, e.id AS tiebreak
		FROM rollout.events e JOIN ro ON ro.id = e.rollout_id
		UNION ALL
		-- Gate verdicts, only when they change (the first verdict counts as a change).
		SELECT g.at, g.rollout_id, 'gate', 'verdict', NULL, g.stage, NULL, g.gate, g.verdict, NULL,
			   pg_catalog.format('gate %s: %s%s%s%s%s',
				   g.gate,
				   CASE WHEN g.prev IS NULL THEN g.verdict
						ELSE pg_catalog.format('%s (was %s)', g.verdict, g.prev) END,
				   CASE WHEN g.value_candidate IS NOT NULL OR g.value_baseline IS NOT NULL THEN
					   pg_catalog.format(', %s %s candidate %s vs baseline %s', g.comparison, g.metric,
						   coalesce(round(g.value_candidate::numeric, 4)::text, '-'),
						   coalesce(round(g.value_baseline::numeric, 4)::text, '-')) ELSE '' END,
				   pg_catalog.format(', n %s/%s', coalesce(g.n_candidate, 0), coalesce(g.n_baseline, 0)),
				   CASE WHEN g.p_value IS NOT NULL THEN
					   pg_catalog.format(', p %s', CASE WHEN g.p_value >= 0.001 THEN round(g.p_value::numeric, 4)::text
							ELSE pg_catalog.btrim(pg_catalog.to_char(g.p_value::numeric, '9.99EEEE')) END)
				   ELSE '' END,
				   CASE WHEN g.acted THEN pg_catalog.format(' -> %s', g.action) ELSE '' END),
			   NULL, 1, g.id
		FROM (SELECT gr.*, pg_catalog.lag(gr.verdict) OVER (PARTITION BY gr.rollout_id, gr.gate
														   ORDER BY gr.at, gr.id) AS prev
			  FROM rollout.gate_results gr JOIN ro ON ro.id = gr.rollout_id) g
		WHERE g.prev IS DISTINCT FROM g.verdict
		UNION ALL
		SELECT s.started_at, s.rollout_id, 'stage', 'stage_start', NULL, s.stage, pg_catalog.trim_scale(s.percent), NULL, NULL, NULL,
			   CASE WHEN s.stage = 0 THEN 'shadow phase began: the candidate runs beside production, its answers discarded'
					ELSE pg_catalog.format('stage %s began: candidate share %s%%', s.stage, pg_catalog.trim_scale(s.percent)) END,
			   NULL, 4, s.stage::bigint
		FROM rollout.stages s JOIN ro ON ro.id = s.rollout_id
		UNION ALL
		SELECT s.ended_at, s.rollout_id, 'stage', 'stage_end', NULL, s.stage, NULL, NULL, NULL, NULL,
			   pg_catalog.format('stage %s ended (%s) after %s: %s candidate and %s baseline samples',
				   s.stage, coalesce(s.outcome, 'ended'),
				   rollout._timeline_duration(s.ended_at - s.started_at),
				   coalesce(s.metrics->'candidate'->>'n', '0'), coalesce(s.metrics->'stable'->>'n', '0')),
			   NULL, 2, s.stage::bigint
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
		   o.gate, o.verdict, o.actor, o.description, o.event_id
	FROM ordered o
	ORDER BY o.pos;
END
$$;

REVOKE ALL ON FUNCTION rollout._timeline_event_text(text, text, jsonb, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout._timeline_duration(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollout.timeline(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.timeline(text, bigint) TO rollout_reader, rollout_operator, rollout_admin;

COMMENT ON FUNCTION rollout.timeline(text, bigint) IS
	'The story of a rollout (or of every rollout of the agent when rollout_id is NULL): one ordered row per event, gate verdict change and stage boundary, with the state and candidate share after it and a sentence. For rollout_reader.';
-- 92: rollout.metrics: the rows a Prometheus exporter maps to series, one
-- row per sample, for the latest rollout of every agent plus a few global
-- gauges. It reads rollout.status, the window aggregates (arm_summary),
-- the exposure totals, the gate results and the events, never raw outcomes.
-- contrib/prometheus/queries.yaml maps it for postgres_exporter;
-- docs/operations.md ("Monitoring") lists the series. rollout.arm_windows()
-- gives the per-window series of contrib/grafana/pg_rollout.json.
-- It follows 90_roles_backup.sql, which revokes every privilege and grants
-- its own list, so that the grants at the end of this piece stand.

-- Every metric sample now. SECURITY DEFINER so that rollout_reader can read
-- it whatever the grants of the helpers it calls (sketch merges, windows).
CREATE FUNCTION rollout._metrics()
RETURNS TABLE(metric text, type text, agent text, rollout_id bigint, arm text, gate text,
			  state text, verdict text, quantile text, value float8, help text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH latest AS (
		SELECT s.agent, s.rollout_id, s.state, s.stage, s.percent, s.strategy, s.samples_needed,
			   s.bake_left, r.stage_started_at, r.last_eval_at, r.started_at,
			   rollout.is_active_state(s.state) AS active
		FROM rollout.status s JOIN rollout.rollouts r ON r.id = s.rollout_id
	), arms AS (
		-- Per-arm aggregates of the current stage (windows tagged with it).
		SELECT l.agent, l.rollout_id, a.arm, a.n, a.n_success, a.n_success_known, a.n_error,
			   a.n_safety, a.n_quality, a.sum_quality, a.latency_p50, a.latency_p95, a.latency_p99
		FROM latest l
		CROSS JOIN LATERAL rollout.arm_summary(l.rollout_id, rollout.window_start(l.stage_started_at),
											   'infinity', NULL, l.stage) a
		WHERE NOT a.shadow
	), arm_names AS (
		-- The arms a rollout serves, so an arm without samples reads 0, not absent.
		SELECT l.agent, l.rollout_id, x.arm
		FROM latest l
		CROSS JOIN LATERAL (SELECT 'stable'::text AS arm WHERE l.strategy <> 'ab_test'
							UNION SELECT 'candidate' WHERE l.strategy <> 'ab_test'
							UNION SELECT a.arm FROM arms a WHERE a.rollout_id = l.rollout_id
							UNION SELECT t.arm FROM rollout.exposure_totals t
								  WHERE t.rollout_id = l.rollout_id) x
	), gates AS (
		SELECT DISTINCT ON (g.rollout_id, g.gate) l.agent, g.rollout_id, g.gate, g.verdict,
			   g.p_value, g.estimate
		FROM latest l JOIN rollout.gate_results g ON g.rollout_id = l.rollout_id
		ORDER BY g.rollout_id, g.gate, g.at DESC, g.id DESC
	)
	-- Per rollout
	SELECT 'state', 'gauge', l.agent, l.rollout_id, NULL, NULL, st.state, NULL, NULL,
		   (l.state = st.state)::integer::float8,
		   'Rollout state as a labelled gauge: 1 for the current state, 0 for the others'
	FROM latest l
	CROSS JOIN (VALUES ('shadow'), ('canary'), ('holding'), ('awaiting_approval'), ('paused'),
					   ('awaiting_decision'), ('promoted'), ('rolled_back')) st(state)
	UNION ALL
	SELECT 'stage', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL, l.stage::float8,
		   'Step of the plan (0 = shadow phase)'
	FROM latest l
	UNION ALL
	SELECT 'candidate_percent', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   l.percent::float8, 'Share of traffic the candidate serves now, 0 to 100'
	FROM latest l
	UNION ALL
	SELECT 'samples_needed', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   coalesce(l.samples_needed, 0)::float8, 'Samples each arm needs in this stage before it may advance'
	FROM latest l WHERE l.active
	UNION ALL
	SELECT 'seconds_since_evaluation', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   extract(epoch FROM pg_catalog.now() - coalesce(l.last_eval_at, l.started_at))::float8,
		   'Seconds since tick() last evaluated this rollout''s gates (since its start before that)'
	FROM latest l WHERE l.active
	UNION ALL
	SELECT 'bake_seconds_left', 'gauge', l.agent, l.rollout_id, NULL, NULL, NULL, NULL, NULL,
		   extract(epoch FROM l.bake_left)::float8, 'Seconds of bake time left in this stage'
	FROM latest l WHERE l.active AND l.bake_left IS NOT NULL
	-- Per arm, over the current stage
	UNION ALL
	SELECT 'samples', 'gauge', n.agent, n.rollout_id, n.arm, NULL, NULL, NULL, NULL,
		   coalesce(a.n, 0)::float8, 'Outcomes recorded for this arm in the current stage (aggregated)'
	FROM arm_names n LEFT JOIN arms a ON a.rollout_id = n.rollout_id AND a.arm = n.arm
	UNION ALL
	SELECT 'exposures', 'counter', n.agent, n.rollout_id, n.arm, NULL, NULL, NULL, NULL,
		   coalesce(t.exposures, 0)::float8, 'Routing decisions served to this arm (flushed by every tick)'
	FROM arm_names n LEFT JOIN rollout.exposure_totals t ON t.rollout_id = n.rollout_id AND t.arm = n.arm
	UNION ALL
	SELECT m.metric, 'gauge', a.agent, a.rollout_id, a.arm, NULL, NULL, NULL, NULL, m.value, m.help
	FROM arms a
	CROSS JOIN LATERAL (VALUES
		('success_rate', a.n_success::float8 / nullif(a.n_success_known, 0),
		 'Share of outcomes with success = true among those that report success, current stage'),
		('error_rate', a.n_error::float8 / nullif(a.n, 0), 'Share of outcomes with error = true, current stage'),
		('safety_rate', a.n_safety::float8 / nullif(a.n, 0), 'Share of outcomes with safety_flag = true, current stage'),
		('quality_mean', a.sum_quality / nullif(a.n_quality, 0), 'Mean quality score, current stage')) m(metric, value, help)
	WHERE m.value IS NOT NULL
	UNION ALL
	SELECT 'latency_ms', 'gauge', a.agent, a.rollout_id, a.arm, NULL, NULL, NULL, q.quantile, q.value,
		   'Latency quantile in milliseconds from the merged DDSketch of the current stage'
	FROM arms a
	CROSS JOIN LATERAL (VALUES ('0.5', a.latency_p50), ('0.95', a.latency_p95), ('0.99', a.latency_p99)) q(quantile, value)
	WHERE q.value IS NOT NULL
	-- Per gate: its latest verdict
	UNION ALL
	SELECT 'gate_verdict', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, v.verdict, NULL,
		   (g.verdict = v.verdict)::integer::float8,
		   'Latest verdict of the gate as a labelled gauge: 1 for the verdict, 0 for the others'
	FROM gates g
	CROSS JOIN (VALUES ('pass'), ('fail'), ('inconclusive'), ('error')) v(verdict)
	UNION ALL
	SELECT 'gate_p_value', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, NULL, NULL, g.p_value,
		   'p-value of the gate''s latest verdict'
	FROM gates g WHERE g.p_value IS NOT NULL
	UNION ALL
	SELECT 'gate_estimate', 'gauge', g.agent, g.rollout_id, NULL, g.gate, NULL, NULL, NULL, g.estimate,
		   'Estimate of the gate''s latest verdict (candidate minus baseline, or their ratio)'
	FROM gates g WHERE g.estimate IS NOT NULL
	-- Per agent, over every rollout: counters from the audit log
	UNION ALL
	SELECT c.metric, 'counter', l.agent, NULL, NULL, NULL, NULL, NULL, NULL,
		   (SELECT count(*) FROM rollout.events e
			WHERE e.agent = l.agent AND e.rollout_id IS NOT NULL AND e.action = ANY (c.actions))::float8,
		   c.help
	FROM latest l
	CROSS JOIN (VALUES
		('holds', ARRAY['hold', 'freeze', 'hold_for_approval'], 'Times a rollout of this agent was held, frozen or sent for approval'),
		('rollbacks', ARRAY['rollback', 'rollback_now'], 'Rollouts of this agent rolled back'),
		('promotions', ARRAY['promote'], 'Rollouts of this agent promoted'),
		('advances', ARRAY['advance', 'promote_manual'], 'Stages of this agent''s rollouts advanced')) c(metric, actions, help)
	-- Global
	UNION ALL
	SELECT 'active_rollouts', 'gauge', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		   (SELECT count(*) FROM latest l WHERE l.active)::float8, 'Rollouts in an active state'
	UNION ALL
	SELECT 'seconds_since_tick', 'gauge', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		   coalesce(extract(epoch FROM pg_catalog.now() - w.refreshed_at)::float8, 'Infinity'::float8),
		   'Seconds since outcomes were last folded into the aggregates, which every tick() does (+Inf: never)'
	FROM rollout.outcome_watermark w
$$;

CREATE VIEW rollout.metrics AS
SELECT m.metric, m.type, m.agent, m.rollout_id, m.arm, m.gate, m.state, m.verdict, m.quantile,
	   m.value, m.help
FROM rollout._metrics() m;

REVOKE ALL ON FUNCTION rollout._metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._metrics() TO rollout_reader, rollout_operator, rollout_admin;
GRANT SELECT ON rollout.metrics TO rollout_reader, rollout_operator, rollout_admin;

-- Per-window, per-arm series of a rollout for dashboards (contrib/grafana):
-- rates, mean quality and latency quantiles of every 5-minute aggregation
-- window starting in [from_at, to_at), shadow outcomes apart. Reads the
-- window aggregates only. SECURITY DEFINER for the sketch functions.
CREATE FUNCTION rollout.arm_windows(rollout_id bigint, from_at timestamptz DEFAULT '-infinity',
									to_at timestamptz DEFAULT 'infinity')
RETURNS TABLE(window_start timestamptz, stage integer, arm text, shadow boolean, n bigint,
			  success_rate float8, error_rate float8, safety_rate float8, quality_mean float8,
			  latency_p50 float8, latency_p95 float8, latency_p99 float8, cost_median float8)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT w.window_start, w.stage, w.arm, w.shadow, w.n,
		   w.n_success::float8 / nullif(w.n_success_known, 0),
		   w.n_error::float8 / nullif(w.n, 0),
		   w.n_safety::float8 / nullif(w.n, 0),
		   w.sum_quality / nullif(w.n_quality, 0),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.5),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.95),
		   rollout.ddsketch_quantile(w.latency_sketch, 0.99),
		   rollout.ddsketch_quantile(w.cost_sketch, 0.5)
	FROM rollout.outcome_windows w
	WHERE w.rollout_id = arm_windows.rollout_id
	  AND w.window_start >= from_at AND w.window_start < to_at
	ORDER BY w.window_start, w.arm, w.shadow, w.stage
$$;

REVOKE ALL ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz)
	TO rollout_reader, rollout_operator, rollout_admin;

COMMENT ON VIEW rollout.metrics IS
	'One row per Prometheus sample for the latest rollout of every agent plus global gauges; contrib/prometheus/queries.yaml maps it. Reads aggregates, never raw outcomes. For rollout_reader.';
COMMENT ON COLUMN rollout.metrics.metric IS 'Metric name, e.g. state, candidate_percent, samples, gate_verdict, seconds_since_tick.';
COMMENT ON COLUMN rollout.metrics.type IS 'gauge or counter.';
COMMENT ON COLUMN rollout.metrics.agent IS 'Agent label (NULL for global metrics).';
COMMENT ON COLUMN rollout.metrics.rollout_id IS 'Rollout label: the agent''s latest rollout (NULL for per-agent counters and global metrics).';
COMMENT ON COLUMN rollout.metrics.arm IS 'Arm label for per-arm metrics: stable, candidate or an A/B variant.';
COMMENT ON COLUMN rollout.metrics.gate IS 'Gate label for per-gate metrics.';
COMMENT ON COLUMN rollout.metrics.state IS 'State label of the state metric (1 for the current state, 0 for the others).';
COMMENT ON COLUMN rollout.metrics.verdict IS 'Verdict label of gate_verdict (1 for the latest verdict, 0 for the others).';
COMMENT ON COLUMN rollout.metrics.quantile IS 'Quantile label of latency_ms: 0.5, 0.95 or 0.99.';
COMMENT ON COLUMN rollout.metrics.value IS 'Sample value.';
COMMENT ON COLUMN rollout.metrics.help IS 'What the metric means.';
COMMENT ON FUNCTION rollout.arm_windows(bigint, timestamptz, timestamptz) IS
	'Per-window, per-arm series of a rollout (rates, mean quality, latency and cost quantiles) from the window aggregates, for dashboards. For rollout_reader.';
-- 95: comments on the public objects of the other pieces, so that \d+
-- and \df+ explain every table, view, column, function, aggregate and
-- type (91 and 92 carry theirs next to their definitions). Last piece,
-- so that it sees every object.
-- Keep in step with the definitions: a comment on a dropped object fails
-- the install.

COMMENT ON TABLE rollout.agents IS 'Agents whose versions pg_rollout manages; one row per agent (rollout.create_agent).';
COMMENT ON COLUMN rollout.agents.id IS 'Surrogate key.';
COMMENT ON COLUMN rollout.agents.name IS 'Agent name: the first argument of route(), record() and every lifecycle function.';
COMMENT ON COLUMN rollout.agents.service_roles IS 'Roles allowed to route and record for the agent (NULL: every member of rollout_service).';
COMMENT ON COLUMN rollout.agents.flags IS 'Standalone capability flags: flag name -> percent of callers it is on for, with or without a rollout (rollout.set_flag).';
COMMENT ON COLUMN rollout.agents.description IS 'Free text from create_agent().';
COMMENT ON COLUMN rollout.agents.created_at IS 'When the agent was created.';
COMMENT ON COLUMN rollout.agents.created_by IS 'Login (session_user) that created it.';

COMMENT ON TABLE rollout.versions IS 'Immutable versions of each agent (prompt, model, tools, code); append-only, numbered 1, 2, ... per agent.';
COMMENT ON COLUMN rollout.versions.agent IS 'Agent the version belongs to.';
COMMENT ON COLUMN rollout.versions.version IS 'Version number within the agent (1, 2, ...).';
COMMENT ON COLUMN rollout.versions.fingerprint IS 'Hex SHA-256 of the canonical content; identical content gets the same version back.';
COMMENT ON COLUMN rollout.versions.system_prompt IS 'System prompt the service sends to the model.';
COMMENT ON COLUMN rollout.versions.model IS 'Pinned model id (floating ids are refused unless allowed).';
COMMENT ON COLUMN rollout.versions.template IS 'Optional prompt template.';
COMMENT ON COLUMN rollout.versions.few_shot IS 'Few-shot examples (JSON array).';
COMMENT ON COLUMN rollout.versions.tools IS 'Tool definitions (JSON array).';
COMMENT ON COLUMN rollout.versions.params IS 'Model parameters (JSON object), e.g. temperature.';
COMMENT ON COLUMN rollout.versions.code_ref IS 'Optional reference to the agent code (commit, image).';
COMMENT ON COLUMN rollout.versions.note IS 'Free text from create_version().';
COMMENT ON COLUMN rollout.versions.created_at IS 'When the version was created.';
COMMENT ON COLUMN rollout.versions.created_by IS 'Login that created it.';

COMMENT ON TABLE rollout.labels IS 'Movable labels per agent (production, staging, ...); production is what route() serves outside a rollout.';
COMMENT ON COLUMN rollout.labels.agent IS 'Agent.';
COMMENT ON COLUMN rollout.labels.label IS 'Label name.';
COMMENT ON COLUMN rollout.labels.version IS 'Version the label points to.';
COMMENT ON COLUMN rollout.labels.updated_at IS 'Last move.';
COMMENT ON COLUMN rollout.labels.updated_by IS 'Login that moved it last.';

COMMENT ON TABLE rollout.label_history IS 'Every move of a label, append-only.';
COMMENT ON COLUMN rollout.label_history.id IS 'Surrogate key, in order of the moves.';
COMMENT ON COLUMN rollout.label_history.agent IS 'Agent.';
COMMENT ON COLUMN rollout.label_history.label IS 'Label moved.';
COMMENT ON COLUMN rollout.label_history.old_version IS 'Version before (NULL: new label).';
COMMENT ON COLUMN rollout.label_history.new_version IS 'Version after.';
COMMENT ON COLUMN rollout.label_history.at IS 'When.';
COMMENT ON COLUMN rollout.label_history.actor IS 'Login that moved it.';
COMMENT ON COLUMN rollout.label_history.reason IS 'Why, as given to set_label().';

COMMENT ON TABLE rollout.events IS 'Append-only audit log: one row per change the extension makes (versions, labels, rollout transitions, alerts).';
COMMENT ON COLUMN rollout.events.id IS 'Event id; NOTIFY rollout payloads name it.';
COMMENT ON COLUMN rollout.events.at IS 'When (the simulated clock for lifecycle functions called with at).';
COMMENT ON COLUMN rollout.events.agent IS 'Agent concerned (NULL for global changes such as preset edits).';
COMMENT ON COLUMN rollout.events.rollout_id IS 'Rollout concerned, if any.';
COMMENT ON COLUMN rollout.events.action IS 'What happened: create_version, set_label, start, advance, hold, release, pause, resume, approve, promote, rollback, rollback_now, alert, ...';
COMMENT ON COLUMN rollout.events.actor IS 'Login (session_user) that caused it.';
COMMENT ON COLUMN rollout.events.acting_role IS 'Role the caller acted as (current_user outside SECURITY DEFINER).';
COMMENT ON COLUMN rollout.events.old IS 'State before (JSON), e.g. {"state", "stage", "percent"}.';
COMMENT ON COLUMN rollout.events.new IS 'State after (JSON).';
COMMENT ON COLUMN rollout.events.reason IS 'Reason given or computed by the gates.';

COMMENT ON TABLE rollout.rollouts IS 'One row per rollout of a candidate version: the state route() serves from and the lifecycle moves. At most one active rollout per agent.';
COMMENT ON COLUMN rollout.rollouts.id IS 'Rollout id.';
COMMENT ON COLUMN rollout.rollouts.agent IS 'Agent.';
COMMENT ON COLUMN rollout.rollouts.baseline IS 'Stable version served outside the candidate arm (production at start).';
COMMENT ON COLUMN rollout.rollouts.candidate IS 'Version being rolled out.';
COMMENT ON COLUMN rollout.rollouts.strategy IS 'canary, blue_green, shadow or ab_test.';
COMMENT ON COLUMN rollout.rollouts.state IS 'shadow, canary, holding, awaiting_approval, paused (active); promoted, rolled_back (final).';
COMMENT ON COLUMN rollout.rollouts.stage IS 'Step of the plan, 1-based; 0 during the shadow phase.';
COMMENT ON COLUMN rollout.rollouts.percent IS 'Candidate share now, 0 to 100 in 0.01 steps.';
COMMENT ON COLUMN rollout.rollouts.stickiness IS 'Which route() argument is hashed into the bucket: unit, session or tenant.';
COMMENT ON COLUMN rollout.rollouts.salt IS 'Per-rollout seed of the bucketing hash.';
COMMENT ON COLUMN rollout.rollouts.variants IS 'A/B variants: [{"name", "version", "weight"}], weights summing to 100.';
COMMENT ON COLUMN rollout.rollouts.shadow_percent IS 'Share of requests that also run the candidate in shadow.';
COMMENT ON COLUMN rollout.rollouts.write_intercept IS 'Whether callers must dry-run the shadow run''s writing tools.';
COMMENT ON COLUMN rollout.rollouts.rules IS 'Tenant and cohort rules evaluated before the percentage (JSON array).';
COMMENT ON COLUMN rollout.rollouts.flags IS 'Capability flags with their own share (JSON array).';
COMMENT ON COLUMN rollout.rollouts.judge_rate IS 'Share of requests marked for the LLM judge, 0 to 1.';
COMMENT ON COLUMN rollout.rollouts.pinning IS 'Whether sessions are pinned to their version.';
COMMENT ON COLUMN rollout.rollouts.drain IS 'How long pinned sessions keep the candidate after a rollback.';
COMMENT ON COLUMN rollout.rollouts.drain_until IS 'End of the drain after a rollback.';
COMMENT ON COLUMN rollout.rollouts.drain_skipped IS 'Set by a safety rollback (rollback_now): no drain.';
COMMENT ON COLUMN rollout.rollouts.plan IS 'The validated, normalized plan this rollout follows.';
COMMENT ON COLUMN rollout.rollouts.risk IS 'Risk tier whose preset supplied the plan (NULL for an explicit plan).';
COMMENT ON COLUMN rollout.rollouts.started_at IS 'Start time.';
COMMENT ON COLUMN rollout.rollouts.stage_started_at IS 'Start of the current stage.';
COMMENT ON COLUMN rollout.rollouts.ended_at IS 'When its split stopped being served: promoted or rolled back. Never rewritten, also not by undoing a promotion.';
COMMENT ON COLUMN rollout.rollouts.watch_ended_at IS 'When rollback() undid its promotion (the end of the post-promotion watch); NULL otherwise.';
COMMENT ON COLUMN rollout.rollouts.started_by IS 'Login that started it.';
COMMENT ON COLUMN rollout.rollouts.reason IS 'Reason given to start().';
COMMENT ON COLUMN rollout.rollouts.paused_from IS 'State to return to on resume().';
COMMENT ON COLUMN rollout.rollouts.approved_stage IS 'Stage a person approved (hold_for_approval gates).';
COMMENT ON COLUMN rollout.rollouts.hold_reason IS 'Why it is holding, paused by a gate or awaiting approval.';
COMMENT ON COLUMN rollout.rollouts.fail_streak IS 'Consecutive failing windows per rollback gate (JSON).';
COMMENT ON COLUMN rollout.rollouts.last_eval_at IS 'Last gate evaluation by tick().';
COMMENT ON COLUMN rollout.rollouts.boosted IS 'Whether the share was raised to collect samples in this stage.';
COMMENT ON COLUMN rollout.rollouts.extensions IS 'Times the bake was extended.';
COMMENT ON COLUMN rollout.rollouts.switched_at IS 'Blue-green: when traffic switched to green (NULL before).';
COMMENT ON COLUMN rollout.rollouts.recommendation IS 'A/B tests: the variant recommended once the experiment is over (best that passed every gate), or the one promoted.';
COMMENT ON COLUMN rollout.rollouts.retry_of IS 'Rollout this one retries (rollout.retry).';
COMMENT ON COLUMN rollout.rollouts.promoted_at IS 'When it was promoted.';
COMMENT ON COLUMN rollout.rollouts.baseline_refreshed_at IS 'When the promoted version''s baseline metrics were refreshed after the stable period.';
COMMENT ON COLUMN rollout.rollouts.last_error IS 'Last error tick() met evaluating this rollout (the other rollouts go on).';
COMMENT ON COLUMN rollout.rollouts.last_error_at IS 'When that error happened.';

COMMENT ON TABLE rollout.stages IS 'One row per stage a rollout went through (0 = shadow phase), with its per-arm metrics and last verdicts.';
COMMENT ON COLUMN rollout.stages.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.stages.stage IS 'Stage number.';
COMMENT ON COLUMN rollout.stages.percent IS 'Candidate share in the stage.';
COMMENT ON COLUMN rollout.stages.started_at IS 'Start of the stage.';
COMMENT ON COLUMN rollout.stages.ended_at IS 'End of the stage (NULL while current).';
COMMENT ON COLUMN rollout.stages.outcome IS 'How it ended: advanced, promoted, rolled_back, superseded.';
COMMENT ON COLUMN rollout.stages.metrics IS 'Per-arm metrics over the whole stage (JSON), filled when it ends.';
COMMENT ON COLUMN rollout.stages.verdicts IS 'Last verdict of each gate in the stage (JSON).';

COMMENT ON TABLE rollout.gate_results IS 'Every gate evaluation: the verdict, the statistics behind it and the thresholds used; append-only.';
COMMENT ON COLUMN rollout.gate_results.id IS 'Evaluation id.';
COMMENT ON COLUMN rollout.gate_results.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.gate_results.stage IS 'Stage evaluated.';
COMMENT ON COLUMN rollout.gate_results.at IS 'Evaluation time (tick clock).';
COMMENT ON COLUMN rollout.gate_results.gate IS 'Gate name from the plan.';
COMMENT ON COLUMN rollout.gate_results.metric IS 'Metric: success, error, safety, quality, latency_ms, cost or a custom metric.';
COMMENT ON COLUMN rollout.gate_results.comparison IS 'rate, mean, median, p95, p99, ...';
COMMENT ON COLUMN rollout.gate_results.test IS 'Statistical test used.';
COMMENT ON COLUMN rollout.gate_results.verdict IS 'pass, fail, inconclusive or error.';
COMMENT ON COLUMN rollout.gate_results.statistic IS 'Test statistic.';
COMMENT ON COLUMN rollout.gate_results.p_value IS 'p-value (always-valid for sequential tests).';
COMMENT ON COLUMN rollout.gate_results.estimate IS 'Estimated difference or ratio, candidate against baseline.';
COMMENT ON COLUMN rollout.gate_results.ci_low IS 'Lower confidence bound of the estimate.';
COMMENT ON COLUMN rollout.gate_results.ci_high IS 'Upper confidence bound of the estimate.';
COMMENT ON COLUMN rollout.gate_results.n_candidate IS 'Candidate samples used.';
COMMENT ON COLUMN rollout.gate_results.n_baseline IS 'Baseline samples used.';
COMMENT ON COLUMN rollout.gate_results.value_candidate IS 'Metric value of the candidate.';
COMMENT ON COLUMN rollout.gate_results.value_baseline IS 'Metric value of the baseline.';
COMMENT ON COLUMN rollout.gate_results.threshold IS 'Margin, ratio, alpha, minimum samples, window and mode the gate used (JSON).';
COMMENT ON COLUMN rollout.gate_results.window_from IS 'Start of the data window.';
COMMENT ON COLUMN rollout.gate_results.window_to IS 'End of the data window.';
COMMENT ON COLUMN rollout.gate_results.action IS 'Action of the gate on failure.';
COMMENT ON COLUMN rollout.gate_results.acted IS 'Whether this verdict made the rollout act.';
COMMENT ON COLUMN rollout.gate_results.detail IS 'One-line explanation.';
COMMENT ON COLUMN rollout.gate_results.variant IS 'A/B tests: the variant compared with the control (NULL for other strategies).';

COMMENT ON TABLE rollout.gate_tallies IS 'Running per-stage tallies of each gate''s counts, so a tick reads only the windows that ended since the last one.';
COMMENT ON COLUMN rollout.gate_tallies.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.gate_tallies.gate IS 'Gate name (.srm: the sample-ratio check).';
COMMENT ON COLUMN rollout.gate_tallies.stage IS 'Stage.';
COMMENT ON COLUMN rollout.gate_tallies.counted_to IS 'Windows starting before this are counted.';
COMMENT ON COLUMN rollout.gate_tallies.n_candidate IS 'Candidate samples.';
COMMENT ON COLUMN rollout.gate_tallies.n_baseline IS 'Baseline samples.';
COMMENT ON COLUMN rollout.gate_tallies.x_candidate IS 'Candidate events: the rate''s events, or for quantile gates the samples above the fail threshold.';
COMMENT ON COLUMN rollout.gate_tallies.x_baseline IS 'Baseline events, as x_candidate.';
COMMENT ON COLUMN rollout.gate_tallies.y_candidate IS 'Quantile gates: candidate samples above the pass threshold.';
COMMENT ON COLUMN rollout.gate_tallies.y_baseline IS 'Quantile gates: baseline samples above the pass threshold.';
COMMENT ON COLUMN rollout.gate_tallies.sum_candidate IS 'Sum of the candidate''s values (mean gates).';
COMMENT ON COLUMN rollout.gate_tallies.sum_baseline IS 'Sum of the baseline''s values.';
COMMENT ON COLUMN rollout.gate_tallies.sumsq_candidate IS 'Sum of squares of the candidate''s values.';
COMMENT ON COLUMN rollout.gate_tallies.sumsq_baseline IS 'Sum of squares of the baseline''s values.';
COMMENT ON COLUMN rollout.gate_tallies.baseline_quantile IS 'Quantile gates: the baseline quantile the thresholds were last based on.';

COMMENT ON TABLE rollout.baselines IS 'Baseline metrics of promoted versions, recorded when their stable period ends.';
COMMENT ON COLUMN rollout.baselines.agent IS 'Agent.';
COMMENT ON COLUMN rollout.baselines.version IS 'Promoted version.';
COMMENT ON COLUMN rollout.baselines.rollout_id IS 'Rollout that promoted it.';
COMMENT ON COLUMN rollout.baselines.refreshed_at IS 'When recorded.';
COMMENT ON COLUMN rollout.baselines.metrics IS 'Per-arm metrics over the stable period (JSON).';

COMMENT ON TABLE rollout.plan_presets IS 'Risk-tier presets: the plan rollout.start() follows when given none. Editable by rollout_admin; every change is validated and logged.';
COMMENT ON COLUMN rollout.plan_presets.risk IS 'Risk tier: low, medium, high, critical or your own.';
COMMENT ON COLUMN rollout.plan_presets.plan IS 'Plan (JSON, docs/plans.md).';
COMMENT ON COLUMN rollout.plan_presets.description IS 'What the tier is for.';
COMMENT ON COLUMN rollout.plan_presets.updated_at IS 'Last change.';
COMMENT ON COLUMN rollout.plan_presets.updated_by IS 'Login that changed it last.';
COMMENT ON COLUMN rollout.plan_presets.builtin IS 'Whether the row is the release''s own tier (not dumped); an edit makes it false.';

COMMENT ON TABLE rollout.outcome_settings IS 'Settings of the outcome store (one row).';
COMMENT ON COLUMN rollout.outcome_settings.id IS 'Always true: the single row.';
COMMENT ON COLUMN rollout.outcome_settings.retention IS 'Raw outcomes and shadow pairs older than this are dropped.';
COMMENT ON COLUMN rollout.outcome_settings.aggregate_retention IS 'Window aggregates older than this are deleted.';
COMMENT ON COLUMN rollout.outcome_settings.premake_days IS 'Daily partitions created ahead by maintain_outcomes().';

COMMENT ON TABLE rollout.quality_scales IS 'Per-agent quality scale; agents without a row use [0, 1].';
COMMENT ON COLUMN rollout.quality_scales.agent IS 'Agent.';
COMMENT ON COLUMN rollout.quality_scales.min IS 'Lowest quality score.';
COMMENT ON COLUMN rollout.quality_scales.max IS 'Highest quality score.';

COMMENT ON TABLE rollout.outcomes IS 'Raw outcomes, one per recorded request, partitioned by day; folded into rollout.outcome_windows by refresh_aggregates().';
COMMENT ON COLUMN rollout.outcomes.id IS 'Outcome id.';
COMMENT ON COLUMN rollout.outcomes.txid IS 'Top-level transaction id of the writer; refresh folds by it.';
COMMENT ON COLUMN rollout.outcomes.rollout_id IS 'Rollout the outcome counts for (NULL: none).';
COMMENT ON COLUMN rollout.outcomes.stage IS 'Stage of that rollout when recorded.';
COMMENT ON COLUMN rollout.outcomes.arm IS 'Arm: stable, candidate or an A/B variant (NULL: the version is in no arm).';
COMMENT ON COLUMN rollout.outcomes.in_arm IS 'Whether the version is in an arm of the rollout (only those are aggregated).';
COMMENT ON COLUMN rollout.outcomes.agent IS 'Agent.';
COMMENT ON COLUMN rollout.outcomes.version IS 'Version that served the request.';
COMMENT ON COLUMN rollout.outcomes.unit IS 'Unit (user, account) the outcome is about.';
COMMENT ON COLUMN rollout.outcomes.success IS 'Whether the task succeeded (NULL: unknown).';
COMMENT ON COLUMN rollout.outcomes.quality IS 'Quality score, e.g. from an LLM judge.';
COMMENT ON COLUMN rollout.outcomes.latency_ms IS 'Latency in milliseconds.';
COMMENT ON COLUMN rollout.outcomes.cost IS 'Cost of the request.';
COMMENT ON COLUMN rollout.outcomes.error IS 'Whether the request failed with an error.';
COMMENT ON COLUMN rollout.outcomes.safety_flag IS 'Whether a safety check flagged the answer.';
COMMENT ON COLUMN rollout.outcomes.feedback IS 'User feedback, e.g. -1, 0, 1.';
COMMENT ON COLUMN rollout.outcomes.metrics IS 'Custom numeric metrics (JSON object).';
COMMENT ON COLUMN rollout.outcomes.shadow IS 'Whether this is a shadow run''s outcome.';
COMMENT ON COLUMN rollout.outcomes.at IS 'When the request was served.';
COMMENT ON COLUMN rollout.outcomes.author IS 'Login that recorded the outcome.';

COMMENT ON TABLE rollout.outcome_staging IS 'Staging table for COPY: services copy outcomes in, drain_outcome_staging() moves them into rollout.outcomes.';
COMMENT ON COLUMN rollout.outcome_staging.id IS 'Row id.';
COMMENT ON COLUMN rollout.outcome_staging.agent IS 'Agent.';
COMMENT ON COLUMN rollout.outcome_staging.version IS 'Version that served the request.';
COMMENT ON COLUMN rollout.outcome_staging.unit IS 'Unit (user, account) the outcome is about.';
COMMENT ON COLUMN rollout.outcome_staging.success IS 'Whether the task succeeded (NULL: unknown).';
COMMENT ON COLUMN rollout.outcome_staging.quality IS 'Quality score, e.g. from an LLM judge.';
COMMENT ON COLUMN rollout.outcome_staging.latency_ms IS 'Latency in milliseconds.';
COMMENT ON COLUMN rollout.outcome_staging.cost IS 'Cost of the request.';
COMMENT ON COLUMN rollout.outcome_staging.error IS 'Whether the request failed with an error.';
COMMENT ON COLUMN rollout.outcome_staging.safety_flag IS 'Whether a safety check flagged the answer.';
COMMENT ON COLUMN rollout.outcome_staging.feedback IS 'User feedback, e.g. -1, 0, 1.';
COMMENT ON COLUMN rollout.outcome_staging.metrics IS 'Custom numeric metrics (JSON object).';
COMMENT ON COLUMN rollout.outcome_staging.shadow IS 'Whether this is a shadow run''s outcome.';
COMMENT ON COLUMN rollout.outcome_staging.at IS 'When the request was served.';
COMMENT ON COLUMN rollout.outcome_staging.author IS 'Login that recorded the outcome.';
COMMENT ON COLUMN rollout.outcome_staging.decision_token IS 'The decision_token route() returned for the request (NULL: attributed by time).';

COMMENT ON TABLE rollout.shadow_pairs IS 'Production/shadow answer pairs with their similarity, partitioned by day.';
COMMENT ON COLUMN rollout.shadow_pairs.id IS 'Pair id.';
COMMENT ON COLUMN rollout.shadow_pairs.txid IS 'Top-level transaction id of the writer.';
COMMENT ON COLUMN rollout.shadow_pairs.at IS 'When.';
COMMENT ON COLUMN rollout.shadow_pairs.agent IS 'Agent.';
COMMENT ON COLUMN rollout.shadow_pairs.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.shadow_pairs.stage IS 'Stage.';
COMMENT ON COLUMN rollout.shadow_pairs.production_version IS 'Version that answered the user.';
COMMENT ON COLUMN rollout.shadow_pairs.shadow_version IS 'Version run in shadow.';
COMMENT ON COLUMN rollout.shadow_pairs.unit IS 'Unit.';
COMMENT ON COLUMN rollout.shadow_pairs.similarity IS 'Similarity of the two answers, -1 to 1.';
COMMENT ON COLUMN rollout.shadow_pairs.decisions_agree IS 'Whether the tool calls or decisions agreed.';
COMMENT ON COLUMN rollout.shadow_pairs.production_latency_ms IS 'Latency of the production answer.';
COMMENT ON COLUMN rollout.shadow_pairs.shadow_latency_ms IS 'Latency of the shadow answer.';
COMMENT ON COLUMN rollout.shadow_pairs.production_cost IS 'Cost of the production answer.';
COMMENT ON COLUMN rollout.shadow_pairs.shadow_cost IS 'Cost of the shadow answer.';

COMMENT ON TABLE rollout.outcome_windows IS 'Window aggregates: one row per rollout, 5-minute window, arm, shadow flag and stage. Gates and dashboards read these, not raw outcomes.';
COMMENT ON COLUMN rollout.outcome_windows.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.outcome_windows.window_start IS 'Start of the 5-minute window (rollout.window_start()).';
COMMENT ON COLUMN rollout.outcome_windows.arm IS 'Arm.';
COMMENT ON COLUMN rollout.outcome_windows.shadow IS 'Shadow outcomes.';
COMMENT ON COLUMN rollout.outcome_windows.stage IS 'Stage.';
COMMENT ON COLUMN rollout.outcome_windows.n IS 'Outcomes.';
COMMENT ON COLUMN rollout.outcome_windows.n_success IS 'Outcomes with success = true.';
COMMENT ON COLUMN rollout.outcome_windows.n_success_known IS 'Outcomes with success not NULL.';
COMMENT ON COLUMN rollout.outcome_windows.n_error IS 'Outcomes with error = true.';
COMMENT ON COLUMN rollout.outcome_windows.n_safety IS 'Outcomes with safety_flag = true.';
COMMENT ON COLUMN rollout.outcome_windows.n_feedback IS 'Outcomes with feedback.';
COMMENT ON COLUMN rollout.outcome_windows.sum_feedback IS 'Sum of feedback.';
COMMENT ON COLUMN rollout.outcome_windows.n_quality IS 'Outcomes with a quality score.';
COMMENT ON COLUMN rollout.outcome_windows.sum_quality IS 'Sum of quality.';
COMMENT ON COLUMN rollout.outcome_windows.sumsq_quality IS 'Sum of squared quality.';
COMMENT ON COLUMN rollout.outcome_windows.n_latency IS 'Outcomes with a latency.';
COMMENT ON COLUMN rollout.outcome_windows.sum_latency IS 'Sum of latency_ms.';
COMMENT ON COLUMN rollout.outcome_windows.sumsq_latency IS 'Sum of squared latency_ms.';
COMMENT ON COLUMN rollout.outcome_windows.n_cost IS 'Outcomes with a cost.';
COMMENT ON COLUMN rollout.outcome_windows.sum_cost IS 'Sum of cost.';
COMMENT ON COLUMN rollout.outcome_windows.sumsq_cost IS 'Sum of squared cost.';
COMMENT ON COLUMN rollout.outcome_windows.latency_sketch IS 'DDSketch of latency_ms (mergeable).';
COMMENT ON COLUMN rollout.outcome_windows.cost_sketch IS 'DDSketch of cost.';
COMMENT ON COLUMN rollout.outcome_windows.metrics IS 'Custom metrics: {"name": {"n", "sum", "sumsq"}}.';

COMMENT ON TABLE rollout.shadow_windows IS 'Window aggregates of shadow pairs: one row per rollout, 5-minute window and stage.';
COMMENT ON COLUMN rollout.shadow_windows.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.shadow_windows.window_start IS 'Start of the window.';
COMMENT ON COLUMN rollout.shadow_windows.stage IS 'Stage.';
COMMENT ON COLUMN rollout.shadow_windows.n IS 'Pairs.';
COMMENT ON COLUMN rollout.shadow_windows.n_similarity IS 'Pairs with a similarity.';
COMMENT ON COLUMN rollout.shadow_windows.sum_similarity IS 'Sum of similarity.';
COMMENT ON COLUMN rollout.shadow_windows.sumsq_similarity IS 'Sum of squared similarity.';
COMMENT ON COLUMN rollout.shadow_windows.n_agree_known IS 'Pairs with decisions_agree known.';
COMMENT ON COLUMN rollout.shadow_windows.n_agree IS 'Pairs whose decisions agreed.';
COMMENT ON COLUMN rollout.shadow_windows.n_production_latency IS 'Pairs with a production latency.';
COMMENT ON COLUMN rollout.shadow_windows.sum_production_latency IS 'Sum of production latency.';
COMMENT ON COLUMN rollout.shadow_windows.n_shadow_latency IS 'Pairs with a shadow latency.';
COMMENT ON COLUMN rollout.shadow_windows.sum_shadow_latency IS 'Sum of shadow latency.';
COMMENT ON COLUMN rollout.shadow_windows.n_production_cost IS 'Pairs with a production cost.';
COMMENT ON COLUMN rollout.shadow_windows.sum_production_cost IS 'Sum of production cost.';
COMMENT ON COLUMN rollout.shadow_windows.n_shadow_cost IS 'Pairs with a shadow cost.';
COMMENT ON COLUMN rollout.shadow_windows.sum_shadow_cost IS 'Sum of shadow cost.';

COMMENT ON TABLE rollout.outcome_watermark IS 'Where folding of outcomes into the aggregates stands (one row).';
COMMENT ON COLUMN rollout.outcome_watermark.id IS 'Always true: the single row.';
COMMENT ON COLUMN rollout.outcome_watermark.folded_below IS 'Every outcome with a txid below this is in the aggregates, none at or above it.';
COMMENT ON COLUMN rollout.outcome_watermark.refreshed_at IS 'Wall-clock time of the last refresh (every tick refreshes).';
COMMENT ON COLUMN rollout.outcome_watermark.refreshed_upto IS 'The upto argument of the last refresh.';
COMMENT ON COLUMN rollout.outcome_watermark.outcomes_folded IS 'Outcomes folded so far.';
COMMENT ON COLUMN rollout.outcome_watermark.pairs_folded IS 'Shadow pairs folded so far.';

COMMENT ON TABLE rollout.outcome_rejects IS 'Rows that could not be folded or drained, with the error: stored outcomes and shadow pairs outside the documented bounds (moved here by refresh_aggregates) and staged rows drain_outcome_staging() could not insert. rollout_admin deletes what has been dealt with.';
COMMENT ON COLUMN rollout.outcome_rejects.id IS 'Row id.';
COMMENT ON COLUMN rollout.outcome_rejects.rejected_at IS 'When it was rejected.';
COMMENT ON COLUMN rollout.outcome_rejects.source IS 'Where it came from: outcomes, shadow_pairs or outcome_staging.';
COMMENT ON COLUMN rollout.outcome_rejects.agent IS 'Agent, if known.';
COMMENT ON COLUMN rollout.outcome_rejects.error IS 'Error message.';
COMMENT ON COLUMN rollout.outcome_rejects.sqlstate IS 'SQLSTATE of the error.';
COMMENT ON COLUMN rollout.outcome_rejects.row_data IS 'The row as it was, as JSON.';

COMMENT ON TABLE rollout.exposure_totals IS 'Running totals of routing decisions per rollout and arm, moved from shared memory by every tick().';
COMMENT ON COLUMN rollout.exposure_totals.rollout_id IS 'Rollout (0: decisions that could not be counted per rollout).';
COMMENT ON COLUMN rollout.exposure_totals.arm IS 'Arm.';
COMMENT ON COLUMN rollout.exposure_totals.exposures IS 'Decisions served.';
COMMENT ON COLUMN rollout.exposure_totals.updated_at IS 'Last tick that added to it.';

COMMENT ON VIEW rollout.exposures IS 'Routing decisions per rollout and arm counted in this server''s shared memory since the last flush.';
COMMENT ON COLUMN rollout.exposures.rollout_id IS 'Rollout.';
COMMENT ON COLUMN rollout.exposures.arm IS 'Arm.';
COMMENT ON COLUMN rollout.exposures.exposures IS 'Decisions since the last flush.';

COMMENT ON VIEW rollout.status IS 'One row per agent about its latest rollout (final ones too): state, share, samples, bake, progress, the last gate results and what it is waiting for.';
COMMENT ON COLUMN rollout.status.agent IS 'Agent.';
COMMENT ON COLUMN rollout.status.rollout_id IS 'Latest rollout.';
COMMENT ON COLUMN rollout.status.state IS 'State.';
COMMENT ON COLUMN rollout.status.stage IS 'Stage.';
COMMENT ON COLUMN rollout.status.percent IS 'Candidate share now, 0 to 100.';
COMMENT ON COLUMN rollout.status.strategy IS 'Strategy.';
COMMENT ON COLUMN rollout.status.baseline IS 'Baseline version.';
COMMENT ON COLUMN rollout.status.candidate IS 'Candidate version.';
COMMENT ON COLUMN rollout.status.samples_candidate IS 'Candidate outcomes in the current stage.';
COMMENT ON COLUMN rollout.status.samples_baseline IS 'Baseline outcomes in the current stage.';
COMMENT ON COLUMN rollout.status.samples_needed IS 'Samples each arm needs in this stage.';
COMMENT ON COLUMN rollout.status.bake_until IS 'End of the stage''s bake time.';
COMMENT ON COLUMN rollout.status.bake_left IS 'Bake time left (active rollouts).';
COMMENT ON COLUMN rollout.status.progress IS 'Progress through the plan, 0 to 1.';
COMMENT ON COLUMN rollout.status.hold_reason IS 'Why it holds, if it does.';
COMMENT ON COLUMN rollout.status.last_gate_results IS 'Latest verdict of every gate (JSON).';
COMMENT ON COLUMN rollout.status.next_evaluation IS 'When tick() evaluates it next.';
COMMENT ON COLUMN rollout.status.started_at IS 'Start of the rollout.';
COMMENT ON COLUMN rollout.status.stage_started_at IS 'Start of the current stage.';
COMMENT ON COLUMN rollout.status.ended_at IS 'End of the rollout.';
COMMENT ON COLUMN rollout.status.last_error IS 'Last error tick() met evaluating the rollout.';
COMMENT ON COLUMN rollout.status.last_error_at IS 'When that error happened.';
COMMENT ON COLUMN rollout.status.waiting_for IS 'Why it is not advancing, in one line (as of its last evaluation; NULL once finished).';

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

COMMENT ON FUNCTION rollout.create_agent(text,text,text[]) IS 'Creates an agent and returns its id; service_roles names the roles allowed to route and record for it. Needs rollout_admin.';
COMMENT ON FUNCTION rollout.create_version(text,text,text,text,jsonb,jsonb,jsonb,text,text,boolean) IS 'Creates an immutable version of an agent and returns its number; identical content returns the existing number. Floating model ids are refused unless allow_floating_model.';
COMMENT ON FUNCTION rollout.set_label(text,text,integer,text) IS 'Moves a label (e.g. production) to a version, with history and an event.';
COMMENT ON FUNCTION rollout.set_flag(text,text,numeric,text) IS 'Sets a standalone capability flag of an agent: on for percent % of its callers, with or without a rollout; the change is an event.';
COMMENT ON FUNCTION rollout.remove_flag(text,text,text) IS 'Removes a standalone capability flag of an agent; the change is an event.';
COMMENT ON FUNCTION rollout._check_flag(text) IS 'Raises invalid_parameter_value unless the argument is a flag name as plans have them.';
COMMENT ON FUNCTION rollout._flags_valid(jsonb) IS 'Whether an agent''s standalone flags are well formed (the CHECK of rollout.agents.flags).';
COMMENT ON FUNCTION rollout._count_failing_window(jsonb,jsonb,timestamp with time zone) IS 'Counts a failing evaluation of a rollback gate in fail_streak, once per gate window.';
COMMENT ON FUNCTION rollout._shadow_guards(rollout.rollouts,timestamp with time zone) IS 'The shadow phase''s gates that roll back, on the candidate''s shadow outputs, in every state of the phase.';
COMMENT ON FUNCTION rollout.set_service_roles(text,text[],text) IS 'Names the roles allowed to route and record for an agent (NULL: every member of rollout_service); the change is an event.';
COMMENT ON FUNCTION rollout.finish_restore() IS 'Run once after restoring a dump: re-bases outcome transaction ids and the fold watermark so refresh_aggregates() neither double-counts nor skips rows; writes an event.';
COMMENT ON FUNCTION rollout.get_version(text,text) IS 'A version of an agent by label (default production) or number.';
COMMENT ON FUNCTION rollout.diff(text,integer,integer) IS 'The fields that differ between two versions of an agent, one row each.';
COMMENT ON FUNCTION rollout.fingerprint(text,text,jsonb,text,jsonb,jsonb,text) IS 'Hex SHA-256 of the canonical content of a version.';
COMMENT ON FUNCTION rollout.canonical_json(jsonb) IS 'Canonical text of a JSON value (sorted keys, no spaces), as the fingerprint hashes it.';
COMMENT ON FUNCTION rollout.model_is_pinned(text) IS 'Whether a model id names a pinned snapshot (not a floating alias such as -latest).';
COMMENT ON FUNCTION rollout.route(text,text,text,text,text,jsonb,text) IS 'The routing decision for one request: version and content to serve, arm, shadow version, judge sample, pin, reason and the decision_token to pass to record(). Reads no table (per-backend cache); runs on standbys and behind pgbouncer.';
COMMENT ON FUNCTION rollout.bucket(text,bigint) IS 'The bucket of a key under a salt: XXH3_64 with seed mod 10000, for clients and tests.';
COMMENT ON FUNCTION rollout.exposure_counts() IS 'Routing decisions per rollout and arm counted in shared memory since the last flush.';
COMMENT ON FUNCTION rollout.flush_exposures() IS 'Returns the shared-memory exposure counters and resets them in one step (tick() does this).';
COMMENT ON FUNCTION rollout.rotate_pin_secret(text) IS 'Replaces the pin secret: every pin issued so far stops verifying.';
COMMENT ON FUNCTION rollout.proportion_test(bigint,bigint,bigint,bigint,double precision,text,text) IS 'Two-proportion test, H0: p1 - p2 = margin (sample 1 the candidate); statsmodels test_proportions_2indep.';
COMMENT ON FUNCTION rollout.mann_whitney(double precision[],double precision[],text,boolean,text) IS 'Mann-Whitney U test of x against y; scipy.stats.mannwhitneyu.';
COMMENT ON AGGREGATE rollout.mann_whitney_agg(double precision,boolean) IS 'Mann-Whitney U test over rows: value and whether the row is the candidate.';
COMMENT ON AGGREGATE rollout.mann_whitney_agg(double precision,boolean,text,boolean,text) IS 'Mann-Whitney U test over rows, with alternative, continuity correction and method.';
COMMENT ON FUNCTION rollout.welch_test(double precision,double precision,bigint,double precision,double precision,bigint,double precision,text) IS 'Welch t-test from summary statistics, H0: mean1 - mean2 = margin; scipy.stats.ttest_ind_from_stats.';
COMMENT ON FUNCTION rollout.srm_test(bigint[],double precision[]) IS 'Sample-ratio mismatch: chi-square of observed counts against weights; scipy.stats.chisquare.';
COMMENT ON FUNCTION rollout.sample_size_proportions(double precision,double precision,double precision,double precision,double precision,text) IS 'Candidate-arm sample size to tell two proportions apart; statsmodels samplesize_proportions_2indep_onetail.';
COMMENT ON FUNCTION rollout.sequential_test(double precision,double precision,bigint,double precision,text,double precision,double precision) IS 'Always-valid p-value and confidence sequence (mixture SPRT), safe to look at every evaluation.';
COMMENT ON FUNCTION rollout.event_share_test(bigint[],bigint[],double precision[],double precision,text) IS 'Always-valid exact test of the candidate-to-baseline event-rate ratio from each arm''s share of the events, per segment of constant traffic share.';
COMMENT ON FUNCTION rollout.ddsketch_in(cstring) IS 'Input function of the ddsketch type.';
COMMENT ON FUNCTION rollout.ddsketch_out(rollout.ddsketch) IS 'Output function of the ddsketch type.';
COMMENT ON AGGREGATE rollout.ddsketch_agg(double precision) IS 'DDSketch of the values (relative accuracy 1%).';
COMMENT ON AGGREGATE rollout.ddsketch_agg(double precision,double precision) IS 'DDSketch of the values with the given relative accuracy.';
COMMENT ON AGGREGATE rollout.ddsketch_merge(rollout.ddsketch) IS 'Merges sketches into one.';
COMMENT ON FUNCTION rollout.ddsketch_combine(rollout.ddsketch,rollout.ddsketch) IS 'Merges two sketches.';
COMMENT ON FUNCTION rollout.ddsketch_quantile(rollout.ddsketch,double precision) IS 'Quantile q of a sketch.';
COMMENT ON FUNCTION rollout.ddsketch_quantiles(rollout.ddsketch,double precision[]) IS 'Quantiles of a sketch.';
COMMENT ON FUNCTION rollout.ddsketch_count(rollout.ddsketch) IS 'Number of values in a sketch.';
COMMENT ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch,double precision) IS 'Number of values of a sketch above a threshold (quantile gates).';
COMMENT ON FUNCTION rollout.metric_stats_merge(jsonb,jsonb) IS 'Adds two custom-metric summaries {"name": {"n", "sum", "sumsq"}}.';
COMMENT ON AGGREGATE rollout.metric_stats_agg(jsonb) IS 'Adds custom-metric summaries over rows.';
COMMENT ON FUNCTION rollout.cosine_similarity(real[],real[]) IS 'Cosine similarity of two embeddings.';
COMMENT ON FUNCTION rollout.window_start(timestamp with time zone) IS 'Start of the 5-minute aggregation window containing a time.';
COMMENT ON FUNCTION rollout.record(text,integer,text,boolean,double precision,double precision,double precision,boolean,boolean,smallint,jsonb,boolean,timestamp with time zone,text) IS 'Records the outcome of one request under the decision its decision_token names (from route()); without a token the rollout and arm come from the version and the time. For rollout_service.';
COMMENT ON FUNCTION rollout.record_batch(text,integer[],text[],boolean[],double precision[],double precision[],double precision[],boolean[],boolean[],smallint[],jsonb[],boolean[],timestamp with time zone[],text[]) IS 'Records many outcomes of one agent from parallel arrays, in one statement; decision_tokens attribute each to its decision.';
COMMENT ON FUNCTION rollout.record_shadow_pair(text,integer,integer,text,double precision,real[],real[],boolean,double precision,double precision,double precision,double precision,timestamp with time zone,text) IS 'Records a production/shadow answer pair with its similarity (given, or the cosine of the embeddings); decision_token is that of the production request.';
COMMENT ON FUNCTION rollout.drain_outcome_staging() IS 'Moves the rows of rollout.outcome_staging into rollout.outcomes; returns how many.';
COMMENT ON FUNCTION rollout.outcome_context(text,integer,timestamp with time zone) IS 'The rollout, stage and arm an outcome of (agent, version) at a time would count for.';
COMMENT ON FUNCTION rollout.refresh_aggregates(timestamp with time zone) IS 'Folds committed outcomes and shadow pairs into the window aggregates; tick() calls it.';
COMMENT ON FUNCTION rollout.maintain_outcomes(timestamp with time zone) IS 'Creates upcoming day partitions and drops those past the retention; run it daily.';
COMMENT ON FUNCTION rollout.arm_summary(bigint,timestamp with time zone,timestamp with time zone,text,integer) IS 'Per-arm summary of a rollout over the windows starting in [from_at, to_at), merged from the window aggregates.';
COMMENT ON FUNCTION rollout.arm_values(bigint,text,text,timestamp with time zone,timestamp with time zone,boolean) IS 'Raw values of one metric of one arm over a time range, for rank tests.';
COMMENT ON FUNCTION rollout.compare(bigint) IS 'Candidate against baseline of one rollout, per window and per stage; an A/B test has a row per variant against the control.';
COMMENT ON FUNCTION rollout.validate_plan(jsonb,text) IS 'Validates and normalizes a plan (NULL: the preset of the risk tier); errors name the JSON path.';
COMMENT ON FUNCTION rollout.in_blackout(jsonb,timestamp with time zone) IS 'Whether a time falls inside a blackout window of a plan.';
COMMENT ON FUNCTION rollout.start(text,integer,jsonb,text,text,timestamp with time zone) IS 'Starts a rollout of a candidate version against production; returns its id. One active rollout per agent.';
COMMENT ON FUNCTION rollout.pause(text,text,timestamp with time zone) IS 'Pauses the active rollout: no advancement; rollback gates still protect.';
COMMENT ON FUNCTION rollout.resume(text,text,timestamp with time zone) IS 'Resumes a paused rollout in the state it was paused from.';
COMMENT ON FUNCTION rollout.approve(text,text,timestamp with time zone) IS 'Approves a rollout awaiting approval; the approver must differ from whoever started it.';
COMMENT ON FUNCTION rollout.promote(text,boolean,text,timestamp with time zone,text) IS 'Advances the active rollout one stage by hand, or to 100% with full; ends an A/B test with the variant named (default: its recommendation) promoted.';
COMMENT ON FUNCTION rollout.switch(text,text,timestamp with time zone) IS 'Blue-green: sends all traffic to green (the candidate); gates then compare green with blue before the switch.';
COMMENT ON FUNCTION rollout.switch_back(text,text,timestamp with time zone) IS 'Blue-green: sends all traffic back to blue; the rollout ends rolled back.';
COMMENT ON FUNCTION rollout.rollback(text,text,boolean,timestamp with time zone) IS 'Rolls the active (or just promoted) rollout back to the baseline; safety skips the drain. Never blocked.';
COMMENT ON FUNCTION rollout.retry(text,text,timestamp with time zone) IS 'Starts a new rollout of the candidate of a rolled-back rollout with the same plan.';
COMMENT ON FUNCTION rollout.tick(timestamp with time zone) IS 'Evaluates every active rollout once and acts on the gates; the worker and cron call it, tests call it with a simulated clock.';
COMMENT ON FUNCTION rollout.deploy_now(text,integer,text,timestamp with time zone) IS 'The audited emergency path: makes a version production at once, ending any active rollout. rollout_admin only.';
COMMENT ON FUNCTION rollout.is_active_state(text) IS 'Whether a rollout state is active (not promoted or rolled_back).';

COMMENT ON TYPE rollout.decision IS 'The routing decision route() returns, one per request (docs/routing.md).';
COMMENT ON TYPE rollout.ddsketch IS 'DDSketch: a mergeable quantile sketch with relative accuracy (latency and cost per window).';
COMMENT ON TYPE rollout.mann_whitney_result IS 'Result of rollout.mann_whitney_agg: U and p-value.';
COMMENT ON TYPE rollout.gate_verdict IS 'One gate evaluation: verdict and the statistics behind it.';
COMMENT ON TYPE rollout.gate_tally_sums IS 'What an always-valid gate''s test reads from its tallies over the stages of a canary (internal to the tick).';
COMMENT ON FUNCTION rollout._gate_set_tallied(jsonb) IS 'Whether _tally_gates() tallies a gate in its one statement for rates and means (internal).';
COMMENT ON FUNCTION rollout._tally_gates(rollout.rollouts,jsonb,timestamp with time zone) IS 'Adds the ended windows to the tallies of every always-valid gate of a rollout, in three statements (internal).';
COMMENT ON FUNCTION rollout._verdict_av(rollout.rollouts,jsonb,timestamp with time zone,rollout.gate_tally_sums) IS 'The verdict of an always-valid gate from its tallies (internal).';
