"""The scan's loudness against a full-rate measurement, on real stereo recordings, and what metering costs.

The scan meters each track's channels at the models' 16 kHz, before they are mixed to mono
(engine/media/loudness.py). Here that reading is compared, track by track, with pyloudnorm on the whole
file at its own rate and channels (the reference), and with what metering the mono mix would read; and the
decode with the meter is timed against the same decode without it (the baseline, in the same run).
The recordings come from Debian's free game soundtracks (scripts/bench-deps.sh), none of them reserved.

    .venv/bin/python tests/bench/bench_loudness.py
"""

from __future__ import annotations

import glob
import sys
import time

import av
import numpy as np
import pyloudnorm

from engine import paths
from engine.bundle import open_current_bundle
from engine.media.audio import iter_audio
from engine.media.loudness import LoudnessMeter

FOLDERS = ("/usr/share/games/wesnoth/1.16/data/core/music", "/usr/share/naev/dat/snd/music")
PER_FOLDER = 20


def full_rate(path: str) -> float:
    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", rate=stream.rate)
        frames = [f.to_ndarray() for packet in container.decode(stream) for f in resampler.resample(packet)]
        frames += [f.to_ndarray() for f in resampler.resample(None)]
        return pyloudnorm.Meter(stream.rate).integrated_loudness(np.concatenate(frames, axis=1).T)


def main() -> None:
    files = [f for folder in FOLDERS for f in sorted(glob.glob(f"{folder}/*.ogg"))[:PER_FOLDER]]
    if not files:
        sys.exit("install wesnoth-1.16-music and naev-data (scripts/bench-deps.sh)")
    config = open_current_bundle(paths.models_dir()).manifest.preprocessing.audio
    errors, mono_errors, plain, metered, audio_seconds = [], [], 0.0, 0.0, 0.0
    for path in files:
        began = time.perf_counter()
        audio_seconds += sum(len(x) for x in iter_audio(path, config, chunk_samples=65536)) / config.sample_rate
        plain += time.perf_counter() - began
        meter = LoudnessMeter(config.sample_rate)
        began = time.perf_counter()
        mono = np.concatenate(list(iter_audio(path, config, chunk_samples=65536, meter=meter)))
        metered += time.perf_counter() - began
        reference = full_rate(path)
        errors.append(meter.integrated() - reference)
        mono_errors.append(pyloudnorm.Meter(config.sample_rate).integrated_loudness(mono) - reference)
        print(
            f"{path.rsplit('/', 1)[-1]:32s} {reference:7.2f} LUFS  "
            f"scan {errors[-1]:+.2f}  mono mix {mono_errors[-1]:+.2f}"
        )
    errors, mono_errors = np.array(errors), np.array(mono_errors)
    print(
        f"\n{len(files)} recordings, {audio_seconds / 60:.0f} min: the scan's reading is off the full-rate one by "
        f"{errors.mean():+.2f} LU on average, at most {np.abs(errors).max():.2f} LU "
        f"(the mono mix: {mono_errors.mean():+.2f}, at most {np.abs(mono_errors).max():.2f})"
    )
    print(
        f"decode at {config.sample_rate} Hz: {audio_seconds / plain:.0f}x real time alone, "
        f"{audio_seconds / metered:.0f}x with the meter (+{100 * (metered / plain - 1):.0f} % decode time)"
    )


if __name__ == "__main__":
    main()
