"""A generated set with planted correspondences, for testing that ViML learns what it should.

Each pair shares hidden attributes between a short video and a short piece of music:
- colour family of the picture  <-> instrument (timbre) of the music,
- pace: motion speed and cut rate <-> tempo,
- light or dark picture          <-> major or minor key,
and one attribute only the music has: its register (low or high). A text describes the music through a
random subset of its attributes (register included), so text can add what the video cannot know.
Real media files are written (H.264 video, WAV audio) and go through the app's decoding and backbones.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from training.data.sources import PairSpec

COLOURS = {"red": 0.0, "green": 0.33, "blue": 0.62, "yellow": 0.15}  # hue of each colour family
INSTRUMENTS = {"red": "pluck", "green": "pad", "blue": "organ", "yellow": "drums"}
PACES = {"slow": (70, 0.6, 0.0), "medium": (110, 2.0, 0.5), "fast": (160, 5.0, 1.5)}  # bpm, px/frame, cuts/s
MOODS = ("bright", "dark")
REGISTERS = ("low", "high")
WORDS = {
    "pluck": ["plucked notes", "a plucky melody", "picked strings"],
    "pad": ["a soft synth pad", "warm sustained chords", "a gentle pad"],
    "organ": ["a buzzing organ", "a reedy organ line", "bright organ tones"],
    "drums": ["noisy hand drums", "pounding percussion", "rattling drums"],
    "slow": ["slow", "laid-back", "unhurried"],
    "medium": ["mid-tempo", "steady", "moderately paced"],
    "fast": ["fast", "energetic", "racing"],
    "bright": ["happy, major-key", "uplifting", "cheerful"],
    "dark": ["dark, minor-key", "moody", "sombre"],
    "low": ["in a low register", "deep and low", "bass-heavy"],
    "high": ["in a high register", "high-pitched", "up high"],
}
SECONDS, FPS, SIZE, SR = 4.0, 12, (128, 96), 16_000
MUSIC_SECONDS = 6.0


@dataclass(frozen=True)
class Attributes:
    colour: str
    pace: str
    mood: str
    register: str

    @property
    def instrument(self) -> str:
        return INSTRUMENTS[self.colour]


def _rgb(hue: float, sat: float, val: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, sat, val)) * 255


def render_video(attrs: Attributes, rng: np.random.Generator) -> np.ndarray:
    """(frames, h, w, 3) uint8: shapes of one colour family drifting at the pace, cutting at its rate."""
    _, speed, cut_rate = PACES[attrs.pace]
    hue = COLOURS[attrs.colour] + rng.uniform(-0.03, 0.03)
    light = attrs.mood == "bright"
    w, h = SIZE
    n = int(SECONDS * FPS)
    cut_every = int(FPS / cut_rate) if cut_rate else n + 1
    frames = np.zeros((n, h, w, 3), np.uint8)
    for i in range(n):
        if i % cut_every == 0:  # a new shot: new shapes, positions and directions
            background = _rgb(hue + rng.uniform(-0.05, 0.05), rng.uniform(0.2, 0.4), 0.85 if light else 0.18)
            shapes = [
                (
                    rng.uniform(0, w),
                    rng.uniform(0, h),
                    rng.uniform(8, 22),
                    rng.uniform(0, 2 * np.pi),
                    _rgb(hue + rng.uniform(-0.04, 0.04), rng.uniform(0.7, 1.0), 0.95 if light else 0.55),
                )
                for _ in range(rng.integers(2, 5))
            ]
            start = i
        frames[i] = background
        yy, xx = np.mgrid[0:h, 0:w]
        for x0, y0, r, angle, colour in shapes:
            t = i - start
            x = (x0 + speed * t * np.cos(angle)) % w
            y = (y0 + speed * t * np.sin(angle)) % h
            frames[i][(xx - x) ** 2 + (yy - y) ** 2 < r * r] = colour
    return frames


def _note(instrument: str, freq: float, length: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(length) / SR
    if instrument == "pluck":
        tone = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, 8)) * np.exp(-6 * t)
    elif instrument == "pad":
        tone = sum(np.sin(2 * np.pi * freq * f * t) for f in (1.0, 1.005, 2.0)) * np.minimum(1, t / 0.15) * 0.6
    elif instrument == "organ":
        tone = np.sign(np.sin(2 * np.pi * freq * t)) * 0.4 + np.sin(2 * np.pi * 2 * freq * t) * 0.2
    else:  # drums: pitched noise bursts
        tone = rng.standard_normal(length) * np.exp(-25 * t) + np.sin(2 * np.pi * freq / 4 * t) * np.exp(-12 * t)
    return tone


def render_music(attrs: Attributes, rng: np.random.Generator) -> np.ndarray:
    bpm = PACES[attrs.pace][0] * rng.uniform(0.95, 1.05)
    scale = [0, 2, 4, 5, 7, 9, 11] if attrs.mood == "bright" else [0, 2, 3, 5, 7, 8, 10]
    root = (45 if attrs.register == "low" else 69) + int(rng.integers(0, 5))
    beat = int(SR * 60 / bpm)
    out = np.zeros(int(MUSIC_SECONDS * SR))
    degrees = [0, 2, 4]  # arpeggiate the tonic triad, with passing notes
    for k, start in enumerate(range(0, len(out), beat)):
        degree = degrees[k % 3] if rng.random() < 0.7 else int(rng.integers(0, 7))
        midi = root + scale[degree % 7]
        length = min(len(out) - start, beat * (2 if attrs.instrument == "pad" else 1))
        out[start : start + length] += _note(attrs.instrument, 440 * 2 ** ((midi - 69) / 12), length, rng)
    return (0.5 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def describe(attrs: Attributes, rng: np.random.Generator, coverage: float = 0.55) -> str:
    """Words for a random, non-empty subset of the music's attributes, each named with probability `coverage`."""
    facets = {"instrument": attrs.instrument, "pace": attrs.pace, "mood": attrs.mood, "register": attrs.register}
    chosen = [name for name in facets if rng.random() < coverage] or [str(rng.choice(list(facets)))]
    words = {name: str(rng.choice(WORDS[facets[name]])) for name in chosen}
    lead = " ".join(words[n] for n in ("pace", "mood") if n in words)
    body = words.get("instrument", "music")
    text = f"{lead} {body}".strip()
    return f"{text} {words['register']}" if "register" in words else text


