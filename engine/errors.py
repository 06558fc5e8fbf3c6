"""Exceptions the engine raises on purpose. Each carries a message a user can act on."""


class NeedledropError(Exception):
    """Base class: anything the CLI, API or desktop app should report as one clear line."""


class BundleError(NeedledropError):
    """The model bundle is missing, incomplete, tampered with, or of a version this engine does not know."""


class DecodeError(NeedledropError):
    """A media file could not be opened or decoded."""


class EmptyRangeError(DecodeError):
    """A range of a media file with nothing in it: its in point at or past the file's end (`duration`, 0
    where the file declares none)."""

    def __init__(self, message: str, duration: float):
        super().__init__(message)
        self.duration = duration


class ExecutionProviderError(NeedledropError):
    """The requested ONNX Runtime execution provider cannot be used."""


class TimelineReadError(NeedledropError):
    """A timeline file that cannot be read: not there, in a format Needledrop does not read, damaged, or
    holding no picture clip whose media file is there."""
