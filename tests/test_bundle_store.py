import os
import shutil
from pathlib import Path

import msgspec
import pytest

from engine.bundle import install_bundle, load_bundle, open_current_bundle
from engine.bundle.manifest import MANIFEST_NAME, decode_manifest, encode_manifest
from engine.errors import BundleError
from engine.media.dsp import ANALYSIS_VERSION


def link_copy(bundle, dest: Path, copy: set[str] = frozenset()) -> Path:
    """The bundle's files in `dest`: real copies of the names in `copy`, hard links (or copies) otherwise."""
    dest.mkdir()
    for src in bundle.path.iterdir():
        target = dest / src.name
        if src.name in copy or src.name == MANIFEST_NAME:
            shutil.copy2(src, target)
        else:
            try:
                os.link(src, target)
            except OSError:
                shutil.copy2(src, target)
    return dest


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_built_bundle_verifies(bundle):
    again = load_bundle(bundle.path)
    assert again.manifest == bundle.manifest
    assert set(bundle.manifest.graphs) >= {"frame_backbone", "text_backbone", "music_backbone"}


@pytest.mark.parametrize("name", ["music_backbone.onnx", "tokenizer.json"])
def test_a_tampered_file_is_refused_by_name(bundle, tmp_path, name):
    copy = link_copy(bundle, tmp_path / "b", copy={name})
    flip_byte(copy / name, offset=(copy / name).stat().st_size // 2)
    with pytest.raises(BundleError, match=rf"{name} does not match the sha256 recorded.*modified or corrupted"):
        load_bundle(copy)


def test_a_missing_file_is_refused(bundle, tmp_path):
    copy = link_copy(bundle, tmp_path / "b")
    (copy / "frame_backbone.onnx").unlink()
    with pytest.raises(BundleError, match="incomplete.*frame_backbone.onnx is missing"):
        load_bundle(copy)


def test_no_manifest_is_refused_with_build_hint(tmp_path):
    with pytest.raises(BundleError, match="manifest.json is missing.*needledrop models build"):
        load_bundle(tmp_path)


def test_unknown_graph_role_names_what_exists(bundle):
    with pytest.raises(BundleError, match="no 'lyrics_head' graph.*music_backbone"):
        bundle.graph("lyrics_head")


def test_install_makes_bundle_current_and_keeps_existing(bundle, tmp_path):
    models = tmp_path / "models"
    installed = install_bundle(link_copy(bundle, tmp_path / "staging"), models)
    assert installed.id == bundle.id
    assert open_current_bundle(models).id == bundle.id
    assert not (tmp_path / "staging").exists()
    # Installing the same id again keeps the verified copy and drops the staging folder.
    before = (models / bundle.id / "music_backbone.onnx").stat().st_ino
    install_bundle(link_copy(bundle, tmp_path / "staging2"), models)
    assert (models / bundle.id / "music_backbone.onnx").stat().st_ino == before
    assert not (tmp_path / "staging2").exists()


def test_install_replaces_a_damaged_bundle_of_the_same_id(bundle, tmp_path):
    models = tmp_path / "models"
    install_bundle(link_copy(bundle, tmp_path / "s1", copy={"tokenizer.json"}), models)
    flip_byte(models / bundle.id / "tokenizer.json", 10)
    install_bundle(link_copy(bundle, tmp_path / "s2"), models)
    assert open_current_bundle(models).id == bundle.id  # verifies, so the damaged copy is gone


def test_install_refuses_a_bad_staging_bundle(bundle, tmp_path):
    staging = link_copy(bundle, tmp_path / "s", copy={"tokenizer.json"})
    flip_byte(staging / "tokenizer.json", 5)
    with pytest.raises(BundleError):
        install_bundle(staging, tmp_path / "models")
    assert not (tmp_path / "models" / "current").exists()


def test_current_pointer_must_name_a_bundle(tmp_path):
    (tmp_path / "current").write_text("../../etc\n")
    with pytest.raises(BundleError, match="does not name a bundle"):
        open_current_bundle(tmp_path)


def test_manifest_of_newer_schema_is_refused_on_load(bundle, tmp_path):
    copy = link_copy(bundle, tmp_path / "b")
    raw = (copy / MANIFEST_NAME).read_bytes().replace(b'"schema_version": 1', b'"schema_version": 99', 1)
    (copy / MANIFEST_NAME).write_bytes(raw)
    with pytest.raises(BundleError, match="schema version 99"):
        load_bundle(copy)
    assert decode_manifest(encode_manifest(bundle.manifest)) == bundle.manifest


def test_a_bundle_built_for_other_music_descriptors_asks_for_a_rebuild(bundle, tmp_path):
    copy = link_copy(bundle, tmp_path / "b")
    older = msgspec.structs.replace(bundle.manifest.preprocessing.audio, analysis_version=ANALYSIS_VERSION - 1)
    pre = msgspec.structs.replace(bundle.manifest.preprocessing, audio=older)
    (copy / MANIFEST_NAME).write_bytes(encode_manifest(msgspec.structs.replace(bundle.manifest, preprocessing=pre)))
    with pytest.raises(BundleError, match=f"version {ANALYSIS_VERSION - 1} of the music descriptors.*models build"):
        load_bundle(copy)
    assert load_bundle(copy, any_analysis=True).manifest.preprocessing.audio.analysis_version == ANALYSIS_VERSION - 1


def test_install_keeps_the_replaced_bundle_and_prunes_older_ones(bundle, tmp_path):
    models = tmp_path / "models"
    install_bundle(link_copy(bundle, tmp_path / "s1"), models)
    for fake_id in ("nd-older", "nd-previous"):
        staging = link_copy(bundle, tmp_path / f"s-{fake_id}")
        manifest = decode_manifest((staging / MANIFEST_NAME).read_bytes())
        (staging / MANIFEST_NAME).write_bytes(encode_manifest(msgspec.structs.replace(manifest, bundle_id=fake_id)))
        install_bundle(staging, models)
    (models / "not-a-bundle").mkdir()
    install_bundle(link_copy(bundle, tmp_path / "s-last"), models)
    remaining = sorted(p.name for p in models.iterdir())
    assert remaining == sorted(["current", bundle.id, "nd-previous", "not-a-bundle"])