def _write_video(path: Path, frames: np.ndarray) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "20"})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=SR, layout="mono")
        frame = av.AudioFrame.from_ndarray((samples * 32767).astype(np.int16)[None], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SR, 0, Fraction(1, SR)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def generate(out: str | Path, count: int, seed: int = 0, coverage: float = 0.55) -> list[PairSpec]:
    """Write `count` planted pairs under `out` (reused if already there) and return them.

    `coverage` is how likely each attribute is to be named in a pair's text.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pairs = []
    for i in tqdm(range(count), desc="planted pairs", unit="pair"):
        attrs = Attributes(
            colour=str(rng.choice(list(COLOURS))),
            pace=str(rng.choice(list(PACES))),
            mood=str(rng.choice(MOODS)),
            register=str(rng.choice(REGISTERS)),
        )
        video, music = out / f"{i:05d}.mp4", out / f"{i:05d}.wav"
        # Separate streams, so a pair's text does not depend on whether its media were already on disk.
        if not video.is_file():
            _write_video(video, render_video(attrs, np.random.default_rng([seed, i, 0])))
        if not music.is_file():
            _write_wav(music, render_music(attrs, np.random.default_rng([seed, i, 1])))
        text = describe(attrs, np.random.default_rng([seed, i, 2]), coverage)
        pairs.append(PairSpec(str(video), 0.0, None, str(music), 0.0, None, text=text, group=f"{i}"))
    return pairs
