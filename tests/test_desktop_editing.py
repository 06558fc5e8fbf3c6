"""The desktop app as an editor works in it all day: the waveform's grid, undo, settings, shortlists, history.

Driven through the real window (offscreen Qt, a null audio device, the built bundle), with the data folder
and media of tests/desktop_support.py."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import QApplication

from desktop.results import COLUMNS
from desktop.settings_dialog import Preferences, data_dir_for
from desktop.waveform import RULER, level, ruler_ticks, snap
from desktop_support import copy_data, drop_files, free_port, open_window, wait_results
from media import render_midi

# ---- the waveform ---------------------------------------------------------------------------------------------


def test_ruler_ticks_are_as_fine_as_their_labels_allow():
    assert list(ruler_ticks(40.0, 600)) == [0, 5, 10, 15, 20, 25, 30, 35, 40]  # 15 px a second: every 5 s
    assert list(ruler_ticks(240.0, 600))[:3] == [0, 30, 60]  # a four-minute track: every 30 s
    assert len(ruler_ticks(0.0, 600)) == 0


def test_quiet_music_is_drawn_by_its_level_not_flat():
    heights = level(np.array([1.0, 0.5, 0.05, 0.001, 0.0]))
    assert heights[0] == 1.0 and heights[-1] == 0.0
    assert np.all(np.diff(heights[:3]) < 0) and heights[3] == 0.0  # louder is taller, down to the floor (-36 dBFS)
    assert heights[2] > 0.25  # a track peaking at -26 dBFS fills over a quarter of the height (linear: 5 %)


def test_a_dropped_start_lands_on_the_nearest_downbeat_that_still_lasts_the_clip():
    bars = np.array([0.5, 2.5, 4.5, 6.5, 8.5])
    assert snap(3.2, bars, latest=10.0) == 2.5
    assert snap(3.8, bars, latest=10.0) == 4.5
    assert snap(8.0, bars, latest=7.0) == 6.5  # 8.5 would run out under the clip
    assert snap(3.0, np.zeros(0), latest=10.0) == 3.0  # no grid: where it was dropped


def test_no_time_label_is_drawn_under_the_loudness_label(qtbot):
    from PyQt6.QtGui import QFontMetrics

    from desktop.waveform import WaveformView
    from engine.media.playback import PlaybackAudio

    noise = np.random.default_rng(0).normal(0, 6000, (20 * 8000, 2)).clip(-32767, 32767).astype(np.int16)
    wave = WaveformView()
    qtbot.addWidget(wave)
    metrics = QFontMetrics(wave.font())
    tick, loudness = metrics.horizontalAdvance("0:15"), metrics.horizontalAdvance("-37.9 LUFS")
    # 20 s wide enough for a tick every 5 s, narrow enough that the 0:15 label would run into the loudness.
    width = 4 * (tick + loudness) - 40
    wave.resize(width, 80)
    wave.set_audio(PlaybackAudio("noise.wav", noise, 8000))
    at_15, label_left = round(0.75 * width) + 3, width - 4 - loudness

    def inked(image, xs) -> int:
        background = image.pixelColor(1, RULER // 2)
        return sum(image.pixelColor(x, y) != background for x in xs for y in range(2, RULER - 6))

    assert at_15 + 4 < label_left - 2 < at_15 + tick
    under_label = range(at_15, label_left - 2)  # where "0:15" begins, short of where the loudness does
    assert inked(wave.grab().toImage(), under_label) > 0  # without the loudness: "0:15"
    wave.loudness = -37.9
    image = wave.grab().toImage()
    assert inked(image, under_label) == 0  # with it: left out, not drawn into the loudness
    at_10 = round(0.5 * width) + 3
    assert inked(image, range(at_10, at_10 + tick)) > 0 and inked(image, range(label_left, width - 4)) > 0
    wave.set_audio(None)


def test_the_fade_out_is_dimmed_on_the_waveform(qtbot):
    from desktop.waveform import WaveformView
    from engine.media.playback import PlaybackAudio

    noise = np.random.default_rng(0).normal(0, 6000, (20 * 8000, 2)).clip(-32767, 32767).astype(np.int16)
    wave = WaveformView()
    qtbot.addWidget(wave)
    wave.resize(400, 80)
    wave.set_audio(PlaybackAudio("noise.wav", noise, 8000))
    wave.set_region(2.0, 5.0)

    def brightness(image, seconds: tuple[float, float]) -> float:
        xs = range(int(seconds[0] / 20 * 400), int(seconds[1] / 20 * 400))
        return float(np.mean([image.pixelColor(x, 50).lightness() for x in xs]))

    plain = wave.grab().toImage()
    wave.set_grid(np.zeros(0), np.zeros(0), fade_at=15.0)
    faded = wave.grab().toImage()
    assert brightness(faded, (16, 19.5)) < 0.7 * brightness(plain, (16, 19.5))  # the fade, dimmed
    assert brightness(faded, (8, 14)) == brightness(plain, (8, 14))  # the rest as it was
    # A fade too short for its word is not named over the music before it, which a clip may play.
    wave.set_region(17.0, 19.5)
    wave.set_grid(np.zeros(0), np.zeros(0), fade_at=None)
    plain = wave.grab().toImage()
    wave.set_grid(np.zeros(0), np.zeros(0), fade_at=19.8)
    short = wave.grab().toImage()
    region = range(int(17.2 / 20 * 400), int(19.6 / 20 * 400))
    assert all(short.pixelColor(x, y) == plain.pixelColor(x, y) for x in region for y in range(80))
    wave.set_audio(None)
    assert wave.fade_at is None  # a new track starts without the old one's fade


def _column_colour(image, x: float, y: int) -> tuple[int, int, int]:
    """The most yellow pixel within a pixel of `x` (lines land on whole pixels)."""
    pixels = [image.pixelColor(int(round(x)) + dx, y) for dx in (-1, 0, 1)]
    best = max(pixels, key=lambda c: c.red() - c.blue())
    return best.red(), best.green(), best.blue()


def test_the_waveform_shows_bars_beats_ruler_and_level_and_snaps_the_start(qtbot, window, media):
    results = wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    window.results.select(0)
    wave = window.preview.waveform
    qtbot.waitUntil(lambda: len(wave.downbeats) > 0, timeout=20_000)  # the track's grid, from the scan
    assert wave.movable and len(wave.beats) > len(wave.downbeats) >= 4
    assert np.isin(np.round(wave.downbeats, 3), np.round(wave.beats, 3)).all()  # bars start on beats
    assert wave.loudness == results[0].loudness_lufs is not None  # the level the scan measured, in the ruler

    # Bars are drawn where they are: a bar line outside the region, against a column between two beats.
    wave.resize(900, 90)
    image = wave.grab().toImage()
    x_of = lambda t: t / wave.duration * wave.width()  # noqa: E731
    outside = [t for t in wave.downbeats if not wave.start - 1 <= t <= wave.start + wave.length + 1]
    assert outside, "a bar line outside the region"
    bar_x, bottom = x_of(outside[0]), wave.height() - 1
    r, _, b = _column_colour(image, bar_x, bottom)
    assert r > b + 40  # the bar line's amber
    gaps = np.diff(wave.beats)
    between = x_of(wave.beats[0] + gaps[0] / 2)
    if not wave.start <= wave.beats[0] + gaps[0] / 2 <= wave.start + wave.length:
        r, _, b = _column_colour(image, between, bottom)
        assert r < 40  # nothing drawn between beats but the background
    ruler_row = [image.pixelColor(x, RULER - 2) for x in range(0, wave.width(), 1)]
    assert sum(c.red() > 100 for c in ruler_row) >= len(ruler_ticks(wave.duration, wave.width())) - 1  # ticks

    # Dragging the region moves where the music starts: onto a bar line, kept by the clip.
    start0, bar = wave.start, float(np.median(np.diff(wave.downbeats)))
    x0 = int(x_of(start0 + wave.length / 2))
    dx = int(x_of(1.4 * bar)) * (1 if start0 + 1.5 * bar <= wave.duration - wave.length else -1)
    qtbot.mousePress(wave, Qt.MouseButton.LeftButton, pos=QPoint(x0, 50))
    qtbot.mouseMove(wave, QPoint(x0 + dx, 50))
    qtbot.mouseRelease(wave, Qt.MouseButton.LeftButton, pos=QPoint(x0 + dx, 50))
    assert wave.start != start0 and np.isclose(wave.downbeats, wave.start).any()
    assert window.current.chosen["start"] == wave.start == window.preview.track_start
    # Alt: placed freely, off the grid.
    x1 = int(x_of(wave.start + wave.length / 2))
    qtbot.mousePress(wave, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, QPoint(x1, 50))
    qtbot.mouseMove(wave, QPoint(x1 - 23, 50))
    qtbot.mouseRelease(wave, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, QPoint(x1 - 23, 50))
    assert not np.isclose(wave.downbeats, wave.start, atol=0.01).any()
    assert window.current.chosen["start"] == pytest.approx(wave.start)


# ---- undo and the menus ---------------------------------------------------------------------------------------


def _order(window) -> list[str]:
    return [Path(window.clips[i].path).stem for i in window.timeline.order()]


def test_every_timeline_edit_undoes_and_redoes(qtbot, window, media):
    stack = window.undo_stack
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], media["fast"]]))
    assert stack.undoText() == "Add 2 clips" and _order(window) == ["slow", "fast"]
    slow = window.current

    def type_prompt():
        qtbot.keyClicks(window.prompt.edit, "gentle piano")
        qtbot.keyClick(window.prompt.edit, Qt.Key.Key_Return)

    results = wait_results(qtbot, window, type_prompt)
    assert stack.undoText() == "Change the prompt"
    window.results.select(1)
    window.results.select(2)  # arrowing through results: one step
    assert slow.chosen["track_id"] == results[2].track_id and stack.count() == 3
    assert stack.undoText() == f"Choose {slow.chosen['title']}"
    wait_results(qtbot, window, lambda: window.inout.set_points(1.0, 9.0))
    assert stack.undoText() == "Change in and out points"
    window.timeline.move_current(1)
    assert stack.undoText() == "Move clip" and _order(window) == ["fast", "slow"]
    window.timeline.setCurrentItem(window.timeline.item_of(slow.id))
    window.remove_action.trigger()
    assert stack.undoText() == "Remove slow.mp4" and _order(window) == ["fast"]
    assert stack.count() == 6

    window.undo_action.trigger()  # Edit > Undo (Ctrl+Z): the clip is back, as it was, and shown
    assert _order(window) == ["fast", "slow"] and window.current.id == slow.id
    restored = window.current
    assert (restored.clip_in, restored.clip_out, restored.prompt) == (1.0, 9.0, "gentle piano")
    assert restored.chosen["track_id"] == results[2].track_id and window.prompt.text == "gentle piano"
    stack.undo()
    assert _order(window) == ["slow", "fast"]
    stack.undo()  # the points, on the clip and in the editor
    assert (window.current.clip_in, window.current.clip_out) == (0.0, None)
    assert window.inout.in_edit.text().endswith("00:00.00") and window.inout.length_label.text() == "12.0 s"
    stack.undo()  # the choice: nothing under the picture
    assert window.current.chosen is None and window.preview.track is None
    stack.undo()
    assert window.current.prompt == "" and window.prompt.text == ""
    stack.undo()
    assert window.timeline.count() == 0 and window.current is None and not stack.canUndo()

    for _ in range(6):
        window.redo_action.trigger()
    assert _order(window) == ["fast"] and not stack.canRedo()
    stack.undo()
    qtbot.waitUntil(lambda: window.preview.track is not None, timeout=20_000)  # the chosen track, under it again
    assert window.preview.track.path == window.current.chosen["path"]
    saved = json.loads(window.timeline_path().read_text())  # every step is saved as it happens
    assert [Path(c["path"]).stem for c in saved["clips"]] == ["fast", "slow"]


def test_the_view_menu_hides_and_restores_panels(qtbot, window):
    window.panel_actions["Results"].setChecked(False)
    assert not window.results.isVisible()
    window.panel_actions["Music folders"].trigger()
    assert not window.library_panel.isVisible()
    window.reset_layout()
    assert window.results.isVisible() and window.library_panel.isVisible()
    assert window.columns.sizes()[2] >= 500  # the results column at its default width again


# ---- settings -------------------------------------------------------------------------------------------------


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


def _fitted_loudness(window) -> float:
    import pyloudnorm

    audio = window.preview.track
    return pyloudnorm.Meter(audio.rate).integrated_loudness(audio.samples.astype(np.float64) / 32768)


def test_settings_change_the_api_the_fitted_level_and_the_data_folder(qtbot, window, media, tmp_path, monkeypatch):
    monkeypatch.delenv("NEEDLEDROP_DATA_DIR")  # as a user starts the app: no folder given from outside
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    window.results.select(0)
    with qtbot.waitSignal(window.fitted, timeout=120_000):
        window.fit_action.setChecked(True)
    assert _fitted_loudness(window) == pytest.approx(-14.0, abs=1.0)  # the default: the web's level
    qtbot.waitUntil(lambda: window.api is not None and window.api.listening, timeout=10_000)
    old_port = window.api.port

    with socket.socket() as taken:  # a port in use: the API stays where the plugins find it, and says so
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        dialog = window.open_settings()
        dialog.api_port.setValue(taken.getsockname()[1])
        dialog.accept()
        assert f"stays on port {old_port}: port {taken.getsockname()[1]} is in use" in window.notice.label.text()
    assert window.api.port == old_port and window.api.listening and _listening(old_port)
    assert Preferences.read(window.settings).api_port == old_port

    dialog = window.open_settings()
    assert dialog.isVisible() and dialog.api_enabled.isChecked() and dialog.loudness.value() == -14.0
    port = free_port()
    dialog.api_port.setValue(port)
    dialog.loudness.setValue(-23.0)
    dialog.data_dir.setText(str(tmp_path / "elsewhere"))
    with qtbot.waitSignal(window.fitted, timeout=120_000):  # the fitted music, levelled to the new target
        dialog.accept()
    assert _fitted_loudness(window) == pytest.approx(-23.0, abs=1.0)
    assert window.api.port == port and f"API on 127.0.0.1:{port}" in window.status_label.text()
    qtbot.waitUntil(lambda: window.api.listening, timeout=10_000)
    asked = urllib.request.Request(f"{window.api.url}/library", headers={"Authorization": f"Bearer {window.api.token}"})
    with urllib.request.urlopen(asked, timeout=5) as answer:
        assert json.load(answer)["tracks"] > 0
    assert not _listening(old_port)  # the old port is free again
    assert "next start" in window.notice.label.text()  # the data folder: from the next start, and said so
    saved = Preferences.read(window.settings)
    assert (saved.loudness, saved.api_port) == (-23.0, port)
    assert data_dir_for(None, saved) == tmp_path / "elsewhere"
    assert data_dir_for(str(tmp_path / "given"), saved) == tmp_path / "given"  # --data-dir still wins
    monkeypatch.setenv("NEEDLEDROP_DATA_DIR", str(tmp_path / "from-env"))
    assert data_dir_for(None, saved) == tmp_path / "from-env"  # and so does the environment

    dialog = window.open_settings()
    dialog.api_enabled.setChecked(False)
    dialog.accept()
    assert window.api is None and "API" not in window.status_label.text() and not _listening(port)


# ---- shortlist, history, music like a file --------------------------------------------------------------------


def _drop_on(widget, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(widget.rect().center())
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(widget, QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime, buttons, keys))
    QApplication.sendEvent(widget, QDropEvent(point, Qt.DropAction.CopyAction, mime, buttons, keys))


def test_a_clip_keeps_a_shortlist_that_undoes_and_is_saved(qtbot, window, media):
    results = wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    clip, panel = window.current, window.results
    panel.select(1)
    repainted = []  # the view redraws the rows the model says changed
    panel.model.dataChanged.connect(lambda first, last, *_: repainted.append((first.row(), last.row(), last.column())))
    window.toggle_shortlist()  # S, or the row's menu
    assert [entry["track_id"] for entry in clip.shortlist] == [results[1].track_id]
    assert repainted == [(0, len(results) - 1, 0)]  # the # column, every row
    assert panel.tabs.tabText(1) == "Shortlist (1)"
    assert str(panel.model.index(1, 0).data()).startswith("★") and str(panel.model.index(0, 0).data())[0] != "★"
    assert window.undo_stack.undoText() == f"Shortlist {clip.shortlist[0]['title']}"
    panel.tabs.setCurrentIndex(1)  # the shortlist tab: only what was kept
    assert [r.track_id for r in panel.model.results] == [results[1].track_id] and panel.heading.text() == "Shortlist"
    saved = json.loads(window.timeline_path().read_text())
    assert saved["clips"][0]["shortlist"][0]["track_id"] == results[1].track_id  # kept across restarts

    window.toggle_shortlist(results[1])  # off again
    assert clip.shortlist == [] and panel.tabs.tabText(1) == "Shortlist" and panel.model.results == []
    window.undo_stack.undo()
    assert [entry["track_id"] for entry in clip.shortlist] == [results[1].track_id]
    assert [r.track_id for r in panel.model.results] == [results[1].track_id]


def test_back_and_forward_through_searches_and_more_like_this(qtbot, window, media):
    results = wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    panel = window.results
    by_picture = panel.heading.text()
    assert not panel.back_button.isEnabled() and not panel.forward_button.isEnabled()

    def prompt():
        qtbot.keyClicks(window.prompt.edit, "techno")
        qtbot.keyClick(window.prompt.edit, Qt.Key.Key_Return)

    with_words = wait_results(qtbot, window, prompt)
    wait_results(qtbot, window, lambda: window.more_like_this(with_words[0]))
    assert panel.heading.text().startswith("More like") and panel.back_button.isEnabled()
    window.go_back()
    assert panel.heading.text() == "Results for picture + words"
    assert [r.track_id for r in panel.model.results] == [r.track_id for r in with_words]
    window.go_back()
    assert panel.heading.text() == by_picture and not panel.back_button.isEnabled()
    assert [r.track_id for r in panel.model.results] == [r.track_id for r in results]
    window.go_forward()
    assert panel.heading.text() == "Results for picture + words" and panel.forward_button.isEnabled()
    # A new question drops what was ahead, as a browser does.
    wait_results(qtbot, window, lambda: window.inout.set_points(0.0, 8.0))
    assert not panel.forward_button.isEnabled() and panel.back_button.isEnabled()


def test_music_like_a_file_from_outside_the_library(qtbot, window, media, tmp_path):
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    before = window.session.status().tracks
    reference = render_midi(
        tmp_path / "client temp.mp3", bpm=138, seconds=30, program=81, melody=[57, 60, 64, 60], drums=True, bass=True
    )
    similar = wait_results(qtbot, window, lambda: _drop_on(window.results, [reference]))
    assert window.results.heading.text() == "More like “client temp.mp3”"
    assert similar and str(reference) not in [r.path for r in similar]
    assert Path(similar[0].path).name in {"techno.mp3", "rock.opus"}  # its like: drums, bass, a fast synth
    assert window.session.status().tracks == before  # analysed for the question, not added
    assert all(r.start + window.current.length <= r.duration + 0.05 for r in similar)  # each lasts the clip


# ---- quitting -------------------------------------------------------------------------------------------------


def test_quitting_during_a_scan_drops_the_tracks_in_flight_and_the_next_scan_has_them(qtbot, scanned, media, tmp_path):
    import multiprocessing

    from engine.library import Library

    data = copy_data(scanned, tmp_path / "data")
    before = set(multiprocessing.active_children())  # (another test's, still on its way out)
    window = open_window(qtbot, data, tmp_path)
    stored = []
    window.session.scanProgress.connect(lambda p: stored.append(p.indexed))
    window.add_folder(str(media["more"]))
    qtbot.waitUntil(lambda: bool(stored) and stored[-1] >= 1, timeout=120_000)  # a scan in flight
    window.close()  # what Ctrl+Q does
    # No worker left analysing behind the closed window (given a moment to be reaped on a busy machine).
    left = lambda: [(p.name, p.pid, p.exitcode) for p in multiprocessing.active_children() if p not in before]  # noqa: E731
    deadline = time.monotonic() + 3.0
    while left() and time.monotonic() < deadline:
        qtbot.wait(50)
    assert not left(), (left(), [(p.name, p.pid) for p in before])
    library = Library(data, window.session.engine.bundle)
    more = [t for t in library.catalog.tracks() if "more-music" in os.fsdecode(t["path"])]
    assert 1 <= len(more) < 6 and library.catalog.errors() == []
    library.catalog.close()
    again = open_window(qtbot, data, tmp_path)  # the stopped first scan is finished at the next start
    assert again.session.scanning
    with qtbot.waitSignal(again.session.scanFinished, timeout=180_000) as finished:
        pass
    assert finished.args[0].indexed == 6 - len(more) and "which was stopped" in again.notice.label.text()
    again.close()
    again.session.wait()


def test_old_fitted_renders_are_pruned_with_their_grids(tmp_path):
    from desktop.session import KEEP_FITTED, _prune

    for i in range(KEEP_FITTED + 5):
        for suffix in (".wav", ".json"):
            path = tmp_path / f"{i:03}{suffix}"
            path.write_bytes(b"x")
            os.utime(path, ns=(i * 10**9, i * 10**9))
    oldest = tmp_path / "000.wav"  # just made, in this story: kept whatever its age
    _prune(tmp_path, keep=oldest)
    left = sorted(p.stem for p in tmp_path.glob("*.wav"))
    assert left == ["000"] + [f"{i:03}" for i in range(5, KEEP_FITTED + 5)]
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == left  # each render with its grid


# ---- what the window shows stays the selected clip's ----------------------------------------------------------


def test_removing_the_last_clip_clears_the_window_and_undo_brings_it_back(qtbot, window, media):
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    wait_results(qtbot, window, lambda: _type_prompt(qtbot, window, "slow strings, no drums"))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.preview.track is not None, timeout=20_000)
    window.remove_action.trigger()
    assert window.current is None and window.preview.clip_path is None and window.preview.track is None
    assert window.results.model.results == [] and not window.inout.isEnabled()
    assert window.prompt.text == "" and window.prompt.chip_labels() == []  # its words went with it
    window.undo_action.trigger()
    assert window.current is not None and window.preview.clip_path == str(media["slow"])
    assert window.prompt.text == "slow strings, no drums"
    qtbot.waitUntil(lambda: window.preview.track is not None, timeout=20_000)  # its pick, under it again


def test_a_start_moved_by_hand_stays_for_a_shorter_clip_and_is_said_when_a_longer_one_moves_it(qtbot, window, media):
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"]]))
    wait_results(qtbot, window, lambda: window.inout.set_points(0.0, 8.0))
    window.results.select(0)
    qtbot.waitUntil(lambda: window.current.chosen is not None, timeout=10_000)
    placed = window.current.chosen["start"]
    moved = placed + 1.0 if placed < 20 else placed - 1.0  # (the tracks are 40 s long)
    window.preview.trackStartChanged.emit(moved)  # the waveform's region, dragged
    wait_results(qtbot, window, lambda: window.inout.set_points(2.0, 8.0))  # 6 s: the music still lasts it
    assert window.current.chosen["start"] == moved
    wait_results(qtbot, window, lambda: window.inout.set_points(0.0, 12.0))  # 12 s: placed anew, and said
    assert window.current.chosen["start"] == window.results.current().start
    assert "the clip is longer now than when you moved its start" in window.notice.label.text()


def _type_prompt(qtbot, window, text: str) -> None:
    window.prompt.edit.clear()
    qtbot.keyClicks(window.prompt.edit, text)
    qtbot.keyClick(window.prompt.edit, Qt.Key.Key_Return)


def test_undo_shows_the_clip_the_edit_was_made_on(qtbot, window, media):
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], media["fast"]]))
    slow = window.current
    fast = next(c for c in window.clips.values() if c is not slow)
    wait_results(qtbot, window, lambda: window.timeline.setCurrentItem(window.timeline.item_of(fast.id)))
    wait_results(qtbot, window, lambda: _type_prompt(qtbot, window, "techno"))
    window.timeline.setCurrentItem(window.timeline.item_of(slow.id))  # then back to the other clip
    window.undo_action.trigger()  # undoes the prompt of the clip it was typed for, and shows that clip
    assert window.current is fast and fast.prompt == "" and window.prompt.text == ""


def test_a_dragged_start_stays_through_tabs_clips_and_searches(qtbot, window, media):
    wait_results(qtbot, window, lambda: drop_files(window.timeline, [media["slow"], media["fast"]]))
    slow = window.current
    fast = next(c for c in window.clips.values() if c is not slow)
    window.results.select(0)
    wave = window.preview.waveform
    qtbot.waitUntil(lambda: len(wave.downbeats) > 2, timeout=20_000)
    moved = float(next(t for t in wave.downbeats if abs(t - slow.chosen["start"]) > 1 and t < wave._latest()))
    wave.startChanged.emit(moved)  # as a drag ends
    assert slow.chosen["start"] == moved and window.undo_stack.undoText() == "Move the music's start"
    _shows_start(window, moved)
    window.toggle_shortlist()  # the shortlist keeps the result as it came, from the engine's start
    window.results.tabs.setCurrentIndex(1)
    window.results.tabs.setCurrentIndex(0)
    assert slow.chosen["start"] == moved
    wait_results(qtbot, window, lambda: window.timeline.setCurrentItem(window.timeline.item_of(fast.id)))
    window.timeline.setCurrentItem(window.timeline.item_of(slow.id))
    qtbot.waitUntil(lambda: window.preview.track is not None, timeout=20_000)
    assert slow.chosen["start"] == moved == window.preview.track_start
    _shows_start(window, moved)
    wait_results(qtbot, window, lambda: _type_prompt(qtbot, window, "piano"))  # new words, same length
    assert slow.chosen["start"] == moved
    _shows_start(window, moved)


def _shows_start(window, start: float) -> None:
    """The chosen track's row, its details and the label under the picture all give the start the preview
    plays and the export writes."""
    results = window.results
    row = next(i for i, r in enumerate(results.model.results) if r.track_id == window.current.chosen["track_id"])
    minutes, seconds = divmod(int(start), 60)
    said = f"{minutes}:{seconds:02d}"  # read the same in all three
    assert results.model.index(row, COLUMNS.index("Starts")).data() == said
    assert window.preview.track_label.text().endswith(f" from {said}")
    if results.current() is not None and results.current().track_id == window.current.chosen["track_id"]:
        assert f"plays {said}" in results.details.text()
