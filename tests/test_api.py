"""The local API: a real server on loopback, called with a real HTTP client; and fuzzed from its OpenAPI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import opentimelineio as otio
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from engine.api import create_app, load_or_create_token
from engine.api.app import MAX_BODY
from engine.facade import Engine
from media import render_midi, write_video

ORIGIN = "https://panel.example"


class LiveServer:
    """uvicorn serving `app` on a free loopback port, in a thread."""

    def __init__(self, app):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    music = root / "music"
    music.mkdir()
    render_midi(music / "drums.flac", bpm=120, program=30, melody=[52, 55, 57], drums=True, bass=True, seconds=40)
    render_midi(music / "piano.flac", bpm=80, program=0, melody=[60, 64, 67], seconds=40, tags={"title": "Piano Study"})
    render_midi(music / "synth.ogg", bpm=128, program=81, melody=[57, 60, 64], drums=True, seconds=40)
    frames = np.zeros((250, 72, 128, 3), np.uint8)
    for i in range(len(frames)):
        frames[i] = (40, (i * 5) % 255, 160)
    clip = write_video(root / "clip.mp4", frames, 25)
    engine = Engine(root / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=2)
    token = load_or_create_token(root / "config")
    app = create_app(engine, token, allowed_origins=[ORIGIN])
    with LiveServer(app) as url:
        yield {"url": url, "token": token, "clip": clip, "music": music, "root": root, "engine": engine}


@pytest.fixture
def client(served):
    with httpx.Client(base_url=served["url"], headers={"Authorization": f"Bearer {served['token']}"}, timeout=60) as c:
        yield c


# ---- the token -------------------------------------------------------------------------------------------------


def test_requests_without_or_with_a_wrong_token_are_refused(served):
    url = served["url"]
    for path in ("/v1/health", "/v1/openapi.json", "/v1/library", "/v1/nowhere"):
        bare = httpx.get(url + path)
        assert bare.status_code == 401 and bare.json()["error"]["code"] == "no_token"
        wrong = httpx.get(url + path, headers={"Authorization": "Bearer " + "x" * 43})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_token"
    refused = httpx.post(url + "/v1/recommend", json={"prompt": "piano"}, headers={"Authorization": served["token"]})
    assert refused.status_code == 401  # the scheme matters too


def test_the_bearer_scheme_is_case_insensitive(served):
    """RFC 7235: the scheme is case-insensitive; the token itself is not."""
    for scheme in ("bearer", "BEARER", "Bearer"):
        reply = httpx.get(served["url"] + "/v1/library", headers={"Authorization": f"{scheme} {served['token']}"})
        assert reply.status_code == 200, scheme
    swapped = served["token"].swapcase()
    assert httpx.get(served["url"] + "/v1/library", headers={"Authorization": f"Bearer {swapped}"}).status_code == 401


def test_token_file_is_made_once_and_kept_private(tmp_path):
    token = load_or_create_token(tmp_path)
    path = tmp_path / "api-token"
    assert len(token) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(tmp_path) == token  # the same on every start
    path.chmod(0o644)
    assert load_or_create_token(tmp_path) == token and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_health_and_openapi(client):
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["bundle_id"] and "CPU" in health["execution"]
    spec = client.get("/v1/openapi.json").json()
    assert {"/v1/recommend", "/v1/similar", "/v1/export", "/v1/fit", "/v1/library/scan"} <= set(spec["paths"])
    assert "/v1/tracks/{track_id}/beats" in spec["paths"]
    answers = [
        (code, answer)
        for ops in spec["paths"].values()
        for op in ops.values()
        for code, answer in op["responses"].items()
    ]
    assert {code for code, _ in answers if code.startswith("2")} == {"200", "202"}
    assert all(a["content"]["application/json"]["schema"] == {"type": "object"} for c, a in answers if c[0] == "2")


# ---- bad input -------------------------------------------------------------------------------------------------


def test_paths_must_be_readable_media_files(client, served, tmp_path):
    cases = {
        "/etc/hostname": (422, "not_a_video"),  # a readable file that is not a video
        str(tmp_path / "missing.mp4"): (404, "not_found"),
        "clip.mp4": (422, "bad_path"),  # relative
        "/" + "x" * 3000 + "/clip.mp4": (422, "bad_path"),  # a component too long for the filesystem
        str(served["music"] / "drums.flac"): (422, "not_a_video"),  # audio only
        str(tmp_path): (422, "bad_path"),  # there, but a folder: not "no such file"
        "/dev/zero": (422, "bad_path"),
    }
    for path, (status, code) in cases.items():
        reply = client.post("/v1/recommend", json={"video": path, "prompt": "piano"})
        assert (reply.status_code, reply.json()["error"]["code"]) == (status, code), path
    assert "a folder, a device or a pipe" in client.post("/v1/recommend", json={"video": str(tmp_path)}).text
    private = tmp_path / "private.mp4"
    private.write_bytes(Path(served["clip"]).read_bytes())
    private.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        assert client.post("/v1/recommend", json={"video": str(private)}).status_code == 403
    outside = client.post("/v1/similar", json={"track": str(served["clip"])})
    assert outside.status_code == 404 and outside.json()["error"]["code"] == "not_in_library"


def test_oversized_and_unsized_bodies_are_refused(client):
    big = json.dumps({"prompt": "a" * (MAX_BODY + 10)})
    reply = client.post("/v1/recommend", content=big, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "too_large"

    def chunks():
        yield b'{"prompt": "piano"}'

    streamed = client.post("/v1/recommend", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 411


def test_numbers_and_booleans_are_taken_only_as_themselves(client, served):
    """A string or a boolean is never read as a number (nor a number as a boolean): clients find their bugs."""
    refused = [
        ("/v1/recommend", {"prompt": "piano", "k": "10"}),
        ("/v1/recommend", {"prompt": "piano", "k": True}),
        ("/v1/recommend", {"prompt": "piano", "k": 2.5}),
        ("/v1/recommend", {"prompt": "piano", "balance": "0.5"}),
        ("/v1/recommend", {"prompt": "piano", "in": "1"}),
        ("/v1/similar", {"track_id": "1"}),
        ("/v1/library/scan", {"full": 1}),
        ("/v1/export", {"clips": [{"video": str(served["clip"]), "fit": "yes"}]}),
    ]
    for path, body in refused:
        reply = client.post(path, json=body)
        assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_request", (path, body)
    assert client.post("/v1/recommend", json={"prompt": "piano", "k": 2, "balance": 1}).status_code == 200


def test_the_openapi_document_lists_the_errors_each_operation_gives(client):
    spec = client.get("/v1/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert {"401", "411", "413"} <= set(answers), (method, path)
            for code, answer in answers.items():
                if code.startswith("4") and code != "422":
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
    assert {"404", "409", "422"} <= set(spec["paths"]["/v1/recommend"]["post"]["responses"])


def test_an_impossible_edit_is_refused(client, served):
    drums = served["engine"].track(served["music"] / "drums.flac")
    for start in (drums.duration + 1, drums.duration):
        clip = {"video": str(served["clip"]), "track_id": drums.id, "music_start": start, "fit": False}
        reply = client.post("/v1/export", json={"format": "otio", "clips": [clip]})
        assert reply.status_code == 422 and "cannot start at" in reply.json()["error"]["message"], start
    negative = {"video": str(served["clip"]), "track_id": drums.id, "music_start": -5}
    assert client.post("/v1/export", json={"clips": [negative]}).json()["error"]["code"] == "invalid_request"
    past = client.post("/v1/fit", json={"track_id": drums.id, "start": drums.duration + 5, "length": 4})
    assert past.status_code == 422 and "cannot start at" in past.json()["error"]["message"]


def test_limits_and_validation_errors_are_json(client):
    for body in ({"prompt": "piano", "k": 500}, {"prompt": "piano", "balance": 2}, {"prompt": "x", "bogus": 1}, {}):
        reply = client.post("/v1/recommend", json=body)
        assert reply.status_code == 422 and reply.json()["error"]["message"], body
    broken = client.post("/v1/recommend", content=b'{"prompt": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422
    assert broken.json()["error"]["message"] == "the body is not valid JSON (at character 11: Expecting value)"
    for content, kind in ((b"piano", "text/plain"), (b"[1, 2]", "application/json")):
        wrong = client.post("/v1/recommend", content=content, headers={"Content-Type": kind})
        assert wrong.status_code == 422 and "must be a JSON object" in wrong.json()["error"]["message"], kind
    assert client.get("/v1/tracks/999999/beats").status_code == 404
    assert client.get("/v1/nowhere").json()["error"]["code"] == "http_error"


# ---- round trips -----------------------------------------------------------------------------------------------


def test_recommend_then_export_round_trip(client, served):
    rec = client.post(
        "/v1/recommend", json={"video": str(served["clip"]), "in": 1.0, "out": 8.0, "prompt": "drums", "k": 3}
    )
    assert rec.status_code == 200, rec.text
    body = rec.json()
    assert len(body["results"]) == 3 and body["used"] == ["clip", "text"]
    labels = {r["label"]: r["title"] for r in body["results"]}  # an untagged track is called by its file name
    assert labels == {"Piano Study": "Piano Study", "drums.flac": None, "synth.ogg": None}
    top = body["results"][0]
    # The tracks already on the timeline, left out: the next ones move up.
    on_timeline = [r["track_id"] for r in body["results"][:2]]
    rest = client.post(
        "/v1/recommend",
        json={"video": str(served["clip"]), "in": 1.0, "out": 8.0, "prompt": "drums", "k": 1, "exclude": on_timeline},
    )
    assert [r["track_id"] for r in rest.json()["results"]] == [body["results"][2]["track_id"]], rest.text
    unknown = client.post("/v1/recommend", json={"prompt": "drums", "exclude": [10**9]})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_in_library"
    assert 0 <= top["start"] < top["end"] <= top["duration"] + 0.01

    export = client.post(
        "/v1/export",
        json={
            "format": "otio",
            "name": "Scene 4",
            "clips": [{"video": str(served["clip"]), "in": 1.0, "out": 8.0, "track_id": top["track_id"]}],
        },
    )
    assert export.status_code == 200, export.text
    out = export.json()
    assert out["filename"] == "Scene 4.otio"
    timeline = otio.adapters.read_from_string(out["content"], "otio_json")
    shot = timeline.video_tracks()[0].find_clips()[0]
    tune = timeline.audio_tracks()[0].find_clips()[0]
    assert shot.source_range.start_time.to_seconds() == 1.0 and shot.source_range.duration.to_seconds() == 7.0
    assert tune.range_in_parent() == shot.range_in_parent() and tune.markers
    assert tune.source_range.start_time.to_seconds() == pytest.approx(out["clips"][0]["music_start"], abs=0.04)
    for fmt in ("fcp7", "fcpx", "edl"):
        other = client.post("/v1/export", json={"format": fmt, "clips": [{"video": str(served["clip"])}]})
        assert other.status_code == 200 and other.json()["content"]


def test_export_collects_music_the_editor_cannot_import(client, served, tmp_path):
    synth = served["engine"].track(served["music"] / "synth.ogg").id
    clips = [{"video": str(served["clip"]), "in": 0.0, "out": 4.0, "track_id": synth}]
    plain = client.post("/v1/export", json={"format": "fcpx", "clips": clips}).json()
    assert any("synth.ogg" in note and "cannot import" in note for note in plain["notes"])
    folder = tmp_path / "music"
    collected = client.post("/v1/export", json={"format": "fcpx", "clips": clips, "collect": str(folder)})
    assert collected.status_code == 200, collected.text
    assert (folder / "synth.wav").is_file() and (folder / "synth.wav").as_uri() in collected.json()["content"]
    relative = client.post("/v1/export", json={"format": "fcpx", "clips": clips, "collect": "music"})
    assert relative.status_code == 422 and relative.json()["error"]["code"] == "bad_path"
    fitted = client.post(
        "/v1/export", json={"format": "fcp7", "clips": clips, "collect": str(folder), "render": True, "loudness": -16}
    )
    assert fitted.status_code == 200, fitted.text
    (cue,) = fitted.json()["clips"]
    assert cue["music"].endswith(".wav") and Path(cue["music"]).parent == folder and cue["music_start"] == 0
    nowhere = client.post("/v1/export", json={"format": "fcp7", "clips": clips, "render": True})
    assert nowhere.status_code == 422


def test_similar_beats_and_fit(client, served):
    drums = served["engine"].track(served["music"] / "drums.flac").id
    similar = client.post("/v1/similar", json={"track_id": drums, "k": 2}).json()
    assert len(similar["results"]) == 2 and drums not in [r["track_id"] for r in similar["results"]]
    beats = client.get(f"/v1/tracks/{drums}/beats").json()
    assert beats["bpm"] == pytest.approx(120, rel=0.02) and len(beats["beats"]) > 60
    assert set(beats["downbeats"]) <= set(beats["beats"])
    fit = client.post("/v1/fit", json={"track_id": drums, "start": 5.0, "length": 9.5}).json()
    assert fit["end"] - fit["start"] == pytest.approx(9.5) and fit["on_downbeat"] and fit["short_by"] == 0
    assert min(abs(np.array(beats["downbeats"]) - fit["start"])) < 0.001


def test_a_tempo_set_through_the_api_is_the_one_its_beats_and_results_give(client, served):
    drums = served["engine"].track(served["music"] / "drums.flac")
    measured = client.get(f"/v1/tracks/{drums.id}/beats").json()
    try:
        halved = client.put(f"/v1/tracks/{drums.id}/tempo", json={"times": "1/2"})
        assert halved.status_code == 200, halved.text
        assert halved.json()["bpm_set"] and halved.json()["bpm"] == pytest.approx(drums.bpm / 2, abs=0.05)
        beats = client.get(f"/v1/tracks/{drums.id}/beats").json()
        assert beats["bpm"] == halved.json()["bpm"] and len(beats["beats"]) == pytest.approx(
            len(measured["beats"]) / 2, abs=1
        )
        found = client.post("/v1/recommend", json={"prompt": f"{beats['bpm']:.0f} bpm", "k": 3}).json()["results"]
        mine = next(r for r in found if r["track_id"] == drums.id)
        assert mine["bpm"] == beats["bpm"] and mine["bpm_set"] and "tempo set by you" in mine["why"]
        # At no metrical level of the measured tempo (0.87 of it), the beats are followed again from the file.
        other = round(drums.bpm * 0.87, 1)
        followed = client.put(f"/v1/tracks/{drums.id}/tempo", json={"bpm": other})
        assert followed.status_code == 200, followed.text
        beats = client.get(f"/v1/tracks/{drums.id}/beats").json()
        assert beats["bpm"] == other and followed.json()["bpm"] == other and followed.json()["bpm_set"]
        for body in ({}, {"bpm": 400}, {"bpm": 60, "times": "2"}, {"times": "1/0"}, {"times": "x"}, {"times": "1.5/2"}):
            assert client.put(f"/v1/tracks/{drums.id}/tempo", json=body).status_code == 422, body
        assert client.put("/v1/tracks/999999/tempo", json={"times": "2"}).status_code == 404
    finally:
        back = client.put(f"/v1/tracks/{drums.id}/tempo", json={"measured": True}).json()
    assert not back["bpm_set"] and back["bpm"] == drums.bpm


def test_similar_to_a_title_or_a_file_from_outside_the_library(client, served, tmp_path):
    engine = served["engine"]
    piano = engine.track(served["music"] / "piano.flac").id
    by_title = client.post("/v1/similar", json={"title": "piano study", "k": 2})  # any case
    assert by_title.status_code == 200, by_title.text
    assert piano not in [r["track_id"] for r in by_title.json()["results"]]
    # An untagged track is titled by its file name, as `library list` shows it: whole, without its suffix,
    # or a part of it.
    synth = engine.track(served["music"] / "synth.ogg").id
    for title in ("synth.ogg", "Synth", "ynt"):
        assert engine.titled(title) == synth, title
    by_name = client.post("/v1/similar", json={"title": "synth", "k": 2})
    assert by_name.status_code == 200 and synth not in [r["track_id"] for r in by_name.json()["results"]]
    before = engine.status().tracks
    temp = render_midi(tmp_path / "client temp.wav", bpm=124, program=81, melody=[57, 60, 64], drums=True, seconds=20)
    outside = client.post("/v1/similar", json={"reference": str(temp), "k": 3, "length": 8.0})
    assert outside.status_code == 200, outside.text
    results = outside.json()["results"]
    assert len(results) == 3 and Path(results[0]["path"]).name in {"synth.ogg", "drums.flac"}  # drums and synth
    assert all(r["end"] - r["start"] == pytest.approx(8.0, abs=0.05) for r in results)  # each lasts the clip
    assert engine.status().tracks == before  # analysed for the request, not added
    for body, status, code in (
        ({"reference": str(tmp_path / "gone.wav")}, 404, "not_found"),
        ({"reference": "relative.wav"}, 422, "bad_path"),
        ({"title": "no such title"}, 404, "not_in_library"),
        ({"title": "s"}, 409, "ambiguous_title"),  # Piano Study, drums and synth
        ({"title": "piano", "track_id": piano}, 422, "invalid_request"),
    ):
        reply = client.post("/v1/similar", json=body)
        assert (reply.status_code, reply.json()["error"]["code"]) == (status, code), body


def test_fit_renders_the_track_re_edited_to_the_length(client, served, tmp_path):
    drums = served["engine"].track(served["music"] / "drums.flac").id
    out = tmp_path / "cue.wav"
    body = {"track_id": drums, "start": 2.0, "length": 17.5, "render": str(out), "loudness": -23}
    edit = client.post("/v1/fit", json=body)
    assert edit.status_code == 200, edit.text
    report = edit.json()
    assert report["render"] == str(out) and report["length"] == 17.5 and out.is_file()
    assert abs(report["loudness"]["loudness"] - -23) <= 0.5 and report["pieces"][0]["at"] == 0
    for bad in ("cue.wav", str(tmp_path / "cue.mp3")):
        refused = client.post("/v1/fit", json=body | {"render": bad})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "bad_path"


def test_nothing_is_written_into_a_library_folder(client, served, tmp_path):
    """A collected copy or a render in a library folder was scanned in as a new track: refused with its own
    code, the folder reached as it is or through a link, and nothing written."""
    music = served["music"]
    drums = served["engine"].track(music / "drums.flac").id
    link = tmp_path / "link"
    link.symlink_to(music)
    before = sorted(music.rglob("*"))
    clips = [{"video": str(served["clip"]), "in": 0.0, "out": 4.0, "track_id": drums}]
    asks = [("/v1/export", {"format": "fcp7", "clips": clips, "collect": str(folder)}) for folder in (music, link)]
    asks.append(("/v1/export", {"format": "fcp7", "clips": clips, "collect": str(music / "cues"), "render": True}))
    asks += [
        ("/v1/fit", {"track_id": drums, "length": 5, "render": str(at / "new_render.wav")}) for at in (music, link)
    ]
    for path, body in asks:
        reply = client.post(path, json=body)
        assert reply.status_code == 422 and reply.json()["error"]["code"] == "inside_library", (body, reply.text)
        assert "the next scan would add" in reply.json()["error"]["message"]
    assert sorted(music.rglob("*")) == before


def test_fit_says_a_track_on_an_unplugged_drive_as_the_export_does(client, served, tmp_path):
    music = served["music"]
    piano = served["engine"].track(music / "piano.flac").id
    away = music.with_name("unplugged")
    music.rename(away)
    try:
        clips = [{"video": str(served["clip"]), "in": 0.0, "out": 4.0, "track_id": piano}]
        export = client.post("/v1/export", json={"format": "otio", "clips": clips})
        fit = client.post("/v1/fit", json={"track_id": piano, "length": 5, "render": str(tmp_path / "x.wav")})
    finally:
        away.rename(music)
    assert export.status_code == fit.status_code == 422
    assert export.json()["error"]["code"] == fit.json()["error"]["code"] == "bad_query"
    assert fit.json()["error"]["message"] == export.json()["error"]["message"], fit.text
    assert fit.json()["error"]["message"].endswith("is its drive plugged in?")


def test_an_export_name_that_is_not_a_plain_file_name_is_refused(client, served):
    clips = [{"video": str(served["clip"])}]
    for name in ("../../etc/x", "a/b", "..", "a\\b", "x\u0000y"):
        reply = client.post("/v1/export", json={"format": "otio", "name": name, "clips": clips})
        assert reply.status_code == 422 and reply.json()["error"]["code"] == "bad_name", (name, reply.text)
    plain = client.post("/v1/export", json={"format": "otio", "name": "Scene 4: take 2", "clips": clips})
    assert plain.status_code == 200 and plain.json()["filename"] == "Scene 4: take 2.otio"


def test_scan_starts_and_reports_progress(client, served):
    extra = served["root"] / "more"
    extra.mkdir(exist_ok=True)
    render_midi(extra / "new.flac", bpm=100, program=25, melody=[52, 56, 59], seconds=20)
    served["engine"].add_root(extra)
    assert client.post("/v1/library/scan", json={}).status_code == 202
    deadline = time.monotonic() + 120
    while (state := client.get("/v1/library/scan").json())["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["error"] is None and state["report"]["indexed"] == 1
    assert state["progress"]["files_done"] == state["progress"]["files_total"]
    assert client.get("/v1/library").json()["tracks"] == 4


def test_a_scan_started_elsewhere_is_said_to_run_and_refuses_another(client, served):
    """The app or the CLI scanning the same library: the API cannot show its progress, but says it runs."""
    from engine.library.locks import scan_lock

    with scan_lock(served["engine"].data_dir):  # as `needledrop library scan` holds it, in another process
        state = client.get("/v1/library/scan").json()
        assert state["running"] and state["elsewhere"]
        refused = client.post("/v1/library/scan", json={})
        assert refused.status_code == 409 and "started elsewhere" in refused.json()["error"]["message"]
    state = client.get("/v1/library/scan").json()
    assert not state["running"] and not state["elsewhere"]


def test_cors_only_for_allowed_origins(served):
    url = served["url"] + "/v1/recommend"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = httpx.options(url, headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(url, headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    answer = httpx.get(
        served["url"] + "/v1/health",
        headers={"Origin": "https://evil.example", "Authorization": "Bearer " + served["token"]},
    )
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    ("saved", "said"),
    [
        ('{"https://a.example"', "is not JSON"),
        ('"https://a.example"', "must be a list of origins"),  # it was read letter by letter
        ('["a.example"]', "must be a list of origins with their scheme"),
    ],
)
def test_an_origins_file_that_lists_no_origins_is_said_and_not_guessed(tmp_path, monkeypatch, capsys, saved, said):
    from engine.api.origins import ORIGINS_FILE, OriginsError, saved_origins
    from engine.cli.main import main

    monkeypatch.setenv("NEEDLEDROP_CONFIG_DIR", str(tmp_path))
    (tmp_path / ORIGINS_FILE).write_text(saved)
    with pytest.raises(OriginsError, match=said):
        saved_origins([])
    assert main(["--data-dir", str(tmp_path / "data"), "serve", "--port", "1"]) != 0
    error = capsys.readouterr().err
    assert ORIGINS_FILE in error and said in error and "Traceback" not in error
    (tmp_path / ORIGINS_FILE).write_text('["https://a.example"]')
    assert saved_origins(["https://b.example"]) == ["https://a.example", "https://b.example"]


def test_needledrop_serve_runs_the_api(served, tmp_path):
    """The real command: token made on first start, loopback only, answering requests."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NEEDLEDROP_CONFIG_DIR": str(tmp_path / "config")}
    command = [sys.executable, "-m", "engine.cli.main", "--data-dir", str(served["engine"].data_dir), "serve"]
    server = subprocess.Popen([*command, "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        token_file = tmp_path / "config" / "api-token"
        deadline = time.monotonic() + 60
        reply = None
        while time.monotonic() < deadline:
            if token_file.exists():
                try:
                    headers = {"Authorization": "Bearer " + token_file.read_text().strip()}
                    reply = httpx.get(f"http://127.0.0.1:{port}/v1/health", headers=headers)
                    break
                except httpx.ConnectError:
                    pass
            time.sleep(0.2)
        assert reply is not None and reply.status_code == 200
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        # Loopback only: the kernel's table of listening sockets has this port on 127.0.0.1 and nowhere else.
        listening = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    listening.add(address)
        assert listening == {"0100007F"}, listening  # 127.0.0.1, little-endian hex
    finally:
        server.terminate()
        server.wait(timeout=20)


# ---- fuzzing from the OpenAPI document -------------------------------------------------------------------------


def test_fuzzed_requests_never_get_a_server_error(served):
    """Every operation of the OpenAPI document, with requests schemathesis generates from it (valid and not)."""
    headers = {"Authorization": f"Bearer {served['token']}"}
    api = schemathesis.openapi.from_url(served["url"] + "/v1/openapi.json", headers=headers)
    checked, statuses = [], []
    for found in api.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            response = case.call(headers=headers, timeout=60)
            statuses.append(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:500]}"
            )

        call()
        checked.append(operation.label)
    for track in served["engine"].tracks():  # what a fuzzed PUT set, so that later tests meet the scan's tempi
        if track.bpm_set:
            served["engine"].set_tempo(track.id)
    assert len(checked) >= 9, checked
    assert len(statuses) > 100 and 200 in statuses and 422 in statuses  # both accepted and refused requests


