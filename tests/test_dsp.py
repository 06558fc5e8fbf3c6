"""Model-free music descriptors on signals whose answers are known."""

import numpy as np
import pytest

import signals
from engine.media import dsp

SR = 16000


def clicks(bpm: float, seconds: float = 12.0) -> np.ndarray:
    x = np.zeros(int(seconds * SR), np.float32)
    t = np.arange(int(0.03 * SR)) / SR
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-150 * t)).astype(np.float32)
    for start in np.arange(0, seconds, 60 / bpm):
        i = int(start * SR)
        x[i : i + len(click)] += click[: len(x) - i]
    return x


def triad(minor: bool, seconds: float = 8.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    steps = (0, 3, 7) if minor else (0, 4, 7)
    return (0.2 * sum(np.sin(2 * np.pi * 220 * 2 ** (s / 12) * t) for s in steps)).astype(np.float32)


@pytest.mark.parametrize("bpm", [70, 90, 120, 150])
def test_tempo_of_a_click_track(bpm):
    d = dsp.describe(clicks(bpm), SR)
    assert d.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert d.pulse_clarity > 0.7
    assert d.onset_rate == pytest.approx(bpm / 60, rel=0.1)


def test_drum_pattern_tempo_and_density():
    d = dsp.describe(signals.drum_pattern(12.0), SR)
    assert d.tempo_bpm == pytest.approx(120, rel=0.02)
    assert d.onset_rate > 3  # kicks, snares and hats


@pytest.mark.parametrize("minor, key", [(False, "A major"), (True, "A minor")])
def test_key_and_mode_of_a_triad(minor, key):
    d = dsp.describe(triad(minor), SR)
    assert d.key == key
    assert (d.mode < 0) == minor


@pytest.mark.parametrize(
    "tonic, mode, key",
    [
        (10, "major", "Bb major"),
        (10, "minor", "Bb minor"),
        (3, "minor", "Eb minor"),
        (8, "minor", "G# minor"),
        (1, "major", "Db major"),
        (1, "minor", "C# minor"),
        (6, "major", "F# major"),
    ],
)
def test_keys_are_spelt_as_musicians_write_them(tonic, mode, key):
    """A key's own profile is found as that key, named as musicians usually write it."""
    profile = np.roll(dsp._MAJOR if mode == "major" else dsp._MINOR, tonic)
    assert dsp.key_and_mode(profile)[0] == key
    assert dsp.tonic_of(key) == tonic


def test_every_key_name_reads_back_as_its_pitch_class():
    for tonic in range(12):
        for mode in ("major", "minor"):
            name = dsp.key_name(tonic, mode)
            assert dsp.tonic_of(name) == tonic == dsp.tonic_of(f"{dsp.PITCH_CLASSES[tonic]} {mode}")
            assert name.count("#") + name.count("b") <= 1
    assert dsp.tonic_of("unknown") == dsp.tonic_of(None) == -1


def test_a_sustained_chord_has_no_beat():
    d = dsp.describe(triad(False), SR)
    assert d.tempo_bpm == 0 and d.onset_rate == 0 and d.pulse_clarity == 0


def test_loudness_of_a_sine():
    t = np.arange(SR * 4) / SR
    d = dsp.describe((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    assert d.loudness_db == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)


def test_silence_and_tiny_input_do_not_crash():
    for wave in (np.zeros(SR * 3, np.float32), np.zeros(10, np.float32)):
        d = dsp.describe(wave, SR)
        assert d.tempo_bpm == 0 and d.key == "unknown" and np.isfinite(d.vector()).all()


def test_windows_of_one_analysis_match_separate_analyses():
    wave = np.concatenate([clicks(90, 12.0), clicks(150, 12.0)])
    analysis = dsp.analyse(wave, SR)
    first, second = dsp.descriptors(analysis, 0, 12), dsp.descriptors(analysis, 12, 24)
    assert first.tempo_bpm == pytest.approx(90, rel=0.02) and second.tempo_bpm == pytest.approx(150, rel=0.02)


def test_descriptor_vector_follows_the_requested_names():
    d = dsp.describe(clicks(120), SR)
    full = d.vector()
    assert full.shape == (len(dsp.DESCRIPTORS),)
    np.testing.assert_array_equal(d.vector(("mode", "tempo")), full[[3, 0]])


def test_brightness_is_the_treble_share_of_what_sounds():
    t = np.arange(SR * 4) / SR
    dark = 0.3 * np.sin(2 * np.pi * 220 * t)
    bright = dark + 0.3 * np.sin(2 * np.pi * 4000 * t)  # half the power above 2 kHz
    gaps = bright * (np.sin(2 * np.pi * 0.5 * t) > -0.5)  # silent stretches do not dilute it
    assert dsp.describe(dark.astype(np.float32), SR).brightness < 0.01
    assert dsp.describe(bright.astype(np.float32), SR).brightness == pytest.approx(0.5, abs=0.05)
    assert dsp.describe(gaps.astype(np.float32), SR).brightness == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("program", [0, 25, 30, 81])  # piano, steel guitar, distorted guitar, square lead
def test_drum_hits_count_a_kit_and_not_the_notes_over_it(program):
    """Broadband treble jumps are counted for a General MIDI kit, and far fewer for the same notes alone,
    even a distorted guitar's or a square lead's bright attacks."""
    from scipy.signal import resample_poly

    from media import MIDI_RATE, midi_samples

    def hits(drums: bool) -> float:
        wave = midi_samples(bpm=110, program=program, melody=[52, 55, 59, 64], drums=drums, seconds=12)
        return dsp.describe(resample_poly(wave, 16_000, MIDI_RATE).astype(np.float32), 16_000).drum_hits

    with_kit, alone = hits(True), hits(False)
    assert with_kit >= 1.0, with_kit  # a hi-hat or snare hit on most beats (110 BPM: 1.8 beats a second)
    assert alone <= 0.5 * with_kit, (alone, with_kit)
