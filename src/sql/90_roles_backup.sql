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
