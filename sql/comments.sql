-- psql explains itself: every public table, view, column, function,
-- aggregate and type of schema rollout carries a comment (\d+, \df+).
-- Internal objects (names starting with _) and partitions are exempt.
\i test/sql/helpers.sql

SELECT c.relname AS relation_without_comment
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'rollout' AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
   AND c.relname !~ '^_' AND obj_description(c.oid, 'pg_class') IS NULL
 ORDER BY 1;

SELECT c.relname || '.' || a.attname AS column_without_comment
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = 'rollout' AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
   AND c.relname !~ '^_' AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY 1;

SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'rollout' AND p.proname !~ '^_' AND obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1::text;

SELECT t.typname AS type_without_comment
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = 'rollout' AND t.typname !~ '^_'
   AND (t.typtype = 'b' OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
   AND obj_description(t.oid, 'pg_type') IS NULL
 ORDER BY 1;

-- What a DBA sees.
SELECT obj_description('rollout.status'::regclass, 'pg_class') AS status;
SELECT obj_description('rollout.route(text,text,text,text,text,jsonb,text)'::regprocedure, 'pg_proc') AS route;
SELECT col_description('rollout.rollouts'::regclass, attnum) AS rollouts_percent
  FROM pg_attribute WHERE attrelid = 'rollout.rollouts'::regclass AND attname = 'percent';
