import numpy as np
import pytest
from PIL import Image

from saliency.names import ABSOLUTE, DIVERGING, PER_IMAGE, PER_MAP, SEQUENTIAL
from saliency.rendering import (
    DISPLAY_SIZE, legend, map_range, map_ranges, normalize_map, png_bytes, render_heatmap, render_heatmaps,
    render_image,
)


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


def _colour(image, row, column):
    """The RGB colour of map pixel (row, column) of a 4x4 map drawn at 224 px (each map pixel a 56 px block)."""
    return tuple(np.asarray(image)[row * 56 + 28, column * 56 + 28])


def test_negative_relevance_has_its_own_colour_in_diverging_maps():
    signed = np.array([[-4.0, -2.0, 0.0, 2.0], [4.0, 0.0, 0.0, 0.0], [0, 0, 0, 0], [0, 0, 0, 0]])
    sequential = render_heatmap(signed, rendering=SEQUENTIAL)
    assert _colour(sequential, 0, 0) == _colour(sequential, 0, 2)  # today's rule: negative drawn as zero
    diverging = render_heatmap(signed, rendering=DIVERGING)
    against, zero, towards = _colour(diverging, 0, 0), _colour(diverging, 0, 2), _colour(diverging, 1, 0)
    assert len({against, zero, towards}) == 3
    assert against[2] > against[0] and towards[0] > towards[2] and min(zero) > 240  # blue, white, red
    assert normalize_map(signed, DIVERGING)[0, 1] == pytest.approx(1 - normalize_map(signed, DIVERGING)[0, 3])
    assert normalize_map(np.zeros((4, 4)), DIVERGING).tolist() == np.full((4, 4), 0.5).tolist()
    absolute = render_heatmap(signed, rendering=ABSOLUTE)
    assert _colour(absolute, 0, 0) == _colour(absolute, 1, 0) != _colour(absolute, 0, 2)  # |-4| = |4| > 0


def test_the_default_rendering_is_the_one_every_shipped_map_was_drawn_with():
    saliency = np.random.default_rng(1).normal(size=(28, 28))
    assert png_bytes(render_heatmap(saliency)) == png_bytes(render_heatmap(saliency, rendering=SEQUENTIAL,
                                                                           scale=map_range(saliency)))
    assert (normalize_map(saliency) == np.clip(saliency / np.percentile(saliency, 99), 0, 1)).all()


def test_shared_scaling_gives_the_maps_of_one_image_and_method_one_range():
    rng = np.random.default_rng(2)
    strong, weak, other_method = rng.random((8, 8)) * 10, rng.random((8, 8)), rng.random((8, 8))
    maps, groups = [strong, weak, other_method], [("boot", "VG"), ("boot", "VG"), ("boot", "LRP")]
    assert map_ranges(maps, groups, SEQUENTIAL, PER_MAP) == [None, None, None]
    ranges = map_ranges(maps, groups, SEQUENTIAL, PER_IMAGE)
    assert ranges[0] == ranges[1] == map_range(np.concatenate([strong.ravel(), weak.ravel()]))
    assert ranges[2] == map_range(other_method)
    own, shared = (render_heatmaps(maps, groups, SEQUENTIAL, scaling) for scaling in (PER_MAP, PER_IMAGE))
    brightness = [np.asarray(image.convert("L"), dtype=float).mean() for image in shared]
    assert brightness[1] < brightness[0] / 3  # the weak map is dark beside the strong one
    assert own[1].tobytes() != shared[1].tobytes() and own[2].tobytes() == shared[2].tobytes()
    assert map_ranges([-weak, weak], [1, 1], DIVERGING, PER_IMAGE) == [map_range(np.concatenate([weak, weak]), DIVERGING)] * 2


def test_a_legend_is_the_rendering_s_own_colours_and_words():
    colours, words = legend(DIVERGING)
    assert len(colours) == 11 and colours[5] == "#f7f6f6"  # near-white zero in the middle
    assert words == ("Blue: against the prediction", "White: no effect", "Red: for the prediction")
    sequential_colours, words = legend(SEQUENTIAL)
    assert sequential_colours[0] == "#000004" and words == ("Dark: less important", "Bright: more important")
    assert legend(ABSOLUTE) == legend(SEQUENTIAL)
    with pytest.raises(ValueError, match="unknown rendering 'rainbow'; choose one of sequential, absolute, diverging"):
        legend("rainbow")
