"""Re-editing a track to a length on its own structure: which bars to play, in which order.

The unit is the bar (downbeat to downbeat). A plan plays bars in the track's order from a start bar and
may jump: after bar k it may go on with bar j instead of bar k + 1, skipping bars (shorter) or going back
to repeat them (longer). A jump costs more the less bar j sounds like the bar it replaces and the less the
bar before j sounds like bar k (`similarity`, chroma and timbre per bar), so the music is cut where it
repeats itself, as an editor cutting on the beat would. Jumps are at least `MIN_RUN` bars apart, so no
passage is chopped up, but for a start in the track's last `MIN_RUN` bars, whose run reaches the last bar
sooner: there the last bar may go back, or the edit could only end in silence.

A plan ends in one of two ways:
- the track's own ending: the last bar and everything after it (its ring-out), when the plan reaches it
  within a bar before the target length (silence then fills the rest);
- a fade that ends on a downbeat within half a bar before the target length, or, when the nearest downbeat
  is further from it (up to `OVER_BARS` bars), that plays on past the downbeat and ends at the length;
  used when no plan reaches the ending well enough. The natural ending is preferred (`FADE_COST`).

Dynamic programming over (bars played, bar, bars since the last jump) finds the cheapest plan; the
rendered length is then made exact to the sample by the silence after the ending (`render`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MIN_RUN = 4  # bars played between jumps
JUMP_COST = 0.35  # every jump, however smooth: fewer edits are better
UNLIKE_COST = 4.0  # a jump between bars with nothing alike: worse than any fade ending
FADE_COST = 1.5  # a fade-out rather than the track's own ending: worth one jump between bars at least 0.7 alike
SHORT_COST = 0.5  # per bar of silence left after the ending
OVER_BARS, OVER_COST = 2, 0.25  # a fade may play on this many bars past the last downbeat, at this cost per bar
HARMONY_WEIGHT = 0.7  # of the bar similarity: harmony, the rest timbre
# What a step in level (dB), brightness (share of power above 2 kHz), onset strength and drum hits (share of
# treble bins) is worth: one unit each is a clearly different sound.
TIMBRE_SCALE = np.array([3.0, 0.05, 0.02, 0.05])


@dataclass(frozen=True)
class Piece:
    """Source seconds [start, end) played from output second `at`."""

    start: float
    end: float
    at: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Join:
    at: float  # output seconds
    leaves: float  # source seconds where the music leaves (a downbeat)
    enters: float  # source seconds where it goes on (a downbeat)
    similarity: float  # 0..1, of the bars either side (see the module docstring)


@dataclass(frozen=True)
class Plan:
    pieces: list[Piece]
    joins: list[Join]
    ending: str  # "natural" (the track's own ending, or the track's end) or "fade" (a fade-out)
    music_length: float  # seconds of music before the silence that makes up the length
    cost: float
    fade: tuple[float, float] | None = None  # output seconds of the fade ending, if any
    bars: list[int] = field(default_factory=list)  # the bars played, in order (indices into the downbeats)


def bar_similarity(chroma: np.ndarray, timbre: np.ndarray) -> np.ndarray:
    """(bars, bars) how alike two bars sound, 0..1: the correlation of their pitch-class profiles (the
    track's mean profile removed, so the key every bar shares says nothing) and the nearness of their level,
    brightness, onsets and hits, in fixed units (`TIMBRE_SCALE`) so a loop's tiny variations stay tiny."""
    centred = chroma - chroma.mean(axis=0)
    unit = centred / (np.linalg.norm(centred, axis=1, keepdims=True) + 1e-9)
    harmony = np.clip((unit @ unit.T + 1.0) / 2.0, 0.0, 1.0)
    scaled = timbre / TIMBRE_SCALE
    distance = np.sqrt(((scaled[:, None, :] - scaled[None, :, :]) ** 2).sum(axis=2))
    return HARMONY_WEIGHT * harmony + (1 - HARMONY_WEIGHT) * np.exp(-distance)


def plan_edit(downbeats: np.ndarray, duration: float, similarity: np.ndarray, start_bar: int, length: float) -> Plan:
    """The cheapest plan of `length` seconds from bar `start_bar` (see the module docstring).

    `downbeats` are the bar starts in seconds; bar k lasts until downbeat k + 1, and the last downbeat
    starts the ending, which lasts until `duration`. `similarity` is `bar_similarity` of the bars.
    """
    bars = len(downbeats) - 1  # full bars; the last downbeat starts the ending
    if bars < 1 or not 0 <= start_bar < bars:
        raise ValueError("a track needs at least two downbeats, and the start must be one of its bars")
    lengths = np.diff(downbeats)
    ending = duration - downbeats[-1]
    bar = float(np.median(lengths))
    steps = max(1, math.ceil(length / float(lengths.min())) + 1)
    cost_of_jump = _jump_costs(similarity, bars)
    late_start = bars - start_bar < MIN_RUN

    # cost[r, k]: the cheapest plan that has just played bar k, r bars after its last jump (r = MIN_RUN: free
    # to jump); played[r, k]: how long that plan is. The start counts as a jump.
    cost = np.full((MIN_RUN + 1, bars), np.inf)
    played = np.zeros((MIN_RUN + 1, bars))
    cost[1, start_bar], played[1, start_bar] = 0.0, lengths[start_bar]
    back: list[np.ndarray] = []  # per step: the (r, k) each state came from
    best = None
    for step in range(1, steps + 1):
        best = _better(best, _endings(cost, played, lengths, ending, length, bar, step))
        if step == steps:
            break
        cost, played, came_from = _advance(cost, played, lengths, cost_of_jump, length + bar, late_start)
        back.append(came_from)
    if best is None:  # shorter than a bar or two: no bar structure to keep, so a plain cut with a fade
        return trimmed(float(downbeats[start_bar]), duration, length, bar)
    return _trace(best, back, downbeats, duration, similarity, lengths, ending)


def trimmed(start: float, duration: float, length: float, bar: float = 2.0) -> Plan:
    """No re-edit: the track from `start`, cut at `length` with a fade of up to half a bar, or to its end."""
    end = min(duration, start + length)
    fade = None
    if start + length < duration:
        fade = (length - min(bar / 2, length / 2), length)
    kind = "fade" if fade else "natural"
    return Plan([Piece(start, end, 0.0)], [], kind, end - start, 0.0, fade)


def _jump_costs(similarity: np.ndarray, bars: int) -> np.ndarray:
    """(from k, to j): the cost of playing bar j after bar k instead of bar k + 1."""
    costs = np.full((bars, bars), np.inf)
    for k in range(bars):
        follows = min(k + 1, len(similarity) - 1)  # the bar that would have come next (or the ending's)
        for j in range(bars):
            if j == k + 1:
                continue
            alike = similarity[follows, j]
            if j > 0:
                alike = (alike + similarity[k, j - 1]) / 2
            costs[k, j] = JUMP_COST + (1.0 - alike) * UNLIKE_COST
    return costs


def _advance(cost, played, lengths, cost_of_jump, limit, last_bar_free=False):
    """One more bar: on to the next bar, or a jump from a state free to jump (with `last_bar_free`, the last
    bar is, whatever its run)."""
    runs, bars = cost.shape
    new_cost = np.full_like(cost, np.inf)
    new_played = np.zeros_like(played)
    came_from = np.full((runs, bars, 2), -1, dtype=np.int64)
    for r in range(1, runs):  # on to the next bar: one bar further from the last jump
        onto = min(r + 1, runs - 1)
        take = cost[r, :-1] + 0.0
        better = take < new_cost[onto, 1:]
        idx = np.nonzero(better)[0]
        new_cost[onto, idx + 1] = take[idx]
        new_played[onto, idx + 1] = played[r, idx] + lengths[idx + 1]
        came_from[onto, idx + 1] = np.stack([np.full(len(idx), r), idx], axis=1)
    run_of = np.full(bars, runs - 1)  # a jump, only after MIN_RUN bars
    if last_bar_free:
        run_of[-1] = 1 + int(np.argmin(cost[1:, -1]))
    free = cost[run_of, np.arange(bars)]
    total = free[:, None] + cost_of_jump
    if run_of[-1] < runs - 1:  # a short run goes back far enough to play a full one before the last bar again
        total[-1, max(0, bars - MIN_RUN) + 1 :] = np.inf
    k = np.argmin(total, axis=0)
    jump = total[k, np.arange(bars)]
    better = jump < new_cost[1]
    j = np.nonzero(better)[0]
    new_cost[1, j] = jump[j]
    new_played[1, j] = played[run_of[k[j]], k[j]] + lengths[j]
    came_from[1, j] = np.stack([run_of[k[j]], k[j]], axis=1)
    new_cost[new_played > limit] = np.inf  # longer than the target: no ending can follow
    return new_cost, new_played, came_from


@dataclass(frozen=True)
class _End:
    cost: float
    step: int
    run: int
    bar: int
    kind: str
    music: float


def _endings(cost, played, lengths, ending, length, bar, step) -> _End | None:
    """The cheapest way to end after `step` bars: the track's ending after its last bar, or a fade."""
    best = None
    bars = cost.shape[1]
    after = np.append(np.cumsum(lengths[::-1])[::-1][1:], 0.0) + ending  # the music after each bar, to the end
    for r in range(cost.shape[0]):
        # The track's own ending follows its last full bar; it may leave up to a bar of silence.
        natural = played[r, bars - 1] + ending
        gap = length - natural
        if np.isfinite(cost[r, bars - 1]) and -1e-6 <= gap <= bar:
            best = _better(
                best, _End(cost[r, bars - 1] + SHORT_COST * gap / bar, step, r, bars - 1, "natural", natural)
            )
        # A fade ending on the downbeat after the bar just played when it falls within half a bar before
        # the length; up to a bar before, the music goes on past that downbeat and fades out at the length.
        gaps = length - played[r]
        ok = np.isfinite(cost[r]) & (gaps >= -1e-6) & (gaps <= OVER_BARS * bar)
        for k in np.nonzero(ok)[0]:
            over = gaps[k] > bar / 2  # music follows the bar (the ending follows the last), so it can play on
            # ... as long as there is music after it: a short ring-out ends the fade early, as a natural
            # ending may, up to a bar before the length.
            music = min(length, played[r, k] + after[k]) if over else played[r, k]
            short = length - music
            if short > bar:
                continue
            penalty = OVER_COST * (music - played[r, k]) / bar + SHORT_COST * short / bar
            end = _End(cost[r, k] + FADE_COST + penalty, step, r, int(k), "fade", music)
            best = _better(best, end)
    return best


def _better(a: _End | None, b: _End | None) -> _End | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.cost < a.cost else a


def _trace(end: _End, back, downbeats, duration, similarity, lengths, ending) -> Plan:
    sequence = [end.bar]
    run, bar = end.run, end.bar
    for came_from in reversed(back[: end.step - 1]):
        run, bar = (int(x) for x in came_from[run, bar])
        sequence.append(bar)
    sequence.reverse()
    pieces, joins, at = [], [], 0.0
    start = sequence[0]
    for previous, current in zip(sequence, sequence[1:] + [None]):
        if current == previous + 1:
            continue
        last = previous
        stop = float(downbeats[last + 1])
        if current is None:  # the last piece: on to the track's end, or on into the fade past its downbeat
            stop = (
                duration
                if end.kind == "natural"
                else min(duration, stop + end.music - (at + stop - float(downbeats[start])))
            )
        pieces.append(Piece(float(downbeats[start]), stop, at))
        at += stop - float(downbeats[start])
        if current is not None:
            follows = min(last + 1, len(similarity) - 1)
            joins.append(
                Join(at, float(downbeats[last + 1]), float(downbeats[current]), float(similarity[follows, current]))
            )
            start = current
    fade = None
    if end.kind == "fade":
        fade_length = min(float(np.median(lengths)) / 2, end.music / 2)
        fade = (end.music - fade_length, end.music)
    return Plan(pieces, joins, end.kind, end.music, end.cost, fade, sequence)
