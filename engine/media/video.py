"""Sampling a video clip for the frame backbone, with the low-level cues that carry pace and mood.

One sequential decode does both jobs: every decoded frame feeds a tiny grey thumbnail to the motion and
cut detectors, and the frames nearest the sample times (at the bundle's frame rate) become backbone
input through `fit_frame`. Sequential decoding beats seeking per sample unless keyframes are denser than
the sample rate (research/stack.md §3), so the only seek is to the keyframe before the clip's in point.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from engine.bundle.manifest import VideoConfig
from engine.errors import DecodeError, EmptyRangeError
from engine.media.container import open_stream, reason
from engine.media.frames import fit_frame

# Per-sample cues, in this order; the manifest lists the names a bundle was trained with.
CUES = ("brightness", "saturation", "warmth", "contrast", "motion", "cuts_per_second")
_THUMB = (48, 27)  # grey thumbnail for motion and cuts: cheap, and blind to noise and compression
# 8-bit formats whose first plane is luma: the thumbnail is made from it directly, without swscale, which
# costs more than decoding the frame (every frame of the clip feeds the motion and cut detectors).
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
_FULL_RANGE = {"yuvj420p", "yuvj422p", "yuvj444p", "gray"}
_AVCOL_RANGE_JPEG = 2  # AVColorRange: full-range luma (0-255) rather than studio range (16-235)
_CUT_MIN = 0.12  # mean absolute thumbnail change (0..1) that can only be a cut ...
_CUT_RATIO = 4.0  # ... when also this many times the recent motion


@dataclass(frozen=True)
class SampledClip:
    frames: np.ndarray  # (T, size, size, 3) uint8, ready for the frame backbone
    times: np.ndarray  # (T,) seconds from the start of the file
    cues: np.ndarray  # (T, len(CUES)) float32
    duration: float  # of the whole file, seconds


def _rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Honour the display matrix (phone footage): PyAV reports the counter-clockwise angle."""
    turns = round(degrees / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """Grey `_THUMB` thumbnail of a frame, on swscale's full-range scale (0-255), as float32."""
    name = frame.format.name
    if name not in _LUMA_FIRST:
        return frame.to_ndarray(format="gray", width=_THUMB[0], height=_THUMB[1]).astype(np.float32)
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
    # Halve with a Gaussian pyramid (SIMD, a few times cheaper than one big area resize) while more than twice
    # the thumbnail, then an area average: like swscale's filtered downscale, it blurs away texture and noise.
    # A large frame is first halved by averaging 2x2 blocks, cheaper than the pyramid's full-size level; the
    # motion between two thumbnails moves by 1-2 % (tests/test_video_sampling.py, bench_recommend.py).
    small = luma
    if small.shape[0] >= 4 * _THUMB[1] and small.shape[1] >= 4 * _THUMB[0]:
        small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)
    while small.shape[0] >= 2 * _THUMB[1] and small.shape[1] >= 2 * _THUMB[0]:
        small = cv2.pyrDown(small)
    thumb = cv2.resize(np.ascontiguousarray(small), _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
    if name not in _FULL_RANGE and frame.color_range != _AVCOL_RANGE_JPEG:
        thumb = np.clip((thumb - 16.0) * (255.0 / 219.0), 0.0, 255.0)
    return thumb


def _halved(image: np.ndarray, keep: int) -> np.ndarray:
    """`image` averaged over 2x2 blocks while its short side stays at least `keep` (OpenCV's fast path for
    a whole-number area resize: a fraction of the cost of one large resize by an awkward factor)."""
    while min(image.shape[:2]) >= 2 * keep:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return image


_CUE_SIZE = 64


def _frame_cues(rgb: np.ndarray) -> tuple[float, float, float, float]:
    # Colour and contrast from a 64x64 average of the frame, reached through 2x2 halvings first: 3 ms less per
    # sample at 720p, 1 % or less off the one-step average (tests/bench/bench_recommend.py).
    small = _halved(rgb, 4 * _CUE_SIZE)
    small = cv2.resize(small, (_CUE_SIZE, _CUE_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    luma = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    hsv = cv2.cvtColor((small * 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    warmth = float((small[..., 0] - small[..., 2]).mean())
    return float(luma.mean()), float(hsv[..., 1].mean() / 255.0), warmth, float(luma.std())


def _targets(start: float, end: float, config: VideoConfig) -> np.ndarray:
    """Sample times: window centres at the bundle's frame rate, uniformly fewer for very long clips."""
    count = max(1, math.ceil((end - start) * config.frame_rate - 1e-6))
    count = min(count, config.max_frames)
    width = (end - start) / count
    return start + width * (np.arange(count) + 0.5)


def sample_clip(
    path: str | os.PathLike[str], config: VideoConfig, start: float = 0.0, end: float | None = None
) -> SampledClip:
    """Frames and cues of `path` between `start` and `end` seconds (the whole file by default)."""
    unknown = set(config.cues) - set(CUES)
    if unknown:
        raise DecodeError(f"the bundle asks for video cues this engine cannot compute: {sorted(unknown)}")
    path = Path(path)
    container, stream = open_stream(path, "video")
    with container:
        duration = _duration(container, stream)
        end = duration if end is None or (duration and end > duration) else end
        if not end or end <= start:
            raise EmptyRangeError(
                f"{path}: empty range {start:.2f}-{end or 0:.2f} s (file is {duration:.2f} s)", duration
            )
        targets = _targets(start, end, config)
        half = (end - start) / len(targets) / 2
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        frames, cues, times = [], [], []
        motion, cut_count, pairs = np.zeros(len(targets)), np.zeros(len(targets)), np.zeros(len(targets))
        previous, recent = None, []
        k = 0
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None or t < start - 1e-3:
                    continue
                if t >= end or k >= len(targets):
                    break
                thumb = _thumbnail(frame)
                window = min(int((t - start) / (2 * half)), len(targets) - 1)
                if previous is not None:
                    change = float(np.abs(thumb - previous).mean()) / 255.0
                    baseline = np.mean(recent) if recent else 0.0
                    if change > _CUT_MIN and change > _CUT_RATIO * baseline:
                        cut_count[window] += 1
                    else:
                        motion[window] += change
                        pairs[window] += 1
                        recent = (recent + [change])[-5:]
                previous = thumb
                while k < len(targets) and t >= targets[k] - 1e-6:
                    rgb = _rotate(frame.to_ndarray(format="rgb24"), frame.rotation)
                    frames.append(fit_frame(rgb, config))
                    cues.append(_frame_cues(rgb))
                    times.append(t)
                    k += 1
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{path}: video stream is corrupt ({reason(exc)})") from exc
    if not frames:
        raise DecodeError(f"{path}: no decodable frames between {start:.2f} and {end:.2f} s")
    # A clip whose last sample time falls after its last frame repeats that frame.
    while len(frames) < len(targets):
        frames.append(frames[-1])
        cues.append(cues[-1])
        times.append(times[-1])
    per_second = cut_count / (2 * half)
    mean_motion = motion / np.maximum(pairs, 1)
    table = {
        "motion": mean_motion,
        "cuts_per_second": per_second,
        **dict(zip(CUES[:4], np.array(cues, dtype=np.float64).T)),
    }
    cue_matrix = np.stack([table[name] for name in config.cues], axis=1).astype(np.float32)
    return SampledClip(np.stack(frames), np.array(times), cue_matrix, duration)


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else 0.0


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds
    width: int  # as displayed (rotation applied)
    height: int
    frame_rate: float | None


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Duration, displayed size and nominal frame rate of a file's first video stream."""
    container, stream = open_stream(Path(path), "video")
    with container:
        duration = _duration(container, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = float(stream.average_rate) if stream.average_rate else None
        try:
            first = next(container.decode(stream))
            if round(first.rotation / 90) % 2:
                width, height = height, width
        except (StopIteration, av.error.FFmpegError) as exc:
            raise DecodeError(f"{path}: no decodable video frames") from exc
    return VideoInfo(duration, width, height, rate)


def thumbnail(path: str | os.PathLike[str], at: float = 0.0, width: int = 160) -> np.ndarray:
    """An upright RGB frame near `at` seconds, `width` pixels wide, for timelines and lists."""
    container, stream = open_stream(Path(path), "video")
    with container:
        if at > 0:
            container.seek(int(at / stream.time_base), stream=stream, backward=True)
        try:
            for frame in container.decode(stream):
                if frame.time is None or frame.time >= at - 1e-3:
                    rgb = _rotate(frame.to_ndarray(format="rgb24"), frame.rotation)
                    height = max(1, round(width * rgb.shape[0] / rgb.shape[1]))
                    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{path}: video stream is corrupt ({reason(exc)})") from exc
    raise DecodeError(f"{path}: no video frame at {at:.2f} s")
