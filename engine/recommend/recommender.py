"""Clip + prompt in, ranked tracks with start points out (design.md §3).

`Recommender` holds what queries share (the embedder's ONNX sessions, the clip cache, the tag index and
matcher, the open index) and runs a query in order: the prompt is parsed (`prompt.py`: its constraints
become filters and preferences, only the rest reaches the text encoder), the inputs are encoded into one
query vector (`encode.py`), the stages of `pipeline.py` turn it into results, and `placement.py` moves each
start to where its music lasts the clip. It never rebuilds the index: the engine does that when it opens
and after a scan; a query only reopens the index a scan swapped in.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.embedder import Embedder, Encoded
from engine.errors import NeedledropError
from engine.instruments import DRUM_TAGS
from engine.library import Library
from engine.library.analysis import listens_for_drums
from engine.library.index import SegmentIndex, read_index_info
from engine.media.beats import Beats
from engine.recommend import pipeline
from engine.recommend.clip_cache import CACHE_NAME, ClipCache, ClipEmbedding
from engine.recommend.encode import QueryEncoder, QueryError, unit
from engine.recommend.feel import Feel, picture_feel
from engine.recommend.filters import SUNG
from engine.recommend.pipeline import MAX_K, Search
from engine.recommend.placement import placed
from engine.recommend.prompt import PREFERENCE, Exclude, Tempo, Vocals, parse_prompt
from engine.recommend.result import Recommendation, Result
from engine.recommend.tagmatch import CLEARLY_NAMED, TagMatcher
from engine.tags import TagIndex

__all__ = ["MAX_K", "QueryError", "Recommendation", "Recommender", "Result"]

log = logging.getLogger(__name__)
NO_BEATS = Beats(np.zeros(0), np.zeros(0), 0.0)

TAG_WEIGHT = 8.0  # a sure, perfect tag match outweighs any difference in similarity (tuned on the dev split)
# A prompt of constraints alone ("slow", "under 90 BPM") with no clip: the stand-in query's similarity
# only breaks ties between tracks that meet the preferences alike.
NEUTRAL_SIMILARITY = 0.1


class Recommender:
    """One per library and bundle; safe to call from one worker thread at a time."""

    def __init__(self, library: Library, embedder: Embedder | None = None, *, threads: int | None = None):
        self.library = library
        self.embedder = embedder or Embedder(library.bundle, threads=threads)
        self.cache = ClipCache(library.data_dir / CACHE_NAME)
        self.tags = TagIndex(self.embedder.extractor.tag_names)
        self.matcher = TagMatcher(self.embedder.extractor, self.tags)
        self.encoder = QueryEncoder(library.bundle, self.embedder, self.cache, self.matcher)
        self.tag_weight = TAG_WEIGHT  # 0 ranks by the learned embedding alone (the evaluation compares both)
        self._index: SegmentIndex | None = None

    def encode_clip(self, path: str | os.PathLike[str], start: float = 0.0, end: float | None = None) -> ClipEmbedding:
        return self.encoder.clip(path, start, end)

    def query_vector(self, clip: Encoded | None, text: Encoded | None, balance: float = 0.5) -> np.ndarray:
        return self.encoder.vector(clip, text, balance)

    def index(self) -> SegmentIndex:
        """The current index, reopened when a scan has swapped in a new one (never rebuilt here)."""
        info = read_index_info(self.library.index_dir)
        if self._index is None or info is None or info.file != self._index.info.file:
            self._index = self.library.open_index()
        return self._index

    def _searchable(self) -> SegmentIndex:
        """The index, with each folder marked online or offline as it is now: tracks on a drive unplugged
        since the last scan are left out at once (they are kept, and come back with the drive)."""
        self.library.refresh_roots()
        return self.index()

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
        exclude: Sequence[int] = (),
    ) -> Recommendation:
        """Tracks for a clip (its `start`–`end` range), a prompt, or both, never those in `exclude` (track ids:
        the ones already on an editor's timeline); under a clip, each starts where its music lasts the clip
        (placement.py)."""
        check_limits(k, per_artist, per_album)
        t0 = time.perf_counter()
        parsed = parse_prompt(prompt) if prompt and prompt.strip() else None
        if video is None and parsed is None:
            raise QueryError("a recommendation needs a video clip, a prompt, or both")
        text = parsed.text if parsed else None
        query = self.encoder.encode(video, start, end, text, balance)
        feel = query.feel if query.feel and query.feel.strength > 0 else None
        feels = self._feels(feel, query.clip, balance)
        t1 = time.perf_counter()
        search = Search(
            query.vector,
            k=k,
            constraints=parsed.constraints if parsed else (),
            text=text,
            named=query.words,
            tag_weight=self.tag_weight * (1.0 if query.clip is None else balance),
            clip_cues=query.clip.cues if query.clip else None,
            feels=feels,
            per_artist=per_artist,
            per_album=per_album,
            exclude_tracks=tuple(int(t) for t in exclude),
            similarity_weight=NEUTRAL_SIMILARITY if query.neutral else 1.0,
            # The clip's length as the export measures it: from the in point to the out point or the file's end.
            clip_seconds=query.clip.duration if query.clip is not None else None,
        )
        index = self._searchable()
        found = pipeline.run(search, index, self.library.catalog, self.tags, self.matcher)
        results = self.placed(found.results, search.clip_seconds)
        seconds = {"encode": t1 - t0, "search": time.perf_counter() - t1}
        used = [name for name, part in (("clip", query.clip), ("text", text)) if part]
        notes = self._notes(search.constraints) + self._offline_note(results, k)
        if text and feel is None and query.words.strength < CLEARLY_NAMED and not self._known_words(text):
            # Else a prompt of nonsense, or in a language MiniLM does not read, ranks silently, its top at 100 %.
            notes.append(
                f'no word of "{text}" is one the text model knows, and none names an instrument, genre or feel: '
                "the order is its guess"
            )
        if (
            query.clip is not None
            and end is not None
            and (said := past_end(Path(video).name, query.clip.file_duration, end))
        ):
            notes.append(said)
        unheard = self.unheard_drums(index)
        return Recommendation(
            results, parsed, balance, used, found.searched, found.complete, seconds, feel, notes, unheard
        )

    def _known_words(self, text: str) -> bool:
        """Whether any word of `text` is whole in the text model's vocabulary ("epic", "wedding"): those words
        it read, though no tag or feel names them."""
        backbone = self.matcher.extractor.text_backbone
        return any(backbone.knows(word) for word in re.findall(r"\w+", text))

    def unheard_drums(self, index: SegmentIndex) -> int | None:
        """Tracks in `index` that the first drum detector measured and the network has not heard (not
        listened to yet, or a file it could not decode): that detector alone answers "no drums" for them.
        None where the scan does not listen for drums at all (no network in the bundle, or switched off)."""
        if not listens_for_drums(self.library.bundle):
            return None
        tracks = index.tracks
        return int(np.count_nonzero(np.isnan(tracks["drums_sfx"]) & np.isfinite(tracks["drums"])))

    def _notes(self, constraints) -> list[str]:
        """What in the library makes a constraint pass or rank nothing it should, said once: a voice asked
        for where none was measured, quick tracks left out by a filter or ranked as far from a tempo."""
        notes = []
        wants_voice = [c for c in constraints if isinstance(c, Vocals) and c.hard and c.want != "none"]
        if wants_voice and not np.any(self.index().tracks["vocal_peak"] >= SUNG):
            notes.append(f'"{wants_voice[0].label}": no track in the library was measured as sung')
        # Tempo, vocals and drums of a quick track are left unmeasured (catalog.QUICK_UNMEASURED).
        filters = [
            c
            for c in constraints
            if (c.hard and (isinstance(c, Vocals) or (isinstance(c, Exclude) and c.tag in DRUM_TAGS)))
            or (isinstance(c, Tempo) and c.explicit)
        ]
        quick = self.library.catalog.quick_count(self.library.bundle.id) if filters else 0
        if quick:
            first = next((c for c in filters if c.hard), filters[0])  # what leaves them out, before what ranks
            fate = "this filter leaves out" if first.hard else "rank as if far from this tempo"
            notes.append(
                f'"{first.label.removesuffix(PREFERENCE)}": {quick} tracks have only a quick analysis so far, '
                f"which {fate} until the scan completes them"
            )
        return notes

    def placed(self, results: list[Result], length: float | None) -> list[Result]:
        """Results with the start their music plays from under a clip of `length` seconds (placement.py)."""
        segment = self.library.bundle.manifest.preprocessing.audio.segment_seconds
        return placed(results, self._beats, length, segment)

    def _beats(self, track_id: int) -> Beats:
        """A track's stored beats (found now, once, for a track scanned before beats were stored); none when
        its file cannot be read now: its start is then only kept inside the track."""
        try:
            return self.library.beats(track_id)
        except (NeedledropError, OSError) as exc:
            log.debug("no beats for track %s: %s", track_id, exc)
            return NO_BEATS

    @staticmethod
    def _feels(words: Feel | None, clip: ClipEmbedding | None, balance: float) -> tuple[Feel, ...]:
        """The words' feel and the picture's, each counting as much as the balance gives its side."""
        picture = picture_feel(clip.cues) if clip is not None else None
        if words is None or picture is None:
            return tuple(f for f in (words, picture) if f is not None and f.strength > 0)
        return tuple(f for f in (words.scaled(balance), picture.scaled(1.0 - balance)) if f.strength > 0)

    def similar(
        self,
        track_id: int,
        *,
        start: float | None = None,
        end: float | None = None,
        k: int = 10,
        per_artist: int | None = None,
        per_album: int | None = None,
        length: float | None = None,
    ) -> Recommendation:
        """More like a library track, or like its `start`–`end` part; the track itself is left out. With a
        clip `length`, each starts where its music lasts that long."""
        starts, ends, vectors = self.library.catalog.track_segments(track_id, self.library.bundle.id)
        if not len(vectors):
            raise QueryError(f"track {track_id} has no segments from the current model bundle: rescan the library")
        return self.similar_to(
            starts,
            ends,
            vectors,
            name=f"track {track_id}",
            exclude=(track_id,),
            start=start,
            end=end,
            k=k,
            per_artist=per_artist,
            per_album=per_album,
            length=length,
        )

    def similar_to(
        self,
        starts: np.ndarray,
        ends: np.ndarray,
        vectors: np.ndarray,
        *,
        name: str,
        exclude: tuple[int, ...] = (),
        start: float | None = None,
        end: float | None = None,
        k: int = 10,
        per_artist: int | None = None,
        per_album: int | None = None,
        length: float | None = None,
    ) -> Recommendation:
        """More like music given by its segments (a library track's, or a file's analysed for the question),
        or like its `start`–`end` part."""
        check_limits(k, per_artist, per_album, length)
        chosen = np.ones(len(starts), bool)
        if start is not None or end is not None:
            lo, hi = start or 0.0, end if end is not None else np.inf
            chosen = (starts < hi) & (ends > lo)  # segments overlapping the asked range
            if not chosen.any():
                where = f"after {lo:.1f} s" if end is None else f"between {lo:.1f} and {hi:.1f} s"
                raise QueryError(f"{name} has no audio {where}")
        t0 = time.perf_counter()
        search = Search(
            unit(vectors[chosen].mean(axis=0)),
            k=k,
            exclude_tracks=exclude,
            per_artist=per_artist,
            per_album=per_album,
            clip_seconds=length,
        )
        found = pipeline.run(search, self._searchable(), self.library.catalog, self.tags, self.matcher)
        results = self.placed(found.results, length)
        seconds = {"search": time.perf_counter() - t0}
        notes = self._offline_note(results, k)
        return Recommendation(results, None, 1.0, ["track"], found.searched, found.complete, seconds, notes=notes)

    def _offline_note(self, results: list[Result], k: int) -> list[str]:
        """Why fewer came back than asked when tracks are out of reach: kept, but not offered."""
        if len(results) >= k:
            return []
        offline = [r.display for r in self.library.catalog.roots() if not r.online]
        if not results and offline:
            return [f"no result among the folders online; offline now (drive not plugged in?): {', '.join(offline)}"]
        unreachable = self.library.catalog.out_of_reach()
        if not unreachable:
            return []
        where = f" (offline now: {', '.join(offline)})" if offline else ""
        tracks, are, them = ("1 track", "is", "it") if unreachable == 1 else (f"{unreachable} tracks", "are", "them")
        return [
            f"{len(results)} of the {k} asked: {tracks} of the library out of reach at the last scan or "
            f"now{where} {are} not offered (the library keeps {them})"
        ]


def check_limits(k: int, per_artist: int | None, per_album: int | None, length: float | None = None) -> None:
    if length is not None and not length > 0:
        raise QueryError(f"the clip length must be a positive number of seconds, not {length}")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, not {k}")
    for name, cap in (("per_artist", per_artist), ("per_album", per_album)):
        if cap is not None and cap < 1:
            raise QueryError(f"{name} must be at least 1, not {cap}")


_PAST_END = 1e-3  # an out point this little past the file's end is its end, as a frame's rounding leaves it


def past_end(name: str, duration: float, out_point: float) -> str | None:
    """The note for an out point past the end of the file (the clip ends where the file does); None where it
    is not past it, or the file declares no length (which says nothing of where it ends)."""
    if not 0 < duration < out_point - _PAST_END:
        return None
    return f"{name} is {duration:.2f} s long: the clip ends there, not at the out point {out_point:.2f} s"
