"""What the desktop tests share: their music and clips, a scanned data folder, a window, and how a file
manager drops files (the fixtures that use these are in conftest.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import QApplication

from desktop.main_window import MainWindow
from desktop.session import Session
from engine.library import Library
from media import render_midi, write_video

TRACKS = {  # name -> (bpm, arrangement)
    "piano.flac": (66, dict(program=0, melody=[60, 64, 67, 72], velocity=60)),
    "techno.mp3": (140, dict(program=81, melody=[57, 60, 64, 60], beats_per_note=0.5, drums=True, bass=True)),
    "guitar.ogg": (100, dict(program=25, melody=[52, 56, 59, 64], beats_per_note=0.5)),
    "strings.m4a": (72, dict(program=48, melody=[55, 59, 62, 67])),
    "rock.opus": (130, dict(program=30, melody=[52, 55, 57, 59], drums=True, bass=True)),
}


def shapes(seconds: float, speed: float, colour=(40, 90, 200), fps: int = 25) -> np.ndarray:
    frames = np.zeros((int(seconds * fps), 144, 256, 3), np.uint8)
    for i in range(len(frames)):
        t = i / fps
        frames[i] = colour if int(t * speed) % 2 == 0 else tuple(255 - c for c in colour)
        x = int((t * speed * 200) % 200)
        frames[i, 50:100, x : x + 50] = 255
    return frames


def make_media(root: Path) -> dict[str, Path]:
    """The desktop tests' music (five styles, and six more tracks for scans) and clips, under `root`."""
    music = root / "music"
    music.mkdir()
    for name, (bpm, arrangement) in TRACKS.items():
        render_midi(music / name, bpm=bpm, seconds=40, tags={"title": Path(name).stem.title()}, **arrangement)
    more = root / "more-music"
    more.mkdir()
    for i in range(6):
        render_midi(
            more / f"extra-{i}.flac",
            bpm=80 + 12 * i,
            program=(0, 25, 48, 81, 30, 19)[i],
            melody=[60, 64, 67],
            seconds=60,
        )
    clips = root / "clips"
    clips.mkdir()
    return {
        "music": music,
        "more": more,
        "slow": write_video(clips / "slow.mp4", shapes(12, 0.3), 25),
        "fast": write_video(clips / "fast.mp4", shapes(12, 2.0, (200, 120, 40)), 25),
        "not-a-video": _write_text(clips / "notes.mp4", "this is not a video"),
    }


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def scan_into(bundle, music: Path, data: Path) -> Path:
    """A data folder whose library holds `music`, scanned by the engine."""
    library = Library(data, bundle)
    library.add_root(music)
    library.scan(workers=2)
    return data


def copy_data(scanned: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(scanned, target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_window(qtbot, data: Path, config: Path) -> MainWindow:
    session = Session(data)
    settings = QSettings(str(config / "window.ini"), QSettings.Format.IniFormat)
    if settings.value("api/port") is None:  # each test window's API on a port of its own
        settings.setValue("api/port", free_port())
    window = MainWindow(session, settings=settings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(session.opened, timeout=60_000):
        pass
    return window


def close_window(window: MainWindow) -> None:
    window.preview.stop()
    window.session.cancel_scan()
    window.session.wait()


def drop_files(widget, paths: list[Path]) -> None:
    """What the file manager does: a drag enters, then drops file URLs (stack.md §2: both events are needed)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = widget.viewport()
    point = QPointF(target.rect().center())
    enter = QDragEnterEvent(
        point.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(target, enter)
    drop = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)


def wait_results(qtbot, window, trigger, timeout=60_000):
    with qtbot.waitSignal(window.resultsShown, timeout=timeout):
        trigger()
    return window.results.model.results
