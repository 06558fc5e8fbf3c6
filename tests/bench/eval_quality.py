"""Text→music retrieval quality on a labelled folder, against two baselines computed in the same run.

A labelled folder has one sub-folder per label (e.g. moods or instrumentations); each label, read as a
prompt ("solo piano"), should rank its own folder's tracks first. Reported per label and on average:
precision@5 and average precision for

- ViML: the prompt through the recommender (parser, text head, fusion, index), as the app does;
- tags: a training-free baseline. The prompt and each musicnn tag name go through MiniLM (mean-pooled
  token features); the prompt's five most similar tags, weighted by similarity, score each track by its
  mean tag probabilities;
- random: the expectation over 200 random rankings.

Without `--folder`, a held-out folder is rendered: music21 works that the default model's training corpus
never drew from (`training.bootstrap.music` with seed 0 is the training draw), arranged in the bootstrap
styles and rendered with another SoundFont (TimGM6mb instead of FluidR3), so neither the pieces nor the
instrument samples were seen in training.

Also a video sanity check: the same generated footage slow and fast; the median BPM of the tracks
recommended for the fast one should be higher.

    .venv/bin/python tests/bench/eval_quality.py [--folder DIR] [--per-label 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

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


def render_held_out(folder: Path, per_label: int, seed: int) -> None:
    from music21 import corpus

    from training.bootstrap.music import STYLES, _works, arrange, render

    seen = {path for path, _ in _works(random.Random(0), TRAINING_DRAW)}
    works = [w for w in _works(random.Random(seed), 4 * per_label * len(STYLES) + TRAINING_DRAW) if w[0] not in seen]
    rng = random.Random(seed)
    candidates = iter(works)
    for style in STYLES:
        out = folder / style.replace(" ", "-")
        out.mkdir(parents=True, exist_ok=True)
        made = len(list(out.glob("*.opus")))
        while made < per_label:
            path, _ = next(candidates)
            try:
                score = corpus.parse(path)
                if hasattr(score, "scores"):
                    score = score.scores[rng.randrange(len(score.scores))]
                midi, _, _ = arrange(score, STYLES[style], rng)
                if midi.length < 20:
                    continue
                render(midi, SOUNDFONT, out / f"{Path(path).stem}.opus")
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
    frames = np.zeros((int(seconds * fps), 180, 320, 3), np.uint8)
    for i in range(len(frames)):
        t = i / fps
        frames[i] = (40, 90, 200) if int(t * speed) % 2 == 0 else (200, 90, 40)
        x = int((t * speed * 320) % 260)
        frames[i, 60:120, x : x + 60] = 255
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="labelled folder (default: render a held-out one)")
    parser.add_argument("--per-label", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-results/quality.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    folder = args.folder or Path("build/eval-music")
    if args.folder is None:
        render_held_out(folder, args.per_label, args.seed)
    labels = sorted(p.name for p in folder.iterdir() if p.is_dir())
    bundle = open_current_bundle(paths.models_dir())
    with tempfile.TemporaryDirectory() as data:
        library = Library(Path(data), bundle)
        library.add_root(folder)
        report = library.scan()
        log.info("scanned %d tracks (%d skipped)", report.indexed, report.failed)
        recommender = Recommender(library)
        extractor = recommender.embedder.extractor
        tracks = library.catalog.tracks()
        label_of = {t["id"]: Path(t["path"]).parent.name for t in tracks}
        ids = [t["id"] for t in tracks]
        conn = library.catalog._connection()
        means = {
            i: np.frombuffer(b, "<f2").astype(np.float32) for i, b in conn.execute("SELECT id, tag_means FROM tracks")
        }
        tag_means = np.stack([means[i] for i in ids])
        tag_names = list(extractor.tag_names)
        rng = np.random.default_rng(0)

        rows = []
        for label in labels:
            prompt = label.replace("-", " ").replace("_", " ")
            viml = recommender.recommend(prompt=prompt, k=min(len(ids), 200)).results
            ranked_viml = [label_of[r.track_id] == label for r in viml]
            scores = tag_baseline(extractor, prompt, tag_means, tag_names)
            ranked_tags = [label_of[ids[i]] == label for i in np.argsort(-scores)]
            randoms = [
                metrics([label_of[ids[i]] == label for i in rng.permutation(len(ids))]) for _ in range(RANDOM_RUNS)
            ]
            rows.append(
                {
                    "label": label,
                    "prompt": prompt,
                    "tracks": sum(v == label for v in label_of.values()),
                    "viml": metrics(ranked_viml),
                    "tags": metrics(ranked_tags),
                    "random": tuple(np.mean(randoms, axis=0)),
                }
            )

        clips = Path(data) / "clips"
        clips.mkdir()
        slow = write_video(clips / "slow.mp4", moving_shapes(10, 25, 0.1), 25)
        fast = write_video(clips / "fast.mp4", moving_shapes(10, 25, 2.0), 25)
        bpm = {}
        for name, clip in (("slow", slow), ("fast", fast)):
            results = recommender.recommend(clip, k=10).results
            bpm[name] = float(np.median([r.bpm for r in results if r.bpm]))

    print(f"\nText→music retrieval, {len(ids)} tracks in {len(labels)} labels (bundle {bundle.id})")
    print(f"{'label':<18}{'n':>4}   {'P@5 ViML':>9}{'tags':>7}{'random':>8}   {'AP ViML':>8}{'tags':>7}{'random':>8}")
    for r in rows:
        print(
            f"{r['label']:<18}{r['tracks']:>4}   {r['viml'][0]:>9.2f}{r['tags'][0]:>7.2f}{r['random'][0]:>8.2f}"
            f"   {r['viml'][1]:>8.2f}{r['tags'][1]:>7.2f}{r['random'][1]:>8.2f}"
        )
    mean = {m: np.mean([r[m] for r in rows], axis=0) for m in ("viml", "tags", "random")}
    print(
        f"{'mean':<18}{'':>4}   {mean['viml'][0]:>9.2f}{mean['tags'][0]:>7.2f}{mean['random'][0]:>8.2f}"
        f"   {mean['viml'][1]:>8.2f}{mean['tags'][1]:>7.2f}{mean['random'][1]:>8.2f}"
    )
    verdict = "moves the right way" if bpm["fast"] > bpm["slow"] else "DOES NOT move the right way"
    print(
        f"\nVideo pace check, median BPM of the top 10: slow footage {bpm['slow']:.0f}, fast {bpm['fast']:.0f}, "
        f"{verdict}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"bundle": bundle.id, "labels": rows, "mean": {k: list(v) for k, v in mean.items()}, "bpm": bpm}, indent=2
        )
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
