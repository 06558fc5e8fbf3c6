"""Model-free music descriptors: tempo, onset rate, loudness, key and major/minor mode.

musicnn separates timbre and genre well but carries tempo and mode only weakly, and moods in real
libraries follow both closely; these descriptors feed the music head, text synthesis, prompt filters
("around 90 BPM") and explanations. Plain numpy on the 16 kHz mono signal the backbone already gets; the
tempo reads the beat tracker's activation where the scan computed one (engine.media.beat_activation), and
the onset envelope otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Descriptor vector layout fed to the music head; the manifest lists the names a bundle was trained with.
DESCRIPTORS = ("tempo", "onset_rate", "loudness", "mode", "pulse_clarity")
# Raised whenever what a descriptor measures changes, so that heads trained on one measure never read
# another: a bundle records the version it was built for, and opening one built for another asks for a
# rebuild (a new bundle re-analyses the library). 2: the mode reads the bass (`key_and_mode`), and the
# scan measures each segment's brightness. 3: tempo from the mean local autocorrelation under a narrower
# prior, and each segment's tempo at its track's metrical level (`tempo`); drum hits (`TrackAnalysis.hits`).
# 4: a track's tempo from the beat tracker's activation (engine.media.beat_activation), not the spectral flux.
# 5: beats placed on that activation, and bars started where its downbeat activation and the harmony's change
# are strongest (engine.media.beats). 6: the beat tracker hears each piece at one level (BeatConfig.input_rms),
# so the tempo and the beats no longer change with how loud a track was mastered.
ANALYSIS_VERSION = 6
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Each key as musicians usually write it: "Bb major" (2 flats), not "A# major" (10 sharps); of two spellings
# with as many accidentals (Eb or D# minor, F# or Gb major), the commoner.
_KEY_SPELLING = {
    "major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
    "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"),
}
_FLATS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_TONICS = {name: pc for spelling in (PITCH_CLASSES, _FLATS) for pc, name in enumerate(spelling)}
# Krumhansl-Kessler key profiles (probe-tone ratings), C major and C minor.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _centred_rotations(profile: np.ndarray) -> np.ndarray:
    """(12, 12): the profile in each of the 12 keys, centred and of unit norm, so that a product with a
    centred unit vector is Pearson's correlation with it."""
    rotations = np.stack([np.roll(profile, k) for k in range(12)])
    rotations -= rotations.mean(axis=1, keepdims=True)
    return rotations / np.linalg.norm(rotations, axis=1, keepdims=True)


_KEYS_MAJOR, _KEYS_MINOR = _centred_rotations(_MAJOR), _centred_rotations(_MINOR)

# Brightness, the share of the power above this, is the surest cue of energy that real recordings gave
# (engine/affect.py): brass and cymbals at full tilt against strings and pads at rest.
BRIGHT_HZ = 2000.0
_TEMPO_RANGE = (40.0, 210.0)  # faster candidates are nearly always the double of the real beat
# A log-normal prior over tempo, the usual cure for octave errors: centre and width (in octaves) chosen on the
# dev renders of tests/bench/bench_tempo.py (20 -> 22 of 36 right), 15 -> 21 of 36 on the test renders.
_TEMPO_PRIOR_BPM, _TEMPO_PRIOR_OCTAVES = 110.0, 0.5
# A segment's tempo is looked for near its track's, this many octaves wide: the same metrical level, so that a
# track has one tempo, while a real change of speed within it still shows.
_FOLLOW_OCTAVES = 0.15
# The tempo is read from the mean of autocorrelations of windows this long (seconds, and their hop): a
# tempogram's, which keeps the beat of a performance whose tempo drifts, where one autocorrelation of the
# whole track smears it.
_TEMPOGRAM_WINDOW, _TEMPOGRAM_HOP = 8.0, 2.0
# A window whose RMS level is below this holds no music: the absolute gate of EBU R 128 (-70 LUFS). Digital
# silence decodes at -110 dBFS or below; of the scan's segments of 94 real recordings (Wesnoth's and Naev's
# soundtracks), the quietest was -60 dBFS (a last segment, mostly the silence after a fade), and half of the
# recordings' quietest were above -26.
SILENT_DB = -70.0


