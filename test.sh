#!/usr/bin/env bash
# Runs every check: lint (ruff), types (mypy --strict), and the test suite (pytest).
#   ./test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh >/dev/null  # quick when nothing changed; picks up dependencies added since
./scripts/test-packages.sh
echo "== ruff"
.venv/bin/ruff check director behaviours renderer tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -q "$@"
