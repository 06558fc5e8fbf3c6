"""What each timeline format keeps of the edit, measured by reading the written files back.

Generated footage at every rate editors meet (broadcast rates, 29.97 in drop and non-drop, 10/12/15 fps,
a varying phone-like rate; with and without sound) and rendered music (Opus and FLAC) in a scanned library
are exported through the engine in all four formats. Each file is read back by OpenTimelineIO's reader for
its format, and where that reader drops something the file holds, the file itself is parsed (marked "in
file"): the table says what an editor importing it gets, not what the writer meant to write.

    .venv/bin/python tests/bench/bench_timelines.py [--dtd FCPXMLv1_8.dtd]

With --dtd, every FCPXML written is also validated against Apple's DTD with xmllint (libxml2-utils).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from test_timeline_formats import FORMATS, RATES, picture_and_music, read_back, written_rate  # noqa: E402

from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.facade import Engine  # noqa: E402
from engine.records import ExportClip  # noqa: E402
from media import render_midi, write_footage  # noqa: E402


def xml_root(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text(encoding="utf-8").split("\n", 2)[2])


def rate_matrix(engine: Engine, root: Path, theme: Path, dtd: str | None) -> dict[str, str]:
    """Per format: clips (every rate x with/without sound) whose picture and music lengths read back to the frame."""
    kept = dict.fromkeys(FORMATS, 0)
    invalid = 0
    total = 0
    for name, (rate, drop, variable, _) in RATES.items():
        for sound in (False, True):
            clip = write_footage(
                root / f"{name.replace(' ', '-')}{sound}.mp4",
                rate,
                2.0,
                sound=sound,
                timecode="00:00:00;00" if drop else None,
                variable=variable,
            )
            total += 1
            for fmt, suffix in FORMATS.items():
                out = root / f"m-{name}-{sound}{suffix}".replace(" ", "_")
                engine.export([ExportClip(clip, 0.2, 1.6, track=str(theme), music_start=3.0, fit=False)], path=out)
                written = written_rate(name, fmt)
                frames = round(Fraction(16, 10) * written) - round(Fraction(2, 10) * written)
                picture, music = picture_and_music(read_back(out, fmt, written), fmt)
                tolerance = 1 / int(written) if fmt == "fcpx" else 1e-6  # the fcpx reader counts at the whole rate
                lengths = [picture.source_range.duration.to_seconds()]
                lengths += [music.source_range.duration.to_seconds()] if music is not None else []
                if all(abs(x - frames / written) <= tolerance + 1e-9 for x in lengths):
                    kept[fmt] += 1
                if fmt == "fcpx" and dtd and not valid(out, dtd):
                    invalid += 1
    table = {fmt: f"{kept[fmt]} / {total}" for fmt in FORMATS}
    if dtd:
        table["fcpx"] += f" ({total - invalid} of {total} valid against the DTD)"
    return table


def valid(path: Path, dtd: str) -> bool:
    run = subprocess.run(["xmllint", "--noout", "--dtdvalid", dtd, str(path)], capture_output=True, text=True)
    return run.returncode == 0


def features(engine: Engine, root: Path, theme: Path, night: Path) -> dict[str, dict[str, str]]:
    """A wedding-style edit: a 29.97 drop-frame clip (timecode 01:00:00;00, sound) over Opus music, then a
    25 fps silent clip over FLAC music; what each format's file gives back."""
    vows = write_footage(root / "Vows (take 2).mov", Fraction(30000, 1001), 6.0, sound=True, timecode="01:00:00;00")
    drone = write_footage(root / "drone shot.mp4", 25, 6.0)
    night_start, theme_start = 2.5 + 7 / 48000, 1.0
    edit = [
        ExportClip(vows, 1.0, 4.5, track=str(night), music_start=night_start, fit=False),
        ExportClip(drone, 0.5, 3.5, track=str(theme), music_start=theme_start, fit=False),
    ]
    heard = [
        [t for t in engine.beats(track).times if start <= t < start + length]
        for track, start, length in ((night, night_start, 3.5), (theme, theme_start, 3.0))
    ]
    rows: dict[str, dict[str, str]] = {}
    for fmt, suffix in FORMATS.items():
        out = root / f"features{suffix}"
        result = engine.export(edit, path=out)
        rate = Fraction(result.frame_rate).limit_denominator(1001)
        back = read_back(out, fmt, rate)
        row = rows.setdefault(fmt, {})
        row["timeline rate"] = f"{float(rate):.3f}"
        if fmt == "fcpx":
            lanes = {t.name: t for t in back.tracks}
            pictures, tunes = lanes["0"].find_clips(), lanes["-1"].find_clips()
            audio_items = list(lanes["-1"])
        else:
            pictures = back.video_tracks()[0].find_clips()
            tunes = back.audio_tracks()[0].find_clips() if fmt != "edl" else []
            audio_items = list(back.audio_tracks()[0]) if fmt != "edl" else []
        row["clip lengths (s)"] = ", ".join(f"{c.source_range.duration.to_seconds():.3f}" for c in pictures)
        names = [c.name for c in pictures]
        if fmt == "fcp7":  # the reader names clips from <clipitem>; importers show <file><name>
            names = [f.findtext("name") for f in xml_root(out).iter("file") if f.find("pathurl") is not None]
        row["readable names"] = "yes" if all("%" not in n for n in names) else "no (%-encoded)"
        if not tunes:
            for key in ("music", "music in point error", "fades", "beat markers", "downbeat colour", "music file"):
                row[key] = "not carried (picture only)"
        else:
            row["music"] = f"{len(tunes)} clips under their pictures"
            error = abs(tunes[0].source_range.start_time.to_seconds() - night_start) * 1000
            row["music in point error"] = f"{error:.3f} ms"
            if fmt == "fcpx":  # the reader counts whole frames at 29 fps; the file holds the exact time
                start = Fraction(xml_root(out).find(".//spine/asset-clip/asset-clip").get("start").removesuffix("s"))
                row["music in point error"] = (
                    f"{abs(float(start) - night_start) * 1000:.3f} ms in file ({error:.1f} ms read)"
                )
            row["fades"] = fades(fmt, out, audio_items)
            counts = [len(t.markers) for t in tunes]
            row["beat markers"] = f"{counts} of {[len(h) for h in heard]} beats"
            row["downbeat colour"] = downbeat_colour(fmt, out, tunes)
            row["music file"] = music_file(fmt, out, tunes)
        row["picture file rates"] = picture_rates(fmt, out, pictures)
        row["the clip's own sound"] = clip_sound(fmt, out, back)
        row["drop-frame"] = drop_frame(fmt, out)
        row["file timecode"] = timecode(fmt, pictures)
        row["notes"] = "; ".join(result.notes) or "none"
    return rows


