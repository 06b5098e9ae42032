-- pg_rollout 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.2.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.1.0 + this script equals a
-- fresh 0.2.0 install (test/t/ checks it by comparing pg_dump --schema-only).
-- Sections are grouped by the src/sql/ piece they mirror.
--
-- Built-in risk tiers: rows with builtin = true are the release's and are not
-- dumped; any UPDATE marks a row builtin = false (trigger
-- plan_presets_edited), as a DBA's edit. A section that changes a shipped
-- tier updates only rows WHERE builtin, with the triggers plan_presets_edited
-- and plan_presets_change disabled around the UPDATE.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- roles, backup, record (issue 11)
--
-- Mirrors src/sql/10_registry.sql (service roles), 40_outcomes.sql (outcome
-- authors, service checks, clock tolerance, audited maintenance),
-- 60_lifecycle.sql (two-person promote) and 90_roles_backup.sql (privileges,
-- audit and truncate triggers, pg_extension_config_dump).

-- Registry: the roles allowed to route and record for an agent.
ALTER TABLE rollout.agents ADD COLUMN service_roles text[];

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
DROP FUNCTION rollout.create_agent(text, text);
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

-- Outcomes: every row names the login that wrote it. Rows recorded before
-- 0.2.0 have no known author.
ALTER TABLE rollout.outcomes ADD COLUMN author text NOT NULL DEFAULT '(before 0.2.0)';
ALTER TABLE rollout.outcomes ALTER COLUMN author SET DEFAULT session_user;
ALTER TABLE rollout.outcome_staging ADD COLUMN author text NOT NULL DEFAULT '(before 0.2.0)';
ALTER TABLE rollout.outcome_staging ALTER COLUMN author SET DEFAULT session_user;

-- Indexes move from the partitioned parents to each partition, so that
-- pg_dump can restore daily partitions (src/sql/40_outcomes.sql). This
-- rebuilds them: on a large outcome store the upgrade takes a while.
DROP INDEX rollout.outcomes_arm_at_idx, rollout.outcomes_txid_idx,
	rollout.shadow_pairs_rollout_at_idx, rollout.shadow_pairs_txid_idx;
CREATE INDEX outcomes_arm_at_idx ON rollout.outcomes_default (rollout_id, arm, at);
CREATE INDEX outcomes_txid_idx ON rollout.outcomes_default USING brin (txid);
CREATE INDEX shadow_pairs_rollout_at_idx ON rollout.shadow_pairs_default (rollout_id, at);
CREATE INDEX shadow_pairs_txid_idx ON rollout.shadow_pairs_default USING brin (txid);
DO $indexes$
DECLARE
	p record;
	idx record;
BEGIN
	FOR p IN
		SELECT c.relname, parent.relname AS parent
		FROM pg_catalog.pg_inherits i
		JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		JOIN pg_catalog.pg_class parent ON parent.oid = i.inhparent
		WHERE parent.oid IN ('rollout.outcomes'::regclass, 'rollout.shadow_pairs'::regclass)
		  AND c.relname NOT LIKE '%\_default'
	LOOP
		FOR idx IN
			SELECT pg_catalog.pg_get_indexdef(x.indexrelid) AS def
			FROM pg_catalog.pg_index x
			WHERE x.indrelid = ('rollout.' || p.parent || '_default')::regclass
			ORDER BY x.indexrelid
		LOOP
			EXECUTE pg_catalog.regexp_replace(idx.def, '^CREATE (UNIQUE )?INDEX \S+ ON \S+ ',
				pg_catalog.format('CREATE \1INDEX ON rollout.%I ', p.relname));
		END LOOP;
	END LOOP;
END
$indexes$;

-- Creates the daily partition [day, day + 1) of rollout.<parent> unless it
-- exists, with the indexes of the default partition, moving rows of that
-- day out of the default partition first.
CREATE OR REPLACE FUNCTION rollout._ensure_partition(parent text, day date) RETURNS boolean
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

-- A batch of one agent's outcomes as parallel arrays; all rows or none.
CREATE OR REPLACE FUNCTION rollout.record_batch(agent text, versions integer[], units text[] DEFAULT NULL,
									 successes boolean[] DEFAULT NULL, qualities float8[] DEFAULT NULL,
									 latencies_ms float8[] DEFAULT NULL, costs float8[] DEFAULT NULL,
									 errors boolean[] DEFAULT NULL, safety_flags boolean[] DEFAULT NULL,
									 feedbacks smallint[] DEFAULT NULL, metrics jsonb[] DEFAULT NULL,
									 shadows boolean[] DEFAULT NULL, ats timestamptz[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer := coalesce(cardinality(versions), 0);
	inserted bigint;
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
			rollout._check_batch_length(cardinality(ats), n, 'ats');
	INSERT INTO rollout.outcomes (txid, at, agent, version, rollout_id, stage, arm, in_arm,
								  shadow, unit, success, quality, latency_ms, cost, error,
								  safety_flag, feedback, metrics)
	SELECT pg_catalog.txid_current(), c.at, agent, b.v, c.rollout_id, c.stage, c.arm, c.in_arm,
		   coalesce(b.sh, false), b.u, b.s, b.q, b.l, b.c, coalesce(b.e, false),
		   coalesce(b.sf, false), b.f, coalesce(b.m, '{}')
	FROM unnest(versions, units, successes, qualities, latencies_ms, costs, errors,
				safety_flags, feedbacks, metrics, shadows, ats)
			WITH ORDINALITY AS b(v, u, s, q, l, c, e, sf, f, m, sh, t, ord)
		CROSS JOIN LATERAL rollout._outcome_resolve(agent, b.v, b.q, b.l, b.c, b.m,
													coalesce(b.t, pg_catalog.now()),
													b.ord::integer) c
	ORDER BY b.ord;
	GET DIAGNOSTICS inserted = ROW_COUNT;
	RETURN inserted;
END
$$;

-- Moves every staged row into rollout.outcomes in one statement; a bad row
-- rejects them all (the error names its position in id order).
CREATE OR REPLACE FUNCTION rollout.drain_outcome_staging() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	moved bigint;
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
														   o.at, o.pos::integer) c
		ORDER BY o.pos
		RETURNING 1)
	SELECT count(*) INTO moved FROM ins;
	RETURN moved;
