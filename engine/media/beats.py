"""Beats, downbeats and fit-to-length, model-free, from the onset envelope the scan already computes.

Beats: dynamic programming over the onset envelope at the track's tempo (Ellis, "Beat Tracking by Dynamic
Programming", 2007): the beat sequence that lands on strong onsets while keeping close to the beat period.
Each beat is then moved to the onset peak nearest it, interpolated between envelope frames, so a beat is
placed to a few milliseconds rather than one 16 ms frame.

Downbeats: 4/4 is assumed; of the four phases a bar can start on, the one whose beats carry the most
harmonic change (chroma novelty: chords change on the bar) and the strongest onsets is taken.

Fit to length: a clip of `length` seconds wants music that ends on a strong beat exactly at its end, not cut
mid-bar. The out point is put on a downbeat near where the recommended segment would end, and the in point
`length` earlier, preferring an in point that itself falls on a beat and stays near the recommended start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.media.dsp import TrackAnalysis, onset_rate, tempo

TIGHTNESS = 100.0  # how strongly beat spacing is held to the period (Ellis's alpha)
BEATS_PER_BAR = 4
# Envelope frame k compares the window starting at k - 1 hops with the one before it; its flux peaks when an
# onset is a little past the window's centre. Measured on clicks at known times (tests/test_beats.py): an
# onset at t seconds peaks at frame t * fps - 2.83.
_ONSET_DELAY_FRAMES = 2.83


@dataclass(frozen=True)
class Beats:
    times: np.ndarray  # seconds, ascending
    downbeats: np.ndarray  # seconds, a subset of `times`
    bpm: float

    def to_json(self) -> dict:
        return {
            "bpm": round(self.bpm, 2),
            "beats": [round(float(t), 4) for t in self.times],
            "downbeats": [round(float(t), 4) for t in self.downbeats],
        }


def _frame_time(analysis: TrackAnalysis, frame: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(frame) + _ONSET_DELAY_FRAMES) / analysis.fps


def _track(envelope: np.ndarray, period: float) -> np.ndarray:
    """Frames of the best beat sequence through `envelope` at about `period` frames per beat."""
    spread = max(1.0, period / 32)
    kernel = np.exp(-0.5 * (np.arange(-int(4 * spread), int(4 * spread) + 1) / spread) ** 2)
    local = np.convolve(envelope / (envelope.std() + 1e-9), kernel, mode="same")
    n = len(local)
    score, back = local.copy(), np.full(n, -1)
    lags = np.arange(int(round(period / 2)), int(round(2 * period)) + 1)
    penalty = -TIGHTNESS * np.log(lags / period) ** 2
    for i in range(lags[0], n):
        candidates = i - lags
        valid = candidates >= 0
        if not valid.any():
            continue
        total = score[candidates[valid]] + penalty[valid]
        best = int(np.argmax(total))
        if total[best] > 0:
            score[i] += total[best]
            back[i] = candidates[valid][best]
    # End on the best-scoring frame of the last period, then follow the pointers back.
    tail = max(0, n - int(round(period)))
    i = tail + int(np.argmax(score[tail:]))
    frames = []
    while i >= 0:
        frames.append(i)
        i = back[i]
    return np.array(frames[::-1])


def _refine(envelope: np.ndarray, frames: np.ndarray, period: float) -> np.ndarray:
    """Each beat moved to the envelope peak within an eighth of a beat, interpolated between frames."""
    reach = max(1, int(period / 8))
    out = []
    for f in frames:
        lo, hi = max(1, f - reach), min(len(envelope) - 1, f + reach + 1)
        if hi - lo < 1:
            out.append(float(f))
            continue
        k = lo + int(np.argmax(envelope[lo:hi]))
        a, b, c = envelope[k - 1], envelope[k], envelope[min(k + 1, len(envelope) - 1)]
        curvature = a - 2 * b + c
        shift = float(np.clip(0.5 * (a - c) / curvature, -0.5, 0.5)) if curvature < 0 else 0.0
        out.append(k + shift)
    return np.array(out)


def _bar_phase(analysis: TrackAnalysis, times: np.ndarray, period_s: float) -> int:
    """Which of the first `BEATS_PER_BAR` beats starts a bar: where chords change and onsets are strongest."""
    if len(times) < 2 * BEATS_PER_BAR:
        return 0
    chroma, cfps = analysis.chroma, analysis.chroma_fps
    half = max(1, int(BEATS_PER_BAR * period_s * cfps))  # a bar either side: harmony changes from bar to bar

    def novelty(t: float) -> float:
        k = int(t * cfps)
        before, after = chroma[max(0, k - half) : k], chroma[k : k + half]
        if not len(before) or not len(after):
            return 0.0
        a, b = before.mean(axis=0), after.mean(axis=0)
        return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))

    env = analysis.envelope
    peaks = np.clip(np.round(times * analysis.fps - _ONSET_DELAY_FRAMES).astype(int), 1, len(env) - 2)
    strength = np.maximum(np.maximum(env[peaks - 1], env[peaks]), env[peaks + 1])
    strength = strength / (strength.mean() + 1e-9)
    change = np.array([novelty(t) for t in times])
    change = change / (change.mean() + 1e-9)
    score = [np.mean(change[p::BEATS_PER_BAR]) + np.mean(strength[p::BEATS_PER_BAR]) for p in range(BEATS_PER_BAR)]
    return int(np.argmax(score))


def track_beats(analysis: TrackAnalysis) -> Beats:
    """Beat and downbeat times of a whole analysed track (empty for music without a steady pulse)."""
    envelope = analysis.envelope.astype(np.float64)
    if len(envelope) < 8 or onset_rate(envelope, analysis.fps) == 0:  # a drone, silence: no pulse to follow
        return Beats(np.zeros(0), np.zeros(0), 0.0)
    bpm, clarity = tempo(envelope, analysis.fps)
    if bpm <= 0 or clarity <= 0.05:
        return Beats(np.zeros(0), np.zeros(0), 0.0)
    period = analysis.fps * 60.0 / bpm
    frames = _refine(envelope, _track(envelope, period), period)
    times = np.asarray(_frame_time(analysis, frames), dtype=np.float64)
    keep = (times >= 0) & (times <= analysis.duration)
    frames, times = frames[keep], times[keep]
    # The sequence runs on through silence at either end (a fade, a ring-out): drop the beats there.
    strength = envelope[np.clip(np.round(frames).astype(int), 0, len(envelope) - 1)]
    heard = np.flatnonzero(strength >= 0.1 * np.median(strength)) if len(strength) else []
    if len(heard):
        times = times[heard[0] : heard[-1] + 1]
    phase = _bar_phase(analysis, times, 60.0 / bpm)
    return Beats(times, times[phase::BEATS_PER_BAR], bpm)


def _distance_to_nearest(sorted_times: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each point, how far the nearest of `sorted_times` is (a binary search: tracks can be hours long)."""
    right = np.clip(np.searchsorted(sorted_times, points), 1, len(sorted_times) - 1) if len(sorted_times) > 1 else None
    if right is None:
        return np.abs(points - sorted_times[0])
    return np.minimum(np.abs(sorted_times[right] - points), np.abs(points - sorted_times[right - 1]))


