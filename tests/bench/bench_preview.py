"""Preview sync and app start-up, measured in the real window.

1. A/V drift: a 75 s music video (H.264 + AAC, so Qt's player clocks the picture by its audio as with
   real footage) plays for 60 s with a rendered track under it, through a PulseAudio null sink, which
   consumes audio in real time like a sound card (a null ALSA device has no clock, so drift against it
   means nothing). Every 100 ms the preview compares where the music is with where the picture says it
   should be; reported: the drift before each correction (median, 95th percentile, maximum) and how
   often a correction was needed. Needs Debian's pulseaudio (scripts/bench-deps.sh installs it).
2. Start-up: seconds from launching `needledrop-gui` to the window being interactive, and to the model
   being ready, against the interpreter alone (`python -c pass`) in the same run.

    .venv/bin/python tests/bench/bench_preview.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))


def start_pulseaudio(runtime: Path) -> subprocess.Popen | None:
    if shutil.which("pulseaudio") is None:
        return None
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "-L",
            "module-null-sink sink_name=nullsink rate=48000",
            "-L",
            "module-native-protocol-unix auth-anonymous=1",
            "-L",
            "module-always-sink",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(50):
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            return daemon
        time.sleep(0.1)
    daemon.kill()
    return None


def measure_drift(seconds: float, folder: Path) -> dict:
    from PyQt6.QtCore import QEventLoop, QTimer
    from PyQt6.QtWidgets import QApplication

    from desktop.music_output import MusicOutput
    from desktop.preview import MAX_DRIFT, PreviewPanel
    from engine.media.playback import decode_for_playback
    from media import midi_samples, render_midi, write_music_video

    fps, length = 25, seconds + 15
    frames = np.zeros((int(length * fps), 180, 320, 3), np.uint8)
    for i in range(len(frames)):
        frames[i] = (40, 90, 200) if (i // fps) % 2 else (200, 120, 40)
        frames[i, 60:120, (i * 3) % 260 : (i * 3) % 260 + 60] = 255
    sound = midi_samples(bpm=100, program=0, melody=[60, 64, 67], seconds=length) * 0.5
    clip = write_music_video(folder / "clip.mp4", frames, fps, sound.astype(np.float32), 22050)
    track = render_midi(folder / "track.flac", bpm=120, program=81, melody=[57, 60, 64], drums=True, seconds=length)

    app = QApplication.instance() or QApplication([])
    music = MusicOutput()
    if not music.available:
        raise RuntimeError(music.error)
    panel = PreviewPanel(music)
    panel.set_clip(str(clip), 5.0, 5.0 + seconds + 5)
    panel.set_track(decode_for_playback(track), 10.0, "bench")
    loop = QEventLoop()
    QTimer.singleShot(1500, loop.quit)  # let the player load the media
    loop.exec()
    panel.play()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    played = panel.picture_time() - 5.0
    panel.pause()
    music.close()
    drift = np.array([d for _, d in panel.drift_log])
    settled = drift[10:]  # the first second: both clocks start
    app.processEvents()
    return {
        "seconds_played": played,
        "output_latency_ms": music.latency * 1000,
        "samples": len(drift),
        "median_abs_ms": float(np.median(np.abs(settled)) * 1000),
        "p95_abs_ms": float(np.percentile(np.abs(settled), 95) * 1000),
        "max_abs_ms": float(np.abs(settled).max() * 1000),
        "first_second_max_ms": float(np.abs(drift[:10]).max() * 1000),
        "corrections": int((np.abs(drift) > MAX_DRIFT).sum()),
    }


def measure_startup(runs: int = 3) -> dict:
    """Launch the app with an empty data folder; time, from the launch, the lines it logs when the window is
    interactive and when the model is ready."""
    baseline = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - t)
    interactive, ready = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data:
            env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NEEDLEDROP_CONFIG_DIR": str(Path(data) / "cfg")}
            t = time.perf_counter()
            app = subprocess.Popen(
                [sys.executable, "-m", "desktop", "--data-dir", data, "--quit-after", "3"],
                env=env,
                stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
            )
            seen: dict[str, float] = {}
            for line in app.stderr:
                for key in ("interactive", "model ready"):
                    if key in line and key not in seen:
                        seen[key] = time.perf_counter() - t
            app.wait()
            interactive.append(seen["interactive"])
            ready.append(seen["model ready"])
    return {
        "python_alone_s": float(np.median(baseline)),
        "window_interactive_s": float(np.median(interactive)),
        "model_ready_s": float(np.median(ready)),
    }


def measure_quit(folder: Path, runs: int = 3) -> dict:
    """Seconds `close()` of the real window takes (what Ctrl+Q does), idle and while a scan of ten one-minute
    tracks is analysing its second track; how many of the tracks each interrupted scan kept."""
    from PyQt6.QtCore import QEventLoop, QSettings, QTimer
    from PyQt6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from desktop.session import Session
    from media import render_midi

    music = folder / "quit-music"
    music.mkdir()
    for i in range(10):
        render_midi(
            music / f"{i}.flac", bpm=80 + 8 * i, program=(0, 25, 48, 81, 30)[i % 5], melody=[60, 64], seconds=60
        )
    app = QApplication.instance() or QApplication([])

    def wait_until(done, timeout: float = 300.0) -> None:
        loop, deadline = QEventLoop(), time.perf_counter() + timeout
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError("the window did not get there")
            QTimer.singleShot(20, loop.quit)
            loop.exec()

    idle, scanning, kept = [], [], []
    for run in range(runs):
        for during_scan, out in ((False, idle), (True, scanning)):
            data = folder / f"quit-data-{run}-{during_scan}"
            settings = QSettings(str(data / "window.ini"), QSettings.Format.IniFormat)
            settings.setValue("api/enabled", "false")
            session = Session(data)
            window = MainWindow(session, settings=settings)
            window.show()
            wait_until(lambda s=session: s.ready)
            settled = time.perf_counter() + 3.0  # the models' warm-up, which runs after opening, is done
            wait_until(lambda until=settled: time.perf_counter() > until)
            if during_scan:
                indexed = []
                session.scanProgress.connect(lambda p, seen=indexed: seen.append(p.indexed))
                window.add_folder(str(music))
                wait_until(lambda seen=indexed: bool(seen) and seen[-1] >= 1)
            t = time.perf_counter()
            window.close()
            out.append(time.perf_counter() - t)
            if during_scan:
                kept.append(len(session.engine.tracks()))
            window.deleteLater()
            app.processEvents()
    return {
        "idle_s": float(np.median(idle)),
        "scanning_s": float(np.median(scanning)),
        "scanning_max_s": float(np.max(scanning)),
        "tracks_kept": kept,
    }


def print_drift(d: dict) -> None:
    print(f"\nA/V drift over {d['seconds_played']:.1f} s of preview (PulseAudio null sink, real-time clock)")
    print(f"  music minus picture, every 100 ms after the first second ({d['samples']} samples):")
    print(
        f"  median {d['median_abs_ms']:.1f} ms, 95th percentile {d['p95_abs_ms']:.1f} ms, max {d['max_abs_ms']:.1f} ms"
    )
    print(f"  first second (clocks starting): max {d['first_second_max_ms']:.0f} ms")
    print(f"  corrections (drift > 40 ms): {d['corrections']}; output latency {d['output_latency_ms']:.0f} ms")


def print_startup(s: dict) -> None:
    print("\nStart-up, from launching the process (median of 3, offscreen)")
    print(f"  Python interpreter alone:            {s['python_alone_s']:.2f} s (baseline)")
    print(f"  to an interactive window:            {s['window_interactive_s']:.2f} s (target <= 2 s)")
    print(f"  to the model being ready:            {s['model_ready_s']:.2f} s")


def print_quit(q: dict) -> None:
    print("\nQuitting: window.close(), what Ctrl+Q does (median of 3)")
    print(f"  idle:                                {q['idle_s']:.2f} s (baseline)")
    print(
        f"  while a scan analyses:               {q['scanning_s']:.2f} s "
        f"(max {q['scanning_max_s']:.2f} s; target < 1 s)"
    )
    print(f"  tracks each interrupted scan kept:   {q['tracks_kept']} of 10 (the rest: the next scan)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--only", choices=("drift", "startup", "quit"), help="one measurement alone")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    wanted = {args.only} if args.only else {"drift", "startup", "quit"}
    results: dict = {}
    if "drift" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            daemon = start_pulseaudio(tmp / "runtime")
            if daemon is None:
                print("pulseaudio is not installed (scripts/bench-deps.sh): the drift measurement is skipped")
            else:
                os.environ["XDG_RUNTIME_DIR"] = str(tmp / "runtime")
                os.environ.pop("ALSA_CONFIG_PATH", None)
                try:
                    results["drift"] = measure_drift(args.seconds, tmp)
                finally:
                    daemon.kill()
    if "startup" in wanted:
        results["startup"] = measure_startup()
    if "quit" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("NEEDLEDROP_CONFIG_DIR", str(Path(tmp) / "config"))
            results["quit"] = measure_quit(Path(tmp))

    for name, show in (("drift", print_drift), ("startup", print_startup), ("quit", print_quit)):
        if name in results:
            show(results[name])
    out = REPO / "bench-results" / f"preview{'-' + args.only if args.only else ''}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
