#!/usr/bin/env bash
# The simulation of the default presets (test/sim/sim.py drives tick() on a
# simulated clock; report.py prints the table and checks the bounds).
#
#   run.sh BINDIR reduced   what make test runs: a few hundred rollouts whose
#                           bounds a correct build misses with probability
#                           below 1e-4 (seeds fixed, so runs are repeatable)
#   run.sh BINDIR full      what make sim runs: every default preset under
#                           every scenario, 400 A/A rollouts per preset
#                           (about an hour on two idle cores)
#
# SIM_RUNS_AA (A/A at 18 000 an hour), SIM_RUNS_AA_LOW (A/A at 3 600 an
# hour, default 200) and SIM_RUNS_REG override the full run's sizes,
# SIM_PRESETS its presets (default "low medium high"); SIM_OUT names the
# directory for the CSVs (default: a new one under /tmp). One throwaway
# instance; cases run two at a time, each in its own database.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/common.sh

BINDIR=$1
MODE=${2:-reduced}
SIM_DIR=$(pwd)/test/sim
OUT=${SIM_OUT:-$(mktemp -d /tmp/pg_rollout_sim.XXXXXX)}
mkdir -p "$OUT"
PY=/usr/bin/python3

start_instance "$BINDIR"
trap 'stop_instance "$BINDIR"' EXIT
"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER SYSTEM SET rollout.tick_interval = 0" \
  -c "ALTER SYSTEM SET max_connections = 20" >/dev/null
"$BINDIR/pg_ctl" -D "$INSTANCE_DIR/data" -l "$INSTANCE_DIR/server.log" -m fast -w restart >/dev/null
# Every case's database is a copy of one with the extension: CREATE
# EXTENSION creates cluster-wide roles, which cases side by side would race on.
"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE sim_template" >/dev/null
"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d sim_template -c "CREATE EXTENSION pg_rollout" >/dev/null

# Cases: PRESET SCENARIO RUNS PER_HOUR SEED
cases=()
checks=()
if [ "$MODE" = full ]; then
  AA=${SIM_RUNS_AA:-400}
  AA_LOW=${SIM_RUNS_AA_LOW:-200}
  REG=${SIM_RUNS_REG:-200}
  for preset in ${SIM_PRESETS:-low medium high}; do
    cases+=("$preset aa $AA 18000 11")
    cases+=("$preset aa $AA_LOW 3600 12")
    seed=20
    for sc in success error quality latency cost safety severe; do
      cases+=("$preset $sc $REG 18000 $seed")
      seed=$((seed + 1))
    done
  done
else
  # A/A on low (the shortest schedule): at most 4 of 40 stopped (the plan's
  # budget is 1%: P(>= 5) < 1e-4) and at least 36 promoted in time.
  cases+=("low aa 40 18000 11")
  checks+=(--check low:18000:aa:stopped:\<=:4 --check low:18000:aa:promoted_in_time:\>=:36)
  # A/A on low at the low traffic rate (3 600 an hour: the 1% step is short
  # of samples and boosted): at most 4 of 40 stopped.
  cases+=("low aa 40 3600 12")
  checks+=(--check low:3600:aa:stopped:\<=:4)
  # The severe regression on medium: every run rolled back at 1% before 25%,
  # the median within 45 simulated minutes (the full run measures ~20).
  cases+=("medium severe 20 18000 27")
  checks+=(--check medium:18000:severe:rolled_back:\>=:20 --check medium:18000:severe:caught_before_25:\>=:20
           --check medium:18000:severe:median_minutes:\<=:45)
  # A quality drop on low: held at 1% in every run.
  cases+=("low quality 20 18000 23")
  checks+=(--check low:18000:quality:caught_before_25:\>=:19)
fi

run_case() {
  local preset=$1 scenario=$2 runs=$3 per_hour=$4 seed=$5
  local db="sim_${preset}_${scenario}_${per_hour}"
  "$BINDIR/psql" -X -q -d postgres -c "CREATE DATABASE $db TEMPLATE sim_template" >/dev/null
  "$PY" "$SIM_DIR/sim.py" --dsn "host=$PGHOST port=$PGPORT user=postgres dbname=$db" \
    --preset "$preset" --scenario "$scenario" --runs "$runs" --per-hour "$per_hour" \
    --seed "$seed" --csv "$OUT/$db.csv" > "$OUT/$db.log" 2>&1 || { cat "$OUT/$db.log"; return 1; }
  "$BINDIR/psql" -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
}

started=$(date +%s)
echo "simulation ($MODE): ${#cases[@]} cases, a tick every 5 simulated minutes; CSVs in $OUT"
status=0
pids=()
for c in "${cases[@]}"; do
  # two at a time: the machine has two cores
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || status=1; done
  run_case $c &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || status=1; done
echo "simulation: $(( $(date +%s) - started )) s"
"$PY" "$SIM_DIR/report.py" "$OUT/summary.csv" "$OUT"/sim_*.csv "${checks[@]}" | tee "$OUT/summary.txt" || status=1
if [ "$status" -ne 0 ]; then
  echo "simulation FAILED: a bound missed, or a case failed (see above)"
  exit 1
fi
echo "simulation: ok (table: $OUT/summary.csv)"
