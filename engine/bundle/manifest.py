"""The model bundle's manifest: the one source of truth for every model constant.

`manifest.json` names every graph and file with its sha256, every preprocessing constant the engine and
training need (sample rate, mel parameters, patch and segment lengths, frame rate and size, token limit),
label lists, training metrics and component licences. It decodes into frozen structs; an unknown or
missing key is an error that names the field, so a manifest is never half-understood.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from engine.errors import BundleError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


class _Struct(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class AudioConfig(_Struct, omit_defaults=True):
    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    # One music-backbone input: a fixed-length waveform patch, and the hop between patches.
    patch_samples: int
    patch_hop_samples: int
    # One music-head window over consecutive patches (what the library indexes and ranks).
    segment_seconds: float
    segment_hop_seconds: float
    # How multichannel audio becomes mono before anything else sees it.
    downmix: str
    # Model-free descriptors per segment fed to the music head (engine.media.dsp.DESCRIPTORS), and the
    # version of their measures (engine.media.dsp.ANALYSIS_VERSION; manifests written before it: 1).
    descriptors: tuple[str, ...]
    analysis_version: int = 1
    # The music backbone hears one patch in this many, and each patch it skips carries the features and
    # tags of the last one heard: a faster scan that keeps the heads' patch grid (a segment still has its
    # patches at the positions its head was trained on). Left out of a manifest at 1 (its defaults are),
    # so that bundles written before it keep their id and their libraries' analyses.
    patch_stride: Annotated[int, msgspec.Meta(ge=1)] = 1


class VideoConfig(_Struct):
    frame_rate: float
    frame_size: int
    resize: str
    # Applied inside the frame graph, listed here so that anyone reading the manifest knows the convention.
    pixel_mean: float
    pixel_std: float
    max_frames: int
    # Low-level cues per sampled frame fed to the video head (engine.media.video.CUES).
    cues: tuple[str, ...]


class TextConfig(_Struct):
    max_tokens: int
    tokenizer: str


class BeatConfig(_Struct):
    # The beat tracker graph's frames (export_onnx/beat_tracker.py): the magnitude spectrum of Hann windows
    # this many samples long, one every `hop_samples`, at the audio's sample rate, centred on the hops.
    frame_samples: int
    hop_samples: int
    # Each piece the scan decodes (48 s) is scaled to this RMS before the tracker hears it, so that a track's
    # tempo and beats do not depend on how loud it was mastered; 0: as decoded (bundles before it).
    input_rms: float = 0.0


class DrumSfxConfig(_Struct):
    """The drum detector's front end (export_onnx/drum_sfx.py, engine/media/sfx_embedding.py): aisfx's mel as
    librosa 0.11 computes it for aisfx, on the track decoded at `sample_rate` with the audio's downmix."""

    sample_rate: int
    # `normalise` "peak": the whole track divided by its largest |sample| before the spectrum.
    normalise: str
    # Periodic Hann windows `n_fft` samples long, one every `hop_length`, centred on the hops with zeros
    # before the first sample and after the last (librosa's center=True, pad_mode "constant"): power spectrum.
    n_fft: int
    hop_length: int
    # `n_mels` triangles between `fmin` and `fmax` on the `mel_scale` ("htk"), each divided by its sum
    # (`filter_norm` "l1": librosa's norm=1.0).
    n_mels: int
    fmin: float
    fmax: float
    mel_scale: str
    filter_norm: str
    # log10(log_gain * mel + 1) / log_divisor: aisfx's "original" normalisation of the log-mel.
    log_gain: float
    log_divisor: float
    # The graph's input: `window_frames` frames, a window every `window_hop_frames` (end to end); a track's
    # frames after its last whole window are left out, and a track shorter than one window is padded with
    # zeros (log-mel 0) to one.
    window_frames: int
    window_hop_frames: int


class Preprocessing(_Struct):
    audio: AudioConfig
    video: VideoConfig
    text: TextConfig
    # None in bundles made before the beat tracker (their analysis version is then older, so the engine
    # asks for a rebuild before it would need this).
    beats: BeatConfig | None = None
    # None in bundles made before the drum detector's network (and nothing reads it then).
    drum_sfx: DrumSfxConfig | None = None


class TensorSpec(_Struct):
    name: str
    dtype: str
    # Ints are fixed sizes, strings name dynamic axes ("batch", "samples", "tokens").
    shape: tuple[int | str, ...]


class GraphSpec(_Struct):
    file: str
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # Hash of everything the graph was built from (weights, export code version, constants):
    # `models build` rebuilds a graph only when this changes.
    recipe: str
    source: str
    parity_max_abs_diff: float | None = None
    # Hash of the function the graph computes (weights, constants, the exporter's version of it), without
    # how it is computed: heads trained on features of one backbone graph fit any graph with the same
    # `features`. Absent in older manifests, where `recipe` stands for it.
    features: str | None = None

    @property
    def computes(self) -> str:
        return self.features or self.recipe


class FileSpec(_Struct):
    file: str
    sha256: str


class Licence(_Struct):
    component: str
    source: str
    licence: str


class Manifest(_Struct):
    schema_version: int
    bundle_id: str
    created: str
    needledrop_version: str
    # Dimension of the shared music/query space; None until trained heads are part of the bundle.
    embedding_dim: int | None
    preprocessing: Preprocessing
    graphs: dict[str, GraphSpec]
    files: dict[str, FileSpec]
    labels: dict[str, tuple[str, ...]]
    licences: tuple[Licence, ...]
    metrics: dict[str, Any] = {}


class _VersionOnly(msgspec.Struct):
    schema_version: int | None = None


def decode_manifest(raw: bytes, where: str = "manifest.json") -> Manifest:
    """Parse manifest bytes, refusing schema versions and fields this engine does not understand."""
    try:
        version = msgspec.json.decode(raw, type=_VersionOnly).schema_version
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BundleError(f"{where} is not valid JSON: {exc}") from exc
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{where} uses manifest schema version {version}, but this Needledrop understands only "
            f"version {SCHEMA_VERSION}. Rebuild the bundle with `needledrop models build`, or install the "
            "Needledrop release that made it."
        )
    try:
        return msgspec.json.decode(raw, type=Manifest)
    except msgspec.ValidationError as exc:
        raise BundleError(f"{where} is malformed: {exc}") from exc


def encode_manifest(manifest: Manifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
