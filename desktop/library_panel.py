"""The library manager: music folders (online or not), scanning with progress and cancel, and failed files."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.wording import counted, percent
from engine.clock import clock
from engine.records import LibraryStatus, ScanErrorRecord, ScanProgress, ScanReport


def describe_progress(p: ScanProgress) -> str:
    """The pass, files, hours of audio, speed as a multiple of real time, and time left."""
    left = p.elapsed / p.files_done * (p.files_total - p.files_done) if p.files_done else None
    remaining = f" · {clock(left)} left" if left is not None else ""
    if p.phase == "quick":
        return f"Quick pass: {p.indexed} of {counted(p.files_total, 'file')} searchable{remaining}"
    if p.phase == "drums":  # the last pass: every track is complete and searchable already
        return f"Listening for drums: {p.files_done} of {counted(p.files_total, 'track')}{remaining}"
    hours = p.seconds_of_audio / 3600
    speed = p.seconds_of_audio / p.elapsed if p.elapsed > 0 else 0.0
    text = f"Full analysis: {p.files_done} of {counted(p.files_total, 'file')} · {hours:.2f} h of audio"
    if speed > 0 and p.files_done:
        text += f" · {speed:.0f}× real time{remaining}"
    return text


def describe_report(report: ScanReport) -> str:
    parts = [f"{report.indexed} indexed", f"{report.unchanged} unchanged"]
    if report.cancelled and report.quick:
        parts.append(f"{report.quick} made searchable by a quick pass (the next scan completes what is left)")
    if report.failed:
        parts.append(f"{report.failed} could not be read")
    if report.removed:
        parts.append(f"{report.removed} removed")
    if report.listened:
        parts.append(f"{report.listened} listened to for drums")
    if report.roots_offline:
        parts.append(f"{counted(len(report.roots_offline), 'folder')} offline, their tracks kept")
    verb = "Scan cancelled" if report.cancelled else "Scan finished"
    return f"{verb}: " + ", ".join(parts)


class ErrorsDialog(QDialog):
    def __init__(self, errors: list[ScanErrorRecord], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Files that could not be indexed")
        self.resize(900, 420)
        table = QTableWidget(len(errors), 2)
        table.setHorizontalHeaderLabels(["File", "Reason"])
        table.verticalHeader().hide()
        for row, error in enumerate(errors):
            path, reason = error.path, error.reason
            table.setItem(row, 0, QTableWidgetItem(path))
            table.setItem(row, 1, QTableWidgetItem(reason))
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("These files are skipped until they change; the next scan retries changed ones."))
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.table = table


class LibraryPanel(QWidget):
    addFolder = pyqtSignal(str)
    removeFolder = pyqtSignal(str)
    scanRequested = pyqtSignal()
    cancelRequested = pyqtSignal()
    errorsRequested = pyqtSignal()
    demoRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.roots = QListWidget()
        self.roots.setToolTip("Music folders; an offline folder (unplugged drive) keeps its tracks")
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        self.add_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.scan_button = QPushButton("Scan")
        self.cancel_button = QPushButton("Cancel")
        self.errors_button = QPushButton("Errors")
        self.demo_button = QPushButton("Try the demo library")
        self.demo_button.setToolTip("Render a small openly licensed library and load sample clips")
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("muted")
        self.progress_label.setWordWrap(True)
        self.add_button.clicked.connect(self._choose_folder)
        self.remove_button.clicked.connect(self._remove)
        self.scan_button.clicked.connect(self.scanRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.errors_button.clicked.connect(self.errorsRequested)
        self.demo_button.clicked.connect(self.demoRequested)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button):
            buttons.addWidget(b)
        scan_row = QHBoxLayout()
        for b in (self.scan_button, self.cancel_button, self.errors_button):
            scan_row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Music library")
        layout.addWidget(title)
        layout.addWidget(self.roots, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addLayout(scan_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.demo_button)
        self.set_scanning(False)

    def show_status(self, status: LibraryStatus | None) -> None:
        current = self.roots.currentItem().data(Qt.ItemDataRole.UserRole) if self.roots.currentItem() else None
        self.roots.clear()
        for root in status.roots if status else []:
            online = root.online and Path(root.path).is_dir()
            name = "/".join(Path(root.path).parts[-2:]) or root.path
            state = "" if online else "  (offline)"
            # A whole folder offline says so in its name; within one that is there, the missing part is counted.
            missing = online and root.offline_tracks
            count = counted(root.tracks, "track") + (f", {root.offline_tracks} offline" if missing else "")
            item = QListWidgetItem(f"{'●' if online else '○'} {name}{state}\n    {count}")
            item.setToolTip(root.path + ("" if online else "\nnot reachable: its tracks are kept until it is back"))
            item.setData(Qt.ItemDataRole.UserRole, root.path)
            self.roots.addItem(item)
            if root.path == current:
                self.roots.setCurrentItem(item)
        errors = status.errors if status else 0
        self.errors_button.setText(f"Errors ({errors})" if errors else "Errors")
        self.errors_button.setEnabled(bool(errors))
        tracks, hours = (status.tracks, status.audio_hours) if status else (0, 0.0)
        quick = status.quick_tracks if status else 0
        stale = status.stale_tracks if status else 0
        provisional = f" ({quick} from a quick pass)" if quick else ""
        earlier = f"\n{stale} analysed by an earlier model: scan to search them" if stale else ""
        self.summary.setText(f"{counted(tracks, 'track')}{provisional}, {hours:.1f} h of audio{earlier}")
        tips = []
        if quick:
            tips.append(
                f"{counted(quick, 'track')} searchable from one window so far; the scan's full analysis follows"
            )
        if stale:
            tips.append(f"{counted(stale, 'track')} cannot be searched until the scan analyses them with this model")
        self.summary.setToolTip("\n".join(tips))
        self.demo_button.setVisible(not tracks)

    def set_scanning(self, scanning: bool) -> None:
        self.scan_button.setEnabled(not scanning)
        self.cancel_button.setEnabled(scanning)
        self.progress.setVisible(scanning)
        if scanning:
            self.progress.setRange(0, 0)

    def show_progress(self, p: ScanProgress) -> None:
        self.progress.setRange(0, max(p.files_total, 1))
        self.progress.setValue(p.files_done)
        self.progress_label.setText(describe_progress(p))

    def show_step(self, text: str, done: int, total: int) -> None:
        """A step of known size (the demo build): the bar and the text show how far it is."""
        self.progress.setVisible(True)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress_label.setText(f"{text} ({done} of {total}, {percent(done, total)})")

    def show_message(self, text: str) -> None:
        self.progress_label.setText(text)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a music folder")
        if folder:
            self.addFolder.emit(folder)

    def _remove(self) -> None:
        item = self.roots.currentItem()
        if item is not None:
            self.removeFolder.emit(item.data(Qt.ItemDataRole.UserRole))
