#!/usr/bin/env bash
# Installs what pg_rollout needs to build, test, demo and bench on Debian 12.
# Idempotent: packages already present are left alone; apt-get runs only when
# something is missing. Runs as root, or through sudo for another user.
set -euo pipefail

PKGS=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron
  libjansson-dev libgsl-dev libxxhash-dev pkg-config
  libipc-run-perl perl make gcc pgbouncer
  clang libclang-rt-14-dev
  python3-numpy python3-psycopg
  prometheus-postgres-exporter prometheus
  golang-go golang-github-jackc-pgx-v4-dev nodejs
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# npm: Debian's package, unless a node distribution already brought its own.
if ! command -v npm >/dev/null 2>&1; then
  if ! dpkg-query -W -f='${Status}' npm 2>/dev/null | grep -q 'install ok installed'; then
    missing+=(npm)
  fi
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "pg_rollout setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a cluster on 5432 only where a service manager
  # runs; the tests never use it, they start their own instances. Debian's
  # prometheus-postgres-exporter and prometheus packages start services the
  # same way; the tests run their own on free loopback ports.
fi

# The node example's one dependency (pg) from npm's registry, into
# examples/node/node_modules. Without network the node example test skips
# with a message; nothing else needs it.
NODE_DIR="$(cd "$(dirname "$0")/.." && pwd)/examples/node"
if [ -f "$NODE_DIR/package.json" ] && [ ! -f "$NODE_DIR/node_modules/pg/package.json" ] \
   && command -v npm >/dev/null 2>&1; then
  if ! (cd "$NODE_DIR" && timeout 120 npm install --no-audit --no-fund --loglevel=error \
          >/dev/null 2>&1); then
    echo "pg_rollout setup: npm install in examples/node failed (npm registry unreachable?);" \
         "the node example test will be skipped"
    rm -rf "$NODE_DIR/node_modules"
  fi
fi
