"""Comparing stimuli made here with the shipped fixtures' (tests/saliency)."""

import copy
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from PIL import Image

from saliency.data import batches, load_split
from saliency.stimuli import STIMULUS_DTYPE
from saliency.training import load_checkpoint

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


def shipped_images(sources):
    """(Fashion-MNIST's test split, the test images of `sources`, a fixture's source-image fields, as one batch in
    the stimuli's float64)."""
    test_data = load_split("fmnist", False)
    x, _ = next(batches(test_data, len(sources), indices=torch.tensor([source["test_index"] for source in sources])))
    return test_data, x.to(dtype=STIMULUS_DTYPE)


def shipped_model(variant):
    """The shipped FMNIST checkpoint of `variant` as generate_stimuli runs it: a float64 copy."""
    model, _ = load_checkpoint(Path(settings.BASE_DIR) / "fixtures" / "models", "fmnist", variant, "cpu")
    return copy.deepcopy(model).to(STIMULUS_DTYPE)
