import json
import os
import subprocess
import sys

import pytest

from engine.bundle import openvino_cpu
from engine.bundle.runtime import CPU, CUDA
from engine.media import sfx_embedding


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
    scan = "OpenVINO CPU, bfloat16" if openvino_cpu.available() else info["execution"]["provider"]
    assert scan in info["execution"]["music_backbone"]
    # The drum network: bfloat16 as the backbone, else int8 on a CPU with VNNI, else float32.
    drums = sfx_embedding.graph_here(bundle, reduced=True)[0]
    assert info["execution"]["drum_network"].endswith(f", {drums}")
    if openvino_cpu.available():
        assert "OpenVINO CPU, bfloat16" in info["execution"]["drum_network"] and drums == "drum_sfx"
    assert set(info["graphs"]) >= {"frame_backbone", "text_backbone", "music_backbone", "drum_sfx", "drum_sfx_int8"}
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
    assert "Listens on" in result.stdout and "the drum network" in result.stdout


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


# ---- bad input: one line on stderr, a non-zero exit, nothing half done ----------------------------------------


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_adding_a_folder_that_is_not_there_or_is_already_there_says_so(bundle, tmp_path):
    env = {"NEEDLEDROP_DATA_DIR": str(tmp_path / "data")}
    assert "does not exist" in one_line_error(needledrop("library", "add", str(tmp_path / "no-such"), env=env))
    (tmp_path / "file.txt").write_text("x")
    assert "not a folder" in one_line_error(needledrop("library", "add", str(tmp_path / "file.txt"), env=env))
    music = tmp_path / "music"
    (music / "inner").mkdir(parents=True)
    assert needledrop("library", "add", str(music), env=env).returncode == 0
    assert "already" in one_line_error(needledrop("library", "add", str(music), env=env))
    assert "inside" in one_line_error(needledrop("library", "add", str(music / "inner"), env=env))
    status = json.loads(needledrop("library", "status", "--json", env=env).stdout)
    assert [r["path"] for r in status["roots"]] == [str(music)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recommend", "--prompt", "piano", "--in", "nan"], "not a time"),
        (["recommend", "--prompt", "piano", "--out", "-3"], "not a time"),
        (["recommend", "--prompt", "piano", "--balance", "nan"], "between 0 and 1"),
        (["recommend", "--prompt", "piano", "-k", "0"], "at least 1"),
        (["similar", "12345"], "no track 12345"),
        (["library", "scan", "--workers", "-1"], "at least 1"),
        (["fit", "1", "--length", "0", "--out", "x.wav"], "give seconds, more than 0"),
        (["fit", "1", "--length", "-5", "--out", "x.wav"], "give seconds, more than 0"),
        (["similar", "1", "--start", "50", "--end", "40"], "the end must come after the start"),
    ],
)
def test_impossible_numbers_are_refused_in_one_line(bundle, tmp_path, args, message):
    env = {"NEEDLEDROP_DATA_DIR": str(tmp_path / "data")}
    assert message in one_line_error(needledrop(*args, env=env))


def test_a_prompt_that_is_not_utf8_is_one_clear_line(bundle, tmp_path):
    env = {**os.environ, "NEEDLEDROP_DATA_DIR": str(tmp_path / "data")}
    command = [os.fsencode(sys.executable), b"-m", b"engine.cli.main", b"recommend", b"--prompt", b"caf\xe9 piano"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert "not valid UTF-8" in one_line_error(result)


def test_start_up_leaves_out_the_audio_maths_only_metering_and_levelling_need():
    """pyloudnorm and scipy's signal and ndimage modules are 2 s of imports: loaded at start-up they tripled
    the time of every CLI command (3.1 s to 1.0 s for `library status`) and of the API's and window's start."""
    heavy = ("pyloudnorm", "scipy.signal", "scipy.ndimage")

    def loaded_after(code: str) -> list[str]:
        report = f"import json, sys\n{code}\nprint(json.dumps([m for m in sys.modules if m.startswith({heavy!r})]))"
        child = subprocess.run([sys.executable, "-c", report], capture_output=True, text=True, check=True)
        return json.loads(child.stdout)

    assert loaded_after("import engine.cli.main, engine.api.app, engine.facade") == []
    # The check can see them: making a loudness meter loads them.
    assert "scipy.signal" in loaded_after("from engine.media.loudness import LoudnessMeter; LoudnessMeter(16000)")


def test_serving_on_a_port_in_use_says_so_without_announcing_the_api(bundle, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = needledrop("serve", "--port", str(port), env={"NEEDLEDROP_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 1 and "Needledrop API on" not in result.stderr
    assert f"port {port} is in use" in one_line_error(result)


def test_times_are_typed_as_seconds_or_minutes_and_seconds_as_in_the_app():
    import argparse

    from engine.cli.options import length, seconds

    assert seconds("83.5") == seconds("1:23.5") == seconds("00:01:23.5") == 83.5
    assert length("0:45") == 45.0
    for bad, said in (("abc", "is not a timecode"), ("1:75", "below 60"), ("-5", "0 or more"), ("nan", "0 or more")):
        with pytest.raises(argparse.ArgumentTypeError, match=said):
            seconds(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="no length"):
        length("0:00")
