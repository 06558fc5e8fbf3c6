"""`needledrop library add|remove|scan|status|list|errors|tempo`: the music folders Needledrop recommends from."""

from __future__ import annotations

import argparse
import signal
import time
from fractions import Fraction

from tqdm import tqdm

from engine.cli.options import emit, open_engine, positive_int
from engine.facade import PLAUSIBLE_BPM
from engine.records import QUICK_FROM_FILES, QUICK_FROM_SECONDS, ScanProgress


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("library", help="music folders: add, remove, scan, status, list, errors, tempo")
    actions = parser.add_subparsers(dest="library_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="add a music folder (scanned by `library scan`)")
    add.add_argument("path")
    remove = actions.add_parser("remove", help="forget a music folder and its tracks (files are not touched)")
    remove.add_argument("path")
    scan = actions.add_parser("scan", help="index new and changed files in every folder")
    scan.add_argument("--full", action="store_true", help="re-analyse every file, changed or not")
    scan.add_argument("--workers", type=positive_int, help="processes to use (default: one per core)")
    scan.add_argument(
        "--quick",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="make new files searchable from one window first, then analyse them in full "
        f"(default: when they hold {QUICK_FROM_SECONDS / 3600:g} hour of audio or more, or are {QUICK_FROM_FILES} "
        "files or more)",
    )
    actions.add_parser("status", help="folders, tracks, hours of audio, errors, index")
    lst = actions.add_parser("list", help="the catalogued tracks")
    lst.add_argument("--limit", type=positive_int)
    actions.add_parser("errors", help="files that could not be indexed, and why")
    tempo = actions.add_parser(
        "tempo",
        help="set the tempo you hear where the scan read another (its half, double...)",
        description="Where the scan read a track at another tempo than the one you hear (its half, double, two "
        "thirds or three halves, or a grid that drifted from the music), set the one you hear: the list, "
        "results, tempo filters, fits and exports then count its beats at it. At a metrical level of the "
        "measured tempo the measured beats are counted at it; at any other, the beats are followed again from "
        "the file (a second or two). Without a tempo, shows it.",
    )
    tempo.add_argument("track", help="the track's id or path (`library list`)")
    how = tempo.add_mutually_exclusive_group()
    how.add_argument("bpm", nargs="?", type=float, help=f"the tempo you hear, {PLAUSIBLE_BPM[0]} to {PLAUSIBLE_BPM[1]}")
    how.add_argument("--times", type=_ratio, metavar="R", help="multiply the tempo shown: 2, 1/2, 3/2, 2/3...")
    how.add_argument("--measured", action="store_true", help="go back to the tempo the scan measured")
    for p in (add, remove, scan, lst, tempo, *[actions.choices[n] for n in ("status", "errors")]):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    for name, handler in (
        ("add", add_command),
        ("remove", remove_command),
        ("scan", scan_command),
        ("status", status_command),
        ("list", list_command),
        ("errors", errors_command),
        ("tempo", tempo_command),
    ):
        actions.choices[name].set_defaults(handler=handler)


def add_command(args) -> int:
    root = open_engine(args, prepare_index=False).add_root(args.path)
    emit(args, {"added": root.path}, f"added {root.path}; run `needledrop library scan` to index it")
    return 0


def remove_command(args) -> int:
    removed = open_engine(args).remove_root(args.path)
    emit(args, {"removed": removed}, "removed" if removed else f"{args.path} was not a library folder")
    return 0 if removed else 1


class _Bar:
    """tqdm over files, with hours of audio, the rate as a multiple of real time, and the ETA."""

    def __init__(self, enabled: bool):
        self.bar = None
        self.enabled = enabled

    def __call__(self, progress: ScanProgress) -> None:
        if not self.enabled:
            return
        desc = {"quick": "quick pass", "drums": "listening for drums"}.get(progress.phase, "analysing")
        if self.bar is None or self.bar.desc != desc:  # a new pass: a bar of its own
            self.close()
            self.bar = tqdm(total=progress.files_total, unit="file", desc=desc, dynamic_ncols=True)
        self.bar.n = progress.files_done
        if progress.phase == "quick":
            self.bar.set_postfix_str(f"{progress.indexed} searchable, {progress.failed} skipped")
            return
        if progress.phase == "drums":
            return
        speed = progress.seconds_of_audio / max(progress.elapsed, 1e-6)
        self.bar.set_postfix_str(
            f"{progress.seconds_of_audio / 3600:.2f} h audio, {speed:.0f}x real time, {progress.failed} skipped"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def scan_command(args) -> int:
    engine = open_engine(args, prepare_index=False)  # the scan brings the index up to date itself
    bar = _Bar(enabled=not args.json)
    stop = {"requested": False}

    def interrupt(signum, frame):  # first Ctrl-C: finish the tracks in flight, keep everything done so far
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True

    # `kill` (a service manager, a script's timeout) stops the scan as Ctrl-C does: it ended it mid-track,
    # without a word of what was done.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = engine.scan(
            full=args.full,
            workers=args.workers,
            on_progress=bar,
            should_stop=lambda: stop["requested"],
            quick=args.quick,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bar.close()
    data = {
        "indexed": report.indexed,
        "quick": report.quick,
        "searchable_after": report.searchable_after,
        "skipped": report.failed,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "moved": report.moved,
        "listened_for_drums": report.listened,
        "offline": report.missing,
        "back_online": report.returned,
        "offline_roots": report.roots_offline,
        "cancelled": report.cancelled,
        "audio_hours": report.seconds_of_audio / 3600,
        "seconds": report.elapsed,
        "realtime_factor": report.seconds_of_audio / report.elapsed if report.elapsed else None,
        "stage_seconds": report.stages,
        "index_rebuilt": report.index_rebuilt,
    }
    lines = [
        f"indexed {report.indexed}, skipped {report.failed}, unchanged {report.unchanged}, "
        f"removed {report.removed} in {report.elapsed:.1f} s"
    ]
    if report.searchable_after is not None:
        lines.append(f"quick pass: {report.quick} tracks searchable after {report.searchable_after:.0f} s")
    if report.seconds_of_audio:
        lines.append(f"{report.seconds_of_audio / 3600:.2f} h of audio, {data['realtime_factor']:.0f}x real time")
    if report.moved:
        lines.append(f"{report.moved} moved or renamed files kept their analysis")
    if report.listened:
        lines.append(f"{report.listened} tracks listened to for drums")
    if report.missing:
        lines.append(f"{report.missing} tracks in folders that cannot be reached are kept, offline")
    if report.returned:
        lines.append(f"{report.returned} offline tracks are back")
    for root in report.roots_offline:
        lines.append(f"offline (kept as it was): {root}")
    if report.failed:
        lines.append("see `needledrop library errors` for the reasons")
    if report.cancelled:
        provisional = "; tracks from the quick pass are searchable and will be completed" if report.quick else ""
        lines.append(f"stopped early; run the scan again to continue{provisional}")
    emit(args, data, "\n".join(lines))
    return 0


def status_command(args) -> int:
    status = open_engine(args).status()
    lines = [
        f"{status.tracks} tracks, {status.audio_hours:.1f} h of audio, {status.segments} segments, "
        f"{status.errors} files skipped"
    ]
    for root in status.roots:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(root.last_scan)) if root.last_scan else "never"
        offline = f", {root.offline_tracks} tracks offline (kept)" if root.online and root.offline_tracks else ""
        lines.append(f"  {'online ' if root.online else 'OFFLINE'}  {root.path}  (last scan: {when}{offline})")
    if status.stale_tracks:
        lines.append(f"{status.stale_tracks} tracks were embedded by another model bundle: scan to update them")
    if status.quick_tracks:
        lines.append(
            f"{status.complete_tracks} tracks complete, {status.quick_tracks} from a quick pass only "
            "(searchable, provisional): the scan completes them"
        )
    if status.unheard_drums:
        lines.append(
            f"{status.unheard_drums} track{'s' if status.unheard_drums != 1 else ''} not listened to for drums yet "
            "(or unreadable at 44.1 kHz): "
            'the first drum detector answers "no drums" for them'
        )
    index = status.index
    lines.append(
        "index: none yet"
        if index is None
        else f"index: {index.segments} segments" + ("" if index.current else " (outdated: scan)")
    )
    if status.scanning:
        lines.append("a scan is running")
    emit(args, status, "\n".join(lines))
    return 0


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def list_command(args) -> int:
    tracks = open_engine(args, prepare_index=False).tracks(limit=args.limit)
    lines = []
    for t in tracks:
        tags = ", ".join(k for group in t.tags.values() for k in group)
        bpm = f"{t.bpm:.0f} BPM" if t.bpm else "no beat"
        energy = f"energy {t.energy:+.1f}" if t.energy is not None else ""
        mood = f"mood {t.mood:+.1f}" if t.mood is not None else ""
        lufs = f"{t.loudness_lufs:.0f} LUFS" if t.loudness_lufs is not None else ""
        offline = "" if t.online else "  (offline)"
        quick = "  (quick pass only)" if t.quick else ""
        lines.append(
            f"{t.id:>5}  {_minutes(t.duration):>6}  {bpm:>8}  {energy:<11} {mood:<9} {lufs:>8}  {t.key or '':<9} "
            f"{t.name}  [{tags}]{offline}{quick}{_tempo_set(t)}"
        )
    emit(args, tracks, "\n".join(lines) or "no tracks yet: `needledrop library add FOLDER`, then `scan`")
    return 0


def _ratio(text: str) -> Fraction:
    try:
        ratio = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a multiple of a tempo: {text!r} (try 2, 1/2, 3/2 or 2/3)") from None
    if ratio <= 0:
        raise argparse.ArgumentTypeError(f"a tempo is multiplied by a positive number, not {text}")
    return ratio


def _tempo_set(track) -> str:
    if not track.bpm_set:
        return ""
    measured = f"{track.bpm_measured:.0f}" if track.bpm_measured else "no steady beat"
    return f"  (tempo set by you; measured {measured})"


def tempo_command(args) -> int:
    engine = open_engine(args)
    if args.bpm is None and args.times is None and not args.measured:
        track = engine.track(args.track)
    else:
        track = engine.set_tempo(args.track, args.bpm, times=args.times)
    shown = f"{track.bpm:.1f} BPM" if track.bpm else "no steady beat"
    emit(args, track, f"{track.name}: {shown}{_tempo_set(track)}")
    return 0


def errors_command(args) -> int:
    errors = open_engine(args, prepare_index=False).errors()
    emit(args, errors, "\n".join(f"{e.path}: {e.reason}" for e in errors) or "no errors")
    return 0
