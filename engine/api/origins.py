"""Where the local API listens and which browser origins may call it: shared by `needledrop serve` and the app."""

from __future__ import annotations

import json
from pathlib import Path

from engine import paths
from engine.errors import NeedledropError

DEFAULT_PORT = 7863
ORIGINS_FILE = "api-origins.json"  # ["https://...", ...]: browser origins (UXP panels) allowed to call the API


class OriginsError(NeedledropError, ValueError):
    """The saved origins file does not hold a list of origins."""


def saved_origins(extra: list[str]) -> list[str]:
    """The browser origins allowed to call the API: those saved in the config folder, and `extra`."""
    path = paths.config_dir() / ORIGINS_FILE
    saved = _read(path) if path.is_file() else []
    return sorted({*saved, *extra})


def _read(path: Path) -> list[str]:
    """The origins `path` lists; OriginsError, naming the file, where it lists none as it should (a lone
    string would be read letter by letter, and its origin silently refused)."""
    example = 'e.g. ["https://example.com"]'
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise OriginsError(f"{path} is not JSON ({exc}): write the origins as a list, {example}") from exc
    if not isinstance(saved, list) or not all(isinstance(o, str) and "://" in o for o in saved):
        raise OriginsError(f"{path} must be a list of origins with their scheme, {example}, not {saved!r:.80}")
    return saved
