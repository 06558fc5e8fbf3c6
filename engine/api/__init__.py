"""The local API for editor plugins: HTTP + JSON on 127.0.0.1, every request carrying the user's token."""

from engine.api.origins import DEFAULT_PORT, ORIGINS_FILE, saved_origins
from engine.api.token import load_or_create_token

__all__ = ["DEFAULT_PORT", "ORIGINS_FILE", "create_app", "load_or_create_token", "saved_origins"]


def __getattr__(name: str):
    # The app (FastAPI, Starlette, pydantic) loads when it is served, not for every CLI command that only
    # needs the port or the origins.
    if name == "create_app":
        from engine.api.app import create_app

        return create_app
    raise AttributeError(f"module 'engine.api' has no attribute {name!r}")
