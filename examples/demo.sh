#!/usr/bin/env bash
# The quick start: install driftbot into .venv and check the bundled example project, which
# has real drift (so this exits 1, as `driftbot check` does whenever it finds drift).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >/dev/null
exec .venv/bin/driftbot check examples/shop "$@"