@dataclass(frozen=True)
class Descriptors:
    tempo_bpm: float
    pulse_clarity: float  # 0..1: how periodic the onsets are (0 for a drone, near 1 for a drum machine)
    onset_rate: float  # note/hit onsets per second
    loudness_db: float  # RMS level, dBFS
    key: str  # e.g. "A minor"
    mode: float  # +1 clearly major .. -1 clearly minor
    brightness: float = 0.0  # share of the power above 2 kHz in the typical sounding frame (not a head input)
    drum_hits: float = 0.0  # broadband high-frequency hits per second: cymbals, snares, shakers (not a head input)
    # The onset envelope's tempo (`descriptors`), the music head's input in place of `tempo_bpm`: the heads
    # were trained on it, before the beat tracker; equal to `tempo_bpm` where no activation was measured.
    onset_tempo_bpm: float | None = None

    @property
    def silent(self) -> bool:
        """Too quiet to hold music: what a tagger makes of it is noise, not a measurement."""
        return self.loudness_db < SILENT_DB

    def vector(self, names: tuple[str, ...] = DESCRIPTORS) -> np.ndarray:
        """Scaled to roughly unit range for a network input."""
        scaled = {
            "tempo": (self.tempo_bpm if self.onset_tempo_bpm is None else self.onset_tempo_bpm) / 120.0 - 1.0,
            "onset_rate": np.log1p(self.onset_rate) - 1.0,
            "loudness": (self.loudness_db + 20.0) / 20.0,
            "mode": self.mode,
            "pulse_clarity": 2 * self.pulse_clarity - 1,
        }
        return np.array([scaled[n] for n in names], dtype=np.float32)


_ENVELOPE_FFT, _ENVELOPE_HOP = 1024, 256
_CHROMA_FFT = 4096  # 3.9 Hz bins at 16 kHz: a semitone apart even at 60 Hz
_MIN_ONSET = 0.05  # spectral flux below this is leakage and noise, never a note or a hit
# A drum hit (a snare, a cymbal, a shaker) is noise: its onset raises the level of most bins of the treble at
# once, where a pitched note raises only its harmonics. A frame is a hit when at least `_HIT_SHARE` of the
# bins from `_HIT_HZ` up rise by `_HIT_RISE` (log1p(100 x) units, about x1.6) over the frame before. Chosen on
# the dev renders of tests/bench/bench_drums.py, where hits per second alone order drummed above undrummed
# pieces with AUC 0.93.
_HIT_HZ, _HIT_RISE, _HIT_SHARE = 4000.0, 0.5, 0.5


