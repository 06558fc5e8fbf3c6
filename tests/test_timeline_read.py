"""Editors' timelines read back: the picture clips, their files and places, in all four formats.

Timelines written by our own export (the round trip an editor makes: cut, export, score, import), built
with OpenTimelineIO's API, and written by hand as editors' tools write them (an EDL naming only clips,
an FCPXML 1.9 with a title and a generator, an FCP 7 XML with a generator), read through
`Engine.read_timeline`; then written back with music at the same places, from the CLI too.
"""

import json
import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from engine.cli.main import main
from engine.errors import TimelineReadError
from engine.export import ExportError
from engine.facade import Engine
from engine.records import ExportClip
from media import render_midi, write_footage

DF = Fraction(30000, 1001)
FORMATS = {"otio": ".otio", "fcp7": ".xml", "fcpx": ".fcpxml", "edl": ".edl"}
# Three clips with gaps before, between and after them (seconds from the timeline's start).
PLACES = [1.5, 5.0, 62.0]
RANGES = [(1.0, 3.0), (0.5, 2.5), (0.0, 1.0)]


@pytest.fixture(scope="module")
def cut(bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("cut")
    music = root / "music"
    music.mkdir()
    render_midi(music / "theme.flac", bpm=100, program=0, melody=[60, 64, 67], seconds=20)
    render_midi(music / "night.flac", bpm=84, program=48, melody=[57, 60, 64], seconds=20)
    engine = Engine(root / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    footage = root / "footage"
    footage.mkdir()
    wedding = write_footage(footage / "vows take 2.mp4", DF, 4.0, timecode="01:00:00;00")
    drone = write_footage(footage / "drone.mp4", DF, 4.0, timecode="00:00:00;00")
    return engine, music, [wedding, drone, wedding]


def frames(seconds: float, rate: Fraction = DF) -> int:
    return round(seconds * rate)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_cut_exported_at_29_97_drop_frame_reads_back_at_the_same_frames(cut, tmp_path, fmt):
    engine, music, videos = cut
    edit = [
        ExportClip(video, clip_in, clip_out, track=str(music / "theme.flac") if i == 0 else None, record_in=place)
        for i, (video, (clip_in, clip_out), place) in enumerate(zip(videos, RANGES, PLACES, strict=True))
    ]
    written = engine.export(edit, path=tmp_path / f"cut{FORMATS[fmt]}", start_timecode="01:00:00;00")

    found = engine.read_timeline(written.path)
    assert found.format == fmt and found.drop_frame and Fraction(found.frame_rate).limit_denominator(1001) == DF
    assert found.start_timecode == "01:00:00;00"
    assert [Path(c.video) for c in found.clips] == [v.resolve() for v in videos]
    assert [frames(c.record_in) for c in found.clips] == [frames(p) for p in PLACES]
    assert [frames(c.clip_in) for c in found.clips] == [frames(a) for a, _ in RANGES]
    assert [frames(c.record_out - c.record_in) for c in found.clips] == [frames(b) - frames(a) for a, b in RANGES]
    guessed = "cut.edl states no frame rate: read at 29.97 fps (drop-frame), the rate of its first clip's file, "
    guessed += videos[0].name
    assert [n.split(";")[0] for n in found.notes] == ([guessed] if fmt == "edl" else [])  # an EDL states no rate
    if fmt == "otio":  # the music sits under its clip, at the clip's place
        timeline = otio.adapters.read_from_file(written.path)
        (tune,) = [t for t in timeline.audio_tracks() if t.name == "Music (Needledrop)"][0].find_clips()
        assert frames(tune.range_in_parent().start_time.to_seconds()) == frames(PLACES[0])


def test_an_edl_whose_drop_frame_timecodes_are_all_semicolons_reads_as_the_usual_form(cut, tmp_path):
    """01;00;04;12 as some editors write it, 01:00:04;12 as others (and OpenTimelineIO) do."""
    engine, music, videos = cut
    edit = [ExportClip(v, a, b, record_in=p) for v, (a, b), p in zip(videos, RANGES, PLACES, strict=True)]
    usual = Path(engine.export(edit, path=tmp_path / "usual.edl", start_timecode="01:00:00;00").path)
    text = usual.read_text()
    semicolons = re.sub(r"(\d\d):(\d\d):(\d\d);(\d\d)", r"\1;\2;\3;\4", text)
    assert semicolons != text and "01;00;" in semicolons
    (tmp_path / "semicolons.edl").write_text(semicolons)
    read = [engine.read_timeline(tmp_path / name) for name in ("usual.edl", "semicolons.edl")]
    assert read[1].clips == read[0].clips and read[1].drop_frame and read[1].start_timecode == "01:00:00;00"


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(25)], ids=["23.976", "25"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_places_and_start_hold_at_other_rates(tmp_path, bundle, rate, fmt):
    engine = Engine(tmp_path / "data", bundle=bundle)
    video = write_footage(tmp_path / "shot.mp4", rate, 3.0)
    edit = [ExportClip(video, 0.0, 1.0, record_in=2.0), ExportClip(video, 1.0, 2.0, record_in=10.0)]
    written = engine.export(edit, path=tmp_path / f"cut{FORMATS[fmt]}", start_timecode="10:00:00:00")
    found = engine.read_timeline(written.path)
    assert not found.drop_frame and found.start_timecode == "10:00:00:00"
    assert Fraction(found.frame_rate).limit_denominator(1001) == rate
    assert [frames(c.record_in, rate) for c in found.clips] == [frames(2.0, rate), frames(10.0, rate)]


def test_a_cut_whose_first_clip_is_at_another_rate_is_written_back_at_the_sequences(tmp_path, bundle):
    # A 23.976 sequence opening on 29.97 drop-frame phone footage: the export must not take the phone's rate.
    film = Fraction(24000, 1001)
    phone = write_footage(tmp_path / "phone.mp4", DF, 4.0, timecode="00:00:00;00")
    camera = write_footage(tmp_path / "camera.mp4", film, 4.0)
    timeline = otio.schema.Timeline("Mixed", global_start_time=otio.opentime.RationalTime(86400, float(film)))
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(source_range=_range(0, 7, float(film))))
    timeline.tracks.append(track)
    for name, video, start, length in (("phone", phone, 5, 37), ("camera", camera, 11, 41)):
        track.append(otio.schema.Clip(name, _reference(str(video), float(film)), _range(start, length, float(film))))
    otio.adapters.write_to_file(timeline, str(tmp_path / "mixed.otio"))
    engine = Engine(tmp_path / "data", bundle=bundle)
    found = engine.read_timeline(tmp_path / "mixed.otio")
    for fmt, suffix in FORMATS.items():
        edit = [ExportClip(c.video, c.clip_in, c.clip_out, record_in=c.record_in) for c in found.clips]
        written = engine.export(
            edit,
            path=tmp_path / f"back{suffix}",
            start_timecode=found.start_timecode,
            frame_rate=found.frame_rate,
            drop_frame=found.drop_frame,
        )
        back = engine.read_timeline(written.path, rate=found.frame_rate)
        assert Fraction(back.frame_rate).limit_denominator(1001) == film and not back.drop_frame, fmt
        assert back.start_timecode == "01:00:00:00", fmt
        assert [frames(c.record_in, film) for c in back.clips] == [7, 44], fmt


def test_clips_without_a_place_are_butt_joined_and_an_overlap_is_refused(cut, tmp_path):
    engine, _, videos = cut
    joined = engine.export([ExportClip(videos[0], 0.0, 1.0), ExportClip(videos[1], 0.0, 1.0)], path=tmp_path / "j.otio")
    assert [frames(c.record_in) for c in engine.read_timeline(joined.path).clips] == [0, frames(1.0)]
    overlapping = [ExportClip(videos[0], 0.0, 2.0, record_in=0.0), ExportClip(videos[1], 0.0, 1.0, record_in=1.0)]
    with pytest.raises(ExportError, match=r"at 01:00:01;00, before the clip before it ends \(01:00:02;00\).*overlap"):
        engine.export(overlapping, path=tmp_path / "o.otio", start_timecode="01:00:00;00")
    with pytest.raises(ExportError, match="start timecode"):
        engine.export([ExportClip(videos[0], 0.0, 1.0)], path=tmp_path / "s.otio", start_timecode="01:00:00:45")
    # Refused before the music is rendered, not after: nothing is written.
    track = engine.tracks()[0].id
    with pytest.raises(ExportError, match="start timecode"):
        engine.export(
            [ExportClip(videos[0], 0.0, 1.0, track=track)],
            path=tmp_path / "r.otio",
            render=True,
            start_timecode="1 hour",
        )
    assert not (tmp_path / "r music").exists() and not (tmp_path / "r.otio").exists()


def _reference(path: str, rate: float = 25) -> otio.schema.ExternalReference:
    zero = otio.opentime.RationalTime(0, rate)
    return otio.schema.ExternalReference(
        target_url=path, available_range=otio.opentime.TimeRange(zero, otio.opentime.RationalTime(100, rate))
    )


def _range(start: int, length: int, rate: float = 25) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(length, rate))


