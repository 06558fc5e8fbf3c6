import json
import os
import subprocess
import sys

from engine.bundle.runtime import CPU, CUDA


def needledrop(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_models_info_json_names_the_execution_provider(bundle):
    result = needledrop("models", "info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["bundle_id"] == bundle.id
    assert info["execution"]["provider"] in {CPU, CUDA}
    assert info["execution"]["device"] in {"cpu", "cuda"}
    assert set(info["graphs"]) >= {"frame_backbone", "text_backbone", "music_backbone"}
    music = info["graphs"]["music_backbone"]
    assert [o["name"] for o in music["outputs"]] == ["mtt_features", "mtt_tags", "msd_features", "msd_tags"]
    assert music["outputs"][0]["shape"] == ["batch", 200]
    assert info["labels"] == {"imagenet": 1000, "musicnn_mtt": 50, "musicnn_msd": 50}
    assert info["preprocessing"]["audio"]["sample_rate"] == 16000
    assert {x["licence"] for x in info["licences"]} >= {"Apache-2.0", "ISC"}


def test_models_info_text_is_readable(bundle):
    result = needledrop("models", "info")
    assert result.returncode == 0, result.stderr
    assert bundle.id in result.stdout and "Runs on" in result.stdout and "music_backbone" in result.stdout


def test_missing_bundle_is_one_clear_line_and_a_distinct_exit_code(tmp_path):
    result = needledrop("models", "info", env={"NEEDLEDROP_MODELS_DIR": str(tmp_path)})
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"needledrop: no model bundle is installed in {tmp_path}; run `needledrop models build` (or `make models`)"
    ]


def test_models_build_reports_up_to_date(bundle):
    result = needledrop("models", "build")
    assert result.returncode == 0, result.stderr
    assert f"already up to date: {bundle.id}" in result.stdout
