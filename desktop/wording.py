"""Counts in words: "1 track", "2 tracks", "1 folder is", "3 folders are"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and the noun in the number it takes ("1 track", "0 tracks", "2 matches" with its plural)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def bpm_cell(bpm: float | None, set_by_you: bool) -> str:
    """A track's tempo in a table: "72", "72*" where a person set it, "–" where no steady beat was heard."""
    return (f"{bpm:.0f}" + ("*" if set_by_you else "")) if bpm else "–"


def percent(done: int, total: int) -> str:
    return f"{100 * done // total} %" if total > 0 else ""
