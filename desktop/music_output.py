"""The music half of a preview: one long-lived sounddevice output stream that plays the chosen track.

Opening an output stream costs up to two seconds on some systems, so the stream is opened once and kept;
switching tracks or moving the start point only swaps what its callback reads. The stream runs only while
a preview plays: a running callback takes Python's GIL hundreds of times a second (thousands, on a device
without a clock), which the UI thread would feel. The callback runs on PortAudio's thread and only copies
samples: no Qt, no allocation beyond slicing.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from engine.media.playback import PLAYBACK_RATE, PlaybackAudio

log = logging.getLogger(__name__)


class MusicOutput:
    def __init__(self, device: int | str | None = None, rate: int = PLAYBACK_RATE):
        self.rate = rate
        self.error: str | None = None
        self._lock = threading.Lock()
        self._audio: np.ndarray | None = None
        self._frame = 0  # next frame of the track to play
        self._playing = False
        self.latency = 0.0
        self.stream = None
        try:
            import sounddevice

            self.stream = sounddevice.OutputStream(
                samplerate=rate, channels=2, dtype="int16", device=device, callback=self._callback, latency="low"
            )
            self.latency = float(self.stream.latency)
        except Exception as exc:  # noqa: BLE001 - no device, no PortAudio: previews play silently
            self.error = f"No audio output ({exc}); previews play without music."
            log.warning(self.error)
            self.stream = None

    @property
    def available(self) -> bool:
        return self.stream is not None

    @property
    def samples(self) -> np.ndarray | None:
        """What the stream plays now (the current track's samples)."""
        return self._audio

    def _callback(self, outdata, frames, time_info, status) -> None:  # PortAudio's thread
        with self._lock:
            audio, start, playing = self._audio, self._frame, self._playing
            if playing and audio is not None:
                self._frame = start + frames
        if not playing or audio is None or start >= len(audio) or start + frames <= 0:
            outdata.fill(0)
            return
        lo = max(start, 0)
        chunk = audio[lo : start + frames]
        offset = lo - start
        outdata[:offset] = 0
        outdata[offset : offset + len(chunk)] = chunk
        outdata[offset + len(chunk) :] = 0

    def set_track(self, audio: PlaybackAudio | None, position: float = 0.0) -> None:
        """Play `audio` from `position` seconds (negative: silence first) from the next callback on."""
        with self._lock:
            self._audio = None if audio is None else audio.samples
            self._frame = round(position * self.rate)

    def seek(self, position: float) -> None:
        with self._lock:
            self._frame = round(position * self.rate)

    def play(self) -> None:
        with self._lock:
            self._playing = True
        if self.stream is not None and not self.stream.active:
            self.stream.start()

    def pause(self) -> None:
        with self._lock:
            self._playing = False
        if self.stream is not None and self.stream.active:
            self.stream.abort()  # at once, dropping what is buffered: a pause must be heard as one

    def position(self) -> float:
        """Seconds into the track of what is being heard now (what was handed over, less the output latency)."""
        with self._lock:
            frame, playing = self._frame, self._playing
        return frame / self.rate - (self.latency if playing else 0.0)

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.abort()
                self.stream.close()
            except Exception:  # noqa: BLE001 - closing a stream that already failed
                pass
            self.stream = None
