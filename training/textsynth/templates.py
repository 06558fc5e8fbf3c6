"""The `tags` and `data2text` methods (the grouped tag view they start from is `engine.tags`).

Both also say how the music feels, in words drawn from its measured energy and mood (engine/affect.py, the
values the app ranks by), so that the text encoder learns feel words from what was measured rather than
from musicnn's few mood tags.
"""

from __future__ import annotations

import hashlib

from engine import affect
from engine.tags import GROUPS, group_tags

FEEL_CLEAR = 0.35  # measured energy or mood (-1..+1) far enough from neutral to be put into words
FEEL_WORDS = {  # (axis, direction) -> words, one picked per text, deterministically
    ("energy", 1): ("energetic", "driving", "intense", "high-energy", "lively"),
    ("energy", -1): ("calm", "gentle", "soothing", "relaxed", "peaceful"),
    ("mood", 1): ("bright", "happy", "uplifting", "cheerful"),
    ("mood", -1): ("dark", "melancholic", "somber", "wistful"),
}


KNOWN_FEEL = {"energy": {"high": 1.0, "low": -1.0}, "mood": {"major": 1.0, "minor": -1.0}}


def feel_words(summary: dict) -> list[str]:
    """Words for the summary's energy and mood, where either is clear: as known by construction (a summary's
    `known_feel`, e.g. a feel render made calm and in minor), or else as measured. The measure is made to rank
    (engine/affect.py), not to name: of 98 training texts of energetic feel renders, 1 said high energy and 22
    said calm when the measure spoke for them."""
    known = summary.get("known_feel")
    if known:
        energy, mood = (KNOWN_FEEL[axis].get(known.get(axis), 0.0) for axis in ("energy", "mood"))
    else:
        energy, mood = affect.of_tags(summary["tags"], summary.get("mode"))
    digest = int(hashlib.sha256(repr(sorted(summary["tags"].items())).encode()).hexdigest(), 16)
    words = []
    for axis, value in (("energy", energy), ("mood", mood)):
        if abs(value) >= FEEL_CLEAR:
            choices = FEEL_WORDS[(axis, 1 if value > 0 else -1)]
            words.append(choices[digest % len(choices)])
    return words


def format_input(grouped: dict[str, dict[str, float]], tempo_bpm: float, key: str) -> str:
    """The prompt line: GENRES: electronic (74%); MOODS: ...; INSTRUMENTS: ...; TEMPO: 126 BPM; KEY: A minor."""
    parts = [
        f"{group.upper()}: " + ", ".join(f"{name} ({100 * p:.0f}%)" for name, p in grouped[group].items())
        for group in GROUPS
        if grouped.get(group)
    ]
    parts.append(f"TEMPO: {tempo_bpm:.0f} BPM" if tempo_bpm else "TEMPO: no steady beat")
    if key and key != "unknown":
        parts.append(f"KEY: {key}")
    return "; ".join(parts)


def tempo_words(bpm: float) -> str:
    if not bpm:
        return "with no steady beat"
    for limit, words in ((80, "slow"), (105, "mid-tempo"), (135, "upbeat"), (1e9, "fast")):
        if bpm < limit:
            return words
    return "fast"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def tags_text(summaries: list[dict]) -> list[str]:
    """`tags`: the grouped tag words and tempo, concatenated."""
    texts = []
    for s in summaries:
        grouped = group_tags(s)
        words = [name for group in GROUPS for name in grouped[group]]
        words += [w for w in feel_words(s) if w not in words]
        words.append(f"{s['tempo_bpm']:.0f} BPM" if s["tempo_bpm"] else "no beat")
        if s["key"] != "unknown":
            words.append(s["key"])
        texts.append(", ".join(words))
    return texts


_TEMPLATES = (
    "{a_moods} {moods}{genre} track{with}, {tempo}{bpm}, in {key}.",
    "{Tempo} {genre} music{with}{feel}.",
    "{Instruments_cap}: {a_tempo} {tempo} {moods}{genre} piece{bpm}, {mode} key.",
)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def data2text(summaries: list[dict]) -> list[str]:
    """`data2text`: the facts in a sentence; templates vary deterministically with the input."""
    texts = []
    for s in summaries:
        grouped = group_tags(s)
        genres, moods, instruments = (list(grouped[g]) for g in GROUPS)
        moods = [m for m in moods if m not in ("slow", "fast")]  # the tempo phrase says it, from the BPM
        moods = list(dict.fromkeys(feel_words(s) + moods))  # measured feel first, then the tagger's words
        tempo = tempo_words(s["tempo_bpm"])
        fields = {
            "genre": " ".join(genres[:2]) if genres else "instrumental" if "instrumental" in instruments else "",
            "moods": ", ".join(moods[:2]) + " " if moods else "",
            "with": f" with {_join(instruments)}" if instruments else "",
            "tempo": tempo,
            "Tempo": tempo[0].upper() + tempo[1:],
            "bpm": f" at about {s['tempo_bpm']:.0f} BPM" if s["tempo_bpm"] else "",
            "key": s["key"] if s["key"] != "unknown" else "no clear key",
            "mode": "major" if s["mode"] > 0 else "minor",
            "feel": f", feeling {_join(moods)}" if moods else "",
            "Instruments_cap": (_join(instruments) if instruments else "Music").capitalize(),
        }
        fields["a_moods"] = _article(fields["moods"] or fields["genre"] or "track").capitalize()
        fields["a_tempo"] = _article(tempo)
        choice = int(hashlib.sha256(repr(sorted(s["tags"].items())).encode()).hexdigest(), 16) % len(_TEMPLATES)
        text = _TEMPLATES[choice].format(**fields)
        texts.append(" ".join(text.split()).replace(" ,", ",").replace("  ", " "))
    return texts
