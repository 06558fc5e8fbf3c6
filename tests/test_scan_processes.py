"""Scans and index builds across real processes: one scan at a time, index builds that wait for each other,
worker processes that never outlive their scan, and Ctrl-C from a terminal (SIGINT to the whole process
group) that finishes the tracks in flight and builds the index."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.library import Library, ScanRunningError
from engine.library.index import SegmentIndex, read_index_info
from media import render_midi

PIECES = {
    "piano.flac": dict(bpm=60, program=0, melody=[60, 64, 67, 72], velocity=60),
    "techno.mp3": dict(bpm=140, program=81, melody=[57, 60, 64, 60], beats_per_note=0.5, drums=True, bass=True),
    "organ.wav": dict(bpm=84, program=19, melody=[48, 52, 55, 60]),
}
COPIES = 8  # 24 files: a scan long enough to interrupt half-way

# A scan in its own process, with the Ctrl-C handling of `needledrop library scan`: the first SIGINT asks
# the scan to stop after the tracks in flight.
SCAN = """
import json, signal, sys
from pathlib import Path
from engine import paths
from engine.bundle import open_current_bundle
from engine.library import Library

library = Library(Path(sys.argv[1]), open_current_bundle(paths.models_dir()))
stop = []
signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
quick = {"quick": True, "full": False}.get(sys.argv[2] if len(sys.argv) > 2 else "full")
report = library.scan(workers=2, should_stop=lambda: bool(stop), quick=quick)
print(json.dumps({k: getattr(report, k) for k in ("indexed", "quick", "failed", "cancelled", "index_rebuilt")}))
"""
REBUILD = """
import sys
from pathlib import Path
from engine import paths
from engine.bundle import open_current_bundle
from engine.library import Library

library = Library(Path(sys.argv[1]), open_current_bundle(paths.models_dir()))
for _ in range(int(sys.argv[2])):
    library.rebuild_index()
"""


@pytest.fixture(scope="module")
def pieces(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pieces")
    for name, arrangement in PIECES.items():
        render_midi(folder / name, seconds=24, **arrangement)
    return folder


@pytest.fixture
def many(pieces, tmp_path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(COPIES):
        for name in PIECES:
            shutil.copyfile(pieces / name, folder / f"{i}-{name}")
    return folder


@pytest.fixture
def data(many, bundle, tmp_path) -> Path:
    """A data folder whose library holds `many`, not scanned yet."""
    data = tmp_path / "data"
    Library(data, bundle).add_root(many)
    return data


def start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a foreground command
    )


def wait_for_tracks(library: Library, count: int, process: subprocess.Popen) -> int:
    deadline = time.time() + 180
    while (found := len(library.catalog.tracks())) < count:
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "the scan made no progress"
        time.sleep(0.05)
    return found


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (psutil where installed, else Linux's /proc)."""
    try:
        import psutil
    except ImportError:
        if not Path("/proc/self/task").exists():
            pytest.skip("needs psutil or /proc to find the worker processes")
        found = [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
        return found + [grandchild for child in found for grandchild in children(child)]
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        import psutil

        return " ".join(psutil.Process(pid).cmdline())


def gone_or_zombie(pid: int) -> bool:
    """A process that ended is a zombie until its new parent reaps it (a container's PID 1 may never)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        import psutil

        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def kill_group(process: subprocess.Popen) -> None:
    """The process and whatever it started, if anything is left (the group lives while any member does)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_second_scan_is_refused_at_once_from_another_process_or_thread(data, bundle):
    library = Library(data, bundle)
    scan = start(SCAN, str(data))
    try:
        wait_for_tracks(library, 1, scan)
        assert library.status()["scanning"]
        began = time.perf_counter()
        with pytest.raises(ScanRunningError, match="already running"):
            library.scan(workers=1)
        assert time.perf_counter() - began < 2
    finally:
        kill_group(scan)
    assert not library.status()["scanning"]

    started, release = threading.Event(), threading.Event()

    def blocked(progress):  # a scan in another thread of this process, held mid-way
        started.set()
        release.wait(60)

    reports = []
    worker = threading.Thread(target=lambda: reports.append(Library(data, bundle).scan(workers=0, on_progress=blocked)))
    worker.start()
    try:
        assert started.wait(120)
        with pytest.raises(ScanRunningError, match="already running"):
            library.scan(workers=1)
    finally:
        release.set()
        worker.join()
    assert reports and not reports[0].cancelled


def test_index_builds_in_two_processes_never_leave_a_pointer_to_deleted_files(data, bundle, pieces):
    library = Library(data, bundle)
    library.scan(workers=2)
    _, vectors = library.catalog.segment_vectors(bundle.id)
    builders = [start(REBUILD, str(data), "25") for _ in range(2)]
    errors: list[Exception] = []
    while any(b.poll() is None for b in builders):  # a reader queries all the while
        try:
            assert len(SegmentIndex(library.index_dir, bundle.id).query(vectors[0], 5)[0]) == 5
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)
    for b in builders:
        _, stderr = b.communicate()
        assert b.returncode == 0, stderr
    assert errors == []
    info = read_index_info(library.index_dir)
    for name in (info.file, info.vectors, info.rows, info.tracks):
        assert (library.index_dir / name).exists()
    assert library.index_is_current()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
