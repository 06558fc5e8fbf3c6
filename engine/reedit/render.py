"""A re-edit plan as audio: the pieces joined with short crossfades on their downbeats, made exactly the
length asked for, levelled to a delivery loudness, and written as WAV beside nothing it could overwrite.

Joins: an equal-power crossfade of `CROSSFADE` seconds centred on the downbeat where the music leaves
and enters, so no sample jumps at the cut and the beat stays where it was. Loudness: integrated loudness
by ITU-R BS.1770-4 (pyloudnorm's meter, with its gating), one gain to the target, and a look-ahead limiter
where the true peak (4x oversampled, BS.1770-4 annex 2) would pass `PEAK_CEILING_DB`; the report says
when it had to act.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from engine import atomic
from engine.errors import DecodeError
from engine.export.edit import ExportError
from engine.media.audio import finite
from engine.media.container import open_stream, reason
from engine.reedit.plan import Plan

CROSSFADE = 0.03  # seconds: long enough to hide the cut, short enough to keep the attack on the downbeat
PEAK_CEILING_DB = -1.0  # dBTP: the ceiling of every common delivery spec (EBU R128, streaming platforms)
DEFAULT_LOUDNESS = -14.0  # LUFS: web platforms; -23 is EBU R128 broadcast
_LOOKAHEAD = 0.005  # seconds: the limiter turns down this long before a peak
_MARGIN_DB = 0.1  # under the ceiling, for the oversampling's own error


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # (frames, channels) float32
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class Level:
    measured: float  # LUFS of the edit before levelling
    target: float
    gain_db: float
    loudness: float  # LUFS after levelling
    true_peak_db: float  # after levelling
    limited: bool  # the peak ceiling kept the gain below the target's


def decode(path: str | os.PathLike[str]) -> Audio:
    """The whole first audio stream as float samples at the file's own rate and channels (mono, or stereo)."""
    container, stream = open_stream(Path(path), "audio")
    pieces = []
    with container:
        # By channel count: a plain PCM header names no layout ("1 channels"); surround is folded to stereo.
        channels = 1 if stream.codec_context.channels == 1 else 2
        layout = "mono" if channels == 1 else "stereo"
        resampler = av.AudioResampler(format="flt", layout=layout, rate=stream.codec_context.sample_rate)
        try:
            for frame in container.decode(stream):
                pieces += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame)]
            pieces += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{path}: audio stream is corrupt ({reason(exc)})") from exc
    if not pieces:
        raise DecodeError(f"{path}: audio stream holds no samples")
    return Audio(finite(np.concatenate(pieces).astype(np.float32)), stream.codec_context.sample_rate)


def assemble(source: Audio, plan: Plan, length: float) -> np.ndarray:
    """The plan's pieces, crossfaded at their joins, faded at a fade ending, silence to exactly `length`."""
    rate = source.rate
    total = round(length * rate)
    out = np.zeros((total, source.samples.shape[1]), np.float32)
    half = round(CROSSFADE * rate / 2)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, 2 * half, dtype=np.float32)) ** 2  # equal power: sin² + cos² = 1
    for i, piece in enumerate(plan.pieces):
        lead = half if i > 0 else 0  # from before its downbeat, to fade in under the piece before
        tail = half if i < len(plan.pieces) - 1 else 0
        first, last = round(piece.start * rate) - lead, round(piece.end * rate) + tail
        at = round(piece.at * rate) - lead
        chunk = _take(source.samples, first, last)
        gain = np.ones(len(chunk), np.float32)
        if lead:
            gain[: 2 * lead] *= ramp
        if tail:
            gain[-2 * tail :] *= ramp[::-1]
        _mix(out, chunk * gain[:, None], at)
    if plan.fade is not None:
        begin, end = round(plan.fade[0] * rate), min(round(plan.fade[1] * rate), total)
        curve = np.cos(np.linspace(0.0, np.pi / 2, max(end - begin, 1), dtype=np.float32)) ** 2
        out[begin:end] *= curve[: end - begin, None]
        out[end:] = 0.0
    return out


def _take(samples: np.ndarray, first: int, last: int) -> np.ndarray:
    """samples[first:last], with silence where the range runs outside the track."""
    chunk = samples[max(first, 0) : max(min(last, len(samples)), 0)]
    before, after = max(-first, 0), max(last - max(len(samples), first), 0)
    return np.pad(chunk, ((before, after), (0, 0))) if before or after else chunk


def _mix(out: np.ndarray, chunk: np.ndarray, at: int) -> None:
    start, stop = max(at, 0), min(at + len(chunk), len(out))
    if stop > start:
        out[start:stop] += chunk[start - at : stop - at]


