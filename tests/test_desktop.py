"""The desktop app, driven through its real window (offscreen Qt, a null audio device, the built bundle)."""

from __future__ import annotations

import gc
import json
import shutil
import socket
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, QSettings, Qt, QTimer
from PyQt6.QtWidgets import QApplication

from desktop.main_window import MainWindow
from desktop.session import Session
from desktop_support import (
    TRACKS,
    close_window,
    copy_data,
    drop_files,
    free_port,
    open_window,
    shapes,
    wait_results,
)
from engine.clock import format_timecode, parse_timecode
from engine.library.catalog import CATALOG_NAME
from media import render_midi, write_video
from training.bootstrap import demo as demo_module

# ---- the main path: drop, prompt, results, preview, switch ----------------------------------------------------


def test_results_fit_the_default_window_and_the_details_show_the_why(qtbot, window, media):
    results = wait_results(
        qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]) or window.prompt.edit.setText("warm piano")
    )
    assert window.size().width() == 1440  # the default size (no saved geometry in a fresh settings file)
    table, header = window.results.table, window.results.table.horizontalHeader()
    for column in range(header.count()):  # every column on screen, without scrolling
        left = header.sectionViewportPosition(column)
        assert left >= 0 and left + header.sectionSize(column) <= table.viewport().width(), column
        assert header.sectionSize(column) >= header.sectionSizeHint(column) or column in (1, 2)  # title, artist elide
    assert table.horizontalScrollBar().maximum() == 0
    window.results.select(1)
    details = window.results.details
    assert details.isVisible() and details.wordWrap()
    assert results[1].why in details.text() and "BPM" in details.text()  # the whole why, wrapped
    assert f"mood {results[1].mood:+.1f}" in details.text()  # the measured feel beside the energy
    assert details.width() <= window.results.width()


def test_a_result_drags_out_as_its_music_file(qtbot, window, media):
    results = wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    model, table = window.results.model, window.results.table
    index = model.index(1, 0)
    assert model.flags(index) & Qt.ItemFlag.ItemIsDragEnabled and table.dragEnabled()
    dragged = model.mimeData([model.index(1, c) for c in range(model.columnCount())])  # a row: one file
    assert [u.toLocalFile() for u in dragged.urls()] == [results[1].path]
    assert Path(dragged.urls()[0].toLocalFile()).is_file()


def test_new_results_start_at_the_top(qtbot):
    from desktop.results import ResultsPanel
    from engine.records import Result

    def result(i: int) -> Result:
        return Result(i, f"/m/{i}.flac", f"Track {i}", "Artist", None, 1.0 - i / 100, 0.0, 30.0, 200.0, 90.0, [], "why")

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(480, 300)
    panel.show()
    panel.set_results([result(i) for i in range(60)], "Results")
    qtbot.waitUntil(lambda: panel.table.verticalScrollBar().maximum() > 0)  # laid out
    panel.table.verticalScrollBar().setValue(panel.table.verticalScrollBar().maximum())
    assert panel.table.verticalScrollBar().value() > 0
    panel.set_results([result(i) for i in range(60, 120)], "Results")
    assert panel.table.verticalScrollBar().value() == 0 and panel.table.horizontalScrollBar().value() == 0
    assert panel.details.text() == ""  # nothing selected in the new list: no details of another track
    panel.select(2)
    assert panel.details.text().startswith("Track 62")


def test_times_past_an_hour_keep_their_hours_in_every_list(qtbot):
    """A DJ mix or an hour of ambience: its length and start are read the same in the results, their details,
    the library browser and a timeline clip, and none drops the hour (format_timecode cut to MM:SS did)."""
    from desktop.library_browser import TracksModel
    from desktop.results import COLUMNS, ResultsPanel
    from desktop.timeline import TimelineClip, TimelineStrip
    from engine.records import Result, Track

    mix = Result(1, "/m/mix.flac", "Mix", "DJ", None, 0.9, 3700.0, 3730.0, 4500.0, 120.0, [], "why")
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results([mix], "Results")
    row = {c: panel.model.index(0, COLUMNS.index(c)).data() for c in ("Length", "Starts")}
    assert row == {"Length": "75:00", "Starts": "61:40"}
    panel.select(0)
    assert "plays 61:40–62:10 of 75:00" in panel.details.text()
    track = Track(1, mix.path, mix.path, "Mix", "DJ", None, 4500.0, 120.0, None, None, None, {}, True)
    browser = TracksModel([track])
    assert browser.rows[0][browser.columns.index("Length")][0] == "75:00"
    timeline = TimelineStrip()
    qtbot.addWidget(timeline)
    clip = TimelineClip("/v/interview.mp4", 5400.0, clip_in=3605.5, clip_out=3725.0)
    timeline.add_clip(clip)
    assert "\n01:00:05.50–01:02:05.00" in timeline.item_of(clip.id).text()
    clip.clip_in, clip.clip_out = 5.5, 125.0
    timeline.update_clip(clip)
    assert "\n00:05.50–02:05.00" in timeline.item_of(clip.id).text()


def test_the_no_drums_chip_counts_the_tracks_not_listened_to_before_any_answer(qtbot, scanned, tmp_path):
    """Until a first answer counts them, the library's status does: opening the app and each scan set it."""
    data = copy_data(scanned, tmp_path / "data")
    with sqlite3.connect(data / CATALOG_NAME) as db:  # one track not listened to for drums yet
        unheard = "drum_sfx = NULL, drum_sfx_key = NULL, drums_sfx = NULL"
        db.execute(f"UPDATE tracks SET {unheard} WHERE CAST(path AS TEXT) LIKE '%piano%'")
    window = open_window(qtbot, data, tmp_path)
    try:
        qtbot.waitUntil(lambda: window.prompt.unheard_drums == 1)
        with sqlite3.connect(data / CATALOG_NAME) as db:  # as the scan's listening pass then stores it
            db.execute("UPDATE tracks SET drums_sfx = 0.2 WHERE drums_sfx IS NULL")
        window.refresh_library()
        assert window.prompt.unheard_drums == 0
    finally:
        close_window(window)


def test_tracks_of_an_earlier_model_are_said_and_analysed_again_on_opening(qtbot, scanned, tmp_path):
    data = copy_data(scanned, tmp_path / "data")
    with sqlite3.connect(data / CATALOG_NAME) as db:  # as a library scanned before the model was updated
        db.execute("UPDATE tracks SET bundle_id = 'nd-earlier' WHERE CAST(path AS TEXT) LIKE '%piano%'")
    session = Session(data)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    settings.setValue("api/port", free_port())
    window = MainWindow(session, settings=settings)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(session.scanFinished, timeout=120_000):
            window.show()
            qtbot.waitUntil(lambda: "1 analysed by an earlier model" in window.library_panel.summary.text())
            assert "The model was updated: analysing 1 track again" in window.notice.label.text()
        window.refresh_library()
        assert "earlier model" not in window.library_panel.summary.text()
        assert session.status().stale_tracks == 0
    finally:
        close_window(window)


