"""Scanning library roots: find audio files, decide what needs (re-)embedding, analyse in worker processes,
commit each track on its own, and rebuild the index when anything changed.

Safety rules, each tested:
- a root that is missing, unreadable or empty is marked offline and nothing of it is removed;
- a file that fails gets a recorded reason, and is not retried until its size or mtime changes;
- a file that changes while it is being analysed is recorded for a retry, never indexed half-way;
- tracks embedded by another bundle are re-embedded (never mixed); quick scans skip unchanged files.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from engine.bundle import Bundle, load_bundle
from engine.errors import NeedledropError
from engine.library.analysis import SkipFile, TrackAnalyzer, TrackResult
from engine.library.catalog import Catalog, Root, display

log = logging.getLogger(__name__)

# Extensions FFmpeg decodes as music; anything else in a music folder (covers, playlists, notes) is ignored.
AUDIO_SUFFIXES = frozenset(
    b".mp3 .flac .wav .wave .aif .aiff .aifc .ogg .oga .opus .m4a .m4b .aac .mp4 .alac .wma .ape .wv .mka .mpc "
    b".ac3 .dts .caf .au .snd .tta .spx .mp2 .amr .w64".split()
)


@dataclass(frozen=True)
class Job:
    root_id: int
    path: bytes
    size: int
    mtime_ns: int


@dataclass
class ScanProgress:
    """What a progress bar shows; `seconds_of_audio` grows as tracks finish."""

    files_total: int = 0
    files_done: int = 0
    indexed: int = 0
    failed: int = 0
    seconds_of_audio: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    current: str = ""

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class ScanReport:
    roots_online: int = 0
    roots_offline: list[str] = field(default_factory=list)
    considered: int = 0  # audio files found under online roots
    unchanged: int = 0
    indexed: int = 0
    failed: int = 0
    removed: int = 0
    cancelled: bool = False
    seconds_of_audio: float = 0.0
    elapsed: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # seconds of worker time per stage, plus "write"
    index_rebuilt: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.removed)


def walk_audio(root: bytes) -> Iterator[tuple[bytes, os.stat_result]]:
    """Audio files under `root`, following links to folders but never around a loop; hidden names skipped.

    Unreadable folders are skipped silently here; an unreadable *file* is reported by its analysis.
    """
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(folder))
        except OSError as exc:
            log.warning("cannot read folder %s: %s", display(folder), exc)
            continue
        for entry in entries:
            if entry.name.startswith(b"."):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                elif os.path.splitext(entry.name)[1].lower() in AUDIO_SUFFIXES:
                    info = entry.stat(follow_symlinks=True)
                    if stat.S_ISREG(info.st_mode):
                        yield entry.path, info
            except OSError:  # a dangling link, or a file gone between listing and stat
                continue


def root_is_online(root: Root) -> bool:
    """A root counts as online when it is a readable folder with something in it.

    An empty folder is what an unmounted drive's mount point looks like; treating it as "all tracks deleted"
    would purge the library, so it counts as offline instead.
    """
    try:
        with os.scandir(root.path) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


# ---- worker processes ----

_analyzer: TrackAnalyzer | None = None


def _init_worker(bundle_dir: str) -> None:
    global _analyzer
    # One thread per process: the pool itself spreads the work over the cores.
    _analyzer = TrackAnalyzer(load_bundle(bundle_dir, verify=False), threads=1)


def _analyse(job: Job) -> tuple[Job, TrackResult | None, str | None]:
    """Runs in a worker: the result, or the reason the file is skipped."""
    try:
        result = _analyzer(job.path, job.size, job.mtime_ns)
    except SkipFile as exc:
        return job, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a scan
        log.exception("analysing %s failed", display(job.path))
        return job, None, f"unexpected error: {type(exc).__name__}: {exc}"
    return job, result, None


class Scanner:
    def __init__(
        self,
        catalog: Catalog,
        bundle: Bundle,
        *,
        workers: int | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        analyzer: TrackAnalyzer | None = None,
    ):
        """`workers=0` analyses in this process (with `analyzer`, or one made here): for tests and debugging."""
        self.catalog = catalog
        self.bundle = bundle
        self.workers = workers if workers is not None else max(1, len(os.sched_getaffinity(0)))
        self.analyzer = analyzer
        self.on_progress = on_progress or (lambda progress: None)
        self.should_stop = should_stop or (lambda: False)

    def plan(self, *, full: bool = False) -> tuple[list[Job], list[bytes], ScanReport]:
        """What to analyse, what to forget (files gone from online roots), and the tally so far."""
        report = ScanReport()
        jobs: list[Job] = []
        gone: list[bytes] = []
        for root in self.catalog.roots():
            if not root_is_online(root):
                report.roots_offline.append(root.display)
                self.catalog.set_root_state(root.id, online=False, scanned=False)
                continue
            report.roots_online += 1
            known = self.catalog.known_files(root.id)
            errors = self.catalog.known_errors(root.id)
            found = set()
            for path, info in walk_audio(root.path):
                found.add(path)
                report.considered += 1
                identity = (info.st_size, info.st_mtime_ns)
                previous = known.get(path)
                current = previous is not None and previous[:2] == identity and previous[2] == self.bundle.id
                failed_before = errors.get(path) == identity
                if not full and (current or failed_before):
                    report.unchanged += 1
                    continue
                jobs.append(Job(root.id, path, *identity))
            gone += [p for p in known if p not in found]
        return jobs, gone, report

    def run(self, *, full: bool = False) -> ScanReport:
        jobs, gone, report = self.plan(full=full)
        start = time.perf_counter()
        if gone:
            report.removed = self.catalog.remove_tracks(gone)
        progress = ScanProgress(files_total=len(jobs))
        self.on_progress(progress)
        if jobs:
            self._analyse_all(jobs, report, progress)
        for root in self.catalog.roots():
            if root.display not in report.roots_offline:
                self.catalog.set_root_state(root.id, online=True, scanned=not report.cancelled)
        report.elapsed = time.perf_counter() - start
        return report

    def _jobs_in_order(self, jobs: list[Job]) -> list[Job]:
        # Longest first: a long track started last would leave one core idle at the end.
        return sorted(jobs, key=lambda j: j.size, reverse=True)

    def _analyse_all(self, jobs: list[Job], report: ScanReport, progress: ScanProgress) -> None:
        if self.workers == 0:
            self._analyse_here(jobs, report, progress)
        else:
            self._analyse_in_pool(jobs, report, progress)

    def _analyse_here(self, jobs: list[Job], report: ScanReport, progress: ScanProgress) -> None:
        global _analyzer
        _analyzer = self.analyzer or TrackAnalyzer(self.bundle, threads=None)
        for job in self._jobs_in_order(jobs):
            if self.should_stop():
                report.cancelled = True
                return
            self._commit(*_analyse(job), report, progress)

    def _analyse_in_pool(self, jobs: list[Job], report: ScanReport, progress: ScanProgress) -> None:
        """Jobs through a process pool. A file that crashes a worker (a decoder bug) breaks the pool: the
        jobs that were in flight are then retried one at a time, which finds the culprit and records it."""
        queue = deque(self._jobs_in_order(jobs))
        while queue and not report.cancelled:
            suspects = self._run_pool(queue, report, progress, in_flight=2 * self.workers)
            for job in suspects:
                if self._run_pool(deque([job]), report, progress, in_flight=1):
                    if not (report.indexed or report.failed):
                        # Nothing has worked at all: the workers cannot start, no file is to blame.
                        raise NeedledropError("the scan's worker processes could not start; see the log above")
                    self.catalog.put_error(
                        job.root_id,
                        job.path,
                        job.size,
                        job.mtime_ns,
                        "crashed the audio decoder (the file is probably damaged)",
                    )
                    report.failed += 1
                    progress.failed += 1
                    progress.files_done += 1
                    self.on_progress(progress)

    def _run_pool(self, queue: deque[Job], report: ScanReport, progress: ScanProgress, *, in_flight: int) -> list[Job]:
        """Drain `queue` through a fresh pool; returns the jobs in flight if a worker died, else []."""
        context = multiprocessing.get_context("spawn")  # fork would copy ONNX Runtime's threads
        with ProcessPoolExecutor(
            min(self.workers, in_flight),
            mp_context=context,
            initializer=_init_worker,
            initargs=(str(self.bundle.path),),
        ) as pool:
            running: dict[Future, Job] = {}
            while queue or running:
                while queue and len(running) < in_flight and not report.cancelled:
                    job = queue.popleft()
                    running[pool.submit(_analyse, job)] = job
                if not running:
                    return []
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        lost = [job, *running.values()]
                        pool.shutdown(wait=False, cancel_futures=True)
                        return lost
                    self._commit(*outcome, report, progress)
                if self.should_stop() and not report.cancelled:
                    # Finish the tracks already started (their work is kept), start no more.
                    report.cancelled = True
        return []

    def _commit(self, job: Job, result: TrackResult | None, reason: str | None, report, progress) -> None:
        start = time.perf_counter()
        changed = self._changed_since(job)
        if changed:
            reason = changed
        if result is None or changed:
            # Size and mtime of a file that changed under us are left out, so the next scan retries it.
            identity = (None, None) if changed else (job.size, job.mtime_ns)
            self.catalog.put_error(job.root_id, job.path, *identity, reason)
            report.failed += 1
            progress.failed += 1
            log.info("skipped %s: %s", display(job.path), reason)
        else:
            self.catalog.put_track(job.root_id, result.track, result.segments)
            report.indexed += 1
            progress.indexed += 1
            report.seconds_of_audio += result.track.duration
            progress.seconds_of_audio += result.track.duration
            for stage, seconds in result.times.items():
                report.stages[stage] = report.stages.get(stage, 0.0) + seconds
        report.stages["write"] = report.stages.get("write", 0.0) + time.perf_counter() - start
        progress.files_done += 1
        progress.current = display(job.path)
        self.on_progress(progress)

    @staticmethod
    def _changed_since(job: Job) -> str | None:
        try:
            info = os.stat(job.path)
        except FileNotFoundError:
            return "deleted during the scan"
        except OSError as exc:
            return f"cannot read: {exc.strerror}"
        if (info.st_size, info.st_mtime_ns) != (job.size, job.mtime_ns):
            return "changed during the scan (will be read again next time)"
        return None
