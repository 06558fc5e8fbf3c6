"""Base features of clips, music and text through the bundle's backbones.

The single place where media becomes model input: the library scan, clip encoding and training all call
these functions, so the heads are trained on exactly what the app feeds them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.backbones import FrameBackbone, MusicBackbone, TextBackbone
from engine.bundle import Bundle
from engine.bundle.manifest import AudioConfig
from engine.media import dsp
from engine.media.audio import iter_audio
from engine.media.beat_activation import BeatTracker
from engine.media.video import sample_clip

# Bump when the code here or in engine.media changes what features come out, so caches recompute.
FEATURES_VERSION = 8  # 4: the mode reads the bass; segments carry their brightness. 5: one tempo per track.
# 6: frames cropped before scaling, cue and thumbnail downscales through 2x2 averages (within a stated tolerance)
# 7: keys spelt as musicians write them ("Bb major", dsp.key_name), which the training texts name
# 8: tempo from the beat tracker's activation (engine.media.beat_activation)
MUSIC_FEATURES = ("mtt_features", "msd_features")  # concatenated per patch: the music head's input
MUSIC_TAGS = ("mtt_tags", "msd_tags")


@dataclass(frozen=True)
class ClipFeatures:
    frames: np.ndarray  # (T, frame features) float32
    cues: np.ndarray  # (T, cues) float32
    times: np.ndarray  # (T,) seconds
    duration: float  # of the whole file


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the analysed audio
    end: float
    patches: slice  # rows of MusicFeatures.patches


@dataclass(frozen=True)
class MusicFeatures:
    """Patch-level features of a run of audio (a whole track, or one range of it)."""

    patches: np.ndarray  # (P, 400) musicnn MTT + MSD penultimate features
    tags: np.ndarray  # (P, 100) MTT then MSD tag probabilities
    analysis: dsp.TrackAnalysis
    config: AudioConfig

    @property
    def duration(self) -> float:
        return self.analysis.duration

    def segments(self) -> list[Segment]:
        """Windows of whole patches: `segment_seconds` long every `segment_hop_seconds`, tail included."""
        cfg = self.config
        patch_s = cfg.patch_hop_samples / cfg.sample_rate
        size = max(1, round(cfg.segment_seconds / patch_s))
        hop = max(1, round(cfg.segment_hop_seconds / patch_s))
        count = len(self.patches)
        starts = list(range(0, max(count - size, 0) + 1, hop))
        if starts[-1] + size < count:  # the end of the track gets a window of its own
            starts.append(count - size)
        return [
            Segment(a * patch_s, min((a + size) * patch_s, self.duration), slice(a, min(a + size, count)))
            for a in starts
        ]

    @cached_property
    def overall(self) -> dsp.Descriptors:
        """Descriptors of the whole run of audio."""
        return dsp.descriptors(self.analysis)

    def descriptors(self, segment: Segment) -> dsp.Descriptors:
        """A segment's descriptors, its tempo at the metrical level of the whole (one tempo per track)."""
        # Measured once: the music head reads them, then the catalog records them.
        key = (segment.start, segment.end)
        if key not in self._measured:
            self._measured[key] = dsp.descriptors(self.analysis, segment.start, segment.end, self.overall)
        return self._measured[key]

    @cached_property
    def _measured(self) -> dict[tuple[float, float], dsp.Descriptors]:
        return {}


