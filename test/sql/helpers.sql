\set ECHO none
-- Test helper included by the pg_regress files (\i test/sql/helpers.sql):
-- pg_temp.err(sql) runs a statement and returns its SQLSTATE, message and
-- detail instead of failing, so expected files assert the SQLSTATE without
-- depending on source line numbers.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_rollout;
CREATE FUNCTION pg_temp.err(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s text;
	m text;
	d text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
	RETURN s || ': ' || m || coalesce(' | ' || nullif(d, ''), '');
END
$$;
RESET client_min_messages;
\set ECHO all