def test_an_otio_cut_with_a_title_a_missing_file_and_a_nested_sequence_keeps_the_rest(tmp_path):
    (tmp_path / "media").mkdir()
    video = write_footage(tmp_path / "media" / "a.mp4", 25, 4.0)
    timeline = otio.schema.Timeline("Scene", global_start_time=otio.opentime.RationalTime(90000, 25))
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(source_range=_range(0, 25)))
    track.append(otio.schema.Clip("relative", _reference("media/a.mp4"), _range(10, 50)))  # beside the timeline
    track.append(otio.schema.Clip("Title", otio.schema.GeneratorReference(generator_kind="SolidColor"), _range(0, 25)))
    track.append(otio.schema.Clip("gone", _reference("file:///nowhere/gone.mov"), _range(0, 25)))
    track.append(otio.schema.Stack("nested"))
    track[-1].append(otio.schema.Track())
    track[-1][0].append(otio.schema.Clip("inner", _reference(str(video)), _range(0, 10)))
    track.append(otio.schema.Clip("absolute", _reference(str(video)), _range(0, 20)))
    timeline.tracks.append(track)
    path = tmp_path / "scene.otio"
    otio.adapters.write_to_file(timeline, str(path))

    found = Engine.read_timeline(path)
    assert found.name == "Scene" and found.start_timecode == "01:00:00:00" and found.frame_rate == 25
    assert [(c.name, c.record_in, c.clip_in, c.clip_out) for c in found.clips] == [
        ("relative", 1.0, 0.4, 2.4),
        ("absolute", 5.4, 0.0, 0.8),  # after the gap, the clip, the title, the missing one and the nested one
    ]
    assert found.clips[0].video == str(video)
    said = " ".join(found.notes)
    assert "Title at 01:00:03:00" in said and "title" in said
    assert "gone" in said and "/nowhere/gone.mov" in said and "not there" in said
    assert "nested" in said
    assert len(found.notes) == 3


