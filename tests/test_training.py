"""ViML learns planted correspondences; text dropout, resume, torchrun and head export behave."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle.store import CURRENT_NAME
from engine.embedder import Embedder
from engine.features import FeatureExtractor
from training.__main__ import main as training_main
from training.checkpoint import load_model
from training.data.dataset import Collate, PairDataset
from training.data.featureset import FeatureSet
from training.errors import TrainingError
from training.evaluate import MODES, evaluate, format_table
from training.train import get_lr, train
from training.viml.config import TrainConfig, load_config, replace
from training.viml.loss import ContrastiveLoss

REPO = Path(__file__).resolve().parents[1]
PLANTED = load_config(REPO / "training" / "configs" / "planted.json")


@pytest.fixture(scope="module")
def trained(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    metrics = train(PLANTED, planted, out, progress=False)
    return metrics, out / "checkpoint.pt"


def test_viml_learns_planted_correspondences(trained):
    metrics, _ = trained
    video, both = metrics["video"], metrics["video+text"]
    chance = 1 / video["pool"]
    assert video["pool"] >= 40 and video["queries"] == video["pool"]
    assert video["R@1"] >= 5 * chance, metrics
    assert both["R@1"] > video["R@1"], metrics  # the words add what the picture cannot show
    assert both["median_rank"] <= video["median_rank"]


def test_text_dropout_strengthens_the_video_path(planted, tmp_path):
    """The paper: without text dropout the model leans on text and video-only retrieval stays weak."""
    # Half the planted config's epochs: over seeds 0-3, dropout's gain in video R@5 was 0.06-0.25 at 20 epochs
    # and 0.06-0.30 at 40, at half the cost.
    settings = {"train.eval_every": 100, "train.epochs": 20}
    for seed in (0, 1):
        recall = {}
        for dropout in (0.0, 0.5):
            config = replace(PLANTED, **{**settings, "train.text_dropout": dropout, "train.seed": seed})
            recall[dropout] = train(config, planted, tmp_path / f"{seed}-{dropout}", progress=False)["video"]["R@5"]
        assert recall[0.5] > recall[0.0], (seed, recall)


def test_held_out_pairs_are_never_trained_on(planted):
    train_idx, held = planted.split(0.2, seed=0)
    groups = planted.arrays["pair_group"]
    assert not set(groups[train_idx]) & set(groups[held])
    assert len(held) / len(planted) == pytest.approx(0.2, abs=0.06)
    assert np.array_equal(planted.split(0.2, seed=0)[1], held)  # deterministic


def test_text_dropout_removes_whole_texts_at_the_configured_rate(planted):
    dataset = PairDataset(planted, np.arange(len(planted)), "own")
    batch = Collate(text_dropout=0.3, video_dropout=0.1, seed=1)([dataset[i] for i in range(len(dataset))])
    has_text = batch["text_mask"].any(dim=1).float().mean().item()
    has_video = batch["video_mask"].any(dim=1).float().mean().item()
    assert has_text == pytest.approx(0.7, abs=0.07)
    assert has_video == pytest.approx(0.9, abs=0.05)
    assert (batch["text_mask"].any(dim=1) | batch["video_mask"].any(dim=1)).all()  # never both dropped


def test_contrastive_loss_matches_hand_computation():
    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.1, 1.0], [0.7, 0.7]]), dim=1)
    m = torch.nn.functional.normalize(torch.tensor([[0.9, 0.1], [0.0, 1.0], [0.5, 0.6]]), dim=1)
    scale = torch.tensor(10.0)
    logits = scale * q @ m.T
    expected = -(logits.log_softmax(1).diagonal().mean() + logits.T.log_softmax(1).diagonal().mean()) / 2
    assert ContrastiveLoss()(q, m, scale)["contrastive_loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [get_lr(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert get_lr(100, 100, cfg) == pytest.approx(1e-4)


def test_ablation_table_reports_every_mode_and_the_pool(trained):
    metrics = {k: v for k, v in trained[0].items() if k != "epoch"}
    table = format_table({"base": metrics, "other": metrics})
    assert table.count("| base |") == 1 and all(mode in table for mode in MODES)
    assert f"pool {metrics['video']['pool']}" in table


def _run(args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "training", *args], env=env, **kw)


def test_a_killed_run_resumes_exactly(planted, tmp_path):
    common = [
        "train",
        "--config",
        str(REPO / "training/configs/planted.json"),
        "--data",
        str(planted.root),
        "--quiet",
        "--set",
        "train.epochs=25",
        "--set",
        "train.eval_every=100",
    ]
    assert _run([*common, "--out", str(tmp_path / "straight")], stdout=subprocess.DEVNULL).wait() == 0

    victim = _run([*common, "--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    epoch_at_kill = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 0 < epoch_at_kill < 25, "the run should have been stopped part-way"

    assert _run([*common, "--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL).wait() == 0
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    b = torch.load(checkpoint, weights_only=False)
    assert b["epoch"] == a["epoch"] == 25
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=0, atol=1e-5, msg=name)


def test_torchrun_trains_with_two_cpu_processes(planted, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training",
        "train",
        "--config",
        str(REPO / "training/configs/planted.json"),
        "--data",
        str(planted.root),
        "--out",
        str(out),
        "--quiet",
        "--set",
        "train.epochs=12",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["world_size"] == 2 and state["epoch"] == 12
    metrics = state["history"][-1]
    assert metrics["video+text"]["R@1"] >= 5 / metrics["video+text"]["pool"]


@pytest.fixture(scope="module")
def heads_bundle(bundle, trained, tmp_path_factory):
    from engine import paths
    from export_onnx.build import build

    models = tmp_path_factory.mktemp("models")
    (models / bundle.id).mkdir()
    for src in bundle.path.iterdir():
        os.link(src, models / bundle.id / src.name)
    (models / CURRENT_NAME).write_text(bundle.id)
    built, changed = build(models, paths.cache_dir(), heads=trained[1])
    assert changed
    return built


def test_exported_heads_are_in_the_bundle_with_metrics(heads_bundle, trained, bundle):
    manifest = heads_bundle.manifest
    assert manifest.embedding_dim == PLANTED.model.embed_dim
    for role in ("video_head", "text_head", "fusion_head", "music_head"):
        assert manifest.graphs[role].parity_max_abs_diff <= 1e-4
    for role in ("frame_backbone", "text_backbone", "music_backbone"):
        assert manifest.graphs[role] == bundle.manifest.graphs[role]  # backbones reused, not re-exported
    held_out = manifest.metrics["heads"]["held_out"]
    assert held_out["video"]["R@1"] == trained[0]["video"]["R@1"]


def test_engine_embeds_clip_prompt_and_music_like_the_trained_model(heads_bundle, trained, planted):
    """The app's path (files -> backbones -> ONNX heads) lands where the training path lands."""
    model, _ = load_model(trained[1])
    embedder = Embedder(heads_bundle, FeatureExtractor(heads_bundle))
    pair = 3
    video_path = sorted((planted.root.parent / "media").glob("*.mp4"))[pair]
    music_path = video_path.with_suffix(".wav")
    text = planted.texts()[int(planted.pair_text("own")[pair])]

    clip, prompt = embedder.encode_clip(video_path), embedder.encode_prompt(text)
    queries = {
        "video": embedder.query(clip=clip),
        "text": embedder.query(text=prompt),
        "video+text": embedder.query(clip, prompt),
    }
    music = embedder.embed_segments(embedder.extractor.music_file(music_path))
    assert music.shape == (1, PLANTED.model.embed_dim)

    batch = Collate()([PairDataset(planted, np.array([pair]), "own")[0]])
    with torch.no_grad():
        expected_music = model.encode_music(batch["patches"], batch["patch_mask"], batch["descriptors"])[0]
        no_text, no_video = torch.zeros_like(batch["text_mask"]), torch.zeros_like(batch["video_mask"])
        expected = {
            "video": model.encode_query(batch["frames"], batch["cues"], batch["video_mask"], batch["tokens"], no_text),
            "text": model.encode_query(batch["frames"], batch["cues"], no_video, batch["tokens"], batch["text_mask"]),
            "video+text": model(batch)[0],
        }
    # Features are stored as float16 for training, hence the tolerance.
    np.testing.assert_allclose(music[0], expected_music.numpy(), atol=5e-3)
    for mode, query in queries.items():
        assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(query, expected[mode][0].numpy(), atol=5e-3, err_msg=mode)


