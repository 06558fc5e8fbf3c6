"""Clip + prompt in, ranked tracks with start points out (design.md §3).

The prompt is parsed first: its constraints become filters and penalties on stored values, and only the
rest reaches the text encoder. Clip and words are fused by the bundle's fusion head; the balance slider
moves the query from the clip alone (0) through the fused query (0.5) to the words alone (1). Annoy
proposes segments, their exact similarity orders them, constraints filter and re-rank them, and each
track is represented by its best segment, whose start is where the needle drops.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.embedder import Embedder, Encoded
from engine.errors import NeedledropError
from engine.library import Library
from engine.library.index import SegmentIndex, read_index_info
from engine.recommend.clip_cache import CACHE_NAME, ClipCache, ClipEmbedding, clip_key
from engine.recommend.explain import named_tags, segment_tags, why
from engine.recommend.filters import RowFilter, TagIndex, soft_penalty, track_mask
from engine.recommend.prompt import Constraint, ParsedPrompt, Tempo, parse_prompt
from engine.recommend.tagmatch import TagMatcher, TagQuery

MAX_K = 200
FIRST_POOL = 400  # candidate segments looked at first; grown fourfold while fewer than k tracks survive
MAX_POOL = 102_400
# Exact search instead of Annoy when a filter leaves few segments: scattered ones are gathered (a few ms for
# this many), a tempo range is a contiguous block of the index (its rows are in tempo order: 10 ms per 340k).
EXACT_ROWS = 60_000
EXACT_BLOCK = 400_000
TAG_WEIGHT = 8.0  # a sure, perfect tag match outweighs any difference in similarity (tuned on the dev split)
TAG_CANDIDATES = 64  # tracks drawn by their tags alone, beside the embedding's nearest segments
NEUTRAL_TEXT = "music"  # embedded when a prompt holds only constraints and there is no clip


class QueryError(NeedledropError):
    """A recommendation request that cannot be answered as asked (the message says why)."""


@dataclass(frozen=True)
class Result:
    track_id: int
    path: str
    title: str | None
    artist: str | None
    album: str | None
    score: float  # similarity after preferences; comparable within one query only
    start: float  # the best segment, seconds into the track
    end: float
    duration: float  # of the whole track
    bpm: float | None  # of the best segment
    tags: list[str]  # the segment's clearest tags
    why: str


@dataclass
class Recommendation:
    results: list[Result]
    prompt: ParsedPrompt | None
    balance: float
    used: list[str]  # "clip", "text": what the query was made of
    searched: int  # candidate segments examined
    complete: bool  # False if the constraints left fewer than k tracks among everything searched
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        prompt = None
        if self.prompt is not None:
            prompt = {
                "text": self.prompt.text,
                "constraints": [{"kind": type(c).__name__.lower(), **asdict(c)} for c in self.prompt.constraints],
                "ignored": list(self.prompt.ignored),
            }
        return {
            "results": [asdict(r) for r in self.results],
            "prompt": prompt,
            "balance": self.balance,
            "used": self.used,
            "searched": self.searched,
            "complete": self.complete,
            "seconds": self.seconds,
        }


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return _unit((1 - t) * a + t * b)


class Recommender:
    """One per library and bundle; safe to call from one worker thread at a time."""

    def __init__(self, library: Library, embedder: Embedder | None = None, *, threads: int | None = None):
        self.library = library
        self.embedder = embedder or Embedder(library.bundle, threads=threads)
        self.cache = ClipCache(library.data_dir / CACHE_NAME)
        self.tags = TagIndex(self.embedder.extractor.tag_names)
        self.matcher = TagMatcher(self.embedder.extractor, self.tags)
        self.tag_weight = TAG_WEIGHT  # 0 ranks by the learned embedding alone (the evaluation compares both)
        self._index: SegmentIndex | None = None
        self._encode_text = lru_cache(maxsize=256)(self._encode_text_uncached)

    def encode_words(self, text: str) -> tuple[Encoded, TagQuery]:
        """A prompt's text (constraints already parsed out) through the text head, and the tags it names."""
        return self._encode_text(text)

    def _encode_text_uncached(self, text: str) -> tuple[Encoded, TagQuery]:
        (tokens,), sentences = self.embedder.extractor.text_with_sentences([text])
        return self.embedder.encode_prompt_tokens(tokens), self.matcher.query(sentences[0])

    # ---- inputs ----

    def encode_clip(self, path: str | os.PathLike[str], start: float = 0.0, end: float | None = None) -> ClipEmbedding:
        """The clip between `start` and `end` seconds through the video head, from the cache when it can be."""
        if start < 0 or (end is not None and end <= start):
            raise QueryError(f"clip range {start}–{end} s is empty or negative: the out point must follow the in point")
        if not Path(path).is_file():
            raise QueryError(f"no such video file: {path}")
        key = clip_key(path, start, end, self.library.bundle.id)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        features = self.embedder.extractor.clip(path, start, end)
        names = self.library.bundle.manifest.preprocessing.video.cues
        cues = {name: float(v) for name, v in zip(names, features.cues.mean(axis=0))}
        stop = features.duration if end is None else min(end, features.duration)
        clip = ClipEmbedding(self.embedder.encode_clip_features(features), cues, stop - start, features.duration)
        self.cache.put(key, clip)
        return clip

    def query_vector(self, clip: Encoded | None, text: Encoded | None, balance: float = 0.5) -> np.ndarray:
        """The fused query; with both inputs, `balance` slides from the picture alone (0) to the words alone (1)."""
        if not 0.0 <= balance <= 1.0:
            raise QueryError(f"balance must be between 0 (picture only) and 1 (words only), not {balance}")
        if clip is None or text is None:
            return _unit(self.embedder.query(clip, text))
        both = _unit(self.embedder.query(clip, text))
        if balance < 0.5:
            return _blend(_unit(self.embedder.query(clip, None)), both, balance / 0.5)
        return _blend(both, _unit(self.embedder.query(None, text)), (balance - 0.5) / 0.5)

    # ---- queries ----

    def recommend(
        self,
        video: str | os.PathLike[str] | None = None,
        *,
        start: float = 0.0,
        end: float | None = None,
        prompt: str | None = None,
        balance: float = 0.5,
        k: int = 10,
        per_artist: int | None = None,
        per_album: int | None = None,
    ) -> Recommendation:
        """Tracks for a clip (its `start`–`end` range), a prompt, or both."""
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        parsed = parse_prompt(prompt) if prompt and prompt.strip() else None
        if video is None and parsed is None:
            raise QueryError("a recommendation needs a video clip, a prompt, or both")
        clip = self.encode_clip(video, start, end) if video is not None else None
        t1 = time.perf_counter()
        text = parsed.text if parsed else None
        if text is None and clip is None:
            text = NEUTRAL_TEXT  # only constraints were given: they do the choosing
        words, tag_query = self._encode_text(text) if text else (None, None)
        query = self.query_vector(clip.encoded if clip else None, words, balance)
        t2 = time.perf_counter()
        named = tag_query if parsed and parsed.text else None
        results, searched, complete = self.search(
            query,
            k=k,
            constraints=parsed.constraints if parsed else (),
            text=parsed.text if parsed else None,
            tag_query=named,
            tag_weight=self.tag_weight * (1.0 if clip is None else balance),
            clip_cues=clip.cues if clip else None,
            per_artist=per_artist,
            per_album=per_album,
        )
        seconds.update(clip=t1 - t0, prompt=t2 - t1, search=time.perf_counter() - t2)
        used = [name for name, part in (("clip", clip), ("text", parsed and parsed.text)) if part]
        return Recommendation(results, parsed, balance, used, searched, complete, seconds)

    def similar(
        self,
        track: str | os.PathLike[str] | int,
        *,
        start: float | None = None,
        end: float | None = None,
        k: int = 10,
        per_artist: int | None = None,
        per_album: int | None = None,
    ) -> Recommendation:
        """More like a library track (by path or id), or like its `start`–`end` part; the track itself is left out."""
        track_id = track if isinstance(track, int) else self.library.catalog.track_id(track)
        if track_id is None:
            raise QueryError(f"{track} is not in the library: add its folder and scan, then ask again")
        starts, ends, vectors = self.library.catalog.track_segments(track_id, self.library.bundle.id)
        if not len(vectors):
            raise QueryError(f"track {track} has no segments from the current model bundle: rescan the library")
        chosen = np.ones(len(starts), bool)
        if start is not None or end is not None:
            lo, hi = start or 0.0, end if end is not None else float(ends.max())
            chosen = (starts < hi) & (ends > lo)  # segments overlapping the asked range
            if not chosen.any():
                raise QueryError(f"track {track} has no audio between {lo:.1f} and {hi:.1f} s")
        t0 = time.perf_counter()
        query = _unit(vectors[chosen].mean(axis=0))
        results, searched, complete = self.search(
            query, k=k, exclude_tracks=(track_id,), per_artist=per_artist, per_album=per_album
        )
        return Recommendation(results, None, 1.0, ["track"], searched, complete, {"search": time.perf_counter() - t0})

    def index(self) -> SegmentIndex:
        """The current index, reopened when a scan has swapped in a new one."""
        info = read_index_info(self.library.index_dir)
        if self._index is None or info is None or info.file != self._index.info.file:
            self._index = self.library.open_index()
        return self._index

    def search(
        self,
        query: np.ndarray,
        *,
        k: int = 10,
        constraints: tuple[Constraint, ...] | list[Constraint] = (),
        text: str | None = None,
        tag_query: TagQuery | None = None,
        tag_weight: float = 0.0,
        clip_cues: dict[str, float] | None = None,
        exclude_tracks: tuple[int, ...] = (),
        per_artist: int | None = None,
        per_album: int | None = None,
    ) -> tuple[list[Result], int, bool]:
        """The best `k` tracks for a query vector: (results, candidate segments examined, complete).

        `tag_query` (the tags the words name) adds `tag_weight` times each track's tag match to its score
        and draws the best-matching tracks into the candidates.
        """
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, not {k}")
        for name, cap in (("per_artist", per_artist), ("per_album", per_album)):
            if cap is not None and cap < 1:
                raise QueryError(f"{name} must be at least 1, not {cap}")
        index = self.index()
        rule = self._filter(index, constraints, exclude_tracks)
        exact = False  # search the passing rows exactly rather than Annoy's proposals
        passing = len(index)
        if rule is not None:
            passing = round(rule.fraction() * len(index))
            block = rule.block
            exact = passing <= EXACT_ROWS or (block is not None and block.stop - block.start <= EXACT_BLOCK)
        tag_scores = None
        if tag_query is not None and tag_query.tags and tag_weight > 0:
            tag_scores = tag_weight * self.matcher.scores(tag_query, index.tracks["tag_peaks"])
        pool = FIRST_POOL
        while True:
            rows, similarity, exhausted = self._candidates(index, query, pool, rule, exact)
            if tag_scores is not None:
                rows, similarity = self._add_tag_candidates(index, query, rows, similarity, tag_scores, rule)
            picks = self._best_segments(index, rows, similarity, constraints, tag_scores)
            chosen = self._diverse(index, picks, k, per_artist, per_album)
            results = self._results(chosen, k, constraints, text, clip_cues)
            if len(results) >= k or exhausted:
                return results, min(pool, passing), len(results) >= k or exhausted
            if rule is not None and not exact:
                exact = True  # the filter removes the query's neighbourhood: search what passes exactly
            else:
                pool *= 4

    def _filter(self, index, constraints, exclude_tracks) -> RowFilter | None:
        """The hard constraints and excluded tracks as a test on index rows (None when nothing is excluded)."""
        hard = [c for c in constraints if c.hard]
        if not hard and not exclude_tracks:
            return None
        tracks_ok = None
        if any(not isinstance(c, Tempo) for c in hard) or exclude_tracks:
            tracks_ok = track_mask(hard, index.tracks, self.tags)
            if exclude_tracks:
                tracks_ok &= ~np.isin(index.tracks["track"], exclude_tracks)
        return RowFilter(index, tracks_ok, hard)

    def _candidates(self, index, query, pool, rule, exact) -> tuple[np.ndarray, np.ndarray, bool]:
        """About `pool` nearest allowed rows and their similarity, and whether none are left beyond them."""
        if rule is None:
            rows, similarity = index.nearest_rows(query, pool)
            return rows, similarity, pool >= len(index) or pool >= MAX_POOL
        if exact:
            rows, similarity = rule.exact(query, pool, EXACT_ROWS)
            return rows, similarity, len(rows) < pool or pool >= MAX_POOL
        # Widen the pool by how much the filters remove, so that about `pool` candidates survive them.
        wide = min(len(index), int(np.ceil(pool / max(rule.fraction(), 1e-9))))
        rows, similarity = index.nearest_rows(query, wide)
        keep = rule.rows(rows)
        return rows[keep], similarity[keep], wide >= len(index)

    def _add_tag_candidates(self, index, query, rows, similarity, tag_scores, rule):
        """The rows of the `TAG_CANDIDATES` allowed tracks whose tags match best, merged into the candidates."""
        scores = tag_scores if rule is None or rule.tracks_ok is None else np.where(rule.tracks_ok, tag_scores, -np.inf)
        count = min(TAG_CANDIDATES, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.isfinite(scores[best]) & (scores[best] > 0)]
        extra = index.rows_of_tracks(best)
        if rule is not None:
            extra = extra[rule.rows(extra)]
        extra = np.setdiff1d(extra, rows)
        if not len(extra):
            return rows, similarity
        return np.concatenate([rows, extra]), np.concatenate([similarity, index.vectors[extra] @ query])

    def _best_segments(self, index, rows, similarity, constraints, tag_scores) -> list[tuple[int, float]]:
        """(row, score) of each track's best candidate segment, best track first."""
        if not len(rows):
            return []
        segments = index.rows[rows]
        track_rows = index.row_tracks[rows]
        score = similarity - soft_penalty(constraints, segments, index.tracks[track_rows], self.tags)
        if tag_scores is not None:
            score = score + tag_scores[track_rows]
        order = np.argsort(-score, kind="stable")
        _, first = np.unique(segments["track"][order], return_index=True)  # each track's best, by position
        best = order[np.sort(first)]
        return [(int(r), float(s)) for r, s in zip(rows[best], score[best])]

    def _diverse(self, index, picks, k, per_artist, per_album) -> list[tuple[int, float]]:
        """Apply the per-artist and per-album caps (unknown artists and albums are never capped)."""
        if per_artist is None and per_album is None:
            return picks
        counts: Counter = Counter()
        out = []
        for row, score in picks:
            track = index.tracks[index.row_tracks[row]]
            keys = [(f, int(track[f]), cap) for f, cap in (("artist", per_artist), ("album", per_album)) if cap]
            if any(key and counts[(f, key)] >= cap for f, key, cap in keys):
                continue
            counts.update((f, key) for f, key, _ in keys if key)
            out.append((row, score))
        return out

    def _results(self, picks, k, constraints, text, clip_cues) -> list[Result]:
        """Results for the picks in order, skipping tracks on offline drives, until there are `k`."""
        index = self._index
        asked = named_tags(text, self.tags)
        out: list[Result] = []
        for begin in range(0, len(picks), 2 * k):
            batch = picks[begin : begin + 2 * k]
            segment_ids = [int(index.rows["segment"][row]) for row, _ in batch]
            track_ids = [int(index.rows["track"][row]) for row, _ in batch]
            tracks = self.library.catalog.track_details(track_ids)
            segments = self.library.catalog.segment_details(segment_ids)
            for (_, score), segment_id, track_id in zip(batch, segment_ids, track_ids):
                track, segment = tracks.get(track_id), segments.get(segment_id)
                if track is None or segment is None or not track["online"]:
                    continue
                explanation = why(
                    asked=asked,
                    constraints=constraints,
                    segment=segment,
                    track=track,
                    tags=self.tags,
                    clip_cues=clip_cues,
                )
                out.append(
                    Result(
                        track_id=track_id,
                        path=track["path"],
                        title=track["title"],
                        artist=track["artist"],
                        album=track["album"],
                        score=round(score, 4),
                        start=round(segment["start"], 2),
                        end=round(segment["end"], 2),
                        duration=round(track["duration"], 2),
                        bpm=segment["tempo_bpm"] or track["tempo_bpm"],
                        tags=segment_tags(segment["tags"], self.tags),
                        why=explanation,
                    )
                )
                if len(out) == k:
                    return out
        return out
