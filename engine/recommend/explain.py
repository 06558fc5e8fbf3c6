"""The last stage: picks become results, each with a match percentage and a short "why" a person can check.

The why names measured facts, never the model's opinion: the track's tags that match the words (else its
clearest ones that may be said unasked: an instrument only where its tag was measured reliable, drums by
their detector, engine/instruments.py `said_tags`), its tempo, its measured energy and mood where they went
the way the words or the picture asked, and then what in the picture they matched ("busy picture with quick
cuts", "bright, warm picture"), its key when a key was asked, and the hard constraints it passed. So each
track gets reasons of its own, and each can be checked by listening or against the clip. The match
(scoring.MatchScale) puts the score on 0–100 %. Tracks on drives that are not plugged in are left out here,
with the catalog's word on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.clock import clock
from engine.instruments import DRUM_TAGS, PLAYING, drummed, heard_none, may_say, said_tags
from engine.library.catalog import Catalog
from engine.library.index import SegmentIndex
from engine.recommend.feel import BUSY_MOTION, CALM_MOTION, QUICK_CUTS, Feel, light_terms, pace_terms
from engine.recommend.filters import SUNG, VOICE_DOUBT
from engine.recommend.keys import key_words
from engine.recommend.prompt import PREFERENCE, Constraint, Exclude, Key, Length, Tempo, Vocals
from engine.recommend.result import Result
from engine.recommend.scoring import MatchScale, Picks, judged, tempo_miss
from engine.tags import TAG_PRESENT, VOICE_TAGS, TagIndex

FEEL_SAID = 0.25  # measured energy or mood (-1..+1) clear enough to call high or low in a why
FEEL_NAMED = 0.05  # ... and large enough to name at all, as a number, where it went the asked way
LONG_TAKES = 0.1  # cuts per second below which the picture is said to hold its shots
LIGHT_SAID = 0.5  # a light term (feel.light_terms, in units of a clear difference) large enough to name
_LIGHT_WORDS = {"brightness": ("bright", "dark"), "saturation": ("colourful", "grey"), "warmth": ("warm", "cool")}


@dataclass(frozen=True)
class Asked:
    """What the explanations speak to: the prompt's words and constraints, the clip's cues, the feels that
    counted (the words' and the picture's, feel.Feel.source tells which) and the tags the words name."""

    text: str | None = None
    constraints: Sequence[Constraint] = ()
    clip_cues: dict[str, float] | None = None
    feels: tuple[Feel, ...] = ()
    tags: tuple[str, ...] = ()  # named by meaning (tagmatch.TagQuery.sayable), beside those named word for word


def picture_words(cues: dict[str, float], axis: str, sign: float) -> str:
    """What in the clip goes with a feel, in an editor's words: its pace for energy ("a busy picture with
    quick cuts", "a calm picture with long takes"), its light for mood ("a bright, warm picture")."""
    if axis == "mood":
        terms = light_terms(cues)
        said = [_LIGHT_WORDS[k][0 if v > 0 else 1] for k, v in terms.items() if v * sign >= LIGHT_SAID]
        if not said:  # the light leans that way only as a whole: name its largest part
            name = max(terms, key=lambda k: terms[k] * sign)
            said = [_LIGHT_WORDS[name][0 if sign > 0 else 1]]
        return f"a {', '.join(said)} picture"
    motion, cuts = cues.get("motion", 0.0), cues.get("cuts_per_second", 0.0)
    moving, cutting = (t * sign > 0 for t in pace_terms(cues).values())
    if sign > 0:
        pace = "busy" if motion >= BUSY_MOTION else "lively" if moving else ""
        cut = "quick cuts" if cuts >= QUICK_CUTS else ""
    else:
        pace = "calm" if motion < CALM_MOTION else "steady" if moving else ""
        cut = ("long takes" if cuts < LONG_TAKES else "few cuts") if cutting else ""
    if pace and cut:
        return f"a {pace} picture with {cut}"
    return f"a {pace} picture" if pace else cut


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _judged(segment: dict, track: dict) -> tuple[float | None, float | None]:
    """The energy and mood a result was scored by (its track's, in part: scoring.TRACK_FEEL), to the two
    decimals a result shows, so that a why names a feel exactly when the number shown reaches FEEL_NAMED."""
    values = []
    for key in ("energy", "mood"):
        own, whole = segment.get(key), track.get(key)
        values.append(_rounded(own if own is None or whole is None else float(judged(own, whole))))
    return values[0], values[1]


