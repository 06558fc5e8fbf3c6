"""What a track plays, and whether each measurement is reliable enough to filter on: drums, other instruments,
a voice.

musicnn's `drums` tag alone misses most kits (the demo's rock band and latin percussion passed "no drums").
The detector is a logistic fit (`drum_detector.json`) of the drum hits the scan counts (engine/media/dsp.py:
broadband jumps of the treble, per second) in the track's busiest segment, so drums in one part count, and
of the log of the strength of tags musicnn gives the track (its peak over segments; only `drums`: a fit on
every tag learnt the renders' tag habits instead of drums, see tests/bench/bench_drums.py TAGS_READ).

The fit in use (version 2) was made on 160 dev renders: 40 in one SoundFont and 120 whose drums come from
four other kits, the AVL multi-sampled acoustic kits among them. tests/bench/bench_drums.py measures it on
120 test renders of other works in another SoundFont, half of the drummed ones with recorded breakbeat,
tabla and hand-percussion loops (docs/quality.md, "Drums"). Since RULE-5 a second detector, on aisfx's
sound-effects network (drum_detector_sfx.json, below), says "no drums heard" and orders "no drums" where the
scan measured it; "has drums" needs both. A filter is hard only where the measurement behind it is reliable on
held-out data (precision at least 0.95, keeping at least half of what it should keep): `DRUMS_FILTER_IS_HARD`
follows the second detector's held-out figures. A voice's filters follow tests/bench/bench_vocals.py's
figures (`vocals_filter_is_hard`).
Instruments other than drums are read from musicnn's tags alone; whether their exclusions may filter follows
their held-out measurement (`instrument_filters.json`, tests/bench/bench_instruments.py): `exclusion_is_hard`.
The same measurement decides which instruments a why, a result's tags or the library list may say a track
plays when nobody asked (`said_tags`): musicnn calls an electronic track "violin, strings" readily, and a
reason that is wrong half the time teaches an editor to ignore every reason. Each of these tags' figures is
the worse of two held-out sets: the test renders, and real recordings against the instruments their composer
lists (`bench_instruments.py --folder`), since a tag right on renders can still be wrong on a real library.
(The drums' figures on those recordings are recorded beside them, for docs/quality.md; the detectors' own
records decide for drums.)

The scan stores each track's busiest drum hits, its tag peaks and its pooled sound-effects embedding, so a new
fit of either detector is applied to a library from stored values (`Library.backfill_drums`,
`Library.backfill_sfx_drums`), without analysing anything again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.tags import TagIndex

_FIT = json.loads((Path(__file__).with_name("drum_detector.json")).read_text())
# Rises with each new fit (bench_drums.py --fit): stored probabilities are then measured again from stored
# values (Library.backfill_drums).
VERSION = _FIT["version"]
NO_DRUMS_BELOW = _FIT["no_drums_below"]  # "no drums" lets through tracks under this probability
DRUMS_FROM = _FIT["drums_from"]  # where a track counts as drummed ("with drums", the why)
HARD_FROM_PRECISION = 0.95  # a filter's held-out precision that makes it hard
# ... as long as it keeps most of what it should: a filter dropping most tracks without the instrument
# serves an editor worse than ranking the doubtful ones last.
HARD_FROM_RECALL = 0.5
TAG_FLOOR = 1e-3  # under a fit's "log" tag scale, the strength a tag's log starts from
DRUM_TAGS = ("drums",)  # the exclusions this detector answers (engine.tags canonical names)

# The drum detector on aisfx's sound-effects network (engine/media/sfx_embedding.py, drum_detector_sfx.json;
# ../data/drums/RULE-4.md and RULE-5.md). A separate fit rather than a version 3 of drum_detector.json: it
# reads what the analysis does not measure (the scan's last pass listens for it, engine/library/scanner.py),
# and it answers only one side: "has drums" still needs the shipped detector. The catalog stores each track's
# pooled embedding (`drum_sfx`) and q (`drums_sfx`); every reader takes both p and q and reads p alone where
# q is unmeasured (a quick pass's track, one not listened to yet).
SFX_FILE = Path(__file__).with_name("drum_detector_sfx.json")
_SFX_FIT = json.loads(SFX_FILE.read_text())
SFX_VERSION = _SFX_FIT["version"]
SFX_SEGMENT: tuple[int, int] = tuple(_SFX_FIT["reads"]["segment"])  # windows in a segment, windows between starts
SFX_NO_DRUMS_BELOW = _SFX_FIT["no_drums_below"]  # "no drums heard" under this q
# "no drums"'s held-out precision at even odds and recall: the worst of the sets recorded in the fit file
# (RULE-5's fresh set, RULE-4's real and renders tests).
_SFX_HELD = [_SFX_FIT["held_out"]["no drums"], *_SFX_FIT["held_out"]["no drums, RULE-4's tests"].values()]
_SFX_NO_DRUMS = (min(h["precision at even odds"] for h in _SFX_HELD), min(h["recall"] for h in _SFX_HELD))
# ... and the shipped detector's, on its test split, which answers for the tracks the network has not heard.
FIRST_NO_DRUMS_PRECISION: float = _FIT["held_out"]["no drums"]["precision"]

# Other instruments' exclusions as the filter applies them (musicnn's tag under TAG_PRESENT), and their
# presence as a why would say it, measured on held-out renders whose instruments are known and on real
# recordings whose instruments their composer lists (tests/bench/bench_instruments.py --record, --folder).
FILTERS_FILE = Path(__file__).with_name("instrument_filters.json")
_RECORDED = json.loads(FILTERS_FILE.read_text())
# Each measured set's figures per tag: the test renders', then the real recordings' where recorded (one set:
# recording another folder replaces it).
_TAG_SETS = [_RECORDED["tags"]] + ([_RECORDED["recordings"]["tags"]] if "recordings" in _RECORDED else [])
# The voice filters (engine/recommend/filters.py SUNG) on test renders with and without a song sung over them
# (tests/bench/bench_vocals.py --sung --record).
_VOCALS = _RECORDED.get("vocals", {})
# The tags that name an instrument playing (engine.tags canonical names), and musicnn's "beat", which claims
# percussion the drum detector did not measure. Said of a track unasked only where the tag, at TAG_PRESENT,
# was measured right at least NAMED_FROM_PRECISION of the time at even odds on every held-out set recorded
# (the precision the drum detector's "has drums" bar was chosen for); drums by the detector.
PLAYING = frozenset(
    ("guitar", "strings", "piano", "violin", "synth", "harpsichord", "flute", "sitar", "harp", "cello", "choir", "beat")
)
NAMED_FROM_PRECISION = 0.9


def _reliable(precision: float | None, recall: float | None) -> bool:
    return (precision or 0.0) >= HARD_FROM_PRECISION and (recall or 0.0) >= HARD_FROM_RECALL


def _worst(figures: list[float | None]) -> float | None:
    measured = [f for f in figures if f is not None]
    return min(measured) if measured else None


def _exclusion_figures(tag: str) -> tuple[float | None, float | None]:
    """The held-out precision at even odds and recall of "no <tag>", the worst of the sets recorded (None:
    never measured)."""
    if tag in DRUM_TAGS:  # the drum splits are half drummed, so their precision is already at even odds
        return _SFX_NO_DRUMS
    no = [figures.get(tag, {}).get("no", {}) for figures in _TAG_SETS]
    return _worst([n.get("precision at even odds") for n in no]), _worst([n.get("recall") for n in no])


def _vocals_figures(want: str) -> tuple[float | None, float | None]:
    """The held-out precision at even odds and recall of "no vocals" (`want` "none") or of a voice asked for."""
    figures = _VOCALS.get("no" if want == "none" else "with it", {})
    return figures.get("precision at even odds"), figures.get("recall")


def presence_precision(tag: str) -> float | None:
    """The held-out precision at even odds of saying a track plays `tag`'s instrument, the worst of the sets
    recorded (None: never measured)."""
    return _worst([figures.get(tag, {}).get("with it", {}).get("precision at even odds") for figures in _TAG_SETS])


# musicnn's words for what the scan measures itself and every result shows: its tempo and its loudness. Said
# unasked they contradicted the measure beside them ("slow · 144 BPM", "quiet" on a track at -8 LUFS).
MEASURED_ELSEWHERE = frozenset({"slow", "fast", "quiet", "loud"})


def may_say(tag: str) -> bool:
    """Whether a tag may be said of a track nobody asked about: any tag that names no instrument (a genre, a
    mood, "acoustic"); an instrument only where its presence was measured reliably (`NAMED_FROM_PRECISION`);
    musicnn's `drums` never, since the detector says that (`said_tags`), nor its words for a tempo or a
    loudness (`MEASURED_ELSEWHERE`)."""
    if tag in DRUM_TAGS or tag in MEASURED_ELSEWHERE:
        return False
    return tag not in PLAYING or (presence_precision(tag) or 0.0) >= NAMED_FROM_PRECISION


def _values(measure: np.ndarray | float | None) -> np.ndarray:
    return np.asarray(np.nan if measure is None else measure, np.float64)


def drummed(drums: np.ndarray | float | None, heard: np.ndarray | float | None = None) -> np.ndarray:
    """Whether a track is said to have drums (or, given arrays, each track): RULE-5's `has_drums` where the
    sound-effects detector measured it (`heard`, its q), else the shipped detector's verdict alone (`drums`,
    its p). None or NaN: unmeasured."""
    p, q = _values(drums), _values(heard)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(q), has_drums(p, q), p >= DRUMS_FROM)


def heard_none(drums: np.ndarray | float | None, heard: np.ndarray | float | None = None) -> np.ndarray:
    """Whether a track is said to have no drums ("no drums heard"; given arrays, each track): the
    sound-effects detector's q under SFX_NO_DRUMS_BELOW where it measured the track, else the shipped
    detector's p under NO_DRUMS_BELOW. None or NaN in both: no."""
    p, q = _values(drums), _values(heard)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(q), no_drums_heard(q), p < NO_DRUMS_BELOW)