def fades(fmt: str, path: Path, items: list) -> str:
    if fmt == "otio":
        return f"{sum(isinstance(i, otio.schema.Transition) for i in items)} transitions"
    if fmt == "fcp7":
        effects = {
            t.findtext("effect/effectid") + "/" + t.findtext("effect/mediatype")
            for t in xml_root(path).iter("transitionitem")
        }
        read = sum(isinstance(i, otio.schema.Transition) for i in items)
        return f"{read} transitions read; in file: {', '.join(sorted(effects))}"
    fade_ins = xml_root(path).findall(".//adjust-volume/param/fadeIn")
    return f"in file: {len(fade_ins)} volume fades in and out (the OTIO reader drops them)"


def downbeat_colour(fmt: str, path: Path, tunes: list) -> str:
    if fmt == "otio":
        return ", ".join(sorted({f"{m.name} {m.color}" for t in tunes for m in t.markers}))
    if fmt == "fcp7":
        colours = {
            m.findtext("name") + " " + (m.findtext("pproColor") or "default") for m in xml_root(path).iter("marker")
        }
        return "in file (pproColor): " + ", ".join(sorted(colours)) + "; the OTIO reader ignores it"
    todos = sum(m.get("completed") is not None for m in xml_root(path).iter("marker"))
    return f"none (FCPXML markers have no colour; named 'downbeat'); {todos} to-do items"


