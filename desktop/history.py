"""Back and Forward through the answers a clip (or the prompt alone) has had: searches and more-like-this.

As in a browser: a new answer drops whatever was ahead of the current one. An answer to the same question
again (a scan finished, the library changed) replaces the current one instead of adding a step."""

from __future__ import annotations

from desktop.session import Answer

LIMIT = 50  # answers kept per clip; the oldest go first


class History:
    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.at = -1

    @property
    def current(self) -> Answer | None:
        return self.answers[self.at] if self.answers else None

    def add(self, answer: Answer) -> None:
        now = self.current
        if now is not None and (now.query, now.like_ref) == (answer.query, answer.like_ref):
            self.answers[self.at] = answer
            return
        del self.answers[self.at + 1 :]
        self.answers.append(answer)
        del self.answers[:-LIMIT]
        self.at = len(self.answers) - 1

    @property
    def can_go_back(self) -> bool:
        return self.at > 0

    @property
    def can_go_forward(self) -> bool:
        return self.at < len(self.answers) - 1

    def back(self) -> Answer | None:
        if self.can_go_back:
            self.at -= 1
            return self.answers[self.at]
        return None

    def forward(self) -> Answer | None:
        if self.can_go_forward:
            self.at += 1
            return self.answers[self.at]
        return None
