#!/usr/bin/env bash
# Runs every check: lint (ruff), types (mypy --strict), and the test suite (pytest).
#   ./test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/pytest ] || ! .venv/bin/python -c 'import director, py_trees' 2>/dev/null; then
    ./setup.sh
fi
echo "== ruff"
.venv/bin/ruff check director behaviours tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -q "$@"
