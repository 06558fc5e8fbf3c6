"""The ranked tracks: title, artist, length, BPM, tags, match and why; arrow keys move, "more like this" asks."""

from __future__ import annotations

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QMenu, QTableView, QVBoxLayout, QWidget

from desktop.timecode import format_timecode
from engine.records import Result

COLUMNS = ("#", "Title", "Artist", "Length", "Starts", "BPM", "Tags", "Match", "Why")


def _clock(seconds: float) -> str:
    return format_timecode(seconds)[3:8]  # MM:SS


class ResultsModel(QAbstractTableModel):
    def __init__(self):
        super().__init__()
        self.results: list[Result] = []

    def set_results(self, results: list[Result]) -> None:
        self.beginResetModel()
        self.results = list(results)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.results)

    def columnCount(self, parent: QModelIndex | None = None) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self.results[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "#": index.row() + 1,
                "Title": r.title or r.path.rsplit("/", 1)[-1],
                "Artist": r.artist or "",
                "Length": _clock(r.duration),
                "Starts": _clock(r.start),
                "BPM": f"{r.bpm:.0f}" if r.bpm else "–",
                "Tags": ", ".join(r.tags),
                "Match": f"{r.match}%",
                "Why": r.why,
            }[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            short = f" (the track is {r.short_by:.1f} s shorter than the clip)" if r.short_by > 0 else ""
            lufs = f", {r.loudness_lufs:.1f} LUFS" if r.loudness_lufs is not None else ""
            return f"{r.path}\nplays {_clock(r.start)}–{_clock(r.end)}{short}{lufs}\n{r.why}"
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("#", "Length", "Starts", "BPM", "Match"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ResultsPanel(QWidget):
    chosen = pyqtSignal(object)  # Result, when the selection moves to it
    moreLikeThis = pyqtSignal(object)  # Result

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = ResultsModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Why"), QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._moved)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.table.doubleClicked.connect(lambda index: self.moreLikeThis.emit(self.model.results[index.row()]))
        self.heading = QLabel("Results")
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

    def set_results(self, results: list[Result], heading: str, status: str = "", keep_track: int | None = None) -> None:
        """Show new results; the row of `keep_track` (the previewed track) stays selected if it is among them."""
        self.model.set_results(results)
        self.heading.setText(heading)
        self.status.setText(status)
        rows = [i for i, r in enumerate(results) if r.track_id == keep_track]
        if rows:
            self.table.selectRow(rows[0])

    def current(self) -> Result | None:
        index = self.table.currentIndex()
        return self.model.results[index.row()] if index.isValid() else None

    def select(self, row: int) -> None:
        if 0 <= row < len(self.model.results):
            self.table.selectRow(row)
            self.table.setFocus()

    def _moved(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.chosen.emit(self.model.results[current.row()])

    def _menu(self, position) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        result = self.model.results[index.row()]
        menu = QMenu(self)
        action = QAction("More like this", menu)
        action.triggered.connect(lambda: self.moreLikeThis.emit(result))
        menu.addAction(action)
        menu.exec(self.table.viewport().mapToGlobal(position))
