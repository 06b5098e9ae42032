#!/usr/bin/env bash
# Lifecycle simulation (make test SUITES=sim): 200 A/A rollouts and 200
# rollouts of a 0.90 -> 0.87 success regression, on a simulated clock with a
# tick every 5 simulated minutes, in throwaway instances (one per case, run
# side by side on the two cores). Prints the false-alarm and catch rates and
# exits non-zero when either misses its bound. Usage: run.sh BINDIR
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/common.sh

BINDIR=$1
RUNS=${SIM_RUNS:-200}  # rollouts per case (SIM_RUNS for quick trials)
PER_HOUR=18000         # requests an hour per agent: about 180 candidate requests an hour at 1%
AA_SLOTS=144           # A/A horizon, 12 h: the 1% (4 h) and 5% (8 h) stages
REG_SLOTS=288          # regression cap, 24 h; its runs end earlier (rolled back, or at 25%)
T0='2026-03-02 00:00:00+00'
SEED=0.4242
ALPHA=0.05             # the success gate's alpha: bound on the A/A false rate
MIN_CAUGHT=0.95        # share of regressions to roll back before the 25% stage
SIM_DIR=$(pwd)/test/sim

# start_sim_instance NAME: a throwaway instance (test/common.sh) without
# the worker's own ticks and without autovacuum, so that nothing but the
# simulation holds a transaction id when tick() folds outcomes (a
# concurrent one would delay folding and make runs irreproducible); the
# simulation vacuums and analyzes its tables itself. Sets NAME_DIR, NAME_PORT.
start_sim_instance() {
  start_instance "$BINDIR"
  printf -v "$1_DIR" '%s' "$INSTANCE_DIR"
  printf -v "$1_PORT" '%s' "$PGPORT"
  "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "ALTER SYSTEM SET autovacuum = off" -c "ALTER SYSTEM SET rollout.tick_interval = 0" \
    -c "CREATE DATABASE sim"
  "$BINDIR/pg_ctl" -D "$INSTANCE_DIR/data" -l "$INSTANCE_DIR/server.log" -m fast -w restart >/dev/null
}
stop_sim_instances() {
  for d in "${AA_DIR:-}" "${REG_DIR:-}"; do
    [ -n "$d" ] && INSTANCE_DIR=$d && stop_instance "$BINDIR"
  done
  return 0
}
trap stop_sim_instances EXIT

# sim_script KIND SLOTS HORIZON: the psql script of one case: set-up, one
# CALL per slot with the maintenance autovacuum would do, the report.
sim_script() {
  local kind=$1 slots=$2 horizon=$3 s
  echo '\o /dev/null'
  echo "\\i $SIM_DIR/setup.sql"
  echo "\\i $SIM_DIR/simulate.sql"
  for ((s = 0; s < slots; s++)); do
    echo "CALL sim.step('$T0', $PER_HOUR, $horizon, $s);"
    echo "VACUUM rollout.rollouts, rollout.stages, rollout.outcome_watermark, rollout.outcomes;"
    if ((s % 12 == 11)); then echo "ANALYZE rollout.outcomes, rollout.outcome_windows;"; fi
  done
  echo '\o'
  echo "\\i $SIM_DIR/report.sql"
}

# run_case NAME KIND SLOTS HORIZON: runs one case in its instance, output to NAME_DIR/out.
run_case() {
  local dir_var=$1_DIR port_var=$1_PORT
  local dir=${!dir_var} port=${!port_var}
  sim_script "$2" "$3" "$4" > "$dir/sim.sql"
  "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d sim \
    -v seed="$SEED" -v runs="$RUNS" -v kind="$2" -v t0="$T0" \
    -v alpha="$ALPHA" -v min_caught="$MIN_CAUGHT" -f "$dir/sim.sql" > "$dir/out" 2>&1
}

started=$(date +%s)
echo "simulation: $RUNS A/A and $RUNS regressed rollouts, $PER_HOUR requests an hour each, a tick every 5 simulated minutes"
start_sim_instance AA
start_sim_instance REG
run_case AA aa "$AA_SLOTS" "$AA_SLOTS" & aa_pid=$!
run_case REG regression "$REG_SLOTS" "$REG_SLOTS" & reg_pid=$!
status=0
wait "$aa_pid" || status=1
wait "$reg_pid" || status=1
for d in "$AA_DIR" "$REG_DIR"; do
  grep -v '^RESULT ' "$d/out" || true
  grep -qx 'RESULT ok' "$d/out" || status=1
done
echo "simulation: $(( $(date +%s) - started )) s"
if [ "$status" -ne 0 ]; then
  echo "simulation FAILED: a rate missed its bound, or a run failed (see above)"
  exit 1
fi
echo "simulation: ok"
