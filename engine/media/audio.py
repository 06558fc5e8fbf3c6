"""Audio decoding to the model's sample rate, in mono, through PyAV (FFmpeg)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from engine.bundle.manifest import AudioConfig
from engine.errors import DecodeError


def decode_audio(path: str | os.PathLike[str], config: AudioConfig) -> np.ndarray:
    """The file's first audio stream as float32 mono at `config.sample_rate`.

    Channels are resampled together and then averaged ourselves: PyAV's own mono layout mixes to
    (L+R)/sqrt(2), 3 dB louder than the mean the models were trained with, and can clip.
    """
    if config.downmix != "mean":
        raise DecodeError(f"unknown downmix {config.downmix!r} in the bundle manifest")
    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise DecodeError(f"{path}: cannot open as media ({_reason(exc)})") from exc
    with container:
        if not container.streams.audio:
            raise DecodeError(f"{path}: has no audio stream")
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="fltp", rate=config.sample_rate)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{path}: audio stream is corrupt ({_reason(exc)})") from exc
    if not chunks:
        raise DecodeError(f"{path}: audio stream holds no samples")
    # fltp frames are (channels, samples); the layout is fixed by the first frame for the whole stream.
    return np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float32)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
