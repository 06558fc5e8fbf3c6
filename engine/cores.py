"""How many cores this process may use, on every platform."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity where the platform has one (Linux, where a
    container or `taskset` may allow fewer than the machine has), else every core (macOS, Windows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no os.sched_getaffinity on macOS and Windows
        return max(1, os.cpu_count() or 1)
