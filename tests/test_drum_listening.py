"""The drum detector on the sound-effects network, as a library uses it: the scan's last pass listens to
every complete track for its embedding (tracks analysed before the network too, never analysed again), the
catalog measures q from it, keeps it while the file is the same and drops it with a changed file, a new fit
or another graph is handled without a full rescan, and what the results and the library list say follows
RULE-5 (engine/instruments.py)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from engine import instruments
from engine.library import Library, scanner
from engine.library.analysis import DrumListener, SkipFile, TrackAnalyzer, drum_sfx_key
from engine.library.scanner import Scanner
from engine.recommend.explain import Asked, why
from engine.recommend.prompt import parse_prompt
from engine.tags import TagIndex
from media import render_midi

ARRANGEMENT = {"bpm": 104, "program": 0, "melody": [60, 64, 67, 72, 67, 64], "bass": True, "seconds": 30.0}


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """A piano piece with a General MIDI kit and the same piece without."""
    folder = tmp_path_factory.mktemp("drum-listening")
    for drums in (True, False):
        render_midi(folder / f"piano-{'drums' if drums else 'none'}.ogg", drums=drums, **ARRANGEMENT)
    return folder


@pytest.fixture(scope="module")
def analyzer(bundle):
    return TrackAnalyzer(bundle, threads=None)


def columns(library: Library, *names: str) -> dict[str, tuple]:
    """Per file name, the catalog's columns `names` (read by SQL, as stored)."""
    with sqlite3.connect(library.catalog.path) as db:
        rows = db.execute(f"SELECT path, {', '.join(names)} FROM tracks").fetchall()
    return {os.path.basename(os.fsdecode(path)): tuple(values) for path, *values in rows}


def execute(library: Library, sql: str, *args) -> None:
    with sqlite3.connect(library.catalog.path) as db:
        db.execute(sql, args)


@pytest.fixture
def library(bundle, music, analyzer, tmp_path) -> Library:
    library = Library(tmp_path / "data", bundle)
    library.add_root(music)
    scan = Scanner(library.catalog, bundle, workers=0, analyzer=analyzer, quick=False)  # one analyzer for all
    report = scan.run()
    assert (report.indexed, report.listened) == (2, 2) and report.stages["listen"] > 0
    library.ensure_index()
    return library


def test_a_scan_stores_the_embedding_it_listened_for_and_q_follows_from_it(bundle, library):
    stored = columns(library, "drums", "drums_sfx", "drum_sfx", "drum_sfx_key", "drum_hits", "tag_peaks")
    key = drum_sfx_key(bundle)
    assert key and all(row[3] == key for row in stored.values())
    tags = TagIndex(bundle.tag_labels)
    for name, (_, q, vector, _, hits, peaks) in stored.items():
        pooled = np.frombuffer(vector, "<f2").astype(np.float32)
        assert pooled.shape == (1024,)  # the track's mean and busiest 5 windows, 512 each, in float16
        expected = instruments.sfx_drum_probability(pooled, hits, np.frombuffer(peaks, "<f2"), tags)
        assert q == pytest.approx(float(expected), abs=5e-4), name
    assert stored["piano-drums.ogg"][1] > stored["piano-none.ogg"][1] + 0.3
    # The index reads q beside p, and the library list says "drums" as RULE-5 does.
    index = library.open_index()
    assert np.isfinite(index.tracks["drums_sfx"]).all()
    details = library.catalog.track_details([int(i) for i in index.tracks["track"]])
    for record in details.values():
        said = "drums" in instruments.said_groups(record["tags"], record["drums"], record["drums_sfx"]).get(
            "instruments", {}
        )
        assert said == bool(instruments.drummed(record["drums"], record["drums_sfx"]))
    assert "drums" not in instruments.said_groups({}, *stored["piano-none.ogg"][:2]).get("instruments", {})


def test_tracks_analysed_before_the_network_are_listened_to_not_analysed_again(bundle, library, monkeypatch):
    """A catalog from before the network (its columns empty): the next scan, through worker processes (however
    few the tracks: a library's many), decodes each track for the network alone; their analyses, ids and scan
    times stay as they were."""
    monkeypatch.setattr(scanner, "LISTEN_HERE_UP_TO", 0)
    before = columns(library, "id", "scanned_at", "drums_sfx")
    execute(library, "UPDATE tracks SET drum_sfx = NULL, drum_sfx_key = NULL, drums_sfx = NULL")
    library.ensure_index()
    assert np.isnan(library.open_index().tracks["drums_sfx"]).all()  # unmeasured: p decides alone meanwhile

    report = library.scan(workers=1)
    assert (report.listened, report.indexed, report.failed) == (2, 0, 0) and report.changed
    after = columns(library, "id", "scanned_at", "drums_sfx")
    for name, (track_id, scanned_at, q) in before.items():
        # The same track, not analysed again; the same q but for bfloat16's rounding with other threads.
        assert after[name][:2] == (track_id, scanned_at) and after[name][2] == pytest.approx(q, abs=0.01)
    assert np.isfinite(library.open_index().tracks["drums_sfx"]).all() and library.index_is_current()
    assert library.scan(workers=0).listened == 0  # listened once


