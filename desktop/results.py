"""The ranked tracks: title, artist, length, start, BPM, energy and match in a table narrow enough for the
results column, and the selected track's details (its why, tags and loudness, wrapped) under it; arrow keys
move, "more like this" asks."""

from __future__ import annotations

import os

from PyQt6.QtCore import QMimeData, QModelIndex, Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSizePolicy,
    QTabBar,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.table_model import ListTableModel
from desktop.tempo_menu import add_tempo_menu
from desktop.wording import bpm_cell
from engine.clock import clock
from engine.records import Result

COLUMNS = ("#", "Title", "Artist", "Length", "Starts", "BPM", "Energy", "Match")
# Title and Artist share what the narrow columns leave; longer names are elided (the details under the table
# show them whole).
TEXT = ("Title", "Artist")


class ResultsModel(ListTableModel):
    def __init__(self):
        super().__init__(COLUMNS)
        self.rendered: dict[int, str] = {}  # track id -> the fitted WAV of it that the preview plays
        self.starred: set[int] = set()  # track ids on the clip's shortlist
        # The clip's chosen track and where it starts: the start the preview plays and the export writes,
        # which a drag of the waveform may have moved from the result's.
        self.pick: tuple[int, float] | None = None
        self.elsewhere: dict[int, list[int]] = {}  # track id -> the other clips (1-based) it is chosen for

    def used_on(self, r: Result) -> str:
        """ "on clip 2 · " where the track is already another clip's pick, so a timeline need not repeat it:
        before the title, where a long title cannot push it out of sight."""
        clips = self.elsewhere.get(r.track_id)
        return f"on clip {', '.join(map(str, clips))} · " if clips else ""

    def start_of(self, r: Result) -> float:
        return self.pick[1] if self.pick is not None and self.pick[0] == r.track_id else r.start

    @property
    def results(self) -> list[Result]:
        return self.items

    def set_results(self, results: list[Result]) -> None:
        self.beginResetModel()
        self.items = list(results)
        self.endResetModel()

    # A result dragged out of the window is its music file, for an editor's timeline or a file manager: the
    # edit fitted to the clip when the preview plays one (what the export would write), else the track.
    def flags(self, index):
        return super().flags(index) | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else super().flags(index)

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def supportedDragActions(self):
        return Qt.DropAction.CopyAction

    def mimeData(self, indexes) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        data = QMimeData()
        paths = [self.rendered.get(self.results[row].track_id, self.results[row].path) for row in rows]
        data.setUrls([QUrl.fromLocalFile(path) for path in paths])
        return data

    def restar(self) -> None:
        """The # column again, after the shortlist changed."""
        if self.items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.items) - 1, 0))

    def mark_elsewhere(self, elsewhere: dict[int, list[int]]) -> None:
        """The titles again, with the other clips each track is chosen for (only when that changed: every edit
        of the timeline asks)."""
        if elsewhere == self.elsewhere:
            return
        self.elsewhere = elsewhere
        title = COLUMNS.index("Title")
        if self.items:
            self.dataChanged.emit(self.index(0, title), self.index(len(self.items) - 1, title))

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self.results[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "#": f"★ {index.row() + 1}" if r.track_id in self.starred else index.row() + 1,
                "Title": self.used_on(r) + r.label,
                "Artist": r.artist or "",
                "Length": clock(r.duration),
                "Starts": clock(self.start_of(r)),
                "BPM": bpm_cell(r.bpm, r.bpm_set),
                "Energy": f"{r.energy:+.1f}" if r.energy is not None else "–",
                "Match": f"{r.match}%",
            }[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            short = f" (the music ends {r.short_by:.1f} s before the clip does)" if r.short_by > 0 else ""
            lufs = f", {r.loudness_lufs:.1f} LUFS" if r.loudness_lufs is not None else ""
            start = self.start_of(r)
            return f"{r.path}\nplays {clock(start)}–{clock(start + r.end - r.start)}{short}{lufs}\n{r.why}"
        if role == Qt.ItemDataRole.TextAlignmentRole and column not in TEXT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ResultsPanel(QWidget):
    """The latest results or the clip's shortlist (two tabs), Back and Forward through earlier results."""

    chosen = pyqtSignal(object)  # Result, when the selection moves to it
    moreLikeThis = pyqtSignal(object)  # Result
    shortlistToggled = pyqtSignal(object)  # Result: add it to the clip's shortlist, or take it off
    tempoChosen = pyqtSignal(object, object)  # Result, the tempo chosen (session.TempoChoice)
    back = pyqtSignal()
    forward = pyqtSignal()
    referenceDropped = pyqtSignal(str)  # a music file dropped from outside: find music like it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = ResultsModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setDragEnabled(True)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.table.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        # Nothing to scroll at the default size; a column dragged narrower than that can still scroll.
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for name in TEXT:
            header.setSectionResizeMode(COLUMNS.index(name), QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._moved)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.table.doubleClicked.connect(lambda index: self.moreLikeThis.emit(self.model.results[index.row()]))
        self.heading = QLabel("Results")
        self.tabs = QTabBar()
        self.tabs.addTab("Results")
        self.tabs.addTab("Shortlist")
        self.tabs.setDrawBase(False)
        self.tabs.currentChanged.connect(self._show_tab)
        self.back_button, self.forward_button = QToolButton(), QToolButton()
        for button, text, tip, signal in (
            (self.back_button, "◀", "Back to the previous results (Alt+Left)", self.back),
            (self.forward_button, "▶", "Forward to the next results (Alt+Right)", self.forward),
        ):
            button.setText(text)
            button.setToolTip(tip)
            button.setEnabled(False)
            button.clicked.connect(signal.emit)
        self.setAcceptDrops(True)
        self._quiet = False  # the selection moves to show the pick, not because the user picked
        self.answer: list[Result] = []  # the latest results, whichever tab shows
        self.shortlist: list[Result] = []
        self._answer_text = ("Results", "")
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addWidget(self.forward_button)
        top.addWidget(self.tabs)
        top.addStretch(1)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        # The selected track in full: what the table's narrow columns cannot hold.
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.status)

    def set_results(self, results: list[Result], heading: str, status: str = "", keep_track: int | None = None) -> None:
        """New results (shown if their tab is); the row of `keep_track` (the previewed track) stays selected
        if it is among them."""
        self.answer, self._answer_text = list(results), (heading, status)
        if not self.showing_shortlist:
            self._fill(results, heading, status, keep_track)

    def mark_elsewhere(self, used: dict[int, list[int]]) -> None:
        """Which other clips (1-based) already use each track: said beside its title."""
        self.model.mark_elsewhere(used)

    def show_results_tab(self) -> None:
        self.tabs.setCurrentIndex(0)

    def set_shortlist(self, shortlist: list[Result], keep_track: int | None = None) -> None:
        """The clip's shortlist: its tab's count, the stars in the results, and the list if its tab shows."""
        self.shortlist = list(shortlist)
        self.model.starred = {r.track_id for r in shortlist}
        self.tabs.setTabText(1, f"Shortlist ({len(shortlist)})" if shortlist else "Shortlist")
        if self.showing_shortlist:
            self._show_tab(1, keep_track)
        else:
            self.model.restar()

    @property
    def showing_shortlist(self) -> bool:
        return self.tabs.currentIndex() == 1

    def set_history(self, can_go_back: bool, can_go_forward: bool) -> None:
        self.back_button.setEnabled(can_go_back)
        self.forward_button.setEnabled(can_go_forward)

    def _show_tab(self, index: int, keep_track: int | None = None) -> None:
        keep = keep_track if keep_track is not None else (self.current().track_id if self.current() else None)
        if index == 1:
            empty = "Nothing shortlisted for this clip: press S on a result (or right-click it) to keep it here."
            self._fill(self.shortlist, "Shortlist", "" if self.shortlist else empty, keep)
        else:
            self._fill(self.answer, *self._answer_text, keep)

    def _fill(self, results: list[Result], heading: str, status: str, keep_track: int | None) -> None:
        self.model.set_results(results)
        self.heading.setText(heading)
        self.status.setText(status)
        # New results start at the top and the left, whatever the last list was scrolled to.
        self.table.scrollToTop()
        self.table.horizontalScrollBar().setValue(0)
        rows = [i for i, r in enumerate(results) if r.track_id == keep_track]
        if rows:
            self._quiet = True  # showing the pick, not picking: no `chosen`
            try:
                self.table.selectRow(rows[0])
            finally:
                self._quiet = False
        self._show_details(results[rows[0]] if rows else None)  # the details are the selected track's

    def set_rendered(self, track_id: int | None, path: str | None = None) -> None:
        """The fitted WAV that stands for a track when it is dragged out (None: no track has one)."""
        self.model.rendered = {} if track_id is None else {track_id: path}

    def set_pick(self, track_id: int | None, start: float = 0.0) -> None:
        """The clip's chosen track and its start (None: no pick), shown on its row and in its details."""
        self.model.pick = None if track_id is None else (track_id, start)
        if self.model.results:
            last = self.model.index(len(self.model.results) - 1, len(COLUMNS) - 1)
            self.model.dataChanged.emit(self.model.index(0, 0), last)
        self._show_details(self.current())

    def set_stale(self, stale: bool) -> None:
        """Grey the list out while it answers a question that has since changed (a search is under way)."""
        self.table.setEnabled(not stale)
        self.details.setEnabled(not stale)

    def current(self) -> Result | None:
        index = self.table.currentIndex()
        return self.model.results[index.row()] if index.isValid() else None

    def select(self, row: int) -> None:
        if 0 <= row < len(self.model.results):
            self.table.selectRow(row)
            self.table.setFocus()

    def _moved(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._show_details(self.model.results[current.row()])
            if not self._quiet:
                self.chosen.emit(self.model.results[current.row()])

    def _show_details(self, r: Result | None) -> None:
        if r is None:
            self.details.setText("")
            return
        name = r.label
        start = self.model.start_of(r)
        facts = [f"plays {clock(start)}–{clock(start + r.end - r.start)} of {clock(r.duration)}"]
        if abs(start - r.start) >= 0.5:  # moved by hand from where the engine placed it
            facts[0] += f" (placed at {clock(r.start)})"
        if r.short_by > 0:
            facts.append(f"music ends {r.short_by:.1f} s before the clip")
        if r.bpm:
            facts.append(f"{r.bpm:.0f} BPM")
        if r.energy is not None:
            facts.append(f"energy {r.energy:+.1f}")
        if r.mood is not None:
            facts.append(f"mood {r.mood:+.1f}")
        if r.loudness_lufs is not None:
            facts.append(f"{r.loudness_lufs:.1f} LUFS")
        lines = [f"{name} — {r.artist}" if r.artist else name, " · ".join(facts)]
        if r.tags:
            lines.append("tags: " + ", ".join(r.tags))
        lines.append(r.why)
        self.details.setText("\n".join(lines))

    # ---- a reference track dropped from the file manager (or the editor's bin) ----

    @staticmethod
    def _dropped_file(event) -> str | None:
        mime = event.mimeData()
        if event.source() is not None or not mime.hasUrls():  # our own rows dragged out and back: nothing
            return None
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and os.path.isfile(u.toLocalFile())]
        return files[0] if len(files) == 1 else None

    def dragEnterEvent(self, event) -> None:
        if self._dropped_file(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = self._dropped_file(event)
        if path:
            event.acceptProposedAction()
            self.referenceDropped.emit(path)

    def _menu(self, position) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        result = self.model.results[index.row()]
        menu = QMenu(self)
        action = QAction("More like this", menu)
        action.triggered.connect(lambda: self.moreLikeThis.emit(result))
        menu.addAction(action)
        starred = result.track_id in self.model.starred
        star = QAction("Take off the shortlist" if starred else "Add to the clip's shortlist", menu)
        star.triggered.connect(lambda: self.shortlistToggled.emit(result))
        menu.addAction(star)
        add_tempo_menu(menu, result, lambda choice: self.tempoChosen.emit(result, choice))
        menu.exec(self.table.viewport().mapToGlobal(position))
