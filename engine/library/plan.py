"""What a scan will do, decided before it analyses anything: which files to analyse, which tracks moved,
which are away for now, and which were really deleted.

The rules, each tested:
- a root that is missing, unreadable or empty is offline: nothing under it is looked at or removed;
- a known file found unchanged (size and mtime) and embedded by this bundle is skipped (unless `full`);
  one that a quick pass analysed is completed (`completions`): it is searchable already;
- a file that failed before is not retried until its size or mtime changes;
- a new path whose fingerprint matches a known track that was not found is that track, moved: it keeps
  its id and analysis;
- a track not found is removed only when its own folder is there and still has entries; otherwise (an
  unplugged drive mounted inside the root, a dangling folder link, a missing folder) it is kept, marked
  missing, and marked present again when its file is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine.library.catalog import Catalog
from engine.library.files import fingerprint, unreachable, walk_audio
from engine.library.records import KnownTrack, Root
from engine.library.roots import root_is_online
from engine.library.workers import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Move:
    track_id: int
    root_id: int
    path: bytes
    size: int
    mtime_ns: int


@dataclass
class ScanPlan:
    online: list[Root] = field(default_factory=list)
    offline: list[Root] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)  # files to analyse: new, changed, or another bundle's
    completions: list[Job] = field(default_factory=list)  # tracks a quick pass left provisional
    current: set[bytes] = field(default_factory=set)  # jobs' files fully analysed by this bundle (a full rescan)
    considered: int = 0  # audio files found under online roots
    unchanged: int = 0
    moves: list[Move] = field(default_factory=list)
    deleted: list[bytes] = field(default_factory=list)  # paths of tracks whose files are gone for good
    missing: list[int] = field(default_factory=list)  # tracks whose files cannot be reached now
    went_missing: int = 0  # of which were reachable at the scan before
    returned: list[int] = field(default_factory=list)  # tracks that were missing, and whose files are back
    unfingerprinted: dict[int, bytes] = field(default_factory=dict)  # present tracks without a fingerprint
    stale_errors: list[bytes] = field(default_factory=list)  # errors that no longer hold: the file went or is back


@dataclass(frozen=True)
class _NewFile:
    job: Job
    failed_before: bool  # with this size and mtime


def plan_scan(catalog: Catalog, bundle_id: str, *, full: bool = False) -> ScanPlan:
    plan = ScanPlan()
    # A full scan stopped halfway goes on: what it had not reached yet is analysed again by the next scan.
    pending = None if full else catalog.full_scan_since()
    new_files: list[_NewFile] = []
    not_found: list[KnownTrack] = []
    for root in catalog.roots():
        if not root_is_online(root):
            plan.offline.append(root)
            continue
        plan.online.append(root)
        known = catalog.known_files(root.id)
        errors = catalog.known_errors(root.id)
        found = set()
        for path, info in walk_audio(root.path):
            found.add(path)
            plan.considered += 1
            job = Job(root.id, path, info.st_size, info.st_mtime_ns)
            failed_before = errors.get(path) == (job.size, job.mtime_ns)
            if path in known:
                track = known[path]
                # (a file that failed is tried again only by --full itself, or when it changes)
                again = full or (pending is not None and track.scanned_at < pending and not failed_before)
                stands = _plan_known(plan, track, job, failed_before, bundle_id, again)
                if stands and path in errors and not failed_before:
                    # Recorded while the file was in flight in a scan that lost it (its drive unplugged, or
                    # the file replaced): it is back as it was analysed, so the error no longer holds.
                    plan.stale_errors.append(path)
            else:
                new_files.append(_NewFile(job, failed_before))
        not_found += [track for path, track in known.items() if path not in found]
        plan.stale_errors += [path for path in errors if path not in found and not unreachable(path)]
    moved = _plan_new(plan, new_files, not_found, bundle_id, full)
    for track in not_found:
        if track.id in moved:
            continue
        if unreachable(track.path):
            plan.missing.append(track.id)
            plan.went_missing += not track.missing
        else:
            plan.deleted.append(track.path)
    return plan


def _plan_known(plan: ScanPlan, track: KnownTrack, job: Job, failed_before: bool, bundle_id: str, full: bool) -> bool:
    """Plan a file the catalog knows; True when its analysis stands as it is (nothing to do)."""
    if track.missing:
        plan.returned.append(track.id)
    unchanged = (track.size, track.mtime_ns) == (job.size, job.mtime_ns)
    if unchanged and track.fingerprint is None:
        plan.unfingerprinted[track.id] = track.path
    current = unchanged and track.bundle_id == bundle_id
    if not full and (failed_before or (current and not track.quick)):
        plan.unchanged += 1
        return current and not track.quick
    if not full and current:
        plan.completions.append(job)
    else:
        plan.jobs.append(job)
        if current and not track.quick:
            plan.current.add(job.path)
    return False


def _plan_new(
    plan: ScanPlan, new_files: list[_NewFile], not_found: list[KnownTrack], bundle_id: str, full: bool
) -> set[int]:
    """Moves among the new paths, and jobs for the rest; returns the ids of the tracks that moved."""
    candidates: dict[str, list[KnownTrack]] = {}
    for track in sorted(not_found, key=lambda t: t.id):
        if track.fingerprint:
            candidates.setdefault(track.fingerprint, []).append(track)
    sizes = {track.size for tracks in candidates.values() for track in tracks}
    moved: set[int] = set()
    for new in new_files:
        job = new.job
        track = _moved_track(job, candidates) if job.size in sizes else None
        if track is not None:
            plan.moves.append(Move(track.id, job.root_id, job.path, job.size, job.mtime_ns))
            moved.add(track.id)
            if full or track.bundle_id != bundle_id:
                plan.jobs.append(job)  # analysed in place: the moved track keeps its id
                if track.bundle_id == bundle_id and not track.quick:
                    plan.current.add(job.path)
            elif track.quick:
                plan.completions.append(job)
        elif not full and new.failed_before:
            plan.unchanged += 1
        else:
            plan.jobs.append(job)
    return moved


def _moved_track(job: Job, candidates: dict[str, list[KnownTrack]]) -> KnownTrack | None:
    try:
        tracks = candidates.get(fingerprint(job.path))
    except OSError:  # unreadable: its analysis will say why
        return None
    return tracks.pop(0) if tracks else None
