"""The app's one door to the engine: opening the model and library, and running engine work off the UI thread.

Every engine call that can take longer than a frame (opening ONNX sessions, encoding a clip, a search, a
scan, decoding a track for preview) runs on a worker thread, and its result comes back as a Qt signal,
which Qt delivers on the UI thread. Searches run on one thread (the recommender's ONNX sessions and caches
are used by one thread at a time) and are latest-wins: while the user types or drags the slider, only the
newest request of each lane is answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

from engine import atomic, paths
from engine.errors import NeedledropError
from engine.facade import DEFAULT_LOUDNESS, Engine
from engine.media.playback import PlaybackAudio
from engine.media.video import VideoInfo
from engine.records import (
    ExportClip,
    ExportResult,
    LibraryStatus,
    Recommendation,
    Result,
    ScanErrorRecord,
    ScanProgress,
    ScanReport,
    Track,
)
from training.bootstrap.demo import Demo, build_demo

log = logging.getLogger(__name__)

KEEP_FITTED = 64  # fitted renders kept for previews (a few MB each)
# Renders of one fitted preview, each started again when the track's tempo was set while it ran: two tempi
# set within two renders of each other are a person trying levels, and the last render is then kept.
FIT_ATTEMPTS = 3
PREVIEW_CACHE = 4  # decoded tracks kept for instant A/B switching (about 46 MB per four minutes)


def describe_error(exc: BaseException) -> str:
    """A message for the user: the engine's own words when it has them, the exception's type otherwise."""
    if isinstance(exc, (NeedledropError, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _prune(folder: Path, keep: Path) -> None:
    """Fitted renders beyond the newest KEEP_FITTED go (each with its grid); `keep` always stays."""
    renders = sorted(folder.glob("*.wav"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in renders[KEEP_FITTED:]:
        if old != keep:
            for path in (old, old.with_suffix(".json")):
                path.unlink(missing_ok=True)


class _Signals(QObject):
    done = pyqtSignal(object)
    failed = pyqtSignal(str)


class _Stopped(Exception):
    """A task told to stop (the app is quitting): it ends without a result or a message."""


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any]):
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except _Stopped:
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message in the window
            log.exception("background task failed")
            self._emit("failed", describe_error(exc))
        else:
            self._emit("done", result)

    def _emit(self, name: str, value) -> None:
        # RuntimeError: the window that asked has closed and its objects are gone; nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            getattr(self.signals, name).emit(value)


@dataclass(frozen=True)
class Query:
    """One recommendation request, as the window asks it."""

    video: str | None
    start: float
    end: float | None
    prompt: str
    balance: float
    k: int = 25


@dataclass(frozen=True)
class TempoChoice:
    """A tempo chosen in a track's Tempo menu: `times` the tempo shown, a `bpm` of one's own (typed or
    tapped), or neither (as the scan measured it)."""

    times: Fraction | None = None
    bpm: float | None = None


@dataclass(frozen=True)
class Fitted:
    """A chosen track fitted to its clip, as the export writes it: the WAV, decoded, and its grid."""

    path: str
    audio: PlaybackAudio
    beats: list[float]
    downbeats: list[float]


@dataclass(frozen=True)
class Answer:
    query: Query | None
    recommendation: Recommendation
    like: str | None = None  # the track title for "more like this"
    like_ref: int | str | None = None  # and the track: a library id, or the path of a file from anywhere


class Session(QObject):
    opened = pyqtSignal(dict)  # bundle and execution details
    unavailable = pyqtSignal(str)  # the model or library cannot be opened: why, and what to do
    scanProgress = pyqtSignal(object)  # ScanProgress
    scanFinished = pyqtSignal(object)  # ScanReport
    libraryChanged = pyqtSignal()
    demoStep = pyqtSignal(str, int, int)
    notice = pyqtSignal(str, str)  # level ("info" | "warning" | "error"), message

    def __init__(self, data_dir: Path | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.data_dir = paths.data_dir(data_dir)
        self.engine: Engine | None = None
        self.details: dict = {}
        self._queries = QThreadPool(self)
        self._queries.setMaxThreadCount(1)
        self._scans = QThreadPool(self)
        self._scans.setMaxThreadCount(1)
        self._media = QThreadPool(self)
        self._media.setMaxThreadCount(1)
        self._edits = QThreadPool(self)  # library edits that rebuild the index: neither searches nor scans wait
        self._edits.setMaxThreadCount(1)
        self._tasks: set[_Task] = set()
        self._seq = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._stop_scan = threading.Event()
        self._abandon_scan = threading.Event()
        self.scanning = False
        self.closed = False
        self._audio: OrderedDict[str, PlaybackAudio] = OrderedDict()
        self._audio_lock = threading.Lock()

    # ---- plumbing ----

    def _submit(self, pool: QThreadPool, fn, on_done=None, on_failed=None) -> None:
        task = _Task(fn)
        self._tasks.add(task)

        def finish(handler, value):
            self._tasks.discard(task)
            if handler is not None and not self.closed:
                handler(value)

        task.signals.done.connect(lambda value: finish(on_done, value))
        task.signals.failed.connect(lambda message: finish(on_failed or self._report, message))
        pool.start(task)

    def _report(self, message: str) -> None:
        self.notice.emit("error", message)

    def close(self) -> None:
        """The window that asked is gone: answers still on their way are dropped, not handed to it."""
        self.closed = True

    def wait(self, ms: int = 30_000) -> None:
        """Let every background task finish (for tests and shutdown)."""
        for pool in (self._queries, self._scans, self._media, self._edits):
            pool.waitForDone(ms)

    @property
    def ready(self) -> bool:
        return self.engine is not None

    # ---- opening ----

    def open(self) -> None:
        """Open the engine (model bundle, library, recommender) in the background; `opened` when done."""

        def work():
            started = time.perf_counter()
            engine = Engine(self.data_dir)
            info = engine.info()
            details = {
                "bundle_id": info.bundle_id,
                "bundle_path": info.bundle_path,
                "provider": info.execution,
                "device": info.device,
                "data_dir": info.data_dir,
                "licences": info.licences,
                "seconds": time.perf_counter() - started,
            }
            return engine, details

        def done(value):
            self.engine, self.details = value
            self.opened.emit(self.details)
            self.libraryChanged.emit()
            self._submit(self._queries, self.engine.warm_up)

        def failed(message):
            self.unavailable.emit(
                f"The model could not be opened: {message}. Build it with `make models` "
                "(or `needledrop models build`) and start Needledrop again."
            )

        self._submit(self._queries, work, done, failed)

    # ---- queries ----

    def _latest_only(self, lane: str, fn, on_done, on_failed):
        seq = next(self._seq)
        self._latest[lane] = seq

        def work():
            if self._latest.get(lane) != seq:
                return None  # a newer request of this lane is queued: skip the work
            return fn()

        def done(value):
            if value is not None and self._latest.get(lane) == seq:
                on_done(value)

        def failed(message):
            if self._latest.get(lane) == seq:
                on_failed(message)

        self._submit(self._queries, work, done, failed)

    def recommend(self, query: Query, on_done: Callable[[Answer], None], on_failed: Callable[[str], None]) -> None:
        engine = self.engine

        def work():
            rec = engine.recommend(
                query.video,
                start=query.start,
                end=query.end,
                prompt=query.prompt or None,
                balance=query.balance,
                k=query.k,
            )
            return Answer(query, rec)

        self._latest_only("results", work, on_done, on_failed)

    def similar(
        self, ref: int | str, title: str, on_done, on_failed, *, start=None, end=None, length=None, k: int = 25
    ) -> None:
        """More like a library track (its id) or any music file (its path: analysed now, not added to the
        library); with the `length` of the clip it is for, each result starts where its music lasts it."""
        engine = self.engine

        def work() -> Answer:
            rec = engine.similar(ref, start=start, end=end, length=length, k=k)
            return Answer(None, rec, like=title, like_ref=ref)

        self._latest_only("results", work, on_done, on_failed)

    @staticmethod
    def choose(result: Result, length: float | None = None) -> dict:
        """What a clip keeps of the result picked for it. Its start is the result's, which the engine placed
        for the clip's `length`: the preview plays from it and the export writes it as it is."""
        return {
            "track_id": result.track_id,
            "path": result.path,
            "title": result.label,
            "start": result.start,  # moved when the user drags it
            "placed_for": length,  # the clip length it was placed for: a new length places it anew
            "loudness": result.loudness_lufs,
        }

    # ---- media for the window ----

    def probe(self, files: list[str], on_done: Callable[[list[tuple[str, VideoInfo | str]]], None]) -> None:
        """Probe `files` in order: (path, VideoInfo) for a video, (path, reason) for anything else."""

        def work():
            out = []
            for path in files:
                try:
                    out.append((path, Engine.probe(path)))
                except Exception as exc:  # noqa: BLE001 - each bad file is reported, the rest still load
                    out.append((path, describe_error(exc)))
            return out

        self._submit(self._media, work, on_done)

    def thumbnail(self, path: str, at: float, on_done, *, width: int = 160) -> None:
        self._submit(self._media, lambda: Engine.thumbnail(path, at, width), on_done, lambda _: None)

    def cached_audio(self, path: str) -> PlaybackAudio | None:
        with self._audio_lock:
            audio = self._audio.get(path)
            if audio is not None:
                self._audio.move_to_end(path)
            return audio

    def load_audio(self, path: str, on_done=None, on_failed=None) -> None:
        """Decode a track for preview into the small cache (no-op when it is there)."""
        if self.cached_audio(path) is not None:
            if on_done is not None:
                on_done(self._audio[path])
            return

        def work():
            audio = self.cached_audio(path) or Engine.playback_audio(path)
            with self._audio_lock:
                self._audio[path] = audio
                self._audio.move_to_end(path)
                while len(self._audio) > PREVIEW_CACHE:
                    self._audio.popitem(last=False)
            return audio

        self._submit(self._media, work, on_done, on_failed)

    def load_fitted(
        self, clip: dict, chosen: dict, on_done=None, on_failed=None, *, loudness: float = DEFAULT_LOUDNESS
    ) -> None:
        """The chosen track fitted to the clip (re-edited to its length, levelled, ducked under its speech),
        as the export with "Fit music to each clip" writes it, decoded for preview. Renders are kept in the
        data folder by what makes them (the files as they are now included: a track or clip replaced in
        place is rendered anew), so a clip previewed again costs nothing more; the newest KEEP_FITTED stay."""
        engine = self.engine
        folder = Path(engine.data_dir) / "fitted"

        def work() -> Fitted:
            attempts = FIT_ATTEMPTS
            while True:
                bpm = engine.track(chosen["track_id"]).bpm
                fitted = render(bpm)
                attempts -= 1
                if engine.track(chosen["track_id"]).bpm == bpm or not attempts:
                    return fitted
                # A tempo was set while it rendered, whose beats it may or may not have counted: it is kept
                # under neither tempo, and rendered again at the new one.
                for made in (Path(fitted.path), Path(fitted.path).with_suffix(".json")):
                    made.unlink(missing_ok=True)

        def render(bpm: float | None) -> Fitted:
            length = clip["clip_out"] - clip["clip_in"]
            stats = [os.stat(p) for p in (chosen["path"], clip["path"])]
            files = [(st.st_size, st.st_mtime_ns) for st in stats]
            made_of = [chosen["track_id"], round(chosen["start"], 3), round(length, 3), clip["path"], clip["clip_in"]]
            # The track's tempo too: a tempo set since counts its bars, and so its re-edit, anew.
            made_of += [loudness, files, bpm]
            target = folder / f"{hashlib.sha1(json.dumps(made_of).encode()).hexdigest()[:16]}.wav"
            grid = target.with_suffix(".json")  # the edit's beats, which only the render knows
            if not (target.is_file() and grid.is_file()):
                folder.mkdir(parents=True, exist_ok=True)
                edit = engine.fitted_music(
                    chosen["track_id"],
                    video=clip["path"],
                    clip_in=clip["clip_in"],
                    clip_out=clip["clip_out"],
                    start=chosen["start"],
                    out=target,
                    loudness=loudness,
                )
                atomic.write_text(grid, json.dumps(engine.edit_beats(chosen["track_id"], edit).to_json()))
                _prune(folder, keep=target)
            beats = json.loads(grid.read_text())
            return Fitted(str(target), Engine.playback_audio(target), beats["beats"], beats["downbeats"])

        self._submit(self._media, work, on_done, on_failed)

    def beats(self, track_id: int, on_done) -> None:
        """A library track's beats and downbeats (engine `Beats`); nothing is said when they cannot be found:
        the waveform is drawn without its grid."""
        self._submit(self._media, lambda: self.engine.beats(track_id), on_done, lambda _: None)

    # ---- export ----

    def export(
        self,
        clips: list[dict],
        path: str,
        on_done,
        on_failed=None,
        *,
        collect: str | None = None,
        fit: bool = False,
        loudness: float = DEFAULT_LOUDNESS,
        start_timecode: str | None = None,
        frame_rate: tuple[float, bool] | None = None,
    ) -> None:
        """Write the edit (clips with their chosen tracks) as a timeline file; `on_done` gets the engine's
        ExportResult. Each track starts where the preview plays it: the start the engine placed for the
        clip, or where the user dragged it. With `collect`, the music is gathered into that folder; with
        `fit`, re-edited to each clip's length, levelled and ducked under its dialogue, into that folder."""
        engine = self.engine
        edit = [
            ExportClip(
                clip["path"],
                clip["clip_in"],
                clip["clip_out"],
                track=(clip.get("chosen") or {}).get("track_id"),
                music_start=(clip.get("chosen") or {}).get("start"),
                fit=False,
                record_in=clip.get("record_in"),
            )
            for clip in clips
        ]

        def work() -> ExportResult:
            return engine.export(
                edit,
                path=path,
                name=Path(path).stem,
                collect=collect,
                render=fit,
                duck=fit,
                loudness=loudness,
                start_timecode=start_timecode,
                frame_rate=frame_rate[0] if frame_rate else None,
                drop_frame=bool(frame_rate and frame_rate[1]),
            )

        self._submit(self._media, work, on_done, on_failed)

    def read_timeline(self, path: str, on_done, on_failed=None) -> None:
        """An editor's timeline read, and each of its clips' files probed: `on_done` gets the engine's
        ImportedTimeline and, per clip, its VideoInfo or why the file cannot be used."""

        def work():
            found = Engine.read_timeline(path)
            probed = []
            for clip in found.clips:
                try:
                    probed.append((clip, Engine.probe(clip.video)))
                except Exception as exc:  # noqa: BLE001 - each bad file is reported, the rest still load
                    probed.append((clip, describe_error(exc)))
            return found, probed

        self._submit(self._media, work, on_done, on_failed)

    # ---- library ----

    def status(self) -> LibraryStatus | None:
        return self.engine.status() if self.engine is not None else None

    def tracks(self, on_done: Callable[[list[Track]], None]) -> None:
        """Every library track, read off the UI thread (a large library's list takes a moment)."""
        if self.engine is not None:
            self._submit(self._queries, self.engine.tracks, on_done)

    def set_tempo(self, track_id: int, choice: TempoChoice, on_done: Callable[[Track], None], on_failed=None) -> None:
        """Count a track's beats at the tempo chosen (a multiple of the one shown, a tempo of one's own, or as
        the scan measured it), on a thread of its own: beats are followed again from the file there when the
        tempo is none of the measured one's levels, the index is rebuilt meanwhile, searches go on with the one
        there is, and the next question after `on_done` reads the new one."""
        engine = self.engine
        self._submit(
            self._edits, lambda: engine.set_tempo(track_id, choice.bpm, times=choice.times), on_done, on_failed
        )

    def errors(self) -> list[ScanErrorRecord]:
        return self.engine.errors() if self.engine is not None else []

    def add_root(self, path: str) -> bool:
        """Add a music folder; a folder that cannot be added (missing, already there) is a notice, not a crash,
        and False."""
        try:
            self.engine.add_root(path)
        except NeedledropError as exc:
            self.notice.emit("warning", str(exc))
            return False
        self.libraryChanged.emit()
        return True

    def remove_root(self, path: str) -> None:
        engine = self.engine
        self._submit(self._scans, lambda: engine.remove_root(path), lambda _: self.libraryChanged.emit())

    def scan(self, *, full: bool = False, workers: int | None = None, on_done=None) -> bool:
        """Scan every folder in the background; False if a scan is already running."""
        if self.scanning or self.engine is None:
            return False
        self.scanning = True
        self._stop_scan.clear()
        self._abandon_scan.clear()
        engine = self.engine
        last = [0.0, None]

        def progress(p: ScanProgress) -> None:
            now = time.perf_counter()
            # At most ten updates a second, but every pass's first and last.
            if now - last[0] > 0.1 or p.files_done == p.files_total or p.phase != last[1]:
                last[0], last[1] = now, p.phase
                self.scanProgress.emit(p)

        def work() -> ScanReport:
            return engine.scan(
                full=full,
                workers=workers,
                on_progress=progress,
                should_stop=self._stop_scan.is_set,
                should_abandon=self._abandon_scan.is_set,
            )

        def finished(report):
            self.scanning = False
            self.scanFinished.emit(report)
            self.libraryChanged.emit()
            if on_done is not None:
                on_done(report)

        def failed(message):
            self.scanning = False
            self.scanFinished.emit(None)
            self.notice.emit("error", f"The scan stopped: {message}")

        self._submit(self._scans, work, finished, failed)
        return True

    def abandon_scan(self) -> None:
        """Stop now (quitting): the tracks in flight are dropped and analysed again by the next scan; the
        index is brought up to date when the library is next opened."""
        self._stop_scan.set()
        self._abandon_scan.set()

    def cancel_scan(self) -> None:
        """Stop after the tracks in flight (they are kept); the next scan continues from there."""
        self._stop_scan.set()

    def build_demo(self, on_done: Callable[[Demo], None]) -> None:
        """Render the demo library, add its folders, scan them; `on_done(demo)` once results can be asked for."""
        data_dir = self.data_dir

        self._abandon_scan.clear()

        def step(text: str, done: int, total: int) -> None:
            if self._abandon_scan.is_set():  # quitting: stop before the next piece rather than render them all
                raise _Stopped
            self.demoStep.emit(text, done, total)

        def work() -> Demo:
            return build_demo(data_dir, step)

        def built(demo: Demo) -> None:
            known = {r.path for r in self.status().roots}
            for root in demo.music_roots:
                if os.path.abspath(root) not in known:
                    self.engine.add_root(root)
            self.libraryChanged.emit()
            if not self.scan(on_done=lambda _: on_done(demo)):
                on_done(demo)

        self._submit(self._scans, work, built)
