"""The error training raises on purpose: bad input a user can act on, reported by `python -m training` as one line."""

from __future__ import annotations

from engine.errors import NeedledropError


class TrainingError(NeedledropError, ValueError):
    """Bad input to training: too few pairs or videos, a missing or malformed file, a bad setting.

    A ValueError too, so callers that caught the ValueErrors these used to be keep working.
    """
