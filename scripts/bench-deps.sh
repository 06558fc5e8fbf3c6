#!/bin/sh
# Debian packages only the benchmarks need: a PulseAudio server whose null sink consumes audio in real
# time, so the preview's A/V drift can be measured on a machine without a sound card.
exec "$(dirname "$0")/apt-install.sh" "The benchmarks" pulseaudio pulseaudio-utils libasound2-plugins
