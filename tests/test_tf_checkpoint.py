import zipfile

import numpy as np
import pytest

from engine import paths
from export_onnx import music_backbone
from export_onnx.pypi import WheelError
from export_onnx.tf_checkpoint import CheckpointFormatError, read_checkpoint


@pytest.fixture(scope="module")
def wheel():
    return music_backbone.fetch_wheel(paths.cache_dir() / "wheels")


@pytest.mark.parametrize("model", music_backbone.MODELS)
def test_reads_every_musicnn_variable_with_its_shape(wheel, model):
    weights = music_backbone.read_weights(wheel, model)
    assert len(weights) == 64  # 11 batch norms x 4, 8 convolutions x 2, 2 dense layers x 2
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert weights["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert weights["dense_1/kernel"].shape == (200, 50)
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights.values())
    assert weights["batch_normalization_10/moving_variance"].min() > 0


def test_optimizer_state_is_in_the_checkpoint_but_not_in_the_weights(wheel):
    with zipfile.ZipFile(wheel) as z:
        everything = read_checkpoint(
            z.read("musicnn/MTT_musicnn/.index"), z.read("musicnn/MTT_musicnn/.data-00000-of-00001")
        )
    assert any("Adam" in name for name in everything)
    assert not any("Adam" in name for name in music_backbone.read_weights(wheel, "MTT"))


def test_not_a_checkpoint_is_refused():
    with pytest.raises(CheckpointFormatError, match="magic"):
        read_checkpoint(b"\x00" * 100, b"")


def test_truncated_data_is_refused(wheel):
    with zipfile.ZipFile(wheel) as z:
        index = z.read("musicnn/MTT_musicnn/.index")
        data = z.read("musicnn/MTT_musicnn/.data-00000-of-00001")
    with pytest.raises(CheckpointFormatError, match="truncated"):
        read_checkpoint(index, data[: len(data) // 2])


def test_a_tampered_wheel_is_deleted_not_used(tmp_path):
    fake = tmp_path / music_backbone.WHEEL_FILE
    fake.write_bytes(b"not the real wheel")
    with pytest.raises(WheelError, match="sha256"):
        music_backbone.fetch_wheel(tmp_path)
    assert not fake.exists()