def level(samples: np.ndarray, rate: int, target: float) -> tuple[np.ndarray, Level]:
    """`samples` at `target` LUFS integrated with true peaks at most `PEAK_CEILING_DB`: one gain, and a
    look-ahead limiter on the peaks it would push past the ceiling (the loudness is then measured again
    and the gain corrected, as a mastering limiter is used)."""
    import pyloudnorm  # here: it brings scipy.signal, 1.7 s of imports at start-up (see media/loudness.py)

    meter = pyloudnorm.Meter(rate)
    measured = _loudness(meter, samples, rate)
    if not math.isfinite(measured):  # all below the absolute gate: silence
        return samples, Level(measured, target, 0.0, measured, _true_peak_db(samples), False)
    gain_db, levelled, limited = target - measured, samples, False
    for _ in range(3):  # limiting lowers the loudness a little: correct the gain and limit again
        levelled = samples * np.float32(10 ** (gain_db / 20))
        levelled, limited = _limit(levelled, rate)
        after = _loudness(meter, levelled, rate)
        if abs(after - target) < 0.1:
            break
        gain_db += target - after
    report = Level(
        round(measured, 2), target, round(gain_db, 2), round(after, 2), round(_true_peak_db(levelled), 2), limited
    )
    return levelled.astype(np.float32), report


def _loudness(meter, samples: np.ndarray, rate: int) -> float:
    """Integrated loudness. The meter's gating blocks last 400 ms: the music of a shorter clip (a few frames
    cut in) is measured played over and over, which holds its power and fills the blocks."""
    block = math.ceil(meter.block_size * rate)
    if len(samples) < 2 * block:
        samples = np.tile(samples, (math.ceil(2 * block / max(len(samples), 1)), 1))
    return float(meter.integrated_loudness(samples.astype(np.float64)))


def _limit(samples: np.ndarray, rate: int) -> tuple[np.ndarray, bool]:
    """Peaks above the ceiling turned down by a gain that starts `_LOOKAHEAD` before them and recovers as
    smoothly; the gain at every sample stays at or below what that sample needs (see the comment)."""
    ceiling = 10 ** ((PEAK_CEILING_DB - _MARGIN_DB) / 20)
    peaks = _true_peaks(samples)
    if peaks.max() <= ceiling:
        return samples, False
    from scipy.ndimage import minimum_filter1d, uniform_filter1d  # here, as pyloudnorm in level()

    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-9))
    window = max(1, round(_LOOKAHEAD * rate))
    # Each sample's gain is the mean of minima over windows that all contain it: never above its own need.
    gain = uniform_filter1d(minimum_filter1d(needed, 2 * window + 1), window + 1)
    return samples * gain[:, None].astype(np.float32), True


def _true_peaks(samples: np.ndarray) -> np.ndarray:
    """Per sample, the largest magnitude of any channel around it, oversampled four times (BS.1770-4)."""
    from scipy.signal import resample_poly  # here, as pyloudnorm in level()

    over = np.abs(resample_poly(samples.astype(np.float64), 4, 1, axis=0)).max(axis=1)
    return over[: 4 * len(samples)].reshape(-1, 4).max(axis=1)


def _true_peak_db(samples: np.ndarray) -> float:
    """BS.1770-4 annex 2: the peak of the signal oversampled four times (inter-sample peaks included)."""
    peak = float(_true_peaks(samples).max()) if len(samples) else 0.0
    return 20 * math.log10(max(peak, 1e-9))


def write_wav(samples: np.ndarray, rate: int, path: str | os.PathLike[str]) -> Path:
    """24-bit PCM WAV, replacing `path` atomically (engine/atomic.py): never a partial file. A failure is
    an ExportError naming the file and why (a full disk, a read-only folder)."""
    path = Path(path)
    layout = "mono" if samples.shape[1] == 1 else "stereo"
    try:
        with atomic.replacing(path) as tmp, av.open(str(tmp), "w", format="wav") as wav:
            stream = wav.add_stream("pcm_s24le", rate=rate, layout=layout)
            # 24 bits in the top of 32-bit words, as FFmpeg's pcm_s24le encoder takes them.
            pcm = (np.clip(samples, -1.0, 1.0 - 2**-23) * 2**23).round().astype(np.int32) << 8
            for start in range(0, len(pcm), 8192):
                block = np.ascontiguousarray(pcm[start : start + 8192].reshape(1, -1))
                frame = av.AudioFrame.from_ndarray(block, format="s32", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
                wav.mux(stream.encode(frame))
            wav.mux(stream.encode(None))
    except (OSError, av.error.FFmpegError) as exc:
        raise ExportError(f"cannot write {path}: {atomic.disk_error(exc)}") from exc
    return path
