"""The API's endpoints (FastAPI; the OpenAPI document is served at /v1/openapi.json).

Every request needs the token (`Authorization: Bearer ...`), bodies are limited to `MAX_BODY` bytes, media
paths must be readable files of the right kind, and errors are JSON: `{"error": {"code", "message"}}` with
a fitting status, listed per operation in the OpenAPI document. Request bodies are validated strictly: `k`
is a JSON integer, not `"10"` or `true`. CORS is answered only for the origins the user allowed (UXP
panels run in one). Everything goes through the one `Engine`, which serialises queries itself.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Request
from fastapi import Path as ApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from engine import __version__, records
from engine.errors import DecodeError, NeedledropError
from engine.export import FORMATS, TimelineNameError
from engine.export.rates import HIGHEST_FPS, LOWEST_FPS
from engine.facade import (
    DEFAULT_LOUDNESS,
    MAX_K,
    MAX_LENGTH,
    PLAUSIBLE_BPM,
    AmbiguousTitleError,
    DatabaseError,
    Engine,
    ExportError,
    IndexMissingError,
    InsideLibraryError,
    LibraryError,
    QueryError,
    ScanRunningError,
    TimelineReadError,
    TrackNotFoundError,
)
from engine.records import ScanProgress, to_json

MAX_BODY = 64 * 1024
MAX_CLIPS = 200
MAX_PROMPT = 1000
PATH_LENGTH = 4096
Seconds = Annotated[float, Field(ge=0, le=24 * 3600, allow_inf_nan=False)]
MediaPath = Annotated[str, Field(min_length=1, max_length=PATH_LENGTH)]
log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Json(JSONResponse):
    """JSON in ASCII, as the CLI's --json writes it. A file whose name is not UTF-8 has a path Python holds
    with lone surrogates (os.fsdecode), which UTF-8 cannot carry; as escapes ("\\udce9") it reaches a client
    intact (Python's json and os.fsencode give back its bytes; JavaScript keeps the code units)."""

    def render(self, content) -> bytes:
        return json.dumps(_finite(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _finite(value):
    """NaN and infinities as null, which JSON has instead (as pydantic's serialiser wrote them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class _Route(APIRoute):
    """Endpoints return plain JSON data (engine.records.to_json), rendered by `_Json` as it is: a response
    model would have pydantic serialise it first, which refuses those paths."""

    def __init__(self, path: str, endpoint, **kwargs) -> None:
        kwargs["response_model"] = None
        # Still a JSON object in the OpenAPI document, as a response model of `dict` said.
        responses = dict(kwargs.get("responses") or {})
        responses.setdefault(
            kwargs.get("status_code") or 200, {"content": {"application/json": {"schema": {"type": "object"}}}}
        )
        kwargs["responses"] = responses
        super().__init__(path, endpoint, **kwargs)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return _Json({"error": {"code": code, "message": message}}, status_code=status)


class _Strict(BaseModel):
    # Strict: a JSON string or boolean is never taken for a number, nor a number for a boolean.
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs: bad_query, not_found, no_index, ...")
    message: str = Field(description="one sentence for people")


class ErrorBody(BaseModel):
    error: ErrorDetail


def _answers(*codes: int) -> dict:
    """The error answers an operation gives, for the OpenAPI document (every one can also answer 401, 411, 413)."""
    reasons = {
        401: "no token, or the wrong one",
        403: "a file the server may not read",
        404: "no such file or track",
        409: "no index yet, a scan already running, or a title several tracks share",
        411: "a body of unknown length",
        413: "a body over the size limit",
        422: "a request that cannot be answered as asked",
        503: "the library's storage failed (disk full, catalog locked or damaged)",
    }
    return {code: {"model": ErrorBody, "description": reasons[code]} for code in sorted({401, 411, 413, *codes})}


class RecommendRequest(_Strict):
    video: MediaPath | None = Field(None, description="the clip: a video file on this machine")
    clip_in: Seconds = Field(0.0, alias="in", description="in point, seconds")
    clip_out: Seconds | None = Field(None, alias="out", description="out point, seconds (default: end of file)")
    prompt: str | None = Field(None, max_length=MAX_PROMPT, description='e.g. "warm acoustic, no vocals, 90 BPM"')
    balance: float = Field(0.5, ge=0, le=1, allow_inf_nan=False, description="0 picture only … 1 words only")
    k: int = Field(10, ge=1, le=MAX_K)
    per_artist: int | None = Field(None, ge=1, le=MAX_K)
    per_album: int | None = Field(None, ge=1, le=MAX_K)
    exclude: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        [], max_length=MAX_CLIPS, description="library track ids never to offer (those already on the timeline)"
    )


class SimilarRequest(_Strict):
    track_id: int | None = Field(None, ge=1, le=2**62)
    track: MediaPath | None = Field(None, description="a library track, by path (instead of track_id)")
    title: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="a library track, by title (exact, any case, else the one title containing it)"
    )
    reference: MediaPath | None = Field(
        None,
        description="any music file the server can read (a client's temp track): analysed for this request, "
        "not added to the library",
    )
    start: Seconds | None = None
    end: Seconds | None = None
    k: int = Field(10, ge=1, le=MAX_K)
    length: Annotated[float, Field(gt=0, le=24 * 3600, allow_inf_nan=False)] | None = Field(
        None, description="the clip's length, s: each result then starts where its music lasts the clip"
    )


class FitRequest(_Strict):
    track_id: int = Field(ge=1, le=2**62)
    start: Seconds = Field(0.0, description="where the music should start, near enough (the recommended start)")
    length: Annotated[float, Field(gt=0, le=24 * 3600, allow_inf_nan=False)] = Field(
        description=f"clip length, s (with `render`, at most {MAX_LENGTH:g}: a longer re-edit is refused, 422)"
    )
    render: str | None = Field(
        None,
        max_length=4096,
        description="an absolute .wav path outside the library folders: re-edit the track to exactly `length` "
        "on its own bars and write it there; the answer then lists the edit (pieces, joins, fades, loudness)",
    )
    loudness: Annotated[float, Field(ge=-70, le=0, allow_inf_nan=False)] | None = Field(
        DEFAULT_LOUDNESS, description="with `render`: integrated loudness target, LUFS (null: level unchanged)"
    )
    duck: MediaPath | None = Field(None, description="with `render`: lower the music where people speak in this clip")
    duck_in: Seconds = Field(0.0, description="the ducking clip's in point")


class ExportClip(_Strict):
    video: MediaPath
    clip_in: Seconds = Field(0.0, alias="in")
    clip_out: Seconds | None = Field(None, alias="out")
    track_id: int | None = Field(None, ge=1, le=2**62, description="the music under this clip (none: silence)")
    music_start: Seconds | None = Field(None, description="the music's start (default: fitted from 0)")
    fit: bool = Field(True, description="move the start onto a downbeat where the music lasts the clip")
    record_in: Seconds | None = Field(
        None, description="where the clip sits, seconds from the timeline's start (none: right after the clip before)"
    )


class TimelineReadRequest(_Strict):
    path: MediaPath = Field(description="an absolute path to a .otio, FCP 7 .xml, .fcpxml(d) or .edl file")
    rate: Annotated[float, Field(ge=LOWEST_FPS, le=HIGHEST_FPS, allow_inf_nan=False)] | None = Field(
        None, description="an EDL's frame rate (an EDL states none; default: its first clip's file's)"
    )


class TimelineScoreRequest(TimelineReadRequest):
    prompt: str | None = Field(None, max_length=MAX_PROMPT, description="what the music should be, for every clip")
    balance: float = Field(0.5, ge=0, le=1, allow_inf_nan=False, description="0 picture only … 1 words only")
    video_track: int | None = Field(None, ge=1, le=99, description="only the clips of this video track (1 is V1)")


class ExportRequest(_Strict):
    format: Literal["otio", "fcp7", "fcpx", "edl"] = "otio"
    name: str = Field(
        "Needledrop",
        min_length=1,
        max_length=200,
        description="the timeline's name, and with the format's suffix its `filename`: a plain file name, "
        "without folders",
    )
    clips: list[ExportClip] = Field(min_length=1, max_length=MAX_CLIPS)
    collect: str | None = Field(
        None,
        max_length=4096,
        description="an absolute folder outside the library folders to gather the music into (copied, or "
        "converted to WAV where the format's editors cannot import it); the timeline points there",
    )
    render: bool = Field(
        False, description="re-edit each clip's music to the clip's length, as WAV in the `collect` folder"
    )
    duck: bool = Field(False, description="with `render`: lower the music where people speak in its clip")
    loudness: Annotated[float, Field(ge=-70, le=0, allow_inf_nan=False)] | None = Field(
        DEFAULT_LOUDNESS, description="with `render`: integrated loudness target, LUFS (null: level unchanged)"
    )
    start_timecode: str | None = Field(
        None,
        max_length=16,
        description='where the timeline starts, "HH:MM:SS:FF" (";" before the frames for drop-frame) at its rate '
        "(default 00:00:00:00): a read timeline's `start_timecode`",
    )
    frame_rate: Annotated[float, Field(ge=LOWEST_FPS, le=HIGHEST_FPS, allow_inf_nan=False)] | None = Field(
        None, description="the timeline's rate (default: its first clip's file's): a read timeline's `frame_rate`"
    )
    drop_frame: bool = Field(False, description="with `frame_rate`: drop-frame timecode, as a read timeline says")


class ScanRequest(_Strict):
    full: bool = False


class TempoRequest(_Strict):
    bpm: Annotated[float, Field(ge=PLAUSIBLE_BPM[0], le=PLAUSIBLE_BPM[1], allow_inf_nan=False)] | None = Field(
        None,
        description="the tempo you hear: at a metrical level of the one the scan measured (its half...) the "
        "measured beats are counted at it, at any other the beats are followed again from the file",
    )
    times: str | None = Field(
        None,
        max_length=16,
        pattern=r"^ *(\d+(\.\d+)?|\d+ */ *\d+) *$",
        description='the tempo shown times this: "2", "1/2", "3/2"',
    )
    measured: bool = Field(False, description="back to the tempo the scan measured")


def _absolute(path: str, what: str) -> Path:
    if "\x00" in path:
        raise ApiError(422, "bad_path", f"the {what} path contains a NUL character")
    if not Path(path).is_absolute():
        raise ApiError(422, "bad_path", f"the {what} path must be absolute: {path}")
    return Path(path)


def _folder(path: str, what: str) -> str:
    """An absolute folder path (it may not exist yet: the export makes it)."""
    if _absolute(path, what).is_file():
        raise ApiError(422, "bad_path", f"the {what} path is a file, not a folder: {path}")
    return path


def _wav_to_write(path: str, what: str) -> str:
    """An absolute .wav path to write (an earlier file there is replaced)."""
    target = _absolute(path, what)
    if target.suffix.lower() != ".wav" or target.is_dir():
        raise ApiError(422, "bad_path", f"the {what} path must name a .wav file: {path}")
    return path


def _readable_file(path: str, what: str, *, folder: bool = False) -> str:
    """An absolute path to a file the server can read (with `folder`, a folder too: an .fcpxmld bundle)."""
    p = _absolute(path, what)
    try:
        is_file = p.is_file() or (folder and p.is_dir())
    except OSError as exc:  # a name too long, a component that is not a folder...
        raise ApiError(422, "bad_path", f"the {what} path cannot be used: {exc.strerror or exc}") from exc
    if not is_file and p.exists():
        raise ApiError(422, "bad_path", f"the {what} path names a folder, a device or a pipe, not a file: {path}")
    if not is_file:
        raise ApiError(404, "not_found", f"no such {what} file: {path}")
    if not os.access(p, os.R_OK):
        raise ApiError(403, "unreadable", f"the {what} file cannot be read: {path}")
    return str(p)


def _video(engine: Engine, path: str) -> str:
    path = _readable_file(path, "video")
    try:
        engine.probe(path)
    except DecodeError as exc:
        raise ApiError(422, "not_a_video", str(exc)) from exc
    return path


class _Scan:
    """The one background scan the API may run, and what it last reported."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.progress: dict = {}
        self.report: dict | None = None
        self.error: str | None = None

    def start(self, full: bool) -> bool:
        """False when a scan is running already, from this server or another process."""
        with self.lock:
            if (self.thread is not None and self.thread.is_alive()) or self.engine.scan_running():
                return False
            self.progress, self.report, self.error = {}, None, None
            self.thread = threading.Thread(target=self._run, args=(full,), daemon=True, name="api-scan")
            self.thread.start()
            return True

    def _run(self, full: bool) -> None:
        def on_progress(p: ScanProgress) -> None:
            self.progress = {
                "phase": p.phase,
                "files_total": p.files_total,
                "files_done": p.files_done,
                "indexed": p.indexed,
                "failed": p.failed,
                "audio_hours": round(p.seconds_of_audio / 3600, 3),
                "elapsed": round(p.elapsed, 2),
            }

        try:
            report = self.engine.scan(full=full, on_progress=on_progress)
            self.report = {k: v for k, v in to_json(report).items() if k != "stages"}
        except Exception as exc:  # noqa: BLE001 - reported through GET /v1/library/scan
            log.exception("the scan failed")
            self.error = str(exc)

    def state(self) -> dict:
        """This server's scan (its progress, or its last report), and whether one started elsewhere (the app,
        `needledrop library scan`) runs now, whose progress only its own window or terminal shows."""
        own = self.thread is not None and self.thread.is_alive()
        elsewhere = not own and self.engine.scan_running()
        return {
            "running": own or elsewhere,
            "elsewhere": elsewhere,
            "progress": self.progress,
            "report": self.report,
            "error": self.error,
        }


def _authorised(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, the scheme in any case (RFC 7235), the token compared in constant time."""
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _problem(error: dict) -> str:
    """One validation error in words a client's author can act on: pydantic's own, but for a body that is
    not a JSON object at all ("body.11: JSON decode error" said nothing of where or why)."""
    where = error["loc"]
    if error["type"] == "json_invalid":
        return f"the body is not valid JSON (at character {where[-1]}: {error.get('ctx', {}).get('error', '?')})"
    if where == ("body",) and error["type"] in ("model_attributes_type", "dict_type"):
        return "the body must be a JSON object, sent as Content-Type: application/json"
    return f"{'.'.join(str(p) for p in where)}: {error['msg']}"


def create_app(engine: Engine, token: str, *, allowed_origins: list[str] | None = None) -> FastAPI:
    """The API over `engine`; requests must carry `token`."""
    scan = _Scan(engine)
    app = FastAPI(
        title="Needledrop local API",
        version=__version__,
        description="Music recommendations for video clips from the user's own library. "
        "Every request needs `Authorization: Bearer <token>`; the token is in the Needledrop config folder.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN; this API is offline
        redoc_url=None,
        default_response_class=_Json,
    )
    app.router.route_class = _Route

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
        given = request.headers.get("authorization", "")
        if not given:
            return _error(401, "no_token", "send the Needledrop API token as `Authorization: Bearer <token>`")
        if not _authorised(given, token):
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
        return _error(422, "invalid_request", "; ".join(_problem(e) for e in exc.errors()[:5]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        # Still JSON for a client, and the traceback in the server's log for us.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal", f"the server failed unexpectedly ({type(exc).__name__}); see its log")

    def engine_call(fn):
        """Run an engine call, turning its errors into API errors."""
        try:
            return fn()
        except AmbiguousTitleError as exc:  # there are such tracks: the request must say which
            raise ApiError(409, "ambiguous_title", str(exc)) from exc
        except TrackNotFoundError as exc:
            raise ApiError(404, "not_in_library", str(exc)) from exc
        except InsideLibraryError as exc:
            raise ApiError(422, "inside_library", str(exc)) from exc
        except TimelineNameError as exc:  # (an ExportError, told apart)
            raise ApiError(422, "bad_name", str(exc)) from exc
        except (QueryError, ExportError) as exc:
            raise ApiError(422, "bad_query", str(exc)) from exc
        except DecodeError as exc:
            raise ApiError(422, "undecodable", str(exc)) from exc
        except TimelineReadError as exc:
            raise ApiError(422, "bad_timeline", str(exc)) from exc
        except IndexMissingError as exc:
            raise ApiError(409, "no_index", str(exc)) from exc
        except ScanRunningError as exc:
            raise ApiError(409, "scan_running", str(exc)) from exc
        except LibraryError as exc:
            raise ApiError(422, "bad_folder", str(exc)) from exc
        except DatabaseError as exc:
            raise ApiError(503, "storage", str(exc)) from exc
        except NeedledropError as exc:
            raise ApiError(422, "engine_error", str(exc)) from exc

    def track_of(track_id: int | None, path: str | None) -> int:
        if (track_id is None) == (path is None):
            raise ApiError(422, "invalid_request", "give either track_id or track (a path), not both or neither")
        ref = _readable_file(path, "track") if path is not None else track_id
        return engine_call(lambda: engine.track(ref)).id

    # ---- endpoints ----

    @app.get("/v1/health", summary="Version, model bundle and what it runs on", responses=_answers())
    def health() -> dict:
        info = engine_call(engine.info)
        return {"status": "ok", "version": info.version, "bundle_id": info.bundle_id, "execution": info.execution}

    @app.get("/v1/library", summary="Folders, tracks, hours of audio, errors, index", responses=_answers(503))
    def library_status() -> dict:
        return to_json(engine_call(engine.status))

    @app.post(
        "/v1/library/scan",
        status_code=202,
        summary="Start scanning every folder (progress: GET)",
        responses=_answers(409, 422),
    )
    def start_scan(body: ScanRequest | None = None) -> dict:
        if not scan.start(full=bool(body and body.full)):
            if scan.state()["elsewhere"]:
                message = "a scan started elsewhere (the app, or `needledrop library scan`) is running: its window or "
                message += "terminal shows its progress, and GET /v1/library/scan says when it ends"
            else:
                message = "a scan is already running: GET /v1/library/scan shows its progress"
            raise ApiError(409, "scan_running", message)
        return {"started": True}

    @app.get("/v1/library/scan", summary="The running or last scan: progress, report, error", responses=_answers())
    def scan_state() -> dict:
        return scan.state()

    @app.post(
        "/v1/recommend",
        summary="Ranked tracks with start points for a clip, a prompt, or both",
        responses=_answers(403, 404, 409, 422, 503),
    )
    def recommend(body: RecommendRequest) -> dict:
        video = _video(engine, body.video) if body.video is not None else None
        if video is None and not (body.prompt and body.prompt.strip()):
            raise ApiError(422, "bad_query", "a recommendation needs a video clip, a prompt, or both")
        started = time.perf_counter()
        rec = engine_call(
            lambda: engine.recommend(
                video,
                start=body.clip_in,
                end=body.clip_out,
                prompt=body.prompt,
                balance=body.balance,
                k=body.k,
                per_artist=body.per_artist,
                per_album=body.per_album,
                exclude=body.exclude,
            )
        )
        return rec.to_json() | {"ms": round(1000 * (time.perf_counter() - started), 1)}

    @app.post(
        "/v1/similar",
        summary="More like a track (library id, path or title, or any music file), or a part of it",
        responses=_answers(403, 404, 409, 422, 503),
    )
    def similar(body: SimilarRequest) -> dict:
        given = [v for v in (body.track_id, body.track, body.title, body.reference) if v is not None]
        if len(given) != 1:
            raise ApiError(422, "invalid_request", "give one of track_id, track, title or reference")
        if body.reference is not None:
            ref: int | str = _readable_file(body.reference, "reference")
        elif body.title is not None:
            ref = engine_call(lambda: engine.titled(body.title))
        else:
            ref = track_of(body.track_id, body.track)
        rec = engine_call(lambda: engine.similar(ref, start=body.start, end=body.end, k=body.k, length=body.length))
        return rec.to_json()

    @app.get(
        "/v1/tracks/{track_id}/beats",
        summary="Beat and downbeat times of a library track",
        responses=_answers(404, 422, 503),
    )
    def beats(track_id: Annotated[int, ApiPath(ge=1, le=2**62)]) -> dict:
        track_id = track_of(track_id, None)
        found = engine_call(lambda: engine.beats(track_id))
        return {"track_id": track_id} | found.to_json()

    @app.put(
        "/v1/tracks/{track_id}/tempo",
        summary="Set the tempo a track is counted at, where the scan read another (its half, double, or a "
        "grid that drifted)",
        responses=_answers(404, 422, 503),
    )
    def set_tempo(track_id: Annotated[int, ApiPath(ge=1, le=2**62)], body: TempoRequest) -> dict:
        if sum((body.bpm is not None, body.times is not None, body.measured)) != 1:
            raise ApiError(422, "invalid_request", "give one of bpm, times or measured")
        try:
            times = Fraction(body.times.replace(" ", "")) if body.times is not None else None
        except (ValueError, ZeroDivisionError):
            raise ApiError(422, "invalid_request", f"times is not a multiple: {body.times}") from None
        track_id = track_of(track_id, None)
        return to_json(engine_call(lambda: engine.set_tempo(track_id, body.bpm, times=times)))

    @app.post(
        "/v1/fit",
        summary="In and out points for a clip (on a downbeat near a phrase start, where the music lasts it), or, "
        "with `render`, the track re-edited to the clip's length as a WAV",
        responses=_answers(404, 422, 503),
    )
    def fit(body: FitRequest) -> dict:
        track_id = track_of(body.track_id, None)
        if body.render is not None:
            out = _wav_to_write(body.render, "render")
            edit = engine_call(
                lambda: engine.reedit(
                    track_id,
                    length=body.length,
                    out=out,
                    start=body.start,
                    loudness=body.loudness,
                    duck=_video(engine, body.duck) if body.duck is not None else None,
                    duck_in=body.duck_in,
                )
            )
            return {"track_id": track_id, "render": out} | to_json(edit)
        result = engine_call(lambda: engine.fit(track_id, start=body.start, length=body.length))
        return {"track_id": track_id} | to_json(result)

    @app.post(
        "/v1/export",
        summary="The edit as a timeline file: .otio, FCP 7 XML, FCPXML or CMX 3600 EDL",
        responses=_answers(403, 404, 422, 503),
    )
    def export(body: ExportRequest) -> dict:
        started = time.perf_counter()
        clips = []
        for clip in body.clips:
            video = _video(engine, clip.video)
            if clip.track_id is not None:
                track_of(clip.track_id, None)
            edit = records.ExportClip(
                video, clip.clip_in, clip.clip_out, clip.track_id, clip.music_start, clip.fit, clip.record_in
            )
            clips.append(edit)
        collect = _folder(body.collect, "collect") if body.collect is not None else None
        if body.render and collect is None:
            raise ApiError(422, "bad_request", "render needs a `collect` folder to write the fitted music in")
        result = engine_call(
            lambda: engine.export(
                clips,
                fmt=body.format,
                name=body.name,
                collect=collect,
                render=body.render,
                loudness=body.loudness,
                duck=body.duck,
                start_timecode=body.start_timecode,
                frame_rate=body.frame_rate,
                drop_frame=body.drop_frame,
            )
        )
        suffix = FORMATS[body.format]
        return {
            "format": result.format,
            "filename": f"{body.name}{suffix}",
            "frame_rate": result.frame_rate,
            "clips": [c.to_json() for c in result.cues],
            "notes": result.notes,
            "content": result.content,
            "ms": round(1000 * (time.perf_counter() - started), 1),
        }

    @app.post(
        "/v1/timeline/read",
        summary="An editor's timeline (OTIO, FCP 7 XML, FCPXML, EDL): its picture clips, files and positions",
        responses=_answers(403, 404, 422),
    )
    def read_timeline(body: TimelineReadRequest) -> dict:
        return to_json(
            engine_call(
                lambda: engine.read_timeline(_readable_file(body.path, "timeline", folder=True), rate=body.rate)
            )
        )

    @app.post(
        "/v1/timeline/score",
        summary="The top recommendation under each picture clip of an editor's timeline, a different track for "
        "each, at the clips' places: `clips` is what /v1/export takes, with the timeline's `start_timecode`",
        responses=_answers(403, 404, 422, 503),
    )
    def score_timeline(body: TimelineScoreRequest) -> dict:
        started = time.perf_counter()
        found = engine_call(
            lambda: engine.read_timeline(_readable_file(body.path, "timeline", folder=True), rate=body.rate)
        )
        scored = engine_call(
            lambda: engine.score_timeline(found, prompt=body.prompt, balance=body.balance, video_track=body.video_track)
        )
        return to_json(scored) | {"ms": round(1000 * (time.perf_counter() - started), 1)}

    return app
