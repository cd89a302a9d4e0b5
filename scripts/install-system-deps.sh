#!/usr/bin/env bash
# Installs the system packages the tests need and a fresh machine may lack: the PostgreSQL
# server (tests start a throwaway one) and the Go toolchain check for the control plane.
set -euo pipefail

have_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

if ! have_postgres; then
  echo "installing the PostgreSQL server from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
have_postgres && echo "PostgreSQL server: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "the control plane is built with Go; install Go 1.24 or newer" >&2
  exit 1
fi
