"""Rebuilding a trained model from its checkpoint alone (architecture, input sizes and weights travel together)."""

from __future__ import annotations

from pathlib import Path

import torch

from training.viml.config import from_dict
from training.viml.model import InputDims, ViML


def load_model(path: str | Path) -> tuple[ViML, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    config = from_dict(state["config"])
    model = ViML(config.model, InputDims(**state["dims"]))
    model.load_state_dict(state["model"])
    return model.eval(), state
