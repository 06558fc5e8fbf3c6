"""Counts in words: "1 track", "2 tracks", "1 folder is", "3 folders are"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and the noun in the number it takes ("1 track", "0 tracks", "2 matches" with its plural)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def percent(done: int, total: int) -> str:
    return f"{100 * done // total} %" if total > 0 else ""
