"""Scanning library roots: plan what changed (plan.py), analyse new and changed files in worker processes
(workers.py), and commit each track on its own, so that a scan stopped at any moment keeps all it finished.

Safety rules, each tested (see also plan.py):
- a file that fails gets a recorded reason, and is not retried until its size or mtime changes;
- a file that changes while it is being analysed is recorded for a retry, never indexed half-way;
- a file that crashes a worker is found by retrying the tracks in flight one at a time, and recorded;
- tracks embedded by another bundle are re-embedded (never mixed); quick scans skip unchanged files.

A scan with much audio to analyse runs in two passes: a quick pass makes every one of them searchable from
one window (analysis.py quick_window), the index is rebuilt, then the full analysis replaces each quick one.
A scan stopped in between leaves quick tracks, which the next scan completes (plan.py `completions`).
Last, every complete track without the drum detector's embedding (analysed in this scan, or before the
bundle had the network) is listened to for it alone ("listening for drums"): its file decoded again at the
network's rate, its mel and the network, in workers that load that network alone. Its own pass, not part of
the analysis, because the network costs two fifths to all of the analysis again (tests/bench/bench_library.py)
and its verdict only refines the one the analysis gave (engine/instruments.py): every track is complete and
searchable first. A file that cannot be listened to is recorded as heard by the network with nothing heard
(its drums read by the first detector alone) and is not tried again until it changes. The index is
refreshed meanwhile as while quick tracks are completed.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from engine.bundle import Bundle
from engine.cores import available_cores
from engine.errors import NeedledropError
from engine.library.analysis import (
    DrumListener,
    TrackAnalyzer,
    TrackResult,
    declared_seconds,
    drum_sfx_key,
    listens_for_drums,
)
from engine.library.catalog import Catalog
from engine.library.files import fingerprint
from engine.library.plan import ScanPlan, plan_scan
from engine.library.records import display
from engine.library.workers import (
    Job,
    Listened,
    analyse,
    init_worker,
    listen,
    quiet_start,
    use_analyzer,
    use_listener,
)

log = logging.getLogger(__name__)

# A scan whose files to analyse hold at least this much audio (seconds, as their containers declare it) makes
# them all searchable by a quick pass first. Less is searchable soon enough without one: the full analysis of
# an hour takes under a minute on two cores (tests/bench/bench_library.py), and on 24 one-minute tracks a
# quick pass first made the whole scan take a fifth longer (13.8 s against 11.4 s).
QUICK_FROM_SECONDS = 3600.0
# ... and at least this many files always do, without their headers being read first (a large import).
QUICK_FROM_FILES = 200
# While quick tracks are being completed, the index is rebuilt this often (seconds), so that searches see
# the full analyses as they come, not only when the scan ends.
REFRESH_EVERY = 600.0
ABANDON_POLL = 0.2  # seconds between looks at `should_abandon` while tracks are analysed
# Up to this many tracks to listen to for drums are listened to in the scan's own process: starting worker
# processes for them (Python, the runtime and the network in each) takes longer than hearing them. Their
# files have been decoded whole by a worker already (the analysis), so none is a decoder's first try. At 24
# one-minute tracks the workers already win: 3.2-3.4 s against 4.7-5.2 s here (bfloat16, 2 cores).
LISTEN_HERE_UP_TO = 8


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
    # "quick": the quick pass (searchable first); "full": the full analysis; "drums": the last pass, listening
    # for drums in complete tracks the drum network has not heard yet
    phase: str = "full"

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class ScanReport:
    roots_online: int = 0
    roots_offline: list[str] = field(default_factory=list)
    considered: int = 0  # audio files found under online roots
    unchanged: int = 0
    quick: int = 0  # tracks a quick pass made searchable (provisional until their full analysis)
    searchable_after: float | None = None  # seconds into the scan when the quick pass's index was in place
    indexed: int = 0  # tracks fully analysed
    failed: int = 0
    removed: int = 0  # tracks whose files were deleted, or found to hold only silence
    missing: int = 0  # tracks kept, offline: their files could not be reached (see plan.py)
    went_missing: int = 0  # of which were reachable before this scan
    returned: int = 0  # tracks whose files could be reached again
    moved: int = 0  # tracks found under a new path, kept with their id and analysis
    listened: int = 0  # tracks listened to for the drum detector's network (the last pass)
    unheard: int = 0  # of those tried, the files it could not decode (their drums read by the first detector)
    cancelled: bool = False
    seconds_of_audio: float = 0.0
    elapsed: float = 0.0
    # Seconds of worker time per stage, plus "write"; the quick pass's as "quick decode", "quick backbone"...
    stages: dict[str, float] = field(default_factory=dict)
    index_rebuilt: bool = False  # during the scan or after it

    @property
    def changed(self) -> bool:
        """Whether anything a list of results shows changed: tracks, their paths, or whether they are online."""
        return bool(
            self.indexed
            or self.quick
            or self.removed
            or self.moved
            or self.went_missing
            or self.returned
            or self.listened
        )


def declared_lengths(jobs: list[Job], should_stop: Callable[[], bool] = lambda: False) -> dict[bytes, float] | None:
    """The seconds each file's container declares (0 for a header that cannot be read: its analysis records
    why), read before anything is analysed; None for QUICK_FROM_FILES files or more, a large import that
    does not wait for its headers. Stopped early, the lengths read so far."""
    if len(jobs) >= QUICK_FROM_FILES:
        return None
    lengths = {}
    for job in jobs:
        if should_stop():
            break
        lengths[job.path] = declared_seconds(os.fsdecode(job.path))
    return lengths


def wants_quick_pass(jobs: list[Job], lengths: dict[bytes, float] | None = None) -> bool:
    """Whether files to analyse should be made searchable by a quick pass first: when they are many, or when
    the audio they hold would keep them unsearchable for long (QUICK_FROM_SECONDS). `lengths`: their declared
    lengths if read already (`declared_lengths` of these files or more; a file missing there, its reading
    stopped, counts for nothing)."""
    if len(jobs) >= QUICK_FROM_FILES:
        return True
    if lengths is None:
        lengths = declared_lengths(jobs)  # a few files to make searchable among many to analyse again
    return sum(lengths.get(job.path, 0.0) for job in jobs) >= QUICK_FROM_SECONDS


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
        listener: DrumListener | None = None,
        quick: bool | None = None,
        on_searchable: Callable[[], bool] | None = None,
        should_abandon: Callable[[], bool] | None = None,
    ):
        """`workers=0` analyses in this process (with `analyzer`, or one made here): for tests and debugging.
        It listens for drums there too (with `listener`, or one made here), as any scan with few to hear.

        `quick`: whether new and changed files get a quick pass first (None: `wants_quick_pass`).
        `on_searchable` is called when the quick pass ends, and every REFRESH_EVERY seconds while its tracks
        are completed or tracks are listened to for drums: the library rebuilds its index there (and returns
        whether it did)."""
        self.catalog = catalog
        self.bundle = bundle
        self.workers = workers if workers is not None else available_cores()
        self.analyzer = analyzer
        self.listener = listener
        self.on_progress = on_progress or (lambda progress: None)
        self.should_stop = should_stop or (lambda: False)
        self.quick = quick
        self.on_searchable = on_searchable or (lambda: False)
        self.should_abandon = should_abandon or (lambda: False)
        self.abandoned = False  # stopped at once: tracks in flight dropped, the index not refreshed
        self._settled: set[bytes] = set()  # files done with in this scan: analysed whole, or failed for good
        # When on_searchable last ran, while quick tracks are completed or tracks listened to for drums.
        self._refreshed: float | None = None
        self._lengths: dict[bytes, float] | None = None  # declared seconds of this scan's files, when read

    def run(self, *, full: bool = False) -> ScanReport:
        start = time.perf_counter()
        plan = plan_scan(self.catalog, self.bundle.id, full=full)
        report = ScanReport(
            roots_online=len(plan.online),
            roots_offline=[root.display for root in plan.offline],
            considered=plan.considered,
            unchanged=plan.unchanged,
            moved=len(plan.moves),
            missing=len(plan.missing),
            went_missing=plan.went_missing,
            returned=len(plan.returned),
        )
        for root in plan.offline:
            self.catalog.set_root_state(root.id, online=False, scanned=False)
        if full:
            self.catalog.begin_full_scan()
        self._apply(plan, report)
        jobs = plan.jobs
        self._lengths = declared_lengths(jobs + plan.completions, self.should_abandon)
        # Files a full rescan analyses again are searchable already: a quick pass would only set them back.
        unsearchable = [job for job in jobs if job.path not in plan.current]
        wanted = self.quick if self.quick is not None else wants_quick_pass(unsearchable, self._lengths)
        if unsearchable and wanted:
            progress = ScanProgress(files_total=len(unsearchable), phase="quick")
            self.on_progress(progress)
            self._analyse_all([dataclasses.replace(job, quick=True) for job in unsearchable], report, progress)
            if not self.abandoned:
                report.index_rebuilt = self.on_searchable() or report.index_rebuilt
            report.searchable_after = time.perf_counter() - start
            self._refreshed = time.perf_counter()
            jobs = [job for job in jobs if job.path not in self._settled]
        if plan.completions:
            self._refreshed = self._refreshed or time.perf_counter()
            jobs = jobs + plan.completions
        progress = ScanProgress(files_total=len(jobs))
        report.cancelled = report.cancelled or (bool(jobs) and self.should_stop())  # asked while the index was built
        if not report.cancelled:
            self.on_progress(progress)
            if jobs:
                self._analyse_all(jobs, report, progress)
        report.cancelled = report.cancelled or self.should_stop()  # (asked while nothing was left to analyse)
        listens = self._listens(plan) if not report.cancelled else []
        if listens:
            self._refreshed = self._refreshed or time.perf_counter()
            progress = ScanProgress(files_total=len(listens), phase="drums")
            self.on_progress(progress)
            self._analyse_all(listens, report, progress)
        for root in plan.online:
            self.catalog.set_root_state(root.id, online=True, scanned=not report.cancelled)
        # Every file that can be reached was: nothing of a full scan is left (one that finishes leaves the
        # folders that are offline as they were, too).
        if not report.cancelled:
            self.catalog.end_full_scan()
        report.elapsed = time.perf_counter() - start
        return report

    def _listens(self, plan: ScanPlan) -> list[Job]:
        """The complete tracks under online folders still to be listened to for drums (none where the bundle
        has no drum network, or NEEDLEDROP_DRUM_SFX is off)."""
        key = drum_sfx_key(self.bundle) if listens_for_drums(self.bundle) else None
        if key is None:
            return []
        found = self.catalog.tracks_to_listen(self.bundle.id, key, [root.id for root in plan.online])
        return [Job(root_id, path, size, mtime_ns, listen=True) for root_id, path, size, mtime_ns in found]

    def _apply(self, plan: ScanPlan, report: ScanReport) -> None:
        """Everything the plan decided that needs no analysis."""
        for move in plan.moves:
            self.catalog.move_track(move.track_id, move.root_id, move.path, move.size, move.mtime_ns)
            log.info("moved: %s", display(move.path))
        if plan.deleted:
            report.removed = self.catalog.remove_tracks(plan.deleted)
        if plan.missing:
            self.catalog.set_missing(plan.missing, True)
            log.info("%d tracks kept offline: their folders cannot be reached now", len(plan.missing))
        if plan.returned:
            self.catalog.set_missing(plan.returned, False)
        if plan.stale_errors:
            self.catalog.remove_errors(plan.stale_errors)
        if plan.unfingerprinted:
            self.catalog.set_fingerprints(self._fingerprints(plan.unfingerprinted))

    @staticmethod
    def _fingerprints(paths: dict[int, bytes]) -> dict[int, str]:
        """Fingerprints for tracks catalogued before there were any, so that later moves are recognised."""
        found = {}
        for track_id, path in paths.items():
            try:
                found[track_id] = fingerprint(path)
            except OSError as exc:
                log.info("cannot fingerprint %s: %s", display(path), exc)
        return found

    def _jobs_in_order(self, jobs: list[Job]) -> list[Job]:
        # Longest first: a long track started last would leave one core idle at the end. Its declared length
        # where the headers were read (a few files, where the end matters most), else its size, which
        # across formats is a poor guide (a two-minute MP3 is a tenth of a two-minute WAV).
        lengths = self._lengths
        if lengths is not None and all(job.path in lengths for job in jobs):
            return sorted(jobs, key=lambda j: (lengths[j.path], j.size), reverse=True)
        return sorted(jobs, key=lambda j: j.size, reverse=True)

    def _analyse_all(self, jobs: list[Job], report: ScanReport, progress: ScanProgress) -> None:
        """A pass's jobs, all of one kind: analyses (quick or full) or listens."""
        if self.workers == 0 or (jobs and jobs[0].listen and len(jobs) <= LISTEN_HERE_UP_TO):
            self._analyse_here(jobs, report, progress)
        else:
            self._analyse_in_pool(jobs, report, progress)

    def _analyse_here(self, jobs: list[Job], report: ScanReport, progress: ScanProgress) -> None:
        if jobs and jobs[0].listen:
            self.listener = self.listener or DrumListener(self.bundle, threads=None)
            use_listener(self.listener)
        else:
            use_analyzer(self.analyzer or TrackAnalyzer(self.bundle, threads=None))
        for job in self._jobs_in_order(jobs):
            if self.should_stop() or self.should_abandon():
                report.cancelled = True
                self.abandoned = self.should_abandon()
                return
            self._done(job, (listen if job.listen else analyse)(job), report, progress)

    def _analyse_in_pool(self, jobs: list[Job], report: ScanReport, progress: ScanProgress) -> None:
        """Jobs through a process pool. A file that crashes a worker (a decoder bug) breaks the pool: the
        jobs that were in flight are then retried one at a time, which finds the culprit and records it."""
        queue = deque(self._jobs_in_order(jobs))
        while queue and not report.cancelled:
            suspects = self._run_pool(queue, report, progress, in_flight=2 * self.workers)
            for job in suspects:
                if self._run_pool(deque([job]), report, progress, in_flight=1):
                    if not (report.indexed or report.failed or report.quick or report.listened or report.unheard):
                        # Nothing has worked at all: the workers cannot start, no file is to blame.
                        raise NeedledropError("the scan's worker processes could not start; see the log above")
                    if job.listen:  # its analysis stands: only its drums go unheard
                        self._commit_listened(job, None, "crashed the audio decoder", report, progress)
                        continue  # (its progress is counted there)
                    if job.quick:
                        # Seeking is the quick pass's own path: the full analysis tries the file from the start.
                        log.info("quick pass crashed on %s: its full analysis follows", display(job.path))
                    else:
                        reason = "crashed the audio decoder (the file is probably damaged)"
                        self._failed(job, (job.size, job.mtime_ns), reason, report, progress)
                    progress.files_done += 1
                    self.on_progress(progress)

    def _run_pool(self, queue: deque[Job], report: ScanReport, progress: ScanProgress, *, in_flight: int) -> list[Job]:
        """Drain `queue` through a fresh pool; returns the jobs in flight if a worker died, else []."""
        context = multiprocessing.get_context("spawn")  # fork would copy ONNX Runtime's threads
        with ProcessPoolExecutor(
            min(self.workers, in_flight),
            mp_context=context,
            initializer=init_worker,
            initargs=(str(self.bundle.path), bool(queue) and queue[0].listen),  # a pass's jobs are of one kind
        ) as pool:
            running: dict[Future, Job] = {}
            while queue or running:
                while queue and len(running) < in_flight and not report.cancelled:
                    job = queue.popleft()
                    with quiet_start():  # submit starts the worker processes
                        running[pool.submit(listen if job.listen else analyse, job)] = job
                if not running:
                    return []
                done, _ = wait(running, timeout=ABANDON_POLL, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        lost = [job, *running.values()]
                        pool.shutdown(wait=False, cancel_futures=True)
                        return lost
                    self._done(job, outcome, report, progress)
                if self.should_abandon():  # (the tracks just finished are kept)
                    self._abandon(pool, report)
                    return []
                if self.should_stop() and not report.cancelled:
                    # Finish the tracks already started (their work is kept), start no more.
                    report.cancelled = True
        return []

    def _abandon(self, pool: ProcessPoolExecutor, report: ScanReport) -> None:
        """Stop now (the app is quitting): the workers are ended mid-track, their tracks left for the next
        scan, which finds them unchanged-but-unindexed like any file it has not seen."""
        self.abandoned = report.cancelled = True
        # The executor joins its workers at shutdown and at interpreter exit, which would wait for the
        # tracks in flight: they are terminated first. (`_processes` is the executor's own table of them;
        # Python 3.14 has `terminate_workers()` for this.)
        processes = list((pool._processes or {}).values())
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)
            if process.is_alive():
                log.warning("scan worker %s (pid %s) did not stop", process.name, process.pid)
        pool.shutdown(wait=False, cancel_futures=True)
        log.info("scan abandoned: the tracks in flight are left for the next scan")

    def _done(self, job: Job, outcome: tuple, report: ScanReport, progress: ScanProgress) -> None:
        if job.listen:
            self._commit_listened(*outcome, report, progress)
        else:
            self._commit(*outcome, report, progress)

    def _commit_listened(
        self, job: Job, listened: Listened | None, reason: str | None, report: ScanReport, progress: ScanProgress
    ) -> None:
        """Store a track's drum embedding, if its file is still the one analysed (else the next scan analyses
        it again and listens to it after). A file that cannot be listened to keeps its analysis and is
        recorded as heard with nothing heard (`Catalog.put_drum_sfx`), not tried again until it changes."""
        start = time.perf_counter()
        changed = self._changed_since(job)
        if changed:
            log.info("not listened for drums: %s %s", display(job.path), changed)
        elif listened is not None:
            if self.catalog.put_drum_sfx(job.path, job.size, job.mtime_ns, listened.pooled, listened.key):
                report.listened += 1
                report.stages["listen"] = report.stages.get("listen", 0.0) + listened.seconds
        else:
            log.info("could not listen for drums in %s: %s", display(job.path), reason)
            self.catalog.put_drum_sfx(job.path, job.size, job.mtime_ns, None, drum_sfx_key(self.bundle))
            report.unheard += 1
        report.stages["write"] = report.stages.get("write", 0.0) + time.perf_counter() - start
        progress.files_done += 1
        progress.current = display(job.path)
        self.on_progress(progress)
        self._refresh_now(report)

    def _refresh_now(self, report: ScanReport) -> None:
        """Rebuild the index every REFRESH_EVERY seconds while tracks already searchable are completed or
        listened to, so that searches see their new measures as they come."""
        if (
            self._refreshed is not None
            and time.perf_counter() - self._refreshed >= REFRESH_EVERY
            and not self.should_abandon()
        ):
            report.index_rebuilt = self.on_searchable() or report.index_rebuilt
            self._refreshed = time.perf_counter()

    def _commit(self, job: Job, result: TrackResult | None, reason: str | None, silent: bool, report, progress) -> None:
        start = time.perf_counter()
        changed = self._changed_since(job)
        if changed:
            reason = changed
        if job.quick and result is None and not changed:
            # The full analysis decodes the whole file: it records why, if the file really cannot be read.
            log.info("quick pass skipped %s (%s): its full analysis follows", display(job.path), reason)
        elif result is None or changed:
            # Size and mtime of a file that changed under us are left out, so the next scan retries it.
            identity = (None, None) if changed else (job.size, job.mtime_ns)
            if silent and not changed:
                # What the file holds, not a failure to read it: a record kept from before would offer silence.
                report.removed += self.catalog.remove_tracks([job.path])
            self._failed(job, identity, reason, report, progress)
        else:
            self.catalog.put_track(job.root_id, result.track, result.segments)
            progress.indexed += 1
            if result.track.quick:
                report.quick += 1
            else:
                self._settled.add(job.path)
                report.indexed += 1
                report.seconds_of_audio += result.track.duration
                progress.seconds_of_audio += result.track.duration
            prefix = "quick " if job.quick else ""
            for stage, seconds in result.times.items():
                report.stages[prefix + stage] = report.stages.get(prefix + stage, 0.0) + seconds
        report.stages["write"] = report.stages.get("write", 0.0) + time.perf_counter() - start
        progress.files_done += 1
        progress.current = display(job.path)
        self.on_progress(progress)
        if not job.quick:
            self._refresh_now(report)

    def _failed(self, job: Job, identity: tuple, reason: str, report: ScanReport, progress: ScanProgress) -> None:
        """Record why a file cannot be indexed. A quick analysis of it goes: its full one failed, so it is no
        more indexed than any file that fails (and is not re-analysed at every scan)."""
        if not job.quick:
            self.catalog.forget_quick(job.path)
        self.catalog.put_error(job.root_id, job.path, *identity, reason)
        self._settled.add(job.path)
        report.failed += 1
        progress.failed += 1
        log.info("skipped %s: %s", display(job.path), reason)

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
        if not os.access(job.path, os.R_OK):  # a permission put right changes neither size nor time
            return "no permission to read it (tried again at every scan)"
        return None