def test_embedder_refuses_a_bundle_without_heads(bundle, tmp_path):
    import msgspec

    from engine.bundle import load_bundle
    from engine.bundle.manifest import MANIFEST_NAME, encode_manifest
    from engine.errors import BundleError

    backbones_only = {r: g for r, g in bundle.manifest.graphs.items() if r.endswith("_backbone")}
    for spec in [*backbones_only.values(), *bundle.manifest.files.values()]:
        os.link(bundle.path / spec.file, tmp_path / spec.file)
    manifest = msgspec.structs.replace(bundle.manifest, graphs=backbones_only, embedding_dim=None)
    (tmp_path / MANIFEST_NAME).write_bytes(encode_manifest(manifest))
    with pytest.raises(BundleError, match="no trained heads"):
        Embedder(load_bundle(tmp_path))


def test_feature_cache_is_reused_without_running_a_backbone(bundle, planted):
    from training.data.cache import FeatureCache
    from training.data.featureset import build_featureset
    from training.data.planted import generate

    pairs = generate(planted.root.parent / "media", 20, seed=0, coverage=0.9)
    extractor = FeatureExtractor(bundle)
    again = build_featureset(
        pairs, FeatureCache(planted.root.parent / "cache", extractor), planted.root.parent / "again"
    )
    assert len(again) == 20
    assert not {"frame_backbone", "music_backbone", "text_backbone"} & set(vars(extractor))
    np.testing.assert_array_equal(again.clip(0)[0], planted.clip(int(planted.arrays["pair_clip"][0]))[0])


