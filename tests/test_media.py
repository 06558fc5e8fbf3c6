import numpy as np
import pytest

from engine.errors import DecodeError
from engine.media.audio import decode_audio
from engine.media.frames import fit_frame
from export_onnx.defaults import PREPROCESSING
from media import write_audio, write_video

AUDIO = PREPROCESSING.audio
VIDEO = PREPROCESSING.video


def tone(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(
    "suffix, sr",
    [(".wav", 44100), (".flac", 48000), (".mp3", 44100), (".m4a", 44100), (".ogg", 22050), (".opus", 48000)],
)
def test_every_common_format_decodes_to_16k_mono(tmp_path, suffix, sr):
    path = write_audio(tmp_path / f"tone{suffix}", tone(2.0, sr), sr)
    wave = decode_audio(path, AUDIO)
    assert wave.dtype == np.float32 and wave.ndim == 1
    # Lossy codecs add priming samples; the length stays within 0.1 s of the truth.
    assert abs(len(wave) - 2.0 * AUDIO.sample_rate) < 0.1 * AUDIO.sample_rate
    spectrum = np.abs(np.fft.rfft(wave))
    peak_hz = np.argmax(spectrum) * AUDIO.sample_rate / len(wave)
    assert abs(peak_hz - 440) < 5


def test_stereo_is_averaged_not_mixed_hot(tmp_path):
    left = tone(1.0, 44100, amp=0.8)
    path = write_audio(tmp_path / "left.wav", np.stack([left, np.zeros_like(left)]), 44100)
    wave = decode_audio(path, AUDIO)
    # mean(L, 0) = 0.4 peak; PyAV's mono layout would give 0.8 / sqrt(2) = 0.57.
    assert np.abs(wave[2000:-2000]).max() == pytest.approx(0.4, abs=0.01)


def test_no_audio_stream_is_a_clear_error(tmp_path):
    frames = np.zeros((5, 64, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "silent.mp4", frames)
    with pytest.raises(DecodeError, match="has no audio stream"):
        decode_audio(path, AUDIO)


@pytest.mark.parametrize("content", [b"", b"this is a text file, not audio\n" * 20])
def test_not_media_is_a_clear_error(tmp_path, content):
    path = tmp_path / "fake.mp3"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match="fake.mp3"):
        decode_audio(path, AUDIO)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DecodeError, match="cannot open"):
        decode_audio(tmp_path / "gone.flac", AUDIO)


@pytest.mark.parametrize("shape", [(720, 1280), (1080, 1920), (1280, 720), (100, 120), (224, 224)])
def test_fit_frame_gives_the_manifest_size(shape):
    frame = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = fit_frame(frame, VIDEO)
    assert out.shape == (VIDEO.frame_size, VIDEO.frame_size, 3) and out.dtype == np.uint8
    assert out.flags.c_contiguous


def test_fit_frame_keeps_the_centre():
    frame = np.zeros((720, 1280, 3), dtype=np.uint8)
    frame[:, :240] = (255, 0, 0)  # red bars on the sides, cropped away
    frame[:, -240:] = (255, 0, 0)
    frame[:, 240:-240] = (0, 0, 255)  # blue in the middle
    out = fit_frame(frame, VIDEO)
    assert (out[..., 2] > 250).all() and (out[..., 0] < 5).all()


def test_fit_frame_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB uint8"):
        fit_frame(np.zeros((10, 10), dtype=np.uint8), VIDEO)


def test_a_float_file_with_nan_or_infinite_samples_decodes_and_analyses(tmp_path, bundle):
    """A damaged float WAV (one NaN, one infinity) costs a click's length of silence, not the track: its
    analysis used to fail on the NaN (an IndexError in the beat tracker, recorded as an unexpected error)."""
    from scipy.io import wavfile

    from engine.features import FeatureExtractor

    samples = tone(12.0, 44100)
    wavfile.write(tmp_path / "whole.wav", 44100, samples)  # IEEE float, as a DAW writes it
    samples[44100 * 3], samples[44100 * 7] = np.nan, np.inf
    path = tmp_path / "damaged.wav"
    wavfile.write(path, 44100, samples)
    wave = decode_audio(path, AUDIO)
    assert np.isfinite(wave).all()
    changed = np.flatnonzero(np.abs(wave - decode_audio(tmp_path / "whole.wav", AUDIO)) > 1e-3)
    assert 0 < len(changed) < 0.01 * AUDIO.sample_rate  # a few milliseconds around each bad sample
    analysis = FeatureExtractor(bundle).analysis(path)
    assert analysis is not None
