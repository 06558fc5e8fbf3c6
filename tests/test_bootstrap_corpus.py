"""`make default-model`'s corpus build can be stopped and run again: it keeps what was rendered whole."""

from training.bootstrap import music
from training.bootstrap.render import soundfont


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