def said_tags(tags: list[str], drums: float | None, heard: float | None = None) -> list[str]:
    """Of a track's clear tags (strongest first), those `may_say` allows, then "drums" where the detectors
    call the track drummed (`drummed`)."""
    return [t for t in tags if may_say(t)] + ([DRUM_TAGS[0]] if drummed(drums, heard) else [])


def said_groups(
    grouped: dict[str, dict[str, float]] | None, drums: float | None, heard: float | None = None
) -> dict[str, dict[str, float]]:
    """A track's stored tags by group (engine.tags.group_tags: at most three per group, strongest first), its
    instruments as `said_tags` allows them and none of musicnn's words for a tempo or a loudness. "drums"
    comes last with the shipped detector's probability, not a tag strength (its bar is DRUMS_FROM, not
    TAG_PRESENT)."""
    grouped = {
        group: {t: v for t, v in tags.items() if t not in MEASURED_ELSEWHERE} for group, tags in (grouped or {}).items()
    }
    playing = grouped.get("instruments", {})
    said = said_tags(list(playing), drums, heard)
    if playing or said:
        grouped["instruments"] = {t: drums if t in DRUM_TAGS else playing[t] for t in said}
    return grouped


def exclusion_is_hard(tag: str) -> bool:
    """Whether "no <tag>" (an engine.tags canonical name) may filter rather than re-rank: only where what it
    reads was measured on held-out material, with a precision of at least HARD_FROM_PRECISION at even odds (as
    if half the library had the instrument) and a recall of at least HARD_FROM_RECALL. An unmeasured tag
    (a genre, an instrument no render plays) re-ranks."""
    return _reliable(*_exclusion_figures(tag))


