"""The default bundle's trained heads recommend sensibly with no training by the user.

Tracks are rendered here from General MIDI arrangements (FluidSynth, the small TimGM6mb SoundFont, not the
one the corpus used); clips are generated pans over packaged photos.
"""

import random

import numpy as np
import pytest

from engine.embedder import Embedder
from media import render_midi
from training.bootstrap.video import ken_burns, load_photos, write_clip

# name -> (style, tempo, arrangement)
TRACKS = {
    "piano-56": ("piano", 56, dict(program=0, melody=[60, 64, 67, 72, 67, 64], velocity=55)),
    "piano-66": ("piano", 66, dict(program=0, melody=[57, 60, 64, 69, 64, 60], velocity=50)),
    "strings-62": ("strings", 62, dict(program=48, melody=[55, 59, 62, 67], beats_per_note=2, velocity=60)),
    "guitar-96": ("guitar", 96, dict(program=25, melody=[52, 56, 59, 64, 59, 56], beats_per_note=0.5)),
    "edm-140": (
        "electronic",
        140,
        dict(program=81, melody=[57, 60, 64, 60], beats_per_note=0.5, drums=True, bass=True, velocity=110),
    ),
    "edm-158": (
        "electronic",
        158,
        dict(program=80, melody=[62, 65, 69, 65], beats_per_note=0.5, drums=True, bass=True, velocity=110),
    ),
    "rock-132": ("rock", 132, dict(program=30, melody=[52, 55, 57, 59], drums=True, bass=True, velocity=115)),
}


@pytest.fixture(scope="module")
def embedder(bundle):
    return Embedder(bundle)


@pytest.fixture(scope="module")
def library(embedder, tmp_path_factory):
    """name -> (style, tempo, segment embeddings)."""
    root = tmp_path_factory.mktemp("library")
    out = {}
    for name, (style, bpm, arrangement) in TRACKS.items():
        path = render_midi(root / f"{name}.flac", bpm=bpm, seconds=24, **arrangement)
        out[name] = (style, bpm, embedder.embed_segments(embedder.extractor.music_file(path)))
    return out


def best_score(query: np.ndarray, segments: np.ndarray) -> float:
    return float((segments @ query).max())


@pytest.mark.parametrize(
    "prompt, wanted, unwanted",
    [
        ("slow solo piano", "piano", "electronic"),
        ("fast electronic drums", "electronic", "piano"),
    ],
)
def test_prompts_rank_the_right_kind_of_track_first(embedder, library, prompt, wanted, unwanted):
    query = embedder.query(text=embedder.encode_prompt(prompt))
    scores = {name: best_score(query, seg) for name, (_, _, seg) in library.items()}
    ranked = sorted(scores, key=scores.get, reverse=True)
    assert wanted in {library[n][0] for n in ranked[:2]}, ranked
    # Every track of the described kind above every track of the opposite kind.
    assert min(scores[n] for n in library if library[n][0] == wanted) > max(
        scores[n] for n in library if library[n][0] == unwanted
    ), scores


def test_pace_and_light_of_a_clip_move_the_tempo_of_its_recommendations(embedder, library, tmp_path):
    photos = load_photos()
    tempos = {}
    for name, pace, grade in (("energetic", "frantic", "bright"), ("calm", "still", "dark")):
        frames, _ = ken_burns(photos, pace, grade, 12.0, random.Random(7))
        write_clip(tmp_path / f"{name}.mp4", frames)
        query = embedder.query(clip=embedder.encode_clip(tmp_path / f"{name}.mp4"))
        ranked = sorted(library, key=lambda n: best_score(query, library[n][2]), reverse=True)
        tempos[name] = np.median([library[n][1] for n in ranked[:3]])
    assert tempos["energetic"] > tempos["calm"], tempos