def _goes(feel: Feel | None, axis: str, value: float) -> bool:
    """Whether `feel` speaks of `axis` and points the way `value` goes."""
    if feel is None:
        return False
    z, strength = (feel.energy, feel.energy_strength) if axis == "energy" else (feel.mood, feel.mood_strength)
    return strength > 0 and z * value > 0


def feel_reasons(asked: Asked, energy: float | None, mood: float | None) -> list[str]:
    """The measured energy and mood that went the way the words or the picture asked ("high energy (+0.4)",
    or just "energy +0.1" when that is all it has), and what in the picture they matched; nothing where they
    went the other way (a calm track under "energetic" words)."""
    words = next((f for f in asked.feels if f.source == "words"), None)
    picture = next((f for f in asked.feels if f.source == "picture"), None)
    out = []
    for axis, value, high, low in (
        ("energy", energy, "high energy", "low energy"),
        ("mood", mood, "bright mood", "dark mood"),
    ):
        if value is None or abs(value) < FEEL_NAMED:
            continue
        by_words = _goes(words, axis, value)
        if _goes(words, axis, -value):
            continue  # against the words: that the picture matched it is no reason the editor asked for
        by_picture = asked.clip_cues is not None and _goes(picture, axis, value)
        if not (by_words or by_picture):
            continue
        said = f"{high if value > 0 else low} ({value:+.1f})" if abs(value) >= FEEL_SAID else f"{axis} {value:+.1f}"
        if by_picture:
            said += (" as asked and" if by_words else "") + f" for {picture_words(asked.clip_cues, axis, value)}"
        out.append(said)
    return out


def segment_tags(
    probabilities: np.ndarray | None,
    tags: TagIndex,
    drums: float | None = None,
    limit: int = 3,
    heard: float | None = None,
) -> list[str]:
    """The segment's clearest tags that may be said unasked, strongest first, then "drums" where the detectors
    call the track drummed (`drums`, p; `heard`, the sound-effects detector's q: instruments.said_tags; voice
    tags are left to the vocals wording)."""
    if probabilities is None:
        return said_tags([], drums, heard)
    skip = set(VOICE_TAGS)
    strengths = dict(zip(tags.names, tags.strengths(probabilities).tolist()))
    ranked = sorted(((t, p) for t, p in strengths.items() if t not in skip and may_say(t)), key=lambda kv: -kv[1])
    return said_tags([t for t, p in ranked[:limit] if p >= TAG_PRESENT], drums, heard)


def voice_as_heard(grouped: dict[str, dict[str, float]], vocal_peak: float | None) -> dict[str, dict[str, float]]:
    """A track's tags by group with musicnn's voice tag (a gender, or "instrumental") replaced by the scan's
    verdict, said only where it is clear, as the why says it: "vocals" from SUNG (the score "female
    vocals" filters on; the gender is never measured on held-out voices), "instrumental" under VOICE_DOUBT."""
    listed = grouped.get("instruments", {})
    playing = {t: v for t, v in listed.items() if t not in VOICE_TAGS and t not in DRUM_TAGS}
    # How sure the verdict is, as a tag's strength reads: the voice's score, or how far under it a track is.
    if vocal_peak is not None and np.isfinite(vocal_peak):
        if vocal_peak >= SUNG:
            playing["vocals"] = round(float(vocal_peak), 3)
        elif vocal_peak < VOICE_DOUBT:
            playing["instrumental"] = round(1.0 - float(vocal_peak), 3)
    drums = {t: v for t, v in listed.items() if t in DRUM_TAGS}  # said_groups puts the detector's last
    return {**grouped, "instruments": playing | drums}


def named_tags(text: str | None, tags: TagIndex) -> list[str]:
    """The tags a prompt names word for word ("piano" in "calm piano"), for the explanations."""
    if not text:
        return []
    lowered = text.lower()
    return [t for t in tags.names if re.search(rf"\b{re.escape(t.lower())}\b", lowered)]


