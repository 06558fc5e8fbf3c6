#!/bin/sh
# Installs the Debian/Ubuntu packages Needledrop needs that pip cannot provide:
# PortAudio (sounddevice), the PulseAudio client library (QtMultimedia), the Qt XCB platform libraries
# and Xvfb (a real window without a display, for screenshots), and a C++ compiler with Python headers
# (Annoy ships only a source distribution), FluidSynth with a small General MIDI SoundFont (tests and the
# demo library render music from scores), and two openly licensed game soundtracks for the demo library.
# Does nothing when everything is present.
# As root it installs what is missing; otherwise it prints the exact command and fails.
set -eu

PACKAGES="libportaudio2 libpulse0 libasound2 \
libgl1 libegl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 \
libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 fonts-dejavu-core \
xvfb xauth g++ make \
fluidsynth timgm6mb-soundfont singularity-music asc-music"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "system-deps: not a Debian-based system; install the equivalents of: $PACKAGES" >&2
    exit 0
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done
# Annoy compiles against the Python headers; pyenv and python.org builds carry their own.
if ! python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    missing="$missing python3-dev"
fi

[ -z "$missing" ] && exit 0

command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "Needledrop needs these system packages:$missing" >&2
    echo "Install them as root, then run make again:" >&2
    echo "  sudo sh -c '$command'" >&2
    exit 1
fi
echo "system-deps: installing$missing"
sh -c "$command"
