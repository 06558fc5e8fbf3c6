"""`Engine`: the one object the CLI, the local API and the desktop app hold, and the only one they call.

It owns the model bundle, the library (catalog and index), the recommender with its ONNX sessions and clip
cache, and the index's lifecycle: the index is brought up to date when the engine opens and after each scan,
never inside a query. Every operation takes plain values and returns typed records (`engine.records`), so
the three front ends differ only in how they show things.

The recommender is made on first use (its ONNX sessions take a second to load), so `library add` or
`library status` never pay for it. Queries share those sessions and caches: they are serialised by a lock,
so a front end may call from any thread.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

import engine
from engine import instruments, paths
from engine.bundle import Bundle, open_current_bundle
from engine.clock import clock
from engine.collect import Collected, collect, editor_reads, settle
from engine.errors import DecodeError, NeedledropError, TimelineReadError
from engine.export import (
    FORMAT_NAMES,
    Cue,
    ExportError,
    build_timeline,
    check_timeline_name,
    check_timeline_path,
    format_for,
    timeline_text,
    write_timeline,
)
from engine.export.edit import rate_for, start_frame
from engine.export.rates import HIGHEST_FPS, LOWEST_FPS, exact_rate
from engine.export.read import overlapping, read_timeline
from engine.library import CatalogError, IndexMissingError, Library, LibraryError, ScanRunningError
from engine.library.analysis import SkipFile, TrackAnalyzer
from engine.library.files import walk_reaches
from engine.library.roots import root_holding
from engine.media.beats import (
    LEVEL_SET_WITHIN,
    SHORT_TOLD,
    TEMPO_RATIOS,
    fit_to_length,
    music_end,
    music_start,
    tempo_ratio,
    without_music,
)
from engine.media.playback import PlaybackAudio, decode_for_playback
from engine.media.streams import MediaStreams, media_streams
from engine.media.video import VideoInfo, probe_video, thumbnail
from engine.model_details import model_details
from engine.recommend import QueryError, Recommender
from engine.recommend.explain import voice_as_heard
from engine.recommend.pipeline import MAX_K
from engine.recommend.placement import LEAD_IN
from engine.recommend.prompt import PLAUSIBLE_BPM, Constraint, ParsedPrompt, measured_reason, parse_prompt
from engine.recommend.recommender import check_limits, past_end
from engine.records import (
    Beats,
    EngineInfo,
    ExportClip,
    ExportedCue,
    ExportResult,
    Fit,
    ImportedTimeline,
    IndexStatus,
    LibraryStatus,
    Recommendation,
    RootStatus,
    ScanErrorRecord,
    ScanProgress,
    ScanReport,
    ScoredTimeline,
    Track,
)
from engine.reedit import (
    DEFAULT_LOUDNESS,
    DEPTH_DB,
    MAX_LENGTH,
    SILENCE_TOLD,
    Reedit,
    output_beats,
    reedit,
    write_wav,
)
from engine.reedit.duck import keyframes as duck_keyframes
from engine.reedit.duck import speech
from engine.sqlite import DatabaseError

log = logging.getLogger(__name__)


class TrackNotFoundError(NeedledropError):
    """A track asked for by id or path is not in the library."""


class AmbiguousTitleError(TrackNotFoundError):
    """Several tracks are titled like the words a person named a track by: which one is for them to say."""


class InsideLibraryError(NeedledropError):
    """A render or collected music would be written inside a library folder, where the next scan would take
    it for a new track and recommend it."""


def _finite(value: float | None, what: str, *, error: type[NeedledropError] = QueryError) -> None:
    if value is not None and not math.isfinite(value):
        raise error(f"{what} must be a number of seconds, not {value}")


def _frame_rate(value: float | None, what: str, error: type[NeedledropError]) -> None:
    if value is not None and not (math.isfinite(value) and LOWEST_FPS <= value <= HIGHEST_FPS):
        raise error(f"{what} must be between {LOWEST_FPS} and {HIGHEST_FPS} fps, not {value:g}")


def _text(value: str | None, what: str) -> str | None:
    """`value`, refused when it holds bytes that were not valid UTF-8 (Python keeps them as lone surrogates)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryError(f"the {what} is not valid UTF-8 text: retype it, or check the terminal's encoding") from None
    return value


