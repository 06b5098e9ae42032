#!/usr/bin/env bash
# Installs what pg_rollout needs to build, test, demo and bench on Debian 12.
# Idempotent: packages already present are left alone; apt-get runs only when
# something is missing. Runs as root, or through sudo for another user.
set -euo pipefail

PKGS=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron
  libjansson-dev libgsl-dev libxxhash-dev pkg-config
  libipc-run-perl perl make gcc pgbouncer
  python3-numpy python3-psycopg
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi

echo "pg_rollout setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a cluster on 5432 only where a service manager
# runs; the tests never use it, they start their own instances.
