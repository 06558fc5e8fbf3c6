"""Re-edits of real recordings: which bars are cut or repeated, how long rendering takes, the loudness.

Three soundtrack recordings installed by Debian packages (scripts/bench-deps.sh) are scanned into a
temporary library and re-edited through the engine to a shorter cue and to a longer one; for each edit the
bars played and the joins are printed, with the render time per minute of output against the time to
decode the track alone (the baseline every render pays).

    .venv/bin/python tests/bench/bench_reedit.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.facade import Engine  # noqa: E402
from engine.reedit.render import decode  # noqa: E402

TRACKS = [  # (Debian package, file): none of them in the reserved evaluation sets
    ("wesnoth-1.16-music", "/usr/share/games/wesnoth/1.16/data/core/music/elvish-theme.ogg"),
    ("wesnoth-1.16-music", "/usr/share/games/wesnoth/1.16/data/core/music/battle-epic.ogg"),
    ("naev-data", "/usr/share/naev/dat/snd/music/ambient2.ogg"),
]
LENGTHS = (30.0, 2.5)  # seconds, and a multiple of the track's length


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:05.2f}"


def main() -> None:
    missing = sorted({package for package, path in TRACKS if not os.path.isfile(path)})
    if missing:
        sys.exit(f"install the Debian package(s) {' '.join(missing)} (scripts/bench-deps.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        music = root / "music"
        music.mkdir()
        for _, path in TRACKS:
            os.symlink(path, music / Path(path).name)
        engine = Engine(root / "data", bundle=open_current_bundle(paths.models_dir()))
        engine.add_root(music)
        engine.scan(workers=2)
        rows = []
        for _, path in TRACKS:
            track = engine.track(music / Path(path).name)
            began = time.perf_counter()
            decode(track.path)
            decoding = time.perf_counter() - began
            for asked in LENGTHS:
                length = asked if asked > 10 else round(asked * track.duration, 2)
                began = time.perf_counter()
                edit = engine.reedit(track.id, length=length, out=root / "edit.wav")
                took = time.perf_counter() - began
                rows.append((track, length, edit, took, decoding))
    print("| track | length | ending | joins | render s/min of output | decode alone s | loudness |")
    print("|---|---|---|---|---|---|---|")
    for track, length, edit, took, decoding in rows:
        level = edit.level
        print(
            f"| {Path(track.path).name} ({clock(track.duration)}) | {length:g} s | {edit.plan.ending} | "
            f"{len(edit.plan.joins)} | {took / (length / 60):.2f} | {decoding:.2f} | "
            f"{level.measured:.1f} → {level.loudness:.1f} LUFS, {level.true_peak_db:.1f} dBTP"
            f"{' (limited)' if level.limited else ''} |"
        )
    print()
    for track, length, edit, _, _ in rows:
        print(f"{Path(track.path).name} to {length:g} s ({edit.plan.ending} ending):")
        for piece in edit.plan.pieces:
            print(f"  at {clock(piece.at)} plays {clock(piece.start)}–{clock(piece.end)} of the track")
        for join in edit.plan.joins:
            kind = "repeats" if join.enters < join.leaves else "cuts"
            span = abs(join.leaves - join.enters)
            print(
                f"  join at {clock(join.at)}: {kind} {span:.1f} s ({clock(join.leaves)} → {clock(join.enters)}), "
                f"bars alike {join.similarity:.2f}"
            )
        if edit.plan.fade:
            print(f"  fades out {clock(edit.plan.fade[0])}–{clock(edit.plan.fade[1])}")


if __name__ == "__main__":
    main()
