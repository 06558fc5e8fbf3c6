"""The benches' ground truth: the written beats and bars a MIDI file's tempo map and time signatures give
(tests/bench/bench_beats.py), which the beat and downbeat figures in docs/quality.md are counted against, and
the tempi a folder of recordings is measured against (tests/bench/bench_tempo.py --folder), and the
instruments (tests/bench/bench_instruments.py --folder)."""

import json

import mido
import numpy as np
import pytest
from bench.bench_beats import midi_grid
from bench.bench_instruments import LISTED, drum_truth, listed_folder, lists_tag
from bench.bench_tempo import verdict, written_folder


def piece(*bars: tuple[int, int, int]) -> mido.MidiFile:
    """One track at 120 BPM, 480 ticks a quarter: for each (numerator, denominator, count), that many bars of
    that signature, a note at the start of each."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    for numerator, denominator, count in bars:
        track.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0))
        length = 480 * 4 * numerator // denominator
        for _ in range(count):
            track += [mido.Message("note_on", note=60, velocity=90, time=0)]
            track += [mido.Message("note_off", note=60, velocity=0, time=length)]
    midi.tracks.append(track)
    return midi


def test_every_bar_starts_on_a_written_beat_after_a_pickup_of_an_eighth():
    # Simutrans's "Last Sunday" opens with a bar of 1/8: counting quarters from tick 0 put every later
    # beat an eighth off the bars.
    grid = midi_grid(piece((1, 8, 1), (4, 4, 3)), duration=60.0)
    assert grid.bars[:4] == pytest.approx([0.0, 0.25, 2.25, 4.25])
    assert grid.beats[:6] == pytest.approx([0.0, 0.25, 0.75, 1.25, 1.75, 2.25])
    assert np.isin(np.round(grid.bars, 6), np.round(grid.beats, 6)).all()


def test_a_piece_in_whole_quarters_keeps_a_beat_every_quarter_note_from_zero():
    grid = midi_grid(piece((4, 4, 2), (3, 4, 2)), duration=60.0)
    assert grid.bars[:5] == pytest.approx([0.0, 2.0, 4.0, 5.5, 7.0])
    assert np.diff(grid.beats[:14]) == pytest.approx(np.full(13, 0.5))


def test_a_folders_written_tempi_are_read_and_a_missing_file_or_an_unwritten_tempo_refused(tmp_path):
    (tmp_path / "a.mp3").write_bytes(b"")
    (tmp_path / "tempi.json").write_text(json.dumps({"a.mp3": 134}))
    assert written_folder(tmp_path) == {"a.mp3": 134.0}
    (tmp_path / "tempi.json").write_text(json.dumps({"a.mp3": 134, "b.mp3": 90}))
    with pytest.raises(SystemExit, match="b.mp3"):
        written_folder(tmp_path)
    # incompetech's catalogue writes 0 for a piece in free time: no tempo to be right about
    (tmp_path / "tempi.json").write_text(json.dumps({"a.mp3": 0}))
    with pytest.raises(SystemExit, match="no tempo written for a.mp3"):
        written_folder(tmp_path)


def test_a_tempo_is_right_within_4_percent_and_a_metrical_level_is_named():
    assert verdict(130.1, 130.0) == "right"
    assert verdict(168.1, 84.0) == "double"
    assert verdict(44.5, 89.0) == "half"
    assert verdict(100.0, 130.0) == "wrong"


def test_a_folders_listed_instruments_give_each_tag_and_the_drums_their_truth(tmp_path):
    lists = {
        "kit.mp3": ["Drum Kit", "Electric Piano"],
        "shakers.mp3": ["marimbas", "shakers"],  # percussion, in the plural
        "chiptune.mp3": ["synths"],  # a synth may play the beat: says nothing of drums
        "dreamlike.mp3": ["piano", "oboe", "synth bells"],  # ... but synth bells play none
        "quartet.mp3": ["violins", "viola", "cello"],
        "electro.mp3": ["synths", "percussion", "EP"],
        "odd.mp3": ["clarinet. percussion", "bass guitar"],  # a list's typo: each item's words count too
        "band.mp3": ["guitar", "bass guitar", "drums"],
    }
    for name in lists:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "instruments.json").write_text(json.dumps(lists))
    listed = listed_folder(tmp_path)
    names = list(listed)
    drummed, known = drum_truth([listed[n] for n in names])
    assert {n for n, d in zip(names, drummed) if d} == {"kit.mp3", "shakers.mp3", "electro.mp3", "odd.mp3", "band.mp3"}
    assert [n for n, k in zip(names, known) if not k] == ["chiptune.mp3"]
    has = {tag: sorted(n for n in names if lists_tag(listed[n], tag)) for tag in LISTED}
    assert has == {
        "piano": ["dreamlike.mp3", "electro.mp3", "kit.mp3"],  # an electric piano, "EP" too
        "guitar": ["band.mp3"],  # a bass guitar alone is no guitar
        "strings": ["quartet.mp3"],
        "synth": ["chiptune.mp3", "dreamlike.mp3", "electro.mp3"],
    }
    (tmp_path / "kit.mp3").unlink()
    with pytest.raises(SystemExit, match="kit.mp3"):
        listed_folder(tmp_path)
