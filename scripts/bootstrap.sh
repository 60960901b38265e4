#!/usr/bin/env bash
# Installs what driftbot and its tests need on a fresh machine: PostgreSQL server binaries
# (when missing and we may use apt) and a virtualenv in .venv with driftbot and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
have_pg() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
if ! have_pg; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing PostgreSQL server binaries with apt" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "bootstrap: no PostgreSQL server binaries found; install them (apt install postgresql," \
         "brew install postgresql) or use --database-url" >&2
  fi
fi
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 \
  | grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' || true
.venv/bin/driftbot --version >&2