def _frames(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """One frame per `hop` samples, ceil(len / hop) of them: the end is zero-padded, so the analyses of
    consecutive pieces of a signal (each a multiple of the hop long) line up when concatenated."""
    count = max(1, -(-len(wave) // hop))
    wave = np.pad(wave, (0, (count - 1) * hop + n_fft - len(wave)))
    return np.lib.stride_tricks.sliding_window_view(wave, n_fft)[::hop][:count]


def magnitude_spectrum(frames: np.ndarray) -> np.ndarray:
    """|rfft| of each Hann-windowed frame (rows), in float32."""
    # scipy's FFT transforms float32 in single precision, five times as fast as numpy's here (magnitudes
    # within 1e-3 of it); imported on first use, as commands that never analyse audio need not wait for it.
    from scipy.fft import rfft

    window = np.hanning(frames.shape[1]).astype(np.float32)
    return np.abs(rfft(frames * window, axis=1))


@dataclass(frozen=True)
class TrackAnalysis:
    """Frame-level intermediates of a whole track, computed once; windows of it give segment descriptors."""

    sample_rate: int
    samples: int  # length of the analysed signal
    fps: float  # envelope frames per second
    envelope: np.ndarray  # onset strength (spectral flux of the log-compressed spectrum)
    power: np.ndarray  # mean square per envelope frame
    treble: np.ndarray  # per envelope frame, the share of its power above BRIGHT_HZ
    chroma_fps: float
    chroma: np.ndarray  # (frames, 12) pitch-class energy, normalised per frame
    bass: np.ndarray  # (frames, 12) the same below 250 Hz, where the tonic and the chord roots sound
    hits: np.ndarray  # per envelope frame, the share of the 4-8 kHz bins whose level jumps (`_HIT_RISE`)
    # The beat tracker's activations (engine.media.beat_activation), `beat_fps` a second: what the tempo is read
    # from and the beats are placed on, and where bars start. None where only the model-free analysis ran (the
    # envelope stands in).
    beats: np.ndarray | None = None
    downbeats: np.ndarray | None = None
    beat_fps: float = 0.0

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate


def concat(parts: list[TrackAnalysis]) -> TrackAnalysis:
    """The analysis of consecutive pieces as one (each piece but the last a multiple of 2048 samples)."""
    first = parts[0]
    return TrackAnalysis(
        sample_rate=first.sample_rate,
        samples=sum(p.samples for p in parts),
        fps=first.fps,
        envelope=np.concatenate([p.envelope for p in parts]),
        power=np.concatenate([p.power for p in parts]),
        treble=np.concatenate([p.treble for p in parts]),
        chroma_fps=first.chroma_fps,
        chroma=np.concatenate([p.chroma for p in parts]),
        bass=np.concatenate([p.bass for p in parts]),
        hits=np.concatenate([p.hits for p in parts]),
    )


def analyse(wave: np.ndarray, sr: int) -> TrackAnalysis:
    wave = np.asarray(wave, dtype=np.float32)
    frames = _frames(wave, _ENVELOPE_FFT, _ENVELOPE_HOP)
    magnitude = magnitude_spectrum(frames)
    log_mag = np.log1p(100.0 * magnitude)
    spectrum = np.square(magnitude)
    high = np.fft.rfftfreq(_ENVELOPE_FFT, 1.0 / sr) >= BRIGHT_HZ
    treble = spectrum[:, high].sum(axis=1, dtype=np.float64) / (spectrum.sum(axis=1, dtype=np.float64) + 1e-12)
    rise = np.diff(log_mag, axis=0)
    flux = np.maximum(rise, 0.0).mean(axis=1)
    noisy = np.fft.rfftfreq(_ENVELOPE_FFT, 1.0 / sr) >= _HIT_HZ
    hits = (rise[:, noisy] > _HIT_RISE).mean(axis=1) if noisy.any() else np.zeros(len(rise))
    # Frames running past the end see the cut-off as a burst of energy: not an onset.
    inside = max(1, (len(wave) - _ENVELOPE_FFT) // _ENVELOPE_HOP + 1)
    flux[inside - 1 :] = 0.0
    power = np.einsum("ij,ij->i", frames, frames).astype(np.float64) / frames.shape[1]

    chroma_power = magnitude_spectrum(_frames(wave, _CHROMA_FFT, _CHROMA_FFT // 2)) ** 2
    freqs = np.fft.rfftfreq(_CHROMA_FFT, 1.0 / sr)
    return TrackAnalysis(
        sample_rate=sr,
        samples=len(wave),
        fps=sr / _ENVELOPE_HOP,
        envelope=np.concatenate([[0.0], flux]).astype(np.float32),
        power=power,
        treble=treble.astype(np.float32),
        chroma_fps=sr / (_CHROMA_FFT // 2),
        chroma=_fold(chroma_power, freqs, 60.0, 2000.0),
        bass=_fold(chroma_power, freqs, 40.0, 250.0),
        hits=np.concatenate([[0.0], hits]).astype(np.float32),
    )


def _fold(power: np.ndarray, freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pitch-class energy per frame of the band [low, high] Hz."""
    band = (freqs >= low) & (freqs <= high)
    pitch_class = np.round(12 * np.log2(freqs[band] / 440.0) + 9).astype(int) % 12  # 0 = C
    # Bins sorted by pitch class and summed in runs: no BLAS product, whose threads would contend with the
    # scan's other worker for the cores.
    order = np.argsort(pitch_class, kind="stable")
    classes, starts = np.unique(pitch_class[order], return_index=True)
    folded = np.zeros((len(power), 12))
    folded[:, classes] = np.add.reduceat(power[:, band][:, order].astype(np.float64), starts, axis=1)
    # Normalised per frame so that loud passages do not decide the key alone.
    return folded / (folded.sum(axis=1, keepdims=True) + 1e-12)


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    spectrum = np.fft.rfft(x, 2 * len(x))
    ac = np.fft.irfft(spectrum * np.conj(spectrum))[: len(x)]
    return ac / ac[0] if ac[0] > 0 else ac


def _tempogram(x: np.ndarray, fps: float) -> np.ndarray:
    """The mean autocorrelation of the envelope's windows that carry onsets (the whole when it is shorter)."""
    window, hop = int(_TEMPOGRAM_WINDOW * fps), int(_TEMPOGRAM_HOP * fps)
    parts = [x[a : a + window] for a in range(0, max(1, len(x) - window + 1), hop)]
    curves = [_autocorrelation(p) for p in parts if np.ptp(p) > 0]
    return np.mean(curves, axis=0) if curves else _autocorrelation(x)


def tempo(envelope: np.ndarray, fps: float, around: float | None = None) -> tuple[float, float]:
    """Tempo (BPM) and pulse clarity of an onset envelope.

    The tempo is the lag that the tempogram's autocorrelation favours under a log-normal prior centred on
    `_TEMPO_PRIOR_BPM`. Given `around` (the track's tempo, for one of its segments), the prior is centred on
    that, narrowly, wherever the window has a pulse near it: its segments then never read the half or the
    double of the track's tempo. The clarity is the whole envelope's autocorrelation at the lag found.
    """
    x = np.asarray(envelope, dtype=np.float64)
    if len(x) < 8 or not np.any(x - x.mean()):
        return 0.0, 0.0
    lo = max(1, int(fps * 60 / _TEMPO_RANGE[1]))
    hi = min(len(x) - 2, int(fps * 60 / _TEMPO_RANGE[0]))
    if hi <= lo:
        return 0.0, 0.0
    curve = _tempogram(x, fps)
    hi = min(hi, len(curve) - 2)
    bpm = 60.0 * fps / np.arange(lo, hi + 1)
    salience = np.maximum(curve[lo : hi + 1], 0)
    weighted = salience * np.exp(-0.5 * (np.log2(bpm / _TEMPO_PRIOR_BPM) / _TEMPO_PRIOR_OCTAVES) ** 2)
    if around:
        # At the track's level where the window has a pulse there; a window without one (a slow intro
        # to a fast track) has a tempo of its own, found as a track's is.
        near = np.abs(np.log2(bpm / around)) <= 3 * _FOLLOW_OCTAVES
        if np.any(salience[near] > 0):
            weighted = np.where(near, salience * np.exp(-0.5 * (np.log2(bpm / around) / _FOLLOW_OCTAVES) ** 2), 0)
    best = lo + int(np.argmax(weighted))
    # Parabolic interpolation between lags for sub-frame precision.
    a, b, c = curve[best - 1], curve[best], curve[best + 1]
    curvature = a - 2 * b + c
    shift = float(np.clip(0.5 * (a - c) / curvature, -0.5, 0.5)) if curvature else 0.0
    clarity = float(np.clip(_autocorrelation(x)[best], 0.0, 1.0))
    return 60.0 * fps / (best + shift), clarity


def onset_rate(envelope: np.ndarray, fps: float) -> float:
    """Onsets per second: local maxima (within 50 ms) clearly above the envelope's typical level."""
    if len(envelope) < 3:
        return 0.0
    width = max(1, int(0.05 * fps))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(envelope, width, mode="edge"), 2 * width + 1)
    threshold = max(np.median(envelope) + 0.5 * envelope.std(), _MIN_ONSET)
    peaks = (envelope >= windows.max(axis=1)) & (envelope > threshold)
    return float(peaks.sum() / (len(envelope) / fps))


def key_and_mode(chroma: np.ndarray, bass: np.ndarray | None = None) -> tuple[str, float]:
    """Key, and mode from +1 (clearly major) to −1 (clearly minor), of pitch-class energy (frames or summed).

    Key profiles alone confuse a minor piece with its relative major (the same notes: natural minor *is*
    the relative major's scale); what tells them apart is which note the music rests on, and the bass
    says that. So two cues, averaged: the key profiles matched to the whole range plus the bass, and the
    third and sixth above the bass's strongest pitch class, major or minor. On renders of the same pieces
    in major and in minor (training/bootstrap/feel_set.py) this orders major above minor with AUC 0.87 on
    the dev split, where it was chosen, and 0.90 on the test split; the profiles alone score 0.53 and 0.62.
    """
    profile = _profile(chroma)
    if not np.any(profile) or np.ptp(profile) == 0:
        return "unknown", 0.0
    low = _profile(bass) if bass is not None else None
    if low is not None and np.any(low):
        profile = profile / profile.sum() + low / low.sum()
    centred = profile - profile.mean()
    if not np.linalg.norm(centred):
        return "unknown", 0.0
    centred /= np.linalg.norm(centred)
    major, minor = _KEYS_MAJOR @ centred, _KEYS_MINOR @ centred
    best_major, best_minor = int(np.argmax(major)), int(np.argmax(minor))
    mode = float(np.tanh(4.0 * (major[best_major] - minor[best_minor])))
    if low is not None and np.any(low):
        mode = 0.5 * mode + 0.5 * _thirds(_profile(chroma), int(np.argmax(low)))
    return (key_name(best_major, "major") if mode >= 0 else key_name(best_minor, "minor")), mode


def key_name(tonic: int, mode: str) -> str:
    """A key's name as musicians spell it: key_name(10, "major") == "Bb major"."""
    return f"{_KEY_SPELLING[mode][tonic]} {mode}"


def tonic_of(key: str | None) -> int:
    """The pitch class of a key's name, however its tonic is spelt ("Bb minor", "A# minor" -> 10); -1 when
    unknown."""
    return _TONICS.get((key or "").split(" ")[0], -1)


def _profile(chroma: np.ndarray) -> np.ndarray:
    return chroma.sum(axis=0) if chroma.ndim == 2 else np.asarray(chroma, dtype=np.float64)


def _thirds(profile: np.ndarray, tonic: int) -> float:
    """+1 when the major third and sixth above `tonic` sound and the minor ones do not, −1 the reverse."""
    major = profile[(tonic + 4) % 12] + profile[(tonic + 9) % 12]
    minor = profile[(tonic + 3) % 12] + profile[(tonic + 8) % 12]
    return float((major - minor) / (major + minor + 1e-12))


def descriptors(
    analysis: TrackAnalysis, start: float = 0.0, end: float | None = None, track: Descriptors | None = None
) -> Descriptors:
    """Descriptors of the window [start, end) seconds of an analysed track (the whole track by default), or
    of a part of a track whose own descriptors are `track`: its tempo is then found at the track's level.

    Two tempi are measured. `tempo_bpm`, the one shown and asked for: a track's from the beat tracker's
    activation where the analysis has one; a part's from its onsets at the track's level (the activation is
    smooth enough to correlate somewhat at any period near it, so it could not tell a part with no pulse
    there, a slow intro to a fast track, which keeps a tempo of its own). `onset_tempo_bpm` and the pulse
    clarity: the onset envelope's alone, the track's and its parts' at the track's level, what the music
    head was trained on (`Descriptors.vector`)."""
    end = analysis.duration if end is None else end
    a, b = int(start * analysis.fps), max(int(start * analysis.fps) + 1, int(end * analysis.fps))
    envelope = analysis.envelope[a:b]
    rate = onset_rate(envelope, analysis.fps)
    bpm = onset_bpm = clarity = 0.0
    if rate > 0:
        onset_bpm, clarity = tempo(envelope, analysis.fps, track.onset_tempo_bpm if track else None)
        if track is not None and track.tempo_bpm != track.onset_tempo_bpm:
            bpm = tempo(envelope, analysis.fps, track.tempo_bpm or None)[0]
        elif track is None and analysis.beats is not None:
            first = int(start * analysis.beat_fps)
            bpm = tempo(analysis.beats[first : max(first + 1, int(end * analysis.beat_fps))], analysis.beat_fps)[0]
        else:
            bpm = onset_bpm
    ca = int(start * analysis.chroma_fps)
    cb = max(ca + 1, int(end * analysis.chroma_fps))
    key, mode = key_and_mode(analysis.chroma[ca:cb], analysis.bass[ca:cb])
    power = analysis.power[a:b]
    return Descriptors(
        brightness=_brightness(analysis.treble[a:b], power),
        drum_hits=_hit_rate(analysis.hits[a:b], analysis.fps),
        tempo_bpm=bpm,
        onset_tempo_bpm=onset_bpm,
        pulse_clarity=clarity,
        onset_rate=rate,
        loudness_db=float(10 * np.log10(max(power.mean() if len(power) else 0.0, 1e-12))),
        key=key,
        mode=mode,
    )


def _brightness(treble: np.ndarray, power: np.ndarray) -> float:
    """The median treble share of the frames that sound (the quietest fifth, fades and gaps, left out)."""
    if not len(treble) or not np.any(power):
        return 0.0
    sounding = power > np.percentile(power, 20)
    return float(np.median(treble[sounding] if sounding.any() else treble))


def _hit_rate(hits: np.ndarray, fps: float) -> float:
    """Drum hits per second: frames that are a hit (`_HIT_SHARE`) and the peak of their neighbours."""
    if len(hits) < 3:
        return 0.0
    middle = hits[1:-1]
    peaks = (middle >= hits[:-2]) & (middle > hits[2:]) & (middle >= _HIT_SHARE)
    return float(peaks.sum() / (len(hits) / fps))


def describe(wave: np.ndarray, sr: int) -> Descriptors:
    """Descriptors of one whole mono signal."""
    return descriptors(analyse(wave, sr))