def test_evaluate_counts_every_held_out_query(trained, planted):
    model, state = load_model(trained[1])
    _, held = planted.split(state["split"]["holdout_fraction"], state["split"]["seed"])
    results = evaluate(model, planted, held, "own")
    assert results["video"]["queries"] == len(held)
    assert results["video"] == {k: v for k, v in trained[0]["video"].items()}


def test_trained_heads_survive_a_rebuild_but_default_heads_follow_the_default(heads_bundle, trained, monkeypatch):
    from engine import paths
    from export_onnx import build as build_module

    models = heads_bundle.path.parent
    again, changed = build_module.build(models, paths.cache_dir())
    assert not changed and again.manifest.metrics["heads"]["origin"] == "trained"

    # Heads that came from the committed default are replaced when the default changes.
    monkeypatch.setattr(build_module, "DEFAULT_HEADS", trained[1])
    from_default, _ = build_module.build(models, paths.cache_dir(), default_heads=True)
    assert from_default.manifest.metrics["heads"]["origin"] == "default"
    assert from_default.id != again.id


# --- small data sets and user errors (issue 11) ---------------------------------------------------------------


def _groups_only(root: Path, groups, fixed=None) -> FeatureSet:
    """A feature set folder holding only what the split reads: each pair's group (and fixed split)."""
    root.mkdir(parents=True)
    np.save(root / "pair_group.npy", np.asarray(groups, dtype=np.int64))
    if fixed is not None:
        np.save(root / "pair_split.npy", np.asarray(fixed, dtype=np.int64))
    (root / "meta.json").write_text(json.dumps({"pairs": len(groups)}))
    return FeatureSet(root)


def _hash_split(groups, fraction: float, seed: int) -> np.ndarray:
    """The split as it always was: a group is held out when the hash of (seed, group) falls under the fraction."""
    score = {g: int.from_bytes(hashlib.sha256(f"{seed}:{g}".encode()).digest()[:8], "little") / 2**64 for g in groups}
    return np.flatnonzero([score[g] < fraction for g in groups])


def _few_videos(planted, root: Path, videos: int, per_video: int = 2) -> FeatureSet:
    """The first videos * per_video pairs of the planted set (real features), as if cut from `videos` videos."""
    root.mkdir(parents=True)
    n = videos * per_video
    for name, array in planted.arrays.items():
        np.save(root / f"{name}.npy", np.asarray(array[:n] if name.startswith("pair_") else array))
    np.save(root / "pair_group.npy", np.repeat(np.arange(videos), per_video))
    (root / "meta.json").write_text(json.dumps({**planted.meta, "pairs": n}))
    shutil.copy(planted.root / "texts.jsonl", root)
    return FeatureSet(root)


def _train_args(data: Path, out: Path, *overrides: str) -> list[str]:
    args = ["train", "--config", str(REPO / "training/configs/planted.json"), "--data", str(data)]
    args += ["--out", str(out), "--quiet", "--set", "train.epochs=2"]
    for item in overrides:
        args += ["--set", item]
    return args