class FeatureExtractor:
    """Backbone sessions are created on first use, so a job that only needs music never loads the others."""

    def __init__(self, bundle: Bundle, *, threads: int | None = None):
        self.bundle = bundle
        self.threads = threads
        self.pre = bundle.manifest.preprocessing

    @cached_property
    def frame_backbone(self) -> FrameBackbone:
        return FrameBackbone(self.bundle, threads=self.threads)

    @cached_property
    def music_backbone(self) -> MusicBackbone:
        return MusicBackbone(self.bundle, threads=self.threads)

    @cached_property
    def text_backbone(self) -> TextBackbone:
        return TextBackbone(self.bundle, threads=self.threads)

    @cached_property
    def beat_tracker(self) -> BeatTracker:
        return BeatTracker(self.bundle, threads=self.threads)

    def _with_beats(self, analysis: dsp.TrackAnalysis, beats) -> dsp.TrackAnalysis:
        activation = beats.finish()
        return dataclasses.replace(
            analysis, beats=activation.beat, downbeats=activation.downbeat, beat_fps=self.beat_tracker.fps
        )

    def clip(self, path: str | os.PathLike[str], start: float = 0.0, end: float | None = None) -> ClipFeatures:
        sampled = sample_clip(path, self.pre.video, start, end)
        features = self.frame_backbone(sampled.frames).features
        return ClipFeatures(features, sampled.cues, sampled.times, sampled.duration)

    @property
    def chunk_samples(self) -> int | None:
        """Decoding piece size: 16 patch hops (48 s at 3 s, a multiple of the descriptors' hops too).

        Pieces must not split a patch, which only patches no longer than their hop guarantee; otherwise
        whole files.
        """
        audio = self.pre.audio
        return 16 * audio.patch_hop_samples if audio.patch_hop_samples >= audio.patch_samples else None

    def analysis(self, path: str | os.PathLike[str]) -> dsp.TrackAnalysis:
        """The descriptors' frame-level analysis of a whole file, decoded in the scan's pieces, with the beat
        tracker's activation but without the music backbone (a track's beats, the tempo benches)."""
        audio = self.pre.audio
        beats, analyses = self.beat_tracker.track(), []
        for wave in iter_audio(path, audio, chunk_samples=self.chunk_samples):
            analyses.append(dsp.analyse(wave, audio.sample_rate))
            beats.push(wave)
        return self._with_beats(dsp.concat(analyses), beats)

    def music(self, wave: np.ndarray) -> MusicFeatures:
        return self.music_chunks([wave])

    def music_chunks(
        self, chunks, times: dict[str, float] | None = None, *, patches: int | None = None, beats: bool = True
    ) -> MusicFeatures:
        """Features of consecutive pieces of one signal (see `iter_audio`), without holding all of it; with
        `patches`, the backbone hears the first that many patches only (the descriptors hear everything);
        without `beats`, the tempo is the onset envelope's, not the beat tracker's (a quick pass's window,
        whose tempo is provisional: the tracker would cost a third of its time).

        `times`, if given, accumulates seconds spent in "decode" (pulling pieces), "backbone" and "descriptors".
        """
        times = {} if times is None else times
        backbone = self.music_backbone
        features, tags, analyses = [], [], []
        tracked = self.beat_tracker.track() if beats else None
        left = patches
        stride = self.pre.audio.patch_stride
        pieces = iter(chunks)
        while True:
            t0 = time.perf_counter()
            wave = next(pieces, None)
            t1 = time.perf_counter()
            if wave is None:
                break
            cut = backbone.patches(wave)[:left]
            if len(cut):
                out = backbone(cut[::stride])
                for rows, names in ((features, MUSIC_FEATURES), (tags, MUSIC_TAGS)):
                    heard = np.concatenate([out[k] for k in names], axis=1)
                    rows.append(np.repeat(heard, stride, axis=0)[: len(cut)])
                left = None if left is None else left - len(cut)
            t2 = time.perf_counter()
            analyses.append(dsp.analyse(wave, self.pre.audio.sample_rate))
            if tracked:
                tracked.push(wave)
            t3 = time.perf_counter()
            for stage, seconds in (("decode", t1 - t0), ("backbone", t2 - t1), ("descriptors", t3 - t2)):
                times[stage] = times.get(stage, 0.0) + seconds
        times["decode"] = times.get("decode", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        analysis = self._with_beats(dsp.concat(analyses), tracked) if tracked else dsp.concat(analyses)
        times["descriptors"] = times.get("descriptors", 0.0) + time.perf_counter() - t0
        return MusicFeatures(np.concatenate(features), np.concatenate(tags), analysis, self.pre.audio)

    def music_file(self, path: str | os.PathLike[str], start: float = 0.0, end: float | None = None) -> MusicFeatures:
        return self.music_chunks(iter_audio(path, self.pre.audio, start, end, self.chunk_samples))

    def text(self, texts: list[str]) -> list[np.ndarray]:
        """Token features per text, padding removed: a list of (tokens, 384) arrays."""
        return self.text_with_sentences(texts)[0]

    def text_with_sentences(self, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Token features per text (padding removed) and each text's unit sentence embedding, in one pass."""
        if not texts:
            return [], np.zeros((0, 0), np.float32)
        out = self.text_backbone(texts)
        tokens = [t[mask.astype(bool)] for t, mask in zip(out.token_features, out.attention_mask)]
        return tokens, out.sentence_embedding

    @property
    def tag_names(self) -> tuple[str, ...]:
        return self.bundle.tag_labels
