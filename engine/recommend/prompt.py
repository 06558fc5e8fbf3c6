"""Parse a recommendation prompt into hard/soft constraints and the text left for the text encoder.

Contrastive text encoders ignore negation ("no vocals" lands next to "vocals") and cannot count ("90 BPM" is just
a token), so tempo, vocals, exclusions and duration are read out of the prompt here and applied as filters or
re-ranking terms on the values stored per track. Only what remains goes to the encoder. Every constraint keeps
its span in the original prompt, so the UI can show it as a removable chip and re-parse the prompt without it.

Matching runs in passes (length, tempo, negations, vocals, tempo words); each pass claims character ranges so
a later, vaguer pass never reinterprets what an earlier, more explicit one understood ("over 2 minutes" is a
length, "over 120" a tempo, and the "slow" in "not slow" is an exclusion, not a tempo word).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.tags import TAG_GROUPS


@dataclass(frozen=True)
class Tempo:
    """A BPM constraint; hard ones filter, soft ones (tempo words) only re-rank."""

    label: str
    span: tuple[int, int]
    hard: bool
    min_bpm: float | None
    max_bpm: float | None
    target_bpm: float | None


@dataclass(frozen=True)
class Vocals:
    """At most one per prompt."""

    label: str
    span: tuple[int, int]
    hard: bool
    want: str  # "none" | "any" | "female" | "male"


@dataclass(frozen=True)
class Exclude:
    """A negated tag ("no drums", "not rock"), resolved to its canonical name and group in engine.tags."""

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


Constraint = Tempo | Vocals | Exclude | Length


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
    rf"""{_B}(?:at\s+)?(?:
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
    if not m["unit"]:
        # Without "BPM" a number is a tempo only after a tempo-ish word and in a musical range.
        if not (m["between"] or m["cmp"] or m["approx"]) or not all(40 <= x <= 220 for x in numbers):
            return None
        if _TIME_AFTER.match(s, m.end()):  # "over 2 minutes", "about 90 s"
            return None
    phrase = s[m.start() : m.end()]
    if not all(20 <= x <= 300 for x in numbers):
        return _Found(m.span(), note=f'"{phrase}": not a plausible tempo (20–300 BPM)')
    if m["lo"]:
        lo, hi = sorted(numbers)
        return _Found(m.span(), Tempo(f"{_n(lo)}–{_n(hi)} BPM", m.span(), True, lo, hi, None))
    (x,) = numbers
    if m["cmp"]:
        if _TEMPO_CMP[" ".join(m["cmp"].lower().split())] == "min":
            return _Found(m.span(), Tempo(f"≥ {_n(x)} BPM", m.span(), True, x, None, None))
        return _Found(m.span(), Tempo(f"≤ {_n(x)} BPM", m.span(), True, None, x, None))
    tolerance = 0.15 if m["approx"] else 0.10  # "around" is looser than a plain number
    lo, hi = round(x * (1 - tolerance), 2), round(x * (1 + tolerance), 2)
    return _Found(m.span(), Tempo(f"{_n(x)} BPM ±{round(tolerance * 100)}%", m.span(), True, lo, hi, x))


def _soft_tempo(s: str, m: re.Match) -> _Found:
    word = " ".join(m[0].lower().split())
    if m["mid"]:
        lo, hi, label = 95.0, 120.0, f"{word} (95–120 BPM)"
    elif m["up"] or m["speed"].lower() == "fast":
        lo, hi = (150.0 if m["very"] else 120.0), None
        label = f"{word} (≥ {_n(lo)} BPM)"
    else:
        lo, hi = None, (75.0 if m["very"] else 95.0)
        label = f"{word} (≤ {_n(hi)} BPM)"
    return _Found(m.span(), Tempo(label, m.span(), False, lo, hi, None))


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
    return Vocals(label, span, True, want)


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
                group, tag = item.value
                found.append(_Found(span, Exclude(f"no {tag}", span, True, tag, group), **edit))
            else:
                name = item.value.lower()
                found.append(_Found(span, note=f'{keyword} "{name}": Needledrop has no tag for {name}'))
            claims.append(span)
        pos = items[-1].end
    return found


def _resolve(s: str, found: list[_Found]) -> list[_Found]:
    """One vocals constraint, one exclusion per tag, and an explicit BPM over a tempo word; the rest become notes."""
    found.sort(key=lambda f: f.span)
    voice = next((f.constraint for f in found if isinstance(f.constraint, Vocals)), None)
    explicit = next((f.constraint for f in found if isinstance(f.constraint, Tempo) and f.constraint.hard), None)
    seen_tags: set[str] = set()
    for f in found:
        c, phrase = f.constraint, s[f.span[0] : f.span[1]]
        if isinstance(c, Vocals) and c is not voice:
            if c.want == voice.want:
                f.constraint = None  # said twice: nothing to report
            elif "none" in (c.want, voice.want) or {c.want, voice.want} == {"female", "male"}:
                f.constraint, f.note = None, f'"{phrase}": contradicts "{voice.label}"'
            else:
                f.constraint, f.note = None, f'"{phrase}": only one vocals constraint is used ("{voice.label}")'
        elif isinstance(c, Tempo) and not c.hard and explicit is not None:
            f.constraint, f.note = None, f'"{phrase}": the explicit tempo ({explicit.label}) is used instead'
        elif isinstance(c, Exclude):
            if c.tag in seen_tags:
                f.constraint = None
            seen_tags.add(c.tag)
    return found


def _analyse(prompt: str) -> list[_Found]:
    """Everything recognised, kept constraints and notes alike, in order of appearance."""
    claims = _Claims()
    found = _search(_LENGTH, prompt, claims, _length)
    found += _search(_TEMPO, prompt, claims, _tempo)
    found += _negations(prompt, claims)
    found += _search(_VOCALS, prompt, claims, _vocals)
    found += _search(_SOFT_TEMPO, prompt, claims, _soft_tempo)
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
        ignored=tuple(f.note for f in found if f.note is not None),
    )
