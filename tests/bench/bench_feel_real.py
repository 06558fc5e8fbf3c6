"""Energy on real recordings: Wesnoth's orchestral soundtrack (Debian `wesnoth-1.16-music`, GPL-2+), whose
titles name a feel.

Only titles that say it are labelled: energetic ("battle", "battle-epic", "frantic", "frantic-old") and calm
("sad", "love_theme", "defeat", "defeat2", "silence"). Reported: the energy AUC of the measured track energy
(engine/affect.py) over those pairs, and what energy prompts return from the whole soundtrack. A small
set, and one that was looked at when the tempo's share of energy was chosen: a check, not a benchmark.

    .venv/bin/python tests/bench/bench_feel_real.py   (scripts/bench-deps.sh installs the package)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.facade import Engine  # noqa: E402

MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
ENERGETIC = ("battle", "battle-epic", "frantic", "frantic-old")
CALM = ("sad", "love_theme", "defeat", "defeat2", "silence")


def main() -> None:
    if not MUSIC.is_dir():
        sys.exit(f"no Wesnoth soundtrack at {MUSIC}: install the Debian package wesnoth-1.16-music")
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "data")
        engine.add_root(MUSIC)
        engine.scan()
        tracks = {Path(t.path).stem: t for t in engine.tracks()}
        high, low = [tracks[n].energy for n in ENERGETIC], [tracks[n].energy for n in CALM]
        pairs = [(h > c) + 0.5 * (h == c) for h in high for c in low]
        print(
            f"Wesnoth soundtrack, {len(tracks)} tracks; energy AUC, energetic titles over calm ones: "
            f"{np.mean(pairs):.2f} ({len(pairs)} pairs)"
        )
        for name in ENERGETIC + CALM:
            t = tracks[name]
            print(f"  {name:<14} energy {t.energy:+.2f}  mood {t.mood:+.2f}  {t.bpm or 0:5.0f} BPM")
        for prompt in ("energetic, driving, high-energy music", "calm and soothing"):
            found = [Path(r.path).stem for r in engine.recommend(prompt=prompt, k=8).results]
            print(f"  {prompt!r}: {', '.join(found)}")


if __name__ == "__main__":
    main()
