"""Collecting the music for an editor: copies of what it imports, lossless WAV of the rest, written once."""

import contextlib
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.collect import MANIFEST, READS, Collected, collect, editor_reads
from engine.export import FORMATS, ExportError
from media import write_audio

SECONDS = 2.0


def tones(rate: int, channels: int, seconds: float = SECONDS) -> np.ndarray:
    """(channels, n): a different pitch in each channel, so a swap or a mix-down would show."""
    t = np.arange(round(seconds * rate)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * (440 + 220 * c) * t) for c in range(channels)]).astype(np.float32)


def write_flac_24(path: Path, samples: np.ndarray, rate: int) -> Path:
    """A 24-bit FLAC: FFmpeg's encoder makes 24-bit FLAC of 32-bit integer samples."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        stream.codec_context.format = "s32"  # else PyAV converts the frames to the codec's first format, s16
        ints = (np.clip(samples, -1, 1) * (2**23 - 1)).astype(np.int32) << 8
        for start in range(0, ints.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(ints[:, start : start + 4096]), "s32", "mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def decode(path: str | Path) -> tuple[int, int, str, np.ndarray]:
    """(sample rate, channels, codec, (channels, n) float64 samples) of the file's first audio stream."""
    with av.open(os.fsdecode(path)) as container:
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="fltp")
        blocks = [f.to_ndarray() for frame in container.decode(stream) for f in to_float.resample(frame)]
        blocks += [f.to_ndarray() for f in to_float.resample(None)]
        samples = np.concatenate(blocks, axis=1).astype(np.float64)
        return stream.codec_context.sample_rate, samples.shape[0], stream.codec_context.name, samples


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("library")
    write_audio(root / "tone.opus", tones(48000, 2), 48000)
    write_audio(root / "tone.ogg", tones(44100, 2), 44100)
    write_audio(root / "tone.flac", tones(44100, 1), 44100)  # 16-bit
    write_flac_24(root / "tone24.flac", tones(32000, 1), 32000)
    write_audio(root / "tone.wav", tones(44100, 1), 44100)
    write_audio(root / "tone.mp3", tones(44100, 1), 44100)
    write_audio(root / "tone.m4a", tones(48000, 1), 48000)
    return root


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_table_covers_every_timeline_format():
    assert set(READS) == set(FORMATS)
    assert READS["otio"] is None
    assert editor_reads("a/b/Song.WAV", "fcp7") and editor_reads("song.aiff", "fcpx")
    assert editor_reads("song.caf", "fcpx") and not editor_reads("song.caf", "fcp7")
    assert not any(
        editor_reads(f"song{ext}", fmt) for ext in (".opus", ".ogg", ".flac", ".wma") for fmt in ("fcp7", "fcpx")
    )
    assert editor_reads("song.opus", "otio") and editor_reads("song", "otio")
    assert not editor_reads("song.wav", "edl")  # an EDL carries no music: nothing is imported from one
    with pytest.raises(ExportError, match="unknown timeline format 'aaf'"):
        editor_reads("song.wav", "aaf")


