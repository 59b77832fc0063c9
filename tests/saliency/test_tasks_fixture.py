"""fixtures/tasks.json, the tasks demo's maps (issue 29; devtools/tasks_fixture.py made it): the VG maps of the
top-4 classes of N, A and M2 on 32 images, each model wrong on half of them."""

import copy
import json
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from devtools.tasks_fixture import MODELS, TOP_K, tasks_records
from saliency.attribution import METHODS, ranked_classes
from saliency.metrics import explain_and_evaluate
from saliency.names import METRIC_NAMES, PROBABILITY_DIGITS
from saliency.rendering import png_file_name, render_heatmap
from saliency.stimuli import error_shares
from tests.helpers.stimuli import METRIC_RTOL, assert_png_close, shipped_images, shipped_model

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
IMAGES, SEED, ERROR_SHARE = 32, 29, 0.5  # the command in devtools/tasks_fixture.py


def records(model):
    return [r["fields"] for r in json.loads((FIXTURES / "tasks.json").read_text()) if r["model"] == model]


def test_the_tasks_fixture_holds_the_top_4_maps_of_each_model_on_images_it_gets_half_wrong():
    sources = records("saliency.sourceimage")
    stimuli = records("saliency.stimulus")
    assert len(sources) == IMAGES and len(stimuli) == IMAGES * len(MODELS) * TOP_K
    assert len({s["class_name"] for s in sources}) == 10  # every class, 3 or 4 images each
    shares = error_shares(json.loads((FIXTURES / "tasks.json").read_text()))
    assert shares == {("fmnist", model): (IMAGES * ERROR_SHARE, IMAGES) for model in MODELS}
    for stimulus in stimuli:
        what = (*stimulus["source_image"], stimulus["variant"], stimulus["target_rank"])
        assert stimulus["method"] == "VG" and len(stimulus["top_classes"]) == TOP_K, what
        assert stimulus["target_class"] == stimulus["top_classes"][stimulus["target_rank"] - 1], what
        assert stimulus["predicted_class"] == stimulus["top_classes"][0], what
        data = (FIXTURES / stimulus["heatmap"]).read_bytes()
        assert stimulus["heatmap"] == f"stimuli/{png_file_name(data)}", what  # named by its content alone
        assert not Image.open(FIXTURES / stimulus["heatmap"]).text, what  # no PNG text chunk to tell a model
        assert stimulus["gini"] is not None and stimulus["road_aopc"] is not None, what
    # SSIM is empty where no noisy copy kept the model's prediction: that depends on the image and model only
    kept = {}
    for stimulus in stimuli:
        kept.setdefault((tuple(stimulus["source_image"]), stimulus["variant"]), set()).add(stimulus["ssim"] is None)
    assert all(len(values) == 1 for values in kept.values())
    shipped = [r for name in ("stimuli.json", "methods.json") for r in json.loads((FIXTURES / name).read_text())]
    assert tasks_records(json.loads((FIXTURES / "tasks.json").read_text()), shipped)  # loads after them


def test_the_tasks_fixture_is_made_only_from_a_run_that_loads_beside_the_shipped_stimuli():
    made = json.loads((FIXTURES / "tasks.json").read_text())
    shipped = json.loads((FIXTURES / "stimuli.json").read_text())
    clash = copy.deepcopy(made)
    image = next(r for r in clash if r["model"] == "saliency.sourceimage")
    shipped_image = next(r for r in shipped if r["model"] == "saliency.sourceimage")
    for record in clash:  # the run's first image as one stimuli.json ships
        if record["fields"].get("source_image") == [image["fields"]["dataset"], image["fields"]["image"]]:
            record["fields"]["source_image"] = [shipped_image["fields"]["dataset"], shipped_image["fields"]["image"]]
    image["fields"] = dict(shipped_image["fields"])
    with pytest.raises(ValueError, match="remakes maps the shipped fixtures hold"):
        tasks_records(clash, shipped)
    image["fields"]["class_name"] = "Bag" if shipped_image["fields"]["class_name"] != "Bag" else "Coat"
    with pytest.raises(ValueError, match="is recorded otherwise in the shipped fixtures"):
        tasks_records(clash, shipped)
    fewer = [r for r in made if r["fields"].get("target_rank") != TOP_K]
    with pytest.raises(ValueError, match="not the VG maps of the top-4 classes of N, A, M2"):
        tasks_records(fewer, shipped)


def test_the_tasks_maps_are_what_the_shipped_checkpoints_make(tmp_path):
    """Every map again, from the shipped checkpoints: each model's top-4 classes and probabilities exactly, the
    maps within the shipped stimuli's PNG tolerance (tests/helpers/stimuli.py). The metrics are recomputed for one
    model and rank (M2's runner-up: a map of a class the model does not predict); all of them take 10 minutes."""
    sources = records("saliency.sourceimage")
    stimuli = {(tuple(s["source_image"]), s["variant"], s["target_rank"]): s for s in records("saliency.stimulus")}
    keys = [(source["dataset"], source["image"]) for source in sources]
    test_data, x = shipped_images(sources)
    for variant in MODELS:
        model = shipped_model(variant)
        classes, probabilities = ranked_classes(model, x, TOP_K)
        for rank in range(1, TOP_K + 1):
            target = classes[:, rank - 1].contiguous()
            if (variant, rank) == ("M2", 2):
                maps, scores = explain_and_evaluate(model, METHODS["VG"], x, target, SEED)
            else:
                maps, scores = METHODS["VG"].explain(model, x, target), None
            for number, (key, saliency) in enumerate(zip(keys, maps)):
                shipped = stimuli[key, variant, rank]
                what = f"image {key} {variant} rank {rank}"
                assert [test_data.classes[c] for c in classes[number]] == shipped["top_classes"], what
                assert [float(f"{p:.{PROBABILITY_DIGITS}g}") for p in probabilities[number]] == pytest.approx(
                    shipped["top_probabilities"], rel=METRIC_RTOL), what
                made = tmp_path / f"{number}-{variant}-{rank}.png"
                render_heatmap(saliency.numpy()).save(made)
                assert_png_close(made, FIXTURES / shipped["heatmap"], what)
                for name in METRIC_NAMES if scores is not None else ():
                    value = scores[name][number].item()
                    if shipped[name] is None:
                        assert value != value, f"{what} {name}"  # NaN: noise changed the class
                    else:
                        assert value == pytest.approx(shipped[name], rel=METRIC_RTOL), f"{what} {name}"
