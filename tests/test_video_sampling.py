"""Sampling clips: frame times at the bundle rate, pace and colour cues, cuts, in/out points, bad input."""

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
