"""Where Needledrop keeps its data, model bundles and caches.

Every location can be overridden, so tests and benchmarks never touch a user's real library:
`--data-dir` or NEEDLEDROP_DATA_DIR for the library, NEEDLEDROP_MODELS_DIR for model bundles,
NEEDLEDROP_CACHE_DIR for downloads and build scratch space. Model bundles belong to the user, not to a
library: `--data-dir` moves the catalog and index, and keeps using the user's models folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "needledrop"


def _from_env(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else None


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    return _from_env("NEEDLEDROP_DATA_DIR") or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    return _from_env("NEEDLEDROP_MODELS_DIR") or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"


def cache_dir() -> Path:
    return _from_env("NEEDLEDROP_CACHE_DIR") or Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return _from_env("NEEDLEDROP_CONFIG_DIR") or Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
