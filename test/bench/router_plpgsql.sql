-- Baseline for bench_route.sh: the router a team would write in PL/pgSQL
-- without pg_rollout's cache. It reads the state tables on every call
-- (active rollout, production label, version content) and buckets with the
-- same hash, so the ratio measures what the per-backend cache saves.
CREATE SCHEMA IF NOT EXISTS bench_baseline;

CREATE OR REPLACE FUNCTION bench_baseline.route(p_agent text, p_unit text)
RETURNS TABLE (version integer, arm text, system_prompt text, model text, params jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r rollout.rollouts;
	v_version integer;
	v_arm text := 'stable';
BEGIN
	SELECT * INTO r FROM rollout.rollouts ro
	 WHERE ro.agent = p_agent AND rollout.is_active_state(ro.state);
	IF FOUND THEN
		v_version := r.baseline;
		IF rollout.bucket(p_unit, r.salt) < r.percent * 100 THEN
			v_version := r.candidate;
			v_arm := 'candidate';
		END IF;
	ELSE
		SELECT l.version INTO v_version FROM rollout.labels l
		 WHERE l.agent = p_agent AND l.label = 'production';
	END IF;
	RETURN QUERY SELECT v.version, v_arm, v.system_prompt, v.model, v.params
		FROM rollout.versions v WHERE v.agent = p_agent AND v.version = v_version;
END
$$;
