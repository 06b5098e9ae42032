#!/usr/bin/env bash
# make demo: runs test/demo.sql against a throwaway instance with the library
# preloaded, printing what happens, then stops the instance.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/common.sh

PG_CONFIG=$1
BINDIR=$("$PG_CONFIG" --bindir)
lock_and_install "$PG_CONFIG"
WORK=$(make_workdir)
start_instance "$BINDIR"
trap 'stop_instance "$BINDIR"; rm -rf "$WORK"' EXIT

# Its own database: the worker (rollout.database = postgres) ticks with the
# real clock, the demo with a simulated one.
run_as_pg "$BINDIR/psql" -X -q -d postgres -c 'CREATE DATABASE demo'
run_as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d demo \
  -c 'CREATE EXTENSION pg_rollout' -f "$WORK/test/demo.sql"