def test_a_timeline_with_no_usable_clip_says_why(tmp_path):
    timeline = otio.schema.Timeline("Empty")
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Clip("gone", _reference("file:///nowhere/gone.mov"), _range(0, 25)))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "empty.otio"))
    with pytest.raises(TimelineReadError, match="no picture clip.*gone.mov"):
        Engine.read_timeline(tmp_path / "empty.otio")


def test_an_empty_timeline_says_it_is_empty_not_that_files_are_missing(tmp_path):
    (tmp_path / "empty.xml").write_text(
        "<xmeml version='4'><sequence><name>s</name><rate><timebase>25</timebase></rate>"
        "<media><video><track/></video></media></sequence></xmeml>"
    )
    (tmp_path / "empty.edl").write_text("TITLE: Reel 1\nFCM: NON-DROP FRAME\n")
    for name in ("empty.xml", "empty.edl"):
        with pytest.raises(TimelineReadError, match=f"^{name} holds no picture clips: the timeline .* is empty$"):
            Engine.read_timeline(tmp_path / name, rate=25)


def test_unreadable_timelines_are_one_clear_error(tmp_path):
    with pytest.raises(TimelineReadError, match="no timeline file"):
        Engine.read_timeline(tmp_path / "absent.xml")
    (tmp_path / "cut.prproj").write_text("binary")
    with pytest.raises(TimelineReadError, match="not a timeline Needledrop reads"):
        Engine.read_timeline(tmp_path / "cut.prproj")
    (tmp_path / "broken.xml").write_text("<xmeml><sequence>")
    with pytest.raises(TimelineReadError, match="could not be read as FCP 7 XML"):
        Engine.read_timeline(tmp_path / "broken.xml")


