#!/usr/bin/env bash
# make bench: starts one throwaway instance, then runs every
# test/bench/bench_*.sh against it. Figures are ratios against baselines
# taken in the same run; nothing here fails for slowness.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/common.sh

PG_CONFIG=$1
export BINDIR=$("$PG_CONFIG" --bindir)
export BENCH_SECONDS=${BENCH_SECONDS:-10}
export BENCH_CLIENTS=${BENCH_CLIENTS:-2}
lock_and_install "$PG_CONFIG"
WORK=$(make_workdir)
start_instance "$BINDIR"
trap 'stop_instance "$BINDIR"; rm -rf "$WORK"' EXIT

echo "pg_rollout bench: $BENCH_CLIENTS clients, $BENCH_SECONDS s per run, $(nproc) cores"
shopt -s nullglob
for script in "$WORK"/test/bench/bench_*.sh; do
  # Each script gets a fresh database with the extension.
  db=$(basename "$script" .sh)
  # BENCH_ONLY="route stats" runs only those scripts.
  if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" ${db#bench_} "* ]]; then
    continue
  fi
  run_as_pg "$BINDIR/psql" -X -q -d postgres -c "CREATE DATABASE $db"
  run_as_pg "$BINDIR/psql" -X -q -d "$db" -c 'CREATE EXTENSION pg_rollout'
  echo
  echo "=== $(basename "$script")"
  run_as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$db" PGUSER=postgres \
    BINDIR="$BINDIR" BENCH_SECONDS="$BENCH_SECONDS" BENCH_CLIENTS="$BENCH_CLIENTS" \
    bash -c "cd '$WORK' && bash '$script'" || echo "(bench script $(basename "$script") failed)"
done
