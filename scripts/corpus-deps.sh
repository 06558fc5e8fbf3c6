#!/bin/sh
# Debian packages the bootstrap corpus is built from (`make default-model` only; not needed to run or test):
# FluidSynth and a General MIDI SoundFont to render scores, CC0 loops, CC BY-SA and GPL game soundtracks
# (whole, or in excerpts for the long ones).
exec "$(dirname "$0")/apt-install.sh" "The bootstrap corpus" \
    fluidsynth fluid-soundfont-gm sonic-pi-samples singularity-music asc-music \
    warzone2100-music hyperrogue-music planetblupi-music-ogg
