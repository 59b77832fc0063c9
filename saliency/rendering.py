"""Maps and images to display-size PNGs (Pillow + matplotlib colormaps): the one rule every map is drawn by.

A stimulus set chooses how its maps mean their values (saliency.names.RENDERINGS):
- sequential (the default): 0 and below dark, the largest values bright (inferno); for maps whose sign carries
  no meaning (VG's and SmoothGrad's channel maxima, Grad-CAM after its ReLU);
- absolute: the magnitude |value| on the same colours, for maps whose sign is the method's noise;
- diverging: negative blue, zero white, positive red (RdBu_r, a colour-blind-safe diverging colormap) on a range
  symmetric around zero, for signed relevance (LRP, Gradient x Input, IG without an absolute value).
Its range (saliency.names.SCALINGS) is each map's own, or shared by the maps of one image by one method (the maps
a side-by-side page that compares models shows together, so that a brighter map means larger values).

A range is the 99th percentile of the values shown (of |value| for absolute and diverging), so a few extreme
pixels cannot wash out the rest; where that is 0 (almost all zero) the maximum; an all-zero map has range 0 and
is drawn in the colour of zero. Values beyond the range are clipped to its ends.
"""

import hashlib
import io
from collections import defaultdict

import numpy as np
from matplotlib import colormaps
from PIL import Image

from saliency.names import ABSOLUTE, DIVERGING, PER_MAP, RENDERINGS, SCALINGS, SEQUENTIAL

DISPLAY_SIZE = 224
COLORMAPS = {SEQUENTIAL: "inferno", ABSOLUTE: "inferno", DIVERGING: "RdBu_r"}
CLIP_PERCENTILE = 99
# What the colours mean, low to high, in words: the colour key participants may see (it names no method or model).
LEGEND_LABELS = {
    SEQUENTIAL: ("Dark: less important", "Bright: more important"),
    ABSOLUTE: ("Dark: less important", "Bright: more important"),
    DIVERGING: ("Blue: against the prediction", "White: no effect", "Red: for the prediction"),
}
LEGEND_STOPS = 11


def check_choice(rendering, scaling=PER_MAP):
    """ValueError naming the choices when `rendering` or `scaling` is not one of them."""
    if rendering not in RENDERINGS:
        raise ValueError(f"unknown rendering {rendering!r}; choose one of {', '.join(RENDERINGS)}")
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; choose one of {', '.join(SCALINGS)}")


def _shown_values(saliency, rendering):
    values = np.asarray(saliency, dtype=np.float64)
    return values if rendering == SEQUENTIAL else np.abs(values)


def map_range(saliency, rendering=SEQUENTIAL):
    """The value the colours' top end stands for (see the module's docstring); 0 for an all-zero map."""
    values = _shown_values(saliency, rendering)
    scale = np.percentile(values, CLIP_PERCENTILE)
    if scale <= 0:
        scale = values.max()
    return float(max(scale, 0.0))


def normalize_map(saliency, rendering=SEQUENTIAL, scale=None) -> np.ndarray:
    """Positions on the rendering's colormap, in [0, 1]; `scale` is the range (default: the map's own)."""
    check_choice(rendering)
    values = np.asarray(saliency, dtype=np.float64)
    scale = map_range(values, rendering) if scale is None else scale
    if rendering == DIVERGING:
        if scale <= 0:
            return np.full_like(values, 0.5)
        return (np.clip(values / scale, -1.0, 1.0) + 1.0) / 2.0
    if scale <= 0:
        return np.zeros_like(values)
    return np.clip(_shown_values(values, rendering) / scale, 0.0, 1.0)


def map_ranges(maps, groups, rendering=SEQUENTIAL, scaling=PER_MAP):
    """The range of each of `maps`: None (its own) per map, or one per group under PER_IMAGE.

    `groups[i]` names what map i is shown beside: its image and method (the models' maps of one image by one method
    share a range; maps of different methods are in different units and never do).
    """
    check_choice(rendering, scaling)
    if scaling == PER_MAP:
        return [None] * len(maps)
    members = defaultdict(list)
    for saliency, group in zip(maps, groups):
        members[group].append(np.ravel(np.asarray(saliency, dtype=np.float64)))
    shared = {group: map_range(np.concatenate(values), rendering) for group, values in members.items()}
    return [shared[group] for group in groups]


def _resize(image: Image.Image, size: int) -> Image.Image:
    # Nearest keeps low-resolution pixels (FMNIST 28 px, CIFAR-10 32 px) crisp; larger images are resampled.
    resample = Image.Resampling.NEAREST if image.width < size / 2 else Image.Resampling.BICUBIC
    return image.resize((size, size), resample)


def render_heatmap(saliency, size: int = DISPLAY_SIZE, rendering=SEQUENTIAL, scale=None) -> Image.Image:
    colours = colormaps[COLORMAPS[rendering]](normalize_map(saliency, rendering, scale))[..., :3]
    return _resize(Image.fromarray(np.round(colours * 255).astype(np.uint8), "RGB"), size)


def render_heatmaps(maps, groups, rendering=SEQUENTIAL, scaling=PER_MAP, size: int = DISPLAY_SIZE):
    """Each of `maps` rendered, on its own range or its group's (map_ranges)."""
    return [render_heatmap(saliency, size, rendering, scale)
            for saliency, scale in zip(maps, map_ranges(maps, groups, rendering, scaling))]


def legend(rendering):
    """What a colour key for `rendering` shows: its colours low to high (CSS hex) and its words, spread evenly
    along them (the first at the lowest value, the last at the highest)."""
    check_choice(rendering)
    colours = colormaps[COLORMAPS[rendering]](np.linspace(0, 1, LEGEND_STOPS))[:, :3]
    return ["#" + "".join(f"{round(c * 255):02x}" for c in colour) for colour in colours], LEGEND_LABELS[rendering]


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
