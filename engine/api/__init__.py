"""The local API for editor plugins: HTTP + JSON on 127.0.0.1, every request carrying the user's token."""

from engine.api.app import create_app
from engine.api.token import load_or_create_token

__all__ = ["create_app", "load_or_create_token"]
