"""The desktop app as an editor works in it all day: the waveform's grid, undo, settings, shortlists, history.

Driven through the real window (offscreen Qt, a null audio device, the built bundle), with the data folder
and media of test_desktop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt

from desktop.waveform import RULER, level, ruler_ticks, snap
from test_desktop import (  # noqa: F401 - fixtures, shared so the library is scanned once per run
    copy_data,
    drop_files,
    media,
    open_window,
    scanned,
    wait_results,
    window,
)

# ---- the waveform ---------------------------------------------------------------------------------------------


def test_ruler_ticks_are_as_fine_as_their_labels_allow():
    assert list(ruler_ticks(40.0, 600)) == [0, 5, 10, 15, 20, 25, 30, 35, 40]  # 15 px a second: every 5 s
    assert list(ruler_ticks(240.0, 600))[:3] == [0, 30, 60]  # a four-minute track: every 30 s
    assert len(ruler_ticks(0.0, 600)) == 0


def test_quiet_music_is_drawn_by_its_level_not_flat():
    heights = level(np.array([1.0, 0.5, 0.05, 0.001, 0.0]))
    assert heights[0] == 1.0 and heights[-1] == 0.0
    assert np.all(np.diff(heights[:4]) < 0)  # louder is taller, down to the floor (-48 dBFS)
    assert heights[2] > 0.4  # a track peaking at -26 dBFS fills nearly half the height (linear: 5 %)


def test_a_dropped_start_lands_on_the_nearest_downbeat_that_still_lasts_the_clip():
    bars = np.array([0.5, 2.5, 4.5, 6.5, 8.5])
    assert snap(3.2, bars, latest=10.0) == 2.5
    assert snap(3.8, bars, latest=10.0) == 4.5
    assert snap(8.0, bars, latest=7.0) == 6.5  # 8.5 would run out under the clip
    assert snap(3.0, np.zeros(0), latest=10.0) == 3.0  # no grid: where it was dropped


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
