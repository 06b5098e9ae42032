-- pg_rollout 0.3.0 -> 0.4.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.4.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.3.0 + this script equals a
-- fresh 0.4.0 install (test/t/040_upgrade.pl checks it from 0.1.0, 0.2.0 and
-- 0.3.0 by comparing pg_dump --schema-only). Sections are named after the
-- change they carry; a function changed by more than one section is created
-- once, in the last section that changes it, as the release has it
-- (upgrade/objects.py prints the current definitions).
--
-- Built-in risk tiers: rows with builtin = true are the release's and are not
-- dumped; a section that changes a shipped tier updates only rows WHERE
-- builtin, with the triggers plan_presets_edited and plan_presets_change
-- disabled around the UPDATE.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.4.0'" to load this file. \quit
