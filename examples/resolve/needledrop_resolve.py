"""DaVinci Resolve: music for every clip of the current timeline from your own library, through Needledrop.

Put this file and ../needledrop_client.py in Resolve's Fusion scripts folder (Workspace ▸ Scripts) with
`needledrop serve` running, set PROMPT below, and run it from Workspace ▸ Scripts. For each video clip on
track 1 it asks Needledrop for the best track for that clip's source range and the prompt, then imports the
whole edit as a new timeline ("... + music") with the music on an audio track, each track from the start
Needledrop recommended (a downbeat where the music lasts the clip), with beat markers. Resolve Studio runs
external scripts; in the free version, run `needledrop export` and import the FCP 7 XML with File ▸ Import ▸
Timeline instead.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from needledrop_client import Needledrop  # noqa: E402

PROMPT = "warm, hopeful, no vocals"


def source_start(item, rate: float) -> float:
    """Seconds into the source file where a timeline item starts (newer Resolve versions say it directly)."""
    for method, scale in (("GetSourceStartTime", 1.0), ("GetSourceStartFrame", 1.0 / rate)):
        try:
            value = getattr(item, method)()
        except (AttributeError, TypeError):
            continue
        if value is not None:
            return float(value) * scale
    return item.GetLeftOffset() / rate


def main(resolve) -> None:
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline()
    rate = float(timeline.GetSetting("timelineFrameRate"))
    api = Needledrop()
    clips = []
    for item in timeline.GetItemListInTrack("video", 1):
        source = item.GetMediaPoolItem()
        if source is None:
            continue
        path = source.GetClipProperty("File Path")
        start = source_start(item, rate)
        end = start + item.GetDuration() / rate
        best = api.recommend(path, start=start, end=end, prompt=PROMPT, k=1)["results"]
        music = {"track_id": best[0]["track_id"], "music_start": best[0]["start"]} if best else {}
        clips.append({"video": path, "in": start, "out": end, **music})
        print(f"{os.path.basename(path)}: {best[0]['title'] if best else 'no track fits'}")
    # Resolve may not import the library's Opus or Ogg files: gather the music as it can read it, somewhere
    # that lasts as long as the project does (a temporary folder would leave the music offline).
    music = str(Path.home() / "Movies" / "Needledrop" / f"{project.GetName()} – {timeline.GetName()}")
    text = api.export(clips, fmt="fcp7", name=f"{timeline.GetName()} + music", collect=music)
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(text)
    project.GetMediaPool().ImportTimelineFromFile(f.name)


if __name__ == "__main__":
    main(resolve)  # noqa: F821 - Resolve defines `resolve` for the scripts it runs