def test_drop_prompt_results_preview_and_switch(qtbot, window, media):
    results = wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    assert window.timeline.count() == 1 and window.current.path == str(media["slow"])
    assert len(results) == len(TRACKS)  # the clip alone ranks every track
    assert "picture" in window.results.heading.text()

    results = wait_results(qtbot, window, lambda: qtbot.keyClicks(window.prompt.edit, "gentle piano, no drums"))
    assert window.prompt.chip_labels() == ["no drums (preference)"]
    tip = window.prompt.chips.itemAt(0).widget().toolTip()  # the measured reason it is not a filter
    assert "none removed" in tip and "a filter needs 95%" in tip, tip
    window.prompt.set_unheard_drums(2)  # as an answer counts tracks the scan has not listened to for drums yet
    assert "for the 2 tracks not listened to for drums" in window.prompt.chips.itemAt(0).widget().toolTip()
    window.prompt.set_unheard_drums(0)
    names = [Path(r.path).name for r in results]
    assert names and names[0] == "piano.flac"  # the words name the piano track's tags
    # Drums are not measured reliably enough to filter: ranked last instead.
    assert set(names[-2:]) == {"techno.mp3", "rock.opus"}, names
    assert window.current.prompt == "gentle piano, no drums"

    frames_before = window.preview.video.frames_shown
    window.results.select(0)
    qtbot.waitUntil(lambda: window.preview.track is not None, timeout=20_000)
    assert not window.preview.playing  # selecting puts the track under the picture; Space plays
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.preview.playing
    qtbot.waitUntil(lambda: window.preview.video.frames_shown >= frames_before + 10, timeout=20_000)
    first = window.preview.track
    assert window.current.chosen["path"] == first.path and window.preview.track_start == results[0].start
    played = window.preview.picture_time()
    assert played > 0.1

    window.results.select(1)  # A/B: another track under the same picture, from the same playhead
    qtbot.waitUntil(lambda: window.preview.track is not first, timeout=20_000)
    assert window.preview.picture_time() >= played - 0.05  # the picture did not restart
    assert window.preview.playing
    assert window.current.chosen["path"] == results[1].path
    assert window.preview.waveform.duration == pytest.approx(window.preview.track.duration)
    assert window.preview.track_start == results[1].start
    assert window.music.samples is window.preview.track.samples  # the stream now reads the new track
    # (the null audio device has no clock, so where the music is says nothing here: bench_preview measures it)

    qtbot.keyClick(window, Qt.Key.Key_Space)  # space pauses
    assert not window.preview.playing


def test_the_window_only_ever_shows_the_selected_clips_state(qtbot, window, media):
    results = wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], media["fast"]]))
    assert window.current.path == str(media["slow"]) and results
    window.results.select(len(results) - 1)  # the top three are decoded ahead: this one loads now
    assert window.preview.track is None  # still loading when the second clip is selected
    window.timeline.setCurrentRow(1)
    assert window.current.path == str(media["fast"])
    # Never the first clip's results or track under the second clip's picture while it is asked for.
    assert window.results.model.results == [] and window.results.status.text() == "Searching…"
    assert window.preview.track is None
    with qtbot.waitSignal(window.resultsShown, timeout=60_000):
        pass
    qtbot.wait(1500)  # the first clip's track has long loaded: it must not have been put under this clip
    assert window.preview.track is None
    assert window.results.table.isEnabled()
    window.prompt.edit.setText("warm strings")
    window.prompt._commit()
    assert not window.results.table.isEnabled()  # the list on screen is greyed until the new one comes
    with qtbot.waitSignal(window.resultsShown, timeout=60_000):
        pass
    assert window.results.table.isEnabled()


def test_a_track_chosen_for_another_clip_says_so_in_the_results(qtbot, window, media):
    from desktop.results import COLUMNS

    results = wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], media["fast"]]))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.current.chosen is not None, timeout=10_000)
    picked = window.current.chosen["track_id"]
    title = COLUMNS.index("Title")

    def titles() -> dict[int, str]:
        model = window.results.model
        return {r.track_id: model.data(model.index(row, title)) for row, r in enumerate(model.results)}

    assert not any("on clip" in t for t in titles().values())  # the clip's own pick is not "elsewhere"
    with qtbot.waitSignal(window.resultsShown, timeout=60_000):
        window.timeline.setCurrentRow(1)
    assert picked in titles() and titles()[picked].startswith("on clip 1 · "), titles()
    assert sum("on clip" in t for t in titles().values()) == 1
    window.timeline.setCurrentRow(0)  # back on the clip that uses it: its own pick, not marked
    qtbot.waitUntil(lambda: bool(window.results.model.results), timeout=60_000)
    assert not any("on clip" in t for t in titles().values()), results


def test_the_app_serves_the_local_api_while_it_runs(qtbot, window):
    api = window.api
    assert api is not None and api.url.startswith("http://127.0.0.1:")  # on by default, on loopback
    qtbot.waitUntil(lambda: api.listening, timeout=10_000)
    assert f"API on 127.0.0.1:{api.port}" in window.status_label.text()
    asked = urllib.request.Request(f"{api.url}/library", headers={"Authorization": f"Bearer {api.token}"})
    with urllib.request.urlopen(asked, timeout=10) as answer:  # the window's own library, through its engine
        assert json.load(answer)["tracks"] == len(TRACKS)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{api.url}/library", timeout=10)
    assert refused.value.code == 401  # the token is required, as with `needledrop serve`
    window.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{api.url}/health", timeout=2)  # gone with the window


def test_the_api_stops_with_the_window_after_a_scan(qtbot, window, media):
    with qtbot.waitSignal(window.session.scanFinished, timeout=180_000):
        window.add_folder(str(media["more"]))
    api = window.api
    qtbot.waitUntil(lambda: api.listening, timeout=10_000)
    window.close()
    assert not api.listening
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{api.url}/health", timeout=2)


