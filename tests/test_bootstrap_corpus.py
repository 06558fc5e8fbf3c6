"""`make default-model`'s corpus: a stopped build keeps what was rendered whole; its sources (feel renders,
soundtrack excerpts) and its held-out split."""

import numpy as np

from training.bootstrap import corpus, feel_set, music
from training.bootstrap.demo import MAJOR, MINOR
from training.bootstrap.render import PATTERNS, soundfont, write_opus


def test_a_stopped_corpus_build_keeps_its_renders_and_draws_the_same_corpus(tmp_path, monkeypatch):
    font = soundfont()
    (tmp_path / "music").mkdir()
    first = music.render_music21(tmp_path, 2, seed=0, font=font)
    files = sorted((tmp_path / "music").iterdir())
    assert [f.name for f in files] == sorted(t.path.removeprefix("music/") for t in first)
    assert not list(tmp_path.rglob("*.part"))
    stamps = {f.name: f.stat().st_mtime_ns for f in files}

    # One render lost to the stop, and a half-written file beside it.
    lost = files[0]
    lost.unlink()
    (tmp_path / "music" / (lost.name + ".part")).write_bytes(b"half an ogg")
    rendered = []
    real_render = music.render
    monkeypatch.setattr(music, "render", lambda midi, f, out: rendered.append(out.name) or real_render(midi, f, out))

    again = music.render_music21(tmp_path, 2, seed=0, font=font)

    assert again == first and rendered == [lost.name]
    assert files[1].stat().st_mtime_ns == stamps[files[1].name]  # kept, not rendered again
    assert not list(tmp_path.rglob("*.part"))  # the half-written file was replaced by the whole render


def test_training_feel_bases_differ_only_in_feel_and_are_never_an_evaluation_base():
    train = feel_set.training_variants(16)
    evaluation = feel_set.variants("dev") + feel_set.variants("test")
    assert not {(p.lead, p.chords) for p, _ in train} & {(p.lead, p.chords) for p, _ in evaluation}
    assert len({p.name for p, _ in train}) == 64
    bases: dict[str, list] = {}
    for piece, label in train:
        bases.setdefault(label["base"], []).append((piece, label))
    for versions in bases.values():
        calm = [p for p, label in versions if label["energy"] == "low"]
        lively = [p for p, label in versions if label["energy"] == "high"]
        assert max(p.bpm for p in calm) < min(p.bpm for p in lively)
        assert max(p.velocity for p in calm) < min(p.velocity for p in lively)
        assert all(p.drums is None for p in calm) and all(p.drums in PATTERNS for p in lively)
        for piece, label in versions:
            assert piece.mode == (MAJOR if label["mood"] == "major" else MINOR)
        # The same piece throughout: key, progression and instruments.
        assert len({(p.key, tuple(p.progression), p.lead, p.chords) for p, _ in versions}) == 1


def _tone_steps(path, seconds_per_step: int, steps: int, rate: int = 48_000):
    """A file whose pitch rises every `seconds_per_step`: 200 Hz, 300 Hz..., so a position can be heard."""
    t = np.arange(seconds_per_step * rate) / rate
    write_opus(path, np.concatenate([0.3 * np.sin(2 * np.pi * (200 + 100 * k) * t) for k in range(steps)]), rate)


def _pitch(path) -> float:
    samples = music.decode_mono(path)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 48_000)[spectrum.argmax()])


def test_long_soundtracks_give_excerpts_from_across_each_track_and_a_corrupt_file_is_skipped(
    tmp_path, monkeypatch, caplog
):
    folder, out = tmp_path / "soundtrack", tmp_path / "corpus"
    folder.mkdir()
    (out / "music").mkdir(parents=True)
    _tone_steps(folder / "long.ogg", seconds_per_step=10, steps=6)
    (folder / "broken.ogg").write_bytes(b"OggS but not really" * 100)
    monkeypatch.setattr(music, "SOUNDTRACK_EXCERPTS", {"test": (str(folder), "*.ogg", "a test soundtrack", "CC0")})
    monkeypatch.setattr(music, "EXCERPT_SECONDS", 3.0)
    monkeypatch.setattr(music, "EXCERPTS_PER_MINUTES", 0.25)  # a 60-s track gives four

    tracks = music.soundtrack_excerpts(out)

    assert [t.path for t in tracks] == [f"music/excerpt-test-long-{k}.opus" for k in range(4)]
    assert {t.group for t in tracks} == {str(folder / "long.ogg")}
    assert "broken.ogg" in caplog.text
    # Starts at 10.9, 22.6, 34.4 and 46.1 s: inside the second to the fifth step, none cut across a step.
    for k, track in enumerate(tracks):
        assert abs(len(music.decode_mono(out / track.path)) / 48_000 - 3.0) < 0.03
        assert abs(_pitch(out / track.path) - (300 + 100 * k)) < 5


def test_excerpts_of_one_recording_are_held_out_together():
    tracks = [{"path": f"music/excerpt-{r}-{k}.opus", "group": f"/r/{r}.ogg"} for r in range(40) for k in range(4)]
    tracks += [{"path": f"music/m21-{i}.opus"} for i in range(40)]
    held_out = corpus.held_out_tracks(tracks, 0.25, seed=0)
    for r in range(40):
        sides = {f"music/excerpt-{r}-{k}.opus" in held_out for k in range(4)}
        assert len(sides) == 1
    assert 0 < len(held_out) < len(tracks)
    assert any(t["path"] in held_out for t in tracks if "group" not in t)  # a lone track keeps its own draw


def test_the_music_build_adds_a_missing_source_and_keeps_the_others(tmp_path, monkeypatch):
    built = []
    for source in ("render_music21", "loop_tracks", "debian_tracks", "feel_renders", "soundtrack_excerpts"):

        def fake(out, *args, source=source):
            built.append(source)
            return [music.Track(f"music/{source}.opus", source, "CC0", "test")]

        monkeypatch.setattr(music, source, fake)
    monkeypatch.setattr(music, "soundfont", lambda: "font.sf2")
    music.build_music(tmp_path)
    assert len(built) == 5
    (tmp_path / "music-excerpts.jsonl").unlink()  # a corpus built before excerpts were a source
    built.clear()

    tracks = music.build_music(tmp_path)

    assert built == ["soundtrack_excerpts"]
    listed = [line for line in (tmp_path / "music.jsonl").read_text().splitlines() if line]
    assert len(tracks) == len(listed) == 5