def test_an_edl_that_names_only_its_clips_is_read_against_their_files(tmp_path):
    # As Resolve writes it: the clip's name, a black event, and source timecode in the file's own count.
    write_footage(tmp_path / "A001.mp4", 25, 6.0, timecode="01:00:00:00")
    write_footage(tmp_path / "B002.mp4", 25, 6.0)
    (tmp_path / "cut.edl").write_text(
        "TITLE: Reel 1\nFCM: NON-DROP FRAME\n\n"
        "001  A001     V     C        01:00:02:00 01:00:04:00 01:00:00:12 01:00:02:12\n"
        "* FROM CLIP NAME: A001.mp4\n\n"
        "002  BL       V     C        00:00:00:00 00:00:01:00 01:00:02:12 01:00:03:12\n\n"
        "003  B002     V     C        00:00:01:00 00:00:02:00 01:00:05:00 01:00:06:00\n"
        "* FROM CLIP NAME: B002.mp4\n\n"
        "004  C003     V     C        00:00:00:00 00:00:01:00 01:00:07:00 01:00:08:00\n"
        "* FROM CLIP NAME: C003.mp4\n"
    )
    found = Engine.read_timeline(tmp_path / "cut.edl")
    assert found.frame_rate == 25 and found.start_timecode == "01:00:00:00" and found.name == "Reel 1"
    assert [(Path(c.video).name, c.record_in, c.clip_in, c.clip_out) for c in found.clips] == [
        ("A001.mp4", 0.48, 2.0, 4.0),  # its source timecode counts from the file's own 01:00:00:00
        ("B002.mp4", 5.0, 1.0, 2.0),
    ]
    said = " ".join(found.notes)
    assert "generator" in said and "C003.mp4" in said and len(found.notes) == 3
    assert "cut.edl states no frame rate: read at 25 fps, the rate of its first clip's file, A001.mp4;" in said


def test_an_edl_whose_events_cross_seconds_differently_is_read_at_its_files_rate(tmp_path):
    # 23 frames from 10:00:04:01 and from 01:00:00:18: the same length at 25 fps, not at any other count.
    write_footage(tmp_path / "A001.mp4", 25, 6.0, timecode="10:00:00:00")
    (tmp_path / "cut.edl").write_text(
        "TITLE: Reel 1\nFCM: NON-DROP FRAME\n\n"
        "001  A001     V     C        10:00:04:01 10:00:04:24 01:00:00:18 01:00:01:16\n"
        "* FROM CLIP NAME: A001.mp4\n"
    )
    found = Engine.read_timeline(tmp_path / "cut.edl")
    assert found.frame_rate == 25 and found.start_timecode == "01:00:00:00"
    assert [(c.record_in, c.clip_in, c.clip_out) for c in found.clips] == [(0.72, 4.04, 4.96)]


