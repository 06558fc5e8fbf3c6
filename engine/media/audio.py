"""Audio decoding to the model's sample rate, in mono, through PyAV (FFmpeg)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from engine.bundle.manifest import AudioConfig
from engine.errors import DecodeError
from engine.media.container import open_stream, reason


def decode_audio(
    path: str | os.PathLike[str], config: AudioConfig, start: float = 0.0, end: float | None = None
) -> np.ndarray:
    """The file's first audio stream as float32 mono at `config.sample_rate`, from `start` to `end` seconds.

    Channels are resampled together and then averaged ourselves: PyAV's own mono layout mixes to
    (L+R)/sqrt(2), 3 dB louder than the mean the models were trained with, and can clip.
    """
    if config.downmix != "mean":
        raise DecodeError(f"unknown downmix {config.downmix!r} in the bundle manifest")
    path = Path(path)
    container, stream = open_stream(path, "audio")
    with container:
        resampler = av.AudioResampler(format="fltp", rate=config.sample_rate)
        chunks = []
        origin = None  # time of the first decoded sample: after a seek, the keyframe before `start`
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        try:
            for frame in container.decode(stream):
                if origin is None:
                    origin = frame.time or 0.0
                if end is not None and frame.time is not None and frame.time > end:
                    break
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{path}: audio stream is corrupt ({reason(exc)})") from exc
    if not chunks:
        raise DecodeError(f"{path}: audio stream holds no samples")
    # fltp frames are (channels, samples); the layout is fixed by the first frame for the whole stream.
    wave = np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float32)
    sr = config.sample_rate
    wave = wave[max(0, round((start - (origin or 0.0)) * sr)) :]
    return wave if end is None else wave[: max(0, round((end - start) * sr))]
