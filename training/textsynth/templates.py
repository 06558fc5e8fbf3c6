"""The `tags` and `data2text` methods, and the grouped tag view all three methods start from."""

from __future__ import annotations

import hashlib

# musicnn's 100 tag names (MTT + MSD) -> (group, canonical name). Synonyms merge by their maximum;
# decades are left out: they describe a recording's era, not what a scene needs.
TAG_GROUPS: dict[str, tuple[str, str]] = {
    **{
        t: ("genres", t)
        for t in (
            "techno",
            "rock",
            "ambient",
            "opera",
            "pop",
            "new age",
            "dance",
            "country",
            "metal",
            "alternative",
            "indie",
            "alternative rock",
            "jazz",
            "classic rock",
            "soul",
            "indie rock",
            "folk",
            "punk",
            "oldies",
            "blues",
            "hard rock",
            "experimental",
            "easy listening",
            "funk",
            "heavy metal",
            "indie pop",
        )
    },
    "classical": ("genres", "classical"),
    "classic": ("genres", "classical"),
    "indian": ("genres", "indian"),
    "electronic": ("genres", "electronic"),
    "electronica": ("genres", "electronic"),
    "electro": ("genres", "electronic"),
    "chillout": ("genres", "chillout"),
    "Hip-Hop": ("genres", "hip-hop"),
    "Progressive rock": ("genres", "progressive rock"),
    "rnb": ("genres", "R&B"),
    "House": ("genres", "house"),
    **{
        t: ("moods", t)
        for t in ("loud", "quiet", "soft", "weird", "beautiful", "chill", "party", "sexy", "catchy", "sad", "happy")
    },
    "Mellow": ("moods", "mellow"),
    "slow": ("moods", "slow"),
    "fast": ("moods", "fast"),
    **{
        t: ("instruments", t)
        for t in (
            "guitar",
            "strings",
            "drums",
            "piano",
            "violin",
            "synth",
            "harpsichord",
            "flute",
            "sitar",
            "harp",
            "cello",
            "choir",
            "acoustic",
        )
    },
    "choral": ("instruments", "choir"),
    "beat": ("instruments", "beat"),
    "beats": ("instruments", "beat"),
    "solo": ("instruments", "solo"),
    **{t: ("instruments", "vocals") for t in ("vocal", "vocals", "singing", "voice")},
    **{
        t: ("instruments", "female vocals")
        for t in ("female", "woman", "female vocal", "female voice", "female vocalists", "female vocalist")
    },
    **{t: ("instruments", "male vocals") for t in ("male", "man", "male vocal", "male voice", "male vocalists")},
    **{t: ("instruments", "instrumental") for t in ("no vocals", "no vocal", "no voice", "instrumental")},
}
GROUPS = ("genres", "moods", "instruments")
THRESHOLD = 0.2  # musicnn's probabilities are low-contrast: 0.2 already means "clearly there"
PER_GROUP = 3


def group_tags(summary: dict) -> dict[str, dict[str, float]]:
    """The summary's confident tags by group, synonyms merged, strongest first."""
    merged: dict[str, dict[str, float]] = {g: {} for g in GROUPS}
    for name, p in summary["tags"].items():
        if name in TAG_GROUPS:
            group, canonical = TAG_GROUPS[name]
            merged[group][canonical] = max(p, merged[group].get(canonical, 0.0))
    vocal = {k: merged["instruments"].pop(k, 0.0) for k in ("vocals", "female vocals", "male vocals", "instrumental")}
    # Voice tags contradict each other; keep the instrumental or the strongest voice, not both.
    if vocal["instrumental"] >= max(vocal["vocals"], vocal["female vocals"], vocal["male vocals"]):
        merged["instruments"]["instrumental"] = vocal["instrumental"]
    else:
        voice = max(("female vocals", "male vocals", "vocals"), key=lambda k: vocal[k])
        merged["instruments"][voice] = vocal[voice]
    chosen = {}
    for group in GROUPS:
        ranked = sorted(merged[group].items(), key=lambda kv: -kv[1])
        chosen[group] = {k: v for k, v in ranked[:PER_GROUP] if v >= THRESHOLD}
    if not any(chosen.values()):  # never say nothing: fall back to the two strongest tags
        everything = sorted(((g, k, v) for g in GROUPS for k, v in merged[g].items()), key=lambda x: -x[2])
        for g, k, v in everything[:2]:
            chosen[g][k] = v
    return chosen


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
