"""The music library: roots on disk, the catalog of tracks and segment vectors, and the index over them."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine import affect, instruments
from engine.bundle import Bundle, load_bundle
from engine.errors import BundleError, DecodeError, NeedledropError
from engine.features import FeatureExtractor
from engine.library.analysis import drum_sfx_key, listens_for_drums
from engine.library.catalog import CATALOG_NAME, Catalog
from engine.library.errors import CatalogError, LibraryError, ScanRunningError
from engine.library.index import (
    IndexMissingError,
    IndexWriteError,
    SegmentIndex,
    build_index,
    index_damage,
    read_index_info,
)
from engine.library.locks import build_lock, scan_lock, scan_running
from engine.library.records import Root
from engine.library.roots import check_new_root, root_is_online
from engine.library.scanner import Scanner, ScanProgress, ScanReport
from engine.media.beats import LEVEL_SET_WITHIN, Beats, at_tempo, heard_span, tempo_ratio, track_beats
from engine.sqlite import DatabaseError
from engine.tags import TagIndex

__all__ = [
    "Catalog",
    "CatalogError",
    "IndexMissingError",
    "IndexWriteError",
    "Library",
    "LibraryError",
    "Root",
    "ScanProgress",
    "ScanReport",
    "ScanRunningError",
]

log = logging.getLogger(__name__)

AFFECT_BATCH = 2000  # segments filled in per transaction
SFX_DRUMS_BATCH = 2000  # tracks whose q is measured per transaction (their embeddings: 4 MB)


class Library:
    """Everything under one data folder, for one model bundle.

    Several processes may open the same data folder: one scan runs at a time (a second raises
    ScanRunningError), and index builds wait for each other. Opening the index never builds it, so a query
    never waits for a build: `ensure_index` (when the engine opens, and after scans) does that.
    """

    def __init__(self, data_dir: Path, bundle: Bundle):
        self.data_dir = Path(data_dir)
        self.bundle = bundle
        self.catalog = Catalog.in_data_dir(self.data_dir)
        self.index_dir = self.data_dir / "index"
        self._date_an_empty_catalog()
        self.adopt_equivalent_analyses()

    def _date_an_empty_catalog(self) -> None:
        """A catalog without tracks holds nothing an older formula measured: it starts at today's versions of
        the energy, mood and drum measures, so that its first scan's values stand instead of being measured
        again, from what the scan stored, by the first `ensure_index`."""
        if self.catalog.track_count():
            return
        if self.catalog.affect_version() != affect.VERSION:
            self.catalog.forget_affect(affect.VERSION)
        if self.catalog.drums_version() != instruments.VERSION:
            self.catalog.put_drums([], instruments.VERSION)

    def adopt_equivalent_analyses(self) -> int:
        """Take over the tracks analysed with an earlier bundle that analyses exactly as this one does (the
        same preprocessing, and graphs that compute the same functions, however they compute them), so that
        a faster build of the same models does not re-analyse the library. Returns how many tracks."""
        key = self.bundle.analysis_key
        others = self.catalog.other_analyses(self.bundle.id)
        if self.catalog.recorded_analysis(self.bundle.id) != key:
            self.catalog.record_analysis(self.bundle.id, key)
        same = [old for old, recorded in others.items() if (recorded or self._sibling_analysis(old)) == key]
        if not same:
            return 0
        taken = self.catalog.take_over(same, self.bundle.id)
        log.info("%d tracks analysed with %s need no new analysis with %s", taken, ", ".join(same), self.bundle.id)
        return taken

    def _sibling_analysis(self, bundle_id: str) -> str | None:
        """The analysis key of a bundle the library did not record (met before keys were recorded), if its
        folder is still beside this bundle's (a build keeps the bundle it replaces)."""
        try:
            key = load_bundle(self.bundle.path.parent / bundle_id, verify=False, any_analysis=True).analysis_key
        except (BundleError, OSError):
            return None
        self.catalog.record_analysis(bundle_id, key)
        return key

    # ---- folders ----

    def add_root(self, path: str | os.PathLike[str]) -> Root:
        """Add a music folder; LibraryError if it is missing, not a folder, overlaps a library folder, or is a
        Needledrop data folder (a scan never looks in a folder holding a catalog: it would add nothing). The
        demo's music, inside the data folder, is a folder like any other."""
        check_new_root(path, self.catalog.roots())
        if (Path(path) / CATALOG_NAME).exists():
            raise LibraryError(f"{path} is a Needledrop data folder: add the folder that holds your music")
        return self.catalog.add_root(path)

    def remove_root(self, path: str | os.PathLike[str]) -> bool:
        """Forget a folder and its tracks (the files are untouched); False if it was not a library folder."""
        with scan_lock(self.data_dir):  # a running scan would write tracks under the root being removed
            removed = self.catalog.remove_root(path)
            if removed:
                self._ensure_index(even_empty=True)
        return removed

    def refresh_roots(self) -> bool:
        """Mark each folder online or offline as it is now, as a scan would (its tracks are kept either way),
        so that a drive unplugged since the last scan leaves the results and shows as offline at once: True
        if any folder changed. Cheap: one look into each folder, a write only where its state changed."""
        changed = False
        for root in self.catalog.roots():
            online = root_is_online(root)
            if online != root.online:
                try:
                    self.catalog.set_root_state(root.id, online=online, scanned=False)
                except DatabaseError as exc:  # bookkeeping: the next query or scan tries again
                    log.warning("could not mark %s %s: %s", root.display, "online" if online else "offline", exc)
                    continue
                log.info("%s is %s", root.display, "back online" if online else "offline: its tracks are kept")
                changed = True
        return changed

    # ---- scanning ----

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
        """Scan every root, then bring the index up to date (also after a scan that was stopped). With much
        audio to analyse (or `quick`), a quick pass makes it searchable first (scanner.py wants_quick_pass).

        Raises ScanRunningError at once if another scan of this data folder is running."""
        with scan_lock(self.data_dir):
            scanner = Scanner(
                self.catalog,
                self.bundle,
                workers=workers,
                on_progress=on_progress,
                should_stop=should_stop,
                quick=quick,
                on_searchable=self._refresh_index,
                should_abandon=should_abandon,
            )
            report = scanner.run(full=full)
            if not scanner.abandoned:  # (abandoned: the next open of the library builds it)
                report.index_rebuilt = self._ensure_index(even_empty=True) or report.index_rebuilt
        return report

    def _refresh_index(self) -> bool:
        """The index rebuilt in the middle of a scan; if it cannot be written, searches keep the old one and
        the scan goes on (the build after the scan reports the error)."""
        try:
            return self._ensure_index(even_empty=True)
        except IndexWriteError as exc:
            log.warning("%s", exc)
            return False

    def scan_running(self) -> bool:
        """Whether a scan of this data folder is running now, in this process or another."""
        return scan_running(self.data_dir)

    # ---- the index ----

    def index_is_current(self) -> bool:
        """Whether the index is this bundle's, built from the catalog as it is now, with all its files."""
        info = read_index_info(self.index_dir)
        return (
            info is not None
            and info.bundle_id == self.bundle.id
            and info.revision == self.catalog.index_revision()
            and info.count == self.catalog.segment_count(self.bundle.id)
            and index_damage(self.index_dir, info) is None
        )

    def ensure_index(self) -> bool:
        """Rebuild the index if it is missing, in an older layout, another bundle's, out of step with the
        catalog, or damaged; True if it was rebuilt.

        Nothing is built while the catalog holds no vectors of this bundle and no index of this bundle
        exists: a new library, or one not re-embedded yet after a bundle change (opening the index then
        says so).

        Used on opening the library: when the index cannot be written (a full disk) but the old one can be
        read, that one serves, with a warning, so that searches and the status still answer. (A scan that
        cannot write its index says so as an error.)"""
        try:
            return self._ensure_index(even_empty=False)
        except IndexWriteError as exc:
            if not self._usable_index():
                raise
            log.warning("%s", exc)
            return False

    def backfill_affect(self) -> int:
        """Energy and mood for segments scanned before they were measured, or measured by another version of
        engine/affect.py, from their stored tags and mode: no re-analysis. Returns how many were
        filled in."""
        if self.catalog.affect_version() != affect.VERSION:
            self.catalog.forget_affect(affect.VERSION)
        tags = TagIndex(self.bundle.tag_labels)
        done = 0
        while rows := self.catalog.segments_without_affect(self.bundle.id, AFFECT_BATCH):
            ids = [r[0] for r in rows]
            probabilities = np.stack([np.frombuffer(r[1], np.uint8) for r in rows]).astype(np.float32) / 255.0
            mode = np.array([np.nan if r[2] is None else r[2] for r in rows], np.float32)
            energy, mood = affect.of_segments(probabilities, tags, mode)
            self.catalog.put_affect([(i, round(float(e), 3), round(float(m), 3)) for i, e, m in zip(ids, energy, mood)])
            done += len(rows)
        if done:
            log.info("measured energy and mood of %d segments scanned before", done)
        return done

    def backfill_drums(self) -> int:
        """Drum probabilities measured by another fit of engine/instruments.py's detector, measured again from
        each track's stored drum hits and tags: no re-analysis. Returns how many were."""
        stored = self.catalog.drums_version()
        if stored == instruments.VERSION:
            return 0
        rows = self.catalog.tracks_for_drums(self.bundle.id)
        values = []
        if rows:
            hits = np.array([np.nan if r[1] is None else r[1] for r in rows], np.float64)
            before = np.array([np.nan if r[2] is None else r[2] for r in rows], np.float64)
            peaks = np.stack([r[3] for r in rows])
            tags = TagIndex(self.bundle.tag_labels)
            if stored == 1:  # the first detector stored no hits, but they follow from what it stored
                lost = np.isnan(hits) & np.isfinite(before)
                hits[lost] = instruments.hits_of_version_1(before[lost], peaks[lost], tags)
            p = instruments.drum_probability(np.nan_to_num(hits), peaks, tags)
            for (track_id, *read, _), h, q in zip(rows, hits, p):
                # Without hits a stored probability cannot be measured again: unmeasured, not read against
                # another fit's thresholds.
                new = (round(float(h), 3), round(float(q), 3)) if np.isfinite(h) else (None, None)
                values.append((track_id, tuple(read), new))
        self.catalog.put_drums(values, instruments.VERSION)
        if values:
            log.info("measured drums again for %d tracks (detector version %d)", len(values), instruments.VERSION)
        return len(values)

    def backfill_sfx_drums(self) -> int:
        """q, the sound-effects drum detector's probability (engine/instruments.py), of the tracks whose
        embedding the scan stored without it, or of every one when the stored q are another fit's, in batches:
        from stored values, no decoding. q from another graph's embeddings is dropped (the scan listens to
        those tracks again). Returns how many were measured."""
        key = drum_sfx_key(self.bundle)
        if self.catalog.sfx_drums_version() != instruments.SFX_VERSION:
            self.catalog.forget_sfx_drums(key, instruments.SFX_VERSION)
        elif self.catalog.has_foreign_sfx_drums(key):
            self.catalog.forget_sfx_drums(key)
        tags = TagIndex(self.bundle.tag_labels)
        done, after = 0, 0
        while key and (rows := self.catalog.tracks_for_sfx_drums(self.bundle.id, key, after, SFX_DRUMS_BATCH)):
            pooled = np.stack([np.frombuffer(r[1], "<f2") for r in rows]).astype(np.float32)
            hits = np.array([r[2] for r in rows], np.float64)
            peaks = np.stack([np.frombuffer(r[3], "<f2") for r in rows]).astype(np.float32)
            q = instruments.sfx_drum_probability(pooled, hits, peaks, tags)
            self.catalog.put_sfx_drums([(*r, round(float(v), 3)) for r, v in zip(rows, q)])
            done, after = done + len(rows), rows[-1][0]
        if done:
            log.info("measured drums (sound-effects detector) for %d tracks", done)
        return done

    def _ensure_index(self, *, even_empty: bool) -> bool:
        self.backfill_affect()
        self.backfill_drums()
        self.backfill_sfx_drums()
        if self.index_is_current():
            return False
        if not even_empty and not self._anything_to_index():
            return False
        with build_lock(self.index_dir):
            if self.index_is_current():  # another process built it while this one waited
                return False
            self._build()
        return True

    def _usable_index(self) -> bool:
        info = read_index_info(self.index_dir)
        return info is not None and info.bundle_id == self.bundle.id and index_damage(self.index_dir, info) is None

    def _anything_to_index(self) -> bool:
        info = read_index_info(self.index_dir)
        return (info is not None and info.bundle_id == self.bundle.id) or self.catalog.segment_count(self.bundle.id) > 0

    def rebuild_index(self) -> None:
        """Build the index from the catalog now, unless another build finished it while this one waited."""
        with build_lock(self.index_dir) as waited:
            if waited and self.index_is_current():
                return
            self._build()

    def _build(self) -> None:
        build_index(self.catalog, self.bundle.id, self.index_dir)

    def open_index(self) -> SegmentIndex:
        """The current index, as it is: IndexMissingError if there is none, it is another bundle's or damaged.
        Never builds (see `ensure_index`)."""
        return SegmentIndex(self.index_dir, self.bundle.id)

    # ---- per track ----

    def beats(self, track_id: int) -> Beats:
        """A track's beats and downbeats: stored by the scan, or found now (and stored) for older scans; none
        yet for a track only a quick pass has analysed. At a tempo a person set, counted from the measured ones
        where it is one of their metrical levels, else followed from the file at it (`set_tempo`)."""
        beats = self.measured_beats(track_id)
        bpm = self.catalog.tempo_set(track_id)
        if bpm is None:
            return beats
        if not _followed_at(bpm, beats):
            return at_tempo(beats, bpm)
        followed = self.catalog.beats_at_set_tempo(track_id)
        if followed is None or followed.bpm != bpm:
            # Dropped by an analysis since (`library scan --full`): followed again, once.
            try:
                followed = self._follow_at(track_id, bpm, beats)
            except DecodeError:
                # Its drive unplugged: the tempo shown and asked for is the one set, and the beats are counted
                # from the measured ones until the file can be heard again.
                return at_tempo(beats, bpm)
            self.catalog.put_beats_at_set_tempo(track_id, followed)
        return replace(followed, heard=heard_span(beats))

    def measured_beats(self, track_id: int) -> Beats:
        """The beats as the scan measured them, whatever tempo a person set (`beats` counts them at it)."""
        stored = self.catalog.beats(track_id)
        if stored is not None:
            return stored
        if self.catalog.is_quick(track_id):
            # Its full analysis finds them: decoding the whole file now, in a query, is what a quick pass spares.
            return Beats(np.zeros(0), np.zeros(0), 0.0)
        path = self.catalog.track_file(track_id)
        if path is None:
            raise NeedledropError(f"there is no track {track_id} in the library")
        beats = track_beats(FeatureExtractor(self.bundle).analysis(path))
        self.catalog.put_beats(track_id, beats)
        return beats

    def set_tempo(self, track_id: int, bpm: float | None) -> None:
        """Count the track's beats at `bpm` in every view, filter, fit and export; None goes back to the
        measured one. At a metrical level of the tempo the scan measured (its half, its double...), the
        measured beats are counted at it (`at_tempo`); at any other tempo (one tapped, or where the scan's
        grid drifted from the music's), the beats are followed again from the file at it, so the file must be
        there (DecodeError). The index is rebuilt at once, since its rows are ordered by tempo."""
        measured = self.measured_beats(track_id)
        followed = None
        if bpm is not None and _followed_at(bpm, measured):
            followed = self._follow_at(track_id, bpm, measured)
        before = self.catalog.tempo_set(track_id)
        self.catalog.set_tempo(track_id, bpm, followed)
        try:
            self._ensure_index(even_empty=False)
        except IndexWriteError:
            # The index the searches read still orders this track by its old tempo: so must everything else
            # (the old tempo's beats, if it had any of its own, are followed again when next asked for).
            self.catalog.set_tempo(track_id, before)
            raise

    def _follow_at(self, track_id: int, bpm: float, measured: Beats) -> Beats:
        """The track's beats followed through its beat tracker's activation at `bpm` (the whole file decoded:
        a second or two for a song); the `measured` beats counted at it where nothing was followed."""
        path = self.catalog.track_file(track_id)
        if path is None:
            raise NeedledropError(f"there is no track {track_id} in the library")
        if not os.path.isfile(path):  # an unplugged drive: said before a decoder and a tracker are set up for it
            raise DecodeError(f"{path}: the file is not there")
        followed = track_beats(FeatureExtractor(self.bundle).analysis(path), bpm=bpm)
        return followed if len(followed.times) else at_tempo(measured, bpm)

    def status(self) -> dict:
        """Folders (online, tracks, offline tracks), totals, the index and whether a scan is running."""
        self.refresh_roots()
        status = self.catalog.status(self.bundle.id)
        info = read_index_info(self.index_dir)
        status["index"] = None if info is None else self._index_status(info)
        status["bundle_id"] = self.bundle.id
        status["scanning"] = self.scan_running()
        listens = listens_for_drums(self.bundle)
        status["unheard_drums"] = self.catalog.unheard_drums_count(self.bundle.id) if listens else None
        return status

    def _index_status(self, info) -> dict:
        damage = index_damage(self.index_dir, info)
        return {
            "segments": info.count,
            "bundle_id": info.bundle_id,
            "built_at": info.built_at,
            "current": damage is None and self.index_is_current(),
            "damaged": damage,  # why its files cannot be read, or None
        }


def _followed_at(bpm: float, measured: Beats) -> bool:
    """Whether a track's beats at a set `bpm` are followed again from its file, rather than counted from the
    `measured` ones: where it has some and `bpm` is none of their metrical levels."""
    return bool(len(measured.times)) and tempo_ratio(bpm, measured.bpm, LEVEL_SET_WITHIN) is None