class Engine:
    """Everything under one data folder, for the current model bundle."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        bundle: Bundle | None = None,
        threads: int | None = None,
        prepare_index: bool = True,
    ):
        """Open the bundle (verified) and the library; `prepare_index` rebuilds an index that is missing,
        damaged or out of step with the catalog now, so that no query ever has to."""
        self.data_dir = paths.data_dir(data_dir)
        self.bundle = bundle or open_current_bundle(paths.models_dir())
        self._library = Library(self.data_dir, self.bundle)
        self._threads = threads
        self._recommender: Recommender | None = None
        self._lock = threading.RLock()  # the recommender's sessions and caches serve one query at a time
        if prepare_index:
            self._library.ensure_index()

    def close(self) -> None:
        self._library.catalog.close()

    # ---- the model ----

    @property
    def recommender(self) -> Recommender:
        with self._lock:
            if self._recommender is None:
                self._recommender = Recommender(self._library, threads=self._threads)
            return self._recommender

    def info(self) -> EngineInfo:
        execution = self.recommender.embedder.execution
        return EngineInfo(
            version=engine.__version__,
            bundle_id=self.bundle.id,
            bundle_path=str(self.bundle.path),
            execution=execution.describe(),
            device=execution.device,
            data_dir=str(self.data_dir),
            licences=[f"{item.component}: {item.licence}" for item in self.bundle.manifest.licences],
        )

    def warm_up(self) -> None:
        """Load what a first search needs (backbones load lazily) so that it answers at once."""
        with self._lock:
            recommender = self.recommender
            extractor = recommender.embedder.extractor
            log.info("loaded %s and %s", extractor.frame_backbone.role, extractor.text_backbone.role)
            recommender.encoder.words("music")  # the tag names and the feel anchors are embedded on first use
            with contextlib.suppress(NeedledropError):  # no index yet: the first scan makes one
                recommender.index().prepare()

    # ---- the library ----

    def status(self) -> LibraryStatus:
        raw = self._library.status()
        index = raw.get("index")
        return LibraryStatus(
            bundle_id=self.bundle.id,
            roots=[
                RootStatus(r["path"], r["online"], r["last_scan"], r["tracks"], r.get("offline_tracks", 0))
                for r in raw["roots"]
            ],
            tracks=raw["tracks"],
            audio_hours=raw["audio_hours"],
            segments=raw["segments"],
            errors=raw["errors"],
            stale_tracks=raw["stale_tracks"],
            index=None
            if index is None
            else IndexStatus(index["segments"], index["bundle_id"], index["built_at"], index["current"]),
            scanning=bool(raw.get("scanning", False)),
            quick_tracks=raw["quick_tracks"],
            unheard_drums=raw["unheard_drums"],
        )

    def add_root(self, path: str | os.PathLike[str]) -> RootStatus:
        root = self._library.add_root(path)
        return RootStatus(root.display, root.online, root.last_scan, 0)

    def remove_root(self, path: str | os.PathLike[str]) -> bool:
        """Forget a folder and its tracks (the files are untouched); False if it was not a library folder."""
        return self._library.remove_root(path)

    def scan(
        self,
        *,
        full: bool = False,
        workers: int | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        quick: bool | None = None,
        should_abandon: Callable[[], bool] | None = None,
    ) -> ScanReport:
        """Index new and changed files of every folder, then bring the index up to date; ScanRunningError at
        once if another scan of this library is running (in this process or another).

        New files holding an hour of audio or more, or 200 files or more (or `quick=True`), get a quick pass
        first, which makes each searchable from one window and rebuilds the index, then the full analysis;
        `quick=False` analyses each in full at once.
        `should_stop`: finish the tracks in flight, keep them, build the index. `should_abandon` (quitting):
        stop at once; the tracks in flight are analysed again by the next scan, the index is brought up to
        date when the library is next opened."""
        return self._library.scan(
            full=full,
            workers=workers,
            on_progress=on_progress,
            should_stop=should_stop,
            quick=quick,
            should_abandon=should_abandon,
        )

    def scan_running(self) -> bool:
        """Whether a scan of this library is running now, in this process or another."""
        return self._library.scan_running()

    def tracks(self, limit: int | None = None) -> list[Track]:
        return [self._track(record) for record in self._library.catalog.tracks(limit=limit)]

    def track(self, ref: int | str | os.PathLike[str]) -> Track:
        """A library track by id or by path."""
        track_id = self._track_id(ref)
        record = self._library.catalog.track_details([track_id]).get(track_id)
        if record is None:
            raise TrackNotFoundError(f"there is no track {ref} in the library")
        return self._track(record)

    def set_tempo(
        self, track: int | str | os.PathLike[str], bpm: float | None = None, *, times: Fraction | None = None
    ) -> Track:
        """Set a track's tempo where the scan read another (docs/quality.md, *Tempo*): `bpm`, or `times` the
        tempo it shows now; neither goes back to the measured one. Its list entry, results, tempo filters and
        words, fits and exports then count its beats at that tempo. At a metrical level of the measured tempo
        (its half, double, two thirds...) they are the measured beats counted at it (`at_tempo`); at any other
        tempo, where the scan's grid drifted from the music's, they are followed again from the file, which
        must be there (a second or two for a song)."""
        if bpm is not None and times is not None:
            raise QueryError("give a tempo or a multiple of the one shown, not both")
        info = self.track(track)
        if bpm is None and times is None:  # back to the scan's, whatever it measured since
            return self._tempo_set(info.id, None)
        if info.quick:
            raise QueryError(f"only one window of {info.name} has been analysed so far: set its tempo after the scan")
        # Checked against the beats' own tempo, as `at_tempo` checks it (the track's is rounded to a tenth).
        measured = self._library.measured_beats(info.id).bpm
        if not measured > 0:
            raise QueryError(f"no steady beat was heard in {info.name}: it has no pulse to count at another tempo")
        if times is not None:
            if not (times > 0 and math.isfinite(times)):
                raise QueryError(f"a tempo can be multiplied by a positive number, not {times}")
            bpm = (info.bpm or measured) * float(times)
        _finite(bpm, "the tempo")
        if not self.tempo_settable(bpm):
            raise QueryError(f"a tempo is set between {PLAUSIBLE_BPM[0]} and {PLAUSIBLE_BPM[1]} BPM, not {bpm:g}")
        ratio = tempo_ratio(bpm, measured)
        try:
            return self._tempo_set(info.id, None if ratio == 1 and abs(bpm / measured - 1) < 0.001 else round(bpm, 1))
        except DecodeError as exc:
            within = [measured * r for r in TEMPO_RATIOS if r != 1]
            levels = ", ".join(f"{x:.1f}" for x in within if self.tempo_settable(x))
            raise QueryError(
                f"{bpm:g} BPM is no metrical level of the {measured:.1f} BPM measured in {info.name}, so its beats "
                f"are followed again from the file, which cannot be read now ({exc}). Without it, a tempo within "
                f"{LEVEL_SET_WITHIN:.0%} of {measured:.1f} or of {levels} can be set"
            ) from exc

    def _tempo_set(self, track_id: int, bpm: float | None) -> Track:
        # Not under the queries' lock: they go on with the index as it was while the new one is built (it is
        # swapped in whole), and the next one reads it.
        self._library.set_tempo(track_id, bpm)
        return self.track(track_id)

    def errors(self) -> list[ScanErrorRecord]:
        return [ScanErrorRecord(path, reason, at) for path, reason, at in self._library.catalog.errors()]

    def _track_id(self, ref: int | str | os.PathLike[str]) -> int:
        if isinstance(ref, bool):
            raise TrackNotFoundError(f"{ref!r} is not a track id or path")
        if isinstance(ref, int | np.integer):
            if self._library.catalog.track_file(int(ref)) is None:
                raise TrackNotFoundError(f"there is no track {ref} in the library")
            return int(ref)
        text = os.fspath(ref)
        if isinstance(text, str) and text.isdigit() and not os.path.exists(text):
            return self._track_id(int(text))
        found = self._library.catalog.track_id(text)
        if found is None and not os.path.lexists(text):  # a title, or a typo: tracks are named by id or path here
            raise TrackNotFoundError(
                f"{os.fsdecode(text)} is neither a track id nor a file: find the track's id with `library list` "
                "(`similar` also takes a title)"
            )
        if found is None:
            raise TrackNotFoundError(
                f"{os.fsdecode(text)} is not in the library: add its folder and scan, then ask again"
            )
        return found

    def titled(self, title: str) -> int:
        """The id of the one track titled `title` (any case), or of the one whose title contains it; several
        such tracks is an error that names them. For `similar`, where a person names the track (elsewhere a
        track is an id or a path, never guessed)."""
        found = self._library.catalog.tracks_titled(title, limit=6) if title.strip() else []
        if not found:
            raise TrackNotFoundError(
                f"{title} is not in the library: no such file, and no track is titled like it (`library list`)"
            )
        if len(found) > 1:
            named = "; ".join(f"{t} by {a or 'unknown artist'} (id {i})" for i, t, a in found[:5])
            more = ", and more" if len(found) > 5 else ""
            raise AmbiguousTitleError(f"several tracks are titled like {title!r}: {named}{more}; ask by id")
        return found[0][0]

    @functools.cached_property
    def _reference_analyzer(self) -> TrackAnalyzer:
        return TrackAnalyzer(self._library.bundle, threads=self._threads)

    def _outside_reference(self, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment starts, ends and vectors of a music file from anywhere, analysed now (not added)."""
        try:
            stat = os.stat(path)
            analysed = self._reference_analyzer(os.fsencode(path), stat.st_size, stat.st_mtime_ns)
        except SkipFile as exc:
            raise QueryError(f"{path} cannot be used as a reference: {exc}") from exc
        segments = analysed.segments
        return (
            np.array([s.start for s in segments]),
            np.array([s.end for s in segments]),
            np.stack([np.asarray(s.vector, np.float32) for s in segments]),
        )

    @staticmethod
    def _track(record: dict) -> Track:
        # A quick pass's drums and voice are one window's: not said until the scan completes the track.
        drums = (None, None) if record.get("quick") else (record.get("drums"), record.get("drums_sfx"))
        return Track(
            id=record["id"],
            path=record["path"],
            display=record.get("display", record["path"]),
            title=record["title"],
            artist=record["artist"],
            album=record["album"],
            duration=record["duration"],
            bpm=record["tempo_bpm"],
            key=record["key"],
            loudness_lufs=record.get("loudness_lufs"),
            vocal_score=record["vocal_score"],
            tags=voice_as_heard(
                instruments.said_groups(record["tags"], *drums),
                None if record.get("quick") else record.get("vocal_peak"),
            ),
            online=record["online"],
            segments=record.get("segments", 0),
            energy=record.get("energy"),
            mood=record.get("mood"),
            quick=record.get("quick", False),
            bpm_set=record.get("tempo_set", False),
            bpm_measured=record.get("tempo_measured"),
        )

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
        exclude: Sequence[int | str | os.PathLike[str]] = (),
    ) -> Recommendation:
        """Tracks for a clip (its `start`–`end` range), a prompt, or both, each with its start point: under a
        clip, the one the export writes (`fit`), where the music lasts the whole clip. Never the library tracks
        in `exclude` (ids or paths: those already on the timeline)."""
        _finite(start, "the in point")
        _finite(end, "the out point")
        _finite(balance, "the balance")
        prompt = _text(prompt, "prompt")
        left_out = [self._track_id(track) for track in exclude]  # an unknown one is an error, not ignored
        with self._lock:
            found = self.recommender.recommend(
                video,
                start=start,
                end=end,
                prompt=prompt,
                balance=balance,
                k=k,
                per_artist=per_artist,
                per_album=per_album,
                exclude=left_out,
            )
        return self._unreadable_since(found)

    def similar(
        self,
        track: int | str | os.PathLike[str],
        *,
        start: float | None = None,
        end: float | None = None,
        k: int = 10,
        per_artist: int | None = None,
        per_album: int | None = None,
        length: float | None = None,
    ) -> Recommendation:
        """More like a library track (by id, path or title) or a music file from anywhere (analysed for the
        question, not added to the library: the client's temp track), or like its `start`–`end` part; with
        the `length` of the clip it is for, each starts where its music lasts the clip (as `recommend` does)."""
        _finite(start, "the start")
        _finite(end, "the end")
        _finite(length, "the clip length")
        if start is not None and end is not None and end <= start:
            raise QueryError(f"the part from {start:g} to {end:g} s is empty: the end must come after the start")
        check_limits(k, per_artist, per_album, length)  # before a reference file is analysed for nothing
        limits = {
            "start": start,
            "end": end,
            "k": k,
            "per_artist": per_artist,
            "per_album": per_album,
            "length": length,
        }
        text = None if isinstance(track, int | np.integer) else os.fspath(track)
        known = self._library.catalog.track_id(text) if text is not None else None
        if known is None and text is not None and os.path.isfile(text):
            starts, ends, vectors = self._outside_reference(os.fsdecode(text))
            with self._lock:
                found = self.recommender.similar_to(starts, ends, vectors, name=Path(os.fsdecode(text)).name, **limits)
            return self._unreadable_since(found)
        if known is not None:
            track_id = known
        elif isinstance(text, str) and not text.isdigit() and not os.path.exists(text):
            track_id = self.titled(text)  # neither an id nor a path: a title
        else:
            track_id = self._track_id(track)
        with self._lock:
            found = self.recommender.similar(track_id, **limits)
        return self._unreadable_since(found)

    def _unreadable_since(self, found: Recommendation) -> Recommendation:
        """The results whose file the last scan could not read, said: the library keeps what it had for a
        file that fails (a copy cut short, a sector gone), and the result is offered from that."""
        said = [_unreadable_note(r.path, why) for r in found.results if (why := self._library.catalog.error_of(r.path))]
        return replace(found, notes=found.notes + said) if said else found

    def beats(self, track: int | str | os.PathLike[str]) -> Beats:
        """A track's beats and downbeats: stored by the scan, or found now (and stored) for older scans."""
        return self._library.beats(self._track_id(track))

    def fit(self, track: int | str | os.PathLike[str], *, start: float, length: float) -> Fit:
        """In and out points `length` seconds apart near `start`: on a downbeat near a phrase start, where the
        music lasts the whole length (the same fit as the recommendation's start and the export's)."""
        _finite(start, "the start")
        _finite(length, "the length")
        if length <= 0:
            raise QueryError(f"the length must be positive, not {length}")
        info = self.track(track)
        if start < 0 or start >= info.duration:
            raise QueryError(f"{info.name} is {clock(info.duration)} long: it cannot start at {start:.2f} s")
        return fit_to_length(self._library.beats(info.id), info.duration, start, length)

    def reedit(
        self,
        track: int | str | os.PathLike[str],
        *,
        length: float,
        out: str | os.PathLike[str],
        start: float | None = None,
        loudness: float | None = DEFAULT_LOUDNESS,
        duck: str | os.PathLike[str] | None = None,
        duck_in: float = 0.0,
        duck_db: float = DEPTH_DB,
    ) -> Reedit:
        """The track re-edited on its own bars to exactly `length` seconds from the downbeat nearest `start`
        (default: its first), levelled to `loudness` LUFS (None: as it is), lowered by `duck_db` where
        people speak in the clip `duck` from its `duck_in` on, written to `out` as WAV. The library file is
        only read."""
        _finite(length, "the length")
        if length <= 0:
            raise QueryError(f"the length must be positive, not {length}")
        if length > MAX_LENGTH + _RENDER_SPARE:  # (an export's render asks for its clip and the spare)
            raise QueryError(
                f"a re-edit is at most {clock(MAX_LENGTH)} long, not {clock(length, tenths=True)}: "
                "loop the music in the editor"
            )
        if loudness is not None and not (math.isfinite(loudness) and -70 <= loudness <= 0):
            raise QueryError(f"the loudness target must be between -70 and 0 LUFS, not {loudness}")
        info = self.track(track)
        if start is not None and not 0 <= start < info.duration:
            raise QueryError(f"{info.name} is {clock(info.duration)} long: it cannot start at {start:.2f} s")
        out = Path(out)
        if out.resolve() == Path(info.path).resolve():
            raise QueryError("the re-edit would overwrite its own source: write it to another file")
        if os.path.lexists(out) and (root := root_holding(out, self._library.catalog.roots())) is not None:
            raise InsideLibraryError(
                f"{out.name} is a file in the library folder {root.display}: write the re-edit to another file"
            )
        self._outside_library(out, "the re-edit")
        if out.suffix.lower() != ".wav":  # what is written is WAV, whatever the name says
            raise QueryError(f"the re-edit is written as WAV: name the file .wav, not {out.name}")
        if not out.parent.is_dir():
            raise QueryError(f"cannot write {out.name}: the folder {out.parent} does not exist")
        if not (math.isfinite(duck_db) and -60 <= duck_db <= 0):
            raise QueryError(f"the ducking depth must be between -60 and 0 dB, not {duck_db}")
        _finite(duck_in, "the clip's in point")
        _music_streams(info.path, error=QueryError)  # a track on an unplugged drive, said as the export says it
        beats = self._library.beats(info.id)
        ducked = (os.fspath(duck), duck_in) if duck is not None else None
        try:
            edit = reedit(
                info.path,
                beats,
                start=0.0 if start is None else start,
                length=length,
                loudness=loudness,
                duck=ducked,
                duck_db=duck_db,
            )
        except ValueError as exc:
            raise QueryError(f"{info.name}: {exc}") from exc
        write_wav(edit.samples, edit.rate, out)
        return edit

    def fitted_music(
        self,
        track: int | str | os.PathLike[str],
        *,
        video: str | os.PathLike[str],
        clip_in: float,
        clip_out: float,
        start: float,
        out: str | os.PathLike[str],
        loudness: float | None = DEFAULT_LOUDNESS,
        duck: bool = True,
    ) -> Reedit:
        """The music for one clip exactly as an export with `render` writes it (so the app previews what it
        exports): the track re-edited from `start` to the clip's length, levelled, ducked under the clip's
        speech. A little longer than the clip: the timeline cuts it on the clip's last frame."""
        return self.reedit(
            track,
            length=clip_out - clip_in + _RENDER_SPARE,
            out=out,
            start=start,
            loudness=loudness,
            duck=video if duck else None,
            duck_in=clip_in,
        )

    def _outside_library(self, path: str | os.PathLike[str], what: str) -> None:
        """InsideLibraryError when `path` is in a library folder, online or not, however links reach it, where
        the scan would find it (not under a hidden name, not in the app's own data folder with its previews)."""
        root = root_holding(path, self._library.catalog.roots())
        if root is not None and walk_reaches(Path(os.fsdecode(root.path)).resolve(), Path(os.path.realpath(path))):
            raise InsideLibraryError(
                f"{path} is inside the library folder {root.display}: the next scan would add {what} to the "
                "library as a new track; choose a folder outside the library"
            )

    def edit_beats(self, track: int | str | os.PathLike[str], edit: Reedit) -> Beats:
        """The track's beats and downbeats where a re-edit of it plays them (times in the edit)."""
        return output_beats(self._library.beats(self._track_id(track)), edit.plan)

    @staticmethod
    def tempo_settable(bpm: float) -> bool:
        """Whether `bpm` is a tempo a track can be set to (`set_tempo`): within the tempi a person means."""
        return PLAUSIBLE_BPM[0] <= bpm <= PLAUSIBLE_BPM[1]

    @staticmethod
    def parse_prompt(prompt: str) -> ParsedPrompt:
        """How a prompt will be read: its constraints (the chips), the words left for the model, what is ignored."""
        return parse_prompt(_text(prompt, "prompt") or "")

    @staticmethod
    def model_details() -> dict:
        """What `models info` shows of the current bundle: files, shapes, preprocessing, licences, and where its
        graphs run here (the scan's music backbone and drum network apart, in bfloat16 or int8 where either
        applies)."""
        return model_details(open_current_bundle(paths.models_dir()))

    @staticmethod
    def constraint_reason(constraint: Constraint, unheard_drums: int | None = 0) -> str | None:
        """Why a parsed exclusion or voice filters or only re-ranks, by its held-out figure (None: other kinds);
        `unheard_drums` as the last answer counted them (`Recommendation.unheard_drums`)."""
        return measured_reason(constraint, unheard_drums)

    # ---- media the front ends show ----

    @staticmethod
    def probe(path: str | os.PathLike[str]) -> VideoInfo:
        return probe_video(path)

    @staticmethod
    def thumbnail(path: str | os.PathLike[str], at: float = 0.0, width: int = 160) -> np.ndarray:
        return thumbnail(path, at, width)

    @staticmethod
    def playback_audio(path: str | os.PathLike[str]) -> PlaybackAudio:
        return decode_for_playback(path)

    # ---- timelines ----

    @staticmethod
    def read_timeline(path: str | os.PathLike[str], *, rate: float | None = None) -> ImportedTimeline:
        """An editor's timeline (OTIO, FCP 7 XML, FCPXML, EDL): its picture clips in record order, each with
        its file, in and out, and position; its rate and start timecode; notes on each clip left out.
        `rate`: an EDL's (it states none; default: its first clip's file's)."""
        _frame_rate(rate, "the frame rate", QueryError)
        return read_timeline(path, rate)

    def score_timeline(
        self,
        timeline: ImportedTimeline,
        *,
        prompt: str | None = None,
        balance: float = 0.5,
        video_track: int | None = None,
    ) -> ScoredTimeline:
        """The top recommendation under each picture clip of an editor's cut (of `video_track` only, if
        given), a different track for each, every clip at its own place; `export` writes it back. One picture
        track at a time: clips that overlap are refused before any recommending, not after minutes of it."""
        clips = [c for c in timeline.clips if video_track in (None, c.track)]
        if not clips:
            raise TimelineReadError(f"{timeline.name} has no clip on V{video_track}")
        if (over := overlapping(clips)) is not None:
            raise TimelineReadError(
                f"{over[1].name} on V{over[1].track} overlaps {over[0].name} on V{over[0].track} at "
                f"{over[1].record_timecode}: the music goes under one picture track; choose it (--video-track, "
                "or the API's video_track; 1 is V1)"
            )
        notes = list(timeline.notes)
        edit: list[ExportClip] = []
        for clip in clips:  # a different track under each clip: those chosen already are left out
            chosen = [e.track for e in edit if e.track is not None]
            top = self.recommend(
                clip.video, start=clip.clip_in, end=clip.clip_out, prompt=prompt, balance=balance, k=1, exclude=chosen
            )
            if not top.results:
                notes.append(f"no track in the library fits {clip.name} at {clip.record_timecode}: no music there")
                edit.append(ExportClip(clip.video, clip.clip_in, clip.clip_out, record_in=clip.record_in))
                continue
            best = top.results[0]
            edit.append(
                ExportClip(
                    clip.video,
                    clip.clip_in,
                    clip.clip_out,
                    track=best.track_id,
                    music_start=best.start,
                    record_in=clip.record_in,
                )
            )
        return ScoredTimeline(timeline, clips, edit, notes)

    # ---- export ----

    def export(
        self,
        clips: Sequence[ExportClip],
        *,
        fmt: str | None = None,
        path: str | os.PathLike[str] | None = None,
        name: str = "Needledrop",
        collect: str | os.PathLike[str] | None = None,
        render: bool = False,
        loudness: float | None = DEFAULT_LOUDNESS,
        duck: bool = False,
        start_timecode: str | None = None,
        frame_rate: float | None = None,
        drop_frame: bool = False,
    ) -> ExportResult:
        """The edit as a timeline: written to `path` (its suffix names the format unless `fmt` does), or
        returned as text when there is no path. Every clip is checked before anything is written.

        With `collect`, the chosen music is gathered into that folder (copied, or transcoded to WAV where
        the format's editors cannot import the file) and the timeline points there. With `render`, each
        clip's music is re-edited to the clip's length (`reedit`, levelled to `loudness`) into that folder
        (default: one named after the timeline, beside it) and the timeline uses those WAVs; with `duck`
        too, lowered where people speak in the clip. With `duck` alone, the music gets volume keyframes
        there instead (FCPXML). Clips with a `record_in` sit there (gaps kept); the timeline starts at
        `start_timecode` ("01:00:00:00", counted at its rate; default zero). The timeline runs at `frame_rate`
        (`drop_frame` timecode) where given, as a read timeline's does, else at its first clip's rate."""
        if path is None and fmt is None:
            raise ExportError("say which timeline format to write (otio, fcp7, fcpx or edl)")
        _frame_rate(frame_rate, "the timeline's frame rate", ExportError)
        if path is not None and Path(path).is_dir():
            example = Path(path) / "edit.otio"
            raise ExportError(f"{path} is a folder: name the timeline file to write in it, e.g. {example}")
        fmt = format_for(path if path is not None else "", fmt)
        check_timeline_name(name)
        if path is not None:  # before anything is rendered or collected for it
            check_timeline_path(Path(path), fmt)
        folder = _music_folder(path, collect, render, fmt)
        if folder is not None:
            self._outside_library(folder, "each file the export writes there")
        notes: list[str] = []
        cues = [self._cue(clip, notes, fitted_later=render) for clip in clips]
        rate = exact_rate(frame_rate, drop_frame=drop_frame) if frame_rate is not None else None
        if start_timecode is not None:  # refused before minutes of rendering, not after
            start_frame(start_timecode, rate_for(cues, fmt, rate))
        if render and fmt != "edl":
            cues, collect = self._rendered(cues, folder, loudness, duck, notes), None  # WAVs every editor reads
        if duck and not render and fmt != "edl":
            cues = _ducked(cues, fmt, notes)
        if collect is not None and fmt != "edl":  # an EDL carries no music to collect
            cues = _collected(cues, collect, fmt, notes)
        else:
            cues = _unreadable(cues, fmt, notes)
        built = build_timeline(cues, fmt, name=name, start_timecode=start_timecode, rate=rate)
        notes = built.notes + notes
        exported = [_exported(cue) for cue in cues]
        rate = float(built.rate.fps)
        if path is None:
            content = timeline_text(built.timeline, fmt)
            return ExportResult(fmt, rate, exported, content=content, notes=notes)
        written = write_timeline(built.timeline, path, fmt)
        return ExportResult(fmt, rate, exported, path=str(written), notes=notes)

    def _rendered(
        self, cues: list[Cue], folder: str | os.PathLike[str], loudness: float | None, duck: bool, notes: list[str]
    ) -> list[Cue]:
        """Each clip's music re-edited to the clip's length, as a WAV in `folder`, the cue pointing at it."""
        for cue in cues:  # every clip checked before any is rendered, which can take minutes
            if cue.music is not None and cue.length > MAX_LENGTH:
                raise ExportError(
                    f"{Path(cue.video).name}: a re-edit is at most {clock(MAX_LENGTH)} long, not "
                    f"{clock(cue.length, tenths=True)}: export it without render and loop the music in the editor"
                )
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot make the folder {folder} for the fitted music: {exc.strerror or exc}") from exc
        out = []
        for number, cue in enumerate(cues, 1):
            if cue.music is None:
                out.append(cue)
                continue
            made = folder / f".needledrop-{os.getpid()}-{threading.get_ident()}-{number:02d}.wav"
            try:
                edit = self.fitted_music(
                    cue.track_id,
                    video=cue.video,
                    clip_in=cue.clip_in,
                    clip_out=cue.clip_out,
                    start=cue.music_start,
                    out=made,
                    loudness=loudness,
                    duck=duck,
                )
                target = settle(made, f"{number:02d} {Path(cue.music).stem} ({cue.length:.2f} s).wav")
            except QueryError as exc:
                raise ExportError(str(exc)) from exc
            except OSError as exc:
                made.unlink(missing_ok=True)
                raise ExportError(f"cannot write the fitted music into {folder}: {exc.strerror or exc}") from exc
            length = len(edit.samples) / edit.rate
            joins = len(edit.plan.joins)
            notes.append(
                f"{cue.title} fitted to {Path(cue.video).name}: {joins} join{'s' * (joins != 1)}, "
                f"{'its own ending' if edit.plan.ending == 'natural' else 'a fade-out'}"
                + (f", {edit.level.loudness:.1f} LUFS" if edit.level else "")
                + (f", ducked under {_stretches(len(edit.ducking.speech))} of speech" if edit.ducking else "")
                + (f"; its last {edit.silent_tail:.1f} s are silent" if edit.silent_tail >= SILENCE_TOLD else "")
            )
            out.append(
                replace(
                    cue,
                    music=str(target),
                    music_duration=length,
                    music_start=0.0,
                    title=f"{cue.title} (fitted)",
                    beats=output_beats(cue.beats, edit.plan) if cue.beats is not None else None,
                    music_streams=media_streams(target),
                )
            )
        return out

    def _cue(self, clip: ExportClip, notes: list[str], *, fitted_later: bool = False) -> Cue:
        video = os.fspath(clip.video)
        label = Path(video).name
        times = ((clip.clip_in, "in point"), (clip.clip_out, "out point"), (clip.music_start, "start"))
        for value, what in (*times, (clip.record_in, "timeline position")):
            _finite(value, f"{label}: the {what}", error=ExportError)
        if clip.record_in is not None and clip.record_in < 0:
            raise ExportError(f"{label}: the timeline position must be 0 or more, not {clip.record_in:g} s")
        info = probe_video(video)
        clip_out = info.duration if clip.clip_out is None else min(clip.clip_out, info.duration)
        if clip.clip_in < 0 or clip_out <= clip.clip_in:
            raise ExportError(
                f"{label}: the clip from {clip.clip_in:.2f} to {clip_out:.2f} s is empty "
                f"(the file is {info.duration:.2f} s long)"
            )
        if clip.clip_out is not None and (said := past_end(label, info.duration, clip.clip_out)):
            notes.append(said)
        cue = Cue(
            video, info.duration, clip.clip_in, clip_out, video_streams=media_streams(video), record_in=clip.record_in
        )
        if clip.track is None:
            return cue
        track = self.track(clip.track)
        start = 0.0 if clip.music_start is None else clip.music_start
        if not 0 <= start < track.duration:
            raise ExportError(f"{track.name} is {clock(track.duration)} long: the music cannot start at {start:.2f} s")
        reason = self._library.catalog.error_of(track.path)
        if reason and (said := _unreadable_note(track.path, reason)) not in notes:  # once per track
            notes.append(said)
        beats = self._library.beats(track.id)  # the track is known: no second look-up
        if clip.fit:  # the recommendation placed its start with this same fit: a start it gave stays put
            given, start = start, fit_to_length(beats, track.duration, start, cue.length).start
            notes += _moved(track.name, label, given, start, beats, track.duration, cue.length)
        if not fitted_later:
            notes += _music_late(track.name, label, beats, start, cue.length)
            notes += _music_short(track.name, label, start + cue.length - track.duration, beats, start, cue.length)
        return replace(
            cue,
            music=track.path,
            music_duration=track.duration,
            music_start=start,
            title=track.name,
            beats=beats,
            track_id=track.id,
            music_streams=_music_streams(track.path, error=ExportError),
        )


