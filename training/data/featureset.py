"""A feature set: every pair's base features in a few flat arrays on disk, memory-mapped for training.

Layout (like nanoGPT's train.bin): variable-length sequences are concatenated with an offsets array.
    clip_frames (F, 1280) f16, clip_cues (F, C), clip_offsets (V+1)
    music_patches (P, 400) f16, music_offsets (M+1), music_descriptors (M, D), music_tags (M, 100)
    text_tokens (T, 384) f16, text_offsets (X+1), texts.jsonl (the strings, for inspection)
    pair_clip, pair_music, pair_group (N,), pair_text_<method> (N,) (-1: no text)
    meta.json
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.data.cache import FeatureCache
from training.data.sources import PairSpec
from training.errors import TrainingError
from training.viml.model import InputDims

BACKBONES = ("frame_backbone", "text_backbone", "music_backbone")
OWN_TEXT = "own"  # the pair's own text (a manifest column, or the planted description)
# A synthesizer turns music summaries (tag probabilities, tempo, key) into one description each.
Synthesizer = Callable[[list[dict]], list[str]]


def _concat(arrays: list[np.ndarray], width: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(a) for a in arrays])
    flat = np.concatenate(arrays).astype(dtype) if arrays else np.zeros((0, width), dtype)
    return flat, offsets


def build_featureset(
    pairs: list[PairSpec],
    cache: FeatureCache,
    out: str | Path,
    synthesizers: dict[str, Synthesizer] | None = None,
) -> FeatureSet:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clip_keys = list(dict.fromkeys((p.video, p.video_in, p.video_out) for p in pairs))
    music_keys = list(dict.fromkeys((p.music, p.music_in, p.music_out) for p in pairs))
    clips = [cache.clip(*k) for k in tqdm(clip_keys, desc="clip features", unit="clip")]
    music = [cache.music(*k) for k in tqdm(music_keys, desc="music features", unit="segment")]

    tag_names = cache.extractor.tag_names
    summaries = [json.loads(str(m["summary"])) for m in music]
    music_index = {k: i for i, k in enumerate(music_keys)}
    for p in pairs:
        if p.feel:
            summaries[music_index[(p.music, p.music_in, p.music_out)]]["known_feel"] = p.feel
    pair_music = np.array([music_index[(p.music, p.music_in, p.music_out)] for p in pairs])

    per_method: dict[str, list[str | None]] = {}
    if any(p.text for p in pairs):
        per_method[OWN_TEXT] = [p.text for p in pairs]
    for method, synthesize in (synthesizers or {}).items():
        texts = synthesize(summaries)
        per_method[method] = [texts[m] for m in pair_music]
    strings = sorted({t for texts in per_method.values() for t in texts if t})
    tokens = cache.texts(strings)
    string_index = {s: i for i, s in enumerate(strings)}

    clip_index = {k: i for i, k in enumerate(clip_keys)}
    groups = {g: i for i, g in enumerate(dict.fromkeys(p.group or p.video for p in pairs))}
    arrays = {
        "pair_clip": np.array([clip_index[(p.video, p.video_in, p.video_out)] for p in pairs]),
        "pair_music": pair_music,
        "pair_group": np.array([groups[p.group or p.video] for p in pairs]),
        # 1 held out, 0 train, -1 decided by group hash
        "pair_split": np.array([{"heldout": 1, "train": 0}.get(p.split, -1) for p in pairs]),
        "music_descriptors": np.stack([m["descriptors"] for m in music]).astype(np.float32),
        "music_tags": np.stack([m["tags"] for m in music]).astype(np.float32),
    }
    arrays["clip_frames"], arrays["clip_offsets"] = _concat([c["frames"] for c in clips], 0, np.float16)
    arrays["clip_cues"], _ = _concat([c["cues"] for c in clips], 0, np.float32)
    arrays["music_patches"], arrays["music_offsets"] = _concat([m["patches"] for m in music], 0, np.float16)
    arrays["text_tokens"], arrays["text_offsets"] = _concat(tokens, 384, np.float16)
    for method, texts in per_method.items():
        arrays[f"pair_text_{method}"] = np.array([string_index[t] if t else -1 for t in texts])
    for name, value in arrays.items():
        np.save(out / f"{name}.npy", value)
    with open(out / "texts.jsonl", "w") as f:
        for s in strings:
            f.write(json.dumps({"id": string_index[s], "text": s}) + "\n")
    pre = cache.pre
    bundle = cache.extractor.bundle
    meta = {
        "bundle_id": bundle.id,
        # What the features came from: heads trained on them fit only bundles with these backbones.
        "backbones": {role: bundle.manifest.graphs[role].computes for role in BACKBONES},
        "analysis_version": bundle.manifest.preprocessing.audio.analysis_version,
        "pairs": len(pairs),
        "text_methods": sorted(per_method),
        "cues": list(pre.video.cues),
        "descriptors": list(pre.audio.descriptors),
        "tag_names": list(tag_names),
        "dims": {
            "frame": int(arrays["clip_frames"].shape[1]),
            "cues": len(pre.video.cues),
            "token": int(arrays["text_tokens"].shape[1]),
            "patch": int(arrays["music_patches"].shape[1]),
            "descriptors": len(pre.audio.descriptors),
            "max_frames": pre.video.max_frames,
            "max_tokens": pre.text.max_tokens,
            "max_patches": round(pre.audio.segment_seconds * pre.audio.sample_rate / pre.audio.patch_hop_samples),
        },
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return FeatureSet(out)


@dataclass
class FeatureSet:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        if not (self.root / "meta.json").is_file():
            raise TrainingError(
                f"{self.root} is not a feature set (it has no meta.json); make one with `python -m training features`"
            )
        self.meta = json.loads((self.root / "meta.json").read_text())
        self.arrays = {p.stem: np.load(p, mmap_mode="r") for p in self.root.glob("*.npy")}

    def __len__(self) -> int:
        return self.meta["pairs"]

    @property
    def dims(self) -> InputDims:
        return InputDims(**self.meta["dims"])

    @property
    def text_methods(self) -> list[str]:
        return self.meta["text_methods"]

    def texts(self) -> list[str]:
        lines = (self.root / "texts.jsonl").read_text().splitlines()
        return [json.loads(line)["text"] for line in lines]

    def split(self, holdout_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Deterministic train / held-out pair indices; a group never straddles the two.

        Pairs whose source fixed their split keep it; the rest are held out by a hash of their group. When
        that leaves one side empty (a few groups, e.g. a few music videos), the groups whose hash came
        closest to the other side move there: about `holdout_fraction` of the groups, at least one held out
        and at least one kept for training. Raises TrainingError when fewer than 2 groups make that impossible.
        """
        groups = np.asarray(self.arrays["pair_group"])
        fixed = np.asarray(self.arrays.get("pair_split", np.full(len(groups), -1)))

        def score(group: int) -> float:
            digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
            return int.from_bytes(digest[:8], "little") / 2**64

        scores = {int(g): score(int(g)) for g in np.unique(groups)}
        held = [f == 1 if f >= 0 else scores[int(g)] < holdout_fraction for g, f in zip(groups, fixed)]
        mask = np.array(held, dtype=bool)
        if mask.any() and not mask.all():
            return np.flatnonzero(~mask), np.flatnonzero(mask)

        if len(scores) < 2:
            found = "has no pairs" if not len(groups) else "has pairs from only 1"
            raise TrainingError(
                f"training needs pairs from at least 2 videos (or manifest groups), one of them held out to "
                f"evaluate on; the feature set {self.root} {found}"
            )
        # Only groups with no pair fixed by their source may move, and whole.
        movable = sorted(set(scores) - {int(g) for g in groups[fixed >= 0]}, key=lambda g: (scores[g], g))
        to_held = not mask.any()
        if to_held:  # everything is in training: hold out the groups closest to being held out
            wanted = max(1, round(holdout_fraction * len(scores)))
            moving = movable[:wanted]
        else:  # everything is held out: train on the groups closest to being trained on
            wanted = max(1, round((1 - holdout_fraction) * len(scores)))
            moving = movable[::-1][:wanted]
        if len(moving) == len(scores):  # keep at least one group on the side everything was on
            moving = moving[:-1]
        if not moving:
            side = "training" if to_held else "held out"
            raise TrainingError(
                f"every pair of {self.root} is fixed to {side} by its source's split column; "
                f"mark at least one group {'heldout' if to_held else 'train'}"
            )
        mask[np.isin(groups, moving)] = to_held
        return np.flatnonzero(~mask), np.flatnonzero(mask)

    def _rows(self, flat: str, offsets: str, i: int) -> np.ndarray:
        o = self.arrays[offsets]
        return np.asarray(self.arrays[flat][o[i] : o[i + 1]], dtype=np.float32)

    def clip(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self._rows("clip_frames", "clip_offsets", i), self._rows("clip_cues", "clip_offsets", i)

    def music(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self._rows("music_patches", "music_offsets", i), np.asarray(self.arrays["music_descriptors"][i])

    def text(self, i: int) -> np.ndarray:
        return self._rows("text_tokens", "text_offsets", i)

    def pair_text(self, method: str) -> np.ndarray:
        key = f"pair_text_{method}"
        if key not in self.arrays:
            has = ", ".join(self.text_methods)
            raise TrainingError(f"feature set {self.root} has no '{method}' texts (it has: {has})")
        return self.arrays[key]
