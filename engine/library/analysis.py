"""One track, start to finish: tags and duration, decoding, backbone, heads, summaries.

Runs inside scan worker processes (one `TrackAnalyzer` per process, holding its ONNX sessions) and returns
plain records for the catalog, with the time each stage took for the benchmark.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import av
import numpy as np

from engine import affect, instruments
from engine.bundle import Bundle
from engine.bundle.manifest import AudioConfig
from engine.embedder import Embedder
from engine.errors import DecodeError
from engine.features import FeatureExtractor, Segment
from engine.library.records import SegmentRecord, TrackRecord
from engine.media import dsp, sfx_embedding
from engine.media.audio import iter_audio
from engine.media.beats import track_beats
from engine.media.container import reason
from engine.media.loudness import LoudnessMeter
from engine.tags import TagIndex, group_tags

MIN_SECONDS = 1.0  # shorter than this is a click or an empty file, not music
VOCAL_TAGS = (
    "vocal",
    "vocals",
    "singing",
    "voice",
    "male",
    "female",
    "woman",
    "man",
    "male vocal",
    "female vocal",
    "male voice",
    "female voice",
    "female vocalists",
    "male vocalists",
    "female vocalist",
    "choir",
    "opera",
)
INSTRUMENTAL_TAGS = ("no vocals", "no vocal", "no voice", "instrumental")


# A quick pass (scanner.py) makes a track searchable from one window a little past a third of the way in
# (past most intros, often in a chorus): tempo, key, loudness and the descriptors from QUICK_SECONDS of it,
# the embedding and tags from its first QUICK_PATCHES patches (3 s each; a segment has 4). The backbone is
# most of the cost. tests/bench/bench_quick.py first measured 1 patch within the 20 minutes asked for 10,000
# tracks on 2 cores and 2 patches past it; since the backbone got faster, 2 patches (the whole window) take
# 4.5 minutes in bfloat16 and about 6 in float32, and their embedding finds its own track first for 73 % of
# recordings against 47-50 % for 1.
QUICK_SECONDS = 6.0
QUICK_PATCHES = 2
QUICK_AT = 0.4
# Shorter tracks are analysed whole even in a quick pass: a window would save little.
QUICK_ONLY_OVER = 45.0


def quick_window(declared: float | None, audio: AudioConfig) -> tuple[float, float] | None:
    """The (start, end) seconds a quick pass decodes, or None when the whole track should be analysed.

    The start is on the segment grid (a multiple of the segment hop), so the full analysis has a segment that
    starts there too: a result that names the quick window still finds its segment once the track is complete.
    """
    if not declared or declared < QUICK_ONLY_OVER:
        return None
    hop = audio.segment_hop_seconds
    start = hop * round(QUICK_AT * declared / hop)
    start = min(start, hop * ((declared - audio.segment_seconds) // hop))
    return start, start + QUICK_SECONDS


def drum_sfx_key(bundle: Bundle) -> str | None:
    """What `bundle`'s drum detector network computes (GraphSpec.computes), kept beside each embedding it
    gives; None where the bundle has no such network."""
    graph = bundle.manifest.graphs.get(sfx_embedding.ROLE)
    return graph.computes if graph is not None and bundle.manifest.preprocessing.drum_sfx is not None else None


def listens_for_drums(bundle: Bundle) -> bool:
    """Whether a scan with `bundle` runs the drum detector's network (engine/media/sfx_embedding.py): where
    the bundle has it, unless NEEDLEDROP_DRUM_SFX is off (tests/bench/bench_library.py measures the scan both
    ways; its tracks then keep the shipped detector's verdict alone)."""
    if os.environ.get("NEEDLEDROP_DRUM_SFX", "on").strip().lower() in {"0", "off", "no", "false"}:
        return False
    return drum_sfx_key(bundle) is not None


class SkipFile(Exception):
    """The file cannot be indexed; the message is the reason recorded for it."""


class Silent(SkipFile):
    """The file holds no sound: unlike a file that cannot be read now, what the catalog had for it goes."""


@dataclass
class TrackResult:
    track: TrackRecord
    segments: list[SegmentRecord]
    # Seconds per stage: decode, descriptors, backbone, head (the catalog write is timed by the scanner).
    times: dict[str, float] = field(default_factory=dict)


def read_tags(path: str) -> dict[str, str | float | None]:
    """Title, artist, album (container or stream tags, whichever the format uses) and declared duration.

    Tags are UTF-8 in current formats; older files (RIFF INFO chunks, ID3v1) often carry Latin-1, which is
    read as such rather than failing the file."""
    try:
        return _read_tags(path, "utf-8")
    except UnicodeDecodeError:
        return _read_tags(path, "latin-1")  # decodes any bytes: a legacy tag is read, never the file refused


def _read_tags(path: str, encoding: str) -> dict[str, str | float | None]:
    with av.open(path, metadata_encoding=encoding) as container:
        found: dict[str, str] = {}
        for source in [container.metadata, *(s.metadata for s in container.streams.audio)]:
            for key, value in source.items():
                found.setdefault(key.lower(), value)
        duration = container.duration / av.time_base if container.duration else None
    return {k: (found.get(k) or None) for k in ("title", "artist", "album")} | {"declared": duration}


def declared_seconds(path: str) -> float:
    """The duration the file's container declares, or 0 when it declares none or cannot be read (whatever the
    reason: the file's own analysis records it; this only plans the scan)."""
    try:
        return read_tags(path)["declared"] or 0.0
    except Exception:
        return 0.0


def vocal_score(tags: dict[str, float]) -> float:
    """0 instrumental .. 1 sung, from musicnn's voice tags against its no-voice tags."""
    voice = max((tags.get(t, 0.0) for t in VOCAL_TAGS), default=0.0)
    none = max((tags.get(t, 0.0) for t in INSTRUMENTAL_TAGS), default=0.0)
    return float(voice / (voice + none)) if voice + none > 0 else 0.5


class DrumListener:
    """The drum detector's network for the scan's last pass (scanner.py), loaded once per worker: a track the
    scan has analysed is decoded again at the network's rate for it, nothing else. A pass of its own, as the
    network costs two fifths to all of the analysis again (tests/bench/bench_library.py)."""

    def __init__(self, bundle: Bundle, *, threads: int | None = 1):
        self.key = drum_sfx_key(bundle)
        if self.key is None:
            raise ValueError(f"bundle {bundle.id} has no drum detector network")
        # In bfloat16 where the CPU computes it, as the music backbone (q moves by under 0.01), else in int8 on
        # a CPU with VNNI (under 0.03): sfx_embedding.graph_here.
        self.embedder = sfx_embedding.SfxEmbedder(bundle, threads=threads, reduced=True)

    def __call__(self, path: bytes) -> np.ndarray:
        """The track's pooled embedding (sfx_embedding.pooled), the detector's input."""
        name = os.fsdecode(path)
        try:
            windows = self.embedder.embed_file(name)
        except DecodeError as exc:
            raise SkipFile(str(exc).removeprefix(f"{name}: ")) from exc
        except (av.error.FFmpegError, OSError) as exc:
            raise SkipFile(f"not a readable media file ({reason(exc)})") from exc
        return sfx_embedding.pooled(windows, instruments.SFX_SEGMENT)


class TrackAnalyzer:
    def __init__(self, bundle: Bundle, *, threads: int | None = 1):
        self.bundle = bundle
        self.extractor = FeatureExtractor(bundle, threads=threads)
        self.embedder = Embedder(bundle, self.extractor, threads=threads)
        self.tag_names = self.extractor.tag_names
        self.tags = TagIndex(self.tag_names)

    def __call__(self, path: bytes, size: int, mtime_ns: int, *, quick: bool = False) -> TrackResult:
        """The whole track's analysis; with `quick`, a provisional one from one window (`quick_window`), or the
        whole analysis when the track is too short for a window to save anything."""
        name = os.fsdecode(path)
        if size == 0:
            raise SkipFile("empty file (0 bytes)")
        times: dict[str, float] = {}
        start = time.perf_counter()
        try:
            info = read_tags(name)
        except (av.error.FFmpegError, OSError) as exc:
            raise SkipFile(f"not a readable media file ({reason(exc)})") from exc
        times["decode"] = time.perf_counter() - start
        declared = info["declared"]
        audio = self.extractor.pre.audio
        window = quick_window(declared, audio) if quick else None
        meter = LoudnessMeter(audio.sample_rate)
        offset, end = window or (0.0, None)
        pieces = iter_audio(name, audio, offset, end, chunk_samples=self.extractor.chunk_samples, meter=meter)
        try:
            music = self.extractor.music_chunks(
                pieces, times, patches=QUICK_PATCHES if window else None, beats=not window
            )
        except DecodeError as exc:
            raise SkipFile(str(exc).removeprefix(f"{name}: ")) from exc
        if window and music.duration < 0.9 * (end - offset):
            # The container's duration overstated the audio: the full analysis measures what is there.
            raise SkipFile(f"the quick window at {offset:.0f} s decodes only {music.duration:.1f} s")
        if music.duration < MIN_SECONDS:
            raise SkipFile(f"only {music.duration:.2f} s of audio")
        if not window and declared and music.duration < 0.5 * declared:
            raise SkipFile(f"truncated: only {music.duration:.0f} of {declared:.0f} s decode")

        start = time.perf_counter()
        # A quick window is one segment, however long the bundle's segments are: its only chance to be found.
        segments = [Segment(0.0, music.duration, slice(0, QUICK_PATCHES))] if window else music.segments()
        # Silence is no music to offer: a silent part (a gap before a hidden track, a long tail) is left out
        # of the index and of the track's tags and feel, and a file that is silence throughout is skipped (a
        # silent quick window is skipped too, and the full analysis then looks at the whole file).
        segments = [s for s in segments if not music.descriptors(s).silent]
        if not segments and meter.integrated() is None:  # every channel below the gate too
            raise Silent(f"silent: no part of it is louder than {dsp.SILENT_DB:.0f} dBFS")
        if not segments:
            raise SkipFile("its channels cancel out: the mono mix the analysis hears is silent")
        vectors = self.embedder.embed_segments(music, segments)
        times["head"] = time.perf_counter() - start
        record, segment_records = self._records(path, size, mtime_ns, info, music, segments, vectors, meter, times)
        if window:
            record = dataclasses.replace(record, duration=declared, beats=None, quick=True)
            segment_records = [
                dataclasses.replace(s, start=s.start + offset, end=s.end + offset) for s in segment_records
            ]
        return TrackResult(record, segment_records, times)

    def _records(self, path, size, mtime_ns, info, music, segments, vectors, meter, times):
        start = time.perf_counter()
        audible = np.unique(np.concatenate([np.arange(len(music.tags))[s.patches] for s in segments]))
        means = music.tags[audible].mean(axis=0)
        tags = dict(zip(self.tag_names, means.tolist()))
        segment_tags = np.stack([music.tags[s.patches].mean(axis=0) for s in segments])
        segment_vocals = [vocal_score(dict(zip(self.tag_names, t.tolist()))) for t in segment_tags]
        overall = music.overall
        measured = [music.descriptors(s) for s in segments]
        tempos = np.array([d.tempo_bpm or np.nan for d in measured], np.float32)
        bright = np.array([d.brightness for d in measured], np.float32)
        modes = np.full(len(segments), overall.mode)
        energy, mood = affect.of_segments(segment_tags, self.tags, modes)
        busiest_hits = max(d.drum_hits for d in measured)  # drums in one part count
        beats = track_beats(music.analysis, overall)
        # Music with no steady pulse (a drone, held tones) has no beats to follow, so no tempo either: the
        # list, the results, the tempo words and the beats all say the same, not a number found in noise.
        pulse = beats.bpm > 0
        if not pulse:
            tempos[:] = np.nan
        record = TrackRecord(
            path=path,
            size=size,
            mtime_ns=mtime_ns,
            bundle_id=self.bundle.id,
            duration=music.duration,
            title=info["title"],
            artist=info["artist"],
            album=info["album"],
            tempo_bpm=(round(overall.tempo_bpm, 1) or None) if pulse else None,
            musical_key=overall.key,
            mode=round(overall.mode, 3),
            loudness_db=round(overall.loudness_db, 1),
            loudness_lufs=None if (lufs := meter.integrated()) is None else round(lufs, 1),
            vocal_score=round(vocal_score(tags), 3),
            tags={g: {k: round(v, 3) for k, v in names.items()} for g, names in group_tags({"tags": tags}).items()},
            tag_means=means,
            tag_peaks=segment_tags.max(axis=0),
            vocal_peak=round(max(segment_vocals), 3),
            beats=beats,
            energy=round(float(energy.mean()), 3),
            mood=round(float(mood.mean()), 3),
            drum_hits=round(busiest_hits, 3),
            drums=round(float(instruments.drum_probability(busiest_hits, segment_tags.max(axis=0), self.tags)), 3),
        )
        segment_records = [
            SegmentRecord(
                s.start,
                s.end,
                round(float(bpm), 1) if bpm > 0 else None,
                v,
                t,
                round(voc, 3),
                round(float(e), 3),
                round(float(m), 3),
                round(float(b), 5),
            )
            for s, bpm, v, t, voc, e, m, b in zip(
                segments, np.nan_to_num(tempos), vectors, segment_tags, segment_vocals, energy, mood, bright
            )
        ]
        times["descriptors"] = times.get("descriptors", 0.0) + time.perf_counter() - start
        return record, segment_records
