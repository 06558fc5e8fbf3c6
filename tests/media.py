"""Writing small media files for tests with PyAV: real containers and codecs, generated content."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# container suffix -> (codec, sample format it wants)
AUDIO_CODECS = {
    ".wav": ("pcm_s16le", "s16"),
    ".flac": ("flac", "s16"),
    ".mp3": ("libmp3lame", "fltp"),
    ".m4a": ("aac", "fltp"),
    ".ogg": ("vorbis", "fltp"),  # FFmpeg's own encoder: PyAV wheels lack libvorbis
    ".opus": ("libopus", "flt"),
}


def write_audio(path: Path, samples: np.ndarray, sample_rate: int, tags: dict[str, str] | None = None) -> Path:
    """samples: (n,) mono or (channels, n) float in [-1, 1] (1, 2 or 6 channels, 5.1 in FFmpeg's order);
    format chosen by the file suffix; `tags` such as title and artist are written as the container's metadata."""
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    codec, fmt = AUDIO_CODECS[path.suffix]
    if codec == "vorbis" and samples.shape[0] == 1:  # FFmpeg's vorbis encoder is stereo-only
        samples = np.repeat(samples, 2, axis=0)
    if codec == "libopus" and sample_rate not in (8000, 12000, 16000, 24000, 48000):  # Opus's only rates
        t = np.arange(0, samples.shape[1], sample_rate / 48000)
        samples = np.stack([np.interp(t, np.arange(samples.shape[1]), ch) for ch in samples]).astype(np.float32)
        sample_rate = 48000
    channels = samples.shape[0]
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    with av.open(str(path), "w") as container:
        container.metadata.update(tags or {})
        stream = container.add_stream(codec, rate=sample_rate, layout=layout)
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        chunk = 4096
        for start in range(0, samples.shape[1], chunk):
            block = samples[:, start : start + chunk]
            if fmt == "s16":
                data = (np.clip(block, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
            elif fmt == "flt":
                data = block.T.reshape(1, -1)
            else:  # planar float
                data = np.ascontiguousarray(block)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
            frame.sample_rate = sample_rate
            frame.pts = start
            frame.time_base = Fraction(1, sample_rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def add_legacy_title(wav: Path, title: str) -> Path:
    """Append a RIFF INFO title in Latin-1, as older tools wrote them (FFmpeg reads tags as UTF-8)."""
    text = title.encode("latin-1") + b"\x00"
    text += b"\x00" * (len(text) % 2)  # RIFF chunks are word-aligned
    info = b"INFO" + b"INAM" + len(text).to_bytes(4, "little") + text
    data = bytearray(wav.read_bytes()) + b"LIST" + len(info).to_bytes(4, "little") + info
    data[4:8] = (len(data) - 8).to_bytes(4, "little")
    wav.write_bytes(bytes(data))
    return wav


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """frames: (n, h, w, 3) uint8 RGB, encoded as H.264 in an mp4 with no audio stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_music_video(path: Path, frames: np.ndarray, fps: int, samples: np.ndarray, sample_rate: int) -> Path:
    """H.264 video plus an AAC soundtrack (mono float samples) in one mp4: a music video."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate, layout="mono")
        for image in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[None, start : start + 1024], dtype=np.float32),
                format="fltp",
                layout="mono",
            )
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, start, Fraction(1, sample_rate)
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return path


SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"  # Debian timgm6mb-soundfont (installed by make)


def render_midi(path: Path, *, tags: dict[str, str] | None = None, **arrangement) -> Path:
    """A General MIDI arrangement rendered by FluidSynth (real instrument samples) into `path`'s format."""
    return write_audio(path, midi_samples(**arrangement), MIDI_RATE, tags)


MIDI_RATE = 22050


def midi_samples(
    *,
    bpm: float,
    program: int,
    melody: list[int],
    beats_per_note: float = 1.0,
    drums: bool = False,
    bass: bool = False,
    velocity: int = 90,
    seconds: float = 24.0,
) -> np.ndarray:
    """Mono samples at `MIDI_RATE` of a General MIDI arrangement rendered by FluidSynth."""
    import subprocess
    import tempfile

    import mido

    midi = mido.MidiFile(ticks_per_beat=480)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))])
    midi.tracks.append(meta)
    beats = int(seconds * bpm / 60)

    def track(channel, prog, notes):  # notes: (beat, length in beats, pitch, velocity)
        t = mido.MidiTrack()
        if prog is not None:
            t.append(mido.Message("program_change", channel=channel, program=prog))
        events = [(b, mido.Message("note_on", channel=channel, note=p, velocity=v)) for b, _, p, v in notes]
        events += [(b + n, mido.Message("note_off", channel=channel, note=p)) for b, n, p, _ in notes]
        now = 0
        for beat, message in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
            tick = round(beat * 480)
            t.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(t)

    steps = int(beats / beats_per_note)
    track(
        0,
        program,
        [(k * beats_per_note, beats_per_note * 0.95, melody[k % len(melody)], velocity) for k in range(steps)],
    )
    if bass:
        track(1, 38, [(k, 0.5, 36 + melody[(k // 4) % len(melody)] % 12, 100) for k in range(beats)])
    if drums:
        hits = [(k, 0.25, 36, 120) for k in range(beats)] + [(k + 0.5, 0.25, 42, 80) for k in range(beats)]
        hits += [(k, 0.25, 38, 110) for k in range(1, beats, 2)]
        track(9, None, hits)
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        midi.save(str(mid))
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", "22050", "-F", str(wav), SOUNDFONT, str(mid)],
            check=True,
            capture_output=True,
        )
        with av.open(str(wav)) as container:
            resampler = av.AudioResampler(format="fltp", rate=22050)
            frames = [f for fr in container.decode(audio=0) for f in resampler.resample(fr)]
        return np.concatenate([f.to_ndarray() for f in frames], axis=1).mean(axis=0)


def write_footage(
    path: Path,
    rate: Fraction | int,
    seconds: float,
    *,
    sound: bool = False,
    timecode: str | None = None,
    variable: bool = False,
    size: tuple[int, int] = (64, 36),
) -> Path:
    """A short H.264 clip at an exact frame `rate`, as cameras write them: with an AAC soundtrack, a start
    `timecode` (';' for drop-frame), or a `variable` rate (intervals of one, 1.5 and two frames, as phones
    drop frames), so timelines can be tried at every rate editors meet."""
    rate = Fraction(rate)
    tick = Fraction(1, 2 * rate.numerator)  # exact frame times, half-frame steps for a varying rate
    intervals = [1, 1, 1, 1.5, 2] if variable else [1]
    with av.open(str(path), "w") as container:
        if timecode:
            container.metadata["timecode"] = timecode
        video = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = tick
        audio = container.add_stream("aac", rate=48000, layout="stereo") if sound else None
        pts, i = 0, 0
        while pts * tick < seconds:
            image = np.full((size[1], size[0], 3), (i * 7 % 255, 90, 200), np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, tick
            container.mux(video.encode(frame))
            pts += round(intervals[i % len(intervals)] / rate / tick)
            i += 1
        container.mux(video.encode(None))
        if audio is not None:
            total = int(seconds * 48000)
            tone = (0.1 * np.sin(np.arange(total) * 2 * np.pi * 330 / 48000)).astype(np.float32)
            for start in range(0, total, 1024):
                block = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
                container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
    return path