def test_a_taken_port_is_a_message_not_a_failure(qtbot, scanned, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
        settings.setValue("api/port", taken.getsockname()[1])
        settings.sync()
        window = open_window(qtbot, copy_data(scanned, tmp_path / "data"), tmp_path)
        assert window.api is None and "port" in window.notice.label.text() and "in use" in window.notice.label.text()
        window.close()
        window.session.wait()


def test_the_menus_list_every_key_and_the_sheet_shows_them(qtbot, window):
    from desktop.shortcuts import ShortcutSheet, shortcut_rows

    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Playback", "Help"]
    rows = {(menu, what): keys for menu, what, keys in shortcut_rows(window.menuBar())}
    assert rows[("Playback", "Play or pause")] == "Space" and rows[("File", "Export timeline…")] == "Ctrl+E"
    assert rows[("Edit", "Undo")] == "Ctrl+Z" and rows[("Edit", "Redo")] == "Ctrl+Shift+Z, Ctrl+Y"
    assert rows[("View", "Browse the library…")] == "Ctrl+L" and rows[("File", "Quit")] == "Ctrl+Q"
    assert {rows[("Playback", w)] for w in ("Next result", "Previous result")} == {"Down", "Up"}
    sheet = ShortcutSheet(window.menuBar(), window)
    qtbot.addWidget(sheet)
    shown = {tuple(sheet.table.item(r, c).text() for c in range(3)) for r in range(sheet.table.rowCount())}
    assert ("Playback", "Set the in point at the playhead", "I") in shown and len(shown) == len(rows)


def test_the_library_browser_sorts_filters_and_copies_paths(qtbot, window):
    from desktop.library_browser import COLUMNS, copy_path

    window.browse_library()
    qtbot.waitUntil(lambda: window.browser is not None and window.browser.isVisible(), timeout=20_000)
    browser = window.browser
    assert browser.proxy.rowCount() == len(TRACKS) and browser.count.text() == f"{len(TRACKS)} tracks"
    browser.table.sortByColumn(COLUMNS.index("BPM"), Qt.SortOrder.AscendingOrder)
    tempos = [t.bpm for t in browser.shown_tracks()]
    assert tempos == sorted(tempos) and min(tempos) < 100 < max(tempos)  # as numbers ("96" after "120" as text)
    browser.table.sortByColumn(COLUMNS.index("Energy"), Qt.SortOrder.DescendingOrder)
    energies = [t.energy for t in browser.shown_tracks()]
    assert energies == sorted(energies, reverse=True)
    browser.table.sortByColumn(COLUMNS.index("Mood"), Qt.SortOrder.AscendingOrder)
    moods = [t.mood for t in browser.shown_tracks()]
    assert moods == sorted(moods) and len(set(moods)) > 1
    shown = browser.proxy.index(0, COLUMNS.index("Mood")).data()
    assert shown == f"{moods[0]:+.1f}"
    qtbot.keyClicks(browser.filter, "PIANO")
    assert [Path(t.path).name for t in browser.shown_tracks()] == ["piano.flac"]
    assert browser.count.text() == f"1 of {len(TRACKS)} tracks"
    copy_path(browser.shown_tracks()[0].path)
    assert QApplication.clipboard().text() == browser.shown_tracks()[0].path
    piano = browser.shown_tracks()[0]  # found by its title: music like it, in the main window
    like = wait_results(qtbot, window, lambda: browser.table.doubleClicked.emit(browser.proxy.index(0, 0)))
    assert window.results.heading.text() == f"More like “{piano.title}”" and piano.id not in [r.track_id for r in like]


def test_many_chips_scroll_rather_than_squeeze_the_results(qtbot, window):
    qtbot.waitUntil(lambda: window.results.width() > 0)
    before = window.results.width()
    prompt = "slow, no drums, no vocals, no guitar, no piano, no strings, in D minor, at least 2 minutes"
    wait_results(
        qtbot,
        window,
        lambda: (qtbot.keyClicks(window.prompt.edit, prompt), qtbot.keyClick(window.prompt.edit, Qt.Key.Key_Return)),
    )
    assert len(window.prompt.chip_labels()) >= 7
    qtbot.wait(50)
    assert window.results.width() == before
    area = window.prompt.chips_area
    assert area.widget().sizeHint().width() > area.viewport().width()  # the rest is a scroll away


def test_chips_remove_constraints_and_balance_asks_again(qtbot, window, media):
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["fast"]]))
    filtered = wait_results(qtbot, window, lambda: qtbot.keyClicks(window.prompt.edit, "energetic, under 110 bpm"))
    assert window.prompt.chip_labels() == ["≤ 110 BPM (preference)"]
    slow_first = [r.bpm <= 110 for r in filtered]
    assert slow_first[0] and slow_first == sorted(slow_first, reverse=True)  # the asked tempo first
    chip = window.prompt.chips.itemAt(0).widget()
    results = wait_results(qtbot, window, lambda: qtbot.mouseClick(chip, Qt.MouseButton.LeftButton))
    assert window.prompt.edit.text() == "energetic" and window.prompt.chip_labels() == []
    fast_up = [r.bpm <= 110 for r in results]
    assert len(results) == len(TRACKS) and fast_up != sorted(fast_up, reverse=True)  # the preference is gone
    wait_results(qtbot, window, lambda: window.prompt.slider.setValue(100))
    assert window.current.balance == 1.0
    answer = window.current.answer
    assert answer.query.balance == 1.0 and answer.query.video == str(media["fast"])
    assert window.results.heading.text() == "Results for words"  # the picture counts for nothing there
    # The words' feel is a chip of its own once they are answered, and goes as soon as they change.
    assert window.prompt.feel_chip.isVisible() and window.prompt.feel_chip.text().startswith("feel: ")
    qtbot.keyClicks(window.prompt.edit, " x")
    assert not window.prompt.feel_chip.isVisible()
    wait_results(qtbot, window, lambda: window.prompt.edit.setText("electronic with drums") or window.prompt._commit())
    assert not window.prompt.feel_chip.isVisible()  # those words say nothing of feel
    wait_results(qtbot, window, lambda: window.prompt.slider.setValue(0))
    wait_results(qtbot, window, lambda: window.prompt.edit.setText("under 110 bpm") or window.prompt._commit())
    assert window.results.heading.text() == "Results for picture + constraints"  # words that only constrain


def test_in_and_out_points_by_typing_and_dragging(qtbot, window, media):
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    editor = window.inout
    pictured, thumbnail = [], window.session.thumbnail  # where the timeline's picture of the clip is taken
    window.session.thumbnail = lambda path, at, *rest, **how: (pictured.append(at), thumbnail(path, at, *rest, **how))

    def type_points():
        editor.in_edit.setText("2.5")
        editor.out_edit.setText("0:08")
        editor.out_edit.editingFinished.emit()

    wait_results(qtbot, window, type_points)
    assert (window.current.clip_in, window.current.clip_out) == (2.5, 8.0)
    assert window.current.answer.query.start == 2.5 and window.current.answer.query.end == 8.0
    assert editor.in_edit.text() == "00:00:02.50"
    assert 3.5 in pictured  # the timeline shows the part used: a second past the new in point
    pictured.clear()
    wait_results(qtbot, window, window.undo_stack.undo)
    assert window.current.clip_in == 0 and 1.0 in pictured  # and again where the undone in point puts it
    wait_results(qtbot, window, window.undo_stack.redo)
    assert window.current.clip_in == 2.5 and 3.5 in pictured

    bar = editor.bar
    x_out = round(bar._x(8.0))

    def drag_out_handle():
        qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=QPoint(x_out, 5))
        qtbot.mouseMove(bar, QPoint(bar.width() - 1, 5))
        qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=QPoint(bar.width() - 1, 5))

    wait_results(qtbot, window, drag_out_handle)
    assert window.current.clip_out is None  # dragged to the end: to the end of the file
    assert window.current.clip_in == 2.5

    shown = []
    editor.invalid.connect(shown.append)
    editor.in_edit.setText("1:75")
    editor.in_edit.editingFinished.emit()
    assert shown and "seconds must be below 60" in shown[0]
    assert window.current.clip_in == 2.5  # a bad timecode changes nothing

    # A point typed on the wrong side of the other is refused, the other left where it is.
    length = window.current.duration
    for field, text, said in (
        (editor.out_edit, "2", "must come at least 1 s after the in point 00:00:02.50"),
        (editor.in_edit, "1:2:3", "leaves less than 1 s of the clip"),
    ):
        shown.clear()
        field.setText(text)
        field.editingFinished.emit()
        assert shown and said in shown[0], shown
        assert (window.current.clip_in, window.current.clip_out) == (2.5, None)
        assert (editor.in_edit.text(), editor.out_edit.text()) == ("00:00:02.50", format_timecode(length))
    shown.clear()
    editor.out_edit.editingFinished.emit()  # leaving a field that shows the end, rounded: nothing to say
    assert not shown

    def one_second():  # 1.4 - 0.4 is 0.9999999999999999 s: the shortest range allowed, all the same
        editor.in_edit.setText("0.4")
        editor.out_edit.setText("1.4")
        editor.out_edit.editingFinished.emit()

    assert window.notice.isVisible() and "leaves less than 1 s" in window.notice.label.text()
    wait_results(qtbot, window, one_second)
    assert not shown and (window.current.clip_in, window.current.clip_out) == (0.4, 1.4)
    assert not window.notice.isVisible()  # the refusal, answered by the points applied since, is gone
    wait_results(qtbot, window, lambda: editor.set_points(2.5, length))
    editor.out_edit.setText("500")  # the out point is the end already: said, and nothing changes
    editor.out_edit.editingFinished.emit()
    assert shown == [f"the clip is {format_timecode(length)} long: the out point is its end"]
    assert editor.out_edit.text() == format_timecode(length) and window.current.clip_out is None


