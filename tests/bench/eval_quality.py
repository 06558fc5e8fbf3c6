"""Text→music retrieval quality on a labelled folder, against two baselines computed in the same run.

A labelled folder has one sub-folder per label (e.g. moods or instrumentations); each label, read as a
prompt ("solo piano"), should rank its own folder's tracks first. Reported per label and on average:
precision@5 and average precision for

- Needledrop: the prompt through the recommender (parser, text head, fusion, index, tag match), as the
  app does;
- ViML: the same with the tag match switched off: the learned embedding alone;
- tags: a training-free baseline. The prompt and each musicnn tag name go through MiniLM (mean-pooled
  token features); the prompt's five most similar tags, weighted by similarity, score each track by its
  mean tag probabilities;
- random: the expectation over 200 random rankings.

Without `--folder`, a held-out folder is rendered: music21 works that the default model's training corpus
never drew from (`training.bootstrap.music` with seed 0 is the training draw), arranged in the bootstrap
styles and rendered with another SoundFont (TimGM6mb instead of FluidR3), so neither the pieces nor the
instrument samples were seen in training.

Two splits are rendered from disjoint works: `dev`, on which the recommender's tag-match constants were
tuned (tests/bench/tune_tags.py), and `test` (the default), which is what is reported.

Also a video sanity check: the same generated footage slow and fast; the median BPM of the tracks
recommended for the fast one should be higher.

    .venv/bin/python tests/bench/eval_quality.py [--split test|dev] [--folder DIR] [--per-label 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import engine.recommend.scoring as scoring  # noqa: E402
from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.recommend import Recommender  # noqa: E402
from media import write_video  # noqa: E402

log = logging.getLogger("eval")
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
TRAINING_DRAW = 520  # render_music21(count=260) draws twice as many candidate works
TOP_TAGS = 5
RANDOM_RUNS = 200


def held_out_works(seed: int, count: int, exclude: set[str] = frozenset()) -> Iterator[str]:
    """music21 works that neither the training draw nor `exclude` (stems) used, in the order `seed` draws
    them (about `count` of them)."""
    from training.bootstrap.music import _works

    seen = {path for path, _ in _works(random.Random(0), TRAINING_DRAW)}
    draw = _works(random.Random(seed), count + TRAINING_DRAW + len(exclude))
    return iter([path for path, _ in draw if path not in seen and Path(path).stem not in exclude])


def arrangement(path: str, style: str, rng: random.Random):
    """A work arranged in a bootstrap style, as (MIDI, tempo), or None under 20 s; raises when music21
    cannot read the work."""
    from music21 import corpus

    from training.bootstrap.music import STYLES, arrange

    score = corpus.parse(path)
    if hasattr(score, "scores"):
        score = score.scores[rng.randrange(len(score.scores))]
    midi, bpm, _ = arrange(score, STYLES[style], rng)
    return None if midi.length < 20 else (midi, bpm)


def render_held_out(folder: Path, per_label: int, seed: int, exclude: set[str] = frozenset()) -> None:
    """`per_label` renders per bootstrap style of works neither the training draw nor `exclude` (stems) used."""
    from training.bootstrap.music import STYLES, render

    works = held_out_works(seed, 4 * per_label * len(STYLES), exclude)
    rng = random.Random(seed)
    for style in STYLES:
        out = folder / style.replace(" ", "-")
        out.mkdir(parents=True, exist_ok=True)
        made = len(list(out.glob("*.opus")))
        while made < per_label:
            path = next(works)
            try:
                arranged = arrangement(path, style, rng)
                if arranged is None:
                    continue
                render(arranged[0], SOUNDFONT, out / f"{Path(path).stem}.opus")
                made += 1
            except Exception as exc:  # a corpus file music21 cannot read is skipped
                log.warning("skipping %s: %s", path, exc)


def average_precision(ranked: list[bool]) -> float:
    hits, total = 0, 0.0
    for i, relevant in enumerate(ranked, 1):
        if relevant:
            hits += 1
            total += hits / i
    return total / max(hits, 1)


def metrics(ranked: list[bool]) -> tuple[float, float]:
    return float(np.mean(ranked[:5])), average_precision(ranked)


def sentence(extractor, texts: list[str]) -> np.ndarray:
    vectors = np.stack([t.mean(axis=0) for t in extractor.text(texts)])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def tag_baseline(extractor, prompt: str, tag_means: np.ndarray, tag_names: list[str]) -> np.ndarray:
    """Scores per track: the prompt's nearest tag names, weighted by similarity, over tag probabilities."""
    similarity = sentence(extractor, [prompt])[0] @ sentence(extractor, tag_names).T
    top = np.argsort(-similarity)[:TOP_TAGS]
    return tag_means[:, top] @ similarity[top]


def moving_shapes(seconds: float, fps: int, speed: float) -> np.ndarray:
    """The same footage at any pace: a box crossing a field that cuts to its negative every 1/speed s."""
    frames = np.zeros((int(seconds * fps), 180, 320, 3), np.uint8)
    for i in range(len(frames)):
        t = i / fps
        frames[i] = (30, 60, 160) if int(t * speed) % 2 == 0 else (225, 195, 95)
        x = int((t * speed * 320) % 260)
        frames[i, 60:120, x : x + 60] = 255
    return frames


SPLITS = {"test": (Path("build/eval-music"), 1), "dev": (Path("build/eval-music-dev"), 2)}


def labelled_folder(split: str, per_label: int) -> Path:
    """The rendered held-out folder of a split; dev never shares a work with test (tune on dev, report test)."""
    folder, seed = SPLITS[split]
    exclude: set[str] = set()
    if split == "dev":
        test = labelled_folder("test", per_label)
        exclude = {p.stem for p in test.rglob("*.opus")}
    render_held_out(folder, per_label, seed, exclude)
    return folder


