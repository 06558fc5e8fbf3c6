"""Local API latency: recommend and export over HTTP on loopback, against the same calls in-process.

A scanned library of rendered tracks (bench_library's media), the real server (uvicorn in a thread) and a
real HTTP client; each request is timed from sending to the parsed answer.

    .venv/bin/python tests/bench/bench_api.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "bench"))

from bench_library import make_library  # noqa: E402
from test_api import LiveServer  # noqa: E402

from engine import paths  # noqa: E402
from engine.api import create_app  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.facade import Engine  # noqa: E402
from engine.records import ExportClip  # noqa: E402
from media import write_video  # noqa: E402

PROMPTS = ["warm piano", "fast drums, no vocals", "calm strings under 100 bpm", "energetic synth", "slow guitar"]


def ms(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50) * 1000), float(np.percentile(values, 95) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--media", type=Path, default=REPO / "bench-results" / "library-media")
    args = parser.parse_args()
    bundle = open_current_bundle(paths.models_dir())
    make_library(args.media, 16)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        engine = Engine(tmp / "data", bundle=bundle)
        engine.add_root(args.media)
        engine.scan()
        frames = np.zeros((30 * 25, 180, 320, 3), np.uint8)
        for i in range(len(frames)):
            frames[i] = (40, (i * 3) % 255, 160)
        clip = str(write_video(tmp / "clip.mp4", frames, 25))
        token = "b" * 43
        local = engine
        local.recommend(clip, prompt="warm", k=10)  # the clip's embedding is cached from here on, as in use
        track = local.recommend(clip, prompt="drums", k=1).results[0].track_id
        timings: dict[str, list[float]] = {
            k: [] for k in ("http recommend", "in-process recommend", "http export", "in-process export")
        }
        with (
            LiveServer(create_app(engine, token)) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client,
        ):
            client.post("/v1/recommend", json={"video": clip, "prompt": "warm"})
            for i in range(args.requests):
                prompt = f"{PROMPTS[i % len(PROMPTS)]} {i}"
                t = time.perf_counter()
                reply = client.post("/v1/recommend", json={"video": clip, "in": 2.0, "out": 20.0, "prompt": prompt})
                reply.json()
                timings["http recommend"].append(time.perf_counter() - t)
                assert reply.status_code == 200, reply.text
                t = time.perf_counter()
                local.recommend(clip, start=2.0, end=20.0, prompt=prompt + " local", k=10)
                timings["in-process recommend"].append(time.perf_counter() - t)
                if i % 4 == 0:
                    body = {"format": "fcp7", "clips": [{"video": clip, "in": 2.0, "out": 20.0, "track_id": track}]}
                    t = time.perf_counter()
                    reply = client.post("/v1/export", json=body)
                    reply.json()
                    timings["http export"].append(time.perf_counter() - t)
                    assert reply.status_code == 200, reply.text
                    t = time.perf_counter()
                    engine.export([ExportClip(clip, 2.0, 20.0, track=track)], fmt="fcp7")
                    timings["in-process export"].append(time.perf_counter() - t)
    print(f"\nLocal API latency ({args.requests} recommends, {len(timings['http export'])} exports; clip cached)")
    print(f"  {'':<26}{'p50':>9}{'p95':>9}")
    results = {}
    for name, values in timings.items():
        p50, p95 = ms(values)
        results[name] = {"p50_ms": p50, "p95_ms": p95}
        print(f"  {name:<26}{p50:>7.1f}ms{p95:>7.1f}ms")
    out = REPO / "bench-results" / "api.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
