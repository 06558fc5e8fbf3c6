"""Test-wide setup: offscreen Qt, a null audio device, throwaway data folders, the built model bundle."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

# Both must be set before Qt or PortAudio are first loaded (stack.md §1.5 and §2).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if "ALSA_CONFIG_PATH" not in os.environ:
    _alsa = Path(tempfile.gettempdir()) / "needledrop-tests-alsa-null.conf"
    _alsa.write_text("<confdir:alsa.conf>\npcm.!default { type null }\n")
    os.environ["ALSA_CONFIG_PATH"] = str(_alsa)

from engine import paths  # noqa: E402
from engine.bundle import Bundle, open_current_bundle  # noqa: E402
from engine.errors import BundleError  # noqa: E402

# The bundle `make models` built, resolved before any test redirects the data folder.
MODELS_DIR = paths.models_dir()
os.environ["NEEDLEDROP_MODELS_DIR"] = str(MODELS_DIR)


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own library and config folders; the user's real ones are never touched."""
    root = tmp_path_factory.mktemp("needledrop")
    monkeypatch.setenv("NEEDLEDROP_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("NEEDLEDROP_CONFIG_DIR", str(root / "config"))
    return root / "data"


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A real 1 MiB file system (tmpfs), to fill up: what a full disk does is only learnt on a full disk."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    try:
        return open_current_bundle(MODELS_DIR)
    except BundleError as exc:
        pytest.fail(f"these tests need the built model bundle ({exc})", pytrace=False)


@pytest.fixture(scope="session")
def planted(bundle, tmp_path_factory):
    """A planted-correspondence feature set (320 pairs) computed through the real bundle, shared by tests."""
    from engine.features import FeatureExtractor
    from training.data import planted as planted_data
    from training.data.cache import FeatureCache
    from training.data.featureset import build_featureset
    from training.textsynth import synthesizers

    root = tmp_path_factory.mktemp("planted")
    pairs = planted_data.generate(root / "media", 320, seed=0, coverage=0.9)
    cache = FeatureCache(root / "cache", FeatureExtractor(bundle))
    return build_featureset(pairs, cache, root / "features", synthesizers(["tags", "data2text"]))


# ---- the desktop tests' media, library and window (tests/desktop_support.py) ----


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    from desktop_support import make_media

    return make_media(tmp_path_factory.mktemp("desktop-media"))


@pytest.fixture(scope="session")
def scanned(bundle, media, tmp_path_factory) -> Path:
    """A data folder whose library holds the five desktop tracks, scanned once for the whole run."""
    from desktop_support import scan_into

    return scan_into(bundle, media["music"], tmp_path_factory.mktemp("desktop-data"))


@pytest.fixture
def window(qtbot, scanned, tmp_path):
    """The app's window on a copy of `scanned`, its model open."""
    from desktop_support import close_window, copy_data, open_window

    win = open_window(qtbot, copy_data(scanned, tmp_path / "data"), tmp_path)
    yield win
    close_window(win)