def tag_reasons(
    named: Sequence[str],
    peaks: np.ndarray | None,
    probabilities: np.ndarray | None,
    tags: TagIndex,
    drums: float | None = None,
    heard: float | None = None,
) -> list[str]:
    """The asked tags the track was measured to have (its `peaks`, what the tag match scored; drums as the
    detectors, `drums` and `heard`, read them where they measured the track, musicnn's tag elsewhere, as their
    match does),
    else the segment's own two clearest that may be said unasked (what it is, so that tracks picked by the
    picture or the feel alone are told apart), as one reason."""

    def has(tag: str) -> bool:
        if tag in DRUM_TAGS and drums is not None and np.isfinite(drums):
            return drummed(drums, heard)
        return bool(tags.strength(peaks, tag) >= TAG_PRESENT)

    matched = [t for t in named if has(t)][:3] if peaks is not None else []
    if not matched:
        found = segment_tags(probabilities, tags, drums, 2, heard)
        return [", ".join(found)] if found else []
    # An instrument asked for is named as what the tag match heard; one whose tag is often wrong on held-out
    # music (instruments.may_say) as what it sounds like, which is what was measured.
    detected = drums is not None and np.isfinite(drums)
    unsure = [t for t in matched if t in PLAYING and not may_say(t) and not (t in DRUM_TAGS and detected)]
    sure = [t for t in matched if t not in unsure]
    return [", ".join(sure + ([f"sounds like {' and '.join(unsure)}"] if unsure else []))]


def _met(c: Tempo, bpm: float) -> bool:
    return tempo_miss(c, np.float64(bpm)) == 0


def _constraint_reasons(constraints: Sequence[Constraint], bpm: float | None, track: dict) -> list[str]:
    parts = []
    for c in constraints:
        if isinstance(c, Tempo) and bpm:
            # A tempo only prefers: say that the track meets it only when it does, or is an octave off it.
            asked = c.label.removesuffix(PREFERENCE)
            if track.get("quick"):  # ranked as missing the tempo until the scan measures it whole
                parts.append(f"{bpm:.0f} BPM (provisional: not yet matched to {asked})")
            elif _met(c, bpm):
                parts.append(f"{bpm:.0f} BPM ({asked})")
            elif c.octaves_count and _met(c, bpm / 2):
                parts.append(f"{bpm:.0f} BPM (twice {asked})")
            elif c.octaves_count and _met(c, bpm * 2):
                parts.append(f"{bpm:.0f} BPM (half {asked})")
            else:
                parts.append(f"{bpm:.0f} BPM")
        elif isinstance(c, Key):
            parts.append(key_words(c, track.get("tonic", -1), track.get("mode", float("nan"))))
        elif isinstance(c, Vocals) and c.hard:
            # What the filter passed: a voice called sung (or none). Whether it is a woman's or a man's only
            # re-ranks (musicnn's gender tags, never measured on held-out voices), so the why does not say it.
            parts.append("no voice heard" if c.want == "none" else "a voice heard")
        elif isinstance(c, Exclude) and c.hard:  # a filter passed it; a preference is not vouched for
            parts.append(c.label)
        elif isinstance(c, Exclude) and c.tag in DRUM_TAGS:
            # The detectors' verdict (instruments.py, RULE-5), said only where it is clear either way.
            if heard_none(track.get("drums"), track.get("drums_sfx")):
                parts.append("no drums heard")
            elif drummed(track.get("drums"), track.get("drums_sfx")):
                parts.append("has drums")
        elif isinstance(c, Vocals) and c.want == "none" and np.isfinite(track.get("vocal_peak", np.nan)):
            if track["vocal_peak"] < VOICE_DOUBT:  # as for drums, only a clear verdict is said
                parts.append("no voice heard")
            elif track["vocal_peak"] >= SUNG:
                parts.append("a voice heard")
        elif isinstance(c, Length):
            parts.append(f"{clock(track['duration'])} long")
    return parts


SET_TEMPO_REASON = "tempo set by you"
QUICK_REASON = "quick analysis of one window so far: measures provisional"


