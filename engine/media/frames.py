"""Turning decoded video frames into the frame backbone's input."""

from __future__ import annotations

import cv2
import numpy as np

from engine.bundle.manifest import VideoConfig


def fit_frame(rgb: np.ndarray, config: VideoConfig) -> np.ndarray:
    """An RGB uint8 frame of any size -> (frame_size, frame_size, 3) uint8, as the bundle prescribes.

    `center_crop` scales the short side to `frame_size` and keeps the centre square, the framing
    ImageNet models were trained on.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")
    if config.resize != "center_crop":
        raise ValueError(f"unknown frame resize mode {config.resize!r} in the bundle manifest")
    size = config.frame_size
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    # INTER_AREA averages when shrinking (no aliasing); upscaling tiny frames wants INTER_LINEAR.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(resized[top : top + size, left : left + size])
