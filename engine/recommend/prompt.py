"""Parse a recommendation prompt into hard/soft constraints and the text left for the text encoder.

Contrastive text encoders ignore negation ("no vocals" lands next to "vocals") and cannot count ("90 BPM" is just
a token), so tempo, vocals, exclusions, duration and key are read out of the prompt here and applied as filters
or re-ranking terms on the values stored per track. Only what remains goes to the encoder. Every constraint
keeps its span in the original prompt, so the UI can show it as a removable chip and re-parse the prompt
without it. What is recognised but cannot be used (a time signature: the scan measures no metre), and what
repeats or contradicts an earlier constraint, is said once in `ignored`.

Matching runs in passes (metre, length, tempo, negations, vocals, tempo words, keys, modes); each pass claims
character ranges so a later, vaguer pass never reinterprets what an earlier, more explicit one understood
("over 2 minutes" is a length, "over 120" a tempo, the "slow" in "not slow" is an exclusion, not a tempo
word, and the "A" of "in A minor" is a key, so "minor" is not read again as a mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.instruments import (
    DRUM_TAGS,
    FIRST_NO_DRUMS_PRECISION,
    HARD_FROM_PRECISION,
    exclusion_is_hard,
    exclusion_precision,
    vocals_filter_is_hard,
    vocals_precision,
)
from engine.tags import TAG_GROUPS


@dataclass(frozen=True)
class Tempo:
    """A BPM constraint: an explicit one ("90 BPM", "80-100 bpm", "under 100 bpm") or a tempo word ("slow").

    Never a filter (hard is False): of the held-out pieces whose tempo the scan reads within ±10 % of an
    asked tempo, 66 % are truly there (tests/bench/bench_tempo.py's test and OpenMSX sets: the estimate is
    often the double of a slow piece or the half of a fast one), far from the precision of 0.95 a filter
    needs. An explicit tempo re-ranks strongly, its range first and the half and double of it next
    (scoring.py), and its chip says it is a preference; a tempo word re-ranks gently."""

    label: str
    span: tuple[int, int]
    hard: bool
    min_bpm: float | None
    max_bpm: float | None
    target_bpm: float | None
    explicit: bool = False  # a number the user typed, not a tempo word

    @property
    def octaves_count(self) -> bool:
        """Whether a tempo read at the half or double of this one earns part of it (scoring.OCTAVE_SHARE):
        an explicit range bounded on both sides, since the half of any fast tempo is "under 100 BPM"."""
        return self.explicit and self.min_bpm is not None and self.max_bpm is not None


@dataclass(frozen=True)
class Vocals:
    """At most one per prompt. Hard only as far as the voice's measurement is reliable on held-out renders
    (`instruments.vocals_filter_is_hard`): a voice asked for filters; "no vocals" re-ranks (scoring.py), since
    musicnn's voice tags miss most synthetic singing."""

    label: str
    span: tuple[int, int]
    hard: bool
    want: str  # "none" | "any" | "female" | "male"


@dataclass(frozen=True)
class Exclude:
    """A negated tag ("no drums", "not rock"), resolved to its canonical name and group in engine.tags.

    Hard (a filter) only where what it reads is reliable on held-out data (`instruments.exclusion_is_hard`):
    today none is (drums 0.94, other instruments 0.64-0.75 at even odds), so an exclusion re-ranks, and its
    chip says it is a preference."""

    label: str
    span: tuple[int, int]
    hard: bool
    tag: str
    group: str


@dataclass(frozen=True)
class Length:
    """Track duration in seconds."""

    label: str
    span: tuple[int, int]
    hard: bool
    min_seconds: float | None
    max_seconds: float | None


PREFERENCE = " (preference)"  # ends the chip of what re-ranks and never filters (a tempo, a key, "no vocals")


@dataclass(frozen=True)
class Key:
    """A key or a mode ("in D minor", "key of A", "minor key"). Always a preference (hard is False): the scan's
    key and mode estimates (engine/media/dsp.py, mode AUC about 0.87 on renders) are far from the held-out
    precision of 0.95 a filter needs, so a key re-ranks (scoring.py) and its chip says so."""

    label: str
    span: tuple[int, int]
    hard: bool
    tonic: int | None  # pitch class, 0 = C .. 11 = B; None: any
    mode: str | None  # "major" | "minor"; None: either


Constraint = Tempo | Vocals | Exclude | Length | Key


@dataclass(frozen=True)
class ParsedPrompt:
    """The prompt's constraints in order of appearance, and the text left for the encoder (None if nothing is)."""

    original: str
    text: str | None
    constraints: tuple[Constraint, ...]
    ignored: tuple[str, ...]

    def without(self, index: int) -> str:
        """The original prompt minus constraint `index`, tidied; the caller re-parses it."""
        kept = [f for f in _analyse(self.original) if f.constraint is not None]
        found = kept[index]
        start, end = found.cut
        return _tidy(self.original[:start] + f" {found.replacement} " + self.original[end:])

    def describe(self) -> list[str]:
        return [c.label for c in self.constraints]


# --- vocabulary ------------------------------------------------------------------------------------------------

