#!/usr/bin/env bash
# Tick at scale: 10, 100, 1 000 and 10 000 agents, each in a canary of the
# low preset (six default gates) with outcomes in the last hour. At each
# scale, on a simulated clock 5 minutes apart:
#  1. rollout.tick() once to warm up (tallies start; then ANALYZE, as
#     autovacuum would before the next interval), then once measured:
#     its time divided by the number of rollouts (goal: <= 1 ms);
#  2. the worker's path: each rollout in its own transaction
#     (rollout._tick_rollout, then COMMIT), the median and p95 per rollout;
#  3. at the largest scale, the whole worker pass against the 5-minute
#     evaluation interval (goal: the 10 000 fit in one interval).
# Environment: BENCH_TICK_SCALES ("10 100 1000 10000"), BENCH_TICK_OUTCOMES
# (outcomes per rollout, 100). Prints figures; never fails for slowness.
set -uo pipefail
cd "$(dirname "$0")"
PSQL=("$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
SCALES=${BENCH_TICK_SCALES:-10 100 1000 10000}
PER=${BENCH_TICK_OUTCOMES:-100}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
export PGOPTIONS="-c bench.clk_tck=$CLK_TCK"
"${PSQL[@]}" >/dev/null <<'SQL' || { echo "bench_tick: set-up failed"; exit 0; }
CREATE TABLE bench_tick_times (scale integer, path text, rollout_id bigint, ms float8);
-- CPU time of this backend so far, in ms (Linux /proc, 10 ms steps): on a
-- shared machine the wall clock also counts other people's work (a busy
-- virtual machine still inflates CPU time somewhat).
CREATE FUNCTION bench_cpu_ms() RETURNS float8 LANGUAGE sql AS $$
	SELECT (split_part(s, ' ', 14)::float8 + split_part(s, ' ', 15)::float8) * 1000
		   / current_setting('bench.clk_tck')::float8
	FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') s
$$;
-- One measured tick() at the clock of step k (5 minutes apart): wall and
-- CPU ms.
CREATE FUNCTION bench_tick(p_scale integer, p_k integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s timestamptz := clock_timestamp();
	c float8 := bench_cpu_ms();
	n bigint;
BEGIN
	SELECT count(*) INTO n FROM rollout.tick(now() + make_interval(mins => 5 * p_k));
	RETURN round((extract(epoch FROM clock_timestamp() - s) * 1000)::numeric, 1) || ' '
		   || round((bench_cpu_ms() - c)::numeric);
END
$$;
SQL

prev=0
k=1
start_all=$(date +%s)
echo "bench_tick: $PER outcomes per rollout in the last hour, low preset (six default gates)"
printf '  %8s %12s %14s %14s %14s %14s\n' rollouts 'tick() ms' 'tick()/rollout' 'CPU/rollout' 'worker median' 'worker p95'
for n in $SCALES; do
  if [ "$n" -gt "$prev" ]; then
    "${PSQL[@]}" -v lo=$((prev + 1)) -v hi="$n" -v per="$PER" -f bench_tick_setup.sql >/dev/null ||
      { echo "bench_tick: set-up of $n rollouts failed"; exit 0; }
    prev=$n
  fi
  # Warm up: every rollout evaluated once at this clock.
  "${PSQL[@]}" -c "SELECT bench_tick($n, $k)" >/dev/null
  # The warm-up wrote every rollout's first tallies and verdicts; ANALYZE
  # them, as autovacuum does within a minute on a running system. Measured
  # right after the set-up's statistics (empty tally tables), a tick plans
  # its lookups for empty tables and takes two to four times as long.
  "${PSQL[@]}" -c "ANALYZE rollout.gate_tallies, rollout.gate_results, rollout.stages, rollout.rollouts" >/dev/null
  k=$((k + 1))
  read -r t cpu < <("${PSQL[@]}" -c "SELECT bench_tick($n, $k)")
  k=$((k + 1))
  # The worker's path: the prelude, then one transaction per due rollout.
  "${PSQL[@]}" >/dev/null <<SQL
SELECT rollout._tick_begin(now() + make_interval(mins => 5 * $k));
DO \$\$
DECLARE
	v_id bigint;
	s timestamptz;
	v_at timestamptz := now() + make_interval(mins => 5 * $k);
BEGIN
	FOR v_id IN SELECT d FROM rollout._due_rollouts(v_at) d LOOP
		s := clock_timestamp();
		PERFORM * FROM rollout._tick_rollout(v_id, v_at);
		COMMIT;
		INSERT INTO bench_tick_times VALUES ($n, 'worker', v_id,
			extract(epoch FROM clock_timestamp() - s) * 1000);
	END LOOP;
END
\$\$;
SQL
  k=$((k + 1))
  read -r med p95 total cnt < <("${PSQL[@]}" -F ' ' -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3),
      round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 3), round(sum(ms)::numeric / 1000, 1), count(*)
    FROM bench_tick_times WHERE scale = $n AND path = 'worker'")
  per_r=$(awk -v t="$t" -v n="$n" 'BEGIN { printf "%.3f", t / n }')
  cpu_r=$(awk -v t="$cpu" -v n="$n" 'BEGIN { printf "%.3f", t / n }')
  printf '  %8s %12s %11s ms %11s ms %11s ms %11s ms\n' "$n" "$t" "$per_r" "$cpu_r" "$med" "$p95"
  last_n=$n; last_total=$total; last_cnt=$cnt; last_per=$per_r; last_med=$med
done
echo "  goal: tick time per rollout <= 1 ms at 1 000 rollouts (six default gates); CPU/rollout is the"
echo "  tick backend's own CPU time (/proc): less sensitive than the wall clock to other load"
awk -v n="$last_n" -v t="$last_total" -v c="$last_cnt" 'BEGIN {
  printf "  worker pass over %s rollouts (%s evaluated, one transaction each): %s s = %.2f of the 300 s evaluation interval (goal <= 1)\n", n, c, t, t / 300 }'
echo "  (bench_tick took $(( $(date +%s) - start_all )) s)"
exit 0