@pytest.mark.parametrize("fmt", ["fcp7", "fcpx"])
@pytest.mark.parametrize(
    ("name", "rate", "channels", "codec"),
    [
        ("tone.opus", 48000, 2, "pcm_s24le"),
        ("tone.ogg", 44100, 2, "pcm_s24le"),
        ("tone.flac", 44100, 1, "pcm_s16le"),
        ("tone24.flac", 32000, 1, "pcm_s24le"),
    ],
)
def test_what_the_editor_cannot_import_becomes_a_lossless_wav_at_its_own_rate(
    library, tmp_path, fmt, name, rate, channels, codec
):
    source = library / name
    result = collect(str(source), tmp_path / "collected", fmt)
    assert result == Collected(str(source), str(tmp_path / "collected" / (source.stem + ".wav")), True)
    got_rate, got_channels, got_codec, wav = decode(result.path)
    assert (got_rate, got_channels, got_codec) == (rate, channels, codec)
    _, _, _, decoded = decode(source)
    assert wav.shape == decoded.shape  # every sample the decoder gives, no more, no fewer
    # Lossless from the decode: 16-bit sources exactly, the rest to within 24-bit rounding.
    assert np.abs(wav - decoded).max() <= (0 if codec == "pcm_s16le" else 2**-22)
    # The same music, channel for channel (lossy codecs shift it by their delay, so no sample-wise comparison).
    for c, heard in enumerate(wav):
        assert np.argmax(np.abs(np.fft.rfft(heard))) * rate / len(heard) == pytest.approx(440 + 220 * c, abs=2)
        assert np.sqrt(np.mean(heard**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize(("name", "fmt"), [("tone.wav", "fcp7"), ("tone.mp3", "fcp7"), ("tone.m4a", "fcpx")])
def test_what_the_editor_imports_is_copied_byte_for_byte(library, tmp_path, name, fmt):
    result = collect(str(library / name), tmp_path, fmt)
    assert result == Collected(str(library / name), str(tmp_path / name), False)
    assert Path(result.path).read_bytes() == (library / name).read_bytes()


def test_otio_copies_everything_as_it_is(library, tmp_path):
    for name in ("tone.opus", "tone.ogg", "tone.flac", "tone.wav"):
        result = collect(str(library / name), tmp_path, "otio")
        assert not result.transcoded and result.path == str(tmp_path / name)
        assert Path(result.path).read_bytes() == (library / name).read_bytes()


def test_a_file_already_in_the_folder_is_used_where_it_is(library, tmp_path):
    shutil.copy(library / "tone.wav", tmp_path / "tone.wav")
    result = collect(str(tmp_path / "tone.wav"), tmp_path, "fcp7")
    assert result == Collected(str(tmp_path / "tone.wav"), str(tmp_path / "tone.wav"), False)
    assert files(tmp_path) == ["tone.wav"]


def test_the_folder_is_made_with_its_parents(library, tmp_path):
    result = collect(str(library / "tone.flac"), tmp_path / "a" / "b" / "music", "fcp7")
    assert Path(result.path).is_file() and Path(result.path).parent == tmp_path / "a" / "b" / "music"


def test_a_file_where_the_folder_should_be_is_one_clear_error(library, tmp_path):
    (tmp_path / "music").write_text("not a folder")
    for folder in (tmp_path / "music", tmp_path / "music" / "sub"):
        with pytest.raises(ExportError, match=r"tone\.wav into .*music.*: a file is in the way"):
            collect(str(library / "tone.wav"), folder, "fcp7")


def test_collecting_again_reuses_what_is_up_to_date(library, tmp_path):
    first = [collect(str(library / name), tmp_path, "fcpx") for name in ("tone.opus", "tone.wav")]
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert set(before) == {"tone.wav", "tone (2).wav", MANIFEST}  # the Opus's WAV came first
    again = [collect(str(library / name), tmp_path, "fcpx") for name in ("tone.opus", "tone.wav")]
    assert again == first
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before  # nothing rewritten


def test_a_changed_source_is_converted_again_under_the_same_name(library, tmp_path):
    source = tmp_path / "song.flac"
    shutil.copy(library / "tone.flac", source)
    folder = tmp_path / "collected"
    first = collect(str(source), folder, "fcp7")
    write_audio(source, tones(44100, 1, seconds=1.0), 44100)
    second = collect(str(source), folder, "fcp7")
    assert second == first and files(folder) == [MANIFEST, "song.wav"]
    assert decode(second.path)[3].shape == (1, 44100)


def test_a_name_taken_by_another_file_gets_a_number(library, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(library / "tone.flac", tmp_path / d / "song.flac")
    write_audio(tmp_path / "b" / "song.flac", tones(44100, 1, seconds=1.0), 44100)
    folder = tmp_path / "collected"
    a = collect(str(tmp_path / "a" / "song.flac"), folder, "fcp7")
    b = collect(str(tmp_path / "b" / "song.flac"), folder, "fcp7")
    assert (Path(a.path).name, Path(b.path).name) == ("song.wav", "song (2).wav")
    assert decode(a.path)[3].shape == (1, 88200) and decode(b.path)[3].shape == (1, 44100)
    # Each keeps its own name on the next export.
    assert collect(str(tmp_path / "b" / "song.flac"), folder, "fcp7") == b
    assert collect(str(tmp_path / "a" / "song.flac"), folder, "fcp7") == a


def test_a_file_the_folder_did_not_get_from_us_is_never_overwritten(library, tmp_path):
    (tmp_path / "tone.wav").write_bytes(b"the editor's own file")
    result = collect(str(library / "tone.ogg"), tmp_path, "fcp7")
    assert Path(result.path).name == "tone (2).wav"
    assert (tmp_path / "tone.wav").read_bytes() == b"the editor's own file"


def test_a_name_that_is_not_utf8_is_collected(library, tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.flac"  # Latin-1 bytes: not valid UTF-8
    shutil.copy(library / "tone.flac", raw)
    folder = tmp_path / "collected"
    result = collect(os.fsdecode(raw), folder, "fcp7")
    assert os.fsencode(result.path) == os.fsencode(folder) + b"/caf\xe9.wav"
    assert decode(result.path)[3].shape == (1, 88200)
    assert collect(os.fsdecode(raw), folder, "fcp7") == result  # its manifest entry reads back
    assert collect(os.fsdecode(raw), folder, "otio").path == os.fsdecode(os.fsencode(folder) + b"/caf\xe9.flac")


def test_a_corrupt_source_is_one_clear_error_and_leaves_nothing(tmp_path):
    broken = tmp_path / "broken.flac"
    broken.write_bytes(np.random.default_rng(0).bytes(20000))
    folder = tmp_path / "collected"
    with pytest.raises(ExportError, match=r"broken\.flac") as caught:
        collect(str(broken), folder, "fcp7")
    assert "\n" not in str(caught.value)
    assert not folder.exists()


def test_a_missing_source_is_one_clear_error(tmp_path):
    with pytest.raises(ExportError, match=r"gone\.opus: the file does not exist"):
        collect(str(tmp_path / "gone.opus"), tmp_path / "collected", "fcpx")
    assert not (tmp_path / "collected").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_folder_without_write_permission_is_one_clear_error(library, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ExportError, match=r"tone\.ogg .*not writable"):
            collect(str(library / "tone.ogg"), folder, "fcp7")
    finally:
        folder.chmod(0o755)
    assert files(folder) == []


def test_a_read_only_disk_is_one_clear_error(library, small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for name in ("tone.ogg", "tone.wav"):  # converted, copied
        with pytest.raises(ExportError, match=rf"{name.replace('.', '[.]')} .*not writable"):
            collect(str(library / name), small_disk / "collected", "fcp7")
        with pytest.raises(ExportError, match=rf"{name.replace('.', '[.]')} .*not writable"):
            collect(str(library / name), small_disk, "fcp7")


def test_a_full_disk_is_one_clear_error_and_leaves_no_partial_file(library, small_disk):
    folder = small_disk / "collected"
    folder.mkdir()
    with contextlib.suppress(OSError), open(small_disk / "filler", "wb") as f:  # fill it to the last block
        while True:
            f.write(b"\0" * 4096)
    for name in ("tone.opus", "tone.flac", "tone.wav"):
        with pytest.raises(ExportError, match=rf"{name.replace('.', '[.]')} .*the disk is full"):
            collect(str(library / name), folder, "fcp7")
    assert files(folder) == []
