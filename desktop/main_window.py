"""The main window: library, preview, prompt and results over a timeline of clips.

Each clip on the timeline keeps its own in/out points, prompt, balance, results and chosen track; selecting
a clip brings all of that back. Everything slow goes through `Session` on worker threads, so the window
never waits: a search answers when it answers, and only the newest one is shown.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import re
import time
from pathlib import Path

from PyQt6.QtCore import QByteArray, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QUndoStack
from PyQt6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api_host import ApiHost
from desktop.history import History
from desktop.inout import MIN_LENGTH, InOutEditor
from desktop.library_browser import LibraryBrowser
from desktop.library_panel import ErrorsDialog, LibraryPanel, describe_report
from desktop.menus import build_menus
from desktop.music_output import MusicOutput
from desktop.preview import PreviewPanel
from desktop.prompt_bar import PromptBar
from desktop.results import ResultsPanel
from desktop.session import Answer, Fitted, Query, Session, TempoChoice
from desktop.settings_dialog import Preferences, SettingsDialog, data_dir_for, stored_settings
from desktop.timeline import TimelineClip, TimelineStrip, clips_from_json, export_places
from desktop.undo import TimelineEdit
from desktop.wording import counted
from engine import atomic
from engine.clock import clock
from engine.records import LibraryStatus, Result
from training.bootstrap.demo import Demo

log = logging.getLogger(__name__)

TIMELINE_FILE = "timeline.json"
DEFAULT_COLUMNS = (220, 660, 560)  # library, preview, results: the results hold their eight columns unscrolled
NOTICE_MS = {"info": 6000, "warning": 10000, "error": 15000}


class Notice(QWidget):
    """A message above the preview that never blocks: it goes away by itself or with its ✕."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setObjectName("notice")
        self.label.setWordWrap(True)
        close = QToolButton()
        close.setText("✕")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.timer = QTimer(self, singleShot=True)
        self.timer.timeout.connect(self.hide)
        self.level = ""
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        self.label.setProperty("level", level)
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)
        self.label.setText(text)
        self.show()
        self.timer.start(NOTICE_MS.get(level, 8000))

    def withdraw(self, text: str) -> None:
        """Hide the message if it is still `text`: what it said no longer holds."""
        if self.isVisible() and self.label.text() == text:
            self.hide()


def collect_folder(timeline: str) -> str:
    """Where the app collects a timeline's music: a folder beside it, named after it."""
    path = Path(timeline)
    return str(path.with_name(f"{path.stem} music"))