def test_a_full_rescan_keeps_the_embedding_of_an_unchanged_file_and_a_changed_file_is_listened_to_again(
    bundle, library, music
):
    before = columns(library, "drum_sfx", "drums_sfx")
    report = library.scan(workers=0, full=True)
    assert (report.indexed, report.listened) == (2, 0)
    assert columns(library, "drum_sfx", "drums_sfx") == before  # q measured again from it, the same
    changed = music / "piano-none.ogg"
    original = changed.read_bytes()
    try:
        render_midi(changed, drums=True, **ARRANGEMENT)  # the same name, now with a kit
        report = library.scan(workers=0)
        assert (report.indexed, report.listened) == (1, 1)
        after = columns(library, "drum_sfx", "drums_sfx")
        assert after["piano-none.ogg"][0] != before["piano-none.ogg"][0]
        assert after["piano-none.ogg"][1] > before["piano-none.ogg"][1] + 0.3
    finally:
        changed.write_bytes(original)
        library.scan(workers=0)


def test_a_new_fit_measures_q_again_from_stored_embeddings_without_the_files(bundle, library, music, tmp_path):
    before = columns(library, "drums_sfx")
    moved = tmp_path / "away"
    os.rename(music, moved)  # nothing can be decoded: q must come from what the catalog stored
    try:
        execute(library, "UPDATE tracks SET drums_sfx = 0.5")
        execute(library, "UPDATE revisions SET value = 0 WHERE name = 'drums_sfx'")
        library.ensure_index()
        assert columns(library, "drums_sfx") == before
        assert library.catalog.sfx_drums_version() == instruments.SFX_VERSION
    finally:
        os.rename(moved, music)


def test_another_graphs_embedding_is_not_read_and_is_listened_to_again(bundle, library):
    before = columns(library, "drums_sfx", "drum_sfx")
    execute(library, "UPDATE tracks SET drum_sfx_key = 'another graph'")
    library.ensure_index()
    assert all(q is None for q, _ in columns(library, "drums_sfx", "drum_sfx").values())
    assert library.scan(workers=0).listened == 2
    assert columns(library, "drums_sfx", "drum_sfx") == before


def test_a_track_without_the_first_detectors_inputs_is_left_for_its_next_analysis(library):
    """q also reads the busiest drum hits, which tracks scanned before they were stored lack: such a track is
    not listened to, and measuring q leaves the index as it is (no rebuild at every open)."""
    execute(
        library,
        "UPDATE tracks SET drum_hits = NULL, drum_sfx = NULL, drum_sfx_key = NULL, drums_sfx = NULL "
        "WHERE path LIKE '%none%'",
    )
    library.ensure_index()
    revision = library.catalog.index_revision()
    assert library.backfill_sfx_drums() == 0 and not library.ensure_index()
    assert library.catalog.index_revision() == revision and library.index_is_current()
    report = library.scan(workers=0)
    assert report.listened == 0 and report.indexed == 0


def test_a_file_the_network_cannot_hear_is_recorded_and_not_tried_again(library, monkeypatch):
    def deaf(self, path: bytes):
        raise SkipFile("audio stream is corrupt (a test's)")

    execute(library, "UPDATE tracks SET drum_sfx = NULL, drum_sfx_key = NULL, drums_sfx = NULL")
    monkeypatch.setattr(DrumListener, "__call__", deaf)
    report = library.scan(workers=0)
    assert (report.listened, report.unheard, report.failed) == (0, 2, 0)
    stored = columns(library, "drum_sfx", "drum_sfx_key", "drums_sfx")
    assert all(v == (None, drum_sfx_key(library.bundle), None) for v in stored.values())
    assert np.isnan(library.open_index().tracks["drums_sfx"]).all()  # the first detector decides alone
    assert library.scan(workers=0).unheard == 0  # not tried again until the file changes


def test_a_stop_asked_before_the_listening_pass_starts_none_of_it(bundle, library):
    execute(library, "UPDATE tracks SET drum_sfx = NULL, drum_sfx_key = NULL, drums_sfx = NULL")
    report = Scanner(library.catalog, bundle, workers=0, should_stop=lambda: True).run()
    assert report.cancelled and report.listened == 0


