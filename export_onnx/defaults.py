"""The preprocessing constants a new bundle is built with.

This is where they are chosen; everywhere else (engine, training, tests) reads them from the bundle's
manifest, never from here, so a bundle always carries the constants its graphs were built for.
"""

from engine.bundle.manifest import AudioConfig, BeatConfig, DrumSfxConfig, Preprocessing, TextConfig, VideoConfig
from engine.media.dsp import ANALYSIS_VERSION, DESCRIPTORS
from engine.media.video import CUES

PREPROCESSING = Preprocessing(
    audio=AudioConfig(
        # musicnn's training front end: 16 kHz, 512-point FFT, hop 256, 96 mel bands.
        sample_rate=16_000,
        n_fft=512,
        hop_length=256,
        n_mels=96,
        # musicnn was trained on 3 s patches; non-overlapping keeps a library scan at one backbone call
        # per 3 s of audio.
        patch_samples=48_000,
        patch_hop_samples=48_000,
        # Whole patches per segment (4 patches, hop 2), so segment features never mix partial patches.
        segment_seconds=12.0,
        segment_hop_seconds=6.0,
        # Mean of the channels: PyAV's own mono downmix is (L+R)/sqrt(2), 3 dB hotter than training audio.
        downmix="mean",
        descriptors=DESCRIPTORS,
        analysis_version=ANALYSIS_VERSION,
    ),
    video=VideoConfig(
        frame_rate=1.0,
        frame_size=224,
        resize="center_crop",
        # EfficientNet-Lite's TF convention, (x - 127) / 128, applied inside the frame graph.
        pixel_mean=127.0,
        pixel_std=128.0,
        max_frames=128,
        cues=CUES,
    ),
    text=TextConfig(max_tokens=128, tokenizer="tokenizer.json"),
    # BeatNet's 64 ms frames every 20 ms (export_onnx/beat_tracker.py), at the audio's 16 kHz: 50 a second.
    # RMS 0.05 (../data/tempo-level/RULE-T2.md): 3 dB quieter, 10 of 36 real recordings read another tempo.
    beats=BeatConfig(frame_samples=1024, hop_samples=320, input_rms=0.05),
    # aisfx's front end (export_onnx/drum_sfx.py), as the drum detector was fitted on it (../data/drums/RULE-4.md):
    # librosa's melspectrogram(y / peak, sr=44100, n_mels=96, norm=1.0, fmin=0, fmax=22050, htk=True,
    # power=2.0, hop_length=1024, win_length=2048), log10(1e4 x + 1) / 9.4578 (aisfx's "original" scaling),
    # windows of 100 frames (about 2.3 s) end to end.
    drum_sfx=DrumSfxConfig(
        sample_rate=44_100,
        normalise="peak",
        n_fft=2048,
        hop_length=1024,
        n_mels=96,
        fmin=0.0,
        fmax=22_050.0,
        mel_scale="htk",
        filter_norm="l1",
        log_gain=10_000.0,
        log_divisor=9.457798957824707,
        window_frames=100,
        window_hop_frames=100,
    ),
)
