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
