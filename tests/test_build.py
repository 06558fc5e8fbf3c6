"""`models build` is idempotent and rebuilds only the graphs whose recipe changed."""

import os

from engine import paths
from engine.bundle import open_current_bundle
from engine.bundle.store import CURRENT_NAME
from export_onnx import build as build_module


def copy_models_dir(bundle, dest):
    (dest / bundle.id).mkdir(parents=True)
    for src in bundle.path.iterdir():
        os.link(src, dest / bundle.id / src.name)
    (dest / CURRENT_NAME).write_text(bundle.id + "\n")
    return dest


def recorded_builds(monkeypatch) -> list[str]:
    """The roles of the graphs the next builds make (not reuse), as they make them."""
    exported = []
    real_build_graph = build_module._build_graph

    def recording_build_graph(component, staging):
        exported.append(component.role)
        return real_build_graph(component, staging)

    monkeypatch.setattr(build_module, "_build_graph", recording_build_graph)
    return exported


def test_build_is_a_no_op_when_up_to_date(bundle, tmp_path):
    models = copy_models_dir(bundle, tmp_path / "models")
    result, changed = build_module.build(models, paths.cache_dir())
    assert not changed and result.id == bundle.id
    assert sorted(p.name for p in models.iterdir()) == sorted([bundle.id, CURRENT_NAME])


def test_only_the_stale_graph_is_rebuilt(bundle, tmp_path, monkeypatch):
    models = copy_models_dir(bundle, tmp_path / "models")
    versions = dict(build_module.EXPORTER_VERSIONS, music_backbone=build_module.EXPORTER_VERSIONS["music_backbone"] + 1)
    monkeypatch.setattr(build_module, "EXPORTER_VERSIONS", versions)
    exported = recorded_builds(monkeypatch)

    result, changed = build_module.build(models, paths.cache_dir())

    assert changed and exported == ["music_backbone"]
    assert result.id != bundle.id and open_current_bundle(models).id == result.id
    old, new = bundle.manifest.graphs, result.manifest.graphs
    assert new["frame_backbone"] == old["frame_backbone"] and new["text_backbone"] == old["text_backbone"]
    assert new["music_backbone"].recipe != old["music_backbone"].recipe
    # The previous bundle stays on disk: a running app that opened it keeps working.
    assert (models / bundle.id / "music_backbone.onnx").is_file()


def test_a_cheaper_way_to_compute_the_same_features_keeps_the_heads(bundle, tmp_path, monkeypatch):
    models = copy_models_dir(bundle, tmp_path / "models")
    monkeypatch.setattr(build_module.music_backbone, "LOW_RANK_TOLERANCE", 1e-5)

    result, changed = build_module.build(models, paths.cache_dir())

    old, new = bundle.manifest.graphs, result.manifest.graphs
    assert changed and new["music_backbone"].recipe != old["music_backbone"].recipe
    assert new["music_backbone"].computes == old["music_backbone"].computes
    assert all(new[role] == old[role] for role in build_module.HEAD_ROLES)
    assert result.manifest.metrics["heads"] == bundle.manifest.metrics["heads"]


def test_the_int8_drum_network_is_made_from_the_float_one_and_leaves_the_analysis_alone(bundle, tmp_path, monkeypatch):
    """Another int8 recipe (here, two blocks kept in float32) rebuilds the int8 graph alone, from the float
    graph; it computes what that graph does, so neither the analysis nor what the scan heard is redone."""
    models = copy_models_dir(bundle, tmp_path / "models")
    monkeypatch.setattr(build_module.drum_sfx_int8, "FLOAT_CONVOLUTIONS", 4)
    exported = recorded_builds(monkeypatch)

    result, changed = build_module.build(models, paths.cache_dir())

    assert changed and exported == ["drum_sfx_int8"]
    old, new = bundle.manifest.graphs, result.manifest.graphs
    assert new["drum_sfx_int8"].recipe != old["drum_sfx_int8"].recipe and new["drum_sfx"] == old["drum_sfx"]
    assert new["drum_sfx_int8"].computes == new["drum_sfx"].computes
    assert result.analysis_key == bundle.analysis_key
    assert 0 < new["drum_sfx_int8"].parity_max_abs_diff <= build_module.drum_sfx_int8.TOLERANCE
    int8, float32 = (result.graph_path(role).stat().st_size for role in ("drum_sfx_int8", "drum_sfx"))
    assert int8 < float32 / 2  # int8 weights, where float32 keeps only the first two blocks'


def test_without_the_calibration_music_the_bundle_is_built_without_the_int8_graph(
    bundle, tmp_path, monkeypatch, caplog
):
    models = copy_models_dir(bundle, tmp_path / "models")
    monkeypatch.setitem(build_module.drum_sfx_int8.CALIBRATION, "asc-music", tmp_path / "not-installed")

    result, changed = build_module.build(models, paths.cache_dir())

    assert changed and "drum_sfx_int8" not in result.manifest.graphs
    assert result.manifest.graphs["drum_sfx"] == bundle.manifest.graphs["drum_sfx"]
    assert "Debian's asc-music" in caplog.text and "listen for drums in float32" in caplog.text


def test_an_int8_graph_that_fails_its_check_is_left_out_not_the_bundle(bundle, tmp_path, monkeypatch, caplog):
    """Quantised whole (its first block too), the graph moves embeddings of real music past the tolerance:
    the build says so and makes the bundle without it."""
    models = copy_models_dir(bundle, tmp_path / "models")
    int8 = build_module.drum_sfx_int8
    two = int8.calibration_files()[:2]  # enough to calibrate and check, in seconds
    monkeypatch.setattr(int8, "calibration_files", lambda: two)
    monkeypatch.setattr(int8, "FLOAT_CONVOLUTIONS", 0)

    result, changed = build_module.build(models, paths.cache_dir())

    assert changed and "drum_sfx_int8" not in result.manifest.graphs
    assert "drum_sfx_int8 left out of the bundle" in caplog.text and f"> {int8.TOLERANCE}" in caplog.text
