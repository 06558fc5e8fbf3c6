"""Beats, downbeats and fit-to-length, from the beat tracker's activations where the scan ran it, otherwise
model-free from the onset envelope.

Beats: dynamic programming at the track's tempo (Ellis, "Beat Tracking by Dynamic Programming", 2007): the
beat sequence that lands on strong beat activation (or onsets) while keeping close to the beat period.
On the activation (20 ms frames), each beat is placed at the peak of the frame chosen, interpolated; on the
envelope, it is moved to the onset peak nearest it, so a beat is placed to a few milliseconds rather than
one 16 ms frame. The activation places them better: on the pieces of three packaged soundtracks, written in
MIDI or LMMS projects whose beats are known, it hit more of the written quarter notes (tests/bench/bench_beats.py).

Downbeats: 4/4 is assumed. Of the four phases a bar can start on, the one whose beats carry the most
downbeat activation and harmonic change (chroma novelty: chords change on the bar) is taken; without the
tracker, the most harmonic change and the strongest onsets.

Fit to length: a clip of `length` seconds wants music that starts where a phrase does and lasts the whole
clip. The in point is a stored downbeat, preferably one that starts a 4- or 8-bar phrase counted from the
first downbeat, near the recommended start, and early enough that the music still plays when the clip
ends: within a beat of the last beat heard (no beat is kept where the track has faded or rung out into
silence), before a fade-out begins (`fade_start`: where the level last stands within `FADE_DB` of the
track's body, when it then falls steadily to `FADE_DEPTH_DB` below it), and `TAIL_SECONDS` before the file
ends. The recommendation, the app's preview and the export all take their in point from `fit_to_length`,
so what is heard is what is exported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from engine.media.dsp import Descriptors, TrackAnalysis, descriptors, onset_rate

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
    fade_at: float | None = None  # where a fade-out begins (`fade_start`); None: no fade, or not measured
    # Where the measured beats start and the music was last heard, when the beats are at a tempo a person
    # set (counted by `at_tempo`, or followed again: `Library.beats`): the music plays where it did, whichever
    # beats count it.
    heard: tuple[float, float] | None = None

    def to_json(self) -> dict:
        return {
            "bpm": round(self.bpm, 2),
            "beats": [round(float(t), 4) for t in self.times],
            "downbeats": [round(float(t), 4) for t in self.downbeats],
            "fade_at": None if self.fade_at is None else round(self.fade_at, 3),
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


def _refine(envelope: np.ndarray, frames: np.ndarray, reach: int) -> np.ndarray:
    """Each beat moved to the highest frame within `reach` frames, and to its peak interpolated between frames."""
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


def _near_max(values: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """At each of `frames`, the most `values` hold within a frame of it (a beat falls between two frames)."""
    return np.max([values[np.clip(frames + k, 0, len(values) - 1)] for k in (-1, 0, 1)], axis=0)


def _by_phase(values: np.ndarray) -> np.ndarray:
    """The mean of `values` (one a beat) over each of the `BEATS_PER_BAR` phases a bar can start on, as
    z-scores across the phases: how much more each phase has than the others."""
    means = np.array([np.mean(values[p::BEATS_PER_BAR]) for p in range(BEATS_PER_BAR)])
    return (means - means.mean()) / (means.std() + 1e-9)


def _bar_phase(analysis: TrackAnalysis, times: np.ndarray, period_s: float) -> int:
    """Which of the first `BEATS_PER_BAR` beats starts a bar: where the beat tracker hears downbeats and
    chords change, or without the tracker where chords change and onsets are strongest."""
    if len(times) < 2 * BEATS_PER_BAR:
        return 0
    change = _harmonic_change(analysis, times, period_s)
    if analysis.downbeats is not None:
        frames = np.clip(np.round(times * analysis.beat_fps).astype(int), 0, len(analysis.downbeats) - 1)
        # Rhythm and harmony count alike: either may be all that marks a bar (a drum fill, a bass that
        # changes on the bar under an even melody). On OpenMSX's pieces any weight from 0 to 2 on the harmony
        # places as many bars right, to within two pieces (tests/bench/bench_beats.py).
        return int(np.argmax(_by_phase(_near_max(analysis.downbeats, frames)) + _by_phase(change)))
    env = analysis.envelope
    peaks = np.clip(np.round(times * analysis.fps - _ONSET_DELAY_FRAMES).astype(int), 1, len(env) - 2)
    strength = _near_max(env, peaks)
    strength = strength / (strength.mean() + 1e-9)
    change = change / (change.mean() + 1e-9)
    score = [np.mean(change[p::BEATS_PER_BAR]) + np.mean(strength[p::BEATS_PER_BAR]) for p in range(BEATS_PER_BAR)]
    return int(np.argmax(score))


def _harmonic_change(analysis: TrackAnalysis, times: np.ndarray, period_s: float) -> np.ndarray:
    """At each beat, how much the harmony of the bar after it differs from the bar before (cosine distance
    of their mean chroma): chords change on the bar."""
    chroma, cfps = analysis.chroma, analysis.chroma_fps
    half = max(1, int(BEATS_PER_BAR * period_s * cfps))  # a bar either side: harmony changes from bar to bar

    def novelty(t: float) -> float:
        k = int(t * cfps)
        before, after = chroma[max(0, k - half) : k], chroma[k : k + half]
        if not len(before) or not len(after):
            return 0.0
        a, b = before.mean(axis=0), after.mean(axis=0)
        return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))

    return np.array([novelty(t) for t in times])


# A fade-out, read from the level over time (mean square per envelope frame, averaged over LEVEL_WINDOW):
FADE_DB = 6.0  # the fade has begun once the level is this far below the track's body (its median level)
FADE_DEPTH_DB = 15.0  # ... if it goes on to end at least this far below it
FADE_MIN_SECONDS = 3.0  # and takes at least this long (a cut to silence drops within one window)
FADE_FALLING = 0.8  # the share of seconds on the way down in which the level falls: a fade, not a quiet coda
LEVEL_WINDOW = 2.0  # seconds
AUDIBLE_DB = 60.0  # below the loudest reading by more than this: silence (the file's trailing digital zeros)


def _levels(analysis: TrackAnalysis, n: int) -> np.ndarray:
    """The level in dB over `n` envelope frames: reading i covers frames i..i+n-1."""
    power = np.asarray(analysis.power, np.float64)
    return 10 * np.log10(np.convolve(power, np.ones(n) / n, mode="valid") + 1e-20)


def fade_start(analysis: TrackAnalysis) -> float | None:
    """Seconds into the track where a fade-out (or a long ring-out) begins: the last moment the level stands
    within `FADE_DB` of the body of the track, when what follows falls steadily, for `FADE_MIN_SECONDS` or
    more, to `FADE_DEPTH_DB` or more below the body. None for an ending that does not fade (a cut, a final
    chord at full level, a quiet coda that stays quiet)."""
    n = max(1, int(round(LEVEL_WINDOW * analysis.fps)))
    if len(analysis.power) < 4 * n:
        return None
    level = _levels(analysis, n)
    audible = np.flatnonzero(level > level.max() - AUDIBLE_DB)
    body = float(np.median(level[audible]))
    last = int(audible[-1])
    loud = np.flatnonzero(level[: last + 1] >= body - FADE_DB)
    if not len(loud):
        return None
    begin = int(loud[-1])
    tail = level[begin : last + 1]
    if (last - begin) / analysis.fps < FADE_MIN_SECONDS or tail.min() > body - FADE_DEPTH_DB:
        return None
    steps = tail[:: max(1, int(round(analysis.fps)))]  # a reading a second: beats move the level within one
    if np.mean(np.diff(steps) < 0) < FADE_FALLING:
        return None
    return float((begin + n / 2) / analysis.fps)  # the middle of the last window at the body's level


def _audible(analysis: TrackAnalysis, times: np.ndarray) -> np.ndarray:
    """Whether anything is heard at each time: the level over the `LEVEL_WINDOW` around it within
    `AUDIBLE_DB` of the loudest such level (trailing digital zeros, a long silence, are not)."""
    if not len(analysis.power) or not len(times):
        return np.ones(len(times), bool)
    n = max(1, min(len(analysis.power), int(round(LEVEL_WINDOW * analysis.fps))))
    level = _levels(analysis, n)
    readings = np.clip(np.round(times * analysis.fps).astype(int) - n // 2, 0, len(level) - 1)
    return level[readings] > level.max() - AUDIBLE_DB


def track_beats(analysis: TrackAnalysis, measured: Descriptors | None = None, *, bpm: float | None = None) -> Beats:
    """Beat and downbeat times of a whole analysed track (empty for music without a steady pulse), at the
    tempo of its descriptors (`measured`, computed when not given): the one tempo the track shows. With
    `bpm`, followed at that tempo instead: one a person set, where the scan read none of its levels."""
    envelope = analysis.envelope.astype(np.float64)
    fade = fade_start(analysis)
    if len(envelope) < 8 or onset_rate(envelope, analysis.fps) == 0:  # a drone, silence: no pulse to follow
        return Beats(np.zeros(0), np.zeros(0), 0.0, fade)
    measured = measured or descriptors(analysis)
    bpm, clarity = bpm or measured.tempo_bpm, measured.pulse_clarity
    if bpm <= 0 or clarity <= 0.05:
        return Beats(np.zeros(0), np.zeros(0), 0.0, fade)
    if analysis.beats is not None:
        followed, fps = analysis.beats.astype(np.float64), analysis.beat_fps
        period = fps * 60.0 / bpm
        frames = _refine(followed, _track(followed, period), 0)
        times = frames / fps  # the tracker's frame k is centred on k hops
    else:
        followed, fps = envelope, analysis.fps
        period = fps * 60.0 / bpm
        frames = _refine(followed, _track(followed, period), max(1, int(period / 8)))
        times = np.asarray(_frame_time(analysis, frames), dtype=np.float64)
    inside = (times >= 0) & (times <= analysis.duration)
    frames, times = frames[inside], times[inside]
    # The sequence runs on through silence at either end (a fade, a ring-out): drop the beats where nothing
    # is heard. Where it starts, what it follows says so (the onset envelope cannot: its first frame has no
    # frame before it to rise from, so music that starts at 0 s shows no onset there); where it ends, the
    # onsets (the tracker expects beats to go on after the music stops).
    # Each is measured against the median beat where something is heard: over the beats of a file that is
    # mostly silence, the median is silence's, and every beat would pass.
    followed_strength = followed[np.clip(np.round(frames).astype(int), 0, len(followed) - 1)]
    at = np.round(times * analysis.fps - _ONSET_DELAY_FRAMES).astype(int)
    onset_strength = _near_max(envelope, at)
    heard = _audible(analysis, times)
    if heard.any():
        first = np.flatnonzero(heard & (followed_strength >= 0.1 * np.median(followed_strength[heard])))
        last = np.flatnonzero(heard & (onset_strength >= 0.1 * np.median(onset_strength[heard])))
        times = times[first[0] : last[-1] + 1] if len(first) and len(last) else times[:0]
    else:
        times = times[:0]
    phase = _bar_phase(analysis, times, 60.0 / bpm)
    return Beats(times, times[phase::BEATS_PER_BAR], bpm, fade)


# The metrical levels a person may move a track's tempo to (`Library.set_tempo`), as multiples of the tempo
# the scan measured: the beat tracker's misses are the written tempo's half, double, two thirds and three
# halves (docs/quality.md, *Tempo*), and a correction may be corrected again.
TEMPO_RATIOS = tuple(
    Fraction(p, q) for p, q in ((1, 4), (1, 3), (1, 2), (2, 3), (3, 4), (1, 1), (4, 3), (3, 2), (2, 1), (3, 1), (4, 1))
)
RATIO_TOLERANCE = 0.04  # as near as a tempo reading counts as right (bench_tempo.py)
# A tempo set this near a level of the measured one is that level, its beats counted from the measured ones:
# a level chosen from a menu, or the number shown typed again. Further off (a tempo tapped, or typed from a
# score), the person heard another tempo, and the beats are followed again at it (`track_beats` with `bpm`):
# tapping 67.5 on a piece written at 66 and measured at 139.5 is not a slip from its half, 69.75.
LEVEL_SET_WITHIN = 0.01


def tempo_ratio(bpm: float, measured: float, tolerance: float = RATIO_TOLERANCE) -> Fraction | None:
    """The metrical level of `measured` that `bpm` is, within `tolerance`, or None."""
    if not (measured > 0 and bpm > 0 and math.isfinite(bpm)):
        return None
    ratio = min(TEMPO_RATIOS, key=lambda r: abs(math.log(bpm / (measured * r))))
    return ratio if abs(bpm / (measured * ratio) - 1) <= tolerance else None


def heard_span(beats: Beats) -> tuple[float, float] | None:
    """Where the measured beats start and the music was last heard (a beat after the last): kept when the
    beats are counted at another tempo, as the music plays where it did."""
    if beats.heard is not None or not len(beats.times) or beats.bpm <= 0:
        return beats.heard
    return float(beats.times[0]), float(beats.times[-1]) + 60.0 / beats.bpm


def at_tempo(beats: Beats, bpm: float) -> Beats:
    """The same pulse counted at `bpm`, a metrical level of the measured tempo (`tempo_ratio`): every other
    beat kept for a half, a beat between each two for a double, and so on; bars of four of the new beats,
    starting where most of the measured downbeats fall. A tempo at no such level changes only the number."""
    ratio = tempo_ratio(bpm, beats.bpm)
    if ratio is None or ratio == 1 or len(beats.times) < 2:
        return replace(beats, bpm=bpm)
    n, step = len(beats.times), 1 / ratio  # new beats fall every `step` measured beats
    heard = heard_span(beats)
    measured_downs = np.flatnonzero(np.isin(beats.times, beats.downbeats))
    # Where the new grid meets the measured beats (every `step.numerator` of them), on the measured bars.
    phase = max(range(step.numerator), key=lambda f: (np.sum((measured_downs - f) % step.numerator == 0), -f))
    first, last = math.ceil(-phase / step), math.floor((n - 1 - phase) / step)
    positions = phase + np.arange(first, last + 1) * float(step)
    times = np.interp(positions, np.arange(n), beats.times)
    whole = np.isclose(positions, np.round(positions))
    on_bar = np.flatnonzero(whole & np.isin(np.round(positions), measured_downs))
    if not len(on_bar):
        return Beats(times, times[:0], bpm, beats.fade_at, heard)
    counts = np.bincount(on_bar % BEATS_PER_BAR, minlength=BEATS_PER_BAR)
    bar = next(int(i % BEATS_PER_BAR) for i in on_bar if counts[i % BEATS_PER_BAR] == counts.max())
    return Beats(times, times[bar::BEATS_PER_BAR], bpm, beats.fade_at, heard)


@dataclass(frozen=True)
class Fit:
    start: float  # in point in the track, seconds
    end: float  # out point: `start + length`, or the track's end when it is shorter than the clip
    on_downbeat: bool  # the in point is one of the track's downbeats
    phrase_start: bool  # ... and one that starts a 4-bar phrase, counted from the first downbeat
    short_by: float = 0.0  # seconds at the end of the clip without music: the track, or its music, is shorter


TAIL_SECONDS = 2.0  # the music under a clip stops at least this long before the file does (a ring-out)
SHORT_TOLD = 0.5  # seconds of a clip without music from which a front end is told (`short_by`)
# What moving the in point costs, per bar, against starting off a phrase: a start two bars after the
# suggested one costs as much as a downbeat that starts no phrase; starting earlier costs half as much
# (the clip then still plays the recommended part, from a little before it).
LATE_COST, EARLY_COST = 0.25, 0.125
OFF_PHRASE_COST = {8: 0.0, 4: 0.2, 1: 0.5}  # a start on an 8-bar phrase, a 4-bar one, any other downbeat


def heard_until(beats: Beats) -> float | None:
    """Where the music was last measured playing: a beat after the last beat heard (a fade-out, a ring-out
    or silence has none), or where a fade-out begins, whichever is first; None when neither was measured."""
    span = heard_span(beats)
    ends = [] if span is None else [span[1]]
    if beats.fade_at is not None:
        ends.append(beats.fade_at)
    return min(ends, default=None)


def music_end(beats: Beats, duration: float) -> float:
    """Where the music can be counted on to play until: where it was last heard (`heard_until`), and
    `TAIL_SECONDS` before the end of the file."""
    heard = heard_until(beats)
    return duration - TAIL_SECONDS if heard is None else min(duration - TAIL_SECONDS, heard)


def fit_to_length(beats: Beats, duration: float, near: float, length: float) -> Fit:
    """The in point for `length` seconds of music near `near` (the recommended start): on a downbeat,
    preferably at a phrase start, and early enough that the music lasts the clip (see the module's doc).

    Idempotent: fitting the in point it returns gives that in point again (the cost of a move is a
    one-sided distance, and ties go to the nearer start), so a front end may fit an in point twice.
    A track shorter than the clip starts at 0 and says how much of the clip its music leaves uncovered; so
    does one whose music is shorter than the clip (a long ring-out or silence after it), from where its music
    starts.
    """
    if length <= 0:
        raise ValueError(f"the clip length must be positive, not {length}")
    if length >= duration:  # all of it, and what of the clip neither the file nor its music lasts
        return Fit(0.0, duration, False, False, max(length - duration, without_music(beats, 0.0, length)))
    top = music_start(beats)
    heard = heard_until(beats)
    if heard is not None and heard - top < length:
        return _from_the_top(beats, duration, length, top)
    latest = (music_end(beats, duration) - length, duration - length)  # the music lasts: well, or at all
    bar = bar_seconds(beats)
    downbeats = np.asarray(beats.downbeats, np.float64)
    phrase = np.full(len(downbeats), OFF_PHRASE_COST[1])
    phrase[::4] = OFF_PHRASE_COST[4]
    phrase[::8] = OFF_PHRASE_COST[8]
    for limit in latest:
        for times, costs in ((downbeats, phrase), (np.asarray(beats.times, np.float64), None)):
            ok = (times >= 0) & (times <= limit + 1e-9)
            if not ok.any():
                continue
            starts = times[ok]
            moved = (LATE_COST * np.maximum(starts - near, 0) + EARLY_COST * np.maximum(near - starts, 0)) / bar
            cost = moved + (costs[ok] if costs is not None else OFF_PHRASE_COST[1])
            best = int(np.lexsort((np.abs(starts - near), np.round(cost, 9)))[0])
            start = float(starts[best])
            on_downbeat = costs is not None
            return Fit(start, start + length, on_downbeat, bool(on_downbeat and costs[ok][best] < OFF_PHRASE_COST[1]))
    # No beat early enough (a drone, or a clip nearly as long as the track): as near as the end allows.
    limit = latest[0] if latest[0] >= 0 else latest[1]
    start = float(np.clip(near, 0.0, limit))
    return Fit(start, start + length, False, False)


def bar_seconds(beats: Beats) -> float:
    """How long a bar lasts at the track's tempo (2 s where it has none): the unit a fitted start moves in."""
    return BEATS_PER_BAR * 60.0 / beats.bpm if beats.bpm > 0 else 2.0


def music_start(beats: Beats) -> float:
    """Where the music starts: its first beat heard (a downbeat where a bar starts the music; music that
    opens before its first bar keeps those beats, since it cannot last the clip), else the file's start."""
    if beats.heard is not None:
        return beats.heard[0]
    return float(beats.times[0]) if len(beats.times) else 0.0


def _from_the_top(beats: Beats, duration: float, length: float, top: float) -> Fit:
    """No start lets the music last the clip: the one that keeps most of it under the clip, where it starts,
    and how many seconds at the clip's end are left without it (`short_by`)."""
    start = min(top, duration - length)
    on_downbeat = bool(len(beats.downbeats)) and start == float(beats.downbeats[0])
    return Fit(start, start + length, on_downbeat, on_downbeat, without_music(beats, start, length))


def without_music(beats: Beats, start: float, length: float) -> float:
    """Seconds at the end of a clip `length` long, its music from `start`, that the music was not measured
    playing under (`heard_until`); 0 under `SHORT_TOLD`, within what "a beat after the last beat" can say."""
    heard = heard_until(beats)
    missing = 0.0 if heard is None else min(length, max(start + length - heard, 0.0))
    return missing if missing >= SHORT_TOLD else 0.0
