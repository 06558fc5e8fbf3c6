"""`needledrop fit`: a track re-edited to a length on its own bars and levelled for delivery, as a WAV."""

from __future__ import annotations

import argparse

from engine.cli.options import emit, length, open_engine, seconds
from engine.facade import DEFAULT_LOUDNESS, DEPTH_DB, SILENCE_TOLD


def register(sub: argparse._SubParsersAction) -> None:
    fit = sub.add_parser(
        "fit",
        help="re-edit a track to a length (bars cut or repeated where the music repeats itself)",
        description="Render a library track re-edited to exactly --length seconds: bars removed or repeated at "
        "joins where the music is most alike, crossfaded on the downbeat, the track's own ending kept where the "
        "length allows it (else a fade ending on a downbeat), levelled to --loudness LUFS with true peaks at "
        "most -1 dBTP, and with --duck lowered where people speak in a clip. The library file is only read.",
    )
    fit.add_argument("track", help="a library track: its path, or its id (`library list` shows ids)")
    fit.add_argument("--length", type=length, required=True, help="seconds of music to make")
    fit.add_argument("--start", type=seconds, help="start from the downbeat nearest this time (default: the first)")
    fit.add_argument(
        "--loudness",
        type=float,
        default=DEFAULT_LOUDNESS,
        help=f"integrated loudness target, LUFS (default {DEFAULT_LOUDNESS:g}: web; -23: EBU R128 broadcast)",
    )
    fit.add_argument("--no-loudness", action="store_true", help="leave the level as it is")
    fit.add_argument("--duck", metavar="CLIP", help="lower the music where people speak in this clip's sound")
    fit.add_argument("--duck-in", type=seconds, default=0.0, help="the clip's in point, seconds (default 0)")
    fit.add_argument("--duck-db", type=float, default=DEPTH_DB, help=f"how far (default {DEPTH_DB:g} dB)")
    fit.add_argument("--out", required=True, help="the WAV file to write, outside the library folders")
    fit.add_argument("--json", action="store_true", help="the edit as JSON: pieces, joins, fades, gains")
    fit.set_defaults(handler=fit_command)


def fit_command(args) -> int:
    engine = open_engine(args, prepare_index=False)
    loudness = None if args.no_loudness else args.loudness
    edit = engine.reedit(
        args.track,
        length=args.length,
        out=args.out,
        start=args.start,
        loudness=loudness,
        duck=args.duck,
        duck_in=args.duck_in,
        duck_db=args.duck_db,
    )
    plan = edit.plan
    lines = [f"wrote {args.out}: {args.length:g} s, {len(plan.joins)} join(s), ending: {plan.ending}"]
    lines += [f"  {p.at:7.2f} s  plays {p.start:.2f}–{p.end:.2f} s of the track" for p in plan.pieces]
    if edit.level is not None:
        level = edit.level
        lines.append(
            f"  loudness {level.measured:.1f} → {level.loudness:.1f} LUFS (gain {level.gain_db:+.1f} dB, "
            f"true peak {level.true_peak_db:.1f} dBTP{', limited' if level.limited else ''})"
        )
    if edit.ducking is not None:
        spans = ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in edit.ducking.speech) or "no speech found"
        lines.append(f"  ducked {edit.ducking.depth_db:g} dB under speech: {spans}")
    if edit.silent_tail >= SILENCE_TOLD:
        why = (
            "the track's own ending comes that far before it"
            if plan.bars
            else "no bars were found in the track to repeat: it is cut, not re-edited"
        )
        lines.append(f"note: the music ends {edit.silent_tail:.1f} s before the length, silence from there ({why})")
    emit(args, edit, "\n".join(lines))
    return 0
