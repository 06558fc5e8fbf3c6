#!/bin/sh
# Debian packages only the benchmarks need: a PulseAudio server whose null sink consumes audio in real
# time, so the preview's A/V drift can be measured on a machine without a sound card; and the free game
# soundtracks in tests/bench/real_set.py's PACKAGES, real recordings labelled with a mood or a style by
# their own titles and tags, for eval_feel_real.py (about 5 GB installed, 0 A.D.'s 3.2 GB of it); FluidR3
# and Sonic Pi's recorded drum loops for bench_drums.py's test split, and the SoundFonts of its dev-kits split (csound's GM bank, an
# OPL3 FM bank, the AVL multi-sampled acoustic drum kits); Festival and a diphone voice, whose singing mode
# sings over renders for bench_vocals.py --sung, and Scratch, whose sound library holds people's sung
# phrases, for --sung-by-people; OpenMSX's MIDI soundtrack, pieces in their composers' own
# tempi for bench_tempo.py --split openmsx, and the Frets on Fire songs, recordings with their charted tempo,
# for --split fretsonfire, and Freedoom's MIDI soundtrack and LMMS with its demo songs, rendered by it, the
# fresh sets of --split freedoom and lmms, and Simutrans's MIDI soundtrack for --split simutrans;
# libopenmpt and the tracker modules of four games, pieces with and without their drums for
# bench_drums.py --split modules.
exec "$(dirname "$0")/apt-install.sh" "The benchmarks" pulseaudio pulseaudio-utils libasound2-plugins \
    wesnoth-1.16-music naev-data extremetuxracer-data supertux-data openclonk-data wizznic-data \
    colobot-common-sounds lordsawar-data pink-pony-data trackballs-data gigalomania-data \
    0ad-data ufoai-music supertuxkart-data freedroidrpg-data flare-game btanks-data widelands-data \
    blobwars-data amoebax-data enigma-data freedink-data warmux-data tuxtype-data powermanga-data \
    searchandrescue-data \
    fluidsynth fluid-soundfont-gm sonic-pi-samples csound-soundfont opl3-soundfont avldrums.lv2-soundfont \
    festival festvox-kallpc16k scratch openttd-openmsx fretsonfire-songs-muldjord fretsonfire-songs-sectoid \
    freedoom lmms simutrans-data \
    libopenmpt0 pingus-data njam-data solarwolf gltron
