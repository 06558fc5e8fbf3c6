"""Is instrumental music called sung? The calibration behind "vocals", "female vocals" and "no vocals".

A track is sung when its most sung segment's vocal score (musicnn's voice tags against its instrumental
tags, engine/library/analysis.py) reaches `filters.SUNG`. Measured on music known to have no voice:
the renders of bench_drums.py and bench_tempo.py (dev: their dev splits, where SUNG was first chosen;
test: their test splits, other works and another SoundFont). SUNG itself is now chosen on real produced
music, which reads higher than renders (docs/quality.md, *Vocals*). With `--voice`, also on the test renders with
espeak-ng speech mixed over them, a stand-in for a voice (speech, not singing: the team has no sung
songs it may use), to see how much of a voice the score notices. With `--sung`, on test renders with a
made-up song sung over them by Festival's singing mode, closer to singing; `--record` writes what "no
vocals" and a voice asked for then score at even odds to engine/instrument_filters.json, which
`instruments.vocals_filter_is_hard` follows. With `--sung-by-people`, on test renders with people singing
over them: the eight sung phrases of Scratch's sound library (Debian's `scratch`, CC BY-SA 3.0; 1.6-7.6 s
each, by a few singers), one after another in a random order. Real singing, but eight phrases are too few
voices and songs to make a filter on, so it is reported and not recorded.

    .venv/bin/python tests/bench/bench_vocals.py [--voice] [--sung [--record]] [--sung-by-people]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import instruments, paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402
from engine.library.analysis import vocal_score  # noqa: E402
from engine.media.audio import iter_audio  # noqa: E402
from engine.recommend.filters import SUNG  # noqa: E402

FOLDERS = {
    "dev": (Path("build/drums-dev"), Path("build/tempo-music-dev")),
    "test": (Path("build/drums-test"), Path("build/tempo-music")),
}
VOICED = Path("build/vocals-voice")
QUANTILES = (50, 90, 99, 100)
LINES = [
    "The river runs past the old mill and into the valley where the summer fair is held.",
    "We drove all night to see the sunrise over the harbour, and it was worth every mile.",
    "Nobody remembers who planted the orchard, but every autumn the whole village comes to pick.",
    "She said the letters were in the attic, under the blue coat, in a box that smelled of cedar.",
]


def vocal_peaks(paths_: list[Path], extractor: FeatureExtractor) -> dict[str, float]:
    """Per file, its most sung segment's vocal score, as the scan stores it (cached beside the files)."""
    out = {}
    for folder in sorted({p.parent for p in paths_}):
        cache_file = folder / "vocal_peaks.json"
        cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
        for path in [p for p in paths_ if p.parent == folder]:
            if path.name not in cache:
                pieces = iter_audio(path, extractor.pre.audio, chunk_samples=extractor.chunk_samples)
                music = extractor.music_chunks(pieces, {})
                names = extractor.tag_names
                cache[path.name] = max(
                    vocal_score(dict(zip(names, music.tags[s.patches].mean(axis=0).tolist()))) for s in music.segments()
                )
            out[str(path)] = cache[path.name]
        cache_file.write_text(json.dumps(cache))
    return out


def mixed(render: Path, out: Path, make_voice: Callable[[Path], np.ndarray], gain: float = 1.0) -> Path:
    """`out`, made unless it is there: the render with a voice mixed over it, tiled to its length, `gain`
    from level with the music. `make_voice(folder)` synthesises the voice in a temporary folder."""
    from training.bootstrap.music import decode_mono
    from training.bootstrap.render import write_opus

    if not out.is_file():
        music = decode_mono(render)
        with tempfile.TemporaryDirectory() as tmp:
            voice = np.resize(make_voice(Path(tmp)), len(music))
        level = np.sqrt(np.mean(music**2) / (np.mean(voice**2) + 1e-12))
        mixed = music + voice * level * gain
        write_opus(out, mixed / max(1.0, float(np.abs(mixed).max()) / 0.9) * 0.7071, 48_000)
    return out


def speech(folder: Path, speaker: str, text: str) -> np.ndarray:
    """espeak-ng saying `text`, then a second of silence (the pause before it is said again)."""
    from training.bootstrap.music import decode_mono

    wav = folder / "voice.wav"
    subprocess.run(["espeak-ng", "-v", speaker, "-s", "150", "-w", str(wav), text], check=True)
    return np.concatenate([decode_mono(wav), np.zeros(48_000)])