def test_each_clip_keeps_its_state_and_the_timeline_survives_a_restart(qtbot, scanned, media, tmp_path):
    data = copy_data(scanned, tmp_path / "data")
    window = open_window(qtbot, data, tmp_path)
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], media["fast"]]))
    assert [Path(window.clips[i].path).name for i in window.timeline.order()] == ["slow.mp4", "fast.mp4"]
    wait_results(qtbot, window, lambda: qtbot.keyClicks(window.prompt.edit, "calm strings"))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.current.chosen is not None, timeout=10_000)
    slow_pick = window.current.chosen["path"]

    wait_results(qtbot, window, lambda: window.timeline.setCurrentRow(1))
    assert window.current.path == str(media["fast"]) and window.prompt.text == ""
    wait_results(qtbot, window, lambda: qtbot.keyClicks(window.prompt.edit, "fast electronic"))
    window.timeline.setCurrentRow(0)  # back to the first clip: its prompt and pick come back, no new search
    assert window.prompt.text == "calm strings" and window.current.chosen["path"] == slow_pick
    window.timeline.move_current(1)  # reorder
    assert [Path(window.clips[i].path).name for i in window.timeline.order()] == ["fast.mp4", "slow.mp4"]
    window.resize(780, 560)  # inside the offscreen screen (800x600), so the geometry comes back unclamped
    default = window.rows.sizes()
    window.rows.setSizes([default[0] + default[1], 0])  # the timeline as small as it goes
    qtbot.wait(50)  # let the layout settle: minimum sizes have their say
    sizes = window.rows.sizes()
    assert sizes != default
    window.close()
    window.session.wait()

    again = open_window(qtbot, data, tmp_path)
    qtbot.waitUntil(lambda: again.timeline.count() == 2, timeout=10_000)
    clips = [again.clips[i] for i in again.timeline.order()]
    assert [Path(c.path).name for c in clips] == ["fast.mp4", "slow.mp4"]
    assert [c.prompt for c in clips] == ["fast electronic", "calm strings"]
    assert clips[1].chosen["path"] == slow_pick
    assert again.rows.sizes() == sizes  # splitters restored
    again.close()
    again.session.wait()


def test_a_timeline_file_that_does_not_hold_is_kept_aside_or_put_right(qtbot, scanned, media, tmp_path):
    """A timeline.json that is not a timeline is said, kept beside it and the app starts empty; one whose
    clips are partly wrong keeps what holds, and says what was left out or set back."""
    data = copy_data(scanned, tmp_path / "data")
    saved = data / "timeline.json"
    saved.write_text("[]")
    window = open_window(qtbot, data, tmp_path)
    qtbot.waitUntil(lambda: "could not be read" in window.notice.label.text(), timeout=20_000)
    (kept,) = data.glob("timeline.unreadable-*.json")
    assert kept.read_text() == "[]" and window.timeline.count() == 0 and str(kept) in window.notice.label.text()
    window.close()
    window.session.wait()

    good = {"path": str(media["slow"]), "duration": 12.0, "clip_in": 2.0, "clip_out": 8.0, "prompt": "calm"}
    clips = [
        good,
        {"path": str(media["fast"]), "clip_in": 1.0},  # no length: left out
        {"path": str(media["fast"]), "duration": 12.0, "clip_in": 9.0, "clip_out": 3.0, "chosen": "x"},
        {**good, "shortlist": [{"track_id": 1}]},
    ]
    saved.write_text(json.dumps({"clips": clips, "current": "1"}))
    again = open_window(qtbot, data, tmp_path)
    qtbot.waitUntil(lambda: again.timeline.count() == 3, timeout=20_000)
    loaded = [again.clips[i] for i in again.timeline.order()]
    assert [(c.clip_in, c.clip_out, c.prompt) for c in loaded] == [
        (2.0, 8.0, "calm"),
        (0.0, None, ""),
        (2.0, 8.0, "calm"),
    ]
    assert loaded[1].chosen is None and loaded[2].shortlist == []
    said = again.notice.label.text()
    assert "clip 2 is left out: fast.mp4: its length is not a number of seconds" in said
    assert "fast.mp4: its in and out points were not a range in the file" in said
    assert "fast.mp4: its chosen track could not be read" in said and "part of its shortlist" in said
    again.close()
    again.session.wait()


def test_more_like_this(qtbot, window, media):
    results = wait_results(qtbot, window, lambda: qtbot.keyClicks(window.prompt.edit, "techno"))
    seed = results[0]
    similar = wait_results(qtbot, window, lambda: window.results.moreLikeThis.emit(seed))
    assert "More like" in window.results.heading.text()
    assert similar and seed.track_id not in [r.track_id for r in similar]


def test_a_tempo_chosen_in_a_results_menu_is_shown_in_the_results_and_the_library(qtbot, window):
    from dataclasses import replace
    from fractions import Fraction

    from PyQt6.QtWidgets import QMenu

    from desktop.library_browser import COLUMNS as LIBRARY_COLUMNS
    from desktop.results import COLUMNS
    from desktop.session import TempoChoice
    from desktop.tempo_menu import add_tempo_menu, open_tempo_dialog

    results = wait_results(qtbot, window, lambda: qtbot.keyClicks(window.prompt.edit, "techno"))
    techno = next(r for r in results if r.path.endswith("techno.mp3"))
    chosen = []
    menu = QMenu()
    levels = add_tempo_menu(menu, techno, chosen.append)
    offered = {a.text(): a for a in levels.actions() if a.text()}
    assert f"Half: {techno.bpm / 2:.0f} BPM" in offered and f"Double: {techno.bpm * 2:.0f} BPM" in offered
    fast_menu = QMenu()  # (the parent keeps its submenu alive)
    fast = add_tempo_menu(fast_menu, replace(techno, bpm=250.0, bpm_measured=250.0), print)
    fast = {a.text(): a.isEnabled() for a in fast.actions()}
    assert fast["Half: 125 BPM"] and not fast["Double: 500 BPM"]  # past 300 BPM, where no beat is tapped
    assert not offered["As the scan measured it"].isEnabled()  # nothing set yet
    offered[f"Half: {techno.bpm / 2:.0f} BPM"].trigger()
    assert chosen == [TempoChoice(times=Fraction(1, 2))]
    assert offered["Other tempo… (type or tap it)"].isEnabled()
    at_two_thirds = QMenu()
    offered = {
        a.text().split(":")[0]: a.isEnabled()
        for a in add_tempo_menu(at_two_thirds, replace(techno, bpm=techno.bpm * 2 / 3, bpm_set=True), print).actions()
        if a.text()
    }
    assert offered["Two thirds"] and offered["Three halves"] and offered["As the scan measured it"]
    # Any other tempo, tapped along with the preview: the taps' median interval, so a missed beat (an interval
    # of 1.8 s among 0.9 s ones, where the mean would read 55.6 BPM) moves it little; then a pause.
    clock = iter([10.0, 10.9, 11.8, 13.6, 14.5, 15.4, 20.0])
    dialog = open_tempo_dialog(window, techno, chosen.append)
    dialog.clock = lambda: next(clock)
    assert dialog.isVisible() and f"measured {techno.bpm:.0f} BPM" in dialog.intro.text()
    assert window.isEnabled() and not dialog.isModal()  # the preview can be played while tapping
    dialog.activateWindow()
    qtbot.waitUntil(dialog.tap_button.hasFocus, timeout=5_000)  # focused as it opens: T taps at once
    qtbot.keyClick(dialog.tap_button, Qt.Key.Key_T)
    for _ in range(2):
        dialog.tap_button.click()
    assert dialog.bpm() == pytest.approx(techno.bpm, abs=0.1) and "3 taps: tap at least 4" in dialog.reading.text()
    for _ in range(3):
        dialog.tap_button.click()
    assert dialog.bpm() == pytest.approx(60 / 0.9, abs=0.3) and "6 taps" in dialog.reading.text()
    dialog.tap_button.click()  # after a pause: counting starts again, the tempo read stays
    assert "1 tap:" in dialog.reading.text() and dialog.bpm() == pytest.approx(60 / 0.9, abs=0.3)
    tapped = dialog.bpm()
    dialog.accept()
    assert chosen[-1] == TempoChoice(bpm=tapped)
    no_beat, quick = QMenu(), QMenu()
    assert not add_tempo_menu(no_beat, replace(techno, bpm=None), chosen.append).isEnabled()
    assert not add_tempo_menu(quick, replace(techno, quick=True), chosen.append).isEnabled()

    again = wait_results(
        qtbot, window, lambda: window.results.tempoChosen.emit(techno, TempoChoice(times=Fraction(1, 2)))
    )
    mine = next(r for r in again if r.track_id == techno.track_id)
    assert mine.bpm == pytest.approx(techno.bpm / 2, abs=0.05) and mine.bpm_set and "tempo set by you" in mine.why
    row = [r.track_id for r in again].index(techno.track_id)
    assert window.results.model.index(row, COLUMNS.index("BPM")).data() == f"{mine.bpm:.0f}*"
    assert f"{mine.bpm:.0f} BPM, set by you" in window.notice.label.text()
    window.browse_library()
    qtbot.waitUntil(lambda: window.browser is not None and window.browser.isVisible(), timeout=20_000)
    shown = window.browser.shown_tracks()
    cell = window.browser.proxy.index(
        next(i for i, t in enumerate(shown) if t.id == techno.track_id), LIBRARY_COLUMNS.index("BPM")
    )
    assert cell.data() == f"{mine.bpm:.0f}*"
    assert f"measured {techno.bpm:.0f} BPM" in cell.data(Qt.ItemDataRole.ToolTipRole)
    # A tempo of one's own (typed or tapped), at no level of the measured one: its beats followed from the file.
    again = wait_results(qtbot, window, lambda: window.results.tempoChosen.emit(techno, TempoChoice(bpm=100.0)))
    mine = next(r for r in again if r.track_id == techno.track_id)
    assert (mine.bpm, mine.bpm_set) == (100.0, True) and "100 BPM, set by you" in window.notice.label.text()


def test_a_tempo_set_while_a_fitted_preview_renders_is_rendered_again_not_kept_under_the_old_one(
    qtbot, window, media, monkeypatch
):
    from fractions import Fraction

    results = wait_results(qtbot, window, lambda: qtbot.keyClicks(window.prompt.edit, "techno"))
    techno = next(r for r in results if r.path.endswith("techno.mp3"))
    engine, renders = window.session.engine, []
    render = engine.fitted_music

    def set_during_the_first(track_id, **how):  # the tempo lands while the first render runs
        renders.append(engine.track(track_id).bpm)
        if len(renders) == 1:
            engine.set_tempo(track_id, times=Fraction(1, 2))
        return render(track_id, **how)

    monkeypatch.setattr(engine, "fitted_music", set_during_the_first)
    clip = {"path": str(media["slow"]), "clip_in": 0.0, "clip_out": 6.0}
    chosen = {"track_id": techno.track_id, "path": techno.path, "start": techno.start}
    fitted, again = [], []
    window.session.load_fitted(clip, chosen, fitted.append)
    qtbot.waitUntil(lambda: bool(fitted), timeout=120_000)
    assert renders == [techno.bpm, pytest.approx(techno.bpm / 2, abs=0.05)]  # rendered again at the new tempo
    (kept,) = (Path(engine.data_dir) / "fitted").glob("*.wav")  # the first render is not kept under either
    assert str(kept) == fitted[0].path
    window.session.load_fitted(clip, chosen, again.append)
    qtbot.waitUntil(lambda: bool(again), timeout=60_000)
    assert again[0].path == fitted[0].path and len(renders) == 2  # found under the tempo it now has


def test_export_the_timeline_with_the_chosen_music(qtbot, window, media, tmp_path):
    import opentimelineio as otio

    from engine.collect import editor_reads

    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], media["fast"]]))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.current.chosen is not None, timeout=10_000)
    wait_results(qtbot, window, lambda: window.inout.set_points(2.0, 10.0))  # the first clip: 8 s from 2 s in
    chosen = window.current.chosen  # the pick kept, with the start placed for the new length
    assert chosen["start"] == window.results.current().start
    qtbot.waitUntil(lambda: window.preview.track_start == chosen["start"], timeout=10_000)  # what the preview plays
    target = tmp_path / "edit.xml"
    with qtbot.waitSignal(window.exported, timeout=60_000) as done:
        window.export_timeline(str(target))
    assert done.args[0] == str(target) and "1 without music" in window.notice.label.text()
    timeline = otio.adapters.read_from_file(str(target), "fcp_xml")
    shots = timeline.video_tracks()[0].find_clips()
    assert [c.source_range.start_time.to_seconds() for c in shots] == [2.0, 0.0]
    assert shots[0].source_range.duration.to_seconds() == 8.0
    (tune,) = timeline.audio_tracks()[0].find_clips()  # only the first clip has music
    assert tune.range_in_parent().duration.to_seconds() == 8.0 and tune.markers
    assert abs(tune.source_range.start_time.to_seconds() - chosen["start"]) <= 0.5 / 25 + 1e-9  # what it played
    # Collected (the default): the music beside the timeline, in a form Premiere and Resolve import.
    music_file = Path(otio.url_utils.filepath_from_url(tune.media_reference.target_url))
    assert music_file.parent == tmp_path / "edit music" and music_file.is_file()
    assert editor_reads(str(music_file), "fcp7")

    with qtbot.waitSignal(window.fitted, timeout=120_000):  # the preview now plays the fitted edit
        window.fit_action.setChecked(True)  # fitted: re-edited to the clip, as a WAV the timeline plays whole
    assert "fitted" in window.preview.track_label.text() and window.preview.track_start == 0.0
    assert window.preview.track.duration == pytest.approx(8.1, abs=0.01)  # the clip, and a little to cut on
    (previewed,) = (Path(window.session.engine.data_dir) / "fitted").glob("*.wav")
    wave = window.preview.waveform  # the edit's own bars, and nothing to drag: the edit is the region
    assert not wave.movable and 0 < len(wave.downbeats) < len(wave.beats) and wave.beats.max() < 8.1
    row = window.results.table.currentIndex().row()
    dragged = window.results.model.mimeData([window.results.model.index(row, 0)])
    assert [Path(u.toLocalFile()) for u in dragged.urls()] == [previewed]  # dragged out: the edit, as previewed
    with qtbot.waitSignal(window.exported, timeout=120_000):
        window.export_timeline(str(target))
    timeline = otio.adapters.read_from_file(str(target), "fcp_xml")  # held: its clips die with it
    (tune,) = timeline.audio_tracks()[0].find_clips()
    fitted = Path(otio.url_utils.filepath_from_url(tune.media_reference.target_url))
    assert fitted.suffix == ".wav" and fitted.parent == tmp_path / "edit music"
    assert tune.source_range.start_time.to_seconds() == 0 and tune.range_in_parent().duration.to_seconds() == 8.0
    assert "fitted to" in window.notice.label.text()
    assert fitted.read_bytes() == previewed.read_bytes()  # what was previewed is what is exported

    track = window.current.chosen["track_id"]
    with qtbot.waitSignal(window.fitted, timeout=120_000):
        window.inout.set_points(3.0, 11.0)  # the same length, moved: fitted anew, for the new range
    moved = Path(window.results.model.rendered[track])
    assert moved != previewed and window.preview.track.duration == pytest.approx(8.1, abs=0.01)
    with qtbot.waitSignal(window.exported, timeout=120_000):
        window.export_timeline(str(target))
    (tune,) = otio.adapters.read_from_file(str(target), "fcp_xml").audio_tracks()[0].find_clips()
    assert Path(otio.url_utils.filepath_from_url(tune.media_reference.target_url)).read_bytes() == moved.read_bytes()

    window.fit_action.setChecked(False)
    window.fit_action.setChecked(True)  # on and off again before the edit is made: the edit made late is not shown
    window.fit_action.setChecked(False)
    window.session.wait()
    qtbot.waitUntil(lambda: window.preview.track is not None and window.preview.waveform.movable, timeout=20_000)
    qtbot.wait(200)  # any late callback delivered
    assert "fitted" not in window.preview.track_label.text() and track not in window.results.model.rendered


