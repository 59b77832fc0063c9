"""Maps and images to display-size PNGs (Pillow + a matplotlib colormap).

One rule for every map: divide by the map's 99th percentile and clip to [0, 1],
so a few extreme pixels cannot wash out the rest. A map whose 99th percentile
is 0 (almost all zero) is divided by its maximum instead; an all-zero map stays
all zero (shown as the colormap's lowest colour).
"""

import hashlib
import io

import numpy as np
from matplotlib import colormaps
from PIL import Image

DISPLAY_SIZE = 224
COLORMAP = "inferno"
CLIP_PERCENTILE = 99


def normalize_map(saliency: np.ndarray) -> np.ndarray:
    saliency = np.asarray(saliency, dtype=np.float64)
    scale = np.percentile(saliency, CLIP_PERCENTILE)
    if scale <= 0:
        scale = saliency.max()
    if scale <= 0:
        return np.zeros_like(saliency)
    return np.clip(saliency / scale, 0.0, 1.0)


def _resize(image: Image.Image, size: int) -> Image.Image:
    # Nearest keeps low-resolution pixels (FMNIST 28 px, CIFAR-10 32 px) crisp; larger images are resampled.
    resample = Image.Resampling.NEAREST if image.width < size / 2 else Image.Resampling.BICUBIC
    return image.resize((size, size), resample)


def render_heatmap(saliency, size: int = DISPLAY_SIZE) -> Image.Image:
    colours = colormaps[COLORMAP](normalize_map(saliency))[..., :3]
    return _resize(Image.fromarray(np.round(colours * 255).astype(np.uint8), "RGB"), size)


def render_image(image, size: int = DISPLAY_SIZE) -> Image.Image:
    """A (C, H, W) image in [0, 1] (C = 1 or 3) as a display-size PNG-ready image."""
    pixels = np.round(np.clip(np.asarray(image, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
    pil = Image.fromarray(pixels[0], "L") if pixels.shape[0] == 1 else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")
    return _resize(pil, size)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_file_name(data: bytes) -> str:
    """An opaque file name from the PNG's content alone, so that no name tells the model, method or class."""
    return f"{hashlib.sha256(data).hexdigest()[:20]}.png"
