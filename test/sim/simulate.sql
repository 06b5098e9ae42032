-- sim.step(): one slot of the simulated clock. It generates 5 simulated
-- minutes of traffic for every running rollout, commits, and calls
-- rollout.tick() at the end of the slot, as services and the worker would
-- in separate transactions (refresh_aggregates folds committed rows only).
-- run.sh calls it once per slot from one session (one seed), with the
-- VACUUM and ANALYZE autovacuum would do in between (the instance runs
-- without autovacuum, see run.sh). One procedure looping over all slots
-- would not do: a CALL reports no table statistics until it ends, and
-- VACUUM cannot run inside it, so rollout.rollouts would bloat with the
-- dead row versions every tick leaves and each tick would get slower.
--
-- Traffic: p_per_hour requests an hour per agent. Each request goes to the
-- candidate with probability percent/100 (the rollout's share at this
-- slot, so the split is binomial, as the SRM check in tick() expects) and
-- succeeds with its arm's rate; every draw is one random() per request, so
-- the counts are exactly binomial. route() is not called: bucketing is
-- tested by the routing suites, and a call per request would cost more
-- than everything else here. Candidate outcomes are inserted as raw rows
-- into rollout.outcomes and folded by refresh_aggregates() in tick(). The
-- stable arm (95-99% of the requests) is written as its 5-minute window
-- aggregate into rollout.outcome_windows: the row the fold would make of
-- those requests, without storing 40 million raw rows.
--
-- A run ends at slot p_horizon (A/A: the end of the 5% stage's bake) or,
-- for a regression, when it reaches the 25% stage (it has slipped
-- through); it is then paused so that tick() leaves it alone. Once no
-- rollout is running, a step does nothing.
CREATE TABLE sim.ticks (slot integer, at timestamptz, rollouts integer, candidate_rows bigint,
						stable_rows bigint, traffic_seconds float8, tick_seconds float8);
CREATE PROCEDURE sim.step(p_start timestamptz, p_per_hour integer, p_horizon integer,
						  p_slot integer)
LANGUAGE plpgsql AS $$
DECLARE
	v_per_slot integer := p_per_hour / 12;
	v_at timestamptz;
	v_end timestamptz;
	v_running integer;
	v_cand bigint;
	v_stable bigint;
	v_clock timestamptz;
	v_traffic float8;
	v_n integer;
	v_ok_c integer;
	v_ok_s integer;
	v_ids bigint[] := '{}';
	v_ns integer[] := '{}';
	v_oks_c integer[] := '{}';
	v_oks_s integer[] := '{}';
	x record;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM rollout.rollouts r JOIN sim.runs s ON s.rollout_id = r.id
				   WHERE rollout.is_active_state(r.state) AND r.state <> 'paused') THEN
		RETURN;
	END IF;
	v_clock := clock_timestamp();
	v_at := p_start + make_interval(mins => p_slot * 5);
	v_end := v_at + interval '5 minutes';
	-- The draws, rollout by rollout in a fixed order so that the seed alone
	-- decides them (a set-based draw could be cached per percent by Memoize):
	-- the candidate count, then the successes of each arm.
	FOR x IN SELECT r.id, r.percent, s.rate_stable, s.rate_candidate
			 FROM rollout.rollouts r JOIN sim.runs s ON s.rollout_id = r.id
			 WHERE rollout.is_active_state(r.state) AND r.state <> 'paused'
			 ORDER BY r.id LOOP
		SELECT count(*) FILTER (WHERE random() < x.percent / 100) INTO v_n
			FROM generate_series(1, v_per_slot);
		SELECT count(*) FILTER (WHERE random() < x.rate_candidate) INTO v_ok_c
			FROM generate_series(1, v_n);
		SELECT count(*) FILTER (WHERE random() < x.rate_stable) INTO v_ok_s
			FROM generate_series(1, v_per_slot - v_n);
		v_ids := v_ids || x.id;
		v_ns := v_ns || v_n;
		v_oks_c := v_oks_c || v_ok_c;
		v_oks_s := v_oks_s || v_ok_s;
	END LOOP;
	-- Candidate requests: one raw outcome each, spread over the slot (the
	-- order of successes inside a 5-minute window does not matter to gates).
	INSERT INTO rollout.outcomes (at, agent, version, rollout_id, stage, arm, in_arm, success)
	SELECT v_at + make_interval(secs => (i - 1) * 300.0 / d.n), r.agent, r.candidate,
		   r.id, r.stage, 'candidate', true, i <= d.ok_c
	FROM unnest(v_ids, v_ns, v_oks_c) d(id, n, ok_c)
	JOIN rollout.rollouts r ON r.id = d.id,
	generate_series(1, d.n) i;
	GET DIAGNOSTICS v_cand = ROW_COUNT;
	-- Stable requests: their window aggregate.
	INSERT INTO rollout.outcome_windows (rollout_id, window_start, arm, shadow, stage, n,
		n_success, n_success_known, n_error, n_safety, n_feedback, sum_feedback, n_quality,
		sum_quality, sumsq_quality, n_latency, sum_latency, sumsq_latency, n_cost, sum_cost,
		sumsq_cost)
	SELECT r.id, rollout.window_start(v_at), 'stable', false, r.stage, v_per_slot - d.n,
		   d.ok_s, v_per_slot - d.n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
	FROM unnest(v_ids, v_ns, v_oks_s) d(id, n, ok_s)
	JOIN rollout.rollouts r ON r.id = d.id
	WHERE d.n < v_per_slot;
	v_running := cardinality(v_ids);
	v_stable := v_running * v_per_slot - v_cand;
	COMMIT;
	v_traffic := extract(epoch FROM clock_timestamp() - v_clock);

	v_clock := clock_timestamp();
	PERFORM rollout.tick(v_end);
	-- End of a run: pause it so that tick() leaves it alone.
	FOR x IN SELECT r.agent, r.stage FROM rollout.rollouts r JOIN sim.runs s ON s.rollout_id = r.id
			 WHERE rollout.is_active_state(r.state) AND r.state <> 'paused'
			   AND (p_slot + 1 >= p_horizon OR r.stage >= 3)
			 ORDER BY r.id LOOP
		PERFORM rollout.pause(x.agent,
			CASE WHEN x.stage >= 3 THEN 'simulation: reached 25%' ELSE 'simulation horizon' END,
			v_end);
	END LOOP;
	INSERT INTO sim.ticks VALUES (p_slot, v_end, v_running, v_cand, v_stable, v_traffic,
		extract(epoch FROM clock_timestamp() - v_clock));
	COMMIT;
END
$$;
