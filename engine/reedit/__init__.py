"""Music fitted to the picture: a track re-edited to a length on its own bars, levelled for delivery,
ducked under the clip's dialogue.

`reedit` reads the track, finds how alike its bars are (chroma for harmony, level, brightness, onsets and
drum hits for timbre: the scan's own analysis, `engine.media.dsp`), plans which bars to play (`plan`) and
renders them (`render`), and lowers them where people speak in the clip (`duck`). The source file is
only read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from engine.media import dsp
from engine.media.beats import Beats
from engine.reedit.duck import DEPTH_DB, Ducking, gain, speech
from engine.reedit.plan import Join, Piece, Plan, bar_similarity, plan_edit, trimmed
from engine.reedit.render import CROSSFADE, DEFAULT_LOUDNESS, Audio, Level, assemble, decode, level, write_wav

__all__ = [
    "DEFAULT_LOUDNESS",
    "DEPTH_DB",
    "MAX_LENGTH",
    "SILENCE_TOLD",
    "Join",
    "Piece",
    "Reedit",
    "output_beats",
    "reedit",
    "write_wav",
]

_ANALYSIS_RATE = 16_000  # the features only compare bars with each other: a light analysis will do
# The longest re-edit rendered, in seconds: it is held in memory several times over while it is levelled and
# ducked (about 1.4 MB a second at 48 kHz stereo), and 20 minutes is longer than any one music bed.
MAX_LENGTH = 20 * 60.0
# Silence after the music from which a front end says so. A plan may end up to a bar before the length (the
# track's own ending, or a fade onto a downbeat): a 4/4 bar at 60 BPM lasts 4 s.
SILENCE_TOLD = 4.0


@dataclass(frozen=True)
class Reedit:
    samples: np.ndarray  # (frames, channels) float32, exactly the length asked for
    rate: int
    plan: Plan
    level: Level | None
    ducking: Ducking | None = None

    @property
    def silent_tail(self) -> float:
        """Seconds of silence after the music: where the track has no bars to repeat, or its own ending
        closes the edit before the length (up to a bar)."""
        return max(0.0, len(self.samples) / self.rate - self.plan.music_length)

    def to_json(self) -> dict:
        plan = self.plan
        return {
            "length": round(len(self.samples) / self.rate, 6),
            "silent_tail": round(self.silent_tail, 3),
            "sample_rate": self.rate,
            "channels": self.samples.shape[1],
            "ending": plan.ending,
            "music_length": round(plan.music_length, 3),
            "pieces": [{"from": round(p.start, 3), "to": round(p.end, 3), "at": round(p.at, 3)} for p in plan.pieces],
            "joins": [
                {
                    "at": round(j.at, 3),
                    "leaves": round(j.leaves, 3),
                    "enters": round(j.enters, 3),
                    "similarity": round(j.similarity, 3),
                    "crossfade": CROSSFADE,
                }
                for j in plan.joins
            ],
            "fade": [round(t, 3) for t in plan.fade] if plan.fade else None,
            "loudness": None if self.level is None else vars(self.level),
            "ducking": None if self.ducking is None else self.ducking.to_json(),
        }


def reedit(
    path: str | os.PathLike[str],
    beats: Beats,
    *,
    start: float,
    length: float,
    loudness: float | None = DEFAULT_LOUDNESS,
    duck: tuple[str | os.PathLike[str], float] | None = None,
    duck_db: float = DEPTH_DB,
) -> Reedit:
    """`length` seconds of the track at `path` from the downbeat nearest `start`, re-edited on its bars,
    levelled to `loudness` LUFS and, with `duck` (a clip and its in point), lowered by `duck_db` where
    people speak in that clip's soundtrack."""
    audio = decode(path)
    downbeats = np.asarray(beats.downbeats, np.float64)
    downbeats = downbeats[downbeats < audio.duration]
    if len(downbeats) < 3:  # no bars found (free time, ambience): cut and faded, not re-edited
        chosen = trimmed(min(start, audio.duration), audio.duration, length)
    else:
        features = _bar_features(audio, downbeats)
        first = int(np.argmin(np.abs(downbeats[:-1] - start)))
        chosen = plan_edit(downbeats, audio.duration, bar_similarity(*features), first, length)
    samples = assemble(audio, chosen, length)
    measured = ducking = None
    if loudness is not None:  # levelled before ducking: the target is the music's own level
        samples, measured = level(samples, audio.rate, loudness)
    if duck is not None:
        clip, clip_in = duck
        ducking = Ducking(speech(clip, clip_in, clip_in + length), duck_db)
        samples = samples * gain(ducking.speech, len(samples), audio.rate, duck_db)[:, None]
    return Reedit(samples, audio.rate, chosen, measured, ducking)


def output_beats(beats: Beats, plan: Plan) -> Beats:
    """The track's beats where the edit plays them: each piece's beats, moved to where the piece is heard."""

    def moved(times: np.ndarray) -> np.ndarray:
        out = [p.at + (t - p.start) for p in plan.pieces for t in times if p.start <= t < p.end]
        if plan.fade is not None:
            out = [t for t in out if t < plan.fade[1]]
        return np.unique(np.round(out, 6))

    return Beats(moved(np.asarray(beats.times)), moved(np.asarray(beats.downbeats)), beats.bpm)


def _bar_features(audio: Audio, downbeats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: its pitch-class profile (harmony) and its level, brightness, onsets and hits (timbre)."""
    mono = audio.samples.mean(axis=1)
    step = max(1, audio.rate // _ANALYSIS_RATE)
    analysis = dsp.analyse(mono[::step], audio.rate // step)  # decimated: bars are compared, not described
    edges = np.append(downbeats, audio.duration)
    chroma, timbre = [], []
    for begin, end in zip(edges[:-2], edges[1:-1]):
        c0 = min(int(begin * analysis.chroma_fps), len(analysis.chroma) - 1)
        c1 = max(int(end * analysis.chroma_fps), c0 + 1)
        e0 = min(int(begin * analysis.fps), len(analysis.power) - 1)
        e1 = max(int(end * analysis.fps), e0 + 1)
        chroma.append(analysis.chroma[c0:c1].mean(axis=0))
        timbre.append(
            [
                10 * np.log10(analysis.power[e0:e1].mean() + 1e-10),
                analysis.treble[e0:e1].mean(),
                analysis.envelope[e0:e1].mean(),
                analysis.hits[e0:e1].mean(),
            ]
        )
    return np.nan_to_num(np.array(chroma)), np.nan_to_num(np.array(timbre))
