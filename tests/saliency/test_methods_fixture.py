"""fixtures/methods.json, the second demo study's IG and SmoothGrad maps (devtools/methods_fixture.py made it)."""

import copy
import json
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from devtools.methods_fixture import methods_records
from saliency.attribution import METHODS, predict
from saliency.metrics import explain_and_evaluate
from saliency.names import METRIC_NAMES
from saliency.rendering import png_file_name, render_heatmap
from tests.helpers.stimuli import assert_png_close, shipped_images, shipped_model

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
MODELS, OTHER_METHODS, SEED = ("N", "A", "M2"), ("IG", "SG"), 0  # the command in devtools/methods_fixture.py


def records(name, model):
    return [r["fields"] for r in json.loads((FIXTURES / name).read_text()) if r["model"] == model]


def test_the_methods_fixture_extends_the_shipped_stimuli_with_every_cell_once():
    sources = [(s["dataset"], s["image"]) for s in records("stimuli.json", "saliency.sourceimage")]
    shipped = records("stimuli.json", "saliency.stimulus")
    methods = records("methods.json", "saliency.stimulus")
    cells = [(tuple(s["source_image"]), s["variant"], s["method"]) for s in methods]
    assert sorted(cells) == sorted((image, model, method) for image in sources for model in MODELS
                                   for method in OTHER_METHODS)
    assert not set(cells) & {(tuple(s["source_image"]), s["variant"], s["method"]) for s in shipped}
    vg_prediction = {(tuple(s["source_image"]), s["variant"]): s["predicted_class"] for s in shipped}
    for what, stimulus in zip(cells, methods):
        assert stimulus["predicted_class"] == vg_prediction[what[0], stimulus["variant"]], what
        data = (FIXTURES / stimulus["heatmap"]).read_bytes()
        assert stimulus["heatmap"] == f"stimuli/{png_file_name(data)}", what  # named by its content alone
        assert not Image.open(FIXTURES / stimulus["heatmap"]).text, what  # no PNG text chunk to tell a method
        assert all(stimulus[name] is not None for name in ("gini", "road_aopc", "ssim")), what
        assert set(METRIC_NAMES) <= set(stimulus)
        assert (stimulus["rendering"], stimulus["scaling"], stimulus["settings"]) == ("sequential", "map", {})


def test_the_methods_fixture_is_made_only_from_a_run_that_reproduces_the_shipped_stimuli():
    made = json.loads((FIXTURES / "stimuli.json").read_text())
    assert methods_records(made, made) == []  # a VG-only run: nothing to add
    changed = copy.deepcopy(made)
    vg = next(r for r in changed if r["model"] == "saliency.stimulus")
    vg["fields"]["gini"] += 0.01
    with pytest.raises(ValueError, match="VG stimuli differ"):
        methods_records(changed, made)


def test_the_methods_maps_are_what_the_shipped_checkpoints_make(tmp_path):
    """Every IG and SG map again, from the shipped checkpoints with the seed, within the shipped stimuli's PNG
    tolerance (tests/helpers/stimuli.py). Their metrics are not recomputed (10+ minutes): `samples=1` keeps the
    metrics' cost small; the maps do not depend on it (SmoothGrad's noise comes from the seed alone)."""
    sources = records("stimuli.json", "saliency.sourceimage")
    methods = {(tuple(s["source_image"]), s["variant"], s["method"]): s
               for s in records("methods.json", "saliency.stimulus")}
    keys = [(source["dataset"], source["image"]) for source in sources]
    test_data, x = shipped_images(sources)
    for variant in MODELS:
        model = shipped_model(variant)
        predicted, _ = predict(model, x)
        for method in OTHER_METHODS:
            maps, _ = explain_and_evaluate(model, METHODS[method], x, predicted, SEED, samples=1)
            for number, (key, saliency) in enumerate(zip(keys, maps)):
                shipped = methods[key, variant, method]
                assert test_data.classes[predicted[number]] == shipped["predicted_class"]
                made = tmp_path / f"{number}-{variant}-{method}.png"
                render_heatmap(saliency.numpy()).save(made)
                assert_png_close(made, FIXTURES / shipped["heatmap"], f"image {key} {variant} {method}")
