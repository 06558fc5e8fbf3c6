"""The chosen track's waveform under the picture: a time ruler, its bars and beats, its level, and the region
that plays under the clip (what the export writes). Dragging the region moves where the music starts; it
lands on the nearest downbeat (Alt held: exactly where it is dropped), as the engine's own starts do."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import QWidget

from desktop.theme import ACCENT
from engine.clock import clock
from engine.media.playback import PlaybackAudio

RULER = 15  # pixels of the time ruler above the waveform
RANGE_DB = 36.0  # the drawing spans this many dB below full scale: a quiet track is drawn small, not flat
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)  # seconds between labelled ticks
MIN_TICK_PX = 56  # labels need about this much room
LABEL_GAP_PX = 8  # between the last tick label and the loudness at the ruler's right end
MIN_BEAT_PX = 4.0  # beats closer than this are not drawn (bars still are)


def level(amplitude: np.ndarray) -> np.ndarray:
    """Peak amplitudes (0..1) as drawing heights (0..1) on a dB scale: -RANGE_DB dBFS and below draw nothing."""
    db = 20 * np.log10(np.maximum(np.abs(amplitude), 1e-9))
    return np.clip(1 + db / RANGE_DB, 0.0, 1.0)


def ruler_ticks(duration: float, width: float) -> np.ndarray:
    """Tick times for a ruler `width` pixels wide over `duration` seconds: the finest step whose labels fit."""
    if duration <= 0 or width <= 0:
        return np.zeros(0)
    step = next((s for s in TICK_STEPS if s / duration * width >= MIN_TICK_PX), TICK_STEPS[-1])
    return np.arange(0.0, duration + 1e-9, step)


def snap(start: float, downbeats: np.ndarray, latest: float) -> float:
    """The downbeat nearest `start` that still leaves the region's length of music (at most `latest`);
    `start` itself when the track has no usable downbeat."""
    usable = downbeats[(downbeats >= 0) & (downbeats <= latest + 1e-6)] if len(downbeats) else downbeats
    if not len(usable):
        return start
    return float(usable[np.argmin(np.abs(usable - start))])


class WaveformView(QWidget):
    """The whole track (or the fitted edit) with the region that plays under the clip."""

    startChanged = pyqtSignal(float)  # seconds into the track, after a drag (snapped)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.peaks = np.zeros((0, 2), np.float32)
        self.duration = 0.0
        self.loudness: float | None = None  # the track's integrated loudness (LUFS), as the scan measured it
        self.beats = np.zeros(0)
        self.downbeats = np.zeros(0)
        self.fade_at: float | None = None  # where the track's fade-out begins, as the scan found it
        self.start = 0.0
        self.length = 0.0
        self.movable = True  # False for a fitted edit: its region is the whole edit
        self.playhead: float | None = None
        self._drag_from: tuple[float, float] | None = None
        self.setMinimumHeight(76)
        self._set_hint()

    def _set_hint(self) -> None:
        if self.movable:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            self.setToolTip(
                "The part of the track that plays under the clip: drag it to start elsewhere "
                "(it lands on a downbeat; hold Alt to place it freely)"
            )
        else:
            self.unsetCursor()
            self.setToolTip("The music fitted to the clip, as the export writes it: turn off Fit music to move it")

    # ---- what is drawn ----

    def set_audio(self, audio: PlaybackAudio | None, loudness: float | None = None, *, movable: bool = True) -> None:
        """A new track (None: nothing); its grid is cleared until `set_grid` brings the new one."""
        self.peaks = audio.peaks if audio is not None else np.zeros((0, 2), np.float32)
        self.duration = audio.duration if audio is not None else 0.0
        self.loudness = loudness
        self.beats = self.downbeats = np.zeros(0)
        self.fade_at = None
        self.movable = movable
        self._set_hint()
        self.update()

    def set_grid(self, beats: np.ndarray, downbeats: np.ndarray, fade_at: float | None = None) -> None:
        self.beats, self.downbeats = np.asarray(beats, float), np.asarray(downbeats, float)
        self.fade_at = fade_at
        self.update()

    def set_region(self, start: float, length: float) -> None:
        self.start, self.length = start, length
        self.update()

    def _x(self, seconds: float | np.ndarray) -> float | np.ndarray:
        return 0.0 * seconds if self.duration <= 0 else np.asarray(seconds) / self.duration * self.width()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(22, 22, 24))
        if not len(self.peaks):
            painter.setPen(QColor(110, 110, 110))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Choose a result to see its waveform")
            return
        self._paint_ruler(painter)
        top = RULER
        mid, half = (top + self.height()) / 2, (self.height() - top) / 2 - 2
        region = QRectF(float(self._x(self.start)), top, max(2.0, float(self._x(self.length))), self.height() - top)
        painter.fillRect(region, QColor(ACCENT.red(), ACCENT.green(), ACCENT.blue(), 60))
        up, down = level(np.maximum(self.peaks[:, 1], 0)), level(np.maximum(-self.peaks[:, 0], 0))
        step = self.width() / len(self.peaks)
        for i in range(len(self.peaks)):
            x = i * step
            inside = region.left() <= x <= region.right()
            painter.setPen(QColor(170, 200, 240) if inside else QColor(95, 95, 100))
            painter.drawLine(QPointF(x, mid - up[i] * half), QPointF(x, mid + down[i] * half))
        self._paint_grid(painter, top)  # over the waveform: a bar line reads through a loud passage
        if self.fade_at is not None:  # the fade-out, which no clip's music ends in: dimmed
            fade = QRectF(float(self._x(self.fade_at)), top, self.width(), self.height() - top)
            painter.fillRect(fade, QColor(0, 0, 0, 110))
            painter.setPen(QColor(150, 150, 155))
            # Named inside the dimmed part only: pushed left of it, the word fell over music a clip may play.
            if fade.left() + 4 + painter.fontMetrics().horizontalAdvance("fade") <= self.width() - 4:
                painter.drawText(fade.adjusted(4, 0, 0, 0), Qt.AlignmentFlag.AlignTop, "fade")
        painter.setPen(QPen(ACCENT, 2))
        painter.drawRect(region)
        if self.playhead is not None:
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            x = float(self._x(self.playhead))
            painter.drawLine(QPointF(x, top), QPointF(x, self.height()))

    def _paint_ruler(self, painter: QPainter) -> None:
        painter.setPen(QColor(130, 130, 135))
        metrics, clear = painter.fontMetrics(), float(self.width())
        if self.loudness is not None:
            label = f"{self.loudness:.1f} LUFS"
            right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(QRectF(0, 0, self.width() - 4, RULER), right, label)
            clear = self.width() - 4 - metrics.horizontalAdvance(label) - LABEL_GAP_PX
        for t in ruler_ticks(self.duration, self.width()):
            x = float(self._x(t))
            if x > clear:  # under the loudness: a tick there would strike through it
                continue
            painter.drawLine(QPointF(x, RULER - 5), QPointF(x, RULER))
            text = clock(t)
            # Drawn 3 px right of its tick, and never over the loudness.
            if x + 3 + metrics.horizontalAdvance(text) <= clear:
                painter.drawText(QRectF(x + 3, 0, MIN_TICK_PX, RULER), Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_grid(self, painter: QPainter, top: float) -> None:
        """Beats as faint lines where they are far enough apart to read, bars (downbeats) brighter."""
        if len(self.beats) > 1 and np.median(np.diff(self._x(self.beats))) >= MIN_BEAT_PX:
            painter.setPen(QColor(255, 255, 255, 28))
            for x in self._x(self.beats):
                painter.drawLine(QPointF(x, top), QPointF(x, self.height()))
        painter.setPen(QColor(255, 214, 120, 110))
        for x in self._x(self.downbeats):
            painter.drawLine(QPointF(x, top), QPointF(x, self.height()))

    # ---- moving the start ----

    def mousePressEvent(self, event) -> None:
        if self.duration > 0 and self.movable:
            self._drag_from = (event.position().x(), self.start)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is None or self.duration <= 0:
            return
        x0, start0 = self._drag_from
        moved = (event.position().x() - x0) / max(self.width(), 1) * self.duration
        self.start = float(np.clip(start0 + moved, 0.0, self._latest()))
        self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_from is None:
            return
        self._drag_from = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        if not event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self.start = snap(self.start, self.downbeats, self._latest())
        self.update()
        self.startChanged.emit(self.start)

    def _latest(self) -> float:
        """The latest start that still plays the whole region."""
        return max(0.0, self.duration - min(self.length, self.duration))
