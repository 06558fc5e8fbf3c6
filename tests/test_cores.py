"""The core count the scan and ONNX Runtime use, on platforms with and without CPU affinity."""

import os

import pytest

from engine.bundle.runtime import default_threads
from engine.cores import available_cores


def test_available_cores_follows_the_affinity_where_there_is_one():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("this platform has no CPU affinity")
    assert available_cores() == len(os.sched_getaffinity(0)) == default_threads()


def test_available_cores_without_affinity_is_the_machines(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS and Windows
    assert available_cores() == os.cpu_count() >= 1
