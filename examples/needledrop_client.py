"""A minimal client for Needledrop's local API, with nothing but the standard library.

Editor integrations (the DaVinci Resolve script beside this file, a Premiere UXP panel, a shell script)
all do the same three things: read the token, ask for tracks for a clip, and fetch the edit as a timeline
file the editor imports.

    from needledrop_client import Needledrop
    api = Needledrop()                                   # token from the Needledrop config folder
    tracks = api.recommend("/footage/scene4.mov", start=12.0, end=42.0, prompt="warm acoustic, no vocals")
    text = api.export([{"video": "/footage/scene4.mov", "in": 12.0, "out": 42.0,
                        "track_id": tracks["results"][0]["track_id"]}], fmt="fcp7")
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:7863"


def token_path() -> Path:
    """Where `needledrop serve` keeps the token (platformdirs' user config folder, or NEEDLEDROP_CONFIG_DIR)."""
    if os.environ.get("NEEDLEDROP_CONFIG_DIR"):
        return Path(os.environ["NEEDLEDROP_CONFIG_DIR"]) / "api-token"
    if os.name == "nt":
        return Path(os.environ["LOCALAPPDATA"]) / "needledrop" / "api-token"
    if os.uname().sysname == "Darwin":
        return Path.home() / "Library" / "Application Support" / "needledrop" / "api-token"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "needledrop" / "api-token"


class NeedledropError(RuntimeError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


class Needledrop:
    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 120.0):
        self.url = url.rstrip("/")
        self.token = token or token_path().read_text().strip()
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            error = json.loads(exc.read() or b"{}").get("error", {})
            raise NeedledropError(exc.code, error.get("code", "?"), error.get("message", exc.reason)) from None

    def health(self) -> dict:
        return self._call("GET", "/v1/health")

    def recommend(
        self,
        video: str | None = None,
        *,
        start: float = 0.0,
        end: float | None = None,
        prompt: str | None = None,
        balance: float = 0.5,
        k: int = 10,
    ) -> dict:
        body = {"in": start, "out": end, "prompt": prompt, "balance": balance, "k": k}
        if video is not None:
            body["video"] = str(video)
        return self._call("POST", "/v1/recommend", body)

    def beats(self, track_id: int) -> dict:
        return self._call("GET", f"/v1/tracks/{track_id}/beats")

    def export(
        self, clips: list[dict], *, fmt: str = "otio", name: str = "Needledrop", collect: str | None = None
    ) -> str:
        """The edit as the text of a timeline file (otio, fcp7, fcpx or edl). With `collect` (an absolute
        folder), the music is gathered there in a form the editor imports and the timeline points there."""
        body = {"format": fmt, "name": name, "clips": clips}
        if collect is not None:
            body["collect"] = collect
        return self._call("POST", "/v1/export", body)["content"]
