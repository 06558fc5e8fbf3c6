"""Gathering the chosen music into one folder, in formats the target editor can import (`export --collect`).

A library holds whatever people listen to: Opus, Ogg Vorbis, FLAC, WMA... Premiere, Resolve and Final Cut
Pro refuse most of those, so a timeline that points at them opens with offline media. Collecting copies each
file the editor reads as it is and converts the others to WAV, losslessly from what the decoder gives (PCM at
the source's own sample rate and channel layout, no resampling); the timeline then points at the folder.

The folder keeps a small manifest (`MANIFEST`) of which library file, at which size and modification time,
each output came from. Collecting again reuses an output that is still up to date instead of converting it
again, converts it again when the library file changed, and never overwrites a file it did not write: two
`song.flac` from different folders become `song.wav` and `song (2).wav`.

Every file is written to a temporary file beside its final name, synced and renamed over it, so a failure
(a full disk, a corrupt source) leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import itertools
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container

from engine import atomic
from engine.errors import DecodeError
from engine.export import ExportError
from engine.media.container import open_stream, reason

_EDITORS_READ = frozenset({".wav", ".aif", ".aiff", ".mp3", ".m4a", ".aac"})

# Timeline format -> the suffixes (lower case) its editors import; None: anything.
READS: dict[str, frozenset[str] | None] = {
    "otio": None,  # Kdenlive, the editor OpenTimelineIO files are for here, reads whatever FFmpeg reads
    "fcp7": _EDITORS_READ,  # Premiere, Resolve
    "fcpx": _EDITORS_READ | {".caf"},  # Final Cut Pro
    # An EDL carries the picture cut only: no editor imports music from it (the export collects none for one).
    "edl": frozenset(),
}

MANIFEST = ".needledrop-collected.json"

# Decoded sample formats a 16-bit WAV holds exactly; anything else (float from lossy decoders, 24- and 32-bit
# integers) goes to 24 bits, which keeps every bit of 24-bit sources and far more than lossy ones carry.
_SIXTEEN_BITS = frozenset({"u8", "u8p", "s16", "s16p"})

# Claiming a name and recording it in the manifest must not interleave between threads (the local API
# serves several); one process collecting into a folder at a time is assumed, as for the export itself.
_lock = threading.Lock()


@dataclass(frozen=True)
class Collected:
    source: str  # the library file
    path: str  # the file in the folder the timeline should point at
    transcoded: bool  # True if converted to WAV, False if copied (or already there)


def editor_reads(path: str | os.PathLike[str], fmt: str) -> bool:
    """Whether the editors `fmt` timelines are for import the file `path` as it is (judged by its suffix)."""
    if fmt not in READS:
        raise ExportError(f"unknown timeline format {fmt!r}: use one of {', '.join(READS)}")
    reads = READS[fmt]
    return reads is None or Path(os.fsdecode(path)).suffix.lower() in reads


def collect(source: str | os.PathLike[str], folder: str | os.PathLike[str], fmt: str) -> Collected:
    """Put `source` into `folder` (made if missing) in a form the editors of `fmt` import: a copy, or a WAV.

    Returns where the timeline should point. A file collected before and unchanged since is not written again.
    Raises ExportError, in one sentence naming the file, when the source cannot be read or decoded or the
    folder cannot be written.
    """
    source = os.fsdecode(source)
    transcode = not editor_reads(source, fmt)
    status = _stat_source(source)
    folder = Path(os.path.abspath(os.fsdecode(folder)))
    wanted = Path(source).stem + ".wav" if transcode else Path(source).name
    provenance = {
        "source": os.path.realpath(source),
        "size": status.st_size,
        "mtime_ns": status.st_mtime_ns,
        "transcoded": transcode,
    }
    with _lock:
        manifest = _read_manifest(folder)
        name, current = _place(folder, manifest, wanted, source, provenance)
        target = folder / name
        if current:
            return Collected(source, str(target), transcode)
        # The source is opened first: one that cannot be read or decoded fails before the folder is touched.
        with _transcoding(source) if transcode else _copying(source) as write:
            existed = target.exists()
            _make_folder(folder, source)
            _write(target, write, source)
        manifest[name] = provenance
        try:
            _write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1)), source)
        except ExportError:
            if not existed:  # unrecorded, it would be taken for someone else's file and never reused
                target.unlink(missing_ok=True)
            raise
    return Collected(source, str(target), transcode)


# ---- where the file goes ----


def _place(folder: Path, manifest: dict, wanted: str, source: str, provenance: dict) -> tuple[str, bool]:
    """The name in `folder` for `source`, and whether the file there already is it, up to date.

    `wanted`, then `stem (2).ext`, `stem (3).ext`...: the first name that this source had before, or that
    nothing holds. A file the manifest does not know is never overwritten: it is someone else's.
    """
    for name in numbered(wanted):
        target = folder / name
        if not provenance["transcoded"] and _same_file(target, source):
            return name, True  # the library file is in the folder already
        entry = manifest.get(name)
        if entry is not None and entry.get("source") == provenance["source"]:
            return name, entry == provenance
        if entry is None and name != MANIFEST and not os.path.lexists(target):
            return name, False
    raise AssertionError("numbered never ends")


def numbered(wanted: str) -> Iterator[str]:
    """`wanted`, then `stem (2).ext`, `stem (3).ext`..."""
    stem, suffix = os.path.splitext(wanted)
    yield wanted
    for n in itertools.count(2):
        yield f"{stem} ({n}){suffix}"


def settle(made: Path, wanted: str) -> Path:
    """Give the finished file `made` the name `wanted` beside it, or the first numbered name that is free or
    already holds the same bytes (then `made` is dropped). Never over another file: a timeline exported
    earlier may point at it."""
    for name in numbered(wanted):
        target = made.with_name(name)
        if os.path.lexists(target):
            if _same_bytes(made, target):
                made.unlink()
                return target
            continue
        try:
            os.link(made, target)  # fails if the name was taken meanwhile, where a rename would replace it
        except FileExistsError:
            continue
        except OSError:  # a filesystem without hard links (FAT, exFAT): the name is taken first, then filled
            try:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            os.replace(made, target)
            return target
        made.unlink()
        return target
    raise AssertionError("numbered never ends")


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        return b.is_file() and filecmp.cmp(a, b, shallow=False)
    except OSError:  # someone else's file, unreadable: not ours to reuse
        return False


def _same_file(a: Path, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _read_manifest(folder: Path) -> dict[str, dict]:
    """The folder's record of what it holds; entries whose file has gone are dropped. A missing or unreadable
    manifest is an empty one: what is in the folder is then left alone, and new outputs get fresh names."""
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict):
        return {}
    return {
        name: entry
        for name, entry in manifest.items()
        if isinstance(entry, dict) and Path(name).name == name and os.path.isfile(folder / name)
    }


# ---- reading the source ----


def _stat_source(source: str) -> os.stat_result:
    try:
        status = os.stat(source)
    except OSError as exc:
        raise ExportError(f"cannot collect {_show(source)}: {_why_unreadable(exc)}") from exc
    if not stat.S_ISREG(status.st_mode):
        raise ExportError(f"cannot collect {_show(source)}: it is not a file")
    return status


@contextlib.contextmanager
def _copying(source: str) -> Iterator[Callable[[str], None]]:
    """A writer of the source's bytes as they are."""
    try:
        reader = open(source, "rb")  # noqa: SIM115 (closed below, once the writer has run or failed)
    except OSError as exc:
        raise ExportError(f"cannot collect {_show(source)}: {_why_unreadable(exc)}") from exc

    def write(tmp: str) -> None:
        with open(tmp, "wb") as out:
            while True:
                try:
                    block = reader.read(1 << 20)
                except OSError as exc:  # the source's fault, not the folder's
                    raise ExportError(f"cannot collect {_show(source)}: {_why_unreadable(exc)}") from exc
                if not block:
                    return
                out.write(block)

    with reader:
        yield write


