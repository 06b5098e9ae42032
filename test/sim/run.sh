#!/usr/bin/env bash
# Lifecycle simulation (make test SUITES=sim): 200 A/A rollouts and 200
# rollouts of a 0.90 -> 0.87 success regression on a simulated clock, in a
# throwaway instance. Prints the false-alarm and catch rates and exits
# non-zero when either misses its bound. Usage: run.sh BINDIR
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/common.sh

BINDIR=$1
RUNS=${SIM_RUNS:-200}  # rollouts per case (SIM_RUNS for quick trials)
PER_HOUR=18000        # requests an hour per agent (1% = about 180 candidate requests an hour)
AA_HOURS=12           # A/A horizon: the 1% (4 h) and 5% (8 h) stages
MAX_HOURS=24          # regression runs end earlier: rolled back or at 25%
T0='2026-03-02 00:00:00+00'
SEED=0.4242
ALPHA=0.05            # the success gate's alpha: bound on the A/A false rate
MIN_CAUGHT=0.95       # share of regressions rolled back before the 25% stage

start_instance "$BINDIR"
trap 'stop_instance "$BINDIR"' EXIT
SIM_DIR=$(pwd)/test/sim
psql_sim() { "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

started=$(date +%s)
echo "simulation: $RUNS A/A and $RUNS regressed rollouts, $PER_HOUR requests/hour each, a tick every 5 simulated minutes"
# Set-up, the simulated run and the report share one session (one seed).
out=$(psql_sim -v seed="$SEED" -v runs="$RUNS" -v t0="$T0" -v alpha="$ALPHA" \
               -v min_caught="$MIN_CAUGHT" <<SQL
\\o /dev/null
\\i $SIM_DIR/setup.sql
\\i $SIM_DIR/simulate.sql
CALL sim.run('$T0', $PER_HOUR, $AA_HOURS * 12, $MAX_HOURS * 12);
\\o
\\i $SIM_DIR/report.sql
SELECT format('simulated %s slots (%s simulated hours), %s candidate and %s stable outcomes, %s s in ticks and traffic',
              count(*), round(count(*) / 12.0, 1), sum(candidate_rows), sum(stable_rows), round(sum(seconds)::numeric, 1))
FROM sim.ticks;
SQL
)
echo "$out" | grep -v '^RESULT '
echo "simulation: $(( $(date +%s) - started )) s"
if ! echo "$out" | grep -qx 'RESULT ok'; then
  echo "simulation FAILED: a rate missed its bound"
  exit 1
fi
echo "simulation: ok"
