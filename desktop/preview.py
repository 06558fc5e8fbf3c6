"""The preview: the clip's picture with the chosen track under it, in sync, and the track's waveform.

The picture comes from QMediaPlayer through a QVideoSink (so tests and screenshots see real frames), its
own audio muted or ducked; the music comes from `MusicOutput`. The picture is the clock: every 100 ms the
music's position is compared with where the picture says it should be (the track's start point plus the
time since the clip's in point) and moved back into place when they drift apart by more than 40 ms. The
drift measured before each correction is kept, so a benchmark can report it.
"""

from __future__ import annotations

import time

import numpy as np
from PyQt6.QtCore import QRectF, Qt, QTimer, QUrl, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter
from PyQt6.QtMultimedia import QAudioOutput, QMediaPlayer, QVideoFrame, QVideoSink
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from desktop.music_output import MusicOutput
from desktop.waveform import WaveformView
from engine.clock import format_timecode
from engine.media.playback import PlaybackAudio

SYNC_INTERVAL_MS = 100
MAX_DRIFT = 0.040  # seconds; about one frame at 25 fps


class VideoView(QWidget):
    """Paints the latest frame from a QVideoSink, letterboxed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.sink = QVideoSink(self)
        self.sink.videoFrameChanged.connect(self._on_frame)
        self.image: QImage | None = None
        self.frames_shown = 0
        self.setMinimumSize(320, 180)
        self.placeholder = "Drop video clips on the timeline below"

    def _on_frame(self, frame: QVideoFrame) -> None:
        if not frame.isValid():
            return
        self.image = frame.toImage()
        self.frames_shown += 1
        self.update()

    def show_still(self, rgb: np.ndarray) -> None:
        """A still (the clip's thumbnail) until the player delivers frames."""
        h, w, _ = rgb.shape
        self.image = QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def clear(self) -> None:
        self.image = None
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(12, 12, 12))
        if self.image is None or self.image.isNull():
            painter.setPen(QColor(120, 120, 120))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x, y = (self.width() - size.width()) / 2, (self.height() - size.height()) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(x, y, size.width(), size.height()), self.image)


