#!/usr/bin/env bash
# System libraries director needs to run shows: Mesa's EGL/OpenGL (the avatar renderer renders
# headless through EGL when there is no display) and PortAudio (sounddevice, for playing the show's
# audio on a sound card). Installed with apt-get when running as root on a Debian-like system;
# elsewhere it says what to install. Without them the show still runs: the renderer or the sound
# card output is reported as unavailable and left out.
set -u
missing=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libEGL.so.1 ' || missing+=(libegl1)
have_lib 'libEGL_mesa.so.0 ' || missing+=(libegl-mesa0)
have_lib 'libGL.so.1 ' || missing+=(libgl1)
[ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so ] || [ -e /usr/lib/aarch64-linux-gnu/dri/swrast_dri.so ] ||
    missing+=(libgl1-mesa-dri)
have_lib 'libportaudio.so.2 ' || missing+=(libportaudio2)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: system libraries missing: ${missing[*]}" >&2
    echo "setup: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}); until then the" \
         "avatar renders nothing and audio goes only to --audio-out files" >&2
    exit 0
fi
echo "setup: installing system libraries: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } ||
    echo "setup: could not install ${missing[*]}" >&2
exit 0
