"""Comparing stimuli made here with the shipped fixtures' (tests/saliency)."""

import numpy as np
from PIL import Image

# What "the same stimuli" means on another CPU (docs/explanation/reproducibility.md). The stimuli are computed in float64,
# so another CPU's kernels move a value by about 1e-15 relative: nothing a PNG's 8-bit pixel or the fixture's six
# significant digits can show, except where a value lies on a rounding boundary. Those are the tolerances.
PNG_LEVELS = 1  # largest difference of a pixel's channel, in grey levels of 255
PNG_PIXEL_SHARE = 0.001  # share of a PNG's pixels allowed to differ at all
METRIC_RTOL = 1e-5  # one unit in the sixth significant digit, relative (at most)


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def assert_png_close(made, shipped, what):
    a, b = _pixels(made), _pixels(shipped)
    assert a.shape == b.shape, what
    differs = np.abs(a - b).max(axis=2)
    assert differs.max() <= PNG_LEVELS and (differs > 0).mean() <= PNG_PIXEL_SHARE, (
        f"{what}: pixels differ by up to {differs.max()} levels on {(differs > 0).mean():.2%} of the image")
