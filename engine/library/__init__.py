"""The music library: roots on disk, the catalog of tracks and segment vectors, and the index over them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.bundle import Bundle
from engine.errors import NeedledropError
from engine.features import FeatureExtractor
from engine.library.catalog import Catalog, CatalogError
from engine.library.index import IndexMissingError, SegmentIndex, build_index, read_index_info
from engine.library.scanner import Scanner, ScanProgress, ScanReport
from engine.media import dsp
from engine.media.audio import iter_audio
from engine.media.beats import Beats, track_beats

__all__ = ["Catalog", "CatalogError", "IndexMissingError", "Library", "ScanProgress", "ScanReport"]


class Library:
    """Everything under one data folder, for one model bundle."""

    def __init__(self, data_dir: Path, bundle: Bundle):
        self.data_dir = Path(data_dir)
        self.bundle = bundle
        self.catalog = Catalog.in_data_dir(self.data_dir)
        self.index_dir = self.data_dir / "index"

    def add_root(self, path: str | Path):
        return self.catalog.add_root(path)

    def remove_root(self, path: str | Path) -> bool:
        removed = self.catalog.remove_root(path)
        if removed:
            self.rebuild_index()
        return removed

    def scan(
        self,
        *,
        full: bool = False,
        workers: int | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ScanReport:
        """Scan every root; rebuild the index if the catalog changed or the index does not match it."""
        scanner = Scanner(self.catalog, self.bundle, workers=workers, on_progress=on_progress, should_stop=should_stop)
        report = scanner.run(full=full)
        if report.changed or not self.index_is_current():
            self.rebuild_index()
            report.index_rebuilt = True
        return report

    def index_is_current(self) -> bool:
        info = read_index_info(self.index_dir)
        if info is None or info.bundle_id != self.bundle.id:
            return False
        return info.count == self.catalog.segment_count(self.bundle.id)

    def rebuild_index(self) -> None:
        build_index(self.catalog, self.bundle.id, self.index_dir)

    def open_index(self) -> SegmentIndex:
        """The current index; rebuilt from the catalog first when there is none in this version's layout (after
        an upgrade) but the catalog holds this bundle's vectors, so an upgrade never needs a rescan."""
        if read_index_info(self.index_dir) is None and self.catalog.segment_count(self.bundle.id):
            self.rebuild_index()
        return SegmentIndex(self.index_dir, self.bundle.id)

    def beats(self, track_id: int) -> Beats:
        """A track's beats and downbeats: stored by the scan, or found now (and stored) for older scans."""
        stored = self.catalog.beats(track_id)
        if stored is not None:
            return stored
        path = self.catalog.track_file(track_id)
        if path is None:
            raise NeedledropError(f"there is no track {track_id} in the library")
        audio = self.bundle.manifest.preprocessing.audio
        pieces = iter_audio(path, audio, chunk_samples=FeatureExtractor(self.bundle).chunk_samples)
        beats = track_beats(dsp.concat([dsp.analyse(piece, audio.sample_rate) for piece in pieces]))
        self.catalog.put_beats(track_id, beats)
        return beats

    def status(self) -> dict:
        status = self.catalog.status(self.bundle.id)
        info = read_index_info(self.index_dir)
        status["index"] = (
            None
            if info is None
            else {
                "segments": info.count,
                "bundle_id": info.bundle_id,
                "built_at": info.built_at,
                "current": info.bundle_id == self.bundle.id,
            }
        )
        status["bundle_id"] = self.bundle.id
        return status
