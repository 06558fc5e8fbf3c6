"""`needledrop recommend` and `needledrop similar`: ranked tracks with start points, from the terminal."""

from __future__ import annotations

import argparse
import json

from engine.cli.options import fraction, open_engine, positive_int, seconds
from engine.clock import clock
from engine.facade import MAX_K
from engine.records import Recommendation

RECOMMEND_K = 10  # the tracks `recommend` lists unless told (and those `export --track` looks among first)


def _add_result_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-k", type=positive_int, default=RECOMMEND_K, help=f"how many tracks (1–{MAX_K}, default {RECOMMEND_K})"
    )
    parser.add_argument("--per-artist", type=positive_int, help="at most this many tracks by one artist")
    parser.add_argument("--per-album", type=positive_int, help="at most this many tracks from one album")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def register(sub: argparse._SubParsersAction) -> None:
    rec = sub.add_parser(
        "recommend",
        help="tracks for a video clip, a prompt, or both",
        description="Rank the library's tracks for a clip and/or a prompt such as "
        "'warm acoustic, no vocals, around 90 BPM'. A voice asked for ('female vocals') and length are filters; "
        "tempi ('90 bpm', 'slow'), keys ('in D minor', 'minor key'), 'no vocals' and 'no X' are preferences "
        "(their chips say so).",
    )
    rec.add_argument("video", nargs="?", help="the clip (any format PyAV reads)")
    rec.add_argument("--in", dest="start", type=seconds, default=0.0, help="in point: seconds or M:SS.s (default 0)")
    rec.add_argument(
        "--out", "--out-point", dest="end", type=seconds, help="out point: seconds or M:SS.s (default: end of file)"
    )
    rec.add_argument("--prompt", "-p", help="what the music should be")
    rec.add_argument(
        "--balance", type=fraction, default=0.5, help="0 = picture only … 1 = words only (default 0.5, both)"
    )
    rec.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="TRACK",
        help="never offer this library track (an id or a path; again for more: those already on the timeline)",
    )
    _add_result_options(rec)
    rec.set_defaults(handler=recommend_command)

    sim = sub.add_parser("similar", help="more like a track (from the library or anywhere), or a part of it")
    sim.add_argument(
        "track",
        help="a library track's path, id (`library list` shows ids) or title; or any music file, analysed for "
        "the question and not added to the library",
    )
    sim.add_argument("--start", type=seconds, help="only the part from here (seconds)")
    sim.add_argument("--end", type=seconds, help="only the part up to here (seconds)")
    _add_result_options(sim)
    sim.set_defaults(handler=similar_command)


def _show(args, rec: Recommendation) -> None:
    if args.json:
        print(json.dumps(rec.to_json(), indent=2))
        return
    if rec.prompt is not None:
        chips = ", ".join(rec.prompt.describe())
        print(f"prompt: {rec.prompt.text or '(constraints only)'}" + (f"  [{chips}]" if chips else ""))
        for note in rec.prompt.ignored:
            print(f"  ignored: {note}")
    if rec.feel is not None:
        f = rec.feel
        print(f"feel: {f.label} (asks for {f.asks}; ranks by measured energy and mood)")
    if not rec.results:
        print("no track in the library satisfies the request")
    for note in rec.notes:
        print(note)
    for i, r in enumerate(rec.results, 1):
        name = " – ".join(x for x in (r.artist, r.title) if x) or r.label  # the path follows on its own line
        bpm = f"{r.bpm:.0f} BPM" if r.bpm else "no steady beat"
        lufs = f", {r.loudness_lufs:.0f} LUFS" if r.loudness_lufs is not None else ""
        start, end, length = (clock(t, tenths=True) for t in (r.start, r.end, r.duration))
        print(f"{i:>2}. {name}  [{start}–{end} of {length}, {bpm}{lufs}]  {r.match}% match")
        print(f"    {r.why}")
        if r.short_by > 0:
            print(f"    the music ends {r.short_by:.1f} s before the clip does")
        print(f"    {r.path}")
    if not rec.complete:
        print(f"only {len(rec.results)} tracks satisfy the constraints among the {rec.searched} closest segments")


def recommend_command(args) -> int:
    rec = open_engine(args).recommend(
        args.video,
        start=args.start,
        end=args.end,
        prompt=args.prompt,
        balance=args.balance,
        k=args.k,
        per_artist=args.per_artist,
        per_album=args.per_album,
        exclude=args.exclude,
    )
    _show(args, rec)
    return 0


def similar_command(args) -> int:
    rec = open_engine(args).similar(
        args.track, start=args.start, end=args.end, k=args.k, per_artist=args.per_artist, per_album=args.per_album
    )
    _show(args, rec)
    return 0
