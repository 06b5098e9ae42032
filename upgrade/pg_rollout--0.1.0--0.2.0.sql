-- pg_rollout 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_rollout UPDATE TO '0.2.0').
--
-- Release rule: every change to src/sql/ that changes the schema ships its
-- statements here in the same commit, so that 0.1.0 + this script equals a
-- fresh 0.2.0 install (test/t/ checks it by comparing pg_dump --schema-only).
-- Sections are grouped by the src/sql/ piece they mirror.

\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit

