"""The placing stage, after the explanations: where each result's music starts.

The best segment says which part of a track matched; it is often the outro (the last segment of a track
ends with it). Under a clip, the in point is the one `engine.media.beats.fit_to_length` gives for the
clip's length near the best segment's start: on a downbeat near a phrase start, early enough that the
music still plays, beat on beat, when the clip ends. The export fits an in point with the same function, which
returns an in point it gave unchanged, and the app's preview plays the result's start: the three agree.

Without a clip (a prompt alone, "more like this"), the start stays the best segment's unless less than
`MIN_LEFT` seconds (or a segment) of music would remain, or it falls well before the music's first beat
(in the silence before the music: a segment is indexed while any of it plays); it is then fitted as for a
clip that long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine.media.beats import Beats, fit_to_length, music_end, music_start
from engine.recommend.result import Result

MIN_LEFT = 15.0  # seconds of music a start without a clip leaves at least (a short cue's worth)
LEAD_IN = 2.0  # seconds before the first beat a start may fall (a pickup, a breath), not a silent gap


def placed(
    results: list[Result], beats_of: Callable[[int], Beats], length: float | None, segment_seconds: float = 0.0
) -> list[Result]:
    """`results` with their start and end where the music is to play: under a clip `length` seconds long,
    or, with no clip (`length` None), leaving at least `MIN_LEFT` or `segment_seconds` of music."""
    return [_place(r, beats_of(r.track_id), length, segment_seconds) for r in results]


def _place(result: Result, beats: Beats, length: float | None, segment_seconds: float) -> Result:
    if length is not None:
        fit = fit_to_length(beats, result.duration, result.start, length)
        return replace(result, start=fit.start, end=fit.end, short_by=round(fit.short_by, 3))
    least = min(max(MIN_LEFT, segment_seconds), result.duration)
    in_the_music = result.start >= music_start(beats) - LEAD_IN
    if in_the_music and result.start + least <= max(music_end(beats, result.duration), least):
        return result
    fit = fit_to_length(beats, result.duration, result.start, least)
    part = max(result.end - result.start, 0.0)
    return replace(result, start=fit.start, end=min(fit.start + part, result.duration))