def voiced(renders: list[Path], count: int) -> list[Path]:
    """`count` test renders with espeak-ng speech mixed over them, level with the music."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("--voice needs espeak-ng (apt install espeak-ng)")
    VOICED.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    made = []
    for render in rng.sample(renders, count):
        # Drawn whether or not the file is there, so a rerun over cached files makes the same set.
        speaker = rng.choice(["en+f3", "en+m3", "en+f2", "en+m1"])
        text = " ".join(rng.sample(LINES, len(LINES)))
        made.append(mixed(render, VOICED / render.name, partial(speech, speaker=speaker, text=text)))
    return made


SUNG_DIR = Path("build/vocals-sung")
# Dev renders sung over the same way (bench_exclusions.py --vocals chooses the weight of "no vocals" on them).
SUNG_DEV_DIR = Path("build/vocals-sung-dev")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
REGISTERS = {"low": 48, "high": 57}  # the tonic's MIDI note: a baritone's range, and a tenor-to-alto's
NOTE_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


def song(rng: random.Random, seconds: float) -> str:
    """Festival singing-mode markup of a made-up song lasting about `seconds`: phrases of a stepwise melody
    in a major or minor scale, one word of LINES per note, a rest between phrases."""
    bpm = rng.uniform(80, 130)
    scale, tonic = SCALES[rng.choice(sorted(SCALES))], REGISTERS[rng.choice(sorted(REGISTERS))]
    words = " ".join(LINES).replace(",", "").replace(".", "").split()
    parts, beats, degree, w = [], 0.0, 0, rng.randrange(len(words))
    while beats * 60 / bpm < seconds:
        for _ in range(rng.randint(5, 9)):
            degree = min(max(degree + rng.choice((-2, -1, -1, 0, 1, 1, 2)), -3), 9)
            octave, step = divmod(degree, len(scale))
            midi = tonic + 12 * octave + scale[step]
            length = rng.choice((0.5, 1.0, 1.0, 1.5, 2.0))
            note = f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"
            parts.append(f'<DURATION BEATS="{length}"><PITCH NOTE="{note}">{words[w % len(words)]}</PITCH></DURATION>')
            beats, w = beats + length, w + 1
        rest = rng.choice((1.0, 2.0))
        parts.append(f'<REST BEATS="{rest}"></REST>')
        beats += rest
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>\n'
        f'<SINGING BPM="{bpm:.1f}">\n' + "\n".join(parts) + "\n</SINGING>\n"
    )


def singing(folder: Path, markup: str) -> np.ndarray:
    """Festival's singing mode singing `markup` (see `song`)."""
    from training.bootstrap.music import decode_mono

    (folder / "song.xml").write_text(markup)
    wav = folder / "voice.wav"
    subprocess.run(["text2wave", "-mode", "singing", str(folder / "song.xml"), "-o", str(wav)],
                   check=True, capture_output=True)  # fmt: skip
    return decode_mono(wav)


def sung(renders: list[Path], count: int, folder: Path = SUNG_DIR, seed: int = 6) -> list[Path]:
    """`count` of `renders` with a made-up song sung over them by Festival's singing mode (a diphone voice,
    robotic but pitched and held like singing), the voice 3 dB under to 3 dB over the music, in `folder`
    under their own names."""
    if shutil.which("text2wave") is None:
        raise SystemExit("--sung needs Festival (apt install festival festvox-kallpc16k)")
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    made = []
    for render in rng.sample(renders, count):
        markup, gain = song(rng, 80.0), 10 ** (rng.uniform(-3, 3) / 20)
        made.append(mixed(render, folder / render.name, partial(singing, markup=markup), gain))
    return made


SUNG_BY_PEOPLE_DIR = Path("build/vocals-sung-by-people")
SCRATCH_VOCALS = Path("/usr/share/scratch/Media/Sounds/Vocals")
# Its sung phrases; the rest of the folder is beatboxing and single shouts.
SCRATCH_SONGS = (
    "Come-and-play.mp3",
    "Doy-doy-doy.mp3",
    "Got-inspiration.mp3",
    "Hey-yay-hey.mp3",
    "Oooo-badada.mp3",
    "Sing-me-a-song.mp3",
    "Singer1.wav",
    "Singer2.wav",
)


def phrases(folder: Path, seed: int) -> np.ndarray:
    """Scratch's sung phrases in a random order, each followed by a breath of 0.3-1.5 s."""
    from training.bootstrap.music import decode_mono

    rng = random.Random(seed)
    sung_phrases = [decode_mono(SCRATCH_VOCALS / name) for name in SCRATCH_SONGS]
    parts = []
    for _ in range(60):
        parts += [rng.choice(sung_phrases), np.zeros(int(48_000 * rng.uniform(0.3, 1.5)), np.float32)]
    return np.concatenate(parts)


