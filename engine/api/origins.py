"""Where the local API listens and which browser origins may call it: shared by `needledrop serve` and the app."""

from __future__ import annotations

import json

from engine import paths

DEFAULT_PORT = 7863
ORIGINS_FILE = "api-origins.json"  # ["https://...", ...]: browser origins (UXP panels) allowed to call the API


def saved_origins(extra: list[str]) -> list[str]:
    """The browser origins allowed to call the API: those saved in the config folder, and `extra`."""
    path = paths.config_dir() / ORIGINS_FILE
    saved = json.loads(path.read_text()) if path.is_file() else []
    return sorted({*saved, *extra})