_B = r"(?<![\w-])"  # word edges that treat hyphenated words ("non-rock", "up-tempo") as one word
_E = r"(?![\w-])"
_NUM = r"(?<![\w.:])\d+(?:\.\d+)?(?!\.?\d|:\d)"  # whole numbers only: never the "0" of "1000" or the "30" of "1:30"
_WORDNUMS = {
    w: i for i, w in enumerate(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"], 1)
}
_WORDNUM = "(?:" + "|".join(_WORDNUMS) + ")"
_MSS = r"(?<![\d:])\d{1,2}:[0-5]\d(?!\d)"
_BPM = r"(?:bpm|beats\s+per\s+minute|beats/min)"
# A tempo a person could mean, asked for or set (Engine.set_tempo): beyond it, no beat anyone taps.
PLAUSIBLE_BPM = (20, 300)
_IMPLAUSIBLE = f"not a plausible tempo ({PLAUSIBLE_BPM[0]}–{PLAUSIBLE_BPM[1]} BPM)"
_TIME_UNIT = r"(?:seconds?|secs?|s|minutes?|mins?|m)(?![\w'])"
_APPROX = r"(?:around|about|roughly|approximately|approx\.?|circa|~|≈)"

_AT_LEAST = ["at least", "min", "minimum", "over", "above", "more than", ">=", "≥", ">", "no less than"]
_AT_MOST = ["at most", "max", "maximum", "under", "below", "less than", "<=", "≤", "<", "no more than", "up to"]
_TEMPO_CMP = {
    **dict.fromkeys([*_AT_LEAST, "faster than", "no slower than"], "min"),
    **dict.fromkeys([*_AT_MOST, "slower than", "no faster than"], "max"),
}
_LENGTH_CMP = {
    **dict.fromkeys([*_AT_LEAST, "longer than", "no shorter than"], "min"),
    **dict.fromkeys([*_AT_MOST, "shorter than", "no longer than"], "max"),
}


def _alternation(phrases) -> str:
    """Longest first, so "no more than" wins over "more than" and "<=" over "<"; spaces match any whitespace."""
    parts = (re.escape(p).replace(r"\ ", r"\s+") for p in sorted(phrases, key=len, reverse=True))
    return "(?:" + "|".join(parts) + ")"


# Vocals are their own constraint, so these words never become a tag exclusion.
_VOICE_WORDS = ["vocal", "vocals", "vocalist", "vocalists", "voice", "voices", "vox"]
_VOICE_WORDS += ["singing", "singer", "singers", "sung", "lyrics"]
_NEGATED_VOICE = {**dict.fromkeys(_VOICE_WORDS, "none"), "instrumental": "any", "instrumentals": "any"}
_FEMALE = ["female", "woman", "women", "woman's", "women's", "girl", "girls"]
_MALE = ["male", "man", "men", "man's", "men's", "guy", "guys", "boy", "boys"]
_SYNONYMS = {  # what people type -> the canonical tag it means
    **dict.fromkeys(["hip hop", "hiphop", "rap"], "hip-hop"),
    **dict.fromkeys(["edm", "drum and bass", "drum & bass", "dnb"], "electronic"),
    **dict.fromkeys(["synthesizer", "synthesizers", "synthesiser", "synthesisers"], "synth"),
    **dict.fromkeys(["acoustic guitar", "electric guitar"], "guitar"),
    **dict.fromkeys(["r&b", "r'n'b"], "R&B"),
    **{"percussion": "drums", "prog rock": "progressive rock", "string": "strings"},
}


def _build_tags() -> dict[str, tuple[str, str]]:
    """Every lower-case name that resolves to a (group, canonical) tag, for exclusions."""
    tags: dict[str, tuple[str, str]] = {}
    for key, (group, canonical) in TAG_GROUPS.items():
        if canonical not in ("vocals", "instrumental"):
            tags[key.lower()] = tags[canonical.lower()] = (group, canonical)
    for name, value in list(tags.items()):  # "drum"/"drums", "pianos", "violins"
        if value[0] == "instruments" and " " not in name:
            tags.setdefault(name[:-1] if name.endswith("s") else name + "s", value)
    for name, canonical in _SYNONYMS.items():
        tags[name] = tags[canonical.lower()]
    for genders, canonical in ((_FEMALE, "female vocals"), (_MALE, "male vocals")):
        for gender in genders:
            for noun in _VOICE_WORDS:
                tags[f"{gender} {noun}"] = ("instruments", canonical)
    return tags


_TAGS = _build_tags()
# Multi-word names are tried as a whole before single words ("classic rock" is not "classic").
_PHRASE = re.compile(_alternation(n for n in _TAGS if " " in n) + _E, re.I)

# --- patterns --------------------------------------------------------------------------------------------------


def _dur(p: str) -> str:
    return rf"(?:(?P<{p}mss>{_MSS})|(?P<{p}n>{_NUM}|{_WORDNUM})\s*-?\s*(?P<{p}u>{_TIME_UNIT}))"


_RANGE_SEP = r"\s*(?:-|–|—|to|(?(between)and|(?!)))\s*"  # "and" only after "between"
_LENGTH = re.compile(
    rf"""{_B}(?:
        (?:(?P<between>between|from)\s+)?(?:(?P<amss>{_MSS})|(?P<an>{_NUM}|{_WORDNUM})(?:\s*(?P<au>{_TIME_UNIT}))?)
            {_RANGE_SEP}{_dur("b")}
      | (?P<cmp>{_alternation(_LENGTH_CMP)})\s*{_dur("c")}
      | (?:(?P<approx>{_APPROX})\s*)?{_dur("d")}
    )(?:\s+long)?{_E}""",
    re.I | re.X,
)
_TEMPO = re.compile(
    rf"""{_B}(?:at\s+)?(?P<lead>(?:(?:a|the)\s+)?(?:tempo|bpm)(?:\s+of|\s*[:=])?\s*)?(?:
        (?:(?P<between>between|from)\s+)?(?P<lo>{_NUM})\s*(?:{_BPM}\s*)?{_RANGE_SEP}(?P<hi>{_NUM})
      | (?:(?P<cmp>{_alternation(_TEMPO_CMP)})\s*|(?P<approx>{_APPROX})\s*)?(?P<n>{_NUM})
    )(?:\s*(?P<unit>{_BPM}))?{_E}""",
    re.I | re.X,
)
_TIME_AFTER = re.compile(rf"\s*(?:-?\s*{_TIME_UNIT}|:\d)", re.I)
_SOFT_TEMPO = re.compile(
    rf"""{_B}(?:
        (?P<very>very\s+)?(?P<speed>slow|fast)(?:(?:\s+|-)(?:paced|tempo))?
      | (?P<up>up(?:\s+|-)?tempo)
      | (?P<mid>(?:mid|medium|moderate)(?:\s+|-)?tempo|mid-paced)
    ){_E}""",
    re.I | re.X,
)
_GENDER = _alternation(_FEMALE + _MALE).replace("'", "['’]")
_VOCALS = re.compile(
    rf"""{_B}(?:with\s+)?(?:
        (?P<none>(?:vocals?|voice)-free|(?:only\s+|purely\s+)?instrumentals?(?:\s+only)?)
      | (?P<g1>{_GENDER})(?:\s*(?:and|&|/|or)\s*(?P<g2>{_GENDER}))?(?:\s+|-){_alternation(_VOICE_WORDS)}
      | (?P<any>{_alternation(_VOICE_WORDS)})
    ){_E}""",
    re.I | re.X,
)
# "nothing but piano" means only piano, so it is not a negation.
_NEGATION = re.compile(rf"{_B}(?:(?P<kw>no|not|without|avoid|nothing(?!\s+but{_E})|anything\s+but)\s+|non\s*-)", re.I)
_SKIP = re.compile(r"(?:(?:a|an|the|any|too|very|so|overly|really)\s+)*", re.I)  # "without any", "not too"
_WORD = re.compile(rf"(?!(?:or|nor|and|but|with|no|not|without){_E})\w[\w&'’+]*(?:-\w[\w&'’+]*)*{_E}", re.I)
_FILLER = re.compile(rf"\s+(?:music|songs?|tracks?|sounds?|stuff|vibes?|please|whatsoever|at\s+all){_E}", re.I)
_SPACE = re.compile(r"\s+")
# Time signatures are recognised so they are reported, not passed to the encoder or read as numbers ("no 4"):
# the scan assumes 4/4 and measures no metre.
_METRE = re.compile(
    rf"""{_B}(?:(?:no|not|without)\s+)?(?:in\s+)?(?:
        (?P<num>\d{{1,2}})\s*/\s*(?P<den>2|4|8|16)(?!\d)(?:\s+(?:time(?:\s+signature)?|metre|meter))?
      | (?:waltz|common|cut|triple|duple|compound|odd|irregular|unusual)(?:\s+|-)
            (?:time(?:\s+signatures?)?|metres?|meters?)
      | time\s+signatures?
    ){_E}""",
    re.I | re.X,
)
_PITCHES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11, "h": 11}  # H: B as German names it
_KEY_WORD = r"(?:keys?|mode|tonality|scales?)"
# "D minor", "in F# major", "Bb minor", "E-flat major key", "key of A", "in Am". A lower-case "a" before a mode
# is the article ("a minor key", "a major ballad") unless "in" or "key of" comes first and no key word after
# ("in a minor" is A minor); `_key` decides.
_KEY = re.compile(
    rf"""{_B}(?P<lead>(?P<of>(?:in\s+)?(?:the\s+)?key\s+of)\s+|in\s+)?
        (?P<letter>[a-h])(?P<acc>[#♯♭]|b(?=m?(?![\w'’]))|(?:\s+|-)(?:sharp|flat))?
        (?:(?:\s+|-)(?P<mode>major|minor)|(?P<short>m))?
        (?:(?:\s+|-)(?P<kw>{_KEY_WORD}))?{_E}""",
    re.I | re.X,
)
# A mode alone: "minor key", "in a major key", "minor chords", "minor". Bare "major"/"minor" is a mode unless
# the next word makes it the everyday adjective ("a minor change", "a major label"): in a music prompt the
# musical sense is the rule and these few phrases the exceptions.
_MODE = re.compile(
    rf"""{_B}(?:in\s+)?(?:(?:an?|the)\s+)?(?P<mode>major|minor)
        (?:(?:\s+|-)(?P<kw>{_KEY_WORD}|chords?|harmon(?:y|ies)|tonalit(?:y|ies)|feel(?:ing)?|sound))?{_E}""",
    re.I | re.X,
)
_EVERYDAY = re.compile(
    r"\s+(?:change|detail|tweak|edit|fix|issue|problem|role|character|league|label|motion|hit|release|update|"
    r"difference|mistake|flaw|upgrade|injur(?:y|ies)|concern)(?:e?s)?(?![\w-])",
    re.I,
)
_OR = re.compile(rf"\s*,?\s*(?:or|nor){_E}\s*|\s*/\s*", re.I)
_COMMA = re.compile(r"\s*,\s*")

