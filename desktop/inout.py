"""In and out points of the selected clip: drag the handles of the range bar, or type timecodes."""

from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from desktop.theme import ACCENT
from engine.clock import format_timecode, parse_timecode

MIN_LENGTH = 1.0  # seconds: shorter than this is not a scene anyone scores
_SLACK = 1e-6  # seconds: 1.4 - 0.4 is 0.9999999999999999, and a range of 1 s is long enough
HANDLE = 7  # pixels either side of a handle that grab it


class RangeBar(QWidget):
    """The file's length with the [in, out] range; drag either handle, or the range itself."""

    rangeEdited = pyqtSignal(float, float)  # while dragging
    rangeChosen = pyqtSignal(float, float)  # on release

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.duration = 0.0
        self.clip_in, self.clip_out = 0.0, 0.0
        self.playhead: float | None = None
        self._drag: tuple[str, float, float, float] | None = None
        self.setMinimumHeight(26)
        self.setMouseTracking(True)

    def set_range(self, duration: float, clip_in: float, clip_out: float) -> None:
        self.duration, self.clip_in, self.clip_out = duration, clip_in, clip_out
        self.update()

    def _x(self, seconds: float) -> float:
        return 0.0 if self.duration <= 0 else seconds / self.duration * (self.width() - 1)

    def _seconds(self, x: float) -> float:
        return 0.0 if self.width() <= 1 else min(max(x / (self.width() - 1), 0.0), 1.0) * self.duration

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 30, 32))
        if self.duration <= 0:
            return
        a, b = self._x(self.clip_in), self._x(self.clip_out)
        painter.fillRect(QRectF(a, 0, b - a, self.height()), QColor(ACCENT.red(), ACCENT.green(), ACCENT.blue(), 90))
        painter.setPen(QPen(ACCENT, 3))
        for x in (a, b):
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        if self.playhead is not None:
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            x = self._x(self.playhead)
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))

    def _hit(self, x: float) -> str:
        a, b = self._x(self.clip_in), self._x(self.clip_out)
        if abs(x - a) <= HANDLE:
            return "in"
        if abs(x - b) <= HANDLE:
            return "out"
        return "range" if a < x < b else ""

    def mousePressEvent(self, event) -> None:
        part = self._hit(event.position().x())
        if part:
            self._drag = (part, event.position().x(), self.clip_in, self.clip_out)

    def mouseMoveEvent(self, event) -> None:
        x = event.position().x()
        if self._drag is None:
            part = self._hit(x)
            cursor = Qt.CursorShape.SizeHorCursor if part in ("in", "out") else Qt.CursorShape.ArrowCursor
            self.setCursor(Qt.CursorShape.OpenHandCursor if part == "range" else cursor)
            return
        part, x0, in0, out0 = self._drag
        if part == "in":
            self.clip_in = min(self._seconds(x), self.clip_out - MIN_LENGTH)
            self.clip_in = max(self.clip_in, 0.0)
        elif part == "out":
            self.clip_out = max(self._seconds(x), self.clip_in + MIN_LENGTH)
            self.clip_out = min(self.clip_out, self.duration)
        else:
            shift = self._seconds(x) - self._seconds(x0)
            shift = min(max(shift, -in0), self.duration - out0)
            self.clip_in, self.clip_out = in0 + shift, out0 + shift
        self.update()
        self.rangeEdited.emit(self.clip_in, self.clip_out)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is not None:
            self._drag = None
            self.rangeChosen.emit(self.clip_in, self.clip_out)