DRUMS_FILTER_IS_HARD = exclusion_is_hard(DRUM_TAGS[0])


def exclusion_precision(tag: str) -> float | None:
    """The held-out precision at even odds of "no <tag>", which `exclusion_is_hard` weighs (None: never
    measured)."""
    return _exclusion_figures(tag)[0]


def vocals_precision(want: str) -> float | None:
    """The held-out precision at even odds of "no vocals" (`want` "none") or of a voice asked for, which
    `vocals_filter_is_hard` weighs (None: never measured)."""
    return _vocals_figures(want)[0]


def vocals_filter_is_hard(want: str) -> bool:
    """Whether a voice constraint filters: "no vocals" (`want` "none") as an exclusion does; a voice asked for
    ("vocals", "female vocals") on its precision at even odds alone, so that a library where nothing was
    measured as sung answers nothing, and says why, rather than instrumental music ranked first."""
    precision, recall = _vocals_figures(want)
    if want == "none":
        return _reliable(precision, recall)
    return (precision or 0.0) >= HARD_FROM_PRECISION


# The first detector (VERSION 1): musicnn's `drums` strength and log1p(busiest hits), and no stored hits.
# Its stored probability and the stored tags give back the hits it read (`hits_of_version_1`).
_V1_WEIGHTS, _V1_BIAS = (4.2, 5.26), -4.04


def drum_probability(
    busiest_hits: np.ndarray | float, tag_peaks: np.ndarray, tags: TagIndex, fit: dict | None = None
) -> np.ndarray:
    """P(drums) of tracks from their busiest segment's drum hits per second and their tag peaks (one track:
    a number and a vector; many: a vector and rows), by the fit in use or by `fit` (a candidate's, in the
    same form: tests/bench/fit_drums.py)."""
    fit = fit or _FIT
    strengths = tags.strengths(np.asarray(tag_peaks, np.float32)).astype(np.float64)
    if fit.get("tag_scale") == "log":  # a tag's faint readings told apart, not only its strong ones
        strengths = np.log(strengths + TAG_FLOOR)
    z = (
        fit["hits"] * np.log1p(np.asarray(busiest_hits, np.float64))
        + strengths @ tags.weights(fit["tags"], "the drum detector")
        + fit["bias"]
    )
    return 1.0 / (1.0 + np.exp(-z))


