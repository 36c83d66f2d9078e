#!/usr/bin/env bash
# Runs every check: lint (ruff), types (mypy --strict), and the test suite (pytest).
#   ./test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")"
# quick when nothing changed; picks up dependencies added since. The tests cover the optional
# Coqui engine too, so it is installed here.
DIRECTOR_EXTRAS=${DIRECTOR_EXTRAS:-coqui} ./setup.sh >/dev/null
./scripts/test-packages.sh
echo "== ruff"
.venv/bin/ruff check director behaviours renderer tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -q "$@"