class InOutEditor(QWidget):
    """The range bar with in/out timecode fields and buttons that set them at the playhead (I and O)."""

    rangeChosen = pyqtSignal(float, float)
    invalid = pyqtSignal(str)
    refusalAnswered = pyqtSignal(str)  # a refusal `invalid` said, which points applied since have answered

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = RangeBar(self)
        self.in_edit, self.out_edit = QLineEdit(), QLineEdit()
        for edit, tip in ((self.in_edit, "In point"), (self.out_edit, "Out point")):
            edit.setFixedWidth(96)
            edit.setToolTip(f"{tip}: seconds (83.5) or [HH:]MM:SS[.ss]; Enter applies")
            edit.editingFinished.connect(self._typed)
        self.length_label = QLabel("")
        self.length_label.setObjectName("muted")
        self.set_in_button, self.set_out_button = QPushButton("I"), QPushButton("O")
        self.set_in_button.setToolTip("Set the in point at the playhead (I)")
        self.set_out_button.setToolTip("Set the out point at the playhead (O)")
        self.set_in_button.setFixedWidth(32)
        self.set_out_button.setFixedWidth(32)
        self.bar.rangeEdited.connect(self._show)
        self.bar.rangeChosen.connect(self._chosen)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("In"))
        layout.addWidget(self.in_edit)
        layout.addWidget(self.set_in_button)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.set_out_button)
        layout.addWidget(QLabel("Out"))
        layout.addWidget(self.out_edit)
        layout.addWidget(self.length_label)
        self.refusal: str | None = None  # the last points refused, until points are applied
        self.setEnabled(False)

    def set_range(self, duration: float, clip_in: float, clip_out: float) -> None:
        self.setEnabled(duration > 0)
        self.bar.set_range(duration, clip_in, clip_out)
        self._show(clip_in, clip_out)

    def _show(self, clip_in: float, clip_out: float) -> None:
        self.in_edit.setText(format_timecode(clip_in))
        self.out_edit.setText(format_timecode(clip_out))
        self.length_label.setText(f"{clip_out - clip_in:.1f} s")

    def _chosen(self, clip_in: float, clip_out: float) -> None:
        self._show(clip_in, clip_out)
        if self.refusal is not None:
            self.refusalAnswered.emit(self.refusal)
            self.refusal = None
        self.rangeChosen.emit(clip_in, clip_out)

    def _typed(self) -> None:
        """Typed points, applied as typed or refused with the reason: never one moved to make room for the
        other (an out point typed before the in point used to move the in point)."""
        try:
            clip_in = _typed_value(self.in_edit.text(), self.bar.clip_in)
            clip_out = _typed_value(self.out_edit.text(), self.bar.clip_out)
        except ValueError as exc:
            self._refuse(str(exc))
            return
        duration = self.bar.duration
        if clip_in > duration - MIN_LENGTH + _SLACK:
            self._refuse(
                f"the in point {format_timecode(clip_in)} leaves less than {MIN_LENGTH:g} s of the clip, which "
                f"is {format_timecode(duration)} long"
            )
            return
        if clip_out > duration:
            self.invalid.emit(f"the clip is {format_timecode(duration)} long: the out point is its end")
            clip_out = duration
        if clip_out - clip_in < MIN_LENGTH - _SLACK:
            self._refuse(
                f"the out point {format_timecode(clip_out)} must come at least {MIN_LENGTH:g} s after the in "
                f"point {format_timecode(clip_in)}"
            )
            return
        self.set_points(clip_in, clip_out)

    def _refuse(self, reason: str) -> None:
        self.refusal = reason
        self.invalid.emit(reason)
        self._show(self.bar.clip_in, self.bar.clip_out)

    def set_points(self, clip_in: float, clip_out: float) -> None:
        """Apply in/out points from outside the bar (typed, or set at the playhead), clamped to the file."""
        duration = self.bar.duration
        clip_out = min(max(clip_out, MIN_LENGTH), duration)
        latest = max(clip_out - MIN_LENGTH, 0.0)
        clip_in = max(clip_in, 0.0) if clip_in <= latest + _SLACK else latest
        if (clip_in, clip_out) == (self.bar.clip_in, self.bar.clip_out):
            self._show(clip_in, clip_out)
            return
        self.bar.set_range(duration, clip_in, clip_out)
        self._chosen(clip_in, clip_out)


def _typed_value(text: str, current: float) -> float:
    """Seconds typed in a field; the point as it is where the field still shows it (the field rounds to the
    hundredth, which must not read as a new point, past the end of the clip, on leaving the field)."""
    return current if text.strip() == format_timecode(current) else parse_timecode(text)
