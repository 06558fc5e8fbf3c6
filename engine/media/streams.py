"""What an editor needs to know of a media file: its streams, their exact rates and its timecode.

Timelines describe each file as it is (a music file has no picture, a phone clip's frame rate varies), so
the export reads this from the file itself rather than assuming it from the timeline. Reading it demuxes
the first packets and decodes nothing.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from engine.errors import DecodeError
from engine.media.container import open_media

NTSC = 1001
# The broadcast and cinema rates every editor and SMPTE timecode know (engine/export/rates.py conforms to them).
STANDARD = (
    Fraction(24000, NTSC),
    Fraction(24),
    Fraction(25),
    Fraction(30000, NTSC),
    Fraction(30),
    Fraction(50),
    Fraction(60000, NTSC),
    Fraction(60),
)
_PACKETS = 300  # enough frame intervals to tell a steady rate from a varying one
_STEADY = 0.02  # a frame interval this close to the usual one (relative) is the usual one
_STEADY_SHARE = 0.95  # a constant-rate file has (nearly) all its intervals the usual one
_ROUNDING = Fraction(1, 4)  # a container clock this coarse against a frame rounds the frames' times


@dataclass(frozen=True)
class PictureStream:
    rate: Fraction  # frames per second, exact (30000/1001); for a variable rate, the usual interval's
    variable: bool  # frame intervals vary (phone footage): `rate` is the usual one, not the average
    average: float  # frames per second over the file
    width: int
    height: int
    timecode: str | None  # the file's start timecode ("01:00:00;00"), if it records one

    @property
    def drop_frame(self) -> bool:
        """The file's timecode counts in drop-frame (a ';' before the frames, by SMPTE convention)."""
        return self.timecode is not None and ";" in self.timecode


@dataclass(frozen=True)
class SoundStream:
    sample_rate: int
    channels: int
    codec: str


@dataclass(frozen=True)
class MediaStreams:
    duration: float  # seconds
    picture: PictureStream | None
    sound: SoundStream | None


def media_streams(path: str | os.PathLike[str]) -> MediaStreams:
    """The first picture and sound streams of `path`, with exact rates; DecodeError if it has neither."""
    with open_media(path, Path(path).name) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise DecodeError(f"{Path(path).name}: has neither picture nor sound")
        duration = _duration(container, video or audio)
        sound = None
        if audio is not None:
            sound = SoundStream(audio.codec_context.sample_rate, audio.codec_context.channels, audio.codec_context.name)
        picture = _picture(container, video) if video is not None else None
    return MediaStreams(duration, picture, sound)


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else 0.0


def _picture(container: av.container.InputContainer, stream: av.stream.Stream) -> PictureStream:
    average = float(stream.average_rate or stream.guessed_rate or 25)
    rate, variable = Fraction(stream.guessed_rate or stream.average_rate or 25), False
    intervals = _intervals(container, stream)
    if intervals:
        # The usual interval is the rate the camera ran at: the average also counts the frames it dropped.
        # Times are whole ticks of the container's clock, milliseconds in Matroska and WebM, where 29.97 fps
        # frames lie 33, 33 and 34 ms apart: an interval a tick from the usual one is the usual one too. (A
        # clock of half a frame is no rounding: the file chose it to place every frame exactly.)
        # (median_low: an interval that occurs, so that at least one is the usual one)
        usual, tick = statistics.median_low(intervals), Fraction(stream.time_base)
        rounding = tick if tick <= _ROUNDING * usual else 0
        steady = [i for i in intervals if abs(i - usual) <= max(_STEADY * usual, rounding)]
        variable = len(steady) / len(intervals) < _STEADY_SHARE
        # Their mean is off by at most two ticks for each run of usual intervals, over all of them.
        runs = 1 + len(intervals) - len(steady)
        rate = _simplest_rate(sum(steady) / len(steady), 2 * tick * runs / len(steady))
    timecode = stream.metadata.get("timecode") or container.metadata.get("timecode")
    width, height = stream.codec_context.width, stream.codec_context.height
    return PictureStream(rate, variable, average, width, height, timecode)


def _simplest_rate(interval: Fraction, error: Fraction) -> Fraction:
    """The rate a frame interval measured within `error` seconds is: the nearest that it allows of the
    standard rates, the whole or half numbers of frames a second (12, 15, 12.5) and their NTSC versions
    (47.952, 119.88), or else the nearest fraction with a denominator up to 1001."""
    low, high = 1 / (interval + error), 1 / max(interval - error, Fraction(1, 10**6))
    measured = 1 / interval
    whole, half, ntsc = (
        round(measured),
        Fraction(round(2 * measured), 2),
        Fraction(round(measured * NTSC / 1000) * 1000, NTSC),
    )
    allowed = [c for c in (*STANDARD, Fraction(whole), half, ntsc) if c > 0 and low <= c <= high]
    if allowed:
        return min(allowed, key=lambda c: abs(c - measured))
    return measured.limit_denominator(NTSC)


def _intervals(container: av.container.InputContainer, stream: av.stream.Stream) -> list[Fraction]:
    """Seconds between the first frames, in presentation order (packets come in decoding order)."""
    times = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                times.append(packet.pts)
            if len(times) >= _PACKETS:
                break
    except av.error.FFmpegError:
        pass  # a damaged tail: the intervals read so far still tell the rate
    times.sort()
    return [(b - a) * stream.time_base for a, b in zip(times, times[1:]) if b > a]