def _stretches(count: int) -> str:
    return f"{count} stretch" + ("es" if count != 1 else "")


def _unreadable_note(path: str, reason: str) -> str:
    return (
        f"{Path(path).name} could not be read at the last scan ({reason}): what is offered is from its analysis "
        "before; check the file, then scan again"
    )


_RENDER_SPARE = 0.1  # seconds of fitted music past the clip's end, for the timeline to cut on its frame


def _music_folder(
    path: str | os.PathLike[str] | None, collect: str | os.PathLike[str] | None, render: bool, fmt: str
) -> str | os.PathLike[str] | None:
    """Where an export writes music: the collect folder, else for a render the folder beside the timeline;
    None where it writes none (an EDL carries no music)."""
    if fmt == "edl" or not (render or collect is not None):
        return None
    return collect if collect is not None else _beside(path)


def _beside(path: str | os.PathLike[str] | None) -> Path:
    """The folder for a timeline's fitted music: beside the timeline, named after it."""
    if path is None:
        raise ExportError("say where to write the fitted music: a folder to collect it in")
    return Path(path).with_name(f"{Path(path).stem} music")


def _ducked(cues: list[Cue], fmt: str, notes: list[str]) -> list[Cue]:
    """The music's volume keyframes where people speak in each clip, for the editor to keep or adjust."""
    out = []
    for cue in cues:
        if cue.music is None:
            out.append(cue)
            continue
        regions = speech(cue.video, cue.clip_in, cue.clip_out)
        out.append(replace(cue, volume=tuple(duck_keyframes(regions, cue.length))))
    if fmt == "otio":
        notes.append(
            "ducking is written as volume keyframes in FCPXML and FCP 7 XML; OTIO keeps them only as metadata: "
            "export with --render to hear it"
        )
    return out