# --- scanning --------------------------------------------------------------------------------------------------


@dataclass
class _Found:
    span: tuple[int, int]
    constraint: Constraint | None = None
    note: str | None = None
    cut: tuple[int, int] | None = None  # what removing the chip deletes, when that differs from the span
    replacement: str = ""  # and what it leaves in its place

    def __post_init__(self) -> None:
        self.cut = self.cut or self.span


class _Claims(list):
    def free(self, start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in self)


def _search(pattern: re.Pattern, s: str, claims: _Claims, handle) -> list[_Found]:
    """Run `handle` on each match in free text; a rejected match only advances by one character."""
    found, pos = [], 0
    while m := pattern.search(s, pos):
        result = handle(s, m) if claims.free(*m.span()) else None
        if result is None:
            pos = m.start() + 1
            continue
        found.append(result)
        claims.append(m.span())
        pos = m.end()
    return found


def _n(x: float) -> str:
    return f"{x:g}"


def _mss(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def _seconds(m: re.Match, p: str, unit: str | None = None) -> float | None:
    if m[p + "mss"]:
        minutes, secs = m[p + "mss"].split(":")
        return int(minutes) * 60 + int(secs)
    raw, unit = m[p + "n"].lower(), (m[p + "u"] or unit or "").lower()
    if raw in _WORDNUMS:
        if unit in ("s", "m"):  # "one s" is not how anyone writes a duration
            return None
        value = float(_WORDNUMS[raw])
    else:
        value = float(raw)
    # "80s", "90s": glued round numbers are decades ("90s hip hop"), not durations.
    if unit == "s" and m.start(p + "u") == m.end(p + "n") and value % 10 == 0:
        return None
    return value * 60 if unit.startswith("m") else value


def _length(s: str, m: re.Match) -> _Found | None:
    lo = hi = None
    if m["bmss"] or m["bn"]:
        hi = _seconds(m, "b")
        unit = m["bu"] or ("m" if m["bmss"] else None)
        lo = _seconds(m, "a", unit)
        if lo is None or hi is None:
            return None
        lo, hi = sorted((lo, hi))
        label = f"{_mss(lo)}–{_mss(hi)}"
    elif m["cmp"]:
        value = _seconds(m, "c")
        if value is None:
            return None
        if _LENGTH_CMP[" ".join(m["cmp"].lower().split())] == "min":
            lo, label = value, f"≥ {_mss(value)}"
        else:
            hi, label = value, f"≤ {_mss(value)}"
    else:  # a bare duration: a video editor covering a 30 s scene needs at least 30 s of music
        lo = _seconds(m, "d")
        if lo is None:
            return None
        label = f"≥ {_mss(lo)}"
    return _Found(m.span(), Length(label, m.span(), True, lo, hi))


def _tempo(s: str, m: re.Match) -> _Found | None:
    numbers = [float(x) for x in (m["lo"], m["hi"], m["n"]) if x]
    if not m["unit"] and "bpm" not in (m["lead"] or "").lower():  # "bpm 90" says its unit as "90 bpm" does
        # Without "BPM" a number is a tempo only after a tempo-ish word and in a musical range.
        if not (m["lead"] or m["between"] or m["cmp"] or m["approx"]) or not all(40 <= x <= 220 for x in numbers):
            return None
        if _TIME_AFTER.match(s, m.end()):  # "over 2 minutes", "about 90 s"
            return None
    phrase = s[m.start() : m.end()]
    if not all(PLAUSIBLE_BPM[0] <= x <= PLAUSIBLE_BPM[1] for x in numbers):
        return _Found(m.span(), note=f'"{phrase}": {_IMPLAUSIBLE}')
    if m["lo"]:
        lo, hi = sorted(numbers)
        return _Found(m.span(), _explicit(f"{_n(lo)}–{_n(hi)} BPM", m.span(), lo, hi, None))
    (x,) = numbers
    if m["cmp"]:
        if _TEMPO_CMP[" ".join(m["cmp"].lower().split())] == "min":
            return _Found(m.span(), _explicit(f"≥ {_n(x)} BPM", m.span(), x, None, None))
        return _Found(m.span(), _explicit(f"≤ {_n(x)} BPM", m.span(), None, x, None))
    tolerance = 0.15 if m["approx"] else 0.10  # "around" is looser than a plain number
    lo, hi = round(x * (1 - tolerance), 2), round(x * (1 + tolerance), 2)
    return _Found(m.span(), _explicit(f"{_n(x)} BPM ±{round(tolerance * 100)}%", m.span(), lo, hi, x))


def _explicit(label: str, span: tuple[int, int], lo: float | None, hi: float | None, x: float | None) -> Tempo:
    return Tempo(label + PREFERENCE, span, False, lo, hi, x, explicit=True)


def _soft_tempo(s: str, m: re.Match) -> _Found:
    word = " ".join(m[0].lower().split())
    if m["mid"]:
        lo, hi, label = 95.0, 120.0, f"{word}, 95–120 BPM"
    elif m["up"] or m["speed"].lower() == "fast":
        lo, hi = (150.0 if m["very"] else 120.0), None
        label = f"{word}, ≥ {_n(lo)} BPM"
    else:
        lo, hi = None, (75.0 if m["very"] else 95.0)
        label = f"{word}, ≤ {_n(hi)} BPM"
    return _Found(m.span(), Tempo(label + PREFERENCE, m.span(), False, lo, hi, None))


def _gender(word: str) -> str:
    return "female" if word.lower().replace("’", "'") in _FEMALE else "male"


def _vocals(s: str, m: re.Match) -> _Found:
    if m["none"]:
        want = "none"
    elif m["g1"]:
        genders = {_gender(m["g1"]), _gender(m["g2"] or m["g1"])}
        want = genders.pop() if len(genders) == 1 else "any"  # "male and female vocals": any voice
    else:
        want = "any"
    return _Found(m.span(), _vocals_constraint(want, m.span()))


def _vocals_constraint(want: str, span: tuple[int, int]) -> Vocals:
    label = {"none": "no vocals", "any": "vocals"}.get(want, f"{want} vocals")
    hard = vocals_filter_is_hard(want)
    return Vocals(label if hard else label + PREFERENCE, span, hard, want)


def _metre(s: str, m: re.Match) -> _Found | None:
    if m["num"] and not 2 <= int(m["num"]) <= 15:  # "1/2" is a fraction
        return None
    return _Found(m.span(), note=f'"{m[0]}": the time signature is not measured (the scan assumes 4/4)')


def _accidental(m: re.Match) -> int:
    accidental = (m["acc"] or "").strip(" -").lower()
    return 1 if accidental in ("#", "♯", "sharp") else -1 if accidental in ("b", "♭", "flat") else 0


def _is_article(s: str, m: re.Match) -> bool:
    """Whether the "a" before "minor"/"major" is the article ("a minor key", "a major ballad", "A minor-key
    piece" opening a sentence) rather than the note A ("in a minor", "A minor", "key of a")."""
    if m["letter"] not in "aA" or m["acc"] or m["of"]:
        return False
    if m["letter"] == "a":
        return not m["lead"] or bool(m["kw"])
    before = s[: m.start()].rstrip()
    return bool(m["kw"]) and not m["lead"] and (not before or before[-1] in ".!?;:,")


def _key(s: str, m: re.Match) -> _Found | None:
    if m["short"] and not (m["short"] == "m" and m["letter"].isupper() and m["lead"] and not m["of"]):
        return None  # "Am" only as "in Am": "am" is a word
    mode = "minor" if m["short"] else m["mode"].lower() if m["mode"] else None
    if (mode is None and not m["of"]) or _is_article(s, m):
        return None  # a lone letter is not a key; the article's "minor key" is the mode pass's
    tonic = (_PITCHES[m["letter"].lower()] + _accidental(m)) % 12
    letter = "B" if m["letter"].lower() == "h" else m["letter"].upper()  # "H minor" (German) is B minor
    spelled = letter + {1: "#", -1: "b", 0: ""}[_accidental(m)]
    name = f"{spelled} {mode}" if mode else f"key of {spelled}"
    return _Found(m.span(), Key(name + PREFERENCE, m.span(), False, tonic, mode))


def _mode(s: str, m: re.Match) -> _Found | None:
    if not m["kw"] and _EVERYDAY.match(s, m.end()):
        return None
    mode = m["mode"].lower()
    return _Found(m.span(), Key(f"{mode} key{PREFERENCE}", m.span(), False, None, mode))


def _negated_key(s: str, pos: int) -> Key | None:
    """A key right after a negation ("not in D minor", "no minor keys"), to be said as such, never left for
    the key pass to read as a wish."""
    for pattern, handle in ((_KEY, _key), (_MODE, _mode)):
        if (m := pattern.match(s, pos)) and (found := handle(s, m)) is not None:
            return found.constraint
    return None


def _negated_key_note(phrase: str, key: Key) -> str:
    other = {"major": "minor", "minor": "major"}.get(key.mode or "")
    instead = f' (ask for "{other} key" instead)' if other and key.tonic is None else ""
    return f'"{phrase}": a key can be preferred, not excluded{instead}'


def _lookup(name: str) -> tuple[str, object] | None:
    name = name.lower().replace("’", "'")
    if name in _NEGATED_VOICE:
        return "vocals", _NEGATED_VOICE[name]
    value = _TAGS.get(name) or _TAGS.get(name.replace("-", " "))
    return ("tag", value) if value else None


@dataclass
class _Item:
    start: int
    end: int
    kind: str  # "vocals" | "tag" | "unknown"
    value: object
    complete: bool  # consumed every word up to the next separator, so a list may continue after it


def _item(s: str, pos: int, claims: _Claims) -> _Item | None:
    """One negated thing: a known multi-word name, a known word, "modifier tag", or up to two unknown words."""
    pos = _SKIP.match(s, pos).end()
    if (m := _PHRASE.match(s, pos)) and claims.free(*m.span()):
        end = f.end() if (f := _FILLER.match(s, m.end())) else m.end()
        return _Item(pos, end, *_lookup(" ".join(m[0].split())), complete=True)
    words: list[re.Match] = []
    while len(words) < 3 and (w := _WORD.match(s, pos)) and claims.free(*w.span()):
        words.append(w)
        if not (gap := _SPACE.match(s, w.end())):
            break
        pos = gap.end()
    if not words:
        return None
    first = words[0]
    if found := _lookup(first[0]):
        end = f.end() if (f := _FILLER.match(s, first.end())) else first.end()
        return _Item(first.start(), end, *found, complete=len(words) == 1 or f is not None)
    if len(words) == 2 and (found := _lookup(words[1][0])):  # "no electric guitar": the tag, not the modifier
        return _Item(first.start(), words[1].end(), *found, complete=True)
    if f := _FILLER.match(s, first.end()):
        return _Item(first.start(), f.end(), "unknown", first[0], complete=len(words) <= 2)
    last = words[1] if len(words) == 2 else first
    return _Item(first.start(), last.end(), "unknown", s[first.start() : last.end()], complete=len(words) <= 2)


def _negated_list(s: str, pos: int, claims: _Claims) -> list[_Item]:
    """ "X", "X or Y", "X, Y or Z": a comma only continues the list when an "or" ends it ("no drums, warm piano")."""
    if (item := _item(s, pos, claims)) is None:
        return []
    items, pending = [item], []
    while item.complete:
        if m := _OR.match(s, item.end):
            if (item := _item(s, m.end(), claims)) is None:
                break
            items += [*pending, item]
            pending = []
        elif m := _COMMA.match(s, item.end):
            if (item := _item(s, m.end(), claims)) is None:
                break
            pending.append(item)
        else:
            break
    return items


def _negations(s: str, claims: _Claims) -> list[_Found]:
    found, pos = [], 0
    while m := _NEGATION.search(s, pos):
        key = _negated_key(s, m.end()) if claims.free(*m.span()) else None
        if key is not None and claims.free(m.start(), key.span[1]):
            span = (m.start(), key.span[1])
            found.append(_Found(span, note=_negated_key_note(s[span[0] : span[1]], key)))
            claims.append(span)
            pos = span[1]
            continue
        items = _negated_list(s, m.end(), claims) if claims.free(*m.span()) else []
        if not items:
            pos = m.start() + 1
            continue
        keyword = "non-" if m["kw"] is None else " ".join(m["kw"].lower().split())
        for k, item in enumerate(items):
            span = (m.start() if k == 0 else item.start, item.end)
            # Removing one chip of a list rewrites the list without it, so the rest stays negated: "no drums,
            # piano or guitar" without guitar is "no drums or piano", never "no drums, piano" (a positive piano).
            rest = " or ".join(s[other.start : other.end] for other in items if other is not item)
            whole = (m.start(), items[-1].end)
            lead = s[m.start() : m.end()].strip()
            edit = {"cut": whole, "replacement": lead + ("" if lead.endswith("-") else " ") + rest} if rest else {}
            if item.kind == "vocals":
                found.append(_Found(span, _vocals_constraint(item.value, span), **edit))
            elif item.kind == "tag":
                found.append(_Found(span, _exclusion(*item.value, span), **edit))
            else:
                name = item.value.lower()
                found.append(_Found(span, note=f'{keyword} "{name}": Needledrop has no tag for {name}'))
            claims.append(span)
        pos = items[-1].end
    return found


def _exclusion(group: str, tag: str, span: tuple[int, int]) -> Exclude:
    hard = exclusion_is_hard(tag)
    return Exclude(f"no {tag}" if hard else f"no {tag}{PREFERENCE}", span, hard, tag, group)


# "drumless", "drum-free", "percussion-less", "voiceless": an instrument or a voice excluded by a suffix.
_SUFFIXED = re.compile(rf"{_B}(?P<name>[a-z]+?)(?:-?less|-free){_E}", re.I)


def _suffixed(s: str, m: re.Match) -> _Found | None:
    """Only instruments and voices: "rockless" or "jazz-free" is no way to exclude a genre, so it stays words."""
    match _lookup(m["name"]):
        case ("vocals", "none"):
            return _Found(m.span(), _vocals_constraint("none", m.span()))
        case ("tag", ("instruments", tag)) if tag not in ("female vocals", "male vocals"):
            return _Found(m.span(), _exclusion("instruments", tag, m.span()))
    return None


def _resolve(s: str, found: list[_Found]) -> list[_Found]:
    """Each constraint once. A repeat leaves silently and a tempo word gives way to an explicit tempo; of two
    that contradict each other, or say the same with more and less detail ("vocals", "female vocals"), the
    more specific is used, the first when they say as much. The one left out becomes a note naming the one
    used, so a prompt never silently asks for nothing ("under 90 BPM, over 120 BPM")."""
    found.sort(key=lambda f: f.span)
    explicit = next((f.constraint for f in found if isinstance(f.constraint, Tempo) and f.constraint.explicit), None)
    kept: list[_Found] = []
    for f in found:
        c = f.constraint
        if c is None:
            continue
        if isinstance(c, Tempo) and not c.explicit and explicit is not None:
            f.constraint, f.note = (
                None,
                f'"{_phrase(s, f)}": the explicit tempo ({explicit.label.removesuffix(PREFERENCE)}) is used instead',
            )
            continue
        for rival in [k for k in kept if _clash(k.constraint, c)]:
            relation = _clash(rival.constraint, c)
            if relation != "same" and _detail(c) > _detail(rival.constraint):
                # The later one says more ("female vocals" after "vocals", "D minor" after "major key").
                rival.constraint, rival.note = None, _clash_note(_phrase(s, rival), relation, c)
                kept.remove(rival)
            else:
                f.constraint = None
                if relation != "same":  # said twice: nothing to report
                    f.note = _clash_note(_phrase(s, f), relation, rival.constraint)
                break
        if f.constraint is not None:
            kept.append(f)
    return found


def _phrase(s: str, f: _Found) -> str:
    return s[f.span[0] : f.span[1]]


def _clash_note(phrase: str, relation: str, used: Constraint) -> str:
    if relation == "contradicts":
        return f'"{phrase}": contradicts "{used.label}", which is used'
    return f'"{phrase}": already said by "{used.label}"'


def _detail(c: Constraint) -> int:
    """How much a constraint pins down, to choose between two that clash."""
    if isinstance(c, Vocals):
        return 1 if c.want == "any" else 2  # "no vocals" is as definite as "female vocals"
    if isinstance(c, Key):
        return (c.tonic is not None) + (c.mode is not None)
    return 1


def _range(c: Tempo | Length) -> tuple[float | None, float | None, float | None]:
    return (c.min_bpm, c.max_bpm, c.target_bpm) if isinstance(c, Tempo) else (c.min_seconds, c.max_seconds, None)


def _disjoint(a: Tempo | Length, b: Tempo | Length) -> bool:
    """No value is within both (open ends are unbounded)."""
    (a_low, a_high, _), (b_low, b_high, _) = _range(a), _range(b)
    low = max(x for x in (a_low, b_low, -float("inf")) if x is not None)
    high = min(x for x in (a_high, b_high, float("inf")) if x is not None)
    return low > high


def _clash(a: Constraint, b: Constraint) -> str | None:
    """How two constraints of a prompt relate: "same", "contradicts", "refines" (one says what the other does
    and more), or None when both can be used together (different kinds, tags, or ranges that overlap)."""
    if type(a) is not type(b):
        return None
    if isinstance(a, Vocals):
        if a.want == b.want:
            return "same"
        return "refines" if "any" in (a.want, b.want) and "none" not in (a.want, b.want) else "contradicts"
    if isinstance(a, Exclude):
        return "same" if a.tag == b.tag else None
    if isinstance(a, Tempo | Length):
        if isinstance(a, Tempo) and a.explicit != b.explicit:  # a tempo word beside an explicit tempo: `_resolve`'s
            return None
        if _range(a) == _range(b):
            return "same"
        return "contradicts" if _disjoint(a, b) else None
    assert isinstance(a, Key)
    pairs = [(x, y) for x, y in ((a.tonic, b.tonic), (a.mode, b.mode)) if x is not None and y is not None]
    if any(x != y for x, y in pairs):
        return "contradicts"
    if (a.tonic, a.mode) == (b.tonic, b.mode):
        return "same"
    return "refines" if len(pairs) == min(_detail(a), _detail(b)) else None


# "-50 bpm": the number pass leaves a number after a hyphen alone ("80-100 bpm" is a range).
_NEGATIVE_TEMPO = re.compile(rf"(?<![\w.])-\s*{_NUM}\s*{_BPM}{_E}", re.I)


def _negative_tempo(s: str, m: re.Match) -> _Found:
    return _Found(m.span(), note=f'"{m.group()}": {_IMPLAUSIBLE}')


# A phrase of its own between separators, "with" allowed before it: what `_asked_and_excluded` reads.
_OWN_PHRASE = re.compile(r"(?:^|(?<=[,;]))\s*(?:with\s+)?(?P<name>[^,;]+?)\s*(?=$|[,;])", re.I)


def _asked_and_excluded(s: str, claims: _Claims, found: list[_Found]) -> list[_Found]:
    """A tag both excluded and asked for as a phrase of its own ("no drums, drums", "no drums, with
    percussion"): the exclusion is used and the phrase is said to contradict it, rather than sent to the
    words' match, which would ask for what the chip removes. A tag inside a longer phrase ("no rock, indie
    rock") is left to the words."""
    excluded = {f.constraint.tag: f.constraint for f in found if isinstance(f.constraint, Exclude)}

    def contradiction(s: str, m: re.Match) -> _Found | None:
        kind, value = _lookup(m["name"]) or (None, None)
        if kind != "tag" or value[1] not in excluded:
            return None
        return _Found(m.span(), note=f'"{m.group().strip()}": contradicts "{excluded[value[1]].label}", which is used')

    return _search(_OWN_PHRASE, s, claims, contradiction) if excluded else []


def _analyse(prompt: str) -> list[_Found]:
    """Everything recognised, kept constraints and notes alike, in order of appearance."""
    claims = _Claims()
    found = _search(_METRE, prompt, claims, _metre)
    found += _search(_LENGTH, prompt, claims, _length)
    found += _search(_TEMPO, prompt, claims, _tempo)
    found += _search(_NEGATIVE_TEMPO, prompt, claims, _negative_tempo)
    found += _negations(prompt, claims)
    found += _search(_SUFFIXED, prompt, claims, _suffixed)
    found += _asked_and_excluded(prompt, claims, found)
    found += _search(_VOCALS, prompt, claims, _vocals)
    found += _search(_SOFT_TEMPO, prompt, claims, _soft_tempo)
    found += _search(_KEY, prompt, claims, _key)
    found += _search(_MODE, prompt, claims, _mode)
    return _resolve(prompt, found)


# --- remaining text --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[,;]|[^\s,;]+")
_JOINERS = {",", ";", "and", "or", "nor", "but", "with", "-", "–", "—", "&", "/", "."}
_EDGE_ONLY = {"at"}  # "at" dangles after "at 90 BPM" moves out, but "at night" is content
_EMPTY_WORDS = {"a", "an", "the", "some", "something", "track", "tracks", "song", "songs", "music", "tune", "tunes"}
_EMPTY_WORDS |= {"piece", "clip", "please", "for", "of", "in", "to", "that", "is", "it", "and", "with", "or", "but"}


def _tidy(s: str) -> str:
    """Collapse whitespace and the separators a removal leaves doubled or dangling."""
    tokens: list[str] = []
    for token in _TOKEN.findall(s):
        if tokens and token.lower() in _JOINERS and tokens[-1].lower() in _JOINERS:
            tokens[-1] = token  # "rock, , and piano": keep the last joiner
        else:
            tokens.append(token)
    while tokens and tokens[0].lower() in _JOINERS | _EDGE_ONLY:
        tokens.pop(0)
    while tokens and tokens[-1].lower() in _JOINERS | _EDGE_ONLY:
        tokens.pop()
    return "".join(t if i == 0 or t in ",;" else " " + t for i, t in enumerate(tokens))


def measured_reason(c: Constraint, unheard_drums: int | None = 0) -> str | None:
    """Why an exclusion or a voice constraint filters or only re-ranks, in the held-out figure it follows (the
    app's chip tooltip); None for the others, whose reasons are in their docstrings. `unheard_drums`: how many
    tracks the drum network has not heard, for which the first detector answers "no drums", so its figure is
    quoted for them and the worse of the two weighed; None: the scan does not listen for drums here, and the
    first detector answers for every track."""
    gender = ""
    if isinstance(c, Exclude):
        what, precision = f"no {c.tag}", exclusion_precision(c.tag)
        effect = f"tracks measured to have {c.tag} rank below the rest, none removed"
    elif isinstance(c, Vocals):
        what, precision = ("no vocals" if c.want == "none" else "a voice heard"), vocals_precision(c.want)
        effect = f"tracks where a voice was {'' if c.want == 'none' else 'not '}heard rank below the rest, none removed"
        if c.want in ("female", "male"):
            gender = "; whether it is female or male only re-ranks"
    else:
        return None
    if precision is None:
        return f'{effect}: "{what}" was never measured on held-out music'
    right = f'"{what}" is right {precision:.0%} of the time on held-out music'
    drums = isinstance(c, Exclude) and c.tag in DRUM_TAGS
    if drums and unheard_drums is None:
        precision = FIRST_NO_DRUMS_PRECISION
        right = (
            f'"{what}" is right {precision:.0%} of the time on held-out music (the scan does not listen for drums here)'
        )
    elif drums and unheard_drums:
        tracks = f"{unheard_drums} track{'s' if unheard_drums != 1 else ''}"
        right += f" ({FIRST_NO_DRUMS_PRECISION:.0%} for the {tracks} not listened to for drums)"
        precision = min(precision, FIRST_NO_DRUMS_PRECISION)
    if c.hard:
        return f"a filter: {right}{gender}"
    if precision >= HARD_FROM_PRECISION:  # precise, but it would also remove most of what it should keep
        return f"{effect}: {right}, but as a filter it would remove most of the music it should keep{gender}"
    return f"{effect}: {right}, and a filter needs {HARD_FROM_PRECISION:.0%}{gender}"


def parse_prompt(prompt: str) -> ParsedPrompt:
    """Split `prompt` into constraints (with their spans) and the text the encoder should see."""
    found = _analyse(prompt)
    rest, last = [], 0
    for f in found:  # every recognised phrase leaves, including unusable ones: negations must not reach the encoder
        rest.append(prompt[last : f.span[0]])
        last = f.span[1]
    text = _tidy(" ".join([*rest, prompt[last:]]))
    meaningful = any(w.lower() not in _EMPTY_WORDS for w in re.findall(r"\w[\w&'’+-]*", text))
    return ParsedPrompt(
        original=prompt,
        text=text if meaningful else None,
        constraints=tuple(f.constraint for f in found if f.constraint is not None),
        ignored=tuple(dict.fromkeys(f.note for f in found if f.note is not None)),  # each said once
    )
