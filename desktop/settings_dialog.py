"""Settings: where data lives, which model bundle and execution provider run, and the audio output device."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget


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
    def __init__(self, details: dict, device: int | None, audio_error: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Needledrop settings")
        self.setMinimumWidth(620)
        form = QFormLayout(self)

        def info(text: str) -> QLabel:
            label = QLabel(text)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            return label

        form.addRow("Library data", info(f"{details.get('data_dir', '?')}\n(set NEEDLEDROP_DATA_DIR to move it)"))
        form.addRow("Model bundle", info(f"{details.get('bundle_id', 'not loaded')}\n{details.get('bundle_path', '')}"))
        form.addRow("Runs on", info(details.get("provider", "not loaded")))
        if details.get("licences"):
            form.addRow("Licences", info("\n".join(details["licences"])))
        self.device = QComboBox()
        for index, name in output_devices():
            self.device.addItem(name, index)
        current = self.device.findData(device)
        self.device.setCurrentIndex(max(current, 0))
        form.addRow("Audio output", self.device)
        if audio_error:
            form.addRow("", info(audio_error))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def chosen_device(self) -> int | None:
        return self.device.currentData()