def _music_streams(path: str, *, error: type[NeedledropError]) -> MediaStreams:
    """A library track's streams; `error` when the file is gone, which for a file the scan read is most
    often a drive that is not plugged in (export and fit say it alike)."""
    try:
        return media_streams(path)
    except DecodeError as exc:
        if os.path.exists(path):  # there, but no longer readable: a damaged file, not a drive
            raise
        raise error(f"{Path(path).name} cannot be read now ({exc}): is its drive plugged in?") from exc


def _collected(cues: list[Cue], folder: str | os.PathLike[str], fmt: str, notes: list[str]) -> list[Cue]:
    """The cues with their music gathered into `folder`, each file once."""
    done: dict[str, Collected] = {}
    for cue in cues:
        if cue.music is not None and cue.music not in done:
            done[cue.music] = collect(cue.music, folder, fmt)
    converted = sorted({Path(c.source).name for c in done.values() if c.transcoded})
    if converted:
        notes.append(
            f"{', '.join(converted)}: {FORMAT_NAMES[fmt]}'s editors cannot import "
            f"{'this format' if len(converted) == 1 else 'these formats'}, so the timeline uses lossless WAV "
            f"copies in {folder}"
        )
    return [replace(c, music=done[c.music].path) if c.music is not None else c for c in cues]


