\set ECHO none
-- Traffic simulator for lifecycle tests (\i test/sql/simulate.sql).
-- pg_temp.simulate(agent, start, minutes, per_slot, success_rates) routes
-- per_slot requests every 5 simulated minutes through rollout.route(),
-- records an outcome for each with the success rate of the version served
-- (success_rates: {"1": 0.90, "2": 0.86}), commits, and calls rollout.tick()
-- after each slot, as a service and the worker would in separate
-- transactions. What tick() did goes to the temp table sim_log (wait
-- actions omitted unless p_quiet is false).
CREATE TEMP TABLE sim_log (seq serial, at timestamptz, action text, detail text,
						   state text, stage integer, percent numeric);
CREATE PROCEDURE pg_temp.simulate(p_agent text, p_start timestamptz, p_minutes integer,
								  p_per_slot integer, p_rates jsonb, p_quiet boolean DEFAULT true)
LANGUAGE plpgsql AS $$
DECLARE
	v_at timestamptz;
	v_slot integer := 0;
	d record;
	t record;
	v_rate float8;
BEGIN
	WHILE v_slot * 5 < p_minutes LOOP
		v_at := p_start + make_interval(mins => v_slot * 5);
		FOR i IN 1..p_per_slot LOOP
			SELECT * INTO d FROM rollout.route(p_agent, 'u' || (v_slot * p_per_slot + i));
			v_rate := coalesce((p_rates->>d.version::text)::float8, 0.9);
			PERFORM rollout.record(p_agent, d.version, 'u' || (v_slot * p_per_slot + i),
								   success => random() < v_rate,
								   at => v_at + make_interval(secs => i * 290.0 / p_per_slot));
		END LOOP;
		COMMIT;
		FOR t IN SELECT * FROM rollout.tick(v_at + interval '5 minutes') LOOP
			IF NOT p_quiet OR t.action <> 'wait' THEN
				INSERT INTO sim_log (at, action, detail, state, stage, percent)
					SELECT v_at + interval '5 minutes', t.action, t.detail, r.state, r.stage, r.percent
					FROM rollout.rollouts r WHERE r.id = t.rollout_id;
			END IF;
		END LOOP;
		COMMIT;
		v_slot := v_slot + 1;
	END LOOP;
END
$$;
\set ECHO all
