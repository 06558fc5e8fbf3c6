"""What every command shares: opening the engine, and argument types that refuse nonsense up front."""

from __future__ import annotations

import argparse
import json
import math
import sys

from engine.clock import parse_timecode
from engine.facade import Engine
from engine.records import to_json


def open_engine(args: argparse.Namespace, *, prepare_index: bool = True) -> Engine:
    return Engine(args.data_dir, prepare_index=prepare_index)


def _seconds(text: str) -> float:
    """Seconds, or minutes and seconds as the app takes them ("83.5", "1:23.5", "00:01:23.5"); a number the
    caller then judges ("-5", "nan"), as every number is."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_timecode(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds(text: str) -> float:
    """A time in seconds: a finite number, not negative ("nan", "inf" and "-5" are refused by argparse)."""
    value = _seconds(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: give seconds, 0 or more")
    return value


def length(text: str) -> float:
    """A length in seconds: a finite number above 0."""
    value = _seconds(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is no length: give seconds, more than 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def emit(args: argparse.Namespace, data, text: str) -> None:
    """JSON for scripts (`--json`), else the text for people."""
    print(json.dumps(to_json(data), indent=2) if args.json else text)


def warn(message: str) -> None:
    print(f"needledrop: {message}", file=sys.stderr)