class MainWindow(QMainWindow):
    resultsShown = pyqtSignal()  # after results for the current clip are on screen (tests, screenshots)
    exported = pyqtSignal(str)  # the path of a timeline file just written
    fitted = pyqtSignal()  # the fitted edit of the chosen track is under the picture

    def __init__(self, session: Session, *, settings: QSettings | None = None, data_dir_given: bool = False):
        super().__init__()
        self.session = session
        self.settings = settings or stored_settings()
        self.data_dir_given = data_dir_given  # --data-dir: the setting does not decide this run's folder
        self.clips: dict[int, TimelineClip] = {}
        self.current: TimelineClip | None = None
        self.start_timecode: str | None = None  # an imported cut's: the export starts there too
        self.frame_rate: tuple[float, bool] | None = None  # and runs at its rate (fps, drop-frame)
        self.setWindowTitle("Needledrop")
        self.resize(1440, 900)
        self.device = Preferences.read(self.settings).device
        self.music = MusicOutput(self.device)
        self.api: ApiHost | None = None  # the local API, once the engine is open
        self.browser: LibraryBrowser | None = None
        self._scan_phase: str | None = None  # of the scan's last progress: "quick" or "full"
        self._prompt_for: dict[str, str] = {}  # prompts that come with clips (the demo's)
        self.undo_stack = QUndoStack(self)
        self._state: dict = {"clips": [], "current": None}  # the timeline as of the last undo step
        self._restoring = False  # undo or redo is putting the timeline back: not an edit of its own
        self.histories: dict[int | None, History] = {}  # Back and Forward, per clip (None: the prompt alone)

        self.library_panel = LibraryPanel()
        self.preview = PreviewPanel(self.music)
        self.prompt = PromptBar()
        self.results = ResultsPanel()
        self.timeline = TimelineStrip()
        self.inout = InOutEditor()
        self.notice = Notice()
        self.status_label = QLabel("Opening the model…")
        self.status_label.setObjectName("muted")
        self.statusBar().addPermanentWidget(self.status_label)

        self._build_layout()
        build_menus(self)
        self._connect()
        self._restore_window()
        if self.music.error:
            self.notice.show_message("warning", self.music.error)
        self.session.open()

    # ---- layout ----

    def _build_layout(self) -> None:
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(6, 6, 6, 6)
        center_layout.addWidget(self.notice)
        center_layout.addWidget(self.preview, 1)
        center_layout.addWidget(self.prompt)

        self.columns = QSplitter(Qt.Orientation.Horizontal)
        self.columns.setObjectName("columns")
        self.columns.addWidget(self.library_panel)
        self.columns.addWidget(center)
        self.columns.addWidget(self.results)
        self.columns.setStretchFactor(1, 3)
        self.columns.setStretchFactor(2, 2)
        self.columns.setSizes(list(DEFAULT_COLUMNS))

        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(6, 0, 6, 6)
        order = QHBoxLayout()
        self.open_button = QPushButton("Add clips…")
        self.left_button, self.right_button = QToolButton(), QToolButton()
        self.left_button.setText("◀")
        self.right_button.setText("▶")
        self.left_button.setToolTip("Move the selected clip earlier")
        self.right_button.setToolTip("Move the selected clip later")
        order.addWidget(QLabel("Timeline"))
        order.addWidget(self.open_button)
        order.addWidget(self.left_button)
        order.addWidget(self.right_button)
        order.addWidget(self.inout, 1)
        bottom_layout.addLayout(order)
        bottom_layout.addWidget(self.timeline)

        self.rows = QSplitter(Qt.Orientation.Vertical)
        self.rows.setObjectName("rows")
        self.rows.addWidget(self.columns)
        self.rows.addWidget(bottom)
        self.rows.setStretchFactor(0, 1)
        self.setCentralWidget(self.rows)

    def reset_layout(self) -> None:
        """Every panel shown, at the sizes a new window has."""
        for action in self.panel_actions.values():
            action.setChecked(True)
        self.columns.setSizes(list(DEFAULT_COLUMNS))
        self.rows.setSizes([self.rows.height() - self.rows.widget(1).sizeHint().height(), 1])

    def _connect(self) -> None:
        s = self.session
        s.opened.connect(self._opened)
        s.unavailable.connect(self._unavailable)
        s.notice.connect(self.notice.show_message)
        s.libraryChanged.connect(self.refresh_library)
        s.scanProgress.connect(self._scan_progress)
        s.scanFinished.connect(self._scan_finished)
        s.demoStep.connect(lambda text, i, n: self.library_panel.show_step(f"Demo: {text}", i, n))
        lib = self.library_panel
        lib.addFolder.connect(self.add_folder)
        lib.removeFolder.connect(lambda path: self.session.remove_root(path))
        lib.scanRequested.connect(self.scan)
        lib.cancelRequested.connect(self._cancel_scan)
        lib.errorsRequested.connect(lambda: ErrorsDialog(self.session.errors(), self).exec())
        lib.demoRequested.connect(self.start_demo)
        self.timeline.filesDropped.connect(self.add_clips)
        self.timeline.currentItemChanged.connect(lambda *_: self._select(self.timeline.current_id()))
        self.timeline.orderChanged.connect(lambda: self._record("Move clip"))
        self.timeline.removeRequested.connect(self.remove_clip)
        self.open_button.clicked.connect(self.choose_clips)
        self.left_button.clicked.connect(lambda: self.timeline.move_current(-1))
        self.right_button.clicked.connect(lambda: self.timeline.move_current(1))
        self.inout.rangeChosen.connect(self._range_chosen)
        self.inout.invalid.connect(lambda text: self.notice.show_message("warning", text))
        self.inout.refusalAnswered.connect(self.notice.withdraw)
        self.inout.set_in_button.clicked.connect(self.in_at_playhead)
        self.inout.set_out_button.clicked.connect(self.out_at_playhead)
        self.prompt.promptChanged.connect(self._prompt_changed)
        self.prompt.balanceChanged.connect(self._balance_changed)
        self.results.chosen.connect(self._result_chosen)
        self.results.moreLikeThis.connect(self.more_like_this)
        self.results.tempoChosen.connect(lambda r, choice: self.set_tempo(r.track_id, choice))
        self.results.shortlistToggled.connect(self.toggle_shortlist)
        self.results.back.connect(self.go_back)
        self.results.forward.connect(self.go_forward)
        self.results.referenceDropped.connect(lambda path: self.more_like(path, Path(path).name))
        self.preview.trackStartChanged.connect(self._track_start_dragged)

    # ---- state across restarts ----

    def _restore_window(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self._splitters_restored = False

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._splitters_restored:
            # Splitter sizes only mean something once the window has its size: restore them after it is shown.
            self._splitters_restored = True
            for key, splitter in (("window/columns", self.columns), ("window/rows", self.rows)):
                value = self.settings.value(key)
                if isinstance(value, QByteArray):
                    splitter.restoreState(value)

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/columns", self.columns.saveState())
        self.settings.setValue("window/rows", self.rows.saveState())
        self.settings.sync()
        self.save_timeline()
        self.preview.stop()
        if self.api is not None:  # first: no new work (a plugin's scan) while the window winds down
            self.api.stop()
        # Quitting does not wait for the tracks in flight: the next scan analyses them again.
        self.session.abandon_scan()
        self.session.wait(10_000)
        self.session.close()
        self.music.close()
        super().closeEvent(event)

    def timeline_path(self) -> Path:
        return self.session.data_dir / TIMELINE_FILE

    def save_timeline(self) -> None:
        data = {"clips": [self.clips[i].to_json() for i in self.timeline.order() if i in self.clips]}
        data["current"] = self.timeline.currentRow()
        if self.start_timecode is not None:  # an imported cut's, which its clips' places count from
            data["start_timecode"], data["frame_rate"] = self.start_timecode, self.frame_rate
        path = self.timeline_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(path, json.dumps(data, indent=1))
        except OSError as exc:
            self.notice.show_message("warning", f"The timeline could not be saved: {exc}")

    def _load_timeline(self) -> None:
        path = self.timeline_path()
        try:
            data = json.loads(path.read_text())
            clips, current, said = clips_from_json(data)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:  # kept aside, not overwritten by the empty timeline saved next
            kept = path.with_name(f"{path.stem}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")
            try:
                path.replace(kept)
            except OSError:
                kept = path
            self.notice.show_message(
                "warning", f"The saved timeline could not be read ({exc}); starting empty. It is kept as {kept}"
            )
            return
        self._restore_timing(data)
        missing = []
        for clip in clips:
            if not Path(clip.path).is_file():
                missing.append(clip.path)
            self._insert_clip(clip)
        if missing:
            said.insert(0, f"{len(missing)} clip(s) on the timeline are missing: {missing[0]}")
        if said:
            self.notice.show_message(
                "warning", "\n".join(said[:4]) + (f"\n… and {len(said) - 4} more" if len(said) > 4 else "")
            )
        if self.timeline.count():
            self.timeline.setCurrentRow(min(max(current, 0), self.timeline.count() - 1))
        self._settle()  # the timeline as saved is where undo stops

    def _restore_timing(self, data: object) -> None:
        """An imported cut's start timecode and rate as saved; anything else is dropped (the clips still load,
        and the export starts at zero at their own rate)."""
        if not isinstance(data, dict):
            return
        start, rate = data.get("start_timecode"), data.get("frame_rate")
        if isinstance(start, str) and len(start) <= 16:
            self.start_timecode = start
        if (
            isinstance(rate, list)
            and len(rate) == 2
            and isinstance(rate[0], int | float)
            and math.isfinite(rate[0])
            and 1 <= rate[0] <= 240
        ):
            self.frame_rate = (float(rate[0]), bool(rate[1]))

    # ---- undo ----

    def _snapshot(self) -> dict:
        clips = [dict(self.clips[i].to_json(), id=i) for i in self.timeline.order() if i in self.clips]
        return copy.deepcopy({"clips": clips, "current": self.current.id if self.current else None})

    def _record(self, text: str, merge: str | None = None, clip: int | None = None) -> None:
        """Save the timeline; what changed since the last step becomes an undoable step named `text`, made on
        `clip` (default: the selected one)."""
        if self._restoring:
            return
        after = self._snapshot()
        if after["clips"] != self._state["clips"]:
            clip = clip if clip is not None else after["current"]
            self.undo_stack.push(TimelineEdit(self, text, self._state, after, merge, clip))
        self._state = after
        self.save_timeline()
        self._mark_elsewhere()

    def _settle(self) -> None:
        """Save the timeline as it is now, as part of the last step (what follows from an edit, not an edit)."""
        if not self._restoring:
            self._state = self._snapshot()
            self.save_timeline()
            self._mark_elsewhere()

    def _mark_elsewhere(self) -> None:
        """Mark in the results the tracks other clips already use ("on clip 2"): a timeline that repeats one
        track is seldom what an editor wants, and the results of each clip do not know the others."""
        order = [i for i in self.timeline.order() if i in self.clips]
        used: dict[int, list[int]] = {}
        for number, clip_id in enumerate(order, 1):
            clip = self.clips[clip_id]
            if clip is not self.current and clip.chosen:
                used.setdefault(clip.chosen["track_id"], []).append(number)
        self.results.mark_elsewhere(used)

    def restore_state(self, state: dict, select: int | None = None) -> None:
        """Put the timeline back as `state` has it (undo and redo): clips, their order, points, prompts,
        balance and chosen tracks; `select` (the clip the step was made on, if it is in `state`, else the
        one `state` had selected) is selected and shown as it now is."""
        self._restoring = True
        try:
            wanted = {entry["id"]: entry for entry in state["clips"]}
            for clip_id in [i for i in self.clips if i not in wanted]:
                self._take_clip(clip_id)
            shown_changed = False
            for clip_id, entry in wanted.items():
                fields = {k: v for k, v in copy.deepcopy(entry).items() if k != "id"}
                clip = self.clips.get(clip_id)
                if clip is None:
                    self._insert_clip(TimelineClip(**fields, id=clip_id))
                    continue
                old, pictured = clip.to_json(), _pictured_at(clip.clip_in, clip.out_point)
                for key, value in fields.items():
                    if old.get(key) != value:  # (an unchanged pick stays the same object: its loads still land)
                        setattr(clip, key, value)
                asked = ("clip_in", "clip_out", "prompt", "balance")
                if any(old[k] != fields.get(k, old[k]) for k in asked):
                    clip.answer = None  # its results answer another question now
                shown_changed |= clip is self.current and old != clip.to_json()
                self.timeline.update_clip(clip)
                if _pictured_at(clip.clip_in, clip.out_point) != pictured:
                    self._thumbnail(clip)
            self.timeline.set_order(list(wanted))
            target = select if select in wanted else state.get("current")
            if self.current is not None and self.current.id == target:
                if shown_changed:
                    self._show_clip(self.current)
            elif target in self.clips:
                self.timeline.setCurrentItem(self.timeline.item_of(target))
        finally:
            self._restoring = False
        self._state = self._snapshot()
        self.save_timeline()

    # ---- engine status ----

    def _opened(self, details: dict) -> None:
        self._show_status()
        self._start_api()
        status = self.session.status()  # read once: it counts the whole library and looks into each folder
        self._show_library(status)
        self._load_timeline()
        if self.current is not None:
            self.ask()
        elif not status or not status.tracks:
            self.notice.show_message(
                "info", "Your music library is empty: add a folder of music, or try the demo library (left)."
            )
        if status:
            self._finish_first_scans(status)
            self._analyse_for_new_model(status)

    def _analyse_for_new_model(self, status: LibraryStatus) -> None:
        """Tracks analysed by an earlier model bundle cannot be searched with this one (its index is another
        model's): they are analysed again at once, as the user would have to ask, and the panel says why."""
        if not status.stale_tracks or self.session.scanning or not any(r.online for r in status.roots):
            return
        self.notice.show_message(
            "info",
            f"The model was updated: analysing {counted(status.stale_tracks, 'track')} again so that they can be "
            "searched with it…",
        )
        self.scan()

    def _finish_first_scans(self, status: LibraryStatus) -> None:
        """Folders whose first scan was stopped (the app quit during it) are scanned again now, as the user
        asked when adding them; the demo library, stopped so, is finished whole, its clips too."""
        unfinished = [r.path for r in status.roots if r.online and r.last_scan is None]
        if not unfinished or self.session.scanning:
            return
        demo = os.path.abspath(Path(self.session.data_dir) / "demo" / "music")
        if demo in map(os.path.abspath, unfinished) and not self.clips:
            self.notice.show_message("info", "Finishing the demo library, which was stopped before it was ready…")
            self.start_demo()
            return
        self.notice.show_message("info", f"Finishing the scan of {unfinished[0]}, which was stopped…")
        self.scan()

    def _start_api(self) -> None:
        """The local API for editor plugins, on while the app runs unless the settings turn it off."""
        preferences = Preferences.read(self.settings)
        if not preferences.api_enabled or self.api is not None:
            return
        host, problem = self._open_api(preferences.api_port)
        if problem:
            self.notice.show_message("warning", f"The local API is off: {problem}")
            return
        self.api = host
        self._show_status()

    def _open_api(self, port: int) -> tuple[ApiHost | None, str | None]:
        """The API listening on `port`, or why it cannot."""
        try:
            if not 1 <= port <= 65535:
                raise ValueError(f"{port} is not a port number (1–65535)")
            host = ApiHost(self.session.engine, port)
            problem = host.start()
        except (ValueError, OSError) as exc:  # a bad port setting, an unreadable token or origins file
            return None, str(exc)
        return (None, problem) if problem else (host, None)

    def _move_api(self, port: int) -> None:
        """The running API onto another port: the new one is taken before the old is let go, so that a port
        in use leaves the API where the plugins find it (and the setting as it was)."""
        running = self.api
        host, problem = self._open_api(port)
        if problem:
            dataclasses.replace(Preferences.read(self.settings), api_port=running.port).write(self.settings)
            self.notice.show_message("warning", f"The local API stays on port {running.port}: {problem}")
            return
        running.stop()
        self.api = host
        self._show_status()

    def _show_status(self) -> None:
        details = self.session.details
        text = f"Model {details['bundle_id']} · {details['provider'].split(';')[0]}"
        self.status_label.setText(text + (f" · API on 127.0.0.1:{self.api.port}" if self.api is not None else ""))

    def browse_library(self) -> None:
        """Every track, sortable and filterable, in a window of its own (once the list is read)."""
        if not self.session.ready:
            self.notice.show_message("warning", "The model is not open yet: browse the library in a moment.")
            return

        def show(tracks) -> None:
            self.browser = LibraryBrowser(tracks, self)
            self.browser.moreLikeThis.connect(lambda t: self.more_like(t.id, t.label))
            self.browser.tempoChosen.connect(lambda t, choice: self.set_tempo(t.id, choice))
            self.browser.show()

        self.session.tracks(show)

    def _unavailable(self, message: str) -> None:
        self.status_label.setText("No model")
        self.notice.show_message("error", message)

    def refresh_library(self) -> None:
        self._show_library(self.session.status())

    def _show_library(self, status: LibraryStatus | None) -> None:
        self.library_panel.show_status(status)
        if status is not None:  # before any answer, and after a scan listened to more tracks for drums
            self.prompt.set_unheard_drums(status.unheard_drums)

    # ---- library ----

    def add_folder(self, path: str) -> None:
        if not self.session.ready:
            self.notice.show_message("warning", "The model is not open yet: add the folder again in a moment.")
            return
        try:
            added = self.session.add_root(path)
        except Exception as exc:  # noqa: BLE001 - an unreadable folder is a message, not a crash
            self.notice.show_message("error", f"{path} cannot be added: {exc}")
            return
        if added:  # (one that is not was said, and scanning then would only look again at the library)
            self.scan()

    def _scan_progress(self, progress) -> None:
        self.library_panel.show_progress(progress)
        if self._scan_phase == "quick" and progress.phase != "quick":
            # The quick pass ended and the index now holds every new track: show them, and ask again.
            self.refresh_library()
            self.ask()
        self._scan_phase = progress.phase

    def scan(self) -> None:
        self._scan_phase = None
        if self.session.scan():
            self.library_panel.set_scanning(True)
            self.library_panel.show_message("Scanning…")

    def _cancel_scan(self) -> None:
        self.session.cancel_scan()
        self.library_panel.show_message("Cancelling: the tracks in flight finish and are kept…")

    def _scan_finished(self, report) -> None:
        self.library_panel.set_scanning(False)
        if report is not None:
            self.library_panel.show_message(describe_report(report))
            if report.changed and self.current is not None:
                self.ask()

    def start_demo(self) -> None:
        if not self.session.ready:
            self.notice.show_message("warning", "The model is not open yet: try the demo again in a moment.")
            return
        self.library_panel.demo_button.setEnabled(False)
        self.library_panel.set_scanning(True)
        self.session.build_demo(self._demo_ready)

    def _demo_ready(self, demo: Demo) -> None:
        self.library_panel.demo_button.setEnabled(True)
        known = {c.path for c in self.clips.values()}
        clips = [str(p) for p in demo.clips if str(p) not in known]
        self._prompt_for.update(dict.fromkeys(clips, demo.prompt))
        self.add_clips(clips)
        if not clips and self.current is not None:
            self.ask()

    # ---- clips ----

    def choose_clips(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Add clips",
            str(Path.home()),
            "Video (*.mp4 *.mov *.m4v *.mkv *.webm *.avi *.mts *.mxf *.mpg);;All (*)",
        )
        self.add_clips(files)

    def choose_timeline(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import timeline",
            str(Path.home()),
            "Timelines (*.otio *.xml *.fcpxml *.edl);;All (*)",
        )
        if path:
            self.import_timeline(path)

    def import_timeline(self, path: str) -> None:
        """An editor's cut: its picture clips join the timeline with their in and out points, and keep their
        places (and the cut's start timecode) for the export."""
        self.session.read_timeline(
            path,
            self._timeline_read,
            lambda message: self.notice.show_message("error", f"The timeline could not be imported: {message}"),
        )

    def _timeline_read(self, read) -> None:
        found, probed = read
        first, notes, added_count = None, list(found.notes), 0
        for clip, info in probed:
            if isinstance(info, str):
                notes.append(f"{clip.name} cannot be used as a clip: {info}")
                continue
            added = TimelineClip(
                clip.video, info.duration, clip.clip_in, min(clip.clip_out, info.duration), record_in=clip.record_in
            )
            self._insert_clip(added)
            first, added_count = first or added, added_count + 1
        self.start_timecode = found.start_timecode
        self.frame_rate = (found.frame_rate, found.drop_frame)
        said = "".join(f"\n{note[0].upper()}{note[1:]}." for note in notes)
        self.notice.show_message(
            "warning" if notes else "info", f"Imported {counted(added_count, 'clip')} of {found.name}{said}"
        )
        if first is not None:
            self.timeline.setCurrentItem(self.timeline.item_of(first.id))
            self._record(f"Import {found.name}")

    def add_clips(self, files: list[str]) -> None:
        """Probe the files in the background; the ones with a video stream join the timeline in this order."""
        if files:
            self.session.probe(list(files), self._probed)

    def _probed(self, probed: list) -> None:
        first, refused = None, []
        for path, info in probed:
            if isinstance(info, str):
                refused.append(f"{Path(path).name} cannot be used as a clip: {info}")
                continue
            if info.duration < MIN_LENGTH:  # no in and out points could be set in it
                refused.append(
                    f"{Path(path).name} is {info.duration:.2f} s long: a clip needs at least {MIN_LENGTH:g} s"
                )
                continue
            clip = TimelineClip(path, info.duration, prompt=self._prompt_for.pop(path, ""))
            self._insert_clip(clip)
            first = first or clip
        if refused:  # every file that was not added, in one message: each would replace the last
            self.notice.show_message("error", "; ".join(refused))
        if first is not None:
            self.timeline.setCurrentItem(self.timeline.item_of(first.id))
            added = len(self.clips) - len(self._state["clips"])
            self._record(f"Add {counted(added, 'clip')}")

    def _insert_clip(self, clip: TimelineClip) -> None:
        self.clips[clip.id] = clip
        self.timeline.add_clip(clip)
        self._thumbnail(clip)

    def _thumbnail(self, clip: TimelineClip) -> None:
        """The clip's picture on the timeline (`_pictured_at`)."""
        at = _pictured_at(clip.clip_in, clip.out_point)
        self.session.thumbnail(clip.path, at, lambda rgb, cid=clip.id: self.timeline.set_thumbnail(cid, rgb))

    def remove_clip(self, clip_id: int) -> None:
        clip = self.clips.get(clip_id)
        if clip is not None:
            self._take_clip(clip_id)
            self._record(f"Remove {Path(clip.path).name}", clip=clip_id)

    def _take_clip(self, clip_id: int) -> None:
        """Off the timeline (its history is kept for an undo that brings it back)."""
        item = self.timeline.item_of(clip_id)
        if item is not None:
            self.timeline.takeItem(self.timeline.row(item))  # the selection moves on: `_select` shows it
        self.clips.pop(clip_id, None)
        if self.current is not None and self.current.id == clip_id:
            self._select(None)

    def _select(self, clip_id: int | None) -> None:
        clip = self.clips.get(clip_id) if clip_id is not None else None
        if clip is self.current and clip is not None:
            return
        self.current = clip
        if clip is not None:
            self._show_clip(clip)
        else:
            self._show_no_clip()
        self._mark_elsewhere()

    def _show_no_clip(self) -> None:
        """No clip selected (the last one removed): nothing of a clip stays on screen."""
        self.preview.set_clip(None)
        self.preview.set_track(None, 0.0)
        self.inout.set_range(0.0, 0.0, 0.0)
        self.prompt.set_state("", 0.5)  # its words too: the next Enter would ask them for a clip that is gone
        self.results.set_results([], "Results")
        self.results.set_shortlist([])
        self.results.set_pick(None)
        self._show_history()

    def _show_clip(self, clip: TimelineClip) -> None:
        """Everything the window shows of a clip: its picture, points, prompt, track and results."""
        self.preview.set_clip(clip.path, clip.clip_in, clip.clip_out)
        self.session.thumbnail(clip.path, clip.clip_in, lambda rgb, c=clip: self._still(c, rgb), width=960)
        self.inout.set_range(clip.duration, clip.clip_in, clip.out_point)
        self.prompt.set_state(clip.prompt, clip.balance)
        if clip.chosen:
            self._preview_track(clip.chosen)
        else:
            self.preview.set_track(None, 0.0)
            self.results.set_pick(None)
        self._show_shortlist(clip)
        if clip.answer is not None:
            self._show_answer(clip.answer)
        else:  # never the previous clip's results under this clip's picture
            self.results.set_results([], "Results", "Searching…")
            self._show_history()
            self.ask()

    def _still(self, clip: TimelineClip, rgb) -> None:
        if clip is self.current and not self.preview.playing:
            self.preview.video.show_still(rgb)

    def _range_chosen(self, clip_in: float, clip_out: float) -> None:
        clip = self.current
        if clip is None:
            return
        pictured = _pictured_at(clip.clip_in, clip.out_point)
        clip.clip_in, clip.clip_out = clip_in, (None if clip_out >= clip.duration - 1e-3 else clip_out)
        self.preview.set_range(clip.clip_in, clip.clip_out)
        self.timeline.update_clip(clip)
        if _pictured_at(clip.clip_in, clip.out_point) != pictured:
            self._thumbnail(clip)
        self._record("Change in and out points")
        if clip.chosen and self.fit_action.isChecked():  # the fitted music is made for the range: anew
            self._preview_track(clip.chosen)
        self.ask()

    def in_at_playhead(self) -> None:
        if self.current is not None:
            self.inout.set_points(self.preview.picture_time(), self.current.out_point)

    def out_at_playhead(self) -> None:
        if self.current is not None:
            self.inout.set_points(self.current.clip_in, self.preview.picture_time())

    # ---- asking ----

    def _prompt_changed(self, text: str) -> None:
        if self.current is not None:
            self.current.prompt = text
            self._record("Change the prompt")
            self.ask()
        elif text:
            self.ask()

    def _balance_changed(self, balance: float) -> None:
        if self.current is not None:
            self.current.balance = balance
            self._record("Change picture and words balance", merge="balance")
            self.ask()

    def ask(self) -> None:
        """Ask for results for the current clip (or the prompt alone when no clip is selected)."""
        if not self.session.ready:
            return
        clip = self.current
        if clip is None and not self.prompt.text:
            return
        query = Query(
            video=clip.path if clip else None,
            start=clip.clip_in if clip else 0.0,
            end=clip.clip_out if clip else None,
            prompt=clip.prompt if clip else self.prompt.text,
            balance=clip.balance if clip else self.prompt.balance,
        )
        self.results.show_results_tab()  # a new question: its answer is what to look at
        self.results.status.setText("Searching…")
        self.results.set_stale(True)  # the list on screen answers the previous question until the new one comes
        self.session.recommend(
            query,
            lambda answer, cid=(clip.id if clip else None): self._answered(cid, answer),
            lambda message: self._failed(message),
        )

    def set_tempo(self, track_id: int, choice: TempoChoice) -> None:
        """Count a track at the tempo chosen in its Tempo menu, then ask again, so that the results rank and
        show it at that tempo, as the list and the export will."""

        def done(track) -> None:
            said = "set by you" if track.bpm_set else "as the scan measured it"
            tempo = f"{track.bpm:.0f} BPM" if track.bpm else "no steady beat"
            self.notice.show_message("info", f"{track.label}: {tempo}, {said}.")
            if self.browser is not None:
                self.browser.model.replace(track)
            chosen = self.current.chosen if self.current is not None else None
            if chosen and chosen["track_id"] == track.id:  # its grid, and with Fit music its edit, anew
                self._preview_track(chosen)
            self._ask_again()

        self.session.set_tempo(track_id, choice, done, lambda message: self.notice.show_message("error", message))

    def _ask_again(self) -> None:
        """The question whose answer is on screen, asked again (after the library changed under it)."""
        shown = self._history().current
        if shown is not None and shown.like_ref is not None:
            self.more_like(shown.like_ref, shown.like)
        else:
            self.ask()

    def more_like_this(self, result: Result) -> None:
        self.more_like(result.track_id, result.label)

    def choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Find music like…",
            str(Path.home()),
            "Audio (*.wav *.flac *.mp3 *.m4a *.aac *.ogg *.opus *.aif *.aiff);;All (*)",
        )
        if path:
            self.more_like(path, Path(path).name)

    def more_like(self, ref: int | str, title: str) -> None:
        """Results like a library track (its id) or a music file from anywhere (its path: analysed on the fly
        and not added to the library), for the selected clip's length."""
        if not self.session.ready:
            self.notice.show_message("warning", "The model is not open yet: try again in a moment.")
            return
        clip_id = self.current.id if self.current else None
        self.results.show_results_tab()
        self.results.status.setText(f"Listening to {title}…" if isinstance(ref, str) else "Searching…")
        self.results.set_stale(True)
        self.session.similar(
            ref,
            title,
            lambda answer: self._answered(clip_id, answer),
            self._failed,
            length=self.current.length if self.current and self.current.length > 0 else None,
        )

    def _failed(self, message: str) -> None:
        # Said where the results would be, too: the notice above the preview goes after a while.
        waiting = " (a scan is running: ask again when it ends)" if self.session.scanning else ""
        self.results.status.setText(f"No results: {message}{waiting}")
        self.results.set_stale(False)
        self.notice.show_message("error", message)

    def _answered(self, clip_id: int | None, answer: Answer) -> None:
        clip = self.clips.get(clip_id) if clip_id is not None else None
        if clip_id is not None and clip is None:
            return  # the clip was removed while its question was answered
        self.histories.setdefault(clip_id, History()).add(answer)
        if clip is not None:
            clip.answer = answer
            if answer.like is None:
                self._replace_chosen(clip, answer.recommendation.results)
        if clip is self.current:
            self._show_answer(answer)
            self.resultsShown.emit()
        for result in answer.recommendation.results[:3]:  # ready for instant A/B
            self.session.load_audio(result.path)

    def _show_answer(self, answer: Answer) -> None:
        rec = answer.recommendation
        if answer.like:
            heading = f"More like “{answer.like}”"
        else:
            sides = rec.used
            if set(sides) == {"clip", "text"} and rec.balance in (0.0, 1.0):  # the slider at one end
                sides = ["clip"] if rec.balance == 0.0 else ["text"]
            named = [{"clip": "picture", "text": "words"}.get(u, u) for u in sides]
            if rec.prompt is not None and rec.prompt.constraints and "words" not in named:
                named.append("constraints")  # words that only constrain (a tempo, "female vocals") still count
            heading = f"Results for {' + '.join(named) or 'constraints'}"
        status = f"{counted(len(rec.results), 'track')} in {sum(rec.seconds.values()) * 1000:.0f} ms"
        if not rec.complete:
            status += f" · only these satisfy the filters among the {rec.searched} closest segments"
        if not rec.results:
            status = "No track in the library satisfies the request: remove a filter chip, or scan more music."
        if rec.notes:
            status += " · " + " · ".join(rec.notes)
        keep = self.current.chosen["track_id"] if self.current and self.current.chosen else None
        if not answer.like:
            self.prompt.set_feel(rec.feel)
            self.prompt.set_unheard_drums(rec.unheard_drums)
        self.results.set_results(rec.results, heading, status, keep_track=keep)
        self.results.set_stale(False)
        self._show_history()

    # ---- history and shortlist ----

    def _history(self) -> History:
        return self.histories.setdefault(self.current.id if self.current else None, History())

    def _show_history(self) -> None:
        history = self._history()
        self.results.set_history(history.can_go_back, history.can_go_forward)

    def go_back(self) -> None:
        self._go(self._history().back())

    def go_forward(self) -> None:
        self._go(self._history().forward())

    def _go(self, answer: Answer | None) -> None:
        if answer is None:
            return
        self.results.show_results_tab()
        if self.current is not None:
            self.current.answer = answer
        self._show_answer(answer)

    def toggle_shortlist(self, result: Result | None = None) -> None:
        """Keep the result on the selected clip's shortlist, or take it off (an undoable edit)."""
        result = result or self.results.current()
        clip = self.current
        if result is None:
            return
        if clip is None:
            self.notice.show_message("info", "A shortlist belongs to a clip: add or select a clip first.")
            return
        name = result.label
        kept = [entry for entry in clip.shortlist if entry["track_id"] != result.track_id]
        if len(kept) < len(clip.shortlist):
            clip.shortlist = kept
            self._record(f"Take {name} off the shortlist")
        else:
            clip.shortlist = [*clip.shortlist, dataclasses.asdict(result)]
            self._record(f"Shortlist {name}")
        self._show_shortlist(clip)

    def _show_shortlist(self, clip: TimelineClip) -> None:
        keep = clip.chosen["track_id"] if clip.chosen else None
        self.results.set_shortlist([Result(**entry) for entry in clip.shortlist], keep_track=keep)

    # ---- preview ----

    def step_result(self, step: int) -> None:
        row = self.results.table.currentIndex().row()
        self.results.select(0 if row < 0 else row + step)

    def _result_chosen(self, result: Result) -> None:
        """The user moved to a result: it is the clip's pick, from the start the result gives."""
        clip = self.current
        chosen = Session.choose(result, clip.length if clip is not None else None)
        if clip is not None:
            kept = clip.chosen
            if kept and (kept["track_id"], kept["start"]) == (result.track_id, result.start):
                return  # the pick as it is
            clip.chosen = chosen
            self._record(f"Choose {chosen['title']}", merge="choose")
            self.timeline.update_clip(clip)
        # Selecting only puts the track under the picture (Space plays); a preview that is playing goes on,
        # now with this track: A/B from the same playhead.
        self._preview_track(chosen)

    def _replace_chosen(self, clip: TimelineClip, results: list[Result]) -> None:
        """The clip's pick, placed anew where the engine now places it, when the clip's length changed since
        it was placed (the new in and out points were the edit; this follows from it). A start dragged by
        hand stays while the clip is no longer than when it was dragged (the music it heard lasts a shorter
        clip too); moved for a longer one, it is said."""
        kept = clip.chosen
        if not kept or abs(kept.get("placed_for", clip.length) - clip.length) < 1e-6:
            return
        if kept.get("by_hand") and clip.length <= kept["placed_for"]:
            return
        result = next((r for r in results if r.track_id == kept["track_id"]), None)
        if result is None:
            return
        clip.chosen = Session.choose(result, clip.length)
        if kept.get("by_hand"):
            self.notice.show_message(
                "info",
                f"{kept['title']} starts at {clock(clip.chosen['start'])} again, where the engine places it: the "
                f"clip is longer now than when you moved its start to {clock(kept['start'])}.",
            )
        self._settle()
        self.timeline.update_clip(clip)
        if clip is self.current:
            self._preview_track(clip.chosen)

    def _preview_track(self, chosen: dict) -> None:
        """The chosen track under the picture: from its start, or fitted to the clip as the export will be."""
        start, title = chosen["start"], chosen["title"]
        clip = self.current
        self.results.set_rendered(None)
        self.results.set_pick(chosen["track_id"], start)
        failed = lambda message: self.notice.show_message("error", message)  # noqa: E731
        if self.fit_action.isChecked() and clip is not None:

            def fitted(edit: Fitted) -> None:
                still = self.current is clip and clip.chosen is chosen and self.fit_action.isChecked()
                if still and (clip.clip_in, clip.out_point) == (spec["clip_in"], spec["clip_out"]):
                    # The edit starts at the clip's in point and is the region whole: nothing to drag.
                    self.preview.set_track(edit.audio, 0.0, f"♪ {title}, fitted to the clip", movable=False)
                    self.preview.waveform.set_grid(edit.beats, edit.downbeats)
                    self.results.set_rendered(chosen["track_id"], edit.path)  # dragged out as the edit
                    self.fitted.emit()

            spec = {"path": clip.path, "clip_in": clip.clip_in, "clip_out": clip.out_point}
            loudness = Preferences.read(self.settings).loudness
            self.session.load_fitted(spec, chosen, fitted, failed, loudness=loudness)
            return

        def still_chosen() -> bool:  # not another clip or track, chosen while this one loaded
            return self.current is clip and (clip is None or clip.chosen is chosen)

        def loaded(audio) -> None:
            if not still_chosen():
                return
            self.preview.set_track(audio, start, _track_label(title, start), loudness=chosen.get("loudness"))
            self.session.beats(
                chosen["track_id"],
                lambda grid: (
                    self.preview.waveform.set_grid(grid.times, grid.downbeats, grid.fade_at) if still_chosen() else None
                ),
            )

        self.session.load_audio(chosen["path"], loaded, failed)

    def fit_toggled(self, on: bool) -> None:
        self.settings.setValue("export/fit", "true" if on else "false")
        if self.current is not None and self.current.chosen:  # preview what the export will now write
            self._preview_track(self.current.chosen)

    def _track_start_dragged(self, start: float) -> None:
        if self.current is not None and self.current.chosen:
            # Kept through shorter edits of the clip (`_replace_chosen`): it was chosen for this length.
            self.current.chosen.update(start=start, by_hand=True, placed_for=self.current.length)
            self._record("Move the music's start")
            self.preview.track_label.setText(_track_label(self.current.chosen["title"], start))
            self.results.set_pick(self.current.chosen["track_id"], start)

    # ---- export ----

    EXPORT_FILTERS = ";;".join(
        [
            "OpenTimelineIO – Kdenlive and others (*.otio)",
            "FCP 7 XML – Premiere, Resolve (*.xml)",
            "FCPXML – Final Cut (*.fcpxml)",
            "CMX 3600 EDL – picture only (*.edl)",
        ]
    )

    def choose_export(self) -> None:
        if not self.clips:
            self.notice.show_message("warning", "The timeline is empty: add clips, choose their music, then export.")
            return
        path, chosen_filter = QFileDialog.getSaveFileName(
            self, "Export timeline", str(Path.home() / "Needledrop.otio"), self.EXPORT_FILTERS
        )
        if not path:
            return
        target = with_format_suffix(path, chosen_filter)
        if target != path and Path(target).exists():  # the dialog asked about the name as typed, not this one
            answer = QMessageBox.question(self, "Export timeline", f"{target} already exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.export_timeline(target)

    def export_timeline(self, path: str) -> None:
        """The clips in timeline order with their chosen tracks, each from the start the preview plays."""
        if not self.session.ready:
            self.notice.show_message("warning", "The model is not open yet: export again in a moment.")
            return
        clips = [self.clips[i] for i in self.timeline.order() if i in self.clips]
        gone = [Path(c.path).name for c in clips if not Path(c.path).is_file()]
        clips = [c for c in clips if Path(c.path).is_file()]  # the rest are exported, the gone ones named
        if not clips:
            self.notice.show_message(
                "error",
                f"The timeline could not be exported: no clip's video is there ({gone[0]} is missing)"
                if gone
                else "The timeline is empty: add clips, choose their music, then export.",
            )
            return
        # Music on a drive unplugged since it was chosen: the clip goes without it, and the track is named.
        heard = {c.id: c.chosen for c in clips if c.chosen and os.path.isfile(c.chosen["path"])}
        unheard = [c.chosen["title"] for c in clips if c.chosen and c.id not in heard]
        # Places come with an imported cut's rate; without one (none imported) no clip has a place to lose.
        places, moved = export_places(clips, self.frame_rate[0] if self.frame_rate else 25.0)
        spec = [
            {"path": c.path, "clip_in": c.clip_in, "clip_out": c.out_point, "chosen": heard.get(c.id), "record_in": at}
            for c, at in zip(clips, places, strict=True)
        ]
        missing = sum(1 for c in clips if not c.chosen)
        # An imported cut's timecode and rate go with its clips: not after they were removed or undone.
        cut = any(c.record_in is not None for c in clips)

        fit = self.fit_action.isChecked()
        collect = collect_folder(path) if self.collect_action.isChecked() or fit else None

        def done(result) -> None:
            extra = f" ({missing} without music: choose a result for them)" if missing else ""
            notes = "".join(f"\n{note[0].upper()}{note[1:]}." for note in result.notes)
            notes += "".join(f"\n{note[0].upper()}{note[1:]}." for note in moved)
            if gone:
                notes += f"\nLeft out, their video missing: {', '.join(gone)}."
            if unheard:
                notes += f"\nWithout their music, its file missing (is its drive plugged in?): {', '.join(unheard)}."
            level = "warning" if result.notes or gone or unheard or moved else "info"
            self.notice.show_message(level, f"Exported {len(clips)} clip(s) to {result.path}{extra}{notes}")
            self.exported.emit(result.path)

        self.session.export(
            spec,
            path,
            done,
            lambda message: self.notice.show_message("error", f"The timeline could not be exported: {message}"),
            collect=collect,
            fit=fit,
            loudness=Preferences.read(self.settings).loudness,
            start_timecode=self.start_timecode if cut else None,
            frame_rate=self.frame_rate if cut else None,
        )

    # ---- settings ----

    def open_settings(self) -> SettingsDialog:
        """The settings, window-modal; they apply when it is accepted."""
        dialog = SettingsDialog(self.session.details, Preferences.read(self.settings), self.music.error, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.preferences()))
        dialog.open()
        return dialog

    def apply_settings(self, new: Preferences) -> None:
        """Save the settings and act on what changed, at once where that can be done while the app runs."""
        old = Preferences.read(self.settings)
        new.write(self.settings)
        if new.device != self.device:
            self._switch_output(new.device)
        if new.loudness != old.loudness and self.fit_action.isChecked() and self.current and self.current.chosen:
            self._preview_track(self.current.chosen)  # the fitted music, levelled to the new target
        if (new.api_enabled, new.api_port) != (old.api_enabled, old.api_port) and self.session.ready:
            if self.api is not None and new.api_enabled:
                self._move_api(new.api_port)
            elif self.api is not None:
                self.api.stop()
                self.api = None
                self._show_status()
            else:
                self._start_api()
        if new.data_dir != old.data_dir:
            self._data_dir_notice(new)

    def _data_dir_notice(self, new: Preferences) -> None:
        """The data folder setting changed: say when it takes effect, or what overrides it."""
        if os.environ.get("NEEDLEDROP_DATA_DIR"):
            text = "NEEDLEDROP_DATA_DIR is set: it decides the data folder while it is set, not this setting."
        elif self.data_dir_given:
            text = "Needledrop was started with --data-dir: the data folder setting is used when it starts without it."
        elif (target := data_dir_for(None, new)) != self.session.data_dir:
            text = f"The library data folder {target} is used from the next start."
        else:
            return
        self.notice.show_message("info", text)

    def _switch_output(self, device: int | None) -> None:
        self.device = device
        was_playing = self.preview.playing
        self.preview.stop()
        self.music.close()
        self.music = MusicOutput(self.device)
        self.preview.music = self.music
        if self.preview.track is not None:
            self.music.set_track(self.preview.track, self.preview.expected_music_time())
        if self.music.error:
            self.notice.show_message("warning", self.music.error)
        elif was_playing:
            self.preview.play()


def _pictured_at(clip_in: float, out_point: float) -> float:
    """Where the timeline's picture of a clip is taken: a second into the part used (past a fade from
    black), or its middle when that is shorter."""
    return min(clip_in + 1.0, (clip_in + out_point) / 2)


def _track_label(title: str, start: float) -> str:
    """What plays under the picture, as the results list its start."""
    return f"♪ {title} from {clock(start)}"


def with_format_suffix(path: str, chosen_filter: str) -> str:
    """The file name typed in the export dialog, with the suffix of the format chosen in it where the name
    has no timeline suffix of its own ("MyEdit" with FCPXML chosen is MyEdit.fcpxml)."""
    offered = re.findall(r"\*(\.\w+)", MainWindow.EXPORT_FILTERS)
    chosen = re.search(r"\*(\.\w+)", chosen_filter)
    if chosen is None or Path(path).suffix.lower() in offered:
        return path
    return path + chosen.group(1)
