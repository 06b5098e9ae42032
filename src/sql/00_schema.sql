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
