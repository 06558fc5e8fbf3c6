"""Tracker modules (.it, .xm, .s3m) rendered with libopenmpt, with some of their instruments muted.

A module holds its own instruments, recorded samples with names, and the notes that play them: rendered once
whole and once with its drum instruments muted, the same human-composed piece exists with and without its
drums, which no General MIDI render can offer. libopenmpt (Debian libopenmpt0) is reached through ctypes, as
its C API is small and Debian ships no Python binding; its "interactive" extension mutes instruments.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from pathlib import Path

import numpy as np

RATE = 48_000


class _Interactive(ctypes.Structure):
    """openmpt_module_ext_interface_interactive: function pointers, of which only the muting is called."""

    _fields_ = [
        (name, ctypes.c_void_p)
        for name in (
            "set_current_speed",
            "set_current_tempo",
            "set_tempo_factor",
            "get_tempo_factor",
            "set_pitch_factor",
            "get_pitch_factor",
            "set_global_volume",
            "get_global_volume",
            "set_channel_volume",
            "get_channel_volume",
            "set_channel_mute_status",
            "get_channel_mute_status",
        )
    ] + [
        ("set_instrument_mute_status", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int)),
        ("get_instrument_mute_status", ctypes.c_void_p),
        ("play_note", ctypes.c_void_p),
        ("stop_note", ctypes.c_void_p),
    ]


@cache
def _lib() -> ctypes.CDLL:
    found = ctypes.util.find_library("openmpt")
    if found is None:
        raise SystemExit("tracker modules need libopenmpt (apt install libopenmpt0)")
    lib = ctypes.CDLL(found)
    vp, i32 = ctypes.c_void_p, ctypes.c_int32
    lib.openmpt_module_ext_create_from_memory.restype = vp
    lib.openmpt_module_ext_create_from_memory.argtypes = [vp, ctypes.c_size_t] + [vp] * 7
    lib.openmpt_module_ext_get_module.restype = vp
    lib.openmpt_module_ext_get_module.argtypes = [vp]
    lib.openmpt_module_ext_destroy.argtypes = [vp]
    lib.openmpt_module_ext_get_interface.argtypes = [vp, ctypes.c_char_p, vp, ctypes.c_size_t]
    for what in ("instrument", "sample"):
        getattr(lib, f"openmpt_module_get_num_{what}s").argtypes = [vp]
        name = getattr(lib, f"openmpt_module_get_{what}_name")
        name.argtypes, name.restype = [vp, i32], vp
    lib.openmpt_free_string.argtypes = [vp]
    lib.openmpt_module_read_float_mono.argtypes = [vp, i32, ctypes.c_size_t, ctypes.POINTER(ctypes.c_float)]
    lib.openmpt_module_read_float_mono.restype = ctypes.c_size_t
    return lib


class Module:
    """One module file, opened with the interactive extension."""

    def __init__(self, path: Path):
        lib = _lib()
        data = Path(path).read_bytes()
        self._ext = lib.openmpt_module_ext_create_from_memory(data, len(data), *([None] * 7))
        if not self._ext:
            raise ValueError(f"libopenmpt cannot read {path}")
        self._module = lib.openmpt_module_ext_get_module(self._ext)
        self._interactive = _Interactive()
        size = ctypes.sizeof(self._interactive)
        if not lib.openmpt_module_ext_get_interface(self._ext, b"interactive", ctypes.byref(self._interactive), size):
            raise ValueError("this libopenmpt has no interactive extension")

    def __enter__(self) -> Module:
        return self

    def __exit__(self, *_) -> None:
        _lib().openmpt_module_ext_destroy(self._ext)

    def instrument_names(self) -> list[str]:
        """What muting addresses: the instruments, or the samples in a module that has none."""
        lib = _lib()
        what = "instrument" if lib.openmpt_module_get_num_instruments(self._module) else "sample"
        count = getattr(lib, f"openmpt_module_get_num_{what}s")(self._module)
        names = []
        for i in range(count):
            text = getattr(lib, f"openmpt_module_get_{what}_name")(self._module, i)
            names.append(ctypes.cast(text, ctypes.c_char_p).value.decode("latin-1").strip())
            lib.openmpt_free_string(text)
        return names

    def render(self, muted: list[int], seconds: float) -> np.ndarray:
        """Mono samples at RATE from the start, at most `seconds`, with the instruments `muted` silent."""
        for index in muted:
            if not self._interactive.set_instrument_mute_status(self._ext, index, 1):
                raise ValueError(f"cannot mute instrument {index}")
        buffer = (ctypes.c_float * RATE)()
        chunks: list[np.ndarray] = []
        while len(chunks) < seconds:
            count = _lib().openmpt_module_read_float_mono(self._module, RATE, RATE, buffer)
            if not count:
                break
            chunks.append(np.frombuffer(buffer, np.float32, count).copy())
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def render(path: Path, muted: list[int], seconds: float) -> np.ndarray:
    with Module(path) as module:
        return module.render(muted, seconds)


def instrument_names(path: Path) -> list[str]:
    with Module(path) as module:
        return module.instrument_names()


def share_taken(whole: np.ndarray, muted: np.ndarray) -> float:
    """How much of a piece's sound muting took away: the mean square of the difference of the two renders,
    each scaled to unit power (0: nothing; 2: all of it)."""

    def unit(x: np.ndarray) -> np.ndarray:
        return x / max(float(np.sqrt(np.mean(x**2))), 1e-9)

    return float(np.mean((unit(whole) - unit(muted)) ** 2))


def write(path: Path, samples: np.ndarray) -> None:
    """A render as Opus, peak-normalised to -3 dBFS."""
    from training.bootstrap.render import write_opus

    write_opus(path, samples / max(float(np.abs(samples).max()), 1e-9) * 0.7071, RATE)
