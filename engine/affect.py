"""The feel of the music, on the same two axes as the words' (engine/recommend/feel.py): energy and mood.

Computed per segment from what the scan measures and stores: musicnn's tags (plus the track's major/minor
mode for mood), so every stored segment has it, including those scanned before it existed or measured by
an older VERSION (`Library.backfill_affect` computes theirs from the stored values, without re-analysis).
Both axes run from −1 to +1.

- **Energy** (arousal): a logistic fit (`energy_model.json`, tests/bench/refit_energy.py) of the log of
  every musicnn tag's strength, made on real recordings whose own titles say battle, combat or frantic
  against peace, sanctuary or love theme (the dev split of tests/bench/real_set.py), mapped to −1..+1,
  and on production music whose catalogue calls it driving, intense, action or aggressive against calm,
  calming or relaxed (the dev pieces of the mood fit's composer, together counting half as much as the
  games' tracks).
  Tracks are ranked by their segments' mean. The first fit, of the games alone (fit_energy.py), ordered
  the games' test split, which shares no composer with dev, with AUC 0.92; retrieval through the query
  ordered the composer's test pieces with 0.84, and with this fit 0.87. VERSION 5's hand-chosen energy tags
  ("fast", "loud", "party", "drums", "beat" against "slow", "quiet", "soft", "mellow", "ambient", 0.6) and
  brightness (the treble share of the power, 0.4) reached 0.74 on the same tracks. The hand-chosen tags
  alone had ordered the renders of training/bootstrap/feel_set.py well (AUC 0.94–1.00, each tag), but on
  real recordings orchestral battle music reads "slow" and "piano"; the fit weighs what tells battle music
  from peaceful music there. The tempo estimate is left out: its octave errors ordered real recordings
  backwards (AUC 0.30–0.36: Wesnoth's "sad" and "love theme" read as 127 and 163 BPM), and a clip's pace
  reaches the music through the picture's feel (engine/recommend/feel.py) matched to this energy.
- **Mood** (valence) is the weak axis, as in the literature: a logistic fit (`mood_model.json`,
  tests/bench/fit_mood.py) of the same log tag strengths, made on production music whose catalogue
  (incompetech's feel words) calls it bright, uplifting or romantic against somber or dark, joined to the
  track's mode, read with the bass (engine/media/dsp.py `key_and_mode`), at MODE_SHARE. The fit alone
  orders those tracks no better than the mode (cross-validated AUC 0.69 against 0.71), but it orders
  other music's happy above its sad far better (the games' dev split: 0.84 against 0.70), while on
  renders only the mode tells a piece's major version from its minor one (the mode-based mood 0.86, the
  fit alone 0.53). The share and the feel weights were chosen on three dev sets by retrieval; on three
  test sets of real music it raised mood precision@5 from 0.43 to 0.51 (docs/quality.md, *Energy and
  mood*). Mood is a preference in queries, never a filter.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.tags import TagIndex, as_stored

_ENERGY_FIT = json.loads(Path(__file__).with_name("energy_model.json").read_text())
_MOOD_FIT = json.loads(Path(__file__).with_name("mood_model.json").read_text())
# Raised whenever a formula, a constant or a fit changes: libraries then measure every stored segment again.
VERSION = 6 + _ENERGY_FIT["version"] + _MOOD_FIT["version"]
# Of mood, the rest the tags' fit. On the renders the mode is the only cue of valence; on real music the
# fit is the better one. Chosen with the fit (tests/bench/fit_mood.py: 0, 0.2, 0.35, 0.5 and 0.7 tried).
MODE_SHARE = _MOOD_FIT["mode_share"]
# Under the fits' log tag scale, the strength a tag's log starts from: the scan stores strengths in steps of
# 1/255, and an absent tag (0) must not weigh infinitely.
TAG_FLOOR = 2e-3


def _fitted(strengths: np.ndarray, tags: TagIndex, fit: dict, name: str) -> np.ndarray:
    """A fit's log-odds from tag strengths (`tags.names` order along the last axis), halved through tanh
    (2·sigmoid − 1)."""
    logs = np.log(np.asarray(strengths, np.float64) + TAG_FLOOR)
    return np.tanh((logs @ tags.weights(fit["tags"], name) + fit["bias"]) / 2).astype(np.float32)


def energy(strengths: np.ndarray, tags: TagIndex) -> np.ndarray:
    """Energy of segments from their tag strengths: the fit's probability p of energetic music, as 2p − 1."""
    return _fitted(strengths, tags, _ENERGY_FIT, "the energy's fit")


def mood(strengths: np.ndarray, tags: TagIndex, mode: np.ndarray) -> np.ndarray:
    """Mood of segments from their tag strengths and their track's mode (+1 major .. −1 minor, NaN unknown)."""
    major = np.clip(np.nan_to_num(np.asarray(mode, np.float32)), -1, 1)
    valence = _fitted(strengths, tags, _MOOD_FIT, "the mood's fit")
    return ((1 - MODE_SHARE) * valence + MODE_SHARE * major).astype(np.float32)


def of_segments(probabilities: np.ndarray, tags: TagIndex, mode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(energy, mood) of segments: `probabilities` (segments, labels) in the bundle's label order, read in
    the steps the catalog stores them in, so that a scan, a library measuring its stored tags again, and
    the training texts all agree."""
    strengths = tags.strengths(as_stored(probabilities))
    return energy(strengths, tags), mood(strengths, tags, mode)


def of_tags(probabilities: dict[str, float], mode: float | None) -> tuple[float, float]:
    """(energy, mood) of one summary given as {musicnn label: probability}, for text synthesis."""
    labels = list(probabilities)
    values = np.array([[probabilities[label] for label in labels]], np.float32)
    major = np.array([np.nan if mode is None else mode], np.float32)
    energies, moods = of_segments(values, TagIndex(labels), major)
    return float(energies[0]), float(moods[0])
