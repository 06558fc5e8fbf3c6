"""Experiment configuration: typed, strict, one JSON file per experiment (training/configs/)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from training.errors import TrainingError

FUSIONS = ("add", "mlp", "transformer")


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ModelConfig(_Config):
    embed_dim: int = 128  # the shared music/query space the library index stores
    width: int = 192  # transformer width in every encoder
    heads: int = 4
    layers: int = 2  # per modality encoder
    fusion: str = "transformer"
    fusion_layers: int = 1
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")


class TrainConfig(_Config):
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    # The paper's key regulariser: drop the whole text input for this fraction of examples.
    text_dropout: float = 0.3
    # Drop the video for this fraction instead, so the same model also answers text-only queries.
    video_dropout: float = 0.1
    # Which texts to train on: a feature set's text source ("own", "tags", "data2text", "prompt2text"), or
    # several separated by commas, one drawn per example; held-out evaluation uses the first.
    text_method: str = "data2text"
    holdout_fraction: float = 0.2
    seed: int = 0
    eval_every: int = 5  # epochs
    grad_clip: float = 1.0
    num_workers: int = 0


class ExperimentConfig(_Config):
    name: str
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    try:
        return msgspec.json.decode(path.read_bytes(), type=ExperimentConfig)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        raise TrainingError(f"{path}: {exc}") from exc


def replace(config: ExperimentConfig, **changes) -> ExperimentConfig:
    """A copy with dotted overrides, e.g. replace(cfg, **{"model.fusion": "add", "train.text_dropout": 0}),
    checked like a configuration file (TrainingError names a bad key or value)."""
    sections: dict[str, dict] = {"model": {}, "train": {}, "": {}}
    for key, value in changes.items():
        section, _, field = key.rpartition(".")
        if section not in sections:
            raise TrainingError(f"unknown setting {key!r}: settings are model.FIELD, train.FIELD or name")
        sections[section][field] = value
    try:
        changed = msgspec.structs.replace(
            config,
            model=msgspec.structs.replace(config.model, **sections["model"]),
            train=msgspec.structs.replace(config.train, **sections["train"]),
            **sections[""],
        )
        return msgspec.convert(msgspec.to_builtins(changed), ExperimentConfig)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise TrainingError(f"bad setting {', '.join(changes)}: {exc}") from exc


def to_dict(config: ExperimentConfig) -> dict:
    return msgspec.to_builtins(config)


def from_dict(data: dict) -> ExperimentConfig:
    return msgspec.convert(data, type=ExperimentConfig)
