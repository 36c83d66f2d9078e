#!/usr/bin/env bash
# Sets up director in .venv/ at the repository root (Python 3.11+), with the test tools.
#   ./setup.sh            install or update
# Safe to run again: pip reuses its cache and skips what is installed.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: director needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))." >&2
    echo "setup: install it, then run: PYTHON=python3.11 ./setup.sh" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "setup: ready. Try: .venv/bin/director run shows/asmr_night.yaml"
