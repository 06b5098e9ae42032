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
