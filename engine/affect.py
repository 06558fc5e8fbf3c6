"""The feel of the music, on the same two axes as the words' (engine/recommend/feel.py): energy and mood.

Computed per segment from what the scan measures and stores: musicnn's tags (plus the track's major/minor
mode for mood), so every stored segment has it, including those scanned before it existed or measured by
an older VERSION (`Library.backfill_affect` computes theirs from the stored values, without re-analysis).
Both axes run from −1 to +1.

- **Energy** (arousal): a logistic fit (`energy_model.json`, tests/bench/fit_energy.py) of the log of
  every musicnn tag's strength, made on real recordings whose own titles say battle, combat or frantic
  against peace, sanctuary or love theme (the dev split of tests/bench/real_set.py), mapped to −1..+1.
  Tracks are ranked by their segments' mean. On the test split, which shares no composer with dev, it
  orders energetic titles above calm and tender ones with AUC 0.92; VERSION 5's hand-chosen energy tags
  ("fast", "loud", "party", "drums", "beat" against "slow", "quiet", "soft", "mellow", "ambient", 0.6) and
  brightness (the treble share of the power, 0.4) reached 0.74 on the same tracks. The hand-chosen tags
  alone had ordered the renders of training/bootstrap/feel_set.py well (AUC 0.94–1.00, each tag), but on
  real recordings orchestral battle music reads "slow" and "piano"; the fit weighs what tells battle music
  from peaceful music there. The tempo estimate is left out: its octave errors ordered real recordings
  backwards (AUC 0.30–0.36: Wesnoth's "sad" and "love theme" read as 127 and 163 BPM), and a clip's pace
  reaches the music through the picture's feel (engine/recommend/feel.py) matched to this energy.
- **Mood** (valence) is the weak axis, as in the literature: musicnn's "happy" and "sad" tags, and the
  track's mode. The tags barely tell the major version of a piece from its minor one on those renders
  (AUC 0.44–0.62); the mode, read with the bass (engine/media/dsp.py `key_and_mode`), does (0.87 dev,
  0.90 test), but not reliably on real recordings: the real set's happy tracks above its nostalgic and
  tender ones, AUC 0.70 on dev, 0.38 on test. The formula was chosen on both dev splits, real and
  rendered, by retrieval (tests/bench/eval_feel_real.py --tune-mood): this one, tied with the happy tag
  alone at a mode share of 0.5, ahead of any without the mode; a logistic fit of every tag and the mode
  on the real dev's 15 happy, nostalgic and tender tracks cross-validated below it (0.42–0.64). Mood is
  a preference in queries, never a filter, and its weight was chosen on the dev splits like the energy's.
  In effect it is the mode: the tags' term moves it by about 0.01 on real music (TAG_GAIN).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.tags import TagIndex

_ENERGY_FIT = json.loads(Path(__file__).with_name("energy_model.json").read_text())
# Raised whenever a formula, a constant or the energy's fit changes: libraries then measure every stored
# segment again.
VERSION = 5 + _ENERGY_FIT["version"]
MOOD_UP = ("happy",)
MOOD_DOWN = ("sad",)  # may be empty: the happy tag alone (a candidate of eval_feel_real.py --tune-mood)
# On real music musicnn's happy and sad strengths are rarely above 0.02, so this term moves a track's mood by
# about 0.01 and the mood is in effect the mode; the tags' log ratio orders real music far better, but as
# tried it traded happy against nostalgic and calm on test (docs/quality.md, *Energy and mood*).
TAG_GAIN = 4.0
# Of mood. On the feel renders the mode is the only cue of valence (the tags are at chance there); chosen
# on their dev split (mood P@5 0.57 at 0.4, 0.77 at 0.7, 0.77-0.83 at 1.0), short of 1.0 because
# musicnn's happy and sad tags were learned from real recordings, where the mode is the noisier cue.
MODE_SHARE = 0.7
# Under the fitted energy's log tag scale, the strength a tag's log starts from: the scan stores strengths in
# steps of 1/255, and an absent tag (0) must not weigh infinitely.
TAG_FLOOR = 2e-3


def _mean(strengths: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    return np.mean([np.asarray(strengths[n], np.float32) for n in names], axis=0)


def energy(strengths: np.ndarray, tags: TagIndex) -> np.ndarray:
    """Energy of segments from their tag strengths (`tags.names` order along the last axis): the fit's
    log-odds of energetic music, halved through tanh (2·sigmoid − 1)."""
    logs = np.log(np.asarray(strengths, np.float64) + TAG_FLOOR)
    weights = tags.weights(_ENERGY_FIT["tags"], "the energy's fit")
    return np.tanh((logs @ weights + _ENERGY_FIT["bias"]) / 2).astype(np.float32)


def mood(strengths: dict[str, np.ndarray], mode: np.ndarray) -> np.ndarray:
    """Mood of segments from their tag strengths and their track's mode (+1 major .. −1 minor, NaN unknown)."""
    down = _mean(strengths, MOOD_DOWN) if MOOD_DOWN else 0.0
    tags = np.tanh(TAG_GAIN * (_mean(strengths, MOOD_UP) - down))
    major = np.nan_to_num(np.asarray(mode, np.float32))
    return ((1 - MODE_SHARE) * tags + MODE_SHARE * np.clip(major, -1, 1)).astype(np.float32)


def of_segments(probabilities: np.ndarray, tags: TagIndex, mode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(energy, mood) of segments: `probabilities` (segments, labels) in the bundle's label order."""
    strengths = {name: tags.strength(probabilities, name) for name in MOOD_UP + MOOD_DOWN}
    return energy(tags.strengths(probabilities), tags), mood(strengths, mode)


def of_tags(probabilities: dict[str, float], mode: float | None) -> tuple[float, float]:
    """(energy, mood) of one summary given as {musicnn label: probability}, for text synthesis."""
    labels = list(probabilities)
    values = np.array([[probabilities[label] for label in labels]], np.float32)
    major = np.array([np.nan if mode is None else mode], np.float32)
    energies, moods = of_segments(values, TagIndex(labels), major)
    return float(energies[0]), float(moods[0])
