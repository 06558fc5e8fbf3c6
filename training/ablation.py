"""The ablation: one base configuration, then one change at a time, all evaluated on the same held-out split.

Variants: text dropout off (and the base's value), each fusion module, each text synthesis method the feature
set has. Writes OUT/ablation.md and OUT/ablation.json; each variant's run folder resumes if interrupted.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.data.featureset import FeatureSet
from training.evaluate import format_table
from training.train import train
from training.viml.config import FUSIONS, ExperimentConfig, replace


def variants(base: ExperimentConfig, data: FeatureSet) -> dict[str, ExperimentConfig]:
    m, t = base.model, base.train
    out = {f"base ({m.fusion}, text dropout {t.text_dropout:g}, {t.text_method})": base}
    if t.text_dropout:
        out["text dropout 0"] = replace(base, **{"train.text_dropout": 0.0})
    else:
        out["text dropout 0.3"] = replace(base, **{"train.text_dropout": 0.3})
    for fusion in FUSIONS:
        if fusion != m.fusion:
            out[f"fusion {fusion}"] = replace(base, **{"model.fusion": fusion})
    for method in data.text_methods:
        if method != t.text_method:
            out[f"texts: {method}"] = replace(base, **{"train.text_method": method})
    return out


def run_ablation(base: ExperimentConfig, data_dir: str | Path, out: Path, progress: bool = True) -> str:
    data = FeatureSet(data_dir)
    results = {}
    for i, (name, config) in enumerate(variants(base, data).items()):
        config = replace(config, name=f"{base.name}-{i}")
        results[name] = train(config, data, out / f"variant-{i}", progress=progress)
        results[name].pop("epoch", None)
    table = format_table(results, title=f"Ablation on {data.root.name} (held-out split, seed {base.train.seed})")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.md").write_text(table + "\n")
    (out / "ablation.json").write_text(json.dumps(results, indent=2))
    return table
