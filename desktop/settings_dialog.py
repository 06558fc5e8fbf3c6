"""Settings: where the library's data lives, the audio output, the loudness fitted music is levelled to, and
the local API for editor plugins; with what is read-only (the model bundle, where it runs) for reference.

They are kept in the app's settings file (`stored_settings`), beside the window's size and layout."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from engine import paths
from engine.api import DEFAULT_PORT
from engine.facade import DEFAULT_LOUDNESS

LOUDNESS_RANGE = (-30.0, -6.0)  # LUFS a fitted track may be levelled to (engine accepts -70..0; these are sane)


def stored_settings() -> QSettings:
    return QSettings(str(paths.config_dir() / "window.ini"), QSettings.Format.IniFormat)


def _flag(value, default: bool) -> bool:
    return default if value is None else str(value).lower() == "true"


@dataclass(frozen=True)
class Preferences:
    """What the settings hold, read with their defaults (QSettings gives strings back from an INI file)."""

    data_dir: str  # "" for the default (NEEDLEDROP_DATA_DIR, else the user data folder)
    device: int | None  # sounddevice output index; None for the system default
    loudness: float  # LUFS
    api_enabled: bool
    api_port: int

    @classmethod
    def read(cls, settings: QSettings) -> Preferences:
        device = settings.value("audio/device", None)
        try:
            loudness = float(settings.value("export/loudness", DEFAULT_LOUDNESS))
        except (TypeError, ValueError):
            loudness = DEFAULT_LOUDNESS
        try:
            port = int(settings.value("api/port", DEFAULT_PORT))
        except (TypeError, ValueError):
            port = DEFAULT_PORT
        return cls(
            data_dir=str(settings.value("library/data_dir", "") or ""),
            device=int(device) if device not in (None, "", "None") else None,
            loudness=min(max(loudness, LOUDNESS_RANGE[0]), LOUDNESS_RANGE[1]),
            api_enabled=_flag(settings.value("api/enabled"), True),
            api_port=port,
        )

    def write(self, settings: QSettings) -> None:
        settings.setValue("library/data_dir", self.data_dir)
        settings.setValue("audio/device", "None" if self.device is None else self.device)
        settings.setValue("export/loudness", self.loudness)
        settings.setValue("api/enabled", "true" if self.api_enabled else "false")
        settings.setValue("api/port", self.api_port)
        settings.sync()


def data_dir_for(explicit: str | None, preferences: Preferences) -> Path:
    """The data folder to open: --data-dir, else NEEDLEDROP_DATA_DIR, else the one chosen in the settings,
    else the user data folder."""
    if explicit:
        return paths.data_dir(explicit)
    if os.environ.get("NEEDLEDROP_DATA_DIR"):
        return paths.data_dir()
    return paths.data_dir(preferences.data_dir or None)


def output_devices() -> list[tuple[int | None, str]]:
    """(sounddevice index, name) of every output device, the system default first."""
    devices: list[tuple[int | None, str]] = [(None, "System default")]
    try:
        import sounddevice

        for i, device in enumerate(sounddevice.query_devices()):
            if device["max_output_channels"] > 0:
                devices.append((i, device["name"]))
    except Exception:  # noqa: BLE001 - no PortAudio: only the default, which will report the problem
        pass
    return devices


class SettingsDialog(QDialog):
    def __init__(self, details: dict, preferences: Preferences, audio_error: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Needledrop settings")
        self.setMinimumWidth(640)
        self.details = details
        form = QFormLayout(self)

        def info(text: str) -> QLabel:
            label = QLabel(text)
            label.setWordWrap(True)
            label.setObjectName("muted")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            return label

        self.data_dir = QLineEdit(preferences.data_dir)
        self.data_dir.setPlaceholderText(str(paths.data_dir()))
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose_data_dir)
        row = QHBoxLayout()
        row.addWidget(self.data_dir, 1)
        row.addWidget(choose)
        form.addRow("Library data", row)
        form.addRow("", info(f"In use: {details.get('data_dir', '?')}. A new folder is used from the next start."))

        self.device = QComboBox()
        for index, name in output_devices():
            self.device.addItem(name, index)
        self.device.setCurrentIndex(max(self.device.findData(preferences.device), 0))
        form.addRow("Audio output", self.device)
        if audio_error:
            form.addRow("", info(audio_error))

        self.loudness = QDoubleSpinBox()
        self.loudness.setRange(*LOUDNESS_RANGE)
        self.loudness.setSingleStep(0.5)
        self.loudness.setDecimals(1)
        self.loudness.setSuffix(" LUFS")
        self.loudness.setValue(preferences.loudness)
        form.addRow("Fitted music level", self.loudness)
        form.addRow("", info("Music fitted to a clip is levelled to this: −14 for the web, −23 for broadcast."))

        self.api_enabled = QCheckBox("Serve the local API for editor plugins while the app runs")
        self.api_enabled.setChecked(preferences.api_enabled)
        self.api_port = QSpinBox()
        self.api_port.setRange(1024, 65535)
        self.api_port.setValue(min(max(preferences.api_port, 1024), 65535))
        self.api_enabled.toggled.connect(self.api_port.setEnabled)
        self.api_port.setEnabled(preferences.api_enabled)
        form.addRow("Local API", self.api_enabled)
        form.addRow("Port (127.0.0.1)", self.api_port)

        form.addRow("Model bundle", info(f"{details.get('bundle_id', 'not loaded')}\n{details.get('bundle_path', '')}"))
        form.addRow("Runs on", info(details.get("provider", "not loaded")))
        if details.get("licences"):
            form.addRow("Licences", info("\n".join(details["licences"])))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _choose_data_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Library data folder", self.data_dir.text() or str(Path.home()))
        if folder:
            self.data_dir.setText(folder)

    def preferences(self) -> Preferences:
        return Preferences(
            data_dir=self.data_dir.text().strip(),
            device=self.device.currentData(),
            loudness=round(self.loudness.value(), 1),
            api_enabled=self.api_enabled.isChecked(),
            api_port=self.api_port.value(),
        )
