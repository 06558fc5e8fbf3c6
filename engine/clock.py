"""Times as an editor reads them in a list or a message: minutes and seconds (timeline timecodes with frames are
the exporters' own, engine/export)."""

from __future__ import annotations


def clock(seconds: float, tenths: bool = False) -> str:
    """M:SS, whole seconds cut off, or M:SS.s rounded to the tenth before it is split into minutes, so that
    59.96 s reads 1:00.0 and never 0:60.0."""
    if not tenths:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}:{rest:02d}"
    minutes, rest = divmod(round(seconds * 10), 600)
    return f"{minutes}:{rest / 10:04.1f}"
