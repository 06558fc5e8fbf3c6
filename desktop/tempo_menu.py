"""The "Tempo" submenu of a track, in the results and the library browser: where the scan read the track at
another metrical level of the beat you hear (its half, its double...), count it at the one you hear
(Engine.set_tempo). Each level is offered with the tempo it gives."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from engine.facade import Engine
from engine.records import Result, Track

# The scan's usual misses (docs/quality.md, *Tempo*), as what to multiply the tempo shown by.
LEVELS = (
    ("Half", Fraction(1, 2)),
    ("Double", Fraction(2)),
    ("Two thirds", Fraction(2, 3)),
    ("Three halves", Fraction(3, 2)),
)


def add_tempo_menu(menu: QMenu, track: Track | Result, choose: Callable[[Fraction | None], None]) -> QMenu:
    """A "Tempo" submenu of `menu` for a track (a library track or a result: the tempo each shows);
    `choose(times)` with the multiple chosen, or None for the tempo the scan measured. Disabled, with its
    reason, where nothing can be set."""
    bpm, measured = track.bpm, track.bpm_measured
    sub = menu.addMenu("Tempo")
    if track.quick or not (bpm and measured) and not track.bpm_set:
        sub.setEnabled(False)
        sub.setToolTip("analysed by a quick pass only so far" if track.quick else "no steady beat was heard in it")
        return sub
    for name, times in LEVELS:
        level = (bpm or 0.0) * float(times)
        action = QAction(f"{name}: {level:.0f} BPM", sub)
        # Only levels of the measured tempo, whose beats can be counted (a third of a half is not one).
        action.setEnabled(bool(measured) and Engine.tempo_settable(level, measured))
        action.triggered.connect(lambda _=False, t=times: choose(t))
        sub.addAction(action)
    sub.addSeparator()
    back = QAction("As the scan measured it", sub)
    back.setEnabled(track.bpm_set)
    back.triggered.connect(lambda: choose(None))
    sub.addAction(back)
    return sub
