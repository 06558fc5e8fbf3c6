"""A track's sound-effects embedding: aisfx's network (export_onnx/drum_sfx.py, the bundle's `drum_sfx` graph)
over the track's log-mel, one 512-d vector per 100 frames (about 2.3 s), what the drum detector reads
(engine/instruments.py `sfx_drum_probability`, engine/drum_detector_sfx.json).

The log-mel is librosa 0.11's `melspectrogram(y=samples / peak, sr=44100, n_mels=96, norm=1.0, fmin=0,
fmax=22050, htk=True, power=2.0, hop_length=1024, win_length=2048)` as aisfx computes it, in numpy, with the
constants of the manifest's `drum_sfx` (`DrumSfxConfig`): periodic Hann frames centred on every hop from
the track's first sample (zeros before it and after its end, `1 + samples // hop` frames), the power
spectrum, HTK mel triangles each divided by its sum, then log10(1e4 x + 1) / 9.4578. Dividing the track by
its peak divides every power by the peak's square, so the frames are computed as the pieces come and
scaled once the whole track (and its peak) has been heard: a track never sits in memory at 44.1 kHz, only
its mel (96 floats per 23 ms). tests/test_sfx_embedding.py holds the mel to librosa's and the embedding to
the bench's (tests/bench/sfx_embedding.py, which the detector was fitted on).

Windows are end to end; the frames after the last whole window are left out, and a track shorter than
one window is padded with silence (log-mel 0) to one, as the fit's windows were.

Cost (tests/bench/bench_drum_sfx.py, 2 cores, a 3-minute MP3, another job sharing the machine): decoding at
44.1 kHz 0.35 s, the mel 0.2 s, the graph 1.5 s in ONNX Runtime float32 or 0.28 s in OpenVINO bfloat16
(on 20 renders q moved by at most 0.007, median 0.0001, and no "no drums heard" changed). The scan allows
reduced precision (`reduced=True`, `graph_here`): bfloat16 where the CPU computes it, else, on a CPU with
VNNI, the bundle's int8 graph (export_onnx/drum_sfx_int8.py): the scan's listening 1.64x as fast as in
float32 (tests/bench/bench_library.py), q within 0.027 of float32's on 166 dev files and 0.026 on 120 test
renders, no verdict changed (../data/drums/RULE-7.md).

How a library uses it (engine/library): the scan's last pass listens to every complete track without an
embedding from this graph (scanner.py; analysis.py DrumListener: the file decoded again at 44.1 kHz, which
costs little beside the graph), after every track is analysed and searchable. The catalog stores the pooled
vector (float16, 2 KB a track) with the key of the graph that computed it, kept while the file is unchanged
(a full rescan, another bundle); `Library.backfill_sfx_drums` computes q from stored values, for new vectors
and again for a new fit. Readers (instruments.py `drummed`, `heard_none`, `absent`, `drum_strength`) take p
and q and read p alone where q is unmeasured (a quick pass's track, one not listened to yet).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec
import numpy as np

from engine.bundle import Bundle, create_session, openvino_cpu
from engine.bundle.manifest import AudioConfig, DrumSfxConfig
from engine.bundle.runtime import CPU, plan_providers
from engine.media.audio import iter_audio

ROLE = "drum_sfx"
INT8_ROLE = "drum_sfx_int8"  # the same network in int8, for CPUs without bfloat16 (`graph_here`)
BATCH = 32  # windows per call of the graph (74 s of audio)
CHUNK_FRAMES = 1024  # frames transformed at once, so a long piece pushed whole does not hold its spectrum


@functools.cache
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, norm: str) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) float32: librosa.filters.mel(htk=True, norm=1.0) as librosa 0.11 builds it,
    triangles between consecutive HTK mel frequencies over the FFT bins' frequencies, each divided by its
    sum (an empty one is left empty)."""
    if norm != "l1":
        raise ValueError(f"unknown mel filter norm {norm!r} in the bundle manifest")
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    edges = 700.0 * (10.0 ** (np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2) / 2595.0) - 1.0)
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bins)
    weights = np.zeros((n_mels, len(bins)), np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    sums = np.abs(weights).sum(axis=1, keepdims=True)
    sums[sums < np.finfo(np.float32).tiny] = 1.0
    return np.ascontiguousarray((weights / sums).T)


def _window(n_fft: int) -> np.ndarray:
    """The periodic Hann window (scipy's get_window("hann", n, fftbins=True), librosa's)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


class MelFrames:
    """A track's mel power frames, fed piece by piece (`push`), and its log-mel once complete (`finish`)."""

    def __init__(self, config: DrumSfxConfig):
        if config.mel_scale != "htk" or config.normalise != "peak":
            raise ValueError(f"unknown drum_sfx front end {config.mel_scale!r}/{config.normalise!r} in the manifest")
        self.config = config
        self.filters = _mel_filters(
            config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax, config.filter_norm
        )
        self.window = _window(config.n_fft)
        self._pending = np.zeros(config.n_fft // 2, np.float32)  # the first frame is centred on sample 0
        self._samples = 0
        self._frames = 0
        self._peak = 0.0
        self._power: list[np.ndarray] = []

    def push(self, wave: np.ndarray) -> None:
        wave = np.asarray(wave, np.float32)
        if wave.size:
            self._peak = max(self._peak, float(np.max(np.abs(wave))))
        self._samples += len(wave)
        self._pending = np.concatenate([self._pending, wave])
        n_fft, hop = self.config.n_fft, self.config.hop_length
        self._run(max(0, (len(self._pending) - n_fft) // hop + 1))

    def finish(self) -> np.ndarray:
        """(frames, n_mels) float32 log-mel of the whole track, divided by its peak (`1 + samples // hop`
        frames)."""
        c = self.config
        left = 1 + self._samples // c.hop_length - self._frames
        self._pending = np.pad(self._pending, (0, max(0, (left - 1) * c.hop_length + c.n_fft - len(self._pending))))
        self._run(left)
        power = np.concatenate(self._power) if self._power else np.zeros((0, c.n_mels), np.float32)
        scale = c.log_gain / (self._peak or 1.0) ** 2
        return (np.log10(power * np.float32(scale) + 1) / np.float32(c.log_divisor)).astype(np.float32)

    def _run(self, count: int) -> None:
        from scipy.fft import rfft  # single precision, as engine.media.dsp: imported on first use

        n_fft, hop = self.config.n_fft, self.config.hop_length
        for start in range(0, count, CHUNK_FRAMES):
            take = min(CHUNK_FRAMES, count - start)
            frames = np.lib.stride_tricks.sliding_window_view(self._pending[start * hop :], n_fft)[::hop][:take]
            spectrum = rfft(frames * self.window, axis=1)
            power = spectrum.real**2 + spectrum.imag**2
            self._power.append((power @ self.filters).astype(np.float32))
        self._frames += max(count, 0)
        self._pending = self._pending[max(count, 0) * hop :]


def log_mel(samples: np.ndarray, config: DrumSfxConfig) -> np.ndarray:
    """(frames, n_mels): the whole signal's log-mel at once (see `MelFrames`)."""
    frames = MelFrames(config)
    frames.push(samples)
    return frames.finish()


def mel_windows(mel: np.ndarray, config: DrumSfxConfig) -> np.ndarray:
    """(W, window_frames, n_mels): whole windows end to end; a mel shorter than one window padded to one."""
    size, hop = config.window_frames, config.window_hop_frames
    if len(mel) < size:
        mel = np.pad(mel, ((0, size - len(mel)), (0, 0)))
    return np.lib.stride_tricks.sliding_window_view(mel, size, axis=0)[::hop].transpose(0, 2, 1)


def file_windows(path: str | os.PathLike[str], config: DrumSfxConfig, decoding: AudioConfig) -> np.ndarray:
    """(W, window_frames, n_mels) float32: a file's log-mel windows, decoded by `decoding` (the scan's, at
    the network's sample rate) piece by piece."""
    frames = MelFrames(config)
    for piece in iter_audio(Path(path), decoding, chunk_samples=config.sample_rate * 10):
        frames.push(piece)
    return np.ascontiguousarray(mel_windows(frames.finish(), config), np.float32)


def pooled(windows: np.ndarray, segment: tuple[int, int]) -> np.ndarray:
    """The track's mean over windows and, per dimension, the highest mean of a segment of `segment[0]`
    consecutive windows, one every `segment[1]` (a track shorter than a segment is one): the detector's
    input ("A2", tests/bench/fit_drums_features.py `pooled`), 2 x 512 numbers."""
    size, step = segment
    mean = windows.mean(axis=0)
    starts = range(0, max(len(windows) - size, 0) + 1, step)
    busiest = np.max([windows[a : a + size].mean(axis=0) for a in starts], axis=0)
    return np.concatenate([mean, busiest])


@functools.cache
def int8_as_measured() -> bool:
    """Whether this CPU has VNNI (AVX-512 VNNI or AVX-VNNI), the int8 dot products the int8 graph was measured
    with. Without them ONNX Runtime's x86 kernels add int8 products in 16 bits, which can saturate on weights
    not quantised to 7 bits, so such a CPU runs float32. Read from Linux's /proc/cpuinfo; elsewhere, no."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return bool(flags & {"avx512_vnni", "avx_vnni"})


def graph_here(bundle: Bundle, reduced: bool) -> tuple[str, bool]:
    """Which of the bundle's drum networks runs here, and whether in bfloat16. With `reduced` precision
    allowed (the scan), on a CPU: the float graph in bfloat16 where the CPU computes it, else the int8 graph
    (export_onnx/drum_sfx_int8.py) where it computes int8 as it was measured (`int8_as_measured`). The float
    graph in float32 on a GPU, elsewhere, in a bundle without the int8 graph, with NEEDLEDROP_INT8=0, or when
    exact values are asked for (the tests hold them to the fit's)."""
    providers, _ = plan_providers()
    if not reduced or providers != [CPU]:
        return ROLE, False
    if openvino_cpu.available():
        return ROLE, True
    allowed = os.environ.get("NEEDLEDROP_INT8", "auto").strip().lower() not in {"0", "off", "no", "false"}
    if allowed and INT8_ROLE in bundle.manifest.graphs and int8_as_measured():
        return INT8_ROLE, False
    return ROLE, False


class SfxEmbedder:
    """The bundle's drum network, loaded once; `embed_file` or `track()` for a track's window embeddings.
    `reduced`: bfloat16 or int8 where either is faster here (`graph_here`); each moves q by a few hundredths
    at most, and what they compute is stored as the float graph's (`drum_sfx_key`)."""

    def __init__(self, bundle: Bundle, *, threads: int | None = None, reduced: bool = False):
        config = bundle.manifest.preprocessing.drum_sfx
        if config is None or ROLE not in bundle.manifest.graphs:
            raise ValueError(f"bundle {bundle.id} has no drum detector network: rebuild it (`needledrop models build`)")
        self.config = config
        # The track as the scan decodes it (the manifest's downmix), at the network's sample rate.
        self.decoding: AudioConfig = msgspec.structs.replace(
            bundle.manifest.preprocessing.audio, sample_rate=config.sample_rate
        )
        self.graph, bf16 = graph_here(bundle, reduced)
        self.session, self.execution = create_session(bundle.graph_path(self.graph), threads=threads, bf16=bf16)

    def track(self) -> TrackSfx:
        return TrackSfx(self)

    def embed(self, pieces: Iterable[np.ndarray]) -> np.ndarray:
        """(W, 512) of a track's consecutive pieces of mono samples at `config.sample_rate`."""
        track = self.track()
        for piece in pieces:
            track.push(piece)
        return track.finish()

    def embed_file(self, path: str | os.PathLike[str]) -> np.ndarray:
        """(W, 512) of the file's audio, decoded at the network's sample rate (engine.media.audio)."""
        return self.run(file_windows(path, self.config, self.decoding))

    def run(self, windows: np.ndarray) -> np.ndarray:
        """(W, 512) of log-mel windows (W, window_frames, n_mels)."""
        out = [self.session.run(None, {"mel": part})[0] for part in np.array_split(windows, -(-len(windows) // BATCH))]
        return np.concatenate(out).astype(np.float32)


class TrackSfx:
    """One track's embedding, fed piece by piece: `push` each piece, then `finish`."""

    def __init__(self, embedder: SfxEmbedder):
        self.embedder = embedder
        self.frames = MelFrames(embedder.config)

    def push(self, wave: np.ndarray) -> None:
        self.frames.push(wave)

    def finish(self) -> np.ndarray:
        """(W, 512): one embedding per window of the whole track."""
        windows = mel_windows(self.frames.finish(), self.embedder.config)
        return self.embedder.run(np.ascontiguousarray(windows, np.float32))
