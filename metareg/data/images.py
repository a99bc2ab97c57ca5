"""One image (a file, PNG bytes or an array) as model input, as the prepared datasets hold them."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image


def model_input(image, size: int, invert: bool, caller: str = "model_input") -> np.ndarray:
    """float32 [size, size, 1] in [0, 1]: `image` (a path to any file PIL reads, PNG bytes, or an
    array [H, W] or [H, W, C] of pixels in 0-255 or [0, 1]) converted to grey, resized with LANCZOS,
    inverted if `invert`."""
    if isinstance(image, str | os.PathLike):
        im = Image.open(image)
    elif isinstance(image, bytes):
        im = Image.open(io.BytesIO(image))
    else:
        a = np.asarray(image)
        if a.ndim == 3:
            a = a.mean(axis=-1)
        if a.ndim != 2:
            raise ValueError(
                f"{caller}: expected an image [H, W] or [H, W, C], got shape "
                f"{np.asarray(image).shape}"
            )
        a = a.astype(np.float64)
        a = a * 255.0 if a.max() <= 1.0 else a
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    with im:
        small = np.asarray(
            im.convert("L").resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8
        )
    if invert:
        small = 255 - small
    return (small.astype(np.float32) / 255.0)[..., None]
