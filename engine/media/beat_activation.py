"""A track's beat and downbeat activations, from the bundle's beat tracker graph (BeatNet's CRNNs,
export_onnx/beat_tracker.py): the onset strength the tempo is read from (engine.media.dsp.tempo), and the beats
and bar starts are placed on (engine.media.beats).

The scan hands a track over in consecutive pieces; the activation of the pieces is the activation of the
whole: frames are centred on every hop from the track's first sample (zeros before it and after its end,
`ceil(samples / hop)` frames, madmom's framing, which BeatNet was trained on), a frame spanning two pieces
waits for the second, and the graph carries its LSTM states and last spectrum from piece to piece.

Each piece is first scaled to the bundle's `input_rms` (BeatConfig): BeatNet's front end compresses with
log(1 + x), so it hears a quieter master differently, and 3 dB down, 10 of 36 real recordings read another
tempo (tests/bench/bench_level.py). A piece, not the track: the scan streams it, and 48 s is long enough
that a beat's loudness against its neighbours is kept.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.bundle import Bundle, create_session
from engine.media.audio import finite
from engine.media.dsp import magnitude_spectrum

ROLE = "beat_tracker"
# A piece quieter than this RMS (-80 dBFS) is scaled as if it were this loud: silence stays silence.
QUIET_RMS = 1e-4
# A piece shorter than this (the last of a track, after whole 48-s pieces) keeps the gain of the piece before
# it: a few seconds of fade or room tone, raised to the music's level, would be heard as music.
SHORTEST_MEASURED_SECONDS = 12.0


class Activation(NamedTuple):
    """Per hop of a track (`BeatTracker.fps` a second): how likely a beat (downbeats included) and a
    downbeat are there."""

    beat: np.ndarray
    downbeat: np.ndarray


class BeatTracker:
    """The bundle's beat tracker graph, loaded once; `track()` starts a track."""

    def __init__(self, bundle: Bundle, *, threads: int | None = None):
        beats = bundle.manifest.preprocessing.beats
        if beats is None:
            raise ValueError(f"bundle {bundle.id} has no beat tracker: rebuild it (`needledrop models build`)")
        self.frame, self.hop = beats.frame_samples, beats.hop_samples
        self.input_rms = beats.input_rms
        self.shortest_measured = round(SHORTEST_MEASURED_SECONDS * bundle.manifest.preprocessing.audio.sample_rate)
        self.fps = bundle.manifest.preprocessing.audio.sample_rate / self.hop
        self.session, _ = create_session(bundle.graph_path(ROLE), threads=threads)
        shapes = {i.name: i.shape for i in self.session.get_inputs()}
        self._previous_shape, self._state_shape = tuple(shapes["previous"]), tuple(shapes["state"])

    def track(self) -> TrackBeats:
        return TrackBeats(self)


class TrackBeats:
    """One track's activation, fed piece by piece: `push` each piece, then `finish`."""

    def __init__(self, tracker: BeatTracker):
        self.tracker = tracker
        # Samples from the next frame's start on; the first frame is centred on sample 0.
        self._pending = np.zeros(tracker.frame // 2, np.float32)
        self._samples = 0
        self._frames = 0
        # The first frame has no rise (madmom's first difference is 0): no spectrum exceeds this.
        self._previous = np.full(self.tracker._previous_shape, np.finfo(np.float32).max, np.float32)
        self._state = np.zeros(self.tracker._state_shape, np.float32)
        self._activation: list[tuple[np.ndarray, np.ndarray]] = []
        self._gain: np.float32 | None = None  # the last piece's, for a short one after it

    def push(self, wave: np.ndarray) -> None:
        wave = finite(np.asarray(wave, np.float32))  # (the scan's decoder has; other callers may not have)
        if self.tracker.input_rms and len(wave):
            wave = wave * self._level(wave)
        self._samples += len(wave)
        self._pending = np.concatenate([self._pending, wave])
        complete = max(0, (len(self._pending) - self.tracker.frame) // self.tracker.hop + 1)
        self._run(complete)

    def _level(self, wave: np.ndarray) -> np.float32:
        """The gain that brings `wave` to the tracker's input RMS (a short piece after another: that one's)."""
        if self._gain is not None and len(wave) < self.tracker.shortest_measured:
            return self._gain
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
        self._gain = np.float32(self.tracker.input_rms / max(rms, QUIET_RMS))
        return self._gain

    def finish(self) -> Activation:
        """The activations, one value per hop (`BeatTracker.fps` a second), `ceil(samples / hop)` of them."""
        hop, frame = self.tracker.hop, self.tracker.frame
        left = -(-self._samples // hop) - self._frames
        self._pending = np.pad(self._pending, (0, max(0, (left - 1) * hop + frame - len(self._pending))))
        self._run(left)
        if not self._activation:
            return Activation(np.zeros(0, np.float32), np.zeros(0, np.float32))
        beat, downbeat = zip(*self._activation)
        return Activation(np.concatenate(beat), np.concatenate(downbeat))

    def _run(self, count: int) -> None:
        if count <= 0:
            return
        hop, frame = self.tracker.hop, self.tracker.frame
        frames = np.lib.stride_tricks.sliding_window_view(self._pending, frame)[::hop][:count]
        magnitude = magnitude_spectrum(frames)[:, : frame >> 1]
        feeds = {"magnitude": magnitude[None].astype(np.float32), "previous": self._previous, "state": self._state}
        beat, downbeat, self._previous, self._state = self.tracker.session.run(None, feeds)
        self._activation.append((beat, downbeat))
        self._frames += count
        self._pending = self._pending[count * hop :]