def test_an_edl_whose_first_event_is_long_after_its_hour_says_where_it_was_read_from(tmp_path):
    # A cut starting 00:59:58:00 (a two-second leader): an EDL cannot say so, and the hour read is 00.
    write_footage(tmp_path / "A001.mp4", 25, 6.0)
    (tmp_path / "cut.edl").write_text(
        "TITLE: Reel 1\nFCM: NON-DROP FRAME\n\n"
        "001  A001     V     C        00:00:01:00 00:00:02:00 00:59:58:00 00:59:59:00\n"
        "* FROM CLIP NAME: A001.mp4\n"
    )
    found = Engine.read_timeline(tmp_path / "cut.edl", rate=25)
    assert found.start_timecode == "00:00:00:00" and found.clips[0].record_timecode == "00:59:58:00"
    assert found.notes == [
        "cut.edl states no start timecode: read from 00:00:00:00, the hour its first event (00:59:58:00) is in"
    ]


def test_an_fcp7_generator_is_left_out_and_said(cut, tmp_path):
    engine, _, videos = cut
    written = engine.export([ExportClip(videos[1], 0.0, 1.0, record_in=0.0)], path=tmp_path / "cut.xml")
    root = ET.parse(written.path).getroot()
    track = root.find(".//sequence/media/video/track")
    generator = ET.SubElement(track, "generatoritem", id="slug")
    for tag, text in (("name", "Slug"), ("duration", "30"), ("start", "60"), ("end", "90"), ("in", "0"), ("out", "30")):
        ET.SubElement(generator, tag).text = text
    rate = ET.SubElement(generator, "rate")
    ET.SubElement(rate, "timebase").text = "30"
    ET.SubElement(rate, "ntsc").text = "TRUE"
    ET.ElementTree(root).write(written.path)
    found = engine.read_timeline(written.path)
    assert [c.name for c in found.clips] == ["drone.mp4"]
    assert len(found.notes) == 1 and "Slug" in found.notes[0] and "generator" in found.notes[0]


FCPXML_19 = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.10">
    <resources>
        <format id="r1" frameDuration="1001/30000s" width="1920" height="1080"/>
        <asset id="r2" name="vows" start="0s" duration="120120/30000s" hasVideo="1" format="r1">
            <media-rep kind="original-media" src="{src}"/>
        </asset>
        <effect id="r3" name="Basic Title" uid=".../Titles.localized/Basic Title.moti"/>
        <effect id="r4" name="Custom" uid=".../Generators.localized/Custom.motn"/>
    </resources>
    <library>
        <event name="Wedding">
            <project name="Vows">
                <sequence format="r1" tcStart="107999892/30000s" tcFormat="DF" duration="150150/30000s">
                    <spine>
                        <gap name="Gap" offset="107999892/30000s" duration="30030/30000s"/>
                        <asset-clip ref="r2" offset="108029922/30000s" name="vows" start="30030/30000s"
                            duration="60060/30000s" format="r1">
                            <title ref="r3" lane="1" offset="30030/30000s" name="Names" duration="30030/30000s"/>
                        </asset-clip>
                        <video ref="r4" offset="108089982/30000s" name="Custom" start="0s" duration="30030/30000s"/>
                        <asset-clip ref="r2" offset="108120012/30000s" name="vows again" start="0s"
                            duration="30030/30000s" format="r1"/>
                    </spine>
                </sequence>
            </project>
        </event>
    </library>