@contextlib.contextmanager
def _transcoding(source: str) -> Iterator[Callable[[str], None]]:
    """A writer of the source's first audio stream as WAV."""
    try:
        container, stream = open_stream(Path(source), "audio")
    except DecodeError as exc:
        why = f"FFmpeg cannot open it ({reason(exc.__cause__)})" if exc.__cause__ else "it has no audio stream"
        raise ExportError(f"cannot convert {_show(source)} to WAV: {why}") from exc
    with container:
        frames = _decoded(container, stream, source)
        # The first frame now, so that a file with no decodable audio fails before the folder is touched.
        first = next(frames, None)
        if first is None:
            raise ExportError(f"cannot convert {_show(source)} to WAV: FFmpeg finds no audio it can decode in it")
        yield lambda tmp: _encode_wav(first, frames, tmp)


def _decoded(container: av.container.InputContainer, stream: av.stream.Stream, source: str) -> Iterator[av.AudioFrame]:
    # Decoding errors are the source's fault; the same FFmpeg errors from the writer are the folder's.
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as exc:
        raise ExportError(f"cannot convert {_show(source)} to WAV: its audio is corrupt ({reason(exc)})") from exc


def _encode_wav(first: av.AudioFrame, rest: Iterator[av.AudioFrame], path: str) -> None:
    """PCM WAV at the first frame's rate and layout: only the sample format changes. (The rate too, only for a
    file whose rate changes midway, such as a chained Ogg: a WAV has one rate, the first part's.)"""
    codec, sample_format = ("pcm_s16le", "s16") if first.format.name in _SIXTEEN_BITS else ("pcm_s24le", "s32")
    rate, layout = first.sample_rate, first.layout
    to_pcm = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
    # FFmpeg writes the file itself: through a Python file object, PyAV prints tracebacks on a full disk.
    with av.open(path, "w", format="wav") as wav:
        stream = wav.add_stream(codec, rate=rate, layout=layout)
        written = 0
        for frame in itertools.chain([first], rest, [None]):
            for pcm in to_pcm.resample(frame):
                # Our own timestamps: decoders may start anywhere (or nowhere), a WAV starts at 0.
                pcm.pts, pcm.time_base = written, Fraction(1, rate)
                written += pcm.samples
                wav.mux(stream.encode(pcm))
        wav.mux(stream.encode(None))


# ---- writing into the folder ----


def _make_folder(folder: Path, source: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ExportError(f"cannot collect {_show(source)} into {_show(folder)}: a file is in the way") from exc
    except OSError as exc:
        raise ExportError(f"cannot collect {_show(source)} into {_show(folder)}: {atomic.disk_error(exc)}") from exc


def _write(target: Path, write: Callable[[str], None], source: str) -> None:
    """`write` the file to `target`, atomically (engine/atomic.py)."""
    try:
        with atomic.replacing(target) as tmp:
            write(str(tmp))
    except (OSError, av.error.FFmpegError) as exc:
        raise ExportError(
            f"cannot collect {_show(source)} into {_show(target.parent)}: {atomic.disk_error(exc)}"
        ) from exc


def _why_unreadable(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "the file does not exist"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "no permission to read it"
    return reason(exc)


def _show(path: str | os.PathLike[str]) -> str:
    """A path for people: bytes that are not valid UTF-8 shown as U+FFFD rather than failing to print."""
    return os.fsencode(path).decode("utf-8", errors="replace")