def music_file(fmt: str, path: Path, tunes: list) -> str:
    reference = tunes[0].media_reference
    if fmt == "fcp7":
        files = {f.findtext("name"): f for f in xml_root(path).iter("file") if f.find("pathurl") is not None}
        song = next(f for name, f in files.items() if name.endswith(".opus"))
        streams = [child.tag for child in song.find("media")]
        rate = song.findtext("media/audio/samplecharacteristics/samplerate")
        return f"streams {streams}, {rate} Hz"
    if fmt == "fcpx":
        assets = [a for a in xml_root(path).iter("asset") if a.get("name", "").endswith(".opus")]
        return f"hasVideo={assets[0].get('hasVideo')}, {assets[0].get('audioRate')} Hz"
    return f"range at rate {reference.available_range.duration.rate:g} (samples)"


def picture_rates(fmt: str, path: Path, pictures: list) -> str:
    if fmt == "fcp7":
        files = [f for f in xml_root(path).iter("file") if f.find("media/video") is not None]
        return ", ".join(
            f"{f.findtext('rate/timebase')}{' NTSC' if f.findtext('rate/ntsc') == 'TRUE' else ''}" for f in files
        )
    if fmt == "fcpx":
        formats = {f.get("id"): f.get("frameDuration") for f in xml_root(path).iter("format")}
        return ", ".join(formats[c.get("format")] for c in xml_root(path).iterfind(".//spine/asset-clip"))
    if fmt == "edl":
        return "one rate for the whole list"
    return ", ".join(f"{c.media_reference.available_range.duration.rate:.3f}" for c in pictures)


def clip_sound(fmt: str, path: Path, timeline: otio.schema.Timeline) -> str:
    """Whether the 29.97 clip's own sound (its dialogue) comes with it."""
    if fmt == "fcpx":
        asset = next(a for a in xml_root(path).iter("asset") if a.get("name", "").startswith("Vows"))
        return f"with its clip (asset hasAudio={asset.get('hasAudio')}, {asset.get('audioChannels')} channels)"
    if fmt == "edl":
        return "not carried (picture only)"
    tracks = [t for t in timeline.audio_tracks() if any(c.name.startswith("Vows") for c in t.find_clips())]
    return f"{len(tracks)} audio track with it, read back" if tracks else "missing"


def drop_frame(fmt: str, path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if fmt == "fcp7":
        return "sequence " + xml_root(path).findtext(".//sequence/timecode/displayformat")
    if fmt == "fcpx":
        return "sequence " + xml_root(path).find(".//sequence").get("tcFormat")
    if fmt == "edl":
        return next(line for line in text.splitlines() if line.startswith("FCM"))
    timeline = otio.adapters.read_from_file(str(path))  # held: its metadata dies with it
    drop = timeline.metadata.get("needledrop", {}).get("drop_frame")
    return f"metadata needledrop.drop_frame={drop} (OTIO has no drop-frame field)"


def timecode(fmt: str, pictures: list) -> str:
    start = pictures[0].source_range.start_time.to_seconds()
    return f"first clip's source in read as {start:.3f} s (01:00:00;00 + 1 s is 3600.996 s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtd", help="Apple's FCPXML 1.8 DTD: validate every FCPXML written (needs xmllint)")
    args = parser.parse_args()
    if args.dtd and not shutil.which("xmllint"):
        sys.exit("--dtd needs xmllint: apt install libxml2-utils")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        music = root / "music"
        music.mkdir()
        theme = render_midi(music / "theme.flac", bpm=100, program=0, melody=[60, 64, 67], seconds=16)
        night = render_midi(music / "night.opus", bpm=120, program=48, melody=[57, 60, 64], drums=True, seconds=16)
        engine = Engine(root / "data", bundle=open_current_bundle(paths.models_dir()))
        engine.add_root(music)
        engine.scan(workers=1)
        matrix = rate_matrix(engine, root, theme, args.dtd)
        rows = features(engine, root, theme, night)
    print("| | " + " | ".join(FORMATS) + " |")
    print("|---" * (len(FORMATS) + 1) + "|")
    print("| lengths to the frame, every rate | " + " | ".join(matrix[f] for f in FORMATS) + " |")
    for key in rows["otio"]:
        print(f"| {key} | " + " | ".join(rows[f][key].replace("|", "/") for f in FORMATS) + " |")


if __name__ == "__main__":
    main()