def sung_by_people(renders: list[Path], count: int) -> list[Path]:
    """`count` of `renders` with Scratch's sung phrases over them, 3 dB under to 3 dB over the music."""
    if not SCRATCH_VOCALS.is_dir():
        raise SystemExit("--sung-by-people needs Scratch's sounds (apt install scratch; scripts/bench-deps.sh)")
    SUNG_BY_PEOPLE_DIR.mkdir(parents=True, exist_ok=True)
    rng = random.Random(6)
    made = []
    for render in rng.sample(renders, count):
        gain, seed = 10 ** (rng.uniform(-3, 3) / 20), rng.randrange(10**6)
        made.append(mixed(render, SUNG_BY_PEOPLE_DIR / render.name, partial(phrases, seed=seed), gain))
    return made


def sung_figures(instrumental: np.ndarray, peaks: np.ndarray) -> dict:
    """What "no vocals" and a voice asked for score at even odds, given the instrumental files' and the sung
    files' vocal peaks."""
    kept = float((instrumental < SUNG).mean())  # of instrumental tracks, the share "no vocals" keeps
    leak = float((peaks < SUNG).mean())  # of sung ones, the share it lets through
    return {
        "files": len(peaks),
        "called sung": 1 - leak,
        "vocal peak percentiles 10/50/90": [round(float(np.percentile(peaks, q)), 3) for q in (10, 50, 90)],
        "'no vocals' precision at even odds": kept / (kept + leak),
        "instrumental files": len(instrumental),
        "'no vocals' recall": kept,
        "'vocals' precision at even odds": (1 - leak) / (1 - leak + 1 - kept),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voice", action="store_true", help="also measure renders with speech over them")
    parser.add_argument("--sung", action="store_true", help="also measure renders with a song sung over them")
    parser.add_argument("--record", action="store_true", help="with --sung: write what the voice filters follow")
    parser.add_argument("--sung-by-people", action="store_true", help="also measure renders with people singing")
    args = parser.parse_args()
    extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
    report: dict = {"SUNG": SUNG}
    for split, folders in FOLDERS.items():
        files = sorted(p for f in folders for p in f.glob("*.opus"))
        if not files:
            raise SystemExit(f"no renders in {folders}: run bench_drums.py and bench_tempo.py (both splits) first")
        peaks = np.array(list(vocal_peaks(files, extractor).values()))
        report[split] = {
            "instrumental files": len(files),
            "called sung": float((peaks >= SUNG).mean()),
            "vocal peak percentiles 50/90/99/max": [round(float(np.percentile(peaks, q)), 3) for q in QUANTILES],
        }
    if args.voice:
        test_files = sorted(p for f in FOLDERS["test"] for p in f.glob("*.opus"))
        peaks = np.array(list(vocal_peaks(voiced(test_files, 30), extractor).values()))
        report["test with speech over it"] = {
            "files": len(peaks),
            "called sung": float((peaks >= SUNG).mean()),
            "vocal peak percentiles 10/50/90": [round(float(np.percentile(peaks, q)), 3) for q in (10, 50, 90)],
        }
    # The drum bench's test renders only, with and without a voice: the same split whatever else the build
    # folder holds.
    test_files = sorted(FOLDERS["test"][0].glob("*.opus"))
    if args.sung or args.sung_by_people:
        instrumental = np.array(list(vocal_peaks(test_files, extractor).values()))
    if args.sung_by_people:
        peaks = np.array(list(vocal_peaks(sung_by_people(test_files, 40), extractor).values()))
        report["test with people singing over it"] = sung_figures(instrumental, peaks)
    if args.sung:
        peaks = np.array(list(vocal_peaks(sung(test_files, 40), extractor).values()))
        report["test with singing over it"] = figures = sung_figures(instrumental, peaks)
        if args.record:  # instruments.vocals_filter_is_hard follows these
            recorded = json.loads(instruments.FILTERS_FILE.read_text())
            recorded["vocals"] = {
                "note": f"bench_vocals.py --sung: {len(test_files)} instrumental test renders, {len(peaks)} sung over",
                "no": {
                    "precision at even odds": figures["'no vocals' precision at even odds"],
                    "recall": figures["'no vocals' recall"],
                },
                "with it": {
                    "precision at even odds": figures["'vocals' precision at even odds"],
                    "recall": figures["called sung"],
                },
            }
            instruments.FILTERS_FILE.write_text(json.dumps(recorded, indent=1) + "\n")
    print(json.dumps(report, indent=2))
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/vocals.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
