"""How near a track's stored key is to the key a prompt asks for: key preferences (scoring.py) and the why.

Two keys are as near as their Krumhansl–Kessler probe-tone profiles correlate (Krumhansl & Kessler 1982, the
basis of their map of key distance): 1 for the same key, 0.65 for the relative key (D minor / F major: the
same notes), 0.59 a fifth away, 0.51 for the parallel key (D minor / D major: the same tonic), below 0 for
keys with few notes in common. The scan's key finder (engine/media/dsp.py key_and_mode) matches these same
profiles, so the keys it mistakes for one another are the near ones, and they cost little here.

The stored mode (+1 clearly major .. -1 clearly minor) says how sure the major/minor call was. Near 0 the
other reading of the same notes, the relative key, is about as likely as the stored name: a track is judged
by both readings, weighted by that certainty, so an ambiguous track loses less than a clearly wrong one.
"""

from __future__ import annotations

import numpy as np

from engine.media.dsp import _MAJOR, _MINOR, key_name  # the profiles the key finder itself uses
from engine.recommend.prompt import Key

MODES = ("major", "minor")
MODE_SAID = 0.2  # |stored mode| below this: the major/minor call is named as unclear
_RELATIVE = {0: 9, 1: 3}  # semitones up from a major tonic to its relative minor's, and from a minor's


def _relatedness() -> np.ndarray:
    """[asked mode, track mode, (track tonic - asked tonic) % 12] -> profile correlation."""
    profiles = (_MAJOR, _MINOR)
    table = np.zeros((2, 2, 12))
    for a, asked in enumerate(profiles):
        for t, track in enumerate(profiles):
            for shift in range(12):
                table[a, t, shift] = np.corrcoef(asked, np.roll(track, shift))[0, 1]
    return table


RELATEDNESS = _relatedness()
# Scaled so that the farthest key misses in full (1) and the asked key not at all (0).
_FARTHEST = 1.0 - RELATEDNESS.min()


def key_miss(key: Key, tonic: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """Per track, how far its stored key (tonic pitch class, -1 unknown; mode, NaN unknown) is from `key`,
    0 (surely the asked key or mode) .. 1 (the farthest); 0.5 where nothing was measured."""
    tonic, mode = np.asarray(tonic, np.int64), np.asarray(mode, np.float64)
    if key.tonic is None:
        if key.mode is None:
            return np.zeros(len(tonic))
        toward = 1.0 if key.mode == "major" else -1.0
        return np.where(np.isnan(mode), 0.5, (1.0 - toward * np.nan_to_num(mode)) / 2)
    asked = [MODES.index(key.mode)] if key.mode else [0, 1]  # "key of A": A major or A minor, whichever is nearer
    miss = np.min([_miss(a, key.tonic, tonic, mode) for a in asked], axis=0)
    return np.where(tonic < 0, 0.5, miss)


def _miss(asked_mode: int, asked_tonic: int, tonic: np.ndarray, mode: np.ndarray) -> np.ndarray:
    certain = np.abs(np.nan_to_num(mode))
    named = np.where(np.nan_to_num(mode) >= 0, 0, 1)  # the stored name says major where mode >= 0
    other = 1 - named
    relative = tonic + np.where(named == 0, _RELATIVE[0], _RELATIVE[1])
    near = RELATEDNESS[asked_mode, named, (tonic - asked_tonic) % 12]
    near_other = RELATEDNESS[asked_mode, other, (relative - asked_tonic) % 12]
    weight = (1 + certain) / 2
    return (1.0 - (weight * near + (1 - weight) * near_other)) / _FARTHEST


def key_words(key: Key, tonic: int, mode: float) -> str:
    """A track's stored key for its why, as it relates to the asked one: "in F major, relative key"."""
    if tonic < 0 or np.isnan(mode):
        return "key not measured"
    named = 0 if mode >= 0 else 1
    words = f"in {key_name(tonic, MODES[named])}"
    if abs(mode) < MODE_SAID:
        return words + " (unclear mode)"
    if key.tonic is None or key.mode is None or tonic == key.tonic and MODES[named] == key.mode:
        return words
    asked = MODES.index(key.mode)
    if tonic == key.tonic:
        return words + ", parallel key"
    if named != asked and (tonic - key.tonic) % 12 == _RELATIVE[asked]:
        return words + ", relative key"
    return words
