"""Rebuilding a trained model from its checkpoint alone (architecture, input sizes and weights travel together)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from training.errors import TrainingError
from training.viml.config import from_dict
from training.viml.model import InputDims, ViML


def load_state(path: str | Path) -> dict:
    """A checkpoint's saved state; TrainingError when the file is not one (FileNotFoundError when it is missing)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as exc:  # torch.load's ways of saying "not mine"
        raise TrainingError(f"{path} is not a training checkpoint ({exc})") from exc
    missing = [k for k in ("model", "config", "dims") if not isinstance(state, dict) or k not in state]
    if missing:
        raise TrainingError(f"{path} is not a training checkpoint (it has no {', '.join(missing)})")
    return state


def load_model(path: str | Path) -> tuple[ViML, dict]:
    state = load_state(path)
    config = from_dict(state["config"])
    model = ViML(config.model, InputDims(**state["dims"]))
    model.load_state_dict(state["model"])
    return model.eval(), state


def untrained_like(model: ViML, data, train_idx, seed: int = 0) -> ViML:
    """The same architecture, freshly initialised (input standardisers fitted as training would): a baseline."""
    from training.train import fit_standardizers

    torch.manual_seed(seed)
    fresh = ViML(model.cfg, model.dims)
    fit_standardizers(fresh, data, train_idx)
    return fresh.eval()


# What export needs from a checkpoint; the optimizer state and paths of the training machine are dropped.
RELEASE_KEYS = (
    "model",
    "config",
    "dims",
    "history",
    "epoch",
    "text_method",
    "backbones",
    "analysis_version",
    "split",
    "world_size",
)


def release(path: str | Path, out: str | Path) -> int:
    """Write a slim copy of a checkpoint (for committing the default heads); returns its size in bytes."""
    state = load_state(path)
    slim = {k: state[k] for k in RELEASE_KEYS if k in state}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, out)
    return out.stat().st_size
