#!/bin/sh
# Debian packages only the benchmarks need: a PulseAudio server whose null sink consumes audio in real
# time, so the preview's A/V drift can be measured on a machine without a sound card; Wesnoth's orchestral
# soundtrack (GPL-2+), real recordings whose titles name a feel, for bench_feel_real.py.
exec "$(dirname "$0")/apt-install.sh" "The benchmarks" pulseaudio pulseaudio-utils libasound2-plugins wesnoth-1.16-music