def test_worker_processes_die_with_their_scan(data, bundle, sig):
    library = Library(data, bundle)
    scan = start(SCAN, str(data))
    try:
        wait_for_tracks(library, 1, scan)
        workers = children(scan.pid)
        assert len(workers) >= 2
        os.kill(scan.pid, sig)  # the scan alone, as a crash or `kill` would: not its process group
        scan.wait()
        deadline = time.time() + 5
        while not all(map(gone_or_zombie, workers)) and time.time() < deadline:
            time.sleep(0.05)
        assert [pid for pid in workers if not gone_or_zombie(pid)] == []
    finally:
        kill_group(scan)  # the workers are in its process group: none is left behind by a failure here


def ctrl_c_after_two_tracks(library: Library, scan: subprocess.Popen) -> tuple[int, dict]:
    """Ctrl-C once the scan has stored two tracks: how many it had then, and the JSON report it exits 0 with."""
    try:
        done = wait_for_tracks(library, 2, scan)
        os.killpg(scan.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: every process of the group
        stdout, stderr = scan.communicate(timeout=120)
    finally:
        kill_group(scan)
    assert scan.returncode == 0, stderr
    return done, json.loads(stdout)


def test_ctrl_c_finishes_the_tracks_in_flight_and_builds_the_index(data, bundle):
    library = Library(data, bundle)
    done, report = ctrl_c_after_two_tracks(library, start(SCAN, str(data)))
    assert report["cancelled"] and report["index_rebuilt"] and report["failed"] == 0
    assert done < report["indexed"] < len(PIECES) * COPIES  # the tracks in flight were finished and kept
    assert library.catalog.errors() == []
    assert len(library.catalog.tracks()) == report["indexed"]
    assert library.index_is_current() and len(library.open_index()) == library.catalog.segment_count(bundle.id)


def test_ctrl_c_while_the_workers_start_up_stops_cleanly(data, bundle):
    """A worker that gets SIGINT before its initializer could ignore it would die, and can leave the pool
    hanging: workers start with SIGINT blocked, so it waits for them."""
    scan = start(SCAN, str(data))
    try:
        deadline = time.time() + 120
        while not [pid for pid in children(scan.pid) if "spawn_main" in command_line(pid)]:
            assert scan.poll() is None and time.time() < deadline, scan.communicate()
            time.sleep(0.005)
        os.killpg(scan.pid, signal.SIGINT)
        stdout, stderr = scan.communicate(timeout=120)
    finally:
        kill_group(scan)
    assert scan.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["cancelled"] and report["failed"] == 0 and report["index_rebuilt"]
    assert Library(data, bundle).catalog.errors() == []


def test_ctrl_c_in_a_terminal_stops_needledrop_library_scan_as_documented(data, bundle):
    """The real command: Ctrl-C reaches every process of the group; the scan finishes the tracks in flight,
    builds the index, says what it did and how to go on, and exits 0."""
    library = Library(data, bundle)
    command = [sys.executable, "-m", "engine.cli.main", "--data-dir", str(data), "library", "scan", "--json"]
    scan = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    done, report = ctrl_c_after_two_tracks(library, scan)
    assert report["cancelled"] and report["index_rebuilt"] and report["skipped"] == 0
    assert done < report["indexed"] < len(PIECES) * COPIES
    assert library.index_is_current()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert json.loads(again.stdout)["indexed"] == len(PIECES) * COPIES - report["indexed"]  # it went on


def test_kill_stops_needledrop_library_scan_as_ctrl_c_does(data, bundle):
    """SIGTERM to the command alone (`kill PID`, a service manager) used to end it mid-track with no summary
    and a warning of leaked semaphores: it now finishes the tracks in flight and says what it did."""
    library = Library(data, bundle)
    command = [sys.executable, "-m", "engine.cli.main", "--data-dir", str(data), "library", "scan", "--json"]
    scan = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        done = wait_for_tracks(library, 2, scan)
        os.kill(scan.pid, signal.SIGTERM)
        stdout, stderr = scan.communicate(timeout=120)
    finally:
        kill_group(scan)
    assert scan.returncode == 0 and "leaked" not in stderr, stderr
    report = json.loads(stdout)
    assert report["cancelled"] and report["index_rebuilt"] and report["skipped"] == 0
    assert done <= report["indexed"] < len(PIECES) * COPIES and library.index_is_current()


def test_an_abandoned_scan_stops_at_once_and_the_next_one_finishes_the_tracks(data, bundle):
    """Quitting the app: the workers end mid-track, nothing half-done is stored, the index is left for the
    next open, and the next scan analyses the dropped tracks like any it has not seen."""
    import multiprocessing

    library = Library(data, bundle)
    progress = []
    before = set(multiprocessing.active_children())  # (an earlier test's, on its way out)
    report = library.scan(
        workers=2,
        quick=False,
        on_progress=lambda p: progress.append(p.indexed),
        should_abandon=lambda: bool(progress) and progress[-1] >= 1,  # once the first track is stored
    )
    assert report.cancelled and not report.index_rebuilt and report.failed == 0
    left = lambda: [(p.name, p.pid) for p in multiprocessing.active_children() if p not in before]  # noqa: E731
    deadline = time.monotonic() + 3.0  # a moment to be reaped on a busy machine
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left(), (left(), [(p.name, p.pid) for p in before])  # no worker of this scan is left analysing
    stored = len(library.catalog.tracks())
    assert stored == report.indexed and 1 <= stored <= 2  # no track started after the stop was stored
    assert library.catalog.errors() == [] and not library.index_is_current()

    again = library.scan(workers=2, quick=False)
    assert again.indexed == len(PIECES) * COPIES - stored and not again.cancelled
    assert library.index_is_current() and library.catalog.errors() == []
