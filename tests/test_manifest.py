import json

import pytest

from engine.bundle.manifest import (
    SCHEMA_VERSION,
    FileSpec,
    GraphSpec,
    Licence,
    Manifest,
    TensorSpec,
    decode_manifest,
    encode_manifest,
)
from engine.errors import BundleError
from export_onnx.defaults import PREPROCESSING


def make_manifest(**overrides) -> Manifest:
    fields = dict(
        schema_version=SCHEMA_VERSION,
        bundle_id="nd-test",
        created="2026-11-25T00:00:00+00:00",
        needledrop_version="0.1.0",
        embedding_dim=None,
        preprocessing=PREPROCESSING,
        graphs={
            "music_backbone": GraphSpec(
                file="music_backbone.onnx",
                sha256="0" * 64,
                inputs=(TensorSpec(name="wave", dtype="float32", shape=("batch", "samples")),),
                outputs=(TensorSpec(name="mtt_tags", dtype="float32", shape=("batch", 50)),),
                recipe="abc",
                source="test",
            )
        },
        files={"tokenizer": FileSpec(file="tokenizer.json", sha256="1" * 64)},
        labels={"musicnn_mtt": ("guitar", "piano")},
        licences=(Licence(component="c", source="s", licence="ISC"),),
    )
    fields.update(overrides)
    return Manifest(**fields)


def test_round_trip_keeps_every_field():
    manifest = make_manifest(metrics={"recall@10": 0.5})
    assert decode_manifest(encode_manifest(manifest)) == manifest


def test_dynamic_and_fixed_axes_survive_round_trip():
    shape = decode_manifest(encode_manifest(make_manifest())).graphs["music_backbone"].outputs[0].shape
    assert shape == ("batch", 50)


@pytest.mark.parametrize("version", [0, SCHEMA_VERSION + 1, None])
def test_unknown_schema_version_is_refused_with_advice(version):
    raw = json.loads(encode_manifest(make_manifest()))
    if version is None:
        del raw["schema_version"]
    else:
        raw["schema_version"] = version
    with pytest.raises(BundleError, match=rf"schema version {version}.*understands only version {SCHEMA_VERSION}"):
        decode_manifest(json.dumps(raw).encode())


def test_unknown_field_is_an_error_naming_where_it_is():
    raw = json.loads(encode_manifest(make_manifest()))
    raw["preprocessing"]["audio"]["sample_rte"] = 16000
    with pytest.raises(BundleError, match=r"sample_rte.*preprocessing\.audio"):
        decode_manifest(json.dumps(raw).encode())


def test_missing_field_is_an_error_naming_it():
    raw = json.loads(encode_manifest(make_manifest()))
    del raw["preprocessing"]["video"]["frame_rate"]
    with pytest.raises(BundleError, match="frame_rate"):
        decode_manifest(json.dumps(raw).encode())


def test_wrong_type_is_an_error():
    raw = json.loads(encode_manifest(make_manifest()))
    raw["preprocessing"]["audio"]["sample_rate"] = "16k"
    with pytest.raises(BundleError, match="sample_rate"):
        decode_manifest(json.dumps(raw).encode())


def test_not_json_is_an_error():
    with pytest.raises(BundleError, match="not valid JSON"):
        decode_manifest(b"\x00\x01 not json")