def test_an_embedding_heard_from_a_file_since_changed_is_not_stored(library, music):
    path = os.fsencode(music / "piano-drums.ogg")
    info = os.stat(path)
    pooled = np.zeros(1024, np.float32)
    assert not library.catalog.put_drum_sfx(path, info.st_size + 1, info.st_mtime_ns, pooled, "k")
    assert not library.catalog.put_drum_sfx(path, info.st_size, info.st_mtime_ns + 1, pooled, "k")
    assert library.catalog.put_drum_sfx(path, info.st_size, info.st_mtime_ns, pooled, "k")


def test_without_the_network_nothing_is_stored_or_listened_for(bundle, music, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEDROP_DRUM_SFX", "off")
    library = Library(tmp_path / "data", bundle)
    library.add_root(music)
    report = library.scan(workers=0)
    assert report.indexed == 2 and report.listened == 0 and "listen" not in report.stages
    assert all(v == (None, None) for v in columns(library, "drum_sfx", "drums_sfx").values())
    assert library.scan(workers=0).listened == 0


def test_the_why_says_what_rule_5_says(bundle):
    """A track the shipped detector calls drummed (p 0.95) where the network heard none (q 0.2): "no drums
    heard", never "has drums"; where q is unmeasured, p's verdict as before."""
    tags = TagIndex(bundle.tag_labels)
    asked = Asked("calm piano, no drums", parse_prompt("calm piano, no drums").constraints)
    peaks = np.zeros(len(bundle.tag_labels), np.float32)

    def said(p: float, q: float) -> str:
        track = {"tag_peaks": peaks, "tempo_bpm": 90.0, "drums": p, "drums_sfx": q, "duration": 60.0}
        return why(asked, ["piano"], {"tags": None}, track, tags)

    assert "no drums heard" in said(0.95, 0.2) and "has drums" not in said(0.95, 0.2)
    assert "has drums" in said(0.95, 0.7)
    assert "has drums" in said(0.95, float("nan")) and "no drums heard" in said(0.1, float("nan"))
    assert "drums" not in said(0.5, float("nan"))  # doubtful either way: nothing said
    unasked = Asked("calm piano", parse_prompt("calm piano").constraints)
    track = {"tag_peaks": peaks, "tempo_bpm": 90.0, "drums": 0.95, "drums_sfx": 0.2, "duration": 60.0}
    assert "drums" not in why(unasked, [], {"tags": None}, track, tags)
    assert "drums" in why(unasked, [], {"tags": None}, track | {"drums_sfx": 0.7}, tags)


def test_a_no_drums_chip_quotes_the_shipped_detectors_figure_for_the_tracks_not_listened_to(
    bundle, library, tmp_path, monkeypatch, capsys
):
    """Where the network has not heard a track, the shipped detector answers "no drums" for it, so the chip's
    reason gives that detector's figure too, with how many tracks it answers for, until the scan listens."""
    from engine.cli.main import main
    from engine.facade import Engine

    unheard = "drum_sfx = NULL, drum_sfx_key = NULL, drums_sfx = NULL"
    execute(library, f"UPDATE tracks SET {unheard} WHERE CAST(path AS TEXT) LIKE '%none%'")  # the drumless one
    library.ensure_index()
    engine = Engine(tmp_path / "data", bundle=bundle)
    try:
        first = f"{instruments.FIRST_NO_DRUMS_PRECISION:.0%} for the 1 track not listened to for drums"
        answer = engine.recommend(prompt="calm piano, no drums", k=2)
        (chip,) = answer.to_json()["prompt"]["constraints"]
        assert answer.unheard_drums == 1 and first in chip["reason"] and answer.to_json()["unheard_drums"] == 1
        assert first in engine.constraint_reason(answer.prompt.constraints[0], answer.unheard_drums)
        assert engine.status().unheard_drums == 1  # the app's chip before its first answer, from the catalog
        assert main(["--data-dir", str(tmp_path / "data"), "library", "status"]) == 0
        assert "1 track not listened to for drums yet" in capsys.readouterr().out

        assert engine.scan(workers=0).listened == 1
        answer = engine.recommend(prompt="calm piano, no drums", k=2)
        (chip,) = answer.to_json()["prompt"]["constraints"]
        assert answer.unheard_drums == 0 and "not listened" not in chip["reason"]
        assert engine.status().unheard_drums == 0

        monkeypatch.setenv("NEEDLEDROP_DRUM_SFX", "off")  # no track is ever listened to: none "not yet"
        answer = engine.recommend(prompt="calm piano, no drums", k=2)
        (chip,) = answer.to_json()["prompt"]["constraints"]
        assert answer.unheard_drums is None and "does not listen for drums here" in chip["reason"]
        assert engine.status().unheard_drums is None
    finally:
        engine.close()
