import numpy as np
from PIL import Image

from saliency.rendering import DISPLAY_SIZE, normalize_map, render_heatmap, render_image


def test_maps_are_divided_by_their_99th_percentile_and_clipped():
    saliency = np.arange(1000, dtype=float)
    normalized = normalize_map(saliency)
    p99 = np.percentile(saliency, 99)
    assert normalized.max() == 1.0 and normalized.min() == 0.0
    assert np.allclose(normalized[:900], saliency[:900] / p99)
    assert (normalized[saliency >= p99] == 1.0).all()


def test_all_zero_and_sparse_maps_are_handled():
    assert (normalize_map(np.zeros((28, 28))) == 0).all()
    sparse = np.zeros((28, 28))
    sparse[3, 4] = 2.0  # 99th percentile is 0: scale by the maximum
    assert normalize_map(sparse)[3, 4] == 1.0
    assert render_heatmap(np.zeros((28, 28))).size == (DISPLAY_SIZE, DISPLAY_SIZE)


def test_low_resolution_images_are_upscaled_with_nearest_pixels():
    image = np.zeros((1, 28, 28))
    image[0, 0, 0] = 1.0
    png = render_image(image)
    assert png.size == (DISPLAY_SIZE, DISPLAY_SIZE) and png.mode == "L"
    pixels = np.asarray(png)
    assert (pixels[:8, :8] == 255).all() and (pixels[8:, :] == 0).all()
    heat = np.asarray(render_heatmap(np.random.default_rng(0).random((28, 28))))
    assert heat.shape == (DISPLAY_SIZE, DISPLAY_SIZE, 3)
    assert (heat[:8, :8] == heat[0, 0]).all()


def test_colour_images_stay_rgb():
    assert render_image(np.random.default_rng(0).random((3, 32, 32))).mode == "RGB"
    assert isinstance(render_image(np.ones((3, 224, 224))), Image.Image)
