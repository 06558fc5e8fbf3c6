"""CMX 3600 EDL: OpenTimelineIO's cmx_3600 adapter, with the timecode count stated.

An EDL names its timecode count in an `FCM:` line, which the adapter leaves out, and the adapter counts
29.97 and 59.94 fps in drop-frame whatever the footage's own timecode says. This writes the FCM line and,
for a non-drop timeline at those rates, rewrites the timecodes in non-drop frames. An EDL has no room for
a second source under the picture, so it carries the picture cut only.
"""

from __future__ import annotations

import re

import opentimelineio as otio

from engine.export.edit import timeline_rate
from engine.export.rates import DROP_FRAME_RATES, FrameRate

_DROP_TIMECODE = re.compile(r"\b\d\d:\d\d:\d\d;\d\d\b")


def write(timeline: otio.schema.Timeline) -> str:
    rate = timeline_rate(timeline)
    picture_only = otio.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time)
    picture = timeline.video_tracks()[0].deepcopy()
    start = timeline.global_start_time
    if start is not None and start.value:
        # The adapter counts record timecode from zero: a gap as long as the start moves every event there.
        picture.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(start - start, start)))
    picture_only.tracks.append(picture)
    reels: dict[str, str] = {}  # source file -> its reel: one each, never shared, as a conform matches by reel
    for clip in picture_only.find_clips():
        source = clip.media_reference.target_url
        if source not in reels:
            reels[source] = _unused(reel(clip.name), {r.upper() for r in reels.values()})
        clip.metadata["cmx_3600"] = {"reel": reels[source]}
    text = otio.adapters.write_to_string(picture_only, "cmx_3600", rate=float(rate.fps))
    if rate.fps in DROP_FRAME_RATES and not rate.drop_frame:
        text = _DROP_TIMECODE.sub(lambda m: _non_drop(m.group(0), rate), text)
    count = "FCM: DROP FRAME" if rate.drop_frame else "FCM: NON-DROP FRAME"
    lines = text.splitlines()
    at = 1 if lines and lines[0].startswith("TITLE:") else 0
    return "\n".join([*lines[:at], count, *lines[at:]]) + "\n"


def reel(name: str) -> str:
    """A reel name from a file name: eight letters and digits, as CMX 3600 columns hold (no spaces)."""
    stem = name.rsplit(".", 1)[0]
    return (re.sub(r"[^A-Za-z0-9]", "", stem)[:8] or "AX").ljust(8)


def _unused(wanted: str, taken: set[str]) -> str:
    """`wanted`, or it with a number in its last places where another file has it already (`taken`, in
    capitals: a conform may match reels in any case)."""
    name, n = wanted, 1
    while name.upper() in taken:
        n += 1
        name = (wanted.rstrip()[: 8 - len(str(n))] + str(n)).ljust(8)
    return name


def _non_drop(timecode: str, rate: FrameRate) -> str:
    frame = otio.opentime.from_timecode(timecode, float(rate.fps))
    return otio.opentime.to_timecode(frame, float(rate.fps), False)
