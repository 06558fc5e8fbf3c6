"""Music rendered from General MIDI: note events to a MIDI file, FluidSynth to audio, audio to Opus.

Shared by the bootstrap corpus (`music.py`) and the first-run demo (`demo.py`), with the SoundFonts and the
packaged game soundtracks both draw on. Needs mido, PyAV and the `fluidsynth` program, never torch.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import mido
import numpy as np

from engine.errors import NeedledropError

# General MIDI SoundFonts Debian packages (fluid-soundfont-gm, timgm6mb-soundfont), best first, and licences.
SOUNDFONTS = {"/usr/share/sounds/sf2/FluidR3_GM.sf2": "MIT", "/usr/share/sounds/sf2/TimGM6mb.sf2": "GPL-2"}
DEBIAN_TRACKS = {  # folder -> (source, licence) of the openly licensed game soundtracks Debian packages
    "/usr/share/games/singularity/music": ("singularity-music (Debian), Max McCracken", "CC BY-SA 3.0"),
    "/usr/share/games/asc/music": ("asc-music (Debian), Michael Kievernagel", "GPL-2+"),
}
DRUMS = 9  # the General MIDI percussion channel
# Drum hits per bar of four beats: (beat position, GM drum note, velocity)
PATTERNS = {
    "four-on-the-floor": [(b, 36, 110) for b in range(4)]
    + [(b + 0.5, 42, 70) for b in range(4)]
    + [(1, 39, 90), (3, 39, 90)],
    "rock": [(0, 36, 110), (2, 36, 100), (1, 38, 105), (3, 38, 105)] + [(b / 2, 42, 75) for b in range(8)],
    "latin": [(0, 36, 100), (1.5, 36, 90), (2.5, 36, 90)]
    + [(b / 2, 75 if b % 3 else 76, 85) for b in range(8)]
    + [(b / 2 + 0.25, 69, 60) for b in range(8)],
    "brush": [(0, 36, 70), (2, 36, 60)] + [(b, 51, 55) for b in range(4)],
}

Events = dict[int, list[tuple[float, mido.Message]]]  # per MIDI channel: (onset in beats, message)


class RenderError(NeedledropError):
    """Music cannot be rendered on this machine (the message says which Debian package is missing)."""


def soundfont() -> str:
    """The best General MIDI SoundFont installed, checking that FluidSynth is there to play it."""
    found = next((path for path in SOUNDFONTS if Path(path).is_file()), None)
    if found is None:
        raise RenderError(
            "no General MIDI SoundFont: install the Debian package fluid-soundfont-gm (or timgm6mb-soundfont)"
        )
    if shutil.which("fluidsynth") is None:
        raise RenderError("fluidsynth is not installed: install the Debian package fluidsynth")
    return found


def add_note(events: Events, channel: int, onset: float, length: float, pitch: int, velocity: int) -> None:
    timed = events.setdefault(channel, [])
    timed.append((onset, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
    timed.append((onset + length, mido.Message("note_off", channel=channel, note=pitch)))


def add_program(events: Events, channel: int, program: int) -> None:
    events.setdefault(channel, []).append((0.0, mido.Message("program_change", channel=channel, program=program)))


def midi_file(events: Events, bpm: float, ticks_per_beat: int = 480) -> mido.MidiFile:
    """A tempo track, then one track per channel in channel order."""
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)]))
    for _, timed in sorted(events.items()):
        track = mido.MidiTrack()
        now = 0
        # note_off before note_on at the same instant, so repeated notes are not cut short
        for onset, message in sorted(timed, key=lambda e: (e[0], e[1].type == "note_on")):
            tick = round(onset * ticks_per_beat)
            track.append(message.copy(time=max(0, tick - now)))
            now = max(now, tick)
        midi.tracks.append(track)
    return midi


def synthesize(midi: mido.MidiFile, font: str, rate: int, gain: float, layout: str) -> np.ndarray:
    """FluidSynth's rendering at `rate`, as float32 (channels, samples) in `layout` ("mono" or "stereo")."""
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        midi.save(str(mid))
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(rate), "-F", str(wav), font, str(mid)],
            check=True,
            capture_output=True,
        )
        with av.open(str(wav)) as container:
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=48_000)
            frames = [f for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    return np.concatenate([f.to_ndarray() for f in frames], axis=1)


def write_opus(path: Path, samples: np.ndarray, rate: int, *, bit_rate: int | None = 64_000, tags=None) -> None:
    """Mono (samples,) or stereo (2, samples) float audio to an Ogg Opus file, with optional tags."""
    planes = np.atleast_2d(samples)
    layout = "mono" if len(planes) == 1 else "stereo"
    with av.open(str(path), "w", format="ogg") as container:
        if tags:
            container.metadata.update(tags)
        stream = container.add_stream("libopus", rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        for start in range(0, planes.shape[1], 960):
            chunk = np.ascontiguousarray(planes[:, start : start + 960], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
