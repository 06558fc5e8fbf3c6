"""Needledrop's runtime: media decoding, the model bundle, the music library and recommendation.

Imports neither Qt nor torch; the desktop app, the CLI and the local API all go through this package.
"""

__version__ = "0.1.0"
