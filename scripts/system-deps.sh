#!/bin/sh
# Installs the Debian/Ubuntu packages Needledrop needs that pip cannot provide:
# PortAudio (sounddevice), the PulseAudio client library (QtMultimedia), the Qt XCB platform libraries
# and Xvfb (a real window without a display, for screenshots), and a C++ compiler with Python headers
# (Annoy ships only a source distribution), FluidSynth with two General MIDI SoundFonts (the tests render
# music from scores in the small TimGM6mb; the demo library in FluidR3, as the default model's corpus and
# README's examples were), two openly licensed game soundtracks for the demo library, and espeak-ng (the
# ducking tests speak over a clip).
# Does nothing when everything is present.
# As root it installs what is missing; otherwise it prints the exact command and fails.
set -eu

PACKAGES="libportaudio2 libpulse0 libasound2 \
libgl1 libegl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 \
libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 fonts-dejavu-core \
xvfb xauth g++ make \
fluidsynth timgm6mb-soundfont fluid-soundfont-gm singularity-music asc-music espeak-ng"

extra=""
# Annoy compiles against the Python headers; pyenv and python.org builds carry their own.
if ! python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    extra="python3-dev"
fi
# shellcheck disable=SC2086 # the package list is meant to split into words
exec "$(dirname "$0")/apt-install.sh" "Needledrop" $PACKAGES $extra