def open_scanned(folder: Path, data: Path) -> Library:
    library = Library(data, open_current_bundle(paths.models_dir()))
    if not library.catalog.roots():
        library.add_root(folder)
    report = library.scan()
    log.info("scanned %d tracks (%d skipped)", report.indexed, report.failed)
    return library


def text_retrieval(library: Library, recommender: Recommender, methods=("needledrop", "viml", "tags", "random")):
    """Per label: precision@5 and average precision of each method, ranking every track."""
    extractor = recommender.embedder.extractor
    tracks = library.catalog.tracks()
    label_of = {t["id"]: Path(t["path"]).parent.name for t in tracks}
    ids = [t["id"] for t in tracks]
    conn = library.catalog._connection()
    means = {i: np.frombuffer(b, "<f2").astype(np.float32) for i, b in conn.execute("SELECT id, tag_means FROM tracks")}
    tag_means = np.stack([means[i] for i in ids])
    tag_names = list(extractor.tag_names)
    rng = np.random.default_rng(0)
    shipped = recommender.tag_weight
    feel_weights = (scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT)
    rows = []
    for label in sorted(set(label_of.values())):
        prompt = label.replace("-", " ").replace("_", " ")
        row = {"label": label, "prompt": prompt, "tracks": sum(v == label for v in label_of.values())}
        for method in methods:
            if method in ("needledrop", "viml"):
                # The embedding alone: no tag match and no feel match (the measured energy and mood).
                alone = method == "viml"
                recommender.tag_weight = 0.0 if alone else shipped
                scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = (0.0, 0.0) if alone else feel_weights
                results = recommender.recommend(prompt=prompt, k=min(len(ids), 200)).results
                recommender.tag_weight = shipped
                scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = feel_weights
                row[method] = metrics([label_of[r.track_id] == label for r in results])
            elif method == "tags":
                scores = tag_baseline(extractor, prompt, tag_means, tag_names)
                row[method] = metrics([label_of[ids[i]] == label for i in np.argsort(-scores)])
            else:
                runs = [
                    metrics([label_of[ids[i]] == label for i in rng.permutation(len(ids))]) for _ in range(RANDOM_RUNS)
                ]
                row[method] = tuple(np.mean(runs, axis=0))
        rows.append(row)
    return rows, len(ids)


def pace_check(recommender: Recommender, folder: Path) -> dict[str, float]:
    """Median BPM and mean measured energy of the top 10 for the same footage slow and fast.

    Both, because the BPM of sustained music (pads, chorales) is often read an octave or more too fast
    (tests/bench/bench_tempo.py), so a calm top 10 can have a high median BPM."""
    slow = write_video(folder / "slow.mp4", moving_shapes(10, 25, 0.25), 25)
    fast = write_video(folder / "fast.mp4", moving_shapes(10, 25, 1.7), 25)
    out = {}
    for name, clip in (("slow", slow), ("fast", fast)):
        results = recommender.recommend(clip, k=10).results
        out[name] = float(np.median([r.bpm for r in results if r.bpm]))
        out[f"{name} energy"] = float(np.mean([r.energy for r in results if r.energy is not None]))
    return out


METHODS = {
    "needledrop": "Needledrop (ViML + tag and feel match)",
    "viml": "ViML embedding alone",
    "tags": "tag baseline",
    "random": "random",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="labelled folder (default: render the held-out split)")
    parser.add_argument("--split", choices=sorted(SPLITS), default="test", help="held-out split to render")
    parser.add_argument("--per-label", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("bench-results/quality.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    folder = args.folder or labelled_folder(args.split, args.per_label)
    with tempfile.TemporaryDirectory() as data:
        library = open_scanned(folder, Path(data))
        recommender = Recommender(library)
        rows, count = text_retrieval(library, recommender)
        bpm = pace_check(recommender, Path(data))

    labels = len(rows)
    print(f"\nText→music retrieval, {count} tracks in {labels} labels, {folder} (bundle {library.bundle.id})")
    print(f"{'':<18}{'':>4}   {'precision@5':^44}   {'average precision':^44}")
    names = "".join(f"{m:>11}" for m in METHODS)
    print(f"{'label':<18}{'n':>4}   {names}   {names}")
    for r in rows:
        p5 = "".join(f"{r[m][0]:>11.2f}" for m in METHODS)
        ap = "".join(f"{r[m][1]:>11.2f}" for m in METHODS)
        print(f"{r['label']:<18}{r['tracks']:>4}   {p5}   {ap}")
    mean = {m: np.mean([r[m] for r in rows], axis=0) for m in METHODS}
    p5 = "".join(f"{mean[m][0]:>11.2f}" for m in METHODS)
    ap = "".join(f"{mean[m][1]:>11.2f}" for m in METHODS)
    print(f"{'mean':<18}{'':>4}   {p5}   {ap}")
    print("columns: " + ", ".join(f"{m} = {label}" for m, label in METHODS.items()))

    def verdict(key: str) -> str:
        return "moves the right way" if bpm[f"fast{key}"] > bpm[f"slow{key}"] else "DOES NOT move the right way"

    print(
        f"\nVideo pace check, top 10 for the same footage slow and fast: median BPM {bpm['slow']:.0f} and "
        f"{bpm['fast']:.0f} ({verdict('')}); mean measured energy {bpm['slow energy']:+.2f} and "
        f"{bpm['fast energy']:+.2f} ({verdict(' energy')})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"bundle": library.bundle.id, "labels": rows, "mean": {k: list(v) for k, v in mean.items()}, "bpm": bpm},
            indent=2,
        )
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