</fcpxml>
"""


def test_an_fcpxml_1_10_from_final_cut_is_read_exactly(tmp_path):
    video = write_footage(tmp_path / "vows.mp4", DF, 4.0)
    path = tmp_path / "Vows.fcpxml"
    path.write_text(FCPXML_19.format(src=video.as_uri()))
    found = Engine.read_timeline(path)
    assert found.format == "fcpx" and found.name == "Vows" and found.drop_frame
    assert found.start_timecode == "01:00:00;00"
    assert [(c.name, frames(c.record_in), frames(c.clip_in), frames(c.clip_out)) for c in found.clips] == [
        ("vows", 30, 30, 90),
        ("vows again", 120, 0, 30),  # after the generator: the adapter's 29 fps count put it 4 frames late
    ]
    said = " ".join(found.notes)
    assert "Custom" in said and "generator" in said and "1 title(s)" in said


def test_the_fcpxml_reading_replaces_the_adapters_methods_that_exist():
    # A release of the adapter that renames one would otherwise read 29.97 as 29 without a word.
    from otio_fcpx_xml_adapter.fcpx_xml import FcpxXml

    from engine.export.read import ADAPTER_HOOKS, _ExactFcpx

    assert all(callable(getattr(FcpxXml, name, None)) for name in ADAPTER_HOOKS)
    replaced = {name for name in vars(_ExactFcpx) if name.startswith("_") and not name.startswith("__")}
    assert replaced - {"_time"} <= set(ADAPTER_HOOKS)


def test_the_cli_reads_a_cut_and_scores_it_at_the_same_places(cut, tmp_path, capsys):
    engine, music, videos = cut
    edit = [ExportClip(v, a, b, record_in=p) for v, (a, b), p in zip(videos[:2], RANGES[:2], PLACES[:2], strict=True)]
    source = engine.export(edit, path=tmp_path / "from premiere.xml", start_timecode="01:00:00;00")
    data = ["--data-dir", str(engine.data_dir)]

    assert main([*data, "timeline", "read", source.path]) == 0
    said = capsys.readouterr().out  # places as the editor's timeline shows them, not seconds
    assert "V1 01:00:01;15  vows take 2.mp4" in said and "V1 01:00:05;00  drone.mp4" in said
    assert main([*data, "timeline", "read", source.path, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [frames(c["record_in"]) for c in listed["clips"]] == [frames(p) for p in PLACES[:2]]
    assert listed["start_timecode"] == "01:00:00;00" and listed["clips"][0]["in"] == pytest.approx(1.001)

    out = tmp_path / "scored.otio"
    assert main([*data, "timeline", "score", source.path, str(out), "--prompt", "calm piano", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    chosen = [c["track_id"] for c in report["export"]["clips"]]
    assert None not in chosen and len(set(chosen)) == 2  # a different track under each clip
    timeline = otio.adapters.read_from_file(str(out))
    assert otio.opentime.to_timecode(timeline.global_start_time, float(DF), True) == "01:00:00;00"
    shots = timeline.video_tracks()[0].find_clips()
    tunes = [t for t in timeline.audio_tracks() if t.name == "Music (Needledrop)"][0].find_clips()
    assert [frames(s.range_in_parent().start_time.to_seconds()) for s in shots] == [frames(p) for p in PLACES[:2]]
    assert [t.range_in_parent() for t in tunes] == [s.range_in_parent() for s in shots]

    assert main([*data, "timeline", "read", str(tmp_path / "nothing.edl")]) == 7
    assert "no timeline file" in capsys.readouterr().err


def test_score_refuses_overlapping_video_tracks_before_recommending_and_names_the_way_out(cut, tmp_path, capsys):
    # Final Cut's connected clip (B-roll on V2 over V1): the music goes under one track.
    engine, _, videos = cut
    one = write_footage(tmp_path / "one.mp4", 25, 4.0)
    two = write_footage(tmp_path / "two.mp4", 25, 4.0)
    timeline = otio.schema.Timeline("Broll")
    for number, (video, start, length) in enumerate(((one, 0, 75), (two, 25, 25)), 1):
        track = otio.schema.Track(f"V{number}", kind=otio.schema.TrackKind.Video)
        if start:
            track.append(otio.schema.Gap(source_range=_range(0, start)))
        track.append(otio.schema.Clip(video.stem, _reference(str(video)), _range(0, length)))
        timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "broll.otio"))
    data = ["--data-dir", str(engine.data_dir)]
    out = tmp_path / "scored.otio"
    assert main([*data, "timeline", "score", str(tmp_path / "broll.otio"), str(out)]) == 7
    said = capsys.readouterr().err
    assert "two on V2 overlaps one on V1" in said and "--video-track" in said and not out.exists()
    assert main([*data, "timeline", "score", str(tmp_path / "broll.otio"), str(out), "--video-track", "1"]) == 0
    assert [c.name for c in engine.read_timeline(out).clips] == ["one.mp4"]