def test_a_clip_whose_video_is_gone_is_left_out_of_the_export_and_named(qtbot, window, media, tmp_path):
    import opentimelineio as otio

    doomed = tmp_path / "gone.mp4"
    shutil.copy(media["fast"], doomed)
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], doomed]))
    qtbot.waitUntil(lambda: window.timeline.count() == 2, timeout=20_000)
    doomed.unlink()
    with qtbot.waitSignal(window.exported, timeout=60_000) as done:
        window.export_timeline(str(tmp_path / "cut.otio"))
    assert "Left out, their video missing: gone.mp4" in window.notice.label.text()
    shots = otio.adapters.read_from_file(done.args[0]).video_tracks()[0].find_clips()
    assert [Path(otio.url_utils.filepath_from_url(c.media_reference.target_url)).name for c in shots] == ["slow.mp4"]


def test_a_clip_whose_music_is_gone_is_exported_without_it_and_named(qtbot, window, media, tmp_path):
    """The chosen track's drive unplugged since it was chosen: the export failed as a whole. The clips are
    exported, that one without music, and the track is named."""
    import opentimelineio as otio

    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.current.chosen is not None and window.preview.track is not None, timeout=20_000)
    music = Path(window.current.chosen["path"])
    away = music.with_name(music.name + ".unplugged")
    music.rename(away)
    try:
        with qtbot.waitSignal(window.exported, timeout=60_000) as done:
            window.export_timeline(str(tmp_path / "cut.otio"))
    finally:
        away.rename(music)
    said = f"Without their music, its file missing (is its drive plugged in?): {window.current.chosen['title']}"
    assert said in window.notice.label.text()
    timeline = otio.adapters.read_from_file(done.args[0])
    assert len(timeline.video_tracks()[0].find_clips()) == 1
    assert not [c for track in timeline.audio_tracks() for c in track.find_clips() if "Music" in track.name]


def test_a_timeline_saved_in_the_library_folder_collects_no_music_there(qtbot, window, media, tmp_path):
    """Collecting (on by default) beside a timeline saved in a library folder put copies of the music there,
    which the next scan took for new tracks: the export is refused, saying why, and writes nothing."""
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.current.chosen is not None, timeout=20_000)
    music = Path(window.current.chosen["path"]).parent
    before = sorted(music.rglob("*"))
    window.export_timeline(str(music / "cut.xml"))
    qtbot.waitUntil(lambda: "could not be exported" in window.notice.label.text(), timeout=60_000)
    said = window.notice.label.text()
    assert "is inside the library folder" in said and "choose a folder outside the library" in said
    assert sorted(music.rglob("*")) == before


def test_the_export_dialog_adds_the_chosen_formats_suffix_to_a_bare_name(qtbot, window, media, tmp_path, monkeypatch):
    """ "MyEdit" typed with FCPXML chosen is MyEdit.fcpxml; a name with a timeline suffix keeps it."""
    from PyQt6.QtWidgets import QFileDialog

    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    fcpxml = next(f for f in window.EXPORT_FILTERS.split(";;") if f.endswith("(*.fcpxml)"))
    for typed, written in (("MyEdit", "MyEdit.fcpxml"), ("cut.v2", "cut.v2.fcpxml"), ("edit.otio", "edit.otio")):
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, t=typed: (str(tmp_path / t), fcpxml))
        with qtbot.waitSignal(window.exported, timeout=60_000) as done:
            window.choose_export()
        assert done.args[0] == str(tmp_path / written) and (tmp_path / written).is_file()
    # The dialog asked about "MyEdit", not about the MyEdit.fcpxml written now: replacing it is asked here.
    from PyQt6.QtWidgets import QMessageBox

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(tmp_path / "MyEdit"), fcpxml))
    (tmp_path / "MyEdit.fcpxml").write_bytes(b"kept")
    asked = []
    no = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a[2]) or no)
    window.choose_export()
    assert asked == [f"{tmp_path / 'MyEdit.fcpxml'} already exists. Replace it?"]
    assert (tmp_path / "MyEdit.fcpxml").read_bytes() == b"kept"
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.exported, timeout=60_000):
        window.choose_export()
    assert (tmp_path / "MyEdit.fcpxml").read_bytes().startswith(b"<?xml")  # replaced, as the answer said


# ---- library manager ----------------------------------------------------------------------------------------


def test_scan_a_folder_with_progress_cancel_and_resume(qtbot, window, media):
    progress = []
    window.session.scanProgress.connect(progress.append)
    with qtbot.waitSignal(window.session.scanProgress, timeout=60_000):
        window.add_folder(str(media["more"]))
    assert window.library_panel.cancel_button.isEnabled() and not window.library_panel.scan_button.isEnabled()
    with qtbot.waitSignal(window.session.scanFinished, timeout=120_000) as finished:
        window.library_panel.cancel_button.click()
    report = finished.args[0]
    assert report.cancelled and report.indexed < 6
    assert progress and progress[-1].files_total == 6
    assert "Scan cancelled" in window.library_panel.progress_label.text()
    with qtbot.waitSignal(window.session.scanFinished, timeout=120_000) as finished:
        window.library_panel.scan_button.click()
    assert finished.args[0].indexed == 6 - report.indexed and not finished.args[0].cancelled
    roots = [window.library_panel.roots.item(i).text() for i in range(window.library_panel.roots.count())]
    assert any("more-music" in r and "6 tracks" in r for r in roots)
    window.add_folder(str(media["more"]))  # again: said, and no scan for nothing
    assert "already a library folder" in window.notice.label.text() and not window.session.scanning


def test_a_quick_pass_shows_in_progress_and_counts_and_the_next_scan_completes_it(qtbot, window, media, monkeypatch):
    from desktop.library_panel import describe_progress
    from engine.library import scanner

    monkeypatch.setattr(scanner, "QUICK_FROM_FILES", 2)  # six new files: a quick pass first
    texts, phases = [], []

    def seen(progress) -> None:
        texts.append(describe_progress(progress))
        phases.append(progress.phase)
        if progress.phase == "full":
            window.session.cancel_scan()  # stopped right after the quick pass

    window.session.scanProgress.connect(seen)
    with qtbot.waitSignal(window.session.scanFinished, timeout=120_000) as finished:
        window.add_folder(str(media["more"]))
    report = finished.args[0]
    quick = 6 - report.indexed  # the tracks in flight when it stopped were completed
    assert report.cancelled and report.quick == 6 and quick > 0
    assert phases[0] == "quick" and "full" in phases and any(t.startswith("Quick pass: ") for t in texts)
    summary = window.library_panel.summary
    assert f"({quick} from a quick pass)" in summary.text() and "full analysis follows" in summary.toolTip()
    assert "6 made searchable by a quick pass" in window.library_panel.progress_label.text()
    window.session.scanProgress.disconnect(seen)
    with qtbot.waitSignal(window.session.scanFinished, timeout=180_000) as finished:
        window.library_panel.scan_button.click()
    assert finished.args[0].indexed == quick and finished.args[0].quick == 0
    assert "quick pass" not in summary.text()


def test_offline_folder_is_shown_and_errors_listed(qtbot, scanned, media, tmp_path):
    data = copy_data(scanned, tmp_path / "data")
    music = tmp_path / "drive"
    music.mkdir()
    render_midi(music / "a.flac", bpm=90, program=0, melody=[60, 62], seconds=15)
    (music / "broken.mp3").write_bytes(b"ID3 not really an mp3")
    window = open_window(qtbot, data, tmp_path)
    with qtbot.waitSignal(window.session.scanFinished, timeout=120_000):
        window.add_folder(str(music))
    assert window.library_panel.errors_button.text() == "Errors (1)"
    assert window.session.errors()[0].path.endswith("broken.mp3")
    music.rename(tmp_path / "unplugged")
    with qtbot.waitSignal(window.session.scanFinished, timeout=120_000):
        window.scan()
    texts = [window.library_panel.roots.item(i).text() for i in range(window.library_panel.roots.count())]
    assert any("drive" in t and "(offline)" in t and t.endswith(" 1 track") for t in texts), texts
    window.close()
    window.session.wait()


