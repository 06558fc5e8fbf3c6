"""What the library raises on purpose; each message is one sentence a user can act on."""

from __future__ import annotations

from engine.errors import NeedledropError
from engine.sqlite import DatabaseError


class CatalogError(DatabaseError):
    """The catalog file cannot be opened, read or written."""


class LibraryError(NeedledropError):
    """A folder cannot be a library folder (missing, not a folder, or overlapping another one)."""


class ScanRunningError(NeedledropError):
    """Another scan of the same data folder is running, in this process or another."""