def _unreadable(cues: list[Cue], fmt: str, notes: list[str]) -> list[Cue]:
    """Say which music the format's editors cannot import as it is (collecting would convert it)."""
    if fmt == "edl":
        if any(c.music is not None for c in cues):
            notes.append("an EDL carries the picture cut only: export OTIO, FCP 7 XML or FCPXML for the music")
        return cues
    names = sorted({Path(c.music).name for c in cues if c.music is not None and not editor_reads(c.music, fmt)})
    if names:
        notes.append(
            f"{', '.join(names)}: {FORMAT_NAMES[fmt]}'s editors cannot import this format; export again with "
            "the music collected to get lossless WAV copies the timeline points at"
        )
    return cues


def _moved(
    name: str, label: str, given: float, start: float, beats: Beats, duration: float, length: float
) -> list[str]:
    """The note for a fitted start the music forced away from the one given (a move to a downbeat or a phrase
    start goes unsaid): the music would not have lasted the clip, or had not begun."""
    if abs(start - given) <= SHORT_TOLD:
        return []
    if given < music_start(beats) - LEAD_IN:
        why = "its first beat comes after that, past silence or an intro"
    elif given + length > music_end(beats, duration):
        why = f"from there its music would not last the clip from {label}"
    else:
        return []
    moved = f"{name} starts at {clock(start, tenths=True)}, not {clock(given, tenths=True)}"
    return [f"{moved}: {why} (without fitting, the start given stays)"]


