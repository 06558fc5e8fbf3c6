"""Needledrop's runtime: media decoding, the model bundle, the music library and recommendation.

Imports neither Qt nor torch. The desktop app, the CLI and the local API each hold one `engine.Engine`
(engine/facade.py) and call only it.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `engine.Engine` without making `import engine.paths` load ONNX Runtime, Annoy and the catalog.
    if name == "Engine":
        from engine.facade import Engine

        return Engine
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
