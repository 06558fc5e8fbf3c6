"""`needledrop serve`: the local API for editor plugins; `needledrop export`: a timeline file from the CLI."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from engine import paths
from engine.api.origins import DEFAULT_PORT, ORIGINS_FILE, saved_origins
from engine.cli.commands.recommend import RECOMMEND_K
from engine.cli.options import emit, fraction, open_engine, seconds
from engine.export import FORMATS
from engine.facade import DEFAULT_LOUDNESS, MAX_K
from engine.records import ExportClip

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="the local API for editor plugins (127.0.0.1 only)",
        description="HTTP + JSON on 127.0.0.1. Every request needs `Authorization: Bearer <token>`; the token "
        "is made on first start in the config folder (api-token, readable by you alone). The OpenAPI "
        "document is at /v1/openapi.json.",
    )
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        help=f"a browser origin allowed to call the API (CORS), e.g. a UXP panel's; also read from {ORIGINS_FILE}",
    )
    serve.set_defaults(handler=serve_command)

    export = sub.add_parser(
        "export",
        help="a timeline file (.otio, FCP 7 .xml, .fcpxml, .edl) for a clip and a track",
        description="The clip on a picture track and the track under it, starting on a downbeat near a phrase "
        "start where the music lasts the whole clip (--no-fit keeps --music-start), with fades and beat markers.",
    )
    export.add_argument("video")
    export.add_argument("out", help="the file to write; its suffix picks the format unless --format is given")
    export.add_argument("--in", dest="start", type=seconds, default=0.0, help="in point: seconds or M:SS.s")
    export.add_argument("--out-point", dest="end", type=seconds, help="out point: seconds or M:SS.s")
    export.add_argument("--track", help="the music: a library track's path or id (default: the top recommendation)")
    export.add_argument("--prompt", help="the words the recommendation (and with --track, its start) answers")
    export.add_argument(
        "--balance",
        type=fraction,
        default=0.5,
        help="as in `recommend`: 0 = picture only … 1 = words only (default 0.5), for the track and its start",
    )
    export.add_argument(
        "--music-start",
        type=seconds,
        help="where the music starts (default: where `recommend` starts it for this clip and prompt)",
    )
    export.add_argument("--no-fit", action="store_true", help="do not move the start onto a downbeat")
    export.add_argument("--format", choices=sorted(FORMATS))
    export.add_argument(
        "--render",
        action="store_true",
        help="re-edit the music to the clip's length on its own bars (see `needledrop fit`), as WAV in the "
        "--collect folder or one named after the timeline beside it",
    )
    export.add_argument(
        "--loudness", type=float, help=f"with --render: loudness target, LUFS (default {DEFAULT_LOUDNESS:g})"
    )
    export.add_argument(
        "--duck",
        action="store_true",
        help="lower the music under the clip's speech: rendered with --render, else as volume keyframes "
        "(FCPXML, FCP 7 XML)",
    )
    export.add_argument(
        "--collect",
        metavar="DIR",
        help="gather the music into DIR, outside the library folders (copied, or converted to WAV where the "
        "editor cannot import it) and point the timeline there",
    )
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=export_command)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1–65535)")
    return port


def _port_taken(port: int) -> str | None:
    """Why the API could not listen on 127.0.0.1:`port` now (None: it could), checked before it says where
    it listens."""
    import errno
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name == "posix":  # as asyncio binds there, so that a port in TIME_WAIT is no obstacle
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is in use (another Needledrop API?): choose one with --port"
            return f"cannot listen on port {port}: {exc.strerror or exc}"
    return None


def serve_command(args) -> int:
    import uvicorn

    from engine.api import create_app, load_or_create_token

    if taken := _port_taken(args.port):
        print(f"needledrop: {taken}", file=sys.stderr)
        return 1
    engine = open_engine(args)
    engine.warm_up()  # the models load now, not on the first request
    token = load_or_create_token(paths.config_dir())
    origins = saved_origins(args.allow_origin)
    app = create_app(engine, token, allowed_origins=origins)
    print(
        f"Needledrop API on http://127.0.0.1:{args.port}/v1 (OpenAPI: /v1/openapi.json); "
        f"token in {paths.config_dir() / 'api-token'}; CORS origins: {', '.join(origins) or 'none'}",
        file=sys.stderr,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


def export_command(args) -> int:
    engine = open_engine(args)
    track, start = args.track, args.music_start
    if track is None:
        top = engine.recommend(
            args.video, start=args.start, end=args.end, prompt=args.prompt, balance=args.balance, k=1
        )
        if not top.results:
            print("needledrop: no track in the library fits: scan some music, or loosen the prompt", file=sys.stderr)
            return 1
        track = top.results[0].track_id
        start = top.results[0].start if start is None else start
    elif start is None:
        start = _recommended_start(engine, args)
        if start is None:
            print(
                f"note: {engine.track(track).display} is not among the recommendations for this clip: it starts "
                "from its first bar (give --music-start to choose)",
                file=sys.stderr,
            )
    clip = ExportClip(args.video, args.start, args.end, track=track, music_start=start, fit=not args.no_fit)
    result = engine.export(
        [clip],
        fmt=args.format,
        path=args.out,
        collect=args.collect,
        render=args.render,
        loudness=DEFAULT_LOUDNESS if args.loudness is None else args.loudness,
        duck=args.duck,
    )
    (cue,) = result.cues
    lines = [f"wrote {result.path} ({result.format}, {result.frame_rate:g} fps)"]
    if cue.music is not None:
        lines[0] += f": {cue.music} from {cue.music_start:.2f} s"
    lines += [f"note: {note}" for note in result.notes]
    if args.loudness is not None and not args.render:
        print(
            "note: --loudness levels only what --render writes; the timeline plays the music as it is", file=sys.stderr
        )
    emit(args, result, "\n".join(lines))
    return 0


def _recommended_start(engine, args) -> float | None:
    """Where the recommendation for this clip, prompt and balance starts the chosen track, so that what
    `recommend` showed is what is exported: as `recommend` ranks by default, or among more results where the
    track is further down (a longer list widens the search, which can place a track elsewhere); None where it
    is not recommended at all."""
    chosen = engine.track(args.track).id
    for k in (RECOMMEND_K, MAX_K):
        ranked = engine.recommend(
            args.video, start=args.start, end=args.end, prompt=args.prompt, balance=args.balance, k=k
        )
        if (start := next((r.start for r in ranked.results if r.track_id == chosen), None)) is not None:
            return start
    return None
