"""The API's endpoints (FastAPI; the OpenAPI document is served at /v1/openapi.json).

Every request needs the token (`Authorization: Bearer ...`), bodies are limited to `MAX_BODY` bytes, media
paths must be readable files of the right kind, and errors are JSON: `{"error": {"code", "message"}}` with
a fitting status. CORS is answered only for the origins the user allowed (UXP panels run in one). The
recommender serves one request at a time; the others wait for it.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Request
from fastapi import Path as ApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

import engine
from engine.errors import DecodeError, NeedledropError
from engine.export import FORMATS, ExportError, build_timeline, cue_for, timeline_text
from engine.library import IndexMissingError, Library
from engine.media.beats import fit_to_length
from engine.media.video import probe_video
from engine.recommend import QueryError, Recommender
from engine.recommend.recommender import MAX_K

MAX_BODY = 64 * 1024
MAX_CLIPS = 200
MAX_PROMPT = 1000
PATH_LENGTH = 4096
Seconds = Annotated[float, Field(ge=0, le=24 * 3600, allow_inf_nan=False)]
MediaPath = Annotated[str, Field(min_length=1, max_length=PATH_LENGTH)]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Strict):
    video: MediaPath | None = Field(None, description="the clip: a video file on this machine")
    clip_in: Seconds = Field(0.0, alias="in", description="in point, seconds")
    clip_out: Seconds | None = Field(None, alias="out", description="out point, seconds (default: end of file)")
    prompt: str | None = Field(None, max_length=MAX_PROMPT, description='e.g. "warm acoustic, no vocals, 90 BPM"')
    balance: float = Field(0.5, ge=0, le=1, allow_inf_nan=False, description="0 picture only … 1 words only")
    k: int = Field(10, ge=1, le=MAX_K)
    per_artist: int | None = Field(None, ge=1, le=MAX_K)
    per_album: int | None = Field(None, ge=1, le=MAX_K)


class SimilarRequest(_Strict):
    track_id: int | None = Field(None, ge=1, le=2**62)
    track: MediaPath | None = Field(None, description="a library track, by path (instead of track_id)")
    start: Seconds | None = None
    end: Seconds | None = None
    k: int = Field(10, ge=1, le=MAX_K)


class FitRequest(_Strict):
    track_id: int = Field(ge=1, le=2**62)
    start: Seconds = Field(0.0, description="where the music should start, near enough (the recommended start)")
    length: Annotated[float, Field(gt=0, le=24 * 3600, allow_inf_nan=False)] = Field(description="clip length, s")


class ExportClip(_Strict):
    video: MediaPath
    clip_in: Seconds = Field(0.0, alias="in")
    clip_out: Seconds | None = Field(None, alias="out")
    track_id: int | None = Field(None, ge=1, le=2**62, description="the music under this clip (none: silence)")
    music_start: Seconds | None = Field(None, description="the music's start (default: fitted from 0)")
    fit: bool = Field(True, description="move the start so the music ends on a downbeat at the clip's end")


class ExportRequest(_Strict):
    format: Literal["otio", "fcp7", "fcpx", "edl"] = "otio"
    name: str = Field("Needledrop", min_length=1, max_length=200)
    clips: list[ExportClip] = Field(min_length=1, max_length=MAX_CLIPS)


class ScanRequest(_Strict):
    full: bool = False


def _readable_file(path: str, what: str) -> str:
    if "\x00" in path:
        raise ApiError(422, "bad_path", f"the {what} path contains a NUL character")
    p = Path(path)
    if not p.is_absolute():
        raise ApiError(422, "bad_path", f"the {what} path must be absolute: {path}")
    try:
        is_file = p.is_file()
    except OSError as exc:  # a name too long, a component that is not a folder...
        raise ApiError(422, "bad_path", f"the {what} path cannot be used: {exc.strerror or exc}") from exc
    if not is_file:
        raise ApiError(404, "not_found", f"no such {what} file: {path}")
    if not os.access(p, os.R_OK):
        raise ApiError(403, "unreadable", f"the {what} file cannot be read: {path}")
    return str(p)


def _video(path: str) -> str:
    path = _readable_file(path, "video")
    try:
        probe_video(path)
    except DecodeError as exc:
        raise ApiError(422, "not_a_video", str(exc)) from exc
    return path


class _Scan:
    """The one background scan the API may run, and what it last reported."""

    def __init__(self, library: Library):
        self.library = library
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.progress: dict = {}
        self.report: dict | None = None
        self.error: str | None = None

    def start(self, full: bool) -> bool:
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return False
            self.progress, self.report, self.error = {}, None, None
            self.thread = threading.Thread(target=self._run, args=(full,), daemon=True, name="api-scan")
            self.thread.start()
            return True

    def _run(self, full: bool) -> None:
        def on_progress(p) -> None:
            self.progress = {
                "files_total": p.files_total,
                "files_done": p.files_done,
                "indexed": p.indexed,
                "failed": p.failed,
                "audio_hours": round(p.seconds_of_audio / 3600, 3),
                "elapsed": round(p.elapsed, 2),
            }

        try:
            report = self.library.scan(full=full, on_progress=on_progress)
            self.report = {k: v for k, v in asdict(report).items() if k != "stages"}
        except Exception as exc:  # noqa: BLE001 - reported through GET /v1/library/scan
            self.error = str(exc)

    def state(self) -> dict:
        running = self.thread is not None and self.thread.is_alive()
        return {"running": running, "progress": self.progress, "report": self.report, "error": self.error}


def create_app(library: Library, token: str, *, allowed_origins: list[str] | None = None) -> FastAPI:
    """The API over `library`; requests must carry `token`."""
    recommender = Recommender(library)
    lock = threading.Lock()  # the recommender and its ONNX sessions serve one request at a time
    scan = _Scan(library)
    app = FastAPI(
        title="Needledrop local API",
        version=engine.__version__,
        description="Music recommendations for video clips from the user's own library. "
        "Every request needs `Authorization: Bearer <token>`; the token is in the Needledrop config folder.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN; this API is offline
        redoc_url=None,
    )
    expected = f"Bearer {token}".encode()

    # ---- middleware (the last added runs first): CORS, then the token, then the body limit ----

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared is None and request.headers.get("transfer-encoding"):
            # A streamed body of unknown size: every client that sends JSON can say how long it is.
            return _error(411, "length_required", "send the body with a Content-Length header")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return _error(413, "too_large", f"request bodies are limited to {MAX_BODY} bytes")
        return await call_next(request)

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        given = request.headers.get("authorization", "").encode()
        if not given:
            return _error(401, "no_token", "send the Needledrop API token as `Authorization: Bearer <token>`")
        if not hmac.compare_digest(given, expected):
            return _error(401, "bad_token", "the API token is wrong (see the api-token file in the config folder)")
        return await call_next(request)

    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allowed_origins or []),
        allow_methods=["GET", "POST"],
        allow_headers=["authorization", "content-type"],
        max_age=600,
    )

    # ---- errors as JSON ----

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return _error(422, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, "http_error", str(exc.detail))

    def engine_call(fn):
        """Run an engine call, turning its errors into API errors."""
        try:
            return fn()
        except (QueryError, ExportError) as exc:
            raise ApiError(422, "bad_query", str(exc)) from exc
        except DecodeError as exc:
            raise ApiError(422, "undecodable", str(exc)) from exc
        except IndexMissingError as exc:
            raise ApiError(409, "no_index", str(exc)) from exc
        except NeedledropError as exc:
            raise ApiError(422, "engine_error", str(exc)) from exc

    def track_id_of(track_id: int | None, path: str | None) -> int:
        if (track_id is None) == (path is None):
            raise ApiError(422, "invalid_request", "give either track_id or track (a path), not both or neither")
        if path is not None:
            found = library.catalog.track_id(_readable_file(path, "track"))
            if found is None:
                raise ApiError(404, "not_in_library", f"{path} is not in the library: add its folder and scan")
            return found
        if library.catalog.track_file(track_id) is None:
            raise ApiError(404, "not_in_library", f"there is no track {track_id} in the library")
        return track_id

    # ---- endpoints ----

    @app.get("/v1/health", summary="Version, model bundle and what it runs on")
    def health() -> dict:
        execution = recommender.embedder.execution
        return {
            "status": "ok",
            "version": engine.__version__,
            "bundle_id": library.bundle.id,
            "execution": execution.describe(),
        }

    @app.get("/v1/library", summary="Folders, tracks, hours of audio, errors, index")
    def library_status() -> dict:
        return library.status()

    @app.post("/v1/library/scan", status_code=202, summary="Start scanning every folder (progress: GET)")
    def start_scan(body: ScanRequest | None = None) -> dict:
        if not scan.start(full=bool(body and body.full)):
            raise ApiError(409, "scan_running", "a scan is already running: GET /v1/library/scan shows its progress")
        return {"started": True}

    @app.get("/v1/library/scan", summary="The running or last scan: progress, report, error")
    def scan_state() -> dict:
        return scan.state()

    @app.post("/v1/recommend", summary="Ranked tracks with start points for a clip, a prompt, or both")
    def recommend(body: RecommendRequest) -> dict:
        video = _video(body.video) if body.video is not None else None
        if video is None and not (body.prompt and body.prompt.strip()):
            raise ApiError(422, "bad_query", "a recommendation needs a video clip, a prompt, or both")
        started = time.perf_counter()
        with lock:
            rec = engine_call(
                lambda: recommender.recommend(
                    video,
                    start=body.clip_in,
                    end=body.clip_out,
                    prompt=body.prompt,
                    balance=body.balance,
                    k=body.k,
                    per_artist=body.per_artist,
                    per_album=body.per_album,
                )
            )
        return rec.to_json() | {"ms": round(1000 * (time.perf_counter() - started), 1)}

    @app.post("/v1/similar", summary="More like a library track, or a part of it")
    def similar(body: SimilarRequest) -> dict:
        track_id = track_id_of(body.track_id, body.track)
        with lock:
            rec = engine_call(lambda: recommender.similar(track_id, start=body.start, end=body.end, k=body.k))
        return rec.to_json()

    @app.get("/v1/tracks/{track_id}/beats", summary="Beat and downbeat times of a library track")
    def beats(track_id: Annotated[int, ApiPath(ge=1, le=2**62)]) -> dict:
        track_id = track_id_of(track_id, None)
        found = engine_call(lambda: library.beats(track_id))
        return {"track_id": track_id} | found.to_json()

    @app.post("/v1/fit", summary="In and out points that end the music on a downbeat at the clip's end")
    def fit(body: FitRequest) -> dict:
        track_id = track_id_of(body.track_id, None)
        found = engine_call(lambda: library.beats(track_id))
        duration = library.catalog.track_details([track_id])[track_id]["duration"]
        result = engine_call(lambda: fit_to_length(found, duration, body.start, body.length))
        return {"track_id": track_id} | asdict(result)

    @app.post("/v1/export", summary="The edit as a timeline file: .otio, FCP 7 XML, FCPXML or CMX 3600 EDL")
    def export(body: ExportRequest) -> dict:
        started = time.perf_counter()
        cues, rates = [], []
        for clip in body.clips:
            video = _video(clip.video)
            if clip.track_id is not None:
                track_id_of(clip.track_id, None)
            cue, rate = engine_call(
                lambda clip=clip, video=video: cue_for(
                    library,
                    video,
                    clip.clip_in,
                    clip.clip_out,
                    track=clip.track_id,
                    music_start=clip.music_start,
                    fit=clip.fit,
                )
            )
            cues.append(cue)
            rates.append(rate)
        rate = next((r for r in rates if r), 25.0)
        timeline = engine_call(lambda: build_timeline(cues, name=body.name, rate=rate))
        text = engine_call(lambda: timeline_text(timeline, body.format))
        suffix = FORMATS[body.format][1]
        return {
            "format": body.format,
            "filename": f"{body.name}{suffix}",
            "frame_rate": rate,
            "clips": [
                {"video": c.video, "in": c.clip_in, "out": c.clip_out, "music": c.music, "music_start": c.music_start}
                for c in cues
            ],
            "content": text,
            "ms": round(1000 * (time.perf_counter() - started), 1),
        }

    return app
