import pytest

from engine.bundle import create_session, runtime
from engine.errors import ExecutionProviderError


def test_cpu_session_reports_what_it_got(bundle, monkeypatch):
    monkeypatch.setenv("NEEDLEDROP_DEVICE", "auto")
    session, info = create_session(bundle.graph_path("music_backbone"), threads=1)
    assert info.provider == session.get_providers()[0]
    assert info.device == ("cuda" if info.provider == runtime.CUDA else "cpu")
    assert info.intra_op_threads == 1
    assert info.ort_package in {"onnxruntime", "onnxruntime-gpu"}
    assert info.provider in info.describe()


def test_forcing_cpu_is_noted(bundle, monkeypatch):
    monkeypatch.setenv("NEEDLEDROP_DEVICE", "cpu")
    _, info = create_session(bundle.graph_path("music_backbone"))
    assert info.provider == runtime.CPU
    assert "NEEDLEDROP_DEVICE" in info.note


@pytest.mark.skipif(runtime.cuda_device_count() > 0, reason="this machine has a CUDA GPU")
def test_demanding_cuda_without_it_fails_loudly(bundle, monkeypatch):
    monkeypatch.setenv("NEEDLEDROP_DEVICE", "cuda")
    with pytest.raises(ExecutionProviderError, match="cuda"):
        create_session(bundle.graph_path("music_backbone"))


def test_gpu_package_without_gpu_falls_back_with_a_note(bundle, monkeypatch):
    import onnxruntime

    monkeypatch.setenv("NEEDLEDROP_DEVICE", "auto")
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [runtime.CUDA, runtime.CPU])
    monkeypatch.setattr(runtime, "cuda_device_count", lambda: 0)
    _, info = create_session(bundle.graph_path("music_backbone"))
    assert info.provider == runtime.CPU
    assert "no CUDA GPU was found" in info.note


def test_bad_device_setting_is_rejected(monkeypatch):
    monkeypatch.setenv("NEEDLEDROP_DEVICE", "tpu")
    with pytest.raises(ExecutionProviderError, match="auto, cpu or cuda"):
        runtime.plan_providers()


def test_both_onnxruntime_packages_are_refused(monkeypatch):
    monkeypatch.setattr(runtime.metadata, "version", lambda name: "1.0")
    runtime.ort_package.cache_clear()
    try:
        with pytest.raises(ExecutionProviderError, match="both onnxruntime and onnxruntime-gpu"):
            runtime.ort_package()
    finally:
        runtime.ort_package.cache_clear()
