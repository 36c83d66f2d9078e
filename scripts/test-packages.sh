#!/usr/bin/env bash
# System packages the test suite drives for real: OBS Studio (obs-websocket tests), Xvfb (its
# screen) and Chromium (the live viewer's browser tests). Installed with apt-get when running as
# root on a Debian-like system (CI); elsewhere install them yourself, or those tests skip and say
# why. Nothing here is needed to run shows.
set -u
missing=()
command -v obs >/dev/null 2>&1 || missing+=(obs-studio)
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-packages: not installed: ${missing[*]} (needs root and apt); their tests will skip" >&2
    exit 0
fi
echo "test-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } ||
    echo "test-packages: could not install ${missing[*]}; their tests will skip" >&2
exit 0