def first_detector(busiest_hits: np.ndarray, tag_peaks: np.ndarray, tags: TagIndex) -> np.ndarray:
    """P(drums) as the first detector (VERSION 1) measured it, for comparison (tests/bench/bench_drums.py)."""
    drums = tags.strength(np.asarray(tag_peaks, np.float32), "drums").astype(np.float64)
    z = _V1_WEIGHTS[0] * np.log1p(np.asarray(busiest_hits, np.float64)) + _V1_WEIGHTS[1] * drums + _V1_BIAS
    return 1.0 / (1.0 + np.exp(-z))


def hits_of_version_1(probability: np.ndarray, tag_peaks: np.ndarray, tags: TagIndex) -> np.ndarray:
    """The busiest drum hits per second that the first detector read, from the probability it stored (to 3
    decimals, so 0 and 1 are taken as 0.0005 and 0.9995) and the tags: its logit is linear in both."""
    p = np.clip(np.asarray(probability, np.float64), 0.0005, 0.9995)
    drums = tags.strength(np.asarray(tag_peaks, np.float32), "drums").astype(np.float64)
    log_hits = (np.log(p / (1 - p)) - _V1_BIAS - _V1_WEIGHTS[1] * drums) / _V1_WEIGHTS[0]
    return np.expm1(np.maximum(log_hits, 0.0))


def absent(probability: np.ndarray, heard: np.ndarray | None = None) -> np.ndarray:
    """How surely each track has no drums, 0..1 (NaN: unmeasured). Where the sound-effects detector measured
    the track (`heard`, q), by q (RULE-5): 1 under SFX_NO_DRUMS_BELOW, 0 from DRUMS_FROM; elsewhere by the
    shipped detector's p: 1 under NO_DRUMS_BELOW, 0 from DRUMS_FROM."""
    by_p = ramp(np.asarray(probability, np.float64), NO_DRUMS_BELOW)
    if heard is None:
        return by_p
    q = np.asarray(heard, np.float64)
    return np.where(np.isfinite(q), ramp(q, SFX_NO_DRUMS_BELOW), by_p)


def ramp(x: np.ndarray, none_below: float, all_from: float = DRUMS_FROM) -> np.ndarray:
    """1 under `none_below`, 0 from `all_from`, linear between (NaN stays NaN): how surely a probability
    of drums says there are none."""
    return np.clip((all_from - x) / (all_from - none_below), 0.0, 1.0)


def drum_strength(probability: np.ndarray, heard: np.ndarray | None = None) -> np.ndarray:
    """How strongly each track has drums, 0..1, as "with drums" ranks it (NaN: unmeasured): the shipped
    detector's p, held under SFX_NO_DRUMS_BELOW where the sound-effects detector heard none (RULE-5: it
    alone answers that side)."""
    p = np.asarray(probability, np.float64)
    if heard is None:
        return p
    q = np.asarray(heard, np.float64)
    return np.where(np.isfinite(q) & (q < SFX_NO_DRUMS_BELOW), np.fmin(p, q), p)


def sfx_drum_probability(
    pooled: np.ndarray, busiest_hits: np.ndarray | float, tag_peaks: np.ndarray, tags: TagIndex, fit: dict | None = None
) -> np.ndarray:
    """q, P(drums) of tracks from their pooled sound-effects embedding (engine.media.sfx_embedding.pooled
    with SFX_SEGMENT: 1024 numbers, or rows of them) and the shipped detector's two inputs (the busiest
    segment's drum hits per second and the tag peaks, as `drum_probability` reads them): a standardised
    logistic regression (tests/bench/fit_drums_features.py `probability`), by drum_detector_sfx.json or `fit`."""
    fit = fit or _SFX_FIT
    strength = tags.strength(np.asarray(tag_peaks, np.float32), DRUM_TAGS[0]).astype(np.float64)
    shipped = np.stack([np.log1p(np.asarray(busiest_hits, np.float64)), np.log(strength + TAG_FLOOR)], axis=-1)
    x = np.concatenate([np.asarray(pooled, np.float64), shipped], axis=-1)
    z = (x - np.asarray(fit["mean"])) / np.asarray(fit["scale"]) @ np.asarray(fit["weights"]) + fit["bias"]
    return 1.0 / (1.0 + np.exp(-z))


def no_drums_heard(q: np.ndarray | float) -> np.ndarray:
    """RULE-5's "no drums heard": the sound-effects detector's q under SFX_NO_DRUMS_BELOW (NaN: unmeasured, no)."""
    return np.asarray(q, np.float64) < SFX_NO_DRUMS_BELOW


def has_drums(p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray:
    """RULE-5's "has drums": the shipped detector says so (p from DRUMS_FROM) and the sound-effects detector
    does not hear none (q from SFX_NO_DRUMS_BELOW); NaN in either: no."""
    return (np.asarray(p, np.float64) >= DRUMS_FROM) & (np.asarray(q, np.float64) >= SFX_NO_DRUMS_BELOW)
