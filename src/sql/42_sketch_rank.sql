-- 42: counts of a latency or cost sketch above a threshold
-- (src/sketch_rank.c), which the quantile gates feed to the event-share test.
CREATE FUNCTION rollout.ddsketch_count_above(sketch rollout.ddsketch, threshold float8) RETURNS bigint
AS 'MODULE_PATHNAME', 'rollout_ddsketch_count_above'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

REVOKE ALL ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.ddsketch_count_above(rollout.ddsketch, float8)
	TO rollout_reader, rollout_service, rollout_operator, rollout_admin;
