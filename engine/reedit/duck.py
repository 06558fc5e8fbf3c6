"""Music lowered under the clip's own dialogue, as editors duck it by hand.

Speech is found in the clip's soundtrack by WebRTC's voice-activity detector (the `webrtcvad` module: the
GMM detector Chrome and most VoIP stacks use), run on 30 ms frames of 16 kHz mono at its most selective
setting, then smoothed: a stretch is speech when at least half of the frames around it are, gaps shorter
than `BRIDGE` (breaths, pauses between words) are bridged, and blips shorter than `MIN_SPEECH` dropped.
The music's gain falls by `DEPTH_DB` over `ATTACK` before each stretch of speech and recovers over
`RELEASE` after it; elsewhere it is left exactly as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import webrtcvad

from engine.errors import DecodeError
from engine.media.container import open_stream, reason

DEPTH_DB = -10.0
ATTACK, RELEASE = 0.15, 0.5  # seconds: down just before the first word, back up after the last
BRIDGE, MIN_SPEECH = 0.5, 0.25  # seconds
_RATE, _FRAME = 16_000, 480  # webrtcvad takes 10, 20 or 30 ms frames of 8-48 kHz 16-bit mono
_AGGRESSIVENESS = 3  # the most selective: music and noise under the dialogue are what it must not take
_WINDOW = 9  # frames (270 ms) a frame's vote is smoothed over


@dataclass(frozen=True)
class Ducking:
    speech: list[tuple[float, float]]  # seconds from the clip's in point
    depth_db: float

    def to_json(self) -> dict:
        return {"depth_db": self.depth_db, "speech": [[round(a, 3), round(b, 3)] for a, b in self.speech]}


def speech(path: str | os.PathLike[str], start: float, end: float) -> list[tuple[float, float]]:
    """Where people speak in the clip's soundtrack between `start` and `end`, in seconds from `start`."""
    pcm = _soundtrack(path, start, end)
    if len(pcm) < _FRAME:
        return []
    vad = webrtcvad.Vad(_AGGRESSIVENESS)
    frames = len(pcm) // _FRAME
    votes = np.array([vad.is_speech(pcm[i * _FRAME : (i + 1) * _FRAME].tobytes(), _RATE) for i in range(frames)])
    smoothed = np.convolve(votes.astype(float), np.ones(_WINDOW) / _WINDOW, mode="same") >= 0.5
    step = _FRAME / _RATE
    return _clean(_runs(smoothed, step))


def _soundtrack(path: str | os.PathLike[str], start: float, end: float) -> np.ndarray:
    """The clip's first audio stream from `start` to `end` as 16 kHz mono int16 (empty if it has none)."""
    try:
        container, stream = open_stream(Path(path), "audio")
    except DecodeError as exc:
        if "has no audio" in str(exc):
            return np.zeros(0, np.int16)
        raise
    pieces = []
    with container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=_RATE)
        try:
            for frame in container.decode(stream):
                pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{path}: audio stream is corrupt ({reason(exc)})") from exc
    pcm = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    return pcm[round(start * _RATE) : round(end * _RATE)]


def _runs(flags: np.ndarray, step: float) -> list[tuple[float, float]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return [(a * step, b * step) for a, b in zip(edges[::2], edges[1::2])]


def _clean(runs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for begin, end in runs:
        if merged and begin - merged[-1][1] < BRIDGE:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((begin, end))
    return [(a, b) for a, b in merged if b - a >= MIN_SPEECH]


def gain(regions: list[tuple[float, float]], frames: int, rate: int, depth_db: float = DEPTH_DB) -> np.ndarray:
    """Per output frame, the music's gain: `depth_db` under speech, with the ramps around it, else 1."""
    low = 10 ** (depth_db / 20)
    duck = np.zeros(frames, np.float32)  # 0: as it was, 1: fully ducked
    for begin, end in regions:
        a, b = round(begin * rate), round(end * rate)
        duck[max(a, 0) : max(min(b, frames), 0)] = 1.0
        attack = np.arange(max(a - round(ATTACK * rate), 0), max(min(a, frames), 0))
        duck[attack] = np.maximum(duck[attack], 1 - (a - attack) / (ATTACK * rate))
        release = np.arange(max(b, 0), max(min(b + round(RELEASE * rate), frames), 0))
        duck[release] = np.maximum(duck[release], 1 - (release - b) / (RELEASE * rate))
    # Interpolated in decibels, so the ramps sound even.
    return (10 ** (duck * np.log10(low))).astype(np.float32)


def keyframes(
    regions: list[tuple[float, float]], length: float, depth_db: float = DEPTH_DB
) -> list[tuple[float, float]]:
    """The same ducking as volume keyframes for an editor: (seconds from the clip's start, dB) points where
    each ramp starts and ends, inside [0, length]."""
    points: list[tuple[float, float]] = []
    for begin, end in regions:
        for at, db in ((begin - ATTACK, 0.0), (begin, depth_db), (end, depth_db), (end + RELEASE, 0.0)):
            at = min(max(at, 0.0), length)
            if points and at <= points[-1][0]:
                points[-1] = (points[-1][0], min(points[-1][1], db))  # ramps that meet: the lower wins
            else:
                points.append((at, db))
    return points
