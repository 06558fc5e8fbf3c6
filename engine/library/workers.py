"""The scan's worker processes: each holds one TrackAnalyzer and analyses one file per call (or, in the
listening pass, one DrumListener).

Two rules keep a scan's workers from outliving it or from deciding for it:
- a worker exits as soon as its parent is gone (killed, crashed), instead of waiting for work forever;
- a worker ignores SIGINT. Ctrl-C in a terminal signals the whole foreground process group, and the parent
  alone decides what it means (finish the tracks in flight, keep them, build the index, then stop).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait

import numpy as np

from engine.bundle import load_bundle
from engine.library.analysis import DrumListener, Silent, SkipFile, TrackAnalyzer, TrackResult
from engine.library.files import fingerprint
from engine.library.records import display

log = logging.getLogger(__name__)

# Scan workers run this much nicer than the process that started them: on a busy machine the interface
# (the app's window, the editor) is served first, and an idle machine still gives the scan every core.
WORKER_NICENESS = 10


@dataclass(frozen=True)
class Job:
    """A file to analyse, with the size and mtime it had when the scan found it."""

    root_id: int
    path: bytes
    size: int
    mtime_ns: int
    quick: bool = False  # a quick pass's provisional analysis (analysis.py quick_window), not the full one
    listen: bool = False  # the drum detector's embedding only, of a track analysed already (scanner.py)


@dataclass(frozen=True)
class Listened:
    """What listening for drums gives (DrumListener): the embedding, its graph's key, the seconds."""

    pooled: np.ndarray
    key: str
    seconds: float


_analyzer: TrackAnalyzer | None = None
_listener: DrumListener | None = None


def init_worker(bundle_dir: str, listening: bool = False) -> None:
    """Runs first in every worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked while the process started (see `quiet_start`)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _exit_with_parent()
    if hasattr(os, "nice"):
        # A scan is background work: the app's window and the editor the user is working in come first.
        os.nice(WORKER_NICENESS)
    # One thread per process: the pool itself spreads the work over the cores. That holds for numpy's BLAS
    # too, whose threads (one per core) fight the other workers on any large product: a matrix product in the
    # chroma fold once cost the scan a quarter of its speed (docs/quality.md, Scanning in float32).
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    bundle = load_bundle(bundle_dir, verify=False)
    if listening:  # the listening pass's workers need the drum network alone
        use_listener(DrumListener(bundle, threads=1))
    else:
        use_analyzer(TrackAnalyzer(bundle, threads=1))


def use_analyzer(analyzer: TrackAnalyzer) -> None:
    """The analyzer `analyse` uses in this process (the scan's own, when it analyses without workers)."""
    global _analyzer
    _analyzer = analyzer


def use_listener(listener: DrumListener) -> None:
    """The listener `listen` uses in this process (the scan's own, when it listens without workers)."""
    global _listener
    _listener = listener


def _exit_with_parent() -> None:
    """Exit the moment the parent process ends, however it ends.

    The pool's queues are shared with the parent and every worker, so a worker waiting for work never sees
    them close when the parent dies. Its sentinel does (portable: a pipe on POSIX, a handle on Windows).
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)  # no cleanup: the work in hand belongs to a scan that no longer exists

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextmanager
def quiet_start() -> Iterator[None]:
    """Start worker processes with SIGINT blocked (POSIX: a child inherits its parent's signal mask), so a
    Ctrl-C while a worker starts up, before `init_worker` ignores it, waits instead of killing it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def listen(job: Job) -> tuple[Job, Listened | None, str | None]:
    """The drum detector's embedding of a track analysed already, or why it cannot be had."""
    start = time.perf_counter()
    try:
        pooled = _listener(job.path)
    except SkipFile as exc:
        return job, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a scan
        log.exception("listening for drums in %s failed", display(job.path))
        return job, None, f"unexpected error: {type(exc).__name__}: {exc}"
    return job, Listened(pooled, _listener.key, time.perf_counter() - start), None


def analyse(job: Job) -> tuple[Job, TrackResult | None, str | None, bool]:
    """The track's analysis (with the file's fingerprint), or the reason the file is skipped; and whether
    it is skipped for holding no sound at all (`Silent`)."""
    try:
        result = _analyzer(job.path, job.size, job.mtime_ns, quick=job.quick)
    except SkipFile as exc:
        return job, None, str(exc), isinstance(exc, Silent)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a scan
        log.exception("analysing %s failed", display(job.path))
        return job, None, f"unexpected error: {type(exc).__name__}: {exc}", False
    try:
        track = dataclasses.replace(result.track, fingerprint=fingerprint(job.path))
    except OSError:  # gone already: the scan sees that and records it for a retry
        track = result.track
    return job, dataclasses.replace(result, track=track), None, False