@pytest.mark.parametrize("videos", [2, 3, 4, 6, 8])
@pytest.mark.parametrize("fraction", [0.05, 0.15, 0.2, 0.5, 0.95])
def test_a_few_videos_still_hold_out_whole_videos(tmp_path, videos, fraction):
    data = _groups_only(tmp_path / "few", np.repeat(np.arange(videos), 2))
    groups = data.arrays["pair_group"]
    train_idx, held = data.split(fraction, seed=0)
    assert len(train_idx) and len(held), (train_idx, held)
    assert not set(groups[train_idx]) & set(groups[held])  # no video straddles the two sides
    assert sorted([*train_idx, *held]) == list(range(len(groups)))
    again = data.split(fraction, seed=0)
    assert np.array_equal(again[0], train_idx) and np.array_equal(again[1], held)  # deterministic


def test_the_split_of_a_large_set_is_the_hash_split_as_before(tmp_path):
    """Existing checkpoints name (holdout_fraction, seed): their split must come out the same."""
    groups = np.repeat(np.arange(300), 3)
    data = _groups_only(tmp_path / "large", groups)
    for fraction, seed in ((0.15, 0), (0.2, 0), (0.2, 7)):
        np.testing.assert_array_equal(data.split(fraction, seed)[1], _hash_split(groups, fraction, seed))
    # Fixed splits (the bootstrap corpus) are kept as they are.
    fixed = np.where(groups % 10 == 0, 1, 0)
    data = _groups_only(tmp_path / "fixed", groups, fixed)
    np.testing.assert_array_equal(data.split(0.15, 0)[1], np.flatnonzero(fixed == 1))


@pytest.mark.parametrize("groups, says", [([0, 0, 0], "from only 1"), ([], "no pairs")])
def test_one_video_is_refused_in_one_sentence(tmp_path, groups, says):
    data = _groups_only(tmp_path / "one", groups)
    with pytest.raises(TrainingError, match=rf"at least 2 videos.*{says}") as info:
        data.split(0.2, seed=0)
    assert "\n" not in str(info.value)


def test_training_on_six_videos_holds_one_out(planted, tmp_path, capsys):
    """Six music videos cut into twelve pairs: the default hold-out (15%) of six groups once held none out."""
    data = _few_videos(planted, tmp_path / "six", videos=6)
    assert len(_hash_split(data.arrays["pair_group"], 0.15, 0)) == 0  # the case that failed
    assert training_main(_train_args(data.root, tmp_path / "run", "train.holdout_fraction=0.15")) == 0
    split = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["split"]
    assert (split["train"], split["held_out"]) == (10, 2)
    capsys.readouterr()
    assert training_main(["eval", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt")]) == 0
    assert "pool 2" in capsys.readouterr().out  # eval finds the same held-out video


def test_training_on_one_video_says_what_it_needs(planted, tmp_path, capsys):
    data = _few_videos(planted, tmp_path / "one", videos=1, per_video=3)
    assert training_main(_train_args(data.root, tmp_path / "run")) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("training: ") and "\n" not in err, err
    assert "at least 2 videos" in err and "from only 1" in err


def _bad_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text("video,video_in,video_out,music,music_in,music_out\nclip.mp4,0,ten,song.wav,0,12\n")
    return path


def _not_a_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint")
    return path


@pytest.mark.parametrize(
    "argv, says",
    [
        (lambda t: ["eval", "--checkpoint", "/no/such/file"], "/no/such/file"),
        (lambda t: ["eval", "--checkpoint", str(_not_a_checkpoint(t))], "notes.pt"),
        (lambda t: _train_args(Path("/no/such/features"), t / "run"), "/no/such/features"),
        (lambda t: [*_train_args(t, t / "run"), "--config", "/no/such.json"], "/no/such.json"),
        (lambda t: _train_args(t, t / "run", "model.fusion=bogus"), "fusion"),
        (lambda t: _train_args(t, t / "run", "train.no_such_setting=1"), "no_such_setting"),
        (lambda t: ["features", "--manifest", str(_bad_manifest(t)), "--out", str(t / "f")], "pairs.csv:1"),
        (lambda t: ["features", "--manifest", "/no/such.csv", "--out", str(t / "f")], "/no/such.csv"),
    ],
    ids=[
        "no-checkpoint",
        "not-a-checkpoint",
        "no-features",
        "no-config",
        "bad-fusion",
        "bad-setting",
        "bad-manifest",
        "no-manifest",
    ],
)
def test_user_errors_are_one_line_not_a_traceback(tmp_path, capsys, argv, says):
    assert training_main(argv(tmp_path)) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("training: ") and "\n" not in err and "Traceback" not in err, err
    assert says in err, err


def test_eval_of_a_missing_checkpoint_exits_with_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "training", "eval", "--checkpoint", "/no/such/file"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("training: ") and "/no/such/file" in result.stderr
