"""`needledrop timeline read|score`: an editor's cut read, and written back with music under each clip."""

from __future__ import annotations

import argparse
import math

from engine.cli.options import emit, fraction, open_engine, positive_int
from engine.clock import clock
from engine.export import FORMATS
from engine.facade import Engine


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "timeline", help="read an editor's timeline (.otio, FCP 7 .xml, .fcpxml, .edl); score it with music"
    )
    actions = parser.add_subparsers(dest="timeline_command", required=True, metavar="ACTION")

    read = actions.add_parser(
        "read",
        help="the picture clips of a timeline: file, in and out, position",
        description="List the picture clips of a timeline exported from Premiere, Resolve or Final Cut, in "
        "record order, and the clips left out (titles, generators, files that are not there).",
    )
    read.add_argument("timeline", help="a .otio, FCP 7 .xml, .fcpxml(d) or .edl file")

    score = actions.add_parser(
        "score",
        help="the timeline written back with the top recommendation under each clip, at the same positions",
        description="Recommend music for each picture clip of a timeline (its picture and --prompt), a "
        "different track for each, and write the timeline again with the music under each clip at the clip's "
        "own position and the timeline's start timecode, gaps kept.",
    )
    score.add_argument("timeline", help="a .otio, FCP 7 .xml, .fcpxml(d) or .edl file")
    score.add_argument("out", help="the file to write; its suffix picks the format unless --format is given")
    score.add_argument("--prompt", "-p", help="what the music should be, for every clip")
    score.add_argument(
        "--balance", type=fraction, default=0.5, help="0 = picture only … 1 = words only (default 0.5, both)"
    )
    score.add_argument("--video-track", type=positive_int, help="only the clips of this video track (1 is V1)")
    score.add_argument("--format", choices=sorted(FORMATS))
    score.add_argument(
        "--collect",
        metavar="DIR",
        help="gather the music into DIR, outside the library folders, and point the timeline there",
    )
    for action in (read, score):
        action.add_argument("--rate", type=_rate, help="an EDL's frame rate (default: its first clip's file's)")
        action.add_argument("--json", action="store_true", help="machine-readable output")
    read.set_defaults(handler=read_command)
    score.set_defaults(handler=score_command)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate: give frames per second, e.g. 29.97")
    return value


def read_command(args) -> int:
    found = Engine.read_timeline(args.timeline, rate=args.rate)
    lines = [
        f"{found.name} ({found.format}, {found.frame_rate:g} fps{' drop-frame' if found.drop_frame else ''}, "
        f"starts at {found.start_timecode}): {len(found.clips)} clip(s)"
    ]
    for clip in found.clips:
        lines.append(
            f"  V{clip.track} {clip.record_timecode}  {clip.name}  "
            f"[{clock(clip.clip_in, tenths=True)}–{clock(clip.clip_out, tenths=True)}]  {clip.video}"
        )
    lines += [f"note: {note}" for note in found.notes]
    emit(args, found, "\n".join(lines))
    return 0


def score_command(args) -> int:
    engine = open_engine(args)
    found = Engine.read_timeline(args.timeline, rate=args.rate)
    scored = engine.score_timeline(found, prompt=args.prompt, balance=args.balance, video_track=args.video_track)
    result = engine.export(
        scored.edit,
        fmt=args.format,
        path=args.out,
        name=found.name,
        collect=args.collect,
        start_timecode=found.start_timecode,
        frame_rate=found.frame_rate,  # the sequence's, which its first clip's file need not share
        drop_frame=found.drop_frame,
    )
    notes = scored.notes + result.notes
    lines = [f"wrote {result.path} ({result.format}, {result.frame_rate:g} fps, starts at {found.start_timecode})"]
    for clip, cue in zip(scored.clips, result.cues, strict=True):
        music = f"{cue.music} from {cue.music_start:.2f} s" if cue.music is not None else "no music"
        lines.append(f"  {clip.record_timecode}  {clip.name}: {music}")
    lines += [f"note: {note}" for note in notes]
    emit(args, {"timeline": found.to_json(), "export": result.to_json(), "notes": notes}, "\n".join(lines))
    return 0
