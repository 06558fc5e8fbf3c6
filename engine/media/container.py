"""Opening media files with PyAV, with errors a user can act on."""

from __future__ import annotations

import os
from pathlib import Path

import av
import av.container

from engine.errors import DecodeError


def reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error (e.g. 'Invalid data found when processing input')."""
    return getattr(exc, "strerror", None) or str(exc)


def open_media(path: str | os.PathLike[str], name: str) -> av.container.InputContainer:
    """`path` opened for decoding; DecodeError, calling it `name`, when FFmpeg cannot open it."""
    try:
        # Decoding needs no tags: one in a legacy encoding (Latin-1 in an old WAV or MP3) must not refuse the file.
        return av.open(os.fspath(path), metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        raise DecodeError(f"{name}: cannot open as media ({reason(exc)})") from exc


def open_stream(path: Path, kind: str) -> tuple[av.container.InputContainer, av.stream.Stream]:
    """The file's first `kind` ("audio" or "video") stream, decoding with threads; the caller closes it."""
    container = open_media(path, str(path))
    streams = getattr(container.streams, kind)
    if not streams:
        container.close()
        raise DecodeError(f"{path}: has no {kind} stream")
    stream = streams[0]
    stream.thread_type = "AUTO"
    return container, stream
