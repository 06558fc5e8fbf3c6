"""A dark theme like the editing tools creators already use: Fusion with a grey palette and one accent."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

ACCENT = QColor(74, 144, 226)
WARNING = QColor(230, 170, 60)
ERROR = QColor(220, 90, 80)

STYLE = """
QToolTip { color: #eee; background: #2b2b2b; border: 1px solid #555; }
QSplitter::handle { background: #202020; }
QSplitter::handle:hover { background: #4a90e2; }
QPushButton, QToolButton { padding: 4px 10px; }
QToolButton#chip {
    background: #2f4a6b; border: 1px solid #4a90e2; border-radius: 10px; padding: 2px 8px; color: #e8f0fa;
}
QToolButton#chip:hover { background: #3d5f88; }
QLabel#feel {
    background: #3b3350; border: 1px solid #8a74c9; border-radius: 10px; padding: 2px 8px; color: #efeaff;
}
QLabel#notice { padding: 6px 10px; border-radius: 4px; }
QLabel#notice[level="info"] { background: #2f4a6b; color: #e8f0fa; }
QLabel#notice[level="warning"] { background: #6b5325; color: #fff4dd; }
QLabel#notice[level="error"] { background: #6b2f2b; color: #ffe6e3; }
QLabel#muted { color: #8a8a8a; }
QListWidget#timeline { background: #1b1b1b; border: none; }
QTableView { gridline-color: #333; selection-background-color: #3d5f88; }
QHeaderView::section { background: #2b2b2b; color: #bbb; border: none; padding: 4px; }
"""


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: QColor(37, 37, 38),
        QPalette.ColorRole.WindowText: QColor(220, 220, 220),
        QPalette.ColorRole.Base: QColor(27, 27, 28),
        QPalette.ColorRole.AlternateBase: QColor(33, 33, 35),
        QPalette.ColorRole.ToolTipBase: QColor(43, 43, 43),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 230),
        QPalette.ColorRole.Text: QColor(220, 220, 220),
        QPalette.ColorRole.Button: QColor(50, 50, 52),
        QPalette.ColorRole.ButtonText: QColor(225, 225, 225),
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: QColor(130, 130, 130),
    }
    for role, colour in colours.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 110, 110))
    app.setPalette(palette)
    app.setStyleSheet(STYLE)
