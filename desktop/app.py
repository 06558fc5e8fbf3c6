"""Needledrop's desktop app: `needledrop-gui`, `python -m desktop`, or `make run`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from desktop.main_window import MainWindow
from desktop.session import Session
from desktop.settings_dialog import Preferences, data_dir_for, stored_settings
from desktop.theme import apply_dark_theme

log = logging.getLogger("needledrop.app")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="needledrop-gui", description="Find the needle drop for your clips.")
    parser.add_argument("--data-dir", help="library data folder (default: the user data folder)")
    parser.add_argument("--demo", action="store_true", help="with an empty library, start the demo at once")
    parser.add_argument("--screenshot", type=Path, help="save a picture of the window once results show, then quit")
    parser.add_argument("--quit-after", type=float, help="quit after this many seconds (for scripted runs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false;qt.multimedia.ffmpeg=false")
    started = time.perf_counter()
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Needledrop")
    apply_dark_theme(app)
    session = Session(data_dir_for(args.data_dir, Preferences.read(stored_settings())))
    window = MainWindow(session, data_dir_given=bool(args.data_dir))
    window.show()
    QTimer.singleShot(0, lambda: log.info("interactive %.2f s after start", time.perf_counter() - started))

    def opened(details: dict) -> None:
        log.info("model ready %.2f s after start (%s)", time.perf_counter() - started, details["provider"])
        if args.demo and not session.status().tracks:
            window.start_demo()

    session.opened.connect(opened)
    if args.screenshot is not None:

        def shoot() -> None:
            window.resultsShown.disconnect(shoot)
            window.results.select(0)  # a chosen track shows its waveform and the region under the clip
            QTimer.singleShot(2500, lambda: (window.grab().save(str(args.screenshot)), app.quit()))

        window.resultsShown.connect(shoot)
    if args.quit_after:
        QTimer.singleShot(int(args.quit_after * 1000), app.quit)
    code = app.exec()
    session.cancel_scan()
    session.wait()
    return code


if __name__ == "__main__":
    sys.exit(main())
