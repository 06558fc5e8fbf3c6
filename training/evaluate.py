"""Retrieval on held-out pairs: Recall@1/5/10 and median rank for video, text and video+text queries.

The candidate pool is every distinct music segment of the evaluated pairs; a query's target is its own
pair's segment. Text and video+text are scored on the pairs that have a text (stated as `queries`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from training.data.dataset import Collate, PairDataset
from training.data.featureset import FeatureSet
from training.viml.model import ViML

MODES = ("video", "text", "video+text")


@torch.no_grad()
def embed(model: ViML, data: FeatureSet, indices: np.ndarray, text_method: str | None, batch_size: int = 128):
    """Query embeddings per mode, music embeddings, and each pair's music id and text presence."""
    model.eval()
    loader = DataLoader(PairDataset(data, indices, text_method), batch_size=batch_size, collate_fn=Collate())
    parts: dict[str, list] = {m: [] for m in (*MODES, "music", "music_id", "has_text")}
    for batch in loader:
        video_tokens, video = model.encode_video(batch["frames"], batch["cues"], batch["video_mask"])
        text_tokens, text = model.encode_text(batch["tokens"], batch["text_mask"])
        no_video = torch.zeros_like(batch["video_mask"])
        no_text = torch.zeros_like(batch["text_mask"])
        vm, tm = batch["video_mask"], batch["text_mask"]
        parts["video"].append(model.fuse(video_tokens, vm, video, text_tokens, no_text, text))
        parts["text"].append(model.fuse(video_tokens, no_video, video, text_tokens, tm, text))
        parts["video+text"].append(model.fuse(video_tokens, vm, video, text_tokens, tm, text))
        parts["music"].append(model.encode_music(batch["patches"], batch["patch_mask"], batch["descriptors"]))
        parts["music_id"].append(batch["music_id"])
        parts["has_text"].append(tm.any(dim=1))
    return {k: torch.cat(v).numpy() for k, v in parts.items()}


def retrieval_metrics(queries: np.ndarray, candidates: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Rank of each query's target among all candidates (1 = best), summarised."""
    scores = queries @ candidates.T
    target_scores = scores[np.arange(len(queries)), targets]
    ranks = 1 + (scores > target_scores[:, None]).sum(axis=1)
    return {
        "R@1": float(np.mean(ranks <= 1)),
        "R@5": float(np.mean(ranks <= 5)),
        "R@10": float(np.mean(ranks <= 10)),
        "median_rank": float(np.median(ranks)),
        "queries": int(len(queries)),
        "pool": int(len(candidates)),
    }


def evaluate(model: ViML, data: FeatureSet, indices: np.ndarray, text_method: str | None) -> dict[str, dict]:
    out = embed(model, data, indices, text_method)
    ids, first = np.unique(out["music_id"], return_index=True)
    candidates = out["music"][first]
    targets = np.searchsorted(ids, out["music_id"])
    results = {}
    for mode in MODES:
        keep = np.ones(len(targets), bool) if mode == "video" else out["has_text"]
        if keep.any():
            results[mode] = retrieval_metrics(out[mode][keep], candidates, targets[keep])
    return results


def format_table(rows: dict[str, dict[str, dict]], title: str = "") -> str:
    """Markdown: one row per experiment, R@1/R@5/R@10/median rank per query mode."""
    header = "| experiment | " + " | ".join(f"{m} R@1 | R@5 | R@10 | MedR" for m in MODES) + " |"
    lines = [f"### {title}", ""] if title else []
    lines += [header, "|---" * (1 + 4 * len(MODES)) + "|"]
    for name, results in rows.items():
        cells = []
        for mode in MODES:
            r = results.get(mode)
            cells += (
                [f"{100 * r['R@1']:.1f}", f"{100 * r['R@5']:.1f}", f"{100 * r['R@10']:.1f}", f"{r['median_rank']:g}"]
                if r
                else ["–"] * 4
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    pools = {r["pool"] for results in rows.values() for r in results.values()}
    queries = {m: r["queries"] for results in rows.values() for m, r in results.items()}
    lines += [
        "",
        f"Recall in %, candidate pool {', '.join(map(str, sorted(pools)))} music segments; queries per mode: "
        + ", ".join(f"{m} {n}" for m, n in queries.items())
        + ".",
    ]
    return "\n".join(lines)
