"""The "Tempo" submenu of a track, in the results and the library browser: where the scan read the track at
another tempo than the one you hear (its half, its double..., or a grid that drifted from the music), count it
at the one you hear (Engine.set_tempo). Each level is offered with the tempo it gives; any other tempo is
typed or tapped along with the preview (`TempoDialog`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from fractions import Fraction

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QLabel, QMenu, QPushButton, QVBoxLayout, QWidget

from desktop.session import TempoChoice
from engine.facade import PLAUSIBLE_BPM, Engine
from engine.records import Result, Track

# The scan's usual misses (docs/quality.md, *Tempo*), as what to multiply the tempo shown by.
LEVELS = (
    ("Half", Fraction(1, 2)),
    ("Double", Fraction(2)),
    ("Two thirds", Fraction(2, 3)),
    ("Three halves", Fraction(3, 2)),
)


def add_tempo_menu(menu: QMenu, track: Track | Result, choose: Callable[[TempoChoice], None]) -> QMenu:
    """A "Tempo" submenu of `menu` for a track (a library track or a result: the tempo each shows);
    `choose(choice)` with what was chosen. Disabled, with its reason, where nothing can be set."""
    bpm, measured = track.bpm, track.bpm_measured
    sub = menu.addMenu("Tempo")
    if track.quick or not (bpm and measured) and not track.bpm_set:
        sub.setEnabled(False)
        sub.setToolTip("analysed by a quick pass only so far" if track.quick else "no steady beat was heard in it")
        return sub
    for name, times in LEVELS:
        level = (bpm or 0.0) * float(times)
        action = QAction(f"{name}: {level:.0f} BPM", sub)
        action.setEnabled(bool(measured) and Engine.tempo_settable(level))
        action.triggered.connect(lambda _=False, t=times: choose(TempoChoice(times=t)))
        sub.addAction(action)
    other = QAction("Other tempo… (type or tap it)", sub)
    other.setEnabled(bool(measured))
    other.triggered.connect(lambda: open_tempo_dialog(menu.parentWidget(), track, choose))
    sub.addAction(other)
    sub.addSeparator()
    back = QAction("As the scan measured it", sub)
    back.setEnabled(track.bpm_set)
    back.triggered.connect(lambda: choose(TempoChoice()))
    sub.addAction(back)
    return sub


def open_tempo_dialog(
    parent: QWidget | None, track: Track | Result, choose: Callable[[TempoChoice], None]
) -> TempoDialog:
    """The tempo dialog for `track`, open beside the window and not blocking it, so that the preview can be
    played and paused while you tap; `choose` is called with the tempo when it is accepted."""
    dialog = TempoDialog(track, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.accepted.connect(lambda: choose(TempoChoice(bpm=dialog.bpm())))
    dialog.show()
    return dialog


class TapTempo:
    """A tempo from taps on the beat: the median of the last taps' intervals (one early or late tap moves it
    little), started afresh after a pause longer than the slowest tempo's beat."""

    KEEP = 16  # taps: about four bars
    READING_FROM = 4  # taps: three intervals before a tempo is shown

    def __init__(self) -> None:
        self.taps: list[float] = []

    def tap(self, at: float) -> float | None:
        """Record a tap at `at` seconds (any monotonic clock); the tempo the taps give, or None (too few)."""
        if self.taps and at - self.taps[-1] > 60.0 / PLAUSIBLE_BPM[0]:
            self.taps.clear()
        self.taps = [*self.taps, at][-self.KEEP :]
        return self.bpm()

    def bpm(self) -> float | None:
        """The tempo the taps so far give, or None (too few)."""
        if len(self.taps) < self.READING_FROM:
            return None
        intervals = [b - a for a, b in zip(self.taps, self.taps[1:], strict=False)]
        return 60.0 / statistics.median(intervals)


class TempoDialog(QDialog):
    """Type the tempo you hear, or tap it (the Tap button or T) along with the preview."""

    def __init__(
        self, track: Track | Result, parent: QWidget | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(parent)
        self.clock, self.taps = clock, TapTempo()
        self.setWindowTitle("Tempo")
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        measured = f"The scan measured {track.bpm_measured:.0f} BPM." if track.bpm_measured else ""
        self.intro = QLabel(f"The tempo you hear in {track.label}. {measured}")
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(*PLAUSIBLE_BPM)
        self.spin.setDecimals(1)
        self.spin.setSuffix(" BPM")
        self.spin.setValue(track.bpm or track.bpm_measured or 120.0)
        layout.addWidget(self.spin)
        self.tap_button = QPushButton("Tap along (T)")
        self.tap_button.setAutoDefault(False)  # Enter sets the tempo; only a click or T taps
        self.tap_button.setToolTip("Tap on the beat as the preview plays (or press T)")
        self.tap_button.clicked.connect(self.tap)
        QShortcut(QKeySequence("T"), self, activated=self.tap).setAutoRepeat(False)  # a key held is one tap
        layout.addWidget(self.tap_button)
        self.reading = QLabel(
            f"To tap along, play the track in the preview (choose it, Space in the main window), then tap here "
            f"at least {TapTempo.READING_FROM} times."
        )
        self.reading.setWordWrap(True)
        layout.addWidget(self.reading)
        note = QLabel(
            "At its half, double or another level of the measured tempo, the measured beats are counted at it; "
            "at any other tempo (one tapped, say) they are found again in the file, which takes a second or two."
        )
        note.setWordWrap(True)
        note.setObjectName("muted")
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Set tempo")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.tap_button.setFocus()  # T taps at once (a focused spin box would take the key as typing)

    def tap(self) -> None:
        """A tap on the beat: the tempo the taps give so far, put in the box once there are enough."""
        bpm = self.taps.tap(self.clock())
        count = len(self.taps.taps)
        if bpm is None:
            self.reading.setText(f"{count} tap{'s' if count > 1 else ''}: tap at least {TapTempo.READING_FROM}.")
        elif not Engine.tempo_settable(bpm):
            self.reading.setText(f"{count} taps: {bpm:.0f} BPM, outside {PLAUSIBLE_BPM[0]}–{PLAUSIBLE_BPM[1]}.")
        else:
            self.spin.setValue(round(bpm, 1))
            self.reading.setText(f"{count} taps: {bpm:.1f} BPM.")

    def bpm(self) -> float:
        return self.spin.value()
