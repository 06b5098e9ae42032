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
