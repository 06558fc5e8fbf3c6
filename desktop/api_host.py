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
from engine.api import create_app, load_or_create_token, saved_origins
from engine.facade import Engine

HOST = "127.0.0.1"
STOP_WITHIN = 1.0  # seconds a request in flight may take to finish when the app quits


class ApiHost:
    def __init__(self, engine: Engine, port: int):
        self.port = port
        self.token = load_or_create_token(paths.config_dir())
        app = create_app(engine, self.token, allowed_origins=saved_origins([]))
        config = uvicorn.Config(
            app, host=HOST, port=port, log_level="warning", timeout_graceful_shutdown=int(STOP_WITHIN) or 1
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> str | None:
        """Serve in a background thread; None once it listens, else why it cannot (the port is taken...).

        The socket is bound here and handed to uvicorn, which would otherwise report a taken port by
        exiting its thread: one bind, with uvicorn's own options, and the answer is known at once."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            listener.bind((HOST, self.port))
            listener.listen(128)
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE:
                return f"port {self.port} is in use (another Needledrop, or `needledrop serve`?)"
            return f"port {self.port}: {exc.strerror or exc}"
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [listener]}, name="needledrop-api", daemon=True
        )
        self._thread.start()
        return None

    @property
    def listening(self) -> bool:
        return self._server.started and self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop accepting, give requests in flight `STOP_WITHIN` seconds, then close them."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_WITHIN + 0.5)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(1.0)
