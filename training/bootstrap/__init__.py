"""The bootstrap corpus the default heads learn from, built only from what the package registries carry.

Real video-music pairs cannot be reached from an offline machine, so the default model learns from
openly licensed music (music21's corpus rendered through FluidSynth in varied arrangements, CC0 loops,
CC-licensed game soundtracks from Debian) and generated footage (pans and zooms over packaged photos,
graded and cut at varied rates, plus synthetic motion), paired by weak affect agreement
(training.bootstrap.affect). Every source's licence is written next to the corpus.
"""
