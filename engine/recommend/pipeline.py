"""A query's trip, one stage after another: hard filters → candidates → scores → best segment per track →
diversity → explanations. Parsing and encoding come before (`prompt.py`, `encode.py`); each stage is a
module of its own with typed input and output, so a new signal (the affect match, a better filter) is one
stage to change.

The stages run once per pool size: when the filters and caps leave fewer than k tracks among the
candidates, the candidate search widens and the later stages run again on what it finds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from engine.instruments import drum_strength
from engine.library.catalog import Catalog
from engine.library.index import SegmentIndex
from engine.recommend.candidates import Candidates, CandidateSearch
from engine.recommend.diversity import capped
from engine.recommend.explain import Asked, explained
from engine.recommend.feel import Feel
from engine.recommend.filters import RowFilter, hard_filter
from engine.recommend.prompt import Constraint, Tempo
from engine.recommend.result import Result
from engine.recommend.scoring import best_per_track, feel_match, match_scale, score_parts
from engine.recommend.tagmatch import TagMatcher, TagQuery
from engine.tags import TagIndex

MAX_K = 200
# The segments an explicit tempo's range searched apart looks at first (candidates.FIRST_POOL is 400): at
# 100,000 tracks (tests/bench/bench_recommend.py's library, prompts whose range the unfiltered search falls
# short of) the top 10 keeps 98.8 % of its tracks (95 % of the lists identical) and its p95 goes from 63
# to 46 ms; a range that offers fewer than k tracks from it is widened as any search is.
RANGE_POOL = 200


@dataclass(frozen=True)
class Search:
    """Everything the stages after encoding need, decided before they run."""

    vector: np.ndarray  # the query, unit length
    k: int = 10
    constraints: tuple[Constraint, ...] = ()
    text: str | None = None  # the prompt's free text, for the explanations
    named: TagQuery | None = None  # the tags the words name
    tag_weight: float = 0.0  # how much a perfect tag match adds to a score
    clip_cues: dict[str, float] | None = None
    feels: tuple[Feel, ...] = ()  # the words' and the picture's, each scaled by how much it counts
    # How much the similarity to the query counts: little when the query is only a neutral stand-in for a
    # prompt of constraints alone ("slow"), so that they do the choosing.
    similarity_weight: float = 1.0
    exclude_tracks: tuple[int, ...] = ()
    # The clip's length, when the music is for a clip: a track shorter than it ranks lower (scoring.COVER_WEIGHT).
    clip_seconds: float | None = None
    per_artist: int | None = None
    per_album: int | None = None


@dataclass(frozen=True)
class Found:
    results: list[Result]
    searched: int  # candidate segments examined
    complete: bool  # False if the constraints left fewer than k tracks among everything searched


def run(search: Search, index: SegmentIndex, catalog: Catalog, tags: TagIndex, matcher: TagMatcher) -> Found:
    rule = hard_filter(index, search.constraints, search.exclude_tracks, tags)
    tag_scores = None
    if search.named is not None and search.named.tags and search.tag_weight > 0:
        tag_scores = search.tag_weight * matcher.scores(
            search.named, index.tracks["tag_peaks"], drum_strength(index.tracks["drums"], index.tracks["drums_sfx"])
        )
    # Tracks whose tags or measured feel match the words join the candidates, whatever their similarity.
    evidence = tag_scores
    for feel in search.feels:
        by_feel = feel_match(feel, index.tracks["energy"], index.tracks["mood"])
        evidence = by_feel if evidence is None else evidence + by_feel
    candidates = CandidateSearch(index, search.vector, rule, evidence)
    in_range = tempo_filter(index, search, tags)
    in_tempo: CandidateSearch | None = None  # the range searched apart, once the main search is short of it
    named = search.named.sayable() if search.named is not None and search.tag_weight > 0 else ()
    asked = Asked(search.text, search.constraints, search.clip_cues, search.feels, named)
    main = None
    while True:
        if main is None:
            main = candidates.find()
        found, near = main, None
        if in_tempo is not None:
            near = in_tempo.find()
            found = main.joined(near)
        # The explicit tempo's range ranks first, so it must offer k tracks (or all it has) before the answer
        # may be made of what the unfiltered search found beside it. The in-range segments of the unfiltered
        # search are the range's nearest: only when they are too few is the range searched apart.
        range_short = (
            in_range is not None
            and not (found.exhausted or (near is not None and near.exhausted))
            and _tracks(index, found, in_range, search) < search.k
        )
        if range_short and in_tempo is None:
            in_tempo = CandidateSearch(index, search.vector, in_range, pool=RANGE_POOL)
            continue
        parts = score_parts(
            index,
            found,
            search.constraints,
            tags,
            tag_scores,
            search.feels,
            search.similarity_weight,
            search.clip_seconds,
        )
        scores = parts.total
        picks = capped(index, best_per_track(index, found.rows, scores), search.per_artist, search.per_album)
        # A similarity weight below 1 marks the query vector as a neutral stand-in (Search.similarity_weight).
        scale = match_scale(parts, search.constraints, similarity_asked=search.similarity_weight >= 1.0)
        results = explained(picks, search.k, index, catalog, tags, asked, scale)
        enough = len(results) >= search.k or found.exhausted
        if enough and not range_short:
            return Found(results, found.searched, enough)
        if not enough:
            candidates.wider()
            main = None
        if range_short:
            in_tempo.wider()


def _tracks(index: SegmentIndex, found: Candidates, rule: RowFilter, search: Search) -> int:
    """How many tracks the candidates that pass `rule` offer after the diversity caps."""
    ok = rule.rows(found.rows)
    picks = best_per_track(index, found.rows[ok], found.similarity[ok])
    return len(capped(index, picks, search.per_artist, search.per_album).rows)


def tempo_filter(index: SegmentIndex, search: Search, tags: TagIndex) -> RowFilter | None:
    """The explicit tempo's range as if it were a filter (beside the query's filters), or None."""
    explicit = [c for c in search.constraints if isinstance(c, Tempo) and c.explicit]
    if not explicit:
        return None
    as_filter = [c for c in search.constraints if c.hard] + [dataclasses.replace(c, hard=True) for c in explicit]
    return hard_filter(index, as_filter, search.exclude_tracks, tags)
