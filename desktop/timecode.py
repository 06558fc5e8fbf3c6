"""Timecodes as editors type them: "83.5", "1:23.5", "00:01:23.500", "1:02:03"."""

from __future__ import annotations

import re

_TIMECODE = re.compile(r"^\s*(?:(?:(\d+):)?(\d{1,2}):)?(\d+(?:\.\d*)?|\.\d+)\s*$")


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