def why(asked: Asked, named: Sequence[str], segment: dict, track: dict, tags: TagIndex) -> str:
    """The measured facts behind one result, most telling first: tags, tempo, feel (and what in the picture
    it matched), key and constraints. `track` holds the index's "tag_peaks", "tonic", "mode" and "vocal_peak"
    for it."""
    # Under "no drums" the detector's verdict is that constraint's reason ("has drums"), not a tag as well.
    excluded = any(isinstance(c, Exclude) and c.tag in DRUM_TAGS for c in asked.constraints)
    drums, heard = (None, None) if excluded else (track.get("drums"), track.get("drums_sfx"))
    parts = tag_reasons(named, track.get("tag_peaks"), segment.get("tags"), tags, drums, heard)
    bpm = track.get("tempo_bpm") or segment.get("tempo_bpm")  # the one tempo every view shows
    if bpm and not any(isinstance(c, Tempo) for c in asked.constraints):
        parts.append(f"{bpm:.0f} BPM")
    parts += _constraint_reasons([c for c in asked.constraints if isinstance(c, Tempo)], bpm, track)
    if bpm and track.get("tempo_set"):
        parts.append(SET_TEMPO_REASON)  # a fact a person stated, not one the scan measured
    parts += feel_reasons(asked, *_judged(segment, track))
    parts += _constraint_reasons([c for c in asked.constraints if not isinstance(c, Tempo)], bpm, track)
    if track.get("quick"):
        parts.append(QUICK_REASON)
    return " · ".join(dict.fromkeys(parts))


def explained(
    picks: Picks,
    k: int,
    index: SegmentIndex,
    catalog: Catalog,
    tags: TagIndex,
    asked: Asked,
    scale: MatchScale | None = None,
) -> list[Result]:
    """Results for the picks in order, skipping tracks that are offline, until there are `k`. A track whose
    file is gone since the last scan (deleted, or behind a folder link whose drive is unplugged) is skipped
    too: a look at each file offered, so that no result fails to open. The next scan says which it was."""
    named = list(dict.fromkeys([*named_tags(asked.text, tags), *asked.tags]))
    out: list[Result] = []
    for begin in range(0, len(picks), 2 * k):
        rows = picks.rows[begin : begin + 2 * k]
        segment_ids = [int(i) for i in index.rows["segment"][rows]]
        track_ids = [int(i) for i in index.rows["track"][rows]]
        measured = index.tracks[index.row_tracks[rows]]
        starts = [float(s) for s in index.rows["start"][rows]]
        tracks = catalog.track_details(track_ids)
        # A track analysed again since the index was built (a quick pass completed) has new segments, and
        # its old segments' ids may have been given to new ones.
        owner = dict(zip(segment_ids, track_ids))
        segments = {i: s for i, s in catalog.segment_details(segment_ids).items() if s["track_id"] == owner[i]}
        replaced = catalog.segments_at(
            [(t, s) for i, t, s in zip(segment_ids, track_ids, starts) if i not in segments and t in tracks]
        )
        scores = picks.scores[begin : begin + 2 * k]
        for score, segment_id, track_id, start, row in zip(scores, segment_ids, track_ids, starts, measured):
            track = tracks.get(track_id)
            segment = segments.get(segment_id) or replaced.get((track_id, start))
            if track is None or segment is None or not track["online"] or not os.path.exists(track["path"]):
                continue
            # The vocal peak as stored, to 3 decimals (the index holds float32: 0.7 would read 0.6999999);
            # NaN where unmeasured. The drums as the index holds them: NaN for a quick pass's one window,
            # as the score read them.
            track = track | {
                "tag_peaks": row["tag_peaks"],
                "tonic": int(row["tonic"]),
                "mode": float(row["mode"]),
                "vocal_peak": round(float(row["vocal_peak"]), 3),
                "drums": float(row["drums"]),
                "drums_sfx": float(row["drums_sfx"]),
            }
            judged_energy, judged_mood = _judged(segment, track)
            out.append(
                Result(
                    track_id=track_id,
                    path=track["path"],
                    title=track["title"],
                    artist=track["artist"],
                    album=track["album"],
                    score=round(float(score), 4),
                    start=round(segment["start"], 2),
                    end=round(segment["end"], 2),
                    duration=round(track["duration"], 2),
                    bpm=track["tempo_bpm"] or segment["tempo_bpm"],
                    tags=segment_tags(segment["tags"], tags, track["drums"], heard=track["drums_sfx"]),
                    why=why(asked, named, segment, track, tags),
                    energy=judged_energy,
                    mood=judged_mood,
                    loudness_lufs=track["loudness_lufs"],
                    quick=track["quick"],
                    bpm_set=track["tempo_set"],
                    bpm_measured=track["tempo_measured"],
                    match=0 if scale is None else int(round(float(scale.percent(score)))),
                )
            )
            if len(out) == k:
                return out
    return out
