"""The feel of the music, on the same two axes as the words' (engine/recommend/feel.py): energy and mood.

Computed per segment from what the scan measures and stores: musicnn's tags, the segment's tempo and
brightness (plus the track's major/minor mode for mood), so every stored segment has it, including those
scanned before it existed or measured by an older VERSION (`Library.backfill_affect` computes theirs from
the stored values, without re-analysis). Both axes run from −1 to +1.

- **Energy** (arousal): musicnn's energy tags ("fast", "loud", "party", "drums", "beat" against "slow",
  "quiet", "soft", "mellow", "ambient"), which follow tempo, loudness, density and percussion. On renders
  of the same pieces made calm or energetic (training/bootstrap/feel_set.py), each of these tags alone
  orders energy with AUC 0.94–1.00 on the dev and the test split alike (tests/bench/bench_feel.py). The
  segment's tempo would too (0.92–0.99), but its estimate is not reliable yet (TEMPO_SHARE). On real
  recordings the tags are weaker (orchestral battle music reads "slow", "piano"), and the brightness of
  the sound carries more (BRIGHT_SHARE).
- **Mood** (valence) is the weak axis, as in the literature: musicnn's "happy" and "sad" tags, and the
  track's mode. The tags barely tell the major version of a piece from its minor one on those renders
  (AUC 0.44–0.62); the mode, read with the bass (engine/media/dsp.py `key_and_mode`), does (0.87 dev,
  0.90 test), but not reliably on real recordings (tests/bench/eval_feel_real.py). Mood is a preference
  in queries, never a filter, and its weight was chosen on the dev splits like the energy's.
"""

from __future__ import annotations

import numpy as np

from engine.tags import TagIndex

# Raised whenever a formula or constant below changes: libraries then measure every stored segment again.
VERSION = 5
ENERGY_UP = ("fast", "loud", "party", "drums", "beat")
ENERGY_DOWN = ("slow", "quiet", "soft", "mellow", "ambient")
MOOD_UP = ("happy",)
MOOD_DOWN = ("sad",)
TAGS = tuple(dict.fromkeys(ENERGY_UP + ENERGY_DOWN + MOOD_UP + MOOD_DOWN))  # the tags the two axes read
TAG_GAIN = 4.0  # musicnn's probabilities are low-contrast: a 0.25 difference is a clear one
# Of energy. Tempo orders the renders' energy as well as the tags do (AUC 0.92-0.99), but its estimate is an
# octave off for a third of held-out renders (tests/bench/bench_tempo.py) and on slow real recordings
# (Wesnoth's "sad" and "love theme" read as 127 and 163 BPM), where it orders energy backwards (AUC 0.30
# dev, 0.34 test). On the real dev split (tests/bench/eval_feel_real.py) a share of 0.2 gave energy AUC 0.71,
# mood P@5 0.43 and a calm/frantic clip check of 60/70 % lively; a share of 0 gave 0.75, 0.46 and 50/80 %
# (test, reported: 0.76 -> 0.78, 0.26 -> 0.30, 60/90 % both). On the renders, whose tempo is mostly right, it
# costs a little (energy AUC dev 0.82 -> 0.80, test 0.85 -> 0.83, tests/bench/bench_feel.py); the targets are
# real music's. So none, until the tempo is octave-true: a clip's pace reaches the music through the
# picture's feel (engine/recommend/feel.py) matched to this energy.
TEMPO_SHARE = 0.0
# Of energy: brightness, the treble share of the power (engine/media/dsp.py). On the real recordings of
# tests/bench/real_set.py it orders energetic titles above calm, tender and sad ones with AUC 0.82 (dev),
# better than musicnn's energy tags there; onset rate reached 0.71 and the tempo estimate 0.36 (octave
# errors). BRIGHT_MID is the middle of those recordings (a fiftieth of the power above 2 kHz), and a
# decade either side counts as fully bright or dark.
BRIGHT_SHARE = 0.4
BRIGHT_MID = 0.02
# Of mood. On the feel renders the mode is the only cue of valence (the tags are at chance there); chosen
# on their dev split (mood P@5 0.57 at 0.4, 0.77 at 0.7, 0.77-0.83 at 1.0), short of 1.0 because
# musicnn's happy and sad tags were learned from real recordings, where the mode is the noisier cue.
MODE_SHARE = 0.7
TEMPO_OCTAVE = 0.7  # log2 distance from 100 BPM that counts as fully fast or slow


def _mean(strengths: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    return np.mean([np.asarray(strengths[n], np.float32) for n in names], axis=0)


def energy(strengths: dict[str, np.ndarray], tempo_bpm: np.ndarray, brightness: np.ndarray) -> np.ndarray:
    """Energy of segments from their tag strengths (canonical tag -> array), tempo and brightness (NaN where
    unmeasured: that part then says nothing)."""
    tags = np.tanh(TAG_GAIN * (_mean(strengths, ENERGY_UP) - _mean(strengths, ENERGY_DOWN)))
    tempo = np.asarray(tempo_bpm, np.float32)
    pace = np.where(np.isfinite(tempo) & (tempo > 0), np.log2(np.maximum(tempo, 1) / 100.0) / TEMPO_OCTAVE, 0.0)
    treble = np.asarray(brightness, np.float32)
    bright = np.where(np.isfinite(treble), np.log10(np.maximum(treble, 1e-6) / BRIGHT_MID), 0.0)
    tag_share = 1 - TEMPO_SHARE - BRIGHT_SHARE
    energies = tag_share * tags + TEMPO_SHARE * np.clip(pace, -1, 1) + BRIGHT_SHARE * np.clip(bright, -1, 1)
    return energies.astype(np.float32)


def mood(strengths: dict[str, np.ndarray], mode: np.ndarray) -> np.ndarray:
    """Mood of segments from their tag strengths and their track's mode (+1 major .. −1 minor, NaN unknown)."""
    tags = np.tanh(TAG_GAIN * (_mean(strengths, MOOD_UP) - _mean(strengths, MOOD_DOWN)))
    major = np.nan_to_num(np.asarray(mode, np.float32))
    return ((1 - MODE_SHARE) * tags + MODE_SHARE * np.clip(major, -1, 1)).astype(np.float32)


def of_segments(
    probabilities: np.ndarray, tags: TagIndex, tempo_bpm: np.ndarray, mode: np.ndarray, brightness: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(energy, mood) of segments: `probabilities` (segments, labels) in the bundle's label order."""
    strengths = {name: tags.strength(probabilities, name) for name in TAGS}
    return energy(strengths, tempo_bpm, brightness), mood(strengths, mode)


def of_tags(
    probabilities: dict[str, float], tempo_bpm: float | None, mode: float | None, brightness: float | None = None
) -> tuple[float, float]:
    """(energy, mood) of one summary given as {musicnn label: probability}, for text synthesis."""
    labels = list(probabilities)
    values = np.array([[probabilities[label] for label in labels]], np.float32)
    tempo = np.array([tempo_bpm if tempo_bpm else np.nan], np.float32)
    major = np.array([np.nan if mode is None else mode], np.float32)
    bright = np.array([np.nan if brightness is None else brightness], np.float32)
    energies, moods = of_segments(values, TagIndex(labels), tempo, major, bright)
    return float(energies[0]), float(moods[0])