def _music_late(name: str, label: str, beats: Beats, start: float, length: float) -> list[str]:
    """The note for music whose first beat comes well into the clip (a start in the silence before it)."""
    late = music_start(beats) - start
    if late < LEAD_IN:
        return []
    if late >= length:
        return [f"{name} has no beat under the clip from {label}: its first comes after the clip ends"]
    return [f"the first beat of {name} comes {late:.1f} s into the clip from {label}: before it, silence or an intro"]


def _music_short(name: str, label: str, file_short: float, beats: Beats, start: float, length: float) -> list[str]:
    """The note for music that ends before the clip does: where its music ends (a fade, a ring-out or
    silence after it in the file), else where the file does; none when it lasts."""
    missing = without_music(beats, start, length)
    if missing >= max(file_short, 0.0) + SHORT_TOLD:
        return [
            f"the music of {name} ends {missing:.1f} s before the clip from {label} does: "
            "the rest of the clip has only its fade, ring-out or silence"
        ]
    if file_short > 1e-6:
        return [f"{name} ends {file_short:.1f} s before the clip from {label} does: the rest of the clip has no music"]
    return []


def _exported(cue: Cue) -> ExportedCue:
    if cue.music is None:
        return ExportedCue(cue.video, cue.clip_in, cue.clip_out, None, None, None, None, cue.record_in)
    end = min(cue.music_start + cue.length, cue.music_duration)
    return ExportedCue(
        cue.video,
        cue.clip_in,
        cue.clip_out,
        cue.track_id,
        cue.music,
        round(cue.music_start, 3),
        round(end, 3),
        cue.record_in,
    )


# The errors a front end tells apart, so that none needs to import the engine's internals.
__all__ = [
    "DEFAULT_LOUDNESS",
    "DEPTH_DB",
    "MAX_K",
    "MAX_LENGTH",
    "PLAUSIBLE_BPM",
    "SILENCE_TOLD",
    "CatalogError",
    "DatabaseError",
    "Engine",
    "ExportError",
    "IndexMissingError",
    "InsideLibraryError",
    "LibraryError",
    "QueryError",
    "ScanRunningError",
    "TimelineReadError",
    "TrackNotFoundError",
]
