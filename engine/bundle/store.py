"""Finding, verifying and installing model bundles on disk.

A models directory holds one folder per bundle id plus a `current` file naming the active one. A new
bundle is assembled elsewhere and renamed into place, then `current` is replaced atomically, so a reader
never sees a half-written bundle and a running app keeps the files it already opened.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import msgspec

from engine import atomic
from engine.bundle.manifest import MANIFEST_NAME, GraphSpec, Manifest, decode_manifest
from engine.errors import BundleError
from engine.media.dsp import ANALYSIS_VERSION

log = logging.getLogger(__name__)

CURRENT_NAME = "current"
BUILD_HINT = "run `needledrop models build` (or `make models`)"
# Graphs (and their preprocessing) whose results a track keeps apart from its analysis, with their own
# version: adding or changing one does not ask a library to analyse every track again (the drum detector's
# network, export_onnx/drum_sfx.py, and its int8 graph; a library fills in what it reads for tracks without it).
SIDE_ANALYSES = ("drum_sfx", "drum_sfx_int8")


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest

    @property
    def id(self) -> str:
        return self.manifest.bundle_id

    def graph(self, role: str) -> GraphSpec:
        try:
            return self.manifest.graphs[role]
        except KeyError:
            raise BundleError(
                f"bundle {self.id} has no '{role}' graph (it has: {', '.join(sorted(self.manifest.graphs))}); "
                f"{BUILD_HINT}"
            ) from None

    def graph_path(self, role: str) -> Path:
        return self.path / self.graph(role).file

    def file_path(self, name: str) -> Path:
        try:
            return self.path / self.manifest.files[name].file
        except KeyError:
            raise BundleError(f"bundle {self.id} has no file '{name}'; {BUILD_HINT}") from None

    def labels(self, name: str) -> tuple[str, ...]:
        try:
            return self.manifest.labels[name]
        except KeyError:
            raise BundleError(f"bundle {self.id} has no label list '{name}'") from None

    @property
    def analysis_key(self) -> str:
        """What a track's analysis with this bundle depends on: the preprocessing (with the descriptors'
        version), what every graph computes (not how: see GraphSpec.features) and the label lists. Tracks
        analysed with a bundle of the same key need no new analysis."""
        m = self.manifest
        preprocessing = msgspec.to_builtins(m.preprocessing)
        for name in SIDE_ANALYSES:  # absent from the manifests before them, and None is not absent
            preprocessing.pop(name, None)
        identity = {
            "preprocessing": preprocessing,
            "graphs": {role: g.computes for role, g in sorted(m.graphs.items()) if role not in SIDE_ANALYSES},
            "labels": {name: list(names) for name, names in sorted(m.labels.items())},
            "embedding_dim": m.embedding_dim,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def tag_labels(self) -> tuple[str, ...]:
        """Both taggers' labels, in the order of every stored tag vector (segments' tags, tracks' peaks)."""
        return self.labels("musicnn_mtt") + self.labels("musicnn_msd")


def _verify(bundle_dir: Path, manifest: Manifest) -> None:
    entries = [(g.file, g.sha256) for g in manifest.graphs.values()]
    entries += [(f.file, f.sha256) for f in manifest.files.values()]
    for name, expected in entries:
        path = bundle_dir / name
        if not path.is_file():
            raise BundleError(f"bundle {manifest.bundle_id} is incomplete: {path} is missing; {BUILD_HINT}")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{path} does not match the sha256 recorded in its manifest (expected {expected[:16]}…, "
                f"found {actual[:16]}…): the file was modified or corrupted. Delete {bundle_dir} and "
                f"{BUILD_HINT}."
            )


def load_bundle(bundle_dir: str | os.PathLike[str], *, verify: bool = True, any_analysis: bool = False) -> Bundle:
    """Open a bundle folder, checking its manifest schema, that it was built for this engine's music
    descriptors (unless `any_analysis`: a build reusing its graphs) and, by default, every file's sha256."""
    bundle_dir = Path(bundle_dir)
    manifest_path = bundle_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BundleError(f"no model bundle at {bundle_dir} ({MANIFEST_NAME} is missing); {BUILD_HINT}")
    manifest = decode_manifest(manifest_path.read_bytes(), where=str(manifest_path))
    built_for = manifest.preprocessing.audio.analysis_version
    if built_for != ANALYSIS_VERSION and not any_analysis:
        raise BundleError(
            f"bundle {manifest.bundle_id} was built for version {built_for} of the music descriptors, and this "
            f"Needledrop measures version {ANALYSIS_VERSION}; {BUILD_HINT} (the library is then re-analysed)"
        )
    if verify:
        _verify(bundle_dir, manifest)
    return Bundle(bundle_dir, manifest)


def current_bundle_dir(models_dir: Path) -> Path:
    """The folder of the active bundle in `models_dir`, without opening it."""
    pointer = models_dir / CURRENT_NAME
    try:
        bundle_id = pointer.read_text().strip()
    except FileNotFoundError:
        raise BundleError(f"no model bundle is installed in {models_dir}; {BUILD_HINT}") from None
    if not bundle_id or "/" in bundle_id or bundle_id.startswith("."):
        raise BundleError(f"{pointer} does not name a bundle; {BUILD_HINT}")
    return models_dir / bundle_id


def open_current_bundle(models_dir: Path, *, verify: bool = True, any_analysis: bool = False) -> Bundle:
    return load_bundle(current_bundle_dir(models_dir), verify=verify, any_analysis=any_analysis)


def install_bundle(staging_dir: Path, models_dir: Path) -> Bundle:
    """Move a fully written, verified bundle into `models_dir` and make it the current one.

    The bundle it replaces stays (a running app may have its graphs open); older ones are removed.
    """
    bundle = load_bundle(staging_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        replaced = current_bundle_dir(models_dir).name
    except BundleError:
        replaced = None
    target = models_dir / bundle.id
    if target.exists():
        # Same id means same recipe; keep what is there if it verifies, else replace it.
        try:
            load_bundle(target)
            shutil.rmtree(staging_dir)
        except BundleError:
            log.warning("replacing damaged bundle at %s", target)
            shutil.rmtree(target)
            os.replace(staging_dir, target)
    else:
        os.replace(staging_dir, target)
    atomic.write_text(models_dir / CURRENT_NAME, bundle.id + "\n")
    for old in models_dir.iterdir():
        keep = old.name.startswith(".") or old.name in {bundle.id, replaced}
        # Only ever delete what looks like one of our bundles.
        if not keep and old.is_dir() and (old / MANIFEST_NAME).is_file():
            log.info("removing superseded bundle %s", old)
            shutil.rmtree(old, ignore_errors=True)
    return load_bundle(target, verify=False)
