"""The package's shape: `pip install needledrop` without extras is a working headless CLI and API.

Two checks: what pip installs without extras (the installed metadata's unconditional requirements), and
that the CLI and the API really run without the desktop's and training's packages: every process of the
run (the scan's workers too) gets an import hook that makes PyQt6, sounddevice and torch unimportable.
"""

import contextlib
import importlib.metadata
import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from media import render_midi

GUI_AND_TRAINING = ("PyQt6", "sounddevice", "torch")
BLOCKER = f"""
import importlib.abc, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {GUI_AND_TRAINING!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (a headless install has none)")
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _requirement_names(extra: str | None) -> set[str]:
    names = set()
    for requirement in importlib.metadata.requires("needledrop") or []:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower()
        marker = requirement.partition(";")[2]
        if (extra is None and "extra ==" not in marker) or (extra and f'extra == "{extra}"' in marker):
            names.add(name)
    return names


def test_a_plain_install_pulls_no_qt_no_sound_device_and_no_torch():
    base = _requirement_names(None)
    assert {"onnxruntime", "fastapi", "annoy", "av"} <= base
    assert not base & {"pyqt6", "sounddevice", "torch"}
    assert {"pyqt6", "sounddevice"} <= _requirement_names("gui")
    assert "torch" in _requirement_names("train")


@pytest.fixture
def headless(tmp_path) -> dict:
    """The environment of a headless install: Qt, sounddevice and torch cannot be imported by any process."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "NEEDLEDROP_DATA_DIR": str(tmp_path / "data")}


def _needledrop(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_the_hook_really_blocks(headless):
    probe = subprocess.run([sys.executable, "-c", "import PyQt6"], env=headless, capture_output=True, text=True)
    assert probe.returncode != 0 and "a headless install has none" in probe.stderr


def test_cli_and_api_work_without_the_gui_and_training_packages(bundle, headless, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    render_midi(music / "piano.flac", bpm=80, program=0, melody=[60, 64, 67], seconds=20)
    render_midi(music / "drums.flac", bpm=120, program=30, melody=[52, 55], drums=True, seconds=20)

    for args in (("library", "add", str(music)), ("library", "scan", "--workers", "2")):
        done = _needledrop(headless, *args, "--json")
        assert done.returncode == 0, done.stderr
    found = _needledrop(headless, "recommend", "--prompt", "drums", "-k", "2", "--json")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["results"]) == 2

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**headless, "NEEDLEDROP_CONFIG_DIR": str(tmp_path / "config")}
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        token_file = tmp_path / "config" / "api-token"
        deadline = time.monotonic() + 90
        reply = None
        while reply is None and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.2)
            if token_file.exists():
                headers = {"Authorization": "Bearer " + token_file.read_text().strip()}
                with contextlib.suppress(httpx.ConnectError):
                    reply = httpx.post(
                        f"http://127.0.0.1:{port}/v1/recommend", json={"prompt": "piano", "k": 1}, headers=headers
                    )
        assert reply is not None, server.stderr.read() if server.poll() is not None else "no answer"
        assert reply.status_code == 200 and len(reply.json()["results"]) == 1
    finally:
        server.terminate()
        server.wait(timeout=20)
