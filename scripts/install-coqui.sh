#!/usr/bin/env bash
# Install the optional Coqui TTS engine (pip extra [coqui]) next to the CPU torch already in .venv.
#
# Why the care: coqui-tts needs torch, torchaudio and (from torch 2.9) torchcodec. PyPI's
# torchaudio wheels are built against CUDA torch and pin their own torch version, so a plain
# `pip install coqui-tts` would replace the CPU torch (gigabytes of CUDA wheels) and then fail to
# load torchaudio's C++ extensions. This script:
#   1. pins the installed torch and numpy with a constraints file, so pip cannot replace them;
#   2. installs coqui-tts (0.27/0.28) and six with those constraints;
#   3. installs torchaudio and torchcodec WITHOUT dependencies (coqui only checks they import;
#      the VITS/XTTS synthesis path does not use their compiled parts);
#   4. deletes torchaudio's CUDA-linked lib/*.so, so `import torchaudio` falls back to pure Python.
# Re-running is safe. Usage: scripts/install-coqui.sh [path/to/venv]   (default: .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PIP="$VENV/bin/pip"
PY="$VENV/bin/python"
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$PIP" freeze | grep -E '^(torch|numpy)==' > "$constraints"
if ! grep -q '^torch==' "$constraints"; then
    echo "install-coqui: torch is not installed in $VENV; run ./setup.sh first" >&2
    exit 1
fi
"$PIP" install -q "coqui-tts>=0.27,<0.29" six -c "$constraints"
"$PIP" install -q --no-deps "torchaudio==2.11.1" torchcodec
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -f "$site"/torchaudio/lib/*.so
"$PY" -c 'from TTS.api import TTS' || {
    echo "install-coqui: coqui-tts installed but does not import (see the error above)" >&2
    exit 1
}
echo "install-coqui: coqui-tts $("$PY" -c 'import importlib.metadata as m; print(m.version("coqui-tts"))') ready (torch $("$PY" -c 'import torch; print(torch.__version__)'))"
