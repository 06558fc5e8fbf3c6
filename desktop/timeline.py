"""The timeline strip: clips in order, each with its own in/out points, prompt, results and chosen track."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QImage, QPixmap
from PyQt6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from engine.clock import format_timecode
from engine.records import Result

THUMB = QSize(128, 72)
SAVED = ("path", "duration", "clip_in", "clip_out", "prompt", "balance", "chosen", "shortlist", "record_in")
_ids = itertools.count(1)


@dataclass
class TimelineClip:
    path: str
    duration: float
    clip_in: float = 0.0
    clip_out: float | None = None  # None: to the end of the file
    prompt: str = ""
    balance: float = 0.5
    chosen: dict | None = None  # {"track_id", "path", "title", "start"}: the pick for this clip
    shortlist: list[dict] = field(default_factory=list)  # results kept for this clip (engine Result fields)
    answer: object | None = None  # the latest results (not saved: they are asked again on load)
    record_in: float | None = None  # its place in an imported editor's timeline, seconds (None: after the last)
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def out_point(self) -> float:
        return self.duration if self.clip_out is None else self.clip_out

    @property
    def length(self) -> float:
        return max(0.0, self.out_point - self.clip_in)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in SAVED}

    @classmethod
    def from_json(cls, data: object) -> tuple[TimelineClip, list[str]]:
        """A clip as timeline.json holds it, and what of it was put right (a part that does not hold is set
        back to its default rather than lose the clip); ValueError when it has no video or no length."""
        if not isinstance(data, dict) or not isinstance(data.get("path"), str) or not data["path"]:
            raise ValueError("it names no video file")
        name = Path(data["path"]).name
        duration = data.get("duration")
        if not _seconds(duration) or duration <= 0:
            raise ValueError(f"{name}: its length is not a number of seconds")
        clip = cls(data["path"], float(duration))
        fixed: list[str] = []
        clip_in, clip_out = data.get("clip_in", 0.0), data.get("clip_out")
        if (
            _seconds(clip_in)
            and 0 <= clip_in < duration
            and (clip_out is None or (_seconds(clip_out) and clip_in < clip_out <= duration + 1e-6))
        ):
            clip.clip_in, clip.clip_out = float(clip_in), None if clip_out is None else float(clip_out)
        else:
            fixed.append(f"{name}: its in and out points were not a range in the file, so it is used whole")
        if isinstance(prompt := data.get("prompt", ""), str):
            clip.prompt = prompt
        if _seconds(balance := data.get("balance", 0.5)) and 0 <= balance <= 1:
            clip.balance = float(balance)
        chosen = data.get("chosen")
        if isinstance(chosen, dict) and chosen.keys() >= _CHOSEN and _seconds(chosen["start"]):
            clip.chosen = chosen
        elif chosen is not None:
            fixed.append(f"{name}: its chosen track could not be read, so none is chosen")
        if _seconds(record_in := data.get("record_in")) and record_in >= 0:
            clip.record_in = float(record_in)
        shortlist = data.get("shortlist", [])
        entries = shortlist if isinstance(shortlist, list) else [shortlist]
        clip.shortlist = [entry for entry in entries if _result(entry)]
        if len(clip.shortlist) < len(entries):
            fixed.append(f"{name}: part of its shortlist could not be read and is left out")
        return clip, fixed


_CHOSEN = {"track_id", "path", "title", "start"}


def _seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _result(entry: object) -> bool:
    """Whether a shortlist entry is a whole result, as the results list shows one."""
    if not isinstance(entry, dict):
        return False
    try:
        Result(**entry)
    except TypeError:
        return False
    return True


def export_places(clips: list[TimelineClip], rate: float) -> tuple[list[float | None], list[str]]:
    """Each clip's place for the export, in timeline order: its imported place where it still starts after
    the clip before it ends, else none (it follows that clip straight on, as the export places a clip without
    one). An imported cut reordered, a clip lengthened, or clips added before its own would otherwise overlap,
    which no timeline can hold; each clip moved is named, with how far. `rate`: the cut's frames, on which a
    place that touches the end of the clip before is not an overlap."""
    places: list[float | None] = []
    moved: list[str] = []
    end = 0.0
    for clip in clips:
        at = clip.record_in
        if at is not None and at < end - 0.5 / rate:
            moved.append(
                f"the clip from {Path(clip.path).name} starts {end - at:.2f} s after its place in the imported cut, "
                "straight after the clip before it, which it would have overlapped"
            )
            at = None
        places.append(at)
        end = (end if at is None else at) + clip.length
    return places, moved


def clips_from_json(data: object) -> tuple[list[TimelineClip], int, list[str]]:
    """The clips of a saved timeline, the one selected, and what was put right or left out (a line each);
    ValueError when `data` is not a timeline at all."""
    if not isinstance(data, dict) or not isinstance(data.get("clips", []), list):
        raise ValueError("it is not a Needledrop timeline")
    clips, said = [], []
    for number, entry in enumerate(data.get("clips", []), 1):
        try:
            clip, fixed = TimelineClip.from_json(entry)
        except ValueError as exc:
            said.append(f"clip {number} is left out: {exc}")
            continue
        clips.append(clip)
        said += fixed
    current = data.get("current", 0)
    return clips, current if isinstance(current, int) and not isinstance(current, bool) else 0, said


def _short(seconds: float) -> str:
    """A timecode without its hours when there are none."""
    return format_timecode(seconds).removeprefix("00:")


def _icon(rgb: np.ndarray | None) -> QIcon:
    pixmap = QPixmap(THUMB)
    pixmap.fill(Qt.GlobalColor.black)
    if rgb is not None:
        h, w, _ = rgb.shape
        image = QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        pixmap = QPixmap.fromImage(image).scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio)
    return QIcon(pixmap)


class TimelineStrip(QListWidget):
    """Clips left to right. Drop files from the file manager onto it; drag clips to reorder them."""

    filesDropped = pyqtSignal(list)  # paths of video files
    orderChanged = pyqtSignal()
    removeRequested = pyqtSignal(int)  # clip id

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(THUMB)
        self.setSpacing(6)
        self.setFixedHeight(THUMB.height() + 40)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setAcceptDrops(True)
        self.setToolTip("Drop video clips here; drag to reorder; Delete removes the selected clip")
        self.model().rowsMoved.connect(lambda *_: self.orderChanged.emit())

    # ---- items ----

    def add_clip(self, clip: TimelineClip) -> QListWidgetItem:
        item = QListWidgetItem(_icon(None), "")
        item.setData(Qt.ItemDataRole.UserRole, clip.id)
        self.addItem(item)
        self.update_clip(clip)
        return item

    def item_of(self, clip_id: int) -> QListWidgetItem | None:
        for row in range(self.count()):
            if self.item(row).data(Qt.ItemDataRole.UserRole) == clip_id:
                return self.item(row)
        return None

    def update_clip(self, clip: TimelineClip) -> None:
        item = self.item_of(clip.id)
        if item is None:
            return
        pick = f"\n♪ {clip.chosen['title']}" if clip.chosen else ""
        span = f"{_short(clip.clip_in)}–{_short(clip.out_point)}"
        item.setText(f"{Path(clip.path).name}\n{span}{pick}")
        item.setToolTip(clip.path)

    def set_thumbnail(self, clip_id: int, rgb: np.ndarray) -> None:
        item = self.item_of(clip_id)
        if item is not None:
            item.setIcon(_icon(rgb))

    def order(self) -> list[int]:
        return [self.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.count())]

    def current_id(self) -> int | None:
        item = self.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def set_order(self, clip_ids: list[int]) -> None:
        """Put the clips in this order (undo); the selection stays on the clip it was on."""
        current = self.current_id()
        self.blockSignals(True)  # the order is being restored, not edited; the selection is put back below
        try:
            for target, clip_id in enumerate(clip_ids):
                item = self.item_of(clip_id)
                if item is not None and self.row(item) != target:
                    self.insertItem(target, self.takeItem(self.row(item)))
        finally:
            self.blockSignals(False)
        if current is not None and self.item_of(current) is not None:
            self.setCurrentItem(self.item_of(current))

    def move_current(self, step: int) -> None:
        row = self.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.count():
            return
        item = self.takeItem(row)
        self.insertItem(target, item)
        self.setCurrentRow(target)
        self.orderChanged.emit()

    def remove_current(self) -> None:
        clip_id = self.current_id()
        if clip_id is not None:
            self.removeRequested.emit(clip_id)

    # ---- dropping files from outside ----

    @staticmethod
    def _paths(event) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and os.path.isfile(u.toLocalFile())]

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            paths = self._paths(event)
            event.acceptProposedAction()
            if paths:
                self.filesDropped.emit(paths)
            return
        super().dropEvent(event)
        self.orderChanged.emit()
