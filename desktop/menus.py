"""The window's menus: File, Edit, View, Playback and Help. Every key the window answers to is a menu action,
so the shortcut sheet (Help) made from the menus lists them all. The actions the window reads later (collect,
fit, undo, redo, remove, the panels) are kept on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence

from desktop.shortcuts import ShortcutSheet

if TYPE_CHECKING:
    from desktop.main_window import MainWindow


def build_menus(window: MainWindow) -> None:
    menu = window.menuBar().addMenu("&File")
    add = QAction("Add clips…", window, shortcut=QKeySequence.StandardKey.Open)
    add.triggered.connect(window.choose_clips)
    menu.addAction(add)
    read = QAction("Import timeline…", window, shortcut=QKeySequence("Ctrl+Shift+I"))
    read.triggered.connect(window.choose_timeline)
    menu.addAction(read)
    export = QAction("Export timeline…", window, shortcut=QKeySequence("Ctrl+E"))
    export.triggered.connect(window.choose_export)
    menu.addAction(export)
    # Editors import few audio formats (no Opus or Ogg in Premiere or Final Cut): collecting copies the
    # music beside the timeline, as WAV where the editor cannot read the file, and points there.
    window.collect_action = QAction("Collect music with the timeline", window, checkable=True)
    window.collect_action.setChecked(window.settings.value("export/collect", "true") == "true")
    window.collect_action.toggled.connect(
        lambda on: window.settings.setValue("export/collect", "true" if on else "false")
    )
    menu.addAction(window.collect_action)
    # A track that is right but the wrong length: re-edited to each clip on its own bars, levelled and
    # ducked under the clip's dialogue, as WAVs in the collect folder (engine/reedit).
    window.fit_action = QAction("Fit music to each clip (re-edit, level, duck)", window, checkable=True)
    # Set before the signal is connected: restoring the setting is not a toggle to act on.
    window.fit_action.setChecked(window.settings.value("export/fit", "false") == "true")
    window.fit_action.toggled.connect(window.fit_toggled)
    menu.addAction(window.fit_action)
    like = QAction("Find music like a file…", window, shortcut=QKeySequence("Ctrl+Shift+O"))
    like.setToolTip("Any music file, from anywhere: analysed now, not added to the library")
    like.triggered.connect(window.choose_reference)
    menu.addAction(like)
    # Ctrl+Q by name: Qt's standard Quit key is empty on Windows and on some Linux desktops.
    quit_action = QAction("Quit", window, shortcut=QKeySequence("Ctrl+Q"))
    quit_action.triggered.connect(window.close)
    menu.addAction(quit_action)
    _edit_menu(window)
    _view_menu(window)
    # The preview's keys live in a menu of their own, so that the menus (and the shortcut sheet made from
    # them) list every key the window answers to.
    playback = window.menuBar().addMenu("&Playback")
    for text, key, slot in (
        ("Play or pause", Qt.Key.Key_Space, window.preview.toggle),
        ("Next result", Qt.Key.Key_Down, lambda: window.step_result(1)),
        ("Previous result", Qt.Key.Key_Up, lambda: window.step_result(-1)),
        ("Set the in point at the playhead", Qt.Key.Key_I, window.in_at_playhead),
        ("Set the out point at the playhead", Qt.Key.Key_O, window.out_at_playhead),
        ("Add to or take off the shortlist", Qt.Key.Key_S, window.toggle_shortlist),
    ):
        action = QAction(text, window, shortcut=QKeySequence(key))
        action.triggered.connect(slot)
        playback.addAction(action)
    help_menu = window.menuBar().addMenu("&Help")
    sheet = QAction("Keyboard shortcuts", window, shortcut=QKeySequence("Ctrl+/"))
    sheet.triggered.connect(lambda: ShortcutSheet(window.menuBar(), window).exec())
    help_menu.addAction(sheet)


def _edit_menu(window: MainWindow) -> None:
    edit = window.menuBar().addMenu("&Edit")
    # Kept on the window: PyQt does not hand these actions to their parent, and would delete them with the last
    # Python reference.
    window.undo_action = window.undo_stack.createUndoAction(window, "Undo")
    window.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
    window.redo_action = window.undo_stack.createRedoAction(window, "Redo")
    window.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    edit.addActions([window.undo_action, window.redo_action])
    edit.addSeparator()
    # Delete belongs to the timeline: in the prompt or a timecode it deletes text, as it should.
    window.remove_action = QAction(
        "Remove the clip from the timeline", window, shortcut=QKeySequence.StandardKey.Delete
    )
    window.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    window.remove_action.triggered.connect(window.timeline.remove_current)
    window.timeline.addAction(window.remove_action)
    edit.addAction(window.remove_action)
    for text, key, step in (("Move the clip earlier", "Ctrl+[", -1), ("Move the clip later", "Ctrl+]", 1)):
        action = QAction(text, window, shortcut=QKeySequence(key))
        action.triggered.connect(lambda _=False, step=step: window.timeline.move_current(step))
        edit.addAction(action)
    prompt = QAction("Edit the prompt", window, shortcut=QKeySequence("Ctrl+F"))
    prompt.triggered.connect(lambda: (window.prompt.edit.setFocus(), window.prompt.edit.selectAll()))
    edit.addAction(prompt)
    edit.addSeparator()
    settings = QAction("Settings…", window, shortcut=QKeySequence("Ctrl+,"))
    settings.triggered.connect(window.open_settings)
    edit.addAction(settings)


def _view_menu(window: MainWindow) -> None:
    view = window.menuBar().addMenu("&View")
    browse = QAction("Browse the library…", window, shortcut=QKeySequence("Ctrl+L"))
    browse.triggered.connect(window.browse_library)
    view.addAction(browse)
    view.addSeparator()
    window.panel_actions: dict[str, QAction] = {}
    for name, widget, key in (
        ("Music folders", window.library_panel, "Ctrl+1"),
        ("Results", window.results, "Ctrl+2"),
        ("Timeline", window.rows.widget(1), "Ctrl+3"),
    ):
        action = QAction(name, window, shortcut=QKeySequence(key), checkable=True, checked=True)
        action.toggled.connect(widget.setVisible)
        view.addAction(action)
        window.panel_actions[name] = action
    view.addSeparator()
    for text, key, slot in (
        ("Back to the previous results", "Alt+Left", window.go_back),
        ("Forward to the next results", "Alt+Right", window.go_forward),
    ):
        action = QAction(text, window, shortcut=QKeySequence(key))
        action.triggered.connect(slot)
        view.addAction(action)
    shortlist = QAction("Results or shortlist", window, shortcut=QKeySequence("Ctrl+4"))
    shortlist.triggered.connect(lambda: window.results.tabs.setCurrentIndex(1 - window.results.tabs.currentIndex()))
    view.addAction(shortlist)
    view.addSeparator()
    reset = QAction("Reset the layout", window)
    reset.triggered.connect(window.reset_layout)
    view.addAction(reset)
