"""Frame rates as editors count them: exact fractions, the timebases each format can hold, and conforming.

29.97 fps is 30000/1001 frames per second, not 29.97: a float rate drifts a frame every few minutes and
FCPXML cannot even state it (it wants the frame duration, 1001/30000 s). Every rate here is a Fraction.

A timeline format can hold a rate or it cannot. SMPTE timecode (FCP 7 XML, EDL) and Final Cut Pro's
projects know the broadcast rates only; OpenTimelineIO holds any. A rate a format cannot hold is
conformed to the nearest standard timebase that can: a multiple of it where there is one (12 -> 24 fps,
so every frame lasts exactly two), otherwise the closest. A variable-rate file (phone footage) is
conformed everywhere, to the standard rate nearest its usual frame interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from engine.media.streams import NTSC, STANDARD

DROP_FRAME_RATES = (Fraction(30000, NTSC), Fraction(60000, NTSC))
_SAME = Fraction(1, 2000)  # rates this close (relative) are the same rate: a container's rounding
ANY = "any"  # a format that holds any constant rate
HOLDS = {"otio": ANY, "fcp7": STANDARD, "fcpx": STANDARD, "edl": STANDARD}
# The rates a timeline read or written may be said to run at: anything outside is a mistyped rate.
LOWEST_FPS, HIGHEST_FPS = 1, 240


@dataclass(frozen=True)
class FrameRate:
    """A timeline or file rate: exact frames per second, and whether its timecode drops frame numbers."""

    fps: Fraction
    drop_frame: bool = False

    def __float__(self) -> float:
        return float(self.fps)

    @property
    def ntsc(self) -> bool:
        """A 1000/1001 rate (23.976, 29.97, 59.94): FCP 7 XML writes it as its round timebase plus NTSC."""
        return self.fps.denominator == NTSC

    @property
    def timebase(self) -> int:
        """The whole number of frames per timecode second (30 for 29.97)."""
        return round(self.fps)

    @property
    def frame_duration(self) -> Fraction:
        return 1 / self.fps

    def frames(self, seconds: float) -> int:
        """Whole frames nearest `seconds`: editors cut on frames."""
        return round(seconds * self.fps)

    def label(self) -> str:
        text = f"{float(self.fps):.3f}".rstrip("0").rstrip(".") + " fps"
        if self.fps in DROP_FRAME_RATES:
            text += " (drop-frame)" if self.drop_frame else " (non-drop)"
        return text


def standard(fps: Fraction | float) -> Fraction | None:
    """The standard rate `fps` is (within a container's rounding), or None."""
    fps = Fraction(fps)
    return next((s for s in STANDARD if abs(fps - s) <= s * _SAME), None)


def nearest_standard(fps: Fraction | float) -> Fraction:
    """The standard rate a rate no editor's timecode knows is conformed to (see the module docstring)."""
    fps = Fraction(fps)
    exact = standard(fps)
    if exact is not None:
        return exact
    multiples = [s for s in STANDARD if s.denominator == 1 and fps.denominator == 1 and s % fps == 0]
    if multiples:
        return min(multiples)
    return min(STANDARD, key=lambda s: abs(s / fps - 1) if s > fps else abs(fps / s - 1))


def exact_rate(fps: float | Fraction, *, drop_frame: bool = False) -> FrameRate:
    """A rate given as a float (29.97002997, as OpenTimelineIO and JSON carry it), exact: 30000/1001."""
    return file_rate(standard(fps) or Fraction(fps).limit_denominator(1001), drop_frame=drop_frame)


def file_rate(fps: Fraction, *, variable: bool = False, drop_frame: bool = False) -> FrameRate:
    """A file's rate as a timeline can use it: a standard rate snapped exact, a variable one conformed."""
    fps = nearest_standard(fps) if variable else standard(fps) or fps
    return FrameRate(fps, drop_frame and fps in DROP_FRAME_RATES)


def for_format(rate: FrameRate, fmt: str) -> FrameRate:
    """`rate` as `fmt` can hold it: itself, or conformed to the nearest standard timebase."""
    holds = HOLDS[fmt]
    if holds is ANY or rate.fps in holds:
        return rate
    return FrameRate(nearest_standard(rate.fps))