class PreviewPanel(QWidget):
    """Picture, transport and waveform; plays the selected clip with the selected track."""

    trackStartChanged = pyqtSignal(float)

    def __init__(self, music: MusicOutput, parent: QWidget | None = None):
        super().__init__(parent)
        self.music = music
        self.video = VideoView(self)
        self.player = QMediaPlayer(self)
        self.player.setVideoSink(self.video.sink)
        self.clip_audio = QAudioOutput(self)
        self.clip_audio.setVolume(0.0)  # the clip's own sound is muted by default: the music is what is judged
        self.player.setAudioOutput(self.clip_audio)
        self.player.mediaStatusChanged.connect(self._on_media_status)
        self.player.errorOccurred.connect(self._on_error)
        self.clip_path: str | None = None
        self.clip_in, self.clip_out = 0.0, None
        self.track: PlaybackAudio | None = None
        self.track_start = 0.0
        self._pending_seek: float | None = None
        self._want_play = False
        self.drift_log: list[tuple[float, float]] = []  # (wall time, music minus picture, seconds)
        self.error: str | None = None

        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Play or pause the clip with the chosen track (Space)")
        self.play_button.clicked.connect(self.toggle)
        self.time_label = QLabel("00:00:00.00")
        self.time_label.setObjectName("muted")
        self.clip_volume = QSlider(Qt.Orientation.Horizontal)
        self.clip_volume.setRange(0, 100)
        self.clip_volume.setValue(0)
        self.clip_volume.setMaximumWidth(110)
        self.clip_volume.setToolTip("The clip's own sound, under the music (muted by default)")
        self.clip_volume.valueChanged.connect(lambda v: self.clip_audio.setVolume(v / 100))
        self.track_label = QLabel("")
        self.track_label.setObjectName("muted")
        self.waveform = WaveformView(self)
        self.waveform.startChanged.connect(self._on_drag_start)

        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.time_label)
        controls.addStretch(1)
        controls.addWidget(self.track_label)
        controls.addStretch(1)
        controls.addWidget(QLabel("Clip sound"))
        controls.addWidget(self.clip_volume)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.video, 1)
        layout.addLayout(controls)
        layout.addWidget(self.waveform)

        self.sync_timer = QTimer(self)
        self.sync_timer.setInterval(SYNC_INTERVAL_MS)
        self.sync_timer.timeout.connect(self._sync)

    # ---- what plays ----

    @property
    def clip_length(self) -> float:
        if self.clip_out is None:
            return max(0.0, self.player.duration() / 1000 - self.clip_in)
        return max(0.0, self.clip_out - self.clip_in)

    def set_clip(self, path: str | None, clip_in: float = 0.0, clip_out: float | None = None) -> None:
        """Show a clip (None: nothing); playback stops and the playhead goes to its in point."""
        self.stop()
        self.clip_in, self.clip_out = clip_in, clip_out
        if path != self.clip_path:
            self.clip_path = path
            self.video.clear()
            self.player.setSource(QUrl.fromLocalFile(path) if path else QUrl())
        self._seek_picture(clip_in)
        self.waveform.set_region(self.track_start, self.clip_length)

    def set_range(self, clip_in: float, clip_out: float | None) -> None:
        self.clip_in, self.clip_out = clip_in, clip_out
        if self.picture_time() < clip_in or (clip_out is not None and self.picture_time() > clip_out):
            self._seek_picture(clip_in)
        self.waveform.set_region(self.track_start, self.clip_length)

    def set_track(
        self,
        audio: PlaybackAudio | None,
        start: float,
        label: str = "",
        *,
        loudness: float | None = None,
        movable: bool = True,
    ) -> None:
        """Put another track under the picture, from `start`; the playhead stays where it is (A/B). A track
        that is not `movable` (a fitted edit) plays whole from its start."""
        self.track, self.track_start = audio, start
        self.track_label.setText(label)
        self.waveform.set_audio(audio, loudness, movable=movable)
        self.waveform.set_region(start, self.clip_length)
        self.music.set_track(audio, self.expected_music_time())

    def set_track_start(self, start: float) -> None:
        self.track_start = start
        self.waveform.set_region(start, self.clip_length)
        self.music.seek(self.expected_music_time())

    def _on_drag_start(self, start: float) -> None:
        self.set_track_start(start)
        self.trackStartChanged.emit(start)

    # ---- clocks ----

    def picture_time(self) -> float:
        return self.player.position() / 1000.0

    def expected_music_time(self) -> float:
        return self.track_start + (self.picture_time() - self.clip_in)

    def _seek_picture(self, seconds: float) -> None:
        if self.player.mediaStatus() in (
            QMediaPlayer.MediaStatus.LoadedMedia,
            QMediaPlayer.MediaStatus.BufferedMedia,
            QMediaPlayer.MediaStatus.EndOfMedia,
        ):
            self.player.setPosition(round(seconds * 1000))
        else:
            self._pending_seek = seconds  # a seek before the media is loaded is ignored: do it on load

    def _on_media_status(self, status) -> None:
        if status == QMediaPlayer.MediaStatus.LoadedMedia:
            if self._pending_seek is not None:
                self.player.setPosition(round(self._pending_seek * 1000))
                self._pending_seek = None
            self.waveform.set_region(self.track_start, self.clip_length)
            if self._want_play:
                self._start()
        elif status == QMediaPlayer.MediaStatus.EndOfMedia and self._want_play:
            self._loop()

    def _on_error(self, error, message: str) -> None:
        self.error = message or str(error)
        self.stop()

    # ---- transport ----

    @property
    def playing(self) -> bool:
        return self._want_play

    def toggle(self) -> None:
        self.pause() if self._want_play else self.play()

    def play(self) -> None:
        if not self.clip_path:
            return
        self._want_play = True
        if self.player.mediaStatus() != QMediaPlayer.MediaStatus.LoadingMedia:
            self._start()

    def _start(self) -> None:
        if self.clip_out is not None and self.picture_time() >= self.clip_out - 0.05:
            self.player.setPosition(round(self.clip_in * 1000))
        self.player.play()
        self.music.seek(self.expected_music_time())
        self.music.play()
        self.sync_timer.start()
        self.play_button.setText("❚❚ Pause")

    def pause(self) -> None:
        self._want_play = False
        self.player.pause()
        self.music.pause()
        self.sync_timer.stop()
        self.play_button.setText("▶ Play")

    def stop(self) -> None:
        if self._want_play:
            self.pause()

    def _loop(self) -> None:
        self.player.setPosition(round(self.clip_in * 1000))
        self.player.play()
        self.music.seek(self.track_start)

    def _sync(self) -> None:
        now = self.picture_time()
        self.time_label.setText(format_timecode(now))
        self.waveform.playhead = self.expected_music_time()
        self.waveform.update()
        if self.clip_out is not None and now >= self.clip_out:
            self._loop()
            return
        if self.player.playbackState() != QMediaPlayer.PlaybackState.PlayingState:
            return
        drift = self.music.position() - self.expected_music_time()
        self.drift_log.append((time.perf_counter(), drift))
        if abs(drift) > MAX_DRIFT:
            self.music.seek(self.expected_music_time())
