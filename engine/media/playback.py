"""Audio for listening rather than for the models: a whole track at the output device's rate, and its waveform.

Previews switch between tracks while the picture plays, so each track is decoded once, whole, into 16-bit
stereo (46 MB for four minutes at 48 kHz) and kept while it may be needed; moving the start point within it
is then free.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from engine.errors import DecodeError
from engine.media.container import open_stream, reason

PLAYBACK_RATE = 48_000


PEAK_BUCKETS = 600  # the waveform's columns: finer than a preview's strip is wide


@dataclass(frozen=True)
class PlaybackAudio:
    path: str
    samples: np.ndarray  # (frames, 2) int16
    rate: int

    @functools.cached_property
    def peaks(self) -> np.ndarray:
        """The waveform to draw (`waveform`, PEAK_BUCKETS wide), made once: by the decoding thread, which asks
        for it first, so that a track switched to is drawn without a pass over its samples (0.1–0.8 s for a
        long track) on the window's thread."""
        return waveform(self, PEAK_BUCKETS)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


def decode_for_playback(path: str | os.PathLike[str], rate: int = PLAYBACK_RATE) -> PlaybackAudio:
    """The whole first audio stream as 16-bit stereo at `rate` (mono is duplicated, surround folded down)."""
    container, stream = open_stream(Path(path), "audio")
    pieces = []
    with container:
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=rate)
        try:
            for frame in container.decode(stream):
                pieces += [f.to_ndarray().reshape(-1, 2) for f in resampler.resample(frame)]
            pieces += [f.to_ndarray().reshape(-1, 2) for f in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{path}: audio stream is corrupt ({reason(exc)})") from exc
    if not pieces:
        raise DecodeError(f"{path}: audio stream holds no samples")
    audio = PlaybackAudio(os.fspath(path), np.ascontiguousarray(np.concatenate(pieces)), rate)
    audio.peaks  # noqa: B018 - made here, off the window's thread
    return audio


def waveform(audio: PlaybackAudio, buckets: int) -> np.ndarray:
    """(buckets, 2) min and max of the mono mix over equal slices of the track, in -1..1, for drawing."""
    mono = audio.samples.astype(np.float32).mean(axis=1) / 32768.0
    if not len(mono) or buckets <= 0:
        return np.zeros((max(buckets, 0), 2), np.float32)
    edges = np.linspace(0, len(mono), buckets + 1).astype(np.int64)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)
    edges = np.minimum(edges, len(mono))
    starts = edges[:-1]
    valid = starts < len(mono)
    out = np.zeros((buckets, 2), np.float32)
    out[valid, 0] = np.minimum.reduceat(mono, starts[valid])
    out[valid, 1] = np.maximum.reduceat(mono, starts[valid])
    return out