# ---- failures are messages, never crashes or dialogs ---------------------------------------------------------


def test_bad_clip_is_a_message_and_the_app_keeps_working(qtbot, window, media, tmp_path):
    blink = write_video(tmp_path / "blink.mp4", shapes(0.48, 1.0), 25)  # too short for any in and out points
    drop_files(window.timeline, [media["not-a-video"], blink])
    qtbot.waitUntil(lambda: window.notice.isVisible() and window.notice.level == "error", timeout=20_000)
    said = window.notice.label.text()
    assert "notes.mp4 cannot be used" in said and "blink.mp4 is 0.48 s long" in said  # both, in one message
    assert window.timeline.count() == 0
    assert QApplication.activeModalWidget() is None
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    assert window.timeline.count() == 1


def test_missing_model_bundle_is_a_clear_message(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEDROP_MODELS_DIR", str(tmp_path / "no-models"))
    session = Session(tmp_path / "data")
    window = MainWindow(session, settings=QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    with qtbot.waitSignal(session.unavailable, timeout=30_000):
        window.show()
    assert "make models" in window.notice.label.text() and window.notice.level == "error"
    assert window.status_label.text() == "No model"
    window.add_folder(str(tmp_path))  # asking for work before the model is there is a message too
    assert "not open yet" in window.notice.label.text()


def test_no_audio_device_plays_the_picture_silently(qtbot, scanned, media, tmp_path, monkeypatch):
    import sounddevice

    def no_device(*args, **kwargs):
        raise sounddevice.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sounddevice, "OutputStream", no_device)
    window = open_window(qtbot, copy_data(scanned, tmp_path / "data"), tmp_path)
    assert not window.music.available and "No audio output" in window.notice.label.text()
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.preview.track is not None, timeout=20_000)
    frames = window.preview.video.frames_shown
    window.preview.play()
    qtbot.waitUntil(lambda: window.preview.video.frames_shown > frames + 5, timeout=20_000)
    window.preview.stop()
    window.session.wait()


# ---- the UI thread never does the heavy work -------------------------------------------------------------------

# Engine modules whose work takes long (analysis, decoding, model runs, searches): never on the UI thread.
HEAVY = (
    "engine/library/analysis.py",
    "engine/library/scanner.py",
    "engine/features.py",
    "engine/backbones.py",
    "engine/embedder.py",
    "engine/media/playback.py",
    "engine/media/video.py",
    "engine/recommend/recommender.py",
    "engine/recommend/pipeline.py",
)


class Watchdog:
    """Samples the UI thread's stack every 5 ms from a side thread, noting any sample inside `HEAVY` work,
    and the longest gap between the ticks of a 10 ms timer on the UI thread (reported, not asserted: a
    latency is a benchmark's to measure, and it depends on the machine; what a test can hold the window
    to is that the work that takes long runs elsewhere)."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.worst = 0.0
        self.heavy: set[str] = set()
        self.samples = 0
        self._running = False

    def _tick(self):
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def _watch(self):
        main = threading.main_thread().ident
        while self._running:
            time.sleep(0.005)
            frame = _frame_of(main)
            # The stack is read whole while this thread holds the GIL: nothing here lets the UI thread run
            # (traceback.format_stack reads source files, which does, and the UI thread then tore down frames
            # still to be walked: a segmentation fault, now and then).
            stack = []
            while frame is not None:
                stack.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}\n")
                frame = frame.f_back
            if not stack:
                continue
            self.samples += 1
            if any(part in line for line in stack for part in HEAVY):
                self.heavy.add("".join(reversed(stack[:8])))

    def __enter__(self):
        self.last = time.perf_counter()
        self._running = True
        threading.Thread(target=self._watch, daemon=True).start()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self._running = False
        self.timer.stop()


def _frame_of(thread_id: int):
    """The thread's current frame, read with the cyclic collector paused: on Python 3.11,
    sys._current_frames() holds the interpreter's thread-list lock while it makes frame objects, a
    collection they trigger can free an object whose finaliser lets go of the GIL (a sqlite connection),
    and a thread ending meanwhile takes the GIL and waits for that lock: both stop for good
    (CPython gh-106883, whose fix pauses the collector the same way; Python 3.11.7 lacks it). The test
    hung on it once, in CI on 6 December 2026."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return sys._current_frames().get(thread_id)
    finally:
        if enabled:
            gc.enable()


def test_scan_encoding_and_search_run_off_the_ui_thread(qtbot, window, media):
    with Watchdog() as dog:
        with qtbot.waitSignal(window.session.scanFinished, timeout=180_000):
            window.add_folder(str(media["more"]))  # a scan in worker processes, with progress in the window
        wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["fast"]]))  # probe, encode, search
        for text in ("warm", "warm strings", "warm strings, slow"):  # searches while typing
            wait_results(qtbot, window, lambda text=text: window.prompt.edit.setText(text) or window.prompt._commit())
        for step in (1, 1, 1, -1, -1, -1):  # A/B through the results: each track decoded, drawn, played from
            window.step_result(step)
            qtbot.waitUntil(lambda: window.preview.track is not None, timeout=20_000)
            qtbot.wait(300)
    print(f"longest UI-thread gap: {dog.worst * 1000:.0f} ms over {dog.samples} samples")
    assert dog.samples > 100  # the side thread did watch
    assert not dog.heavy, "heavy work on the UI thread:\n" + "\n---\n".join(sorted(dog.heavy))


def test_switching_tracks_draws_their_waveform_without_reading_their_samples_on_the_ui_thread(
    qtbot, window, media, monkeypatch
):
    """A/B through the results: each track's waveform is made where it is decoded, not on the UI thread (a
    pass over a long track's samples there stalled every arrow key by 0.4–0.9 s)."""
    from engine.media import playback

    made_on = []
    drawn = playback.waveform

    def waveform(audio, buckets):
        made_on.append(threading.current_thread() is threading.main_thread())
        return drawn(audio, buckets)

    monkeypatch.setattr(playback, "waveform", waveform)
    monkeypatch.setattr("desktop.waveform.waveform", waveform, raising=False)  # where it was drawn from
    window.session._audio.clear()  # every track decoded anew
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["fast"]]))
    for step in (1, 1, 1, -1, -1):
        window.step_result(step)
        qtbot.waitUntil(
            lambda: window.preview.track is not None and len(window.preview.waveform.peaks) > 0, timeout=20_000
        )
    assert made_on and not any(made_on), made_on


# ---- first run --------------------------------------------------------------------------------------------------


def test_first_run_demo_builds_a_library_and_shows_results(qtbot, tmp_path, monkeypatch):
    # The shortest track of each soundtrack, not all seven (half an hour of audio, a minute of CI): what is
    # tested is that the first run renders, links, scans and searches, not how long the music is.
    monkeypatch.setattr(
        demo_module,
        "SOUNDTRACKS",
        {"/usr/share/games/singularity/music": ("Awakening.ogg",), "/usr/share/games/asc/music": ("machine_wars.mp3",)},
    )
    window = open_window(qtbot, tmp_path / "empty", tmp_path)
    assert window.library_panel.demo_button.isVisible()
    assert "library is empty" in window.notice.label.text()
    panel, steps = window.library_panel, []
    window.session.demoStep.connect(
        lambda _text, i, n: steps.append(
            (i, n, panel.progress.maximum(), panel.progress.value(), panel.progress_label.text())
        )
    )
    with qtbot.waitSignal(window.resultsShown, timeout=600_000):
        window.library_panel.demo_button.click()
    assert len(steps) > 2  # the build shows how far it is: a bar of known length and a percentage
    for done, total, maximum, value, label in steps:
        assert (maximum, value) == (total, done) and f"({done} of {total}, {100 * done // total} %)" in label
    assert window.timeline.count() >= 1 and window.current is not None
    assert window.prompt.text == "gentle piano, no drums"
    assert len(window.results.model.results) >= 5
    licences = json.loads((tmp_path / "empty" / "demo" / "LICENCES.json").read_text())
    linked = [name for name in licences if name.startswith("music/soundtracks/")]
    assert len(linked) == sum(Path(folder).is_dir() for folder in demo_module.SOUNDTRACKS)  # installed ones
    assert not window.library_panel.demo_button.isVisible()
    window.close()
    window.session.wait()


