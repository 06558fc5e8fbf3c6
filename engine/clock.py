"""Times as an editor reads them in a list or a message (minutes and seconds), and as they type them ("83.5",
"1:23.5", "00:01:23.500"): timeline timecodes with frames are the exporters' own, engine/export."""

from __future__ import annotations

import re

_TIMECODE = re.compile(r"^\s*(?:(?:(\d+):)?(\d{1,2}):)?(\d+(?:\.\d*)?|\.\d+)\s*$")


def clock(seconds: float, tenths: bool = False) -> str:
    """M:SS, whole seconds cut off, or M:SS.s rounded to the tenth before it is split into minutes, so that
    59.96 s reads 1:00.0 and never 0:60.0."""
    if not tenths:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}:{rest:02d}"
    minutes, rest = divmod(round(seconds * 10), 600)
    return f"{minutes}:{rest / 10:04.1f}"


def format_timecode(seconds: float) -> str:
    """HH:MM:SS.ss (hundredths: finer than any frame rate people cut at)."""
    seconds = max(0.0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(hours):02d}:{int(minutes):02d}:{secs:05.2f}"
    return text.replace(":60.00", ":59.99")  # rounding must never show an impossible second


def parse_timecode(text: str) -> float:
    """Seconds from `text`; ValueError with the accepted forms when it is not a timecode."""
    match = _TIMECODE.match(text)
    if not match:
        raise ValueError(f'"{text}" is not a timecode: type seconds (83.5) or [HH:]MM:SS[.ss] (1:23.5)')
    hours, minutes, secs = match.groups()
    if (hours or minutes) and float(secs) >= 60:
        raise ValueError(f'"{text}": seconds must be below 60 when minutes are given')
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs)
