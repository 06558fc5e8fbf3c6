"""The training loop: AdamW with warm-up and cosine decay, text dropout, checkpoints that resume after a
kill, deterministic seeds, and DDP through torchrun (one process is a world of one)."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from training.data.dataset import Collate, PairDataset
from training.data.featureset import FeatureSet
from training.distributed import World, init_distributed, shutdown
from training.errors import TrainingError
from training.evaluate import evaluate
from training.viml.config import ExperimentConfig, TrainConfig, to_dict
from training.viml.loss import ContrastiveLoss
from training.viml.model import ViML

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


def get_lr(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio` of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


def configure_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """Weight decay on matrices only; biases, norms, embeddings of size 1 and the temperature go free."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("logit_scale")]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2 or n.startswith("logit_scale")]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit_standardizers(model: ViML, data: FeatureSet, train_idx: np.ndarray) -> None:
    clips = np.unique(data.arrays["pair_clip"][train_idx])
    offsets = data.arrays["clip_offsets"]
    cues = np.concatenate([data.arrays["clip_cues"][offsets[c] : offsets[c + 1]] for c in clips])
    music = np.unique(data.arrays["pair_music"][train_idx])
    model.cue_norm.fit(np.asarray(cues))
    model.descriptor_norm.fit(np.asarray(data.arrays["music_descriptors"][music]))


def _save(path: Path, state: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def text_method_for(config: ExperimentConfig, data: FeatureSet) -> str | None:
    """The configured text source(s), checked against the feature set; None when it has no texts at all."""
    if not data.text_methods:
        return None
    missing = [m for m in config.train.text_method.split(",") if m not in data.text_methods]
    if missing:
        raise TrainingError(f"feature set has no {', '.join(missing)} texts; it has {', '.join(data.text_methods)}")
    return config.train.text_method


def train(
    config: ExperimentConfig,
    data: FeatureSet,
    out_dir: str | Path,
    *,
    world: World | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) one experiment; returns the held-out metrics. Writes out_dir/checkpoint.pt."""
    world = world or World(0, 0, 1, torch.device("cpu"))
    cfg = config.train
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)  # the same initial weights on every rank
    text_method = text_method_for(config, data)
    train_idx, held_idx = data.split(cfg.holdout_fraction, cfg.seed)  # both sides non-empty, or it raised

    model = ViML(config.model, data.dims).to(world.device)
    fit_standardizers(model, data, train_idx)
    optimizer = configure_optimizer(model, cfg)
    batch_size = max(2, min(cfg.batch_size, len(train_idx) // world.size))
    dataset = PairDataset(data, train_idx, text_method)
    sampler = DistributedSampler(dataset, world.size, world.rank, shuffle=True, seed=cfg.seed, drop_last=True)
    steps_per_epoch = len(sampler) // batch_size
    if steps_per_epoch == 0:
        raise TrainingError(
            f"the held-out split left {len(train_idx)} pairs for training, fewer than a batch of {batch_size} on "
            f"each of {world.size} process(es); training needs more pairs (longer or more videos)"
        )
    total_steps = steps_per_epoch * cfg.epochs

    start_epoch, step, history = 0, 0, []
    checkpoint_path = out_dir / CHECKPOINT
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=world.device, weights_only=False)
        if state["config"] != to_dict(config):
            raise TrainingError(f"{checkpoint_path} was made with another configuration; use a new output folder")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step, history = state["epoch"], state["step"], state["history"]
        if world.is_main:
            log.info("resuming %s at epoch %d", config.name, start_epoch)

    net = model
    if world.size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    loss_fn = ContrastiveLoss()
    bar = tqdm(total=total_steps, initial=step, desc=config.name, unit="step", disable=not (progress and world.is_main))
    recall = history[-1]["video+text"]["R@1"] if history and "video+text" in history[-1] else None
    for epoch in range(start_epoch, cfg.epochs):
        # Every random draw of an epoch (order, text dropout, dropout layers) follows from (seed, epoch,
        # rank) alone, so a run resumed after a kill continues exactly as if it had never stopped.
        epoch_seed = cfg.seed * 100_003 + epoch * 101 + world.rank
        torch.manual_seed(epoch_seed)
        sampler.set_epoch(epoch)
        collate = Collate(cfg.text_dropout, cfg.video_dropout, seed=epoch_seed, mix_texts=True)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate,
            drop_last=True,
            num_workers=cfg.num_workers,
        )
        net.train()
        for batch in loader:
            batch = {k: v.to(world.device) for k, v in batch.items()}
            for group in optimizer.param_groups:
                group["lr"] = get_lr(step, total_steps, cfg)
            query, music, scale = net(batch)
            loss = loss_fn(query, music, scale)["contrastive_loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            optimizer.step()
            model.clamp_logit_scale()
            step += 1
            bar.update(1)
            postfix = {"loss": f"{loss.item():.3f}", "lr": f"{optimizer.param_groups[0]['lr']:.1e}"}
            if recall is not None:
                postfix["R@1"] = f"{100 * recall:.1f}%"
            bar.set_postfix(postfix)
        last = epoch + 1 == cfg.epochs
        if world.is_main and (last or (epoch + 1) % cfg.eval_every == 0):
            metrics = evaluate(model, data, held_idx, text_method)
            history.append({"epoch": epoch + 1, **metrics})
            recall = metrics.get("video+text", metrics["video"])["R@1"]
        if world.is_main:
            _save(
                checkpoint_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1,
                    "step": step,
                    "history": history,
                    "config": to_dict(config),
                    "dims": dataclasses.asdict(data.dims),
                    "text_method": text_method,
                    "bundle_id": data.meta["bundle_id"],
                    "backbones": data.meta["backbones"],
                    "analysis_version": data.meta.get("analysis_version", 1),
                    "featureset": str(data.root),
                    "world_size": world.size,
                    "split": {
                        "holdout_fraction": cfg.holdout_fraction,
                        "seed": cfg.seed,
                        "train": len(train_idx),
                        "held_out": len(held_idx),
                    },
                },
            )
    bar.close()
    return history[-1] if history else {}


def train_distributed(config: ExperimentConfig, data_dir: str | Path, out_dir: str | Path, progress: bool = True):
    """Entry point for both `python -m training train` and `torchrun ... -m training train`."""
    world = init_distributed()
    try:
        return train(config, FeatureSet(data_dir), out_dir, world=world, progress=progress)
    finally:
        shutdown(world)
