"""The local API for editor plugins, served by the app while it runs (as `needledrop serve` does alone).

It shares the window's engine, so a plugin and the window see one library, one index and one set of loaded
models. Loopback only, with the same token file as `needledrop serve`; the port and whether it runs are
settings ("api/port", "api/enabled"). A port already taken (say, by `needledrop serve`) is a message, not
a failure of the app.
"""

from __future__ import annotations

import errno
import socket
import threading

import uvicorn

from engine import paths
from engine.api import create_app, load_or_create_token
from engine.cli.commands.serve import DEFAULT_PORT, saved_origins
from engine.facade import Engine

HOST = "127.0.0.1"


class ApiHost:
    def __init__(self, engine: Engine, port: int = DEFAULT_PORT):
        self.port = port
        self.token = load_or_create_token(paths.config_dir())
        app = create_app(engine, self.token, allowed_origins=saved_origins([]))
        self._server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> str | None:
        """Serve in a background thread; None once it listens, else why it cannot (the port is taken...)."""
        # uvicorn reports a taken port by exiting the process: find out first, with the same bind.
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((HOST, self.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"the local API is off: port {self.port} is in use (another Needledrop, or `needledrop serve`?)"
            return f"the local API is off: {exc.strerror or exc}"
        self._thread = threading.Thread(target=self._server.run, name="needledrop-api", daemon=True)
        self._thread.start()
        return None

    @property
    def listening(self) -> bool:
        return self._server.started

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting and finish what is in flight (at most `timeout` seconds)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
