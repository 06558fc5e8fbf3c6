"""Renders whose feel is known by construction: the same piece calm or energetic, in major or in minor.

Each base piece (a chord progression, a key, a palette of General MIDI instruments) is rendered four times:
- energy: *low* is slow (58–72 BPM), soft, sustained chords without drums; *high* is fast (128–150 BPM),
  loud, arpeggiated or strummed over a drum pattern and a bass line;
- mood: the same progression in the *major* or the *minor* mode (the usual first cue of valence).
The split decides the bases and the SoundFont: `dev` (tuning) and `test` (reporting) share neither, so a
constant chosen on dev is measured on pieces and instrument samples it never saw. The bootstrap corpus
trains on more of the same kind (`training_variants`): bases drawn at random, never a dev or test one.

This measures the direction of the music-side affect, not its accuracy on real recordings: in these renders
energy goes with tempo and drums by construction. `labels.json` lists each file's energy and mood.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from training.bootstrap.demo import MAJOR, MINOR, Piece, render
from training.bootstrap.render import SOUNDFONTS

# (name, tonic, progression, lead, chords, bass): instruments from the General MIDI program list
BASES = {
    "dev": [
        ("Harbour", 60, [0, 4, 5, 3], 73, 0, 32),  # flute over piano
        ("Lanterns", 57, [0, 5, 3, 4], 40, 48, 43),  # violin over strings
        ("Meridian", 55, [0, 3, 4, 0], 56, 61, 58),  # trumpet over brass
        ("Foundry", 52, [0, 6, 5, 4], 30, 29, 34),  # guitars
        ("Neon", 62, [0, 4, 3, 4], 81, 89, 38),  # synths
        ("Orchard", 58, [0, 3, 0, 4], 11, 12, 33),  # vibraphone and marimba
    ],
    "test": [
        ("Tidewater", 53, [0, 3, 4, 4], 68, 1, 32),  # oboe over bright piano
        ("Embers", 59, [0, 5, 1, 4], 42, 49, 43),  # cello over strings
        ("Causeway", 56, [0, 4, 5, 4], 65, 62, 58),  # sax over synth brass
        ("Gravel", 50, [0, 2, 3, 4], 27, 25, 33),  # clean and steel guitars
        ("Signal", 61, [0, 5, 2, 4], 80, 90, 39),  # square lead over a pad
        ("Willow", 55, [0, 4, 1, 4], 24, 46, 32),  # nylon guitar and harp
    ],
}
SOUNDFONT = {"dev": "/usr/share/sounds/sf2/FluidR3_GM.sf2", "test": "/usr/share/sounds/sf2/TimGM6mb.sf2"}
HIGH_DRUMS = ("rock", "four-on-the-floor", "latin")


def variants(split: str, seed: int = 0) -> list[tuple[Piece, dict]]:
    """Every base in its four versions, with the labels each was made to have."""
    rng = random.Random(f"{split}:{seed}")
    out = []
    for i, base in enumerate(BASES[split]):
        out += _four(base, i, rng, bpm=((58, 72), (128, 150)), velocity=(50, 110), drums=HIGH_DRUMS)
    return out


def training_variants(count: int, seed: int = 0) -> list[tuple[Piece, dict]]:
    """`count` bases for the bootstrap corpus, each in its four versions: drawn at random, never one of the
    dev or test bases (no lead and chord instruments in the same pair, no name), with wider tempo and
    dynamics than the evaluation's, so that the model learns feel from tempo, density, dynamics and mode
    across instruments rather than from one palette."""
    rng = random.Random(f"train:{seed}")
    taken = {(lead, chords) for split in BASES.values() for _, _, _, lead, chords, _ in split}
    out = []
    for i in range(count):
        while True:
            lead, chords = rng.choice(LEADS), rng.choice(CHORDS)
            if (lead, chords) not in taken:
                break
        taken.add((lead, chords))
        progression = [0] + [rng.randrange(1, 6) for _ in range(3)]  # no diminished chord: mode alone tells
        base = (f"Feel {i:02d}", rng.randint(50, 64), progression, lead, chords, rng.choice(BASSES))
        velocity = (rng.randint(38, 60), rng.randint(98, 122))
        out += _four(base, i, rng, bpm=((52, 78), (118, 160)), velocity=velocity, drums=DRUMMED)
    return out


# General MIDI programs the training bases draw from: melodic leads, chord instruments, basses.
LEADS = (0, 11, 22, 24, 40, 41, 56, 60, 65, 66, 68, 71, 73, 74, 80, 81, 82, 105)
CHORDS = (0, 4, 5, 16, 24, 25, 46, 48, 49, 50, 52, 61, 88, 89, 90, 91, 94)
BASSES = (32, 33, 34, 35, 38, 39, 42, 43, 58)
DRUMMED = ("rock", "four-on-the-floor", "latin", "brush")


def _four(base: tuple, i: int, rng: random.Random, *, bpm, velocity, drums) -> list[tuple[Piece, dict]]:
    """One base calm and energetic, in major and in minor: (piece, labels) four times. `bpm` and `velocity`
    are (calm, energetic); an energetic version plays drum pattern `drums[i % len(drums)]`."""
    name, key, progression, lead, chords, bass = base
    out = []
    for energy in ("low", "high"):
        for mood, steps in (("major", MAJOR), ("minor", MINOR)):
            calm = energy == "low"
            piece = Piece(
                name=f"{name} ({energy} energy, {mood})",
                mode=steps,
                key=key,
                progression=progression,
                bpm=rng.uniform(*bpm[0]) if calm else rng.uniform(*bpm[1]),
                lead=lead,
                chords=chords,
                chord_style="pad" if calm else ("arpeggio", "strum")[i % 2],
                bass=None if calm else bass,
                drums=None if calm else drums[i % len(drums)],
                velocity=velocity[0] if calm else velocity[1],
                bars=12 if calm else 24,
            )
            out.append((piece, {"energy": energy, "mood": mood, "base": name}))
    return out


def render_feel_set(folder: Path, split: str) -> dict[str, dict]:
    """The split's renders in `folder` (reused when there) and their labels, also written to labels.json."""
    font = SOUNDFONT[split]
    if font not in SOUNDFONTS:
        raise ValueError(f"unknown SoundFont {font}")
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for piece, label in variants(split):
        name = piece.name.replace(" (", " - ").replace(", ", " ").replace(")", "") + ".opus"
        out = folder / name
        if not out.exists():
            tmp = out.with_name(f".{out.name}.tmp.opus")
            render(piece, tmp, font)
            tmp.replace(out)
        labels[name] = label | {"bpm": round(piece.bpm, 1)}
    (folder / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels
