#!/usr/bin/env bash
# Runs the test suites of pg_rollout against temporary instances.
# Usage: run_suites.sh PG_CONFIG "SUITES" "REGRESS" "ISOLATION" "PROVE_TESTS"
# (an empty REGRESS, ISOLATION or PROVE_TESTS means all of that suite)
# The library must already be installed. Exits non-zero on any failure and
# prints regression.diffs for failed pg_regress and isolation runs.
set -uo pipefail
cd "$(dirname "$0")/.."
source test/common.sh

PG_CONFIG=$1
SUITES=$2
REGRESS=$3
ISOLATION=$4
PROVE_TESTS=$5

BINDIR=$("$PG_CONFIG" --bindir)
PGXS_DIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress"
PG_ISOLATION="$PGXS_DIR/src/test/isolation/pg_isolation_regress"

lock_and_install "$PG_CONFIG"

WORK=$(make_workdir)
echo "pg_rollout tests: working copy in $WORK"
failed=()

has() { case " $SUITES " in *" $1 "*) return 0;; esac; return 1; }

# An empty list runs every test of its suite, as make test names them: a
# suite asked for is never skipped in silence.
[ -n "$REGRESS" ] || REGRESS=$(cd sql && LC_ALL=C ls *.sql | sed 's/\.sql$//' | tr '\n' ' ')
[ -n "$ISOLATION" ] || ISOLATION=$(cd test/specs && LC_ALL=C ls *.spec | sed 's/\.spec$//' | tr '\n' ' ')
[ -n "$PROVE_TESTS" ] || PROVE_TESTS=$(LC_ALL=C ls test/t/*.pl | tr '\n' ' ')

# pg_regress: every test file in a fresh database of one instance, so that
# no test sees another's rows.
if has regress && [ -n "$REGRESS" ]; then
  echo "=== pg_regress: $REGRESS"
  start_instance "$BINDIR"
  npass=0; nfail=0; rfailed=()
  for t in $REGRESS; do
    if run_as_pg bash -c "cd '$WORK' && '$PG_REGRESS' --inputdir=. --bindir='$BINDIR' \
          --host='$PGHOST' --port='$PGPORT' --user=postgres \
          --dbname='regress_$t' $t" > "$WORK/regress_$t.log" 2>&1; then
      npass=$((npass + 1))
      grep -E '^(ok|test) ' "$WORK/regress_$t.log"
    else
      nfail=$((nfail + 1)); rfailed+=("$t")
      cat "$WORK/regress_$t.log"
      cat "$WORK/regression.diffs" 2>/dev/null
    fi
  done
  stop_instance "$BINDIR"
  echo "pg_regress: $npass passed, $nfail failed"
  [ "$nfail" -gt 0 ] && failed+=("regress(${rfailed[*]})")
fi

if has isolation && [ -n "$ISOLATION" ]; then
  echo "=== isolation: $ISOLATION"
  if ! run_as_pg bash -c "cd '$WORK' && '$PG_ISOLATION' --inputdir=test --outputdir=output_iso \
        --bindir='$BINDIR' --temp-instance=./tmp_check_iso --temp-config=test/pg_rollout.conf \
        --dbname=isolation_regression $ISOLATION"; then
    failed+=(isolation)
    cat "$WORK/output_iso/regression.diffs" 2>/dev/null
  fi
fi

if has tap && [ -n "$PROVE_TESTS" ]; then
  echo "=== TAP: $PROVE_TESTS"
  if ! run_as_pg bash -c "cd '$WORK' && PATH='$BINDIR':\$PATH PG_REGRESS='$PG_REGRESS' \
        PG_CONFIG='$PG_CONFIG' TESTDIR='$WORK' prove -I '$PGXS_DIR/src/test/perl' -I test $PROVE_TESTS"; then
    failed+=(tap)
    for f in "$WORK"/tmp_check/log/regress_log_*; do
      [ -f "$f" ] && { echo "--- $f (last 60 lines)"; tail -n 60 "$f"; }
    done
  fi
fi

# libFuzzer harnesses (test/fuzz): no server; built and run as the invoking
# user in a fresh directory from the committed seeds, FUZZ_TEST_RUNS inputs
# per target from a fixed random seed (deterministic: a finding is the
# change's, never luck), at most FUZZ_TEST_SECONDS each. A crash, sanitizer
# report or broken property fails the suite; the directory with the
# reproducer is kept then. make fuzz explores with random seeds.
if has fuzz; then
  echo "=== fuzz: ${FUZZ_TEST_RUNS:-300000} inputs per target (at most ${FUZZ_TEST_SECONDS:-20} s)"
  FUZZ_DIR=$(mktemp -d /tmp/pg_rollout_fuzz_test.XXXXXX)
  if FUZZ_RUNS="${FUZZ_TEST_RUNS:-300000}" FUZZ_SEED=1 \
        make -s --no-print-directory fuzz PG_CONFIG="$PG_CONFIG" FUZZ_WORK="$FUZZ_DIR" \
        FUZZ_SECONDS="${FUZZ_TEST_SECONDS:-20}" ${FUZZ_CC:+FUZZ_CC="$FUZZ_CC"}; then
    rm -rf "$FUZZ_DIR"
  else
    echo "fuzz: findings and logs kept in $FUZZ_DIR"
    failed+=(fuzz)
  fi
fi

if has sim && [ -f test/sim/run.sh ]; then
  echo "=== simulation"
  if ! run_as_pg env SIM_OUT="${SIM_OUT:-}" SIM_RUNS_AA="${SIM_RUNS_AA:-}" SIM_RUNS_AA_LOW="${SIM_RUNS_AA_LOW:-}" SIM_RUNS_REG="${SIM_RUNS_REG:-}" SIM_PRESETS="${SIM_PRESETS:-}" \
       bash -c "cd '$WORK' && bash test/sim/run.sh '$BINDIR' '${SIM_MODE:-reduced}'"; then
    failed+=(sim)
  fi
fi

nsuites=0
for s in regress isolation tap fuzz sim; do has "$s" && nsuites=$((nsuites + 1)); done
if [ ${#failed[@]} -gt 0 ]; then
  echo "pg_rollout tests FAILED: ${failed[*]} (working copy kept in $WORK)"
  echo "suites: $((nsuites - ${#failed[@]})) passed, ${#failed[@]} failed"
  exit 1
fi
rm -rf "$WORK"
echo "pg_rollout tests: all suites passed"
echo "suites: $nsuites passed, 0 failed"
