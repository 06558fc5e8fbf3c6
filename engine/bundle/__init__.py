"""The model bundle: manifest, verified files on disk, and ONNX Runtime sessions over its graphs."""

from engine.bundle.manifest import SCHEMA_VERSION, Manifest
from engine.bundle.runtime import ExecutionInfo, create_session
from engine.bundle.store import Bundle, current_bundle_dir, install_bundle, load_bundle, open_current_bundle

__all__ = [
    "SCHEMA_VERSION",
    "Bundle",
    "ExecutionInfo",
    "Manifest",
    "create_session",
    "current_bundle_dir",
    "install_bundle",
    "load_bundle",
    "open_current_bundle",
]
