"""Locks between processes (and threads) sharing one data folder: one scan at a time, one index build at a
time. File locks (flock, or LockFileEx on Windows) are released by the system when their holder dies, so a
killed scan never leaves the library locked."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from engine.library.errors import ScanRunningError

log = logging.getLogger(__name__)

SCAN_LOCK = "scan.lock"
BUILD_LOCK = ".build.lock"  # in the index folder; hidden, so it is never taken for part of an index
# A scan asks for its lock for this long before saying another one runs: long enough to ride over a
# `scan_running` probe that holds it for an instant.
SCAN_LOCK_WAIT = 0.5

_held = threading.local()  # index folders whose build lock this thread holds


@contextmanager
def scan_lock(data_dir: Path) -> Iterator[None]:
    """Held for the whole of a scan; a second scan of the same data folder fails at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(data_dir / SCAN_LOCK)
    try:
        lock.acquire(timeout=SCAN_LOCK_WAIT)
    except Timeout:
        raise ScanRunningError(
            "a scan of this library is already running (in this app or another window or process): "
            "wait for it to finish, or stop it, then scan again"
        ) from None
    try:
        yield
    finally:
        lock.release()


def scan_running(data_dir: Path) -> bool:
    """Whether a scan holds the data folder's scan lock now (probed by taking it for an instant)."""
    if not (data_dir / SCAN_LOCK).exists():
        return False
    lock = FileLock(data_dir / SCAN_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


@contextmanager
def build_lock(index_dir: Path) -> Iterator[bool]:
    """Held while an index is written, so that two builders never remove each other's files; yields whether
    another build had to finish first. Re-entrant within a thread (Library.rebuild_index holds it around
    build_index, which takes it too)."""
    held = _held.__dict__.setdefault("folders", set())
    key = os.path.abspath(index_dir)
    if key in held:
        yield False
        return
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(index_dir / BUILD_LOCK)
    waited = False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another index build to finish")
        waited = True
        lock.acquire()
    held.add(key)
    try:
        yield waited
    finally:
        held.discard(key)
        lock.release()
