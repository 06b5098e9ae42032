#!/usr/bin/env bash
# Shared helpers for the test, demo and bench drivers: who runs the server,
# and a private copy of the tree that this user can write.

# run_as_pg CMD...: run a command as the unprivileged OS user when we are
# root (initdb refuses root), as ourselves otherwise.
run_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# make_workdir: copy the source tree (without .git and build output) into a
# fresh directory the server user owns, and print its path.
make_workdir() {
  local src dir
  src=$(pwd)
  dir=$(mktemp -d /tmp/pg_rollout_run.XXXXXX)
  tar -C "$src" --exclude=.git --exclude='*.o' --exclude='*.so' \
      --exclude=tmp_check --exclude=tmp_check_iso --exclude=results \
      --exclude=output_iso -cf - . | tar -C "$dir" -xf -
  chmod 755 "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$dir"
  fi
  echo "$dir"
}

# lock_and_install PG_CONFIG: several developers may share one machine and
# its one installed library, so a run holds a lock from install to the end.
lock_and_install() {
  exec 9>/tmp/pg_rollout_test.lock
  chmod 666 /tmp/pg_rollout_test.lock 2>/dev/null || true
  flock 9
  make -s install PG_CONFIG="$1" >/dev/null
}

# start_instance BINDIR: initdb and start a throwaway instance with the
# library preloaded, as the server user, on a free local port. Sets
# INSTANCE_DIR and PGPORT/PGHOST for the caller.
start_instance() {
  local bindir=$1
  INSTANCE_DIR=$(mktemp -d /tmp/pg_rollout_instance.XXXXXX)
  chmod 755 "$INSTANCE_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$INSTANCE_DIR"
  PGPORT=$((54000 + RANDOM % 1000))
  while (exec 3<>/dev/tcp/127.0.0.1/$PGPORT) 2>/dev/null; do PGPORT=$((PGPORT + 1)); done
  PGHOST=$INSTANCE_DIR
  run_as_pg "$bindir/initdb" -D "$INSTANCE_DIR/data" -A trust -U postgres >/dev/null
  cat >> "$INSTANCE_DIR/data/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$INSTANCE_DIR'
shared_preload_libraries = 'pg_rollout'
fsync = off
# Tests replay days on a simulated clock: outcomes and maintenance may lie
# ahead of the server clock (docs/security.md, rollout.clock_tolerance).
rollout.clock_tolerance = -1
CONF
  run_as_pg "$bindir/pg_ctl" -D "$INSTANCE_DIR/data" -l "$INSTANCE_DIR/server.log" -w start >/dev/null
  export PGPORT PGHOST PGUSER=postgres
}

# stop_instance BINDIR: stop and remove the instance of start_instance.
stop_instance() {
  local bindir=$1
  run_as_pg "$bindir/pg_ctl" -D "$INSTANCE_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$INSTANCE_DIR"
}
