#!/bin/sh
# Debian packages the bootstrap corpus is built from (`make default-model` only; not needed to run or test):
# FluidSynth and a General MIDI SoundFont to render scores, CC0 loops, CC BY-SA and GPL game soundtracks.
set -eu
PACKAGES="fluidsynth fluid-soundfont-gm sonic-pi-samples singularity-music asc-music"
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "The bootstrap corpus needs:$missing" >&2
    echo "  sudo sh -c '$command'" >&2
    exit 1
fi
sh -c "$command"