END
$$;

-- A production/shadow pair. similarity is the caller's score, or the cosine
-- of the two embeddings; returns the similarity stored.
CREATE OR REPLACE FUNCTION rollout.record_shadow_pair(agent text, production_version integer,
										   shadow_version integer, unit text DEFAULT NULL,
										   similarity float8 DEFAULT NULL,
										   production_embedding float4[] DEFAULT NULL,
										   shadow_embedding float4[] DEFAULT NULL,
										   decisions_agree boolean DEFAULT NULL,
										   production_latency_ms float8 DEFAULT NULL,
										   shadow_latency_ms float8 DEFAULT NULL,
										   production_cost float8 DEFAULT NULL,
										   shadow_cost float8 DEFAULT NULL,
										   at timestamptz DEFAULT pg_catalog.now())
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
	-- Validates agent, both versions and time; the rollout comes from production's.
	PERFORM rollout._outcome_resolve(agent, shadow_version, NULL, NULL, NULL, NULL, at, 0);
	SELECT * INTO ctx FROM rollout._outcome_resolve(agent, production_version, NULL, NULL, NULL,
												   NULL, at, 0);
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
CREATE OR REPLACE FUNCTION rollout.maintain_outcomes(at timestamptz DEFAULT pg_catalog.now())
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

-- Lifecycle: promote out of awaiting_approval needs a second person.
CREATE OR REPLACE FUNCTION rollout.promote(agent text, "full" boolean DEFAULT false, reason text DEFAULT NULL,
								at timestamptz DEFAULT pg_catalog.now())
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_role text := rollout._acting_role();
BEGIN
	r := rollout._active_rollout(agent);
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
	RETURN rollout._advance(r, coalesce("full", false), 'promote_manual',
							coalesce(reason, 'manual promotion'), at);
END
$$;

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

-- Built-in risk tiers as shipped are not dumped; a tier whose plan
-- or description differs from the 0.1.0 seed was edited and is dumped.
ALTER TABLE rollout.plan_presets ADD COLUMN builtin boolean NOT NULL DEFAULT true;
ALTER TABLE rollout.plan_presets ALTER COLUMN builtin SET DEFAULT false;
ALTER TABLE rollout.plan_presets DISABLE TRIGGER plan_presets_change;
UPDATE rollout.plan_presets p SET builtin = false
	WHERE NOT EXISTS (
		SELECT 1 FROM (VALUES
('low', '{
	"strategy": "canary",
	"steps": [{"percent": 1, "bake": "4 hours", "min_samples": 200},
			  {"percent": 25, "bake": "4 hours", "min_samples": 500},
			  {"percent": 100}],
	"extend": {"allow_boost": true, "max_extensions": 3},
	"stable_period": "4 hours"
}', 'Prompt wording and similar bounded changes: accelerated canary 1% -> 25% -> 100%, 4 hours each, no shadow phase.'),
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
}', 'Architecture changes: 14 days of shadow mode, then a 3-week canary 1% (3 d) -> 5% (5 d) -> 25% (7 d) -> 50% (7 d) -> 100%.')) AS s(risk, plan, description)
		WHERE s.risk = p.risk AND s.plan::jsonb = p.plan AND s.description IS NOT DISTINCT FROM p.description);
ALTER TABLE rollout.plan_presets ENABLE TRIGGER plan_presets_change;

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
	rollout.in_blackout
	TO rollout_reader;
GRANT SELECT ON
	rollout.agents, rollout.versions, rollout.labels, rollout.label_history, rollout.events,
	rollout.rollouts, rollout.stages, rollout.gate_results, rollout.baselines,
	rollout.plan_presets, rollout.outcome_settings, rollout.quality_scales,
	rollout.outcomes, rollout.shadow_pairs, rollout.outcome_windows, rollout.shadow_windows,
	rollout.outcome_watermark, rollout.exposure_totals,
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
	rollout.rollback,
	rollout.retry,
	rollout.tick,
	rollout.refresh_aggregates,
	rollout.drain_outcome_staging
	TO rollout_operator;

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