@dataclass(frozen=True)
class Fit:
    start: float  # in point in the track, seconds
    end: float  # out point, on a downbeat (or a beat) when the track has them
    on_beat_start: bool
    on_downbeat_end: bool


def fit_to_length(beats: Beats, duration: float, near: float, length: float) -> Fit:
    """In and out points `length` seconds apart, ending on a downbeat close to `near + length`.

    Candidates are the downbeats (or, without them, beats) at which a `length`-long excerpt can end; each
    is scored by how far its in point is from `near` (the recommended start) and from the nearest beat.
    """
    if length <= 0:
        raise ValueError(f"the clip length must be positive, not {length}")
    if length >= duration:
        return Fit(0.0, duration, False, False)
    ends = beats.downbeats if len(beats.downbeats) else beats.times
    ends = ends[(ends >= length) & (ends <= duration)]
    if not len(ends):
        start = float(np.clip(near, 0.0, duration - length))
        return Fit(start, start + length, False, False)
    starts = ends - length
    beat_period = 60.0 / beats.bpm if beats.bpm else 1.0
    gaps = _distance_to_nearest(beats.times, starts) if len(beats.times) else np.full(len(starts), beat_period)
    # A bar away from the suggested start costs about as much as starting half a beat off the grid.
    cost = np.abs(starts - near) / (BEATS_PER_BAR * beat_period) + gaps / (0.5 * beat_period)
    best = int(np.argmin(cost))
    return Fit(float(starts[best]), float(ends[best]), bool(gaps[best] < 0.05), bool(len(beats.downbeats)))
