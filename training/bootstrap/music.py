"""Music for the bootstrap corpus.

- music21's core corpus (Bach chorales, Palestrina, madrigals, string quartets, folk tunes) arranged in
  styles a listener tells apart (solo piano, strings, guitar, brass, organ, ambient pads, percussion-heavy,
  electronic) with varied tempo, key and dynamics, written as MIDI and rendered by FluidSynth;
- loop tracks built from sonic-pi's CC0 samples;
- pieces whose feel is known by construction (`feel_set.training_variants`): each calm and energetic, in
  major and in minor, so that feel words meet music that differs in nothing else;
- real recordings: the CC BY-SA / GPL game soundtracks Debian packages, whole (singularity-music,
  asc-music) or, for long soundtracks (warzone2100-music, hyperrogue-music, planetblupi-music-ogg), in
  excerpts spread over each track, so that a 20-minute track does not outweigh twenty short ones.
Everything is stored as Opus in `<corpus>/music/` (copied as it is for whole tracks), listed with its
licence in `music.jsonl`. Each source is listed in its own `music-<source>.jsonl` as soon as it is built,
so a stopped build, or a corpus built before a source was added, builds only what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import mido
import numpy as np
from tqdm import tqdm

from engine.media.dsp import key_name
from training.bootstrap import demo, feel_set
from training.bootstrap.render import (
    DEBIAN_TRACKS,
    DRUMS,
    PATTERNS,
    SOUNDFONTS,
    Events,
    add_note,
    add_program,
    midi_file,
    soundfont,
    synthesize,
    write_opus,
)
from training.data.sources import media_duration

log = logging.getLogger(__name__)

SONIC_PI = Path("/usr/share/sonic-pi/samples")
RENDER_RATE = 22_050
MAX_SECONDS = 75.0


@dataclass(frozen=True)
class Style:
    programs: tuple[int, ...]  # General MIDI programs for the melodic parts, picked from in turn
    tempo: tuple[float, float]  # quarter notes per minute
    velocity: tuple[int, int]
    drums: str | None = None  # drum pattern name
    bass: int | None = None  # program of an added bass line (monophonic sources only need it)
    sustain: float = 1.0  # note length factor: <1 detached, >1 legato pads


STYLES = {
    "solo piano": Style((0, 1), (60, 100), (35, 80)),
    "strings": Style((48, 49, 40, 42), (50, 90), (45, 90), sustain=1.1),
    "guitar": Style((24, 25), (80, 120), (50, 95), bass=32),
    "brass": Style((61, 56, 57, 58), (96, 132), (85, 122), bass=58),
    "organ": Style((19, 20), (55, 85), (70, 100), sustain=1.05),
    "ambient pad": Style((89, 91, 95, 88), (40, 60), (40, 70), sustain=1.6),
    "percussion-heavy": Style((12, 11, 13), (120, 160), (75, 115), drums="latin", bass=33),
    "electronic": Style((81, 80, 87), (118, 140), (80, 115), drums="four-on-the-floor", bass=38),
    "rock band": Style((29, 30, 27), (110, 150), (85, 120), drums="rock", bass=34),
}


@dataclass(frozen=True)
class Track:
    path: str  # relative to the corpus folder
    source: str
    licence: str
    style: str
    tempo_bpm: float | None = None
    key: str | None = None
    group: str | None = None  # tracks cut from one recording or made from one base: held out together
    feel: dict[str, str] | None = None  # known by construction: {"energy": "low"|"high", "mood": "major"|"minor"}


def _notes(part) -> list[tuple[float, float, int]]:
    """(onset, duration) in quarter notes and MIDI pitch of every sounding note of a music21 part."""
    out = []
    for n in part.flatten().notes:
        for p in n.pitches:
            out.append((float(n.offset), max(float(n.quarterLength), 0.125), int(p.midi)))
    return out


def _chord_roots(melody: list[tuple[float, float, int]], tonic: int, minor: bool, bar: float) -> list[int]:
    """One diatonic triad root per bar, the one sharing most notes with the melody (a plain harmonisation)."""
    scale = [0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11]
    candidates = [0, 3, 4, 5]  # I, IV, V, vi (i, iv, v, VI in minor)
    length = max((o + d for o, d, _ in melody), default=0.0)
    roots = []
    for start in np.arange(0, length, bar):
        classes = [p % 12 for o, _, p in melody if start <= o < start + bar]
        best = max(
            candidates,
            key=lambda deg: sum(
                (c - tonic - scale[deg]) % 12 in (0, 3 if minor and deg in (0, 3) else 4, 7) for c in classes
            ),
        )
        roots.append((tonic + scale[best]) % 12)
    return roots


def arrange(score, style: Style, rng: random.Random) -> tuple[mido.MidiFile, float, str]:
    """A music21 score -> MIDI in `style` with a random tempo, transposition and dynamics."""
    key = score.analyze("key")
    signatures = score.recurse().getElementsByClass("TimeSignature")
    bar = float(signatures[0].barDuration.quarterLength) if signatures else 4.0
    tempo = rng.uniform(*style.tempo)
    shift = rng.randint(-5, 6)
    parts = [p for p in (score.parts or [score]) if _notes(p)][:4]
    events: Events = {}

    def add(channel: int, program: int, notes, velocity: tuple[int, int], sustain: float) -> None:
        add_program(events, channel, program)
        for onset, duration, pitch in notes:
            if 0 <= pitch < 128:
                add_note(events, channel, onset, duration * sustain, pitch, rng.randint(*velocity))

    for i, part in enumerate(parts):
        notes = [(o, d, p + shift) for o, d, p in _notes(part)]
        add(i, style.programs[i % len(style.programs)], notes, style.velocity, style.sustain)
    melody = [(o, d, p + shift) for o, d, p in _notes(parts[0])]
    length = max(o + d for o, d, _ in melody)
    if style.bass is not None and len(parts) == 1:
        roots = _chord_roots(melody, (key.tonic.midi + shift) % 12, key.mode == "minor", bar)
        bass = [(k * bar + beat, 0.9, 36 + r) for k, r in enumerate(roots) for beat in (0, bar / 2)]
        add(len(parts), style.bass, bass, (70, 100), 1.0)
    if style.drums:
        for start in np.arange(0, length, bar):
            for pos, note, vel in PATTERNS[style.drums]:
                add_note(events, DRUMS, start + pos * bar / 4, 0.25, note, vel)
    midi = midi_file(events, tempo)
    mode = f"{key.tonic.transpose(shift).name.replace('-', 'b')} {key.mode}"
    return midi, tempo, mode


def render(midi: mido.MidiFile, font: str, out: Path) -> None:
    """FluidSynth to Opus (mono, the level left as the arrangement's dynamics made it), written under another
    name first: a build stopped half-way leaves no half-written file for the next one to keep."""
    (samples,) = synthesize(midi, font, RENDER_RATE, 0.5, "mono")
    part = out.with_name(out.name + ".part")
    write_opus(part, samples[: int(MAX_SECONDS * 48_000)] * 0.7071, 48_000)
    os.replace(part, out)


def _works(rng: random.Random, count: int) -> list[tuple[str, int | None]]:
    """(corpus path, tune number) drawn across the corpus's collections, never the same tune twice."""
    from music21 import corpus

    by_collection: dict[str, list] = {}
    for path in corpus.getCorePaths():
        # Very large files (whole books of tunes, long quartets) take music21 tens of seconds to parse.
        small = path.stat().st_size < 60_000
        if small and path.suffix in (".krn", ".abc", ".mxl", ".xml") and "demos" not in path.parts:
            by_collection.setdefault(path.parent.name, []).append(path)
    for paths in by_collection.values():
        rng.shuffle(paths)
    collections = sorted(by_collection)
    picks, k = [], 0
    while len(picks) < count and any(by_collection.values()):
        name = collections[k % len(collections)]
        if by_collection[name]:
            picks.append((str(by_collection[name].pop()), None))
        k += 1
    return picks


def render_music21(out: Path, count: int, seed: int, font: str) -> list[Track]:
    from music21 import corpus

    rng = random.Random(seed)
    tracks = []
    styles = list(STYLES)
    for i, (path, _) in enumerate(tqdm(_works(rng, count * 2), desc="music21 renders", unit="work")):
        if len(tracks) >= count:
            break
        try:
            score = corpus.parse(path)
            if hasattr(score, "scores"):  # a collection of tunes: take one
                score = score.scores[rng.randrange(len(score.scores))]
            style_name = styles[len(tracks) % len(styles)]
            midi, tempo, key = arrange(score, STYLES[style_name], rng)
            if midi.length < 15:  # too short to give a segment
                continue
            name = f"music/m21-{i:04d}-{style_name.replace(' ', '-')}.opus"
            if not (out / name).is_file():  # rendered by a build that was stopped: the same draw made it
                render(midi, font, out / name)
        except Exception as exc:  # a corpus file music21 cannot read is skipped, not fatal
            log.warning("skipping %s: %s", path, exc)
            continue
        work = Path(path).relative_to(Path(corpus.getCorePaths()[0]).parents[1]).as_posix()
        tracks.append(
            Track(
                name,
                f"music21 corpus: {work}, rendered with {Path(font).name}",
                "BSD-3 (music21 corpus); SoundFont: MIT (FluidR3_GM) / GPL-2 (TimGM6mb)",
                style_name,
                round(tempo, 1),
                key,
            )
        )
    return tracks


def loop_tracks(out: Path, count: int, seed: int) -> list[Track]:
    """Sonic Pi's CC0 loops, repeated and layered over its ambient drones."""
    rng = random.Random(seed)
    loops = sorted(SONIC_PI.glob("loop_*.flac"))
    beds = sorted(SONIC_PI.glob("ambi_*.flac"))
    if not loops:
        log.warning("no sonic-pi samples at %s (Debian package sonic-pi-samples): no loop tracks", SONIC_PI)
        return []
    tracks = []
    for i in range(count):
        loop, bed = rng.choice(loops), rng.choice(beds)
        samples = decode_mono(loop)
        speed = rng.uniform(0.85, 1.15)
        samples = np.interp(np.arange(0, len(samples), speed), np.arange(len(samples)), samples)
        seconds = rng.uniform(30, 60)
        music = np.tile(samples, int(seconds * 48_000 / len(samples)) + 1)[: int(seconds * 48_000)]
        pad = decode_mono(bed)
        music[: len(pad)] += 0.5 * pad[: len(music)]
        name = f"music/loop-{i:03d}-{loop.stem}.opus"
        write_opus(out / name, 0.8 * music / (np.abs(music).max() + 1e-9), 48_000)
        tracks.append(Track(name, f"sonic-pi-samples (Debian): {loop.name} + {bed.name}", "CC0", "loops"))
    return tracks


def decode_mono(path: Path, start: float = 0.0, seconds: float | None = None) -> np.ndarray:
    """The file's audio, mono at 48 kHz: whole, or `seconds` of it from `start` (seeking there first)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if start:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="fltp", rate=48_000)
        pieces, first, decoded = [], None, 0
        for frame in container.decode(stream):
            if first is None:
                first = frame.time or 0.0
            for f in resampler.resample(frame):
                pieces.append(f.to_ndarray().mean(axis=0))
                decoded += len(pieces[-1])
            if seconds is not None and decoded >= (start - first + seconds) * 48_000:
                break
    samples = np.concatenate(pieces)
    skip = max(0, round((start - first) * 48_000))  # a seek lands on the frame before `start`
    return samples[skip:] if seconds is None else samples[skip : skip + round(seconds * 48_000)]


def debian_tracks(out: Path) -> list[Track]:
    tracks = []
    for folder, (source, licence) in DEBIAN_TRACKS.items():
        for path in sorted(Path(folder).glob("*")):
            if path.suffix.lower() in (".ogg", ".mp3") and path.is_file():
                name = f"music/debian-{path.stem.replace(' ', '_')}{path.suffix.lower()}"
                shutil.copyfile(path, out / name)
                tracks.append(Track(name, f"{source}: {path.name}", licence, "game soundtrack"))
    if not tracks:
        log.warning("no Debian soundtrack packages found (singularity-music, asc-music)")
    return tracks


def feel_renders(out: Path, count: int, seed: int, font: str) -> list[Track]:
    """`count` bases of `feel_set.training_variants`, each calm and energetic, major and minor."""
    tracks = []
    for piece, label in tqdm(feel_set.training_variants(count, seed), desc="feel renders", unit="piece"):
        base = label["base"].lower().replace(" ", "")
        name = f"music/feel-{base}-{label['energy']}-{label['mood']}.opus"
        if not (out / name).is_file():
            part = out / (name + ".part")
            demo.render(piece, part, font)
            os.replace(part, out / name)
        key = key_name(piece.key % 12, label["mood"])
        tracks.append(
            Track(
                name,
                f"composed here ({label['base']}: {label['energy']} energy, {label['mood']}), "
                f"rendered with {Path(font).name}",
                SOUNDFONTS[font] + " (SoundFont)",
                f"feel: {label['energy']} energy",
                round(piece.bpm, 1),
                key,
                group=f"feel:{label['base']}",
                feel={"energy": label["energy"], "mood": label["mood"]},
            )
        )
    return tracks


# Long soundtracks Debian packages, cut into excerpts: name -> (folder, files, source, licence).
SOUNDTRACK_EXCERPTS = {
    "warzone2100": (
        "/usr/share/games/warzone2100/music/albums",
        "*/*.opus",
        "warzone2100-music (Debian), Martin Severn and LupusMechanicus",
        "GPL-2+ (the Legacy and Aftermath albums: CC BY-SA 3.0 or GPL-2+)",
    ),
    "hyperrogue": ("/usr/share/hyperrogue/music", "*.ogg", "hyperrogue-music (Debian)", "GPL-2+"),
    "planetblupi": ("/usr/share/planetblupi/music", "*.ogg", "planetblupi-music-ogg (Debian), Epsitec", "GPL-3+"),
}
EXCERPT_SECONDS = 30.0
EXCERPTS_PER_MINUTES = 3.0  # one excerpt per this many minutes of a track...
MAX_EXCERPTS = 5  # ...and no more than this many from one track


def soundtrack_excerpts(out: Path) -> list[Track]:
    """Excerpts spread evenly over each track of the long soundtracks (the first and last 5 s left out); a
    file FFmpeg cannot read is skipped and logged."""
    tracks = []
    for soundtrack, (folder, pattern, source, licence) in SOUNDTRACK_EXCERPTS.items():
        files = sorted(Path(folder).glob(pattern))
        if not files:
            log.warning("no %s in %s (Debian package %s)", pattern, folder, source.split(" ")[0])
        for path in tqdm(files, desc=soundtrack, unit="track"):
            try:
                duration = media_duration(path)
                count = int(min(MAX_EXCERPTS, max(1, duration / 60 / EXCERPTS_PER_MINUTES)))
                if duration < EXCERPT_SECONDS + 10:
                    continue
                span = duration - 10 - EXCERPT_SECONDS
                rel = path.relative_to(folder).with_suffix("").as_posix().replace("/", "-").replace(" ", "_")
                for k in range(count):
                    start = 5 + span * (k + 0.5) / count
                    name = f"music/excerpt-{soundtrack}-{rel}-{k}.opus"
                    if not (out / name).is_file():
                        part = out / (name + ".part")
                        write_opus(part, decode_mono(path, start, EXCERPT_SECONDS), 48_000)
                        os.replace(part, out / name)
                    where = f"{path.name} from {start:.0f} s"
                    tracks.append(Track(name, f"{source}: {where}", licence, "game soundtrack", group=str(path)))
            except (av.error.FFmpegError, ValueError) as exc:
                log.warning("skipping %s: %s", path, exc)
    return tracks


def build_music(out: Path, *, renders: int = 260, loops: int = 24, feel_bases: int = 16, seed: int = 0) -> list[Track]:
    """Every source's tracks, each source built once (`music-<source>.jsonl`), all listed in music.jsonl."""
    font = soundfont()
    (out / "music").mkdir(parents=True, exist_ok=True)
    sources = {
        "renders": lambda: render_music21(out, renders, seed, font),
        "loops": lambda: loop_tracks(out, loops, seed),
        "soundtracks": lambda: debian_tracks(out),
        "feel": lambda: feel_renders(out, feel_bases, seed, font),
        "excerpts": lambda: soundtrack_excerpts(out),
    }
    tracks = []
    for name, build in sources.items():
        listing = out / f"music-{name}.jsonl"
        if not listing.is_file():
            part = listing.with_name(listing.name + ".part")
            part.write_text("".join(json.dumps(asdict(t)) + "\n" for t in build()))
            os.replace(part, listing)
        tracks += [Track(**json.loads(line)) for line in listing.read_text().splitlines() if line.strip()]
    with open(out / "music.jsonl", "w") as f:
        for t in tracks:
            f.write(json.dumps(asdict(t)) + "\n")
    return tracks
