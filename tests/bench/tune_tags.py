"""Tune the tag match's two constants on the dev split (never the test split that eval_quality reports).

Grid over the similarity floor (which prompt words count as naming a tag) and the weight of a tag match
beside the embedding's similarity; prints mean precision@5 and mean average precision for each.

    .venv/bin/python tests/bench/tune_tags.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_quality import labelled_folder, open_scanned, text_retrieval  # noqa: E402

from engine.recommend import Recommender  # noqa: E402
from engine.recommend.tagmatch import TagMatcher  # noqa: E402

FLOORS = (0.3, 0.45, 0.5, 0.6)
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def main() -> None:
    folder = labelled_folder("dev", 6)
    with tempfile.TemporaryDirectory() as data:
        library = open_scanned(folder, Path(data))
        recommender = Recommender(library)
        print(f"dev split: {folder}")
        print(f"{'floor':>6} {'weight':>7} {'P@5':>6} {'mAP':>6}")
        for floor in FLOORS:
            recommender.matcher = TagMatcher(recommender.embedder.extractor, recommender.tags, floor)
            recommender.encoder.matcher = recommender.matcher
            recommender.encoder.words.cache_clear()
            for weight in WEIGHTS:
                recommender.tag_weight = weight
                rows, _ = text_retrieval(library, recommender, methods=("needledrop",))
                p5, ap = np.mean([r["needledrop"] for r in rows], axis=0)
                print(f"{floor:>6.2f} {weight:>7.2f} {p5:>6.3f} {ap:>6.3f}", flush=True)


if __name__ == "__main__":
    main()
