"""Pair sources: a folder of music videos and CSV/JSONL manifests."""

import json

import numpy as np
import pytest

from media import write_audio, write_music_video, write_video
from training.data.sources import pairs_from_manifest, pairs_from_music_videos


def test_music_videos_become_aligned_windows_of_their_own_soundtrack(tmp_path):
    frames = np.zeros((30 * 5, 48, 64, 3), np.uint8)  # 30 s at 5 fps
    sound = 0.1 * np.sin(np.arange(30 * 16000) / 16000 * 2 * np.pi * 220).astype(np.float32)
    write_music_video(tmp_path / "a.mp4", frames, 5, sound, 16000)
    (tmp_path / "sub").mkdir()
    write_music_video(tmp_path / "sub" / "b.mp4", frames[:40], 5, sound[: 8 * 16000], 16000)
    write_video(tmp_path / "silent.mp4", frames[:20], 5)  # no soundtrack: skipped
    (tmp_path / "notes.txt").write_text("not a video")

    pairs = pairs_from_music_videos(tmp_path, window=12.0)
    by_file = {}
    for p in pairs:
        by_file.setdefault(p.video, []).append(p)
    a, b = str(tmp_path / "a.mp4"), str(tmp_path / "sub" / "b.mp4")
    assert set(by_file) == {a, b}
    assert [(p.video_in, p.video_out) for p in by_file[a]] == [(0.0, 12.0), (12.0, 24.0)]
    assert all(p.music == p.video and (p.music_in, p.music_out) == (p.video_in, p.video_out) for p in pairs)
    assert len(by_file[b]) == 1 and by_file[b][0].video_out == pytest.approx(8.0, abs=0.2)  # short: one pair
    assert {p.group for p in by_file[a]} == {a}  # windows of one video stay on one side of the split


def test_csv_manifest_with_relative_paths_and_optional_columns(tmp_path):
    (tmp_path / "clips").mkdir()
    write_audio(tmp_path / "song.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "pairs.csv").write_text(
        "video,video_in,video_out,music,music_in,music_out,text\n"
        "clips/one.mp4,1.5,9,song.wav,30,42,warm acoustic guitar\n"
        "clips/two.mp4,,,song.wav,,,\n"
    )
    one, two = pairs_from_manifest(tmp_path / "pairs.csv")
    assert one.video == str(tmp_path / "clips" / "one.mp4") and one.music == str(tmp_path / "song.wav")
    assert (one.video_in, one.video_out, one.music_in, one.music_out) == (1.5, 9.0, 30.0, 42.0)
    assert one.text == "warm acoustic guitar"
    assert (two.video_in, two.video_out, two.text) == (0.0, None, None)


def test_jsonl_manifest(tmp_path):
    rows = [{"video": "/abs/v.mp4", "music": "m.flac", "music_in": 12, "text": "dark synth", "group": "film-1"}]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (pair,) = pairs_from_manifest(tmp_path / "pairs.jsonl")
    assert pair.video == "/abs/v.mp4" and pair.music_in == 12.0 and pair.group == "film-1"
    assert pair.feel is None


def test_a_manifest_row_carries_the_feel_its_music_was_made_with(tmp_path):
    row = {"video": "v.mp4", "music": "m.opus", "feel": {"energy": "high", "mood": "minor"}}
    (tmp_path / "pairs.jsonl").write_text(json.dumps(row) + "\n")
    (pair,) = pairs_from_manifest(tmp_path / "pairs.jsonl")
    assert pair.feel == {"energy": "high", "mood": "minor"}


@pytest.mark.parametrize(
    "row, message",
    [
        ("clip.mp4,abc,,song.wav,,,", "video_in must be a number"),
        (",,,song.wav,,,", "missing video"),
    ],
)
def test_bad_manifest_rows_name_the_line_and_column(tmp_path, row, message):
    (tmp_path / "pairs.csv").write_text("video,video_in,video_out,music,music_in,music_out,text\n" + row + "\n")
    with pytest.raises(ValueError, match=rf"pairs.csv:1: .*{message}"):
        pairs_from_manifest(tmp_path / "pairs.csv")
