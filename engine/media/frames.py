"""Turning decoded video frames into the frame backbone's input."""

from __future__ import annotations

import cv2
import numpy as np

from engine.bundle.manifest import VideoConfig


def fit_frame(rgb: np.ndarray, config: VideoConfig) -> np.ndarray:
    """An RGB uint8 frame of any size -> (frame_size, frame_size, 3) uint8, as the bundle prescribes.

    `center_crop` keeps the centre square of the frame (its short side) scaled to `frame_size`, the framing
    ImageNet models were trained on. The square is cut before it is scaled: resizing the whole frame first
    cost 4 ms more per 720p sample for pixels that are thrown away (frame features within a cosine of 0.997
    on average of the old order's, tests/bench/bench_recommend.py).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")
    if config.resize != "center_crop":
        raise ValueError(f"unknown frame resize mode {config.resize!r} in the bundle manifest")
    size = config.frame_size
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = rgb[top : top + side, left : left + side]
    # INTER_AREA averages when shrinking (no aliasing); upscaling tiny frames wants INTER_LINEAR.
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(square, (size, size), interpolation=interpolation))
