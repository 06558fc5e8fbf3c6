"""The prompt, the constraints understood from it as removable chips, and the picture/words balance."""

from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.facade import Engine
from engine.records import Feel, ParsedPrompt

TYPING_PAUSE_MS = 350  # ask again once the user pauses typing
SLIDER_PAUSE_MS = 150


class PromptBar(QWidget):
    promptChanged = pyqtSignal(str)  # after a pause in typing, or at once on Enter or a chip's removal
    balanceChanged = pyqtSignal(float)  # 0 = picture only, 1 = words only

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.unheard_drums: int | None = 0  # as of the last answer (set_unheard_drums)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText('What should the music be? e.g. "warm acoustic, no vocals, around 90 BPM"')
        self.edit.setClearButtonEnabled(True)
        self.edit.textEdited.connect(self._typed)
        self.edit.returnPressed.connect(self._commit)
        self.chips = QHBoxLayout()
        self.chips.setSpacing(6)
        self.understood = QLabel("")
        self.understood.setObjectName("muted")
        self.ignored = QLabel("")
        self.ignored.setObjectName("muted")
        self.ignored.setWordWrap(True)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setFixedWidth(180)
        self.slider.setToolTip("How much the picture and the words each count when both are given")
        self.slider.valueChanged.connect(lambda _: self._slider_timer.start())

        self._typing_timer = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._typing_timer.timeout.connect(self._commit)
        self._slider_timer = QTimer(self, singleShot=True, interval=SLIDER_PAUSE_MS)
        self._slider_timer.timeout.connect(lambda: self.balanceChanged.emit(self.balance))

        top = QHBoxLayout()
        top.addWidget(self.edit, 1)
        top.addSpacing(12)
        top.addWidget(QLabel("Picture"))
        top.addWidget(self.slider)
        top.addWidget(QLabel("Words"))
        row = QWidget()
        chips_row = QHBoxLayout(row)
        chips_row.setContentsMargins(0, 0, 0, 0)
        chips_row.addWidget(self.understood)
        chips_row.addLayout(self.chips)
        chips_row.addStretch(1)
        # The chips scroll sideways rather than widen the column: many of them once squeezed the results
        # beside it until no title could be read.
        self.chips_area = QScrollArea()
        self.chips_area.setWidget(row)
        self.chips_area.setWidgetResizable(True)
        self.chips_area.setFrameShape(QFrame.Shape.NoFrame)
        self.chips_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chips_area.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.chips_area)
        layout.addWidget(self.ignored)
        self.parsed: ParsedPrompt | None = None
        self.feel_chip = QLabel("")
        self.feel_chip.setObjectName("feel")  # a chip of its own colour: read from the words, not removable
        self.feel_chip.setVisible(False)
        chips_row.insertWidget(2, self.feel_chip)
        self._show_chips()

    @property
    def text(self) -> str:
        return self.edit.text().strip()

    @property
    def balance(self) -> float:
        return self.slider.value() / 100.0

    def set_state(self, text: str, balance: float) -> None:
        """Show a clip's own prompt and balance without asking for results."""
        self.edit.setText(text)
        self.slider.blockSignals(True)
        self.slider.setValue(round(balance * 100))
        self.slider.blockSignals(False)
        self.set_feel(None)
        self._show_chips()

    def _typed(self, _text: str) -> None:
        self.set_feel(None)  # until the new words are answered
        self._show_chips()
        self._typing_timer.start()

    def _commit(self) -> None:
        self._typing_timer.stop()
        self._show_chips()
        self.promptChanged.emit(self.text)

    def _show_chips(self) -> None:
        while self.chips.count():
            widget = self.chips.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.parsed = Engine.parse_prompt(self.text) if self.text else None
        constraints = self.parsed.constraints if self.parsed else ()
        self.understood.setText("Understood:" if constraints else "")
        for i, constraint in enumerate(constraints):
            chip = QToolButton()
            chip.setObjectName("chip")
            chip.setText(f"{constraint.label}  ✕")
            kind = "Filter" if constraint.hard else "Preference (re-ranks, never removes)"
            tip = f'{kind} from "{self.text[constraint.span[0] : constraint.span[1]]}": click to remove it'
            reason = Engine.constraint_reason(constraint, self.unheard_drums)
            chip.setToolTip(f"{tip}\n{reason[0].upper()}{reason[1:]}." if reason else tip)
            chip.clicked.connect(lambda _=False, i=i: self.remove_constraint(i))
            self.chips.addWidget(chip)
        notes = self.parsed.ignored if self.parsed else ()
        self.ignored.setText("Not used: " + "; ".join(notes) if notes else "")
        self.ignored.setVisible(bool(notes))
        self._fit_chips()

    def set_unheard_drums(self, count: int | None) -> None:
        """How many tracks the last answer counted as not listened to for drums (None: the scan does not
        listen here), which a "no drums" chip's reason quotes the first detector's figure for."""
        if count != self.unheard_drums:
            self.unheard_drums = count
            self._show_chips()

    def set_feel(self, feel: Feel | None) -> None:
        """The feel the engine read in the words (from the last answer): a chip of its own, not removable: it
        is the words themselves; edit them to change it."""
        if feel is None or not feel.label:
            self.feel_chip.setVisible(False)
            self.feel_chip.setText("")
            self._fit_chips()
            return
        self.feel_chip.setText(f"feel: {feel.label}")
        # In words: the reading's numbers are z-scores against neutral prompts, on no scale the results show.
        self.feel_chip.setToolTip(
            f"Read from the words, which ask for {feel.asks or 'no clear feel'}: tracks whose measured energy and "
            "mood go that way rank higher. A preference, not a filter."
        )
        self.feel_chip.setVisible(True)
        self._fit_chips()

    def _fit_chips(self) -> None:
        """The chips' row as tall as a chip, and its sideways scroll bar, so that neither overlaps the other."""
        row = self.chips_area.widget().sizeHint().height()
        self.chips_area.setFixedHeight(row + self.chips_area.horizontalScrollBar().sizeHint().height())

    def chip_labels(self) -> list[str]:
        return [c.label for c in self.parsed.constraints] if self.parsed else []

    def remove_constraint(self, index: int) -> None:
        if self.parsed is None:
            return
        self.edit.setText(self.parsed.without(index))
        self._commit()
