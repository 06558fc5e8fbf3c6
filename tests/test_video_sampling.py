"""Sampling clips: frame times at the bundle rate, pace and colour cues, cuts, in/out points, bad input."""

from fractions import Fraction

import av
import numpy as np
import pytest

from engine.errors import DecodeError
from engine.media.video import CUES, sample_clip
from export_onnx.defaults import PREPROCESSING
from media import write_audio, write_video

VIDEO = PREPROCESSING.video
FPS = 25


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """3 s of a still warm shot, then a cut to 3 s of a fast-moving cold shot."""
    frames = np.zeros((6 * FPS, 180, 320, 3), np.uint8)
    for i in range(len(frames)):
        if i < 3 * FPS:
            frames[i] = (200, 60, 30)
        else:
            frames[i] = (20, 40, 140)
            x = (i * 17) % 260
            frames[i, 60:120, x : x + 60] = (255, 255, 255)
    return write_video(tmp_path_factory.mktemp("clips") / "two_shots.mp4", frames, FPS)


def test_one_sample_per_second_with_fitted_frames(two_shots):
    clip = sample_clip(two_shots, VIDEO)
    assert clip.frames.shape == (6, VIDEO.frame_size, VIDEO.frame_size, 3)
    np.testing.assert_allclose(clip.times, np.arange(6) + 0.52, atol=0.05)
    assert clip.duration == pytest.approx(6.0, abs=0.05)
    assert clip.cues.shape == (6, len(CUES))


def test_cues_see_warmth_motion_and_the_cut(two_shots):
    cues = dict(zip(CUES, sample_clip(two_shots, VIDEO).cues.T))
    assert (cues["warmth"][:3] > 0.3).all() and (cues["warmth"][3:] < -0.2).all()
    assert cues["motion"][:3].max() < 0.005 < cues["motion"][4:].min()
    assert cues["cuts_per_second"].tolist() == [0, 0, 0, 1, 0, 0]


def test_in_and_out_points(two_shots):
    clip = sample_clip(two_shots, VIDEO, start=2.5, end=4.5)
    assert len(clip.frames) == 2 and clip.times[0] >= 2.5 and clip.times[-1] < 4.5
    assert clip.cues[:, CUES.index("cuts_per_second")].sum() == 1


def test_out_point_beyond_the_end_is_clamped(two_shots):
    clip = sample_clip(two_shots, VIDEO, start=4.0, end=60.0)
    assert len(clip.frames) == 2


def test_long_clips_are_subsampled_uniformly(tmp_path):
    path = write_video(tmp_path / "long.mp4", np.zeros((200 * 2, 32, 32, 3), np.uint8), fps=2)  # 200 s
    clip = sample_clip(path, VIDEO)
    assert len(clip.frames) == VIDEO.max_frames
    gaps = np.diff(clip.times)
    assert gaps.min() > 1.0 and gaps.max() - gaps.min() <= 0.5 + 1e-6