def test_the_example_client_asks_and_exports(served):
    """examples/needledrop_client.py, which the Resolve script uses, against the real server."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from needledrop_client import Needledrop, NeedledropError

    api = Needledrop(served["url"], token=served["token"])
    assert api.health()["status"] == "ok"
    found = api.recommend(str(served["clip"]), start=0.0, end=6.0, prompt="piano", k=2)
    assert len(found["results"]) == 2
    track = found["results"][0]["track_id"]
    assert api.beats(track)["bpm"] > 0
    text = api.export([{"video": str(served["clip"]), "in": 0.0, "out": 6.0, "track_id": track}], fmt="fcp7")
    back = otio.adapters.read_from_string(text, "fcp_xml")
    assert len(back.audio_tracks()[0].find_clips()) == 1
    with pytest.raises(NeedledropError, match="401 bad_token"):
        Needledrop(served["url"], token="wrong" * 10).health()


def test_a_timeline_read_then_exported_at_its_places(client, served, tmp_path):
    clip = str(served["clip"])
    cut = {"format": "fcp7", "start_timecode": "01:00:00:00"}
    placed = [
        {"video": clip, "in": 0.0, "out": 2.0, "record_in": 1.0},
        {"video": clip, "in": 3.0, "out": 4.0, "record_in": 6.0},
    ]
    written = client.post("/v1/export", json=cut | {"clips": placed})
    assert written.status_code == 200, written.text
    assert [c["record_in"] for c in written.json()["clips"]] == [1.0, 6.0]
    path = tmp_path / "from premiere.xml"
    path.write_text(written.json()["content"])

    read = client.post("/v1/timeline/read", json={"path": str(path)})
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["format"] == "fcp7" and body["start_timecode"] == "01:00:00:00" and body["frame_rate"] == 25
    assert [(c["record_in"], c["in"], c["out"]) for c in body["clips"]] == [(1.0, 0.0, 2.0), (6.0, 3.0, 4.0)]

    back = client.post(
        "/v1/export",
        json={
            "format": "otio",
            "start_timecode": body["start_timecode"],
            "clips": [
                {"video": c["video"], "in": c["in"], "out": c["out"], "record_in": c["record_in"]}
                for c in body["clips"]
            ],
        },
    )
    timeline = otio.adapters.read_from_string(back.json()["content"], "otio_json")
    assert timeline.global_start_time.to_seconds() == 3600
    assert [c.range_in_parent().start_time.to_seconds() for c in timeline.video_tracks()[0].find_clips()] == [1.0, 6.0]

    missing = client.post("/v1/timeline/read", json={"path": str(tmp_path / "none.edl")})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    (tmp_path / "bad.edl").write_text("001  AX  V  C  00:00:00:00 00:00:01:00 00:00:00:00 00:00:02:00\n")
    bad = client.post("/v1/timeline/read", json={"path": str(tmp_path / "bad.edl"), "rate": 25})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_timeline", bad.text
    overlap = client.post("/v1/export", json=cut | {"clips": [placed[1], placed[0]]})
    assert overlap.status_code == 422 and "overlap" in overlap.json()["error"]["message"]
    wrong = client.post("/v1/export", json=cut | {"clips": placed, "start_timecode": "1 hour"})
    assert wrong.status_code == 422 and "start timecode" in wrong.json()["error"]["message"]


def test_a_timeline_scored_gives_each_clip_a_different_track_at_its_place_and_export_takes_them(
    client, served, tmp_path
):
    clip = str(served["clip"])
    placed = [
        {"video": clip, "in": 0.0, "out": 3.0, "record_in": 0.0},
        {"video": clip, "in": 4.0, "out": 7.0, "record_in": 5.0},
        {"video": clip, "in": 7.0, "out": 9.0, "record_in": 8.0},
    ]
    cut = client.post("/v1/export", json={"format": "otio", "start_timecode": "01:00:00:00", "clips": placed})
    path = tmp_path / "cut.otio"
    path.write_text(cut.json()["content"])

    scored = client.post("/v1/timeline/score", json={"path": str(path), "prompt": "piano"})
    assert scored.status_code == 200, scored.text
    body = scored.json()
    assert body["timeline"]["start_timecode"] == "01:00:00:00"
    clips = body["clips"]
    assert [(c["record_in"], c["in"], c["out"]) for c in clips] == [(0.0, 0.0, 3.0), (5.0, 4.0, 7.0), (8.0, 7.0, 9.0)]
    tracks = [c["track_id"] for c in clips]
    assert None not in tracks and len(set(tracks)) == 3  # the library holds three tracks, one under each clip

    back = client.post(
        "/v1/export", json={"format": "otio", "start_timecode": body["timeline"]["start_timecode"], "clips": clips}
    )
    assert back.status_code == 200, back.text
    assert [c["track_id"] for c in back.json()["clips"]] == tracks
    timeline = otio.adapters.read_from_string(back.json()["content"], "otio_json")
    music = timeline.audio_tracks()[0].find_clips()
    assert [round(m.range_in_parent().start_time.to_seconds(), 2) for m in music] == [0.0, 5.0, 8.0]

    only = client.post("/v1/timeline/score", json={"path": str(path), "video_track": 2})
    assert only.status_code == 422 and only.json()["error"]["code"] == "bad_timeline", only.text
    assert "no clip on V2" in only.json()["error"]["message"]


def test_a_file_whose_name_is_not_utf8_comes_through_with_its_bytes(bundle, tmp_path):
    """A Latin-1 file name (b"caf\xe9.flac") cannot be UTF-8: the answer carries its path as JSON escapes,
    which give back the file's own bytes, where it used to fail every answer that ranked it (500)."""
    music = tmp_path / "music"
    music.mkdir()
    render_midi(music / "piano.flac", bpm=80, program=0, melody=[60, 64, 67], seconds=20)
    latin = Path(os.fsdecode(bytes(music) + b"/caf\xe9.flac"))
    (music / "piano.flac").rename(latin)
    engine = Engine(tmp_path / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=0)
    token = load_or_create_token(tmp_path / "config")
    headers = {"Authorization": f"Bearer {token}"}
    with (
        LiveServer(create_app(engine, token)) as url,
        httpx.Client(base_url=url, headers=headers, timeout=60) as client,
    ):
        reply = client.post("/v1/recommend", json={"prompt": "piano", "k": 1})
        assert reply.status_code == 200, reply.text
        assert b"\\udce9" in reply.content  # ASCII escapes, as the CLI's --json writes them
        (result,) = json.loads(reply.content)["results"]
        assert os.fsencode(result["path"]) == os.fsencode(latin)
        music.rename(tmp_path / "unplugged")  # a drive away: its message names the path
        render = {"track_id": result["track_id"], "length": 5.0, "render": str(tmp_path / "cue.wav")}
        fit = client.post("/v1/fit", json=render)
        assert fit.status_code == 422 and "caf\udce9.flac cannot be read now" in fit.json()["error"]["message"], (
            fit.text
        )
    engine.close()
