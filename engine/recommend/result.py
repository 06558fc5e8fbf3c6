"""What a query returns: ranked tracks with their best start points, and how the query was understood."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.recommend.feel import Feel
from engine.recommend.prompt import ParsedPrompt, measured_reason


@dataclass(frozen=True)
class Result:
    track_id: int
    path: str
    title: str | None
    artist: str | None
    album: str | None
    score: float  # similarity after preferences; comparable within one query only (`match` reads on its own)
    start: float  # the best segment, seconds into the track
    end: float
    duration: float  # of the whole track
    bpm: float | None  # the track's (one tempo per track, as the library list shows it)
    tags: list[str]  # the segment's clearest tags that may be said unasked (instruments.said_tags)
    why: str
    # Measured energy and mood, -1..+1 (engine/affect.py), as the score judged them: the whole track's in
    # part (scoring.TRACK_FEEL), since a cue runs past its first segment.
    energy: float | None = None
    mood: float | None = None
    # The score as a percentage, 0–100: 0 matches nothing asked, 100 is as good on every part of the score
    # as the library's best (scoring.MatchScale); in rank order, like the score.
    match: int = 0
    # Seconds at the end of the clip with no music under it: the track, or the music in it, is shorter than
    # the clip (its start is then 0, or where its music starts). With a clip, `start`–`end` is exactly what the
    # preview plays and the export writes.
    short_by: float = 0.0
    loudness_lufs: float | None = None  # the track's integrated loudness (EBU R128), as the scan measured it
    # Analysed by a quick pass from one window only: its start point and measures are provisional until the
    # scan's full analysis completes it (engine/library/analysis.py quick_window).
    quick: bool = False
    bpm_set: bool = False  # `bpm` is a tempo a person set for the track (Engine.set_tempo)
    bpm_measured: float | None = None  # the scan's tempo for the track, whatever was set

    @property
    def label(self) -> str:
        """The title, or the file name when the tags have none."""
        return self.title or Path(self.path).name


@dataclass
class Recommendation:
    results: list[Result]
    prompt: ParsedPrompt | None
    balance: float
    used: list[str]  # "clip", "text", "track": what the query was made of
    searched: int  # candidate segments examined
    complete: bool  # False if the constraints left fewer than k tracks among everything searched
    seconds: dict[str, float] = field(default_factory=dict)
    feel: Feel | None = None  # the feel the prompt's words were read as (its chip), when they speak of one
    notes: list[str] = field(default_factory=list)  # why the results are fewer than asked, in a sentence each
    # Tracks the drum network has not heard, whose "no drums" the first detector answers (the chip's reason);
    # None: the scan does not listen for drums here (Recommender.unheard_drums).
    unheard_drums: int | None = 0

    def to_json(self) -> dict:
        prompt = None
        if self.prompt is not None:
            prompt = {
                "text": self.prompt.text,
                "constraints": [
                    {"kind": type(c).__name__.lower(), **asdict(c), "reason": measured_reason(c, self.unheard_drums)}
                    for c in self.prompt.constraints
                ],
                "ignored": list(self.prompt.ignored),
            }
        return {
            # `label` beside `title`: what to call an untagged track (its file name) without a client's own rule.
            "results": [asdict(r) | {"label": r.label} for r in self.results],
            "prompt": prompt,
            "feel": self.feel.to_json() if self.feel else None,
            "balance": self.balance,
            "used": self.used,
            "searched": self.searched,
            "complete": self.complete,
            "notes": self.notes,
            "unheard_drums": self.unheard_drums,
            "seconds": self.seconds,
        }
