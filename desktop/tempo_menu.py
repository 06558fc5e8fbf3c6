"""The "Tempo" submenu of a track, in the results and the library browser: where the scan read the track at
another metrical level of the beat you hear (its half, its double...), count it at the one you hear
(Engine.set_tempo). Each level is offered with the tempo it gives."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from engine.records import Result, Track

# The scan's usual misses (docs/quality.md, *Tempo*), as what to multiply the tempo shown by.
LEVELS = (
    ("Half", Fraction(1, 2)),
    ("Double", Fraction(2)),
    ("Two thirds", Fraction(2, 3)),
    ("Three halves", Fraction(3, 2)),
)
LOWEST, HIGHEST = 20, 300  # Engine.set_tempo's range (facade.SETTABLE_BPM)


def add_tempo_menu(menu: QMenu, track: Track | Result, choose: Callable[[Fraction | None], None]) -> QMenu:
    """A "Tempo" submenu of `menu` for a track (a library track or a result: the tempo each shows);
    `choose(times)` with the multiple chosen, or None for the tempo the scan measured. Disabled, with its
    reason, where nothing can be set."""
    bpm, is_set, quick = track.bpm, track.bpm_set, track.quick
    sub = menu.addMenu("Tempo")
    if quick or not bpm:
        sub.setEnabled(False)
        sub.setToolTip("analysed by a quick pass only so far" if quick else "no steady beat was heard in it")
        return sub
    for name, times in LEVELS:
        level = bpm * float(times)
        action = QAction(f"{name}: {level:.0f} BPM", sub)
        action.setEnabled(LOWEST <= level <= HIGHEST)
        action.triggered.connect(lambda _=False, t=times: choose(t))
        sub.addAction(action)
    sub.addSeparator()
    measured = QAction("As the scan measured it", sub)
    measured.setEnabled(is_set)
    measured.triggered.connect(lambda: choose(None))
    sub.addAction(measured)
    return sub
