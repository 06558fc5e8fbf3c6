"""Writing small media files for tests with PyAV: real containers and codecs, generated content."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# container suffix -> (codec, sample format it wants)
AUDIO_CODECS = {
    ".wav": ("pcm_s16le", "s16"),
    ".flac": ("flac", "s16"),
    ".mp3": ("libmp3lame", "fltp"),
    ".m4a": ("aac", "fltp"),
    ".ogg": ("vorbis", "fltp"),  # FFmpeg's own encoder: PyAV wheels lack libvorbis
    ".opus": ("libopus", "flt"),
}


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """samples: (n,) mono or (channels, n) float in [-1, 1]; format chosen by the file suffix."""
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    codec, fmt = AUDIO_CODECS[path.suffix]
    if codec == "vorbis" and samples.shape[0] == 1:  # FFmpeg's vorbis encoder is stereo-only
        samples = np.repeat(samples, 2, axis=0)
    channels = samples.shape[0]
    layout = {1: "mono", 2: "stereo"}[channels]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sample_rate, layout=layout)
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        chunk = 4096
        for start in range(0, samples.shape[1], chunk):
            block = samples[:, start : start + chunk]
            if fmt == "s16":
                data = (np.clip(block, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
            elif fmt == "flt":
                data = block.T.reshape(1, -1)
            else:  # planar float
                data = np.ascontiguousarray(block)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
            frame.sample_rate = sample_rate
            frame.pts = start
            frame.time_base = Fraction(1, sample_rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """frames: (n, h, w, 3) uint8 RGB, encoded as H.264 in an mp4 with no audio stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_music_video(path: Path, frames: np.ndarray, fps: int, samples: np.ndarray, sample_rate: int) -> Path:
    """H.264 video plus an AAC soundtrack (mono float samples) in one mp4: a music video."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate, layout="mono")
        for image in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[None, start : start + 1024], dtype=np.float32),
                format="fltp",
                layout="mono",
            )
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, start, Fraction(1, sample_rate)
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return path
