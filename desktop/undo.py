"""Undo and redo for the timeline: every edit (clips added, removed or moved, in and out points, prompts,
balance, the chosen track and where it starts) is one step on a QUndoStack.

A step holds the timeline's state before and after it, as the plain data the timeline file saves. That is
small (a few numbers and strings per clip) and makes undo exact whatever the edit was: no edit needs an
inverse of its own. Runs of the same small edit on one clip (the balance slider's stops, arrowing through
results) merge into one step, as a text editor merges typing.
"""

from __future__ import annotations

import copy
from typing import Protocol

from PyQt6.QtGui import QUndoCommand

MERGING = ("balance", "choose")  # edits that come in runs: slider stops, arrowing through results


class Restorable(Protocol):
    def restore_state(self, state: dict, select: int | None = None) -> None: ...


class TimelineEdit(QUndoCommand):
    def __init__(
        self, owner: Restorable, text: str, before: dict, after: dict, merge: str | None = None, clip: int | None = None
    ):
        super().__init__(text)
        self.owner = owner
        self.clip = clip  # the clip the edit was made on: undo and redo show it where it exists
        self.before, self.after = copy.deepcopy(before), copy.deepcopy(after)
        self.merge = merge if merge in MERGING else None
        self._done = True  # pushed after the edit was made: the first redo has nothing to do

    def id(self) -> int:  # noqa: A003 - Qt's name
        return -1 if self.merge is None else 1 + MERGING.index(self.merge)

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        if not isinstance(other, TimelineEdit) or other.merge != self.merge or other.clip != self.clip:
            return False
        self.after = other.after
        self.setText(other.text())  # named for where the run ended ("Choose" the last track)
        return True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.owner.restore_state(self.after, select=self.clip)

    def undo(self) -> None:
        self.owner.restore_state(self.before, select=self.clip)  # where the edit was made, not what is selected