def test_quitting_while_the_demo_renders_stops_it_at_the_next_piece(qtbot, tmp_path, monkeypatch):
    """The window does not wait for every piece of the demo to be rendered before it closes."""
    monkeypatch.setattr(demo_module, "SOUNDTRACKS", {})
    window = open_window(qtbot, tmp_path / "data", tmp_path)
    with qtbot.waitSignal(window.session.demoStep, timeout=60_000, check_params_cb=lambda text, i, n: i >= 1):
        window.start_demo()
    window.close()
    window.session.wait()
    rendered = list((tmp_path / "data" / "demo" / "music").glob("*.opus"))
    assert 1 <= len(rendered) < len(demo_module.PIECES)


def test_a_demo_stopped_during_its_scan_is_finished_at_the_next_start(qtbot, tmp_path, monkeypatch):
    """Quitting while the demo's music is scanned left a part of the library and no clips, with no way to
    finish it (the demo button shows only for an empty library): the next start finishes it, clips too."""
    monkeypatch.setattr(demo_module, "SOUNDTRACKS", {})  # the rendered pieces alone: a scan to stop is all it takes
    window = open_window(qtbot, tmp_path / "data", tmp_path)
    indexed = []
    window.session.scanProgress.connect(lambda progress: indexed.append(progress.indexed))
    window.start_demo()
    qtbot.waitUntil(lambda: bool(indexed) and indexed[-1] >= 1, timeout=600_000)
    window.close()  # as Ctrl+Q does
    window.session.wait()
    again = open_window(qtbot, tmp_path / "data", tmp_path)
    assert "Finishing the demo library" in again.notice.label.text()
    with qtbot.waitSignal(again.resultsShown, timeout=600_000):
        pass
    assert again.timeline.count() >= 1 and again.prompt.text == "gentle piano, no drums"
    assert all(root.last_scan is not None for root in again.session.status().roots)
    again.close()
    again.session.wait()


# ---- timecodes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("83.5", 83.5),
        ("1:23.5", 83.5),
        ("00:01:23.50", 83.5),
        ("1:02:03", 3723.0),
        (" 7 ", 7.0),
        ("0:00", 0.0),
        (".5", 0.5),
        ("1:.5", 60.5),
    ],
)
def test_timecodes_parse(text, seconds):
    assert parse_timecode(text) == pytest.approx(seconds)
    assert parse_timecode(format_timecode(seconds)) == pytest.approx(seconds, abs=0.005)


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "-5", "1:75", ".", "1.2.3"])
def test_bad_timecodes_are_refused(text):
    with pytest.raises(ValueError, match="timecode|below 60"):
        parse_timecode(text)


def test_counts_are_worded_in_the_right_number():
    from desktop.library_panel import describe_report
    from desktop.wording import counted
    from engine.records import ScanReport

    assert [counted(n, "track") for n in (0, 1, 2)] == ["0 tracks", "1 track", "2 tracks"]
    assert counted(1, "match", "matches") == "1 match" and counted(3, "match", "matches") == "3 matches"
    report = ScanReport(indexed=1, unchanged=0, failed=0, removed=0, roots_offline=["/Volumes/Music"])
    assert "1 folder offline" in describe_report(report)


def test_an_imported_cut_keeps_its_clips_points_and_places_through_the_export(qtbot, window, media, tmp_path):
    import opentimelineio as otio

    def clip(name: str, path: str, start: int, length: int) -> otio.schema.Clip:
        whole = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(250, 25))
        reference = otio.schema.ExternalReference(target_url=path, available_range=whole)
        used = otio.opentime.TimeRange(otio.opentime.RationalTime(start, 25), otio.opentime.RationalTime(length, 25))
        return otio.schema.Clip(name, reference, used)

    cut = otio.schema.Timeline("Scene 4", global_start_time=otio.opentime.RationalTime(90000, 25))
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(50, 25))))
    track.append(clip("slow", str(media["slow"]), 25, 100))
    track.append(clip("gone", str(tmp_path / "gone.mov"), 0, 25))
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(50, 25))))
    track.append(clip("fast", str(media["fast"]), 0, 50))
    cut.tracks.append(track)
    otio.adapters.write_to_file(cut, str(tmp_path / "scene.otio"))

    window.import_timeline(str(tmp_path / "scene.otio"))
    qtbot.waitUntil(lambda: len(window.clips) == 2, timeout=20_000)
    clips = [window.clips[i] for i in window.timeline.order()]
    assert [(c.path, c.clip_in, c.out_point, c.record_in) for c in clips] == [
        (str(media["slow"]), 1.0, 5.0, 2.0),
        (str(media["fast"]), 0.0, 2.0, 9.0),  # after the missing clip and the gap
    ]
    assert "gone" in window.notice.label.text() and "Imported 2 clips of Scene 4" in window.notice.label.text()

    target = tmp_path / "scored.xml"
    with qtbot.waitSignal(window.exported, timeout=60_000):
        window.export_timeline(str(target))
    back = otio.adapters.read_from_file(str(target), "fcp_xml")
    assert back.global_start_time.to_seconds() == 3600
    assert [c.range_in_parent().start_time.to_seconds() for c in back.video_tracks()[0].find_clips()] == [2.0, 9.0]

    # Reordered, the cut's places would overlap: the clip now second follows the first straight on, and
    # the export says so instead of refusing.
    window.timeline.setCurrentRow(1)
    window.timeline.move_current(-1)
    with qtbot.waitSignal(window.exported, timeout=60_000):
        window.export_timeline(str(tmp_path / "reordered.xml"))
    reordered = otio.adapters.read_from_file(str(tmp_path / "reordered.xml"), "fcp_xml")
    placed = [(c.name, c.range_in_parent().start_time.to_seconds()) for c in reordered.video_tracks()[0].find_clips()]
    assert placed == [(media["fast"].name, 9.0), (media["slow"].name, 11.0)]
    said = f"The clip from {media['slow'].name} starts 9.00 s after its place in the imported cut, straight after"
    assert said in window.notice.label.text()
    window.timeline.move_current(1)  # back as imported

    # The app opened again: the clips keep their places, and the cut its start timecode and rate.
    window.save_timeline()
    close_window(window)
    window.close()
    again = open_window(qtbot, window.session.data_dir, tmp_path)
    qtbot.waitUntil(lambda: again.timeline.count() == 2, timeout=20_000)
    assert again.start_timecode == "01:00:00:00" and again.frame_rate == (25.0, False)
    with qtbot.waitSignal(again.exported, timeout=60_000):
        again.export_timeline(str(tmp_path / "reopened.xml"))
    reopened = otio.adapters.read_from_file(str(tmp_path / "reopened.xml"), "fcp_xml")
    assert reopened.global_start_time.to_seconds() == 3600

    # The cut's clips removed and a clip added by hand: the export starts at zero at that clip's own rate,
    # not at the cut's timecode and rate, which went with its clips.
    while again.timeline.count():
        again.timeline.setCurrentRow(0)
        again.remove_action.trigger()
    again.add_clips([str(media["fast"])])
    qtbot.waitUntil(lambda: again.timeline.count() == 1, timeout=20_000)
    with qtbot.waitSignal(again.exported, timeout=60_000):
        again.export_timeline(str(tmp_path / "own.xml"))
    own = otio.adapters.read_from_file(str(tmp_path / "own.xml"), "fcp_xml")
    assert own.global_start_time is None or own.global_start_time.to_seconds() == 0
    again.close()
    again.session.wait()