def test_audio_only_file_is_a_clear_error(tmp_path):
    path = write_audio(tmp_path / "song.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(DecodeError, match="has no video stream"):
        sample_clip(path, VIDEO)


def test_empty_range_is_a_clear_error(two_shots):
    with pytest.raises(DecodeError, match="empty range"):
        sample_clip(two_shots, VIDEO, start=10.0, end=12.0)


# --- Rotation metadata (phone footage) -------------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
# FFmpeg's AV_PKT_DATA_DISPLAYMATRIX as an iPhone writes it for portrait footage: 16.16 fixed point, w in 2.30.
# av_display_rotation_get() reads it as -90 (turn 90 degrees clockwise to display), ffprobe as "rotation of -90".
IPHONE_PORTRAIT = (0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)


def _landscape_marker(height: int = 108, width: int = 192) -> np.ndarray:
    """A stored landscape frame whose centre square (what `fit_frame` keeps in every orientation: all rows,
    the middle `height` columns) reads, by quadrant, [[green, blue], [red, blue]]: no rotation or flip of it
    looks like another."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = BLUE
    image[:, : width // 2] = RED
    image[: height // 2, : width // 2] = GREEN
    return image


def _write_rotated(path, image, *, degrees=None, matrix=None, seconds=2, fps=10):
    """A still H.264 mp4 of `image` carrying a display matrix, written with PyAV's own stream API."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuv420p"
        if matrix is not None:
            stream.set_display_matrix(matrix)
        else:
            stream.set_display_rotation(degrees)  # counter-clockwise, as VideoFrame.rotation reads it back
        for _ in range(seconds * fps):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _stored_rotation(path) -> tuple[int, tuple[int, int]]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.rotation, (frame.height, frame.width)


def _quadrants(frame: np.ndarray) -> list[list[str]]:
    """The dominant colour of the middle of each quadrant of a sampled frame, as 'R', 'G' or 'B'."""
    size = frame.shape[0]
    q = size // 4
    names = []
    for row in (q, 3 * q):
        names.append([])
        for col in (q, 3 * q):
            patch = frame[row - q // 2 : row + q // 2, col - q // 2 : col + q // 2].reshape(-1, 3).mean(axis=0)
            assert patch.max() > 150 and np.sort(patch)[-2] < 80, f"muddy patch {patch} at ({row}, {col})"
            names[-1].append("RGB"[int(patch.argmax())])
    return names


@pytest.mark.parametrize(
    ("written", "read_back", "display"),
    [
        # VideoFrame.rotation is the counter-clockwise turn that displays the frame; FFmpeg keeps it in -180..180.
        ({"degrees": 90}, 90, [["B", "B"], ["G", "R"]]),
        ({"degrees": 180}, -180, [["B", "R"], ["B", "G"]]),
        ({"degrees": 270}, -90, [["R", "G"], ["B", "B"]]),
        ({"matrix": IPHONE_PORTRAIT}, -90, [["R", "G"], ["B", "B"]]),  # 90 degrees clockwise, as phones store it
    ],
    ids=["ccw90", "180", "ccw270", "iphone-portrait"],
)
def test_rotated_footage_is_sampled_upright(tmp_path, written, read_back, display):
    image = _landscape_marker()
    plain = sample_clip(write_video(tmp_path / "plain.mp4", np.stack([image] * 20), fps=10), VIDEO)
    assert _quadrants(plain.frames[0]) == [["G", "B"], ["R", "B"]]  # the pattern as stored, as a control

    path = _write_rotated(tmp_path / "rotated.mp4", image, **written)
    assert _stored_rotation(path) == (read_back, (108, 192))  # pixels stay landscape; only the matrix turns
    clip = sample_clip(path, VIDEO)
    assert clip.frames.shape == (2, VIDEO.frame_size, VIDEO.frame_size, 3)
    for frame in clip.frames:
        assert _quadrants(frame) == display
    # Colour cues do not depend on orientation, and a still shot has no motion or cuts.
    cues, plain_cues = dict(zip(CUES, clip.cues.T)), dict(zip(CUES, plain.cues.T))
    for name in ("brightness", "saturation", "warmth", "contrast"):
        np.testing.assert_allclose(cues[name], plain_cues[name], atol=0.02, err_msg=name)
    assert cues["contrast"].min() > 0.1 and cues["saturation"].min() > 0.8
    assert cues["motion"].max() < 0.005 and cues["cuts_per_second"].tolist() == [0, 0]


# --- Variable frame rate ---------------------------------------------------------------------------------------


def _write_vfr(path, pts_ms, make_frame):
    """H.264 mp4 with one frame at each millisecond timestamp in `pts_ms`; make_frame(t_seconds) -> RGB.

    The nominal rate only sets how long the muxer shows the last frame (so the file's duration): the last gap."""
    last_gap = Fraction(int(pts_ms[-1] - pts_ms[-2]), 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1 / last_gap, options={"preset": "ultrafast"})
        stream.height, stream.width = make_frame(0.0).shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for pts in pts_ms:
            frame = av.VideoFrame.from_ndarray(make_frame(pts / 1000), format="rgb24")
            frame.pts, frame.time_base = int(pts), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _decoded_times(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.array([frame.time for frame in container.decode(video=0)])


def _warm_then_moving_cold(t: float) -> np.ndarray:
    """Still warm shot until 3 s, then a cut to a cold shot with a white block gliding to and fro at 100 px/s
    (no jumps: at 40 fps it moves 2.5 px a frame)."""
    image = np.zeros((72, 128, 3), np.uint8)
    if t < 3.0:
        image[:] = (200, 60, 30)
    else:
        image[:] = (20, 40, 140)
        x = round(100 - abs((t - 3.0) * 100 % 200 - 100))  # 0 -> 100 -> 0 px over 2 s
        image[20:52, x : x + 28] = (255, 255, 255)
    return image


@pytest.fixture(scope="module")
def slow_then_fast(tmp_path_factory):
    """6 s of variable frame rate: 10 fps (warm, still) for 3 s, then 40 fps (cold, moving) for 3 s."""
    pts = [*range(0, 3000, 100), *range(3000, 6000, 25)]
    path = _write_vfr(tmp_path_factory.mktemp("vfr") / "slow_then_fast.mp4", pts, _warm_then_moving_cold)
    decoded = _decoded_times(path)
    assert len(decoded) == 150 and np.allclose(decoded, np.array(pts) / 1000)  # really written as VFR
    return path


def test_variable_frame_rate_samples_follow_real_time(slow_then_fast):
    clip = sample_clip(slow_then_fast, VIDEO)
    assert clip.duration == pytest.approx(6.0, abs=0.03)
    targets = np.arange(6) + 0.5
    interval = np.where(targets < 3.0, 0.1, 0.025)  # the source frame spacing around each target
    assert len(clip.times) == 6
    assert (clip.times >= targets - 1e-3).all() and (clip.times - targets <= interval + 1e-3).all(), clip.times
    # Frames come from the right side of the change at 3 s: a clock counting frames at the average 25 fps would
    # report the same times but take the 1.5 s and 2.5 s samples from the cold shot (frames 38 and 63).
    red_minus_blue = clip.frames[..., 0].astype(int).mean(axis=(1, 2)) - clip.frames[..., 2].mean(axis=(1, 2))
    assert (red_minus_blue[:3] > 100).all() and (red_minus_blue[3:] < -50).all(), red_minus_blue


def test_variable_frame_rate_cues_use_real_time_windows(slow_then_fast):
    cues = dict(zip(CUES, sample_clip(slow_then_fast, VIDEO).cues.T))
    assert (cues["warmth"][:3] > 0.3).all() and (cues["warmth"][3:] < -0.2).all()
    # Motion is the mean change between consecutive decoded frames in each one-second window of the real
    # timeline: the still 10 fps seconds see none, every moving 40 fps second sees some.
    assert cues["motion"][:3].max() < 0.005 < cues["motion"][3:].min()
    # Cuts are counted per second of real time, whatever the frame density.
    assert cues["cuts_per_second"].tolist() == [0, 0, 0, 1, 0, 0]


def test_variable_frame_rate_in_and_out_points(slow_then_fast):
    clip = sample_clip(slow_then_fast, VIDEO, start=2.5, end=4.5)
    np.testing.assert_allclose(clip.times, [3.0, 4.0], atol=1e-3)
    assert clip.cues[:, CUES.index("cuts_per_second")].tolist() == [1, 0]


def test_irregular_frame_gaps_do_not_make_samples_drift(tmp_path):
    gaps = np.random.default_rng(7).integers(15, 400, size=400)
    pts = np.concatenate([[0], np.cumsum(gaps)])
    pts = pts[pts < 9000]  # about 9 s with gaps of 15-400 ms

    def shade(t: float) -> np.ndarray:  # grey level encodes the frame's time, 0-9 s -> 0-225
        return np.full((36, 64, 3), round(t * 25), np.uint8)

    path = _write_vfr(tmp_path / "irregular.mp4", pts, shade)
    decoded = _decoded_times(path)
    assert np.allclose(decoded, pts / 1000)
    clip = sample_clip(path, VIDEO)
    count = len(clip.times)
    assert count == int(np.ceil(clip.duration)) and clip.duration == pytest.approx(pts[-1] / 1000, abs=0.4)
    targets = (np.arange(count) + 0.5) * clip.duration / count
    for target, time, frame in zip(targets, clip.times, clip.frames):
        after = decoded[decoded >= target - 1e-6]
        assert time == pytest.approx(after[0], abs=1e-6), (target, time)  # the first frame at or after the target
        assert frame.mean() == pytest.approx(time * 25, abs=2)  # and that frame's pixels, not a neighbour's


# --- In point past the end ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [6.0, 30.0])
def test_in_point_at_or_past_the_end_without_out_point_is_a_clear_error(two_shots, start):
    with pytest.raises(DecodeError, match=r"empty range .*\(file is 6\.00 s\)"):
        sample_clip(two_shots, VIDEO, start=start)


def _scene(height: int, width: int, seed: int) -> np.ndarray:
    """A textured frame: colour gradients, a few hard-edged shapes and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([200 * x + 30, 120 * y + 60, 180 * (1 - x) * y + 20], axis=-1)
    for _ in range(6):
        top, left = rng.integers(0, height - height // 5), rng.integers(0, width - width // 5)
        rgb[top : top + height // 5, left : left + width // 5] = rng.integers(0, 256, 3)
    return np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("height", "width"), [(720, 1280), (1080, 1920), (1920, 1080)])
def test_cheaper_downscales_keep_the_cues_within_tolerance(height, width):
    """The colour and contrast cues reach their 64x64 average, and the motion thumbnails their first pyramid
    level, through 2x2 averages (for speed): within 0.004 of the one-step average (cues span 0..1), and
    motion within 3 % of the pyramid alone, the versions the heads were trained on."""
    import cv2

    from engine.media import video

    for seed in range(3):
        rgb = _scene(height, width, seed)
        one_step = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        luma = one_step @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        hsv = cv2.cvtColor((one_step * 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
        reference = (luma.mean(), hsv[..., 1].mean() / 255.0, (one_step[..., 0] - one_step[..., 2]).mean(), luma.std())
        assert np.allclose(video._frame_cues(rgb), reference, atol=0.004)  # cues span 0..1
        # Motion: the change between a frame and the same frame moved a little, against the pyramid alone.
        moved = np.roll(rgb, (height // 90, width // 60), axis=(0, 1))
        frames = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in (rgb, moved)]
        motion = np.abs(video._thumbnail(frames[0]) - video._thumbnail(frames[1])).mean()
        pyramid = []
        for f in frames:
            small = np.frombuffer(f.planes[0], np.uint8).reshape(-1, f.planes[0].line_size)[: f.height, : f.width]
            while small.shape[0] >= 2 * video._THUMB[1] and small.shape[1] >= 2 * video._THUMB[0]:
                small = cv2.pyrDown(small)
            pyramid.append(cv2.resize(small, video._THUMB, interpolation=cv2.INTER_AREA).astype(np.float32))
        assert motion == pytest.approx(np.abs(pyramid[0] - pyramid[1]).mean() * 255.0 / 219.0, rel=0.03)
