"""The library browser: every track with sortable columns (key, tempo, loudness, energy, mood, source folder) and a
filter box; reveal a track in its folder or copy its path."""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QSortFilterProxyModel, Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QAction, QDesktopServices, QGuiApplication
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.table_model import ListTableModel
from desktop.tempo_menu import add_tempo_menu
from desktop.wording import bpm_cell, counted
from engine.clock import clock
from engine.records import Track

COLUMNS = ("Title", "Artist", "Album", "Length", "BPM", "Key", "LUFS", "Energy", "Mood", "Folder", "Analysis")
SORT_ROLE = Qt.ItemDataRole.UserRole  # the raw value a column sorts by (numbers as numbers)


def _folder(track: Track) -> str:
    return Path(track.display).parent.name


class TracksModel(ListTableModel):
    def __init__(self, tracks: list[Track]):
        super().__init__(COLUMNS, tracks)
        # Made once: filtering and sorting ask for every cell, many times over, at 100,000 tracks.
        self.rows = [self._row(t) for t in tracks]

    @property
    def tracks(self) -> list[Track]:
        return self.items

    def replace(self, track: Track) -> None:
        """Show `track` as it is now (its tempo set), in its place."""
        row = next((i for i, t in enumerate(self.tracks) if t.id == track.id), None)
        if row is None:
            return
        self.items[row], self.rows[row] = track, self._row(track)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _row(self, t: Track) -> list[tuple[str, object]]:
        values = self._values(t)
        return [values[c] for c in COLUMNS]

    def _values(self, t: Track) -> dict[str, tuple[str, object]]:
        """Per column: (what is shown, what it sorts by)."""
        missing = float("-inf")  # unmeasured values sort first, ascending
        return {
            "Title": (t.label, t.label.lower()),
            "Artist": (t.artist or "", (t.artist or "").lower()),
            "Album": (t.album or "", (t.album or "").lower()),
            "Length": (clock(t.duration), t.duration),
            "BPM": (bpm_cell(t.bpm, t.bpm_set), t.bpm or missing),
            "Key": (t.key or "–", t.key or ""),
            "LUFS": (
                f"{t.loudness_lufs:.1f}" if t.loudness_lufs is not None else "–",
                missing if t.loudness_lufs is None else t.loudness_lufs,
            ),
            "Energy": (f"{t.energy:+.1f}" if t.energy is not None else "–", missing if t.energy is None else t.energy),
            "Mood": (f"{t.mood:+.1f}" if t.mood is not None else "–", missing if t.mood is None else t.mood),
            "Folder": (_folder(t), _folder(t).lower()),
            "Analysis": (
                ("quick" if t.quick else "complete") + ("" if t.online else ", offline"),
                (t.quick, not t.online),
            ),
        }

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        track = self.tracks[index.row()]
        shown, key = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return shown
        if role == SORT_ROLE:
            return key
        if role == Qt.ItemDataRole.ToolTipRole:
            if COLUMNS[index.column()] == "BPM" and track.bpm_set:
                measured = f"{track.bpm_measured:.0f} BPM" if track.bpm_measured else "no steady beat"
                return f"tempo set by you; the scan measured {measured}"
            return track.display
        return None


class _Sorter(QSortFilterProxyModel):
    def lessThan(self, left, right) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:  # never expected (one type per column); keep sorting rather than fail
            return str(a) < str(b)


class LibraryBrowser(QDialog):
    """Every track of the library: click a heading to sort, type to filter (any column); double-click a track,
    or right-click it, for music like it."""

    moreLikeThis = pyqtSignal(object)  # Track
    tempoChosen = pyqtSignal(object, object)  # Track, the tempo chosen (session.TempoChoice)

    def __init__(self, tracks: list[Track], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Library")
        self.model = TracksModel(tracks)
        self.proxy = _Sorter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)  # any column
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: title, artist, album, key, folder…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("Title"), Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.table.doubleClicked.connect(
            lambda index: self.moreLikeThis.emit(self.model.tracks[self.proxy.mapToSource(index).row()])
        )
        self.count = QLabel()
        self.count.setObjectName("muted")
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)
        self.resize(1100, 640)
        self.table.resizeColumnsToContents()
        self._filter("")

    def shown_tracks(self) -> list[Track]:
        """The tracks as the table shows them: filtered and sorted."""
        return [
            self.model.tracks[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
            for r in range(self.proxy.rowCount())
        ]

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        total, shown = len(self.model.tracks), self.proxy.rowCount()
        self.count.setText(counted(total, "track") if shown == total else f"{shown} of {counted(total, 'track')}")

    def _track_at(self, position) -> Track | None:
        index = self.table.indexAt(position)
        return self.model.tracks[self.proxy.mapToSource(index).row()] if index.isValid() else None

    def _menu(self, position) -> None:
        track = self._track_at(position)
        if track is None:
            return
        menu = QMenu(self)
        like = QAction("Find music like this", menu)
        like.triggered.connect(lambda: self.moreLikeThis.emit(track))
        menu.addAction(like)
        reveal = QAction("Reveal in folder", menu)
        reveal.triggered.connect(lambda: reveal_in_folder(track.path))
        copy = QAction("Copy path", menu)
        copy.triggered.connect(lambda: copy_path(track.path))
        menu.addActions([reveal, copy])
        add_tempo_menu(menu, track, lambda choice: self.tempoChosen.emit(track, choice))
        menu.exec(self.table.viewport().mapToGlobal(position))


def copy_path(path: str) -> None:
    QGuiApplication.clipboard().setText(path)


def reveal_in_folder(path: str) -> bool:
    """Open the track's folder in the file manager (a file manager selects no file through a folder URL)."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
