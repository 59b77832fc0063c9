"""manage.py generate_stimuli end to end on real Fashion-MNIST (a few batches, a handful of images)."""

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command
from PIL import Image

from saliency.names import METRIC_NAMES
from saliency.models import SourceImage, Stimulus
from tests.helpers.stimuli import METRIC_RTOL, assert_png_close


def _files(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _generate(tmp_path, *extra):
    stdout = io.StringIO()
    call_command(
        "generate_stimuli", "--models", "N", "A", "--images-per-dataset", "4", "--max-batches", "4", "--seed", "0",
        "--checkpoints", str(tmp_path / "models"), "--out", str(tmp_path / "out"), *extra, stdout=stdout,
    )
    return stdout.getvalue()


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.django_db
def test_generate_trains_writes_a_loadable_fixture_and_reproduces_it(tmp_path, fresh_cache):
    out = tmp_path / "out"
    first = _generate(tmp_path)
    assert "Training fmnist N" in first and "Training fmnist A" in first
    for variant in ("N", "A"):
        metadata = json.loads((tmp_path / "models" / f"fmnist-{variant}-cpu.json").read_text())
        assert metadata["preset"] == "cpu" and metadata["max_batches"] == 4
        assert set(metadata["accuracy"]) >= {"benign", "robust", "robust_attack"}
        assert (tmp_path / "models" / f"fmnist-{variant}-cpu.pt").exists()
    table = json.loads((tmp_path / "models" / "accuracy.json").read_text())
    assert [(row["variant"], row["study_benign"]) for row in table] == [("N", 89.9), ("A", 79.9)]
    assert "fmnist     N     cpu" in first

    records = json.loads((out / "stimuli.json").read_text())
    sources = [r for r in records if r["model"] == "saliency.sourceimage"]
    stimuli = [r for r in records if r["model"] == "saliency.stimulus"]
    assert len(sources) == 4 and len(stimuli) == 8
    assert len({s["fields"]["class_name"] for s in sources}) == 4  # spread over the classes
    for stimulus in stimuli:
        fields = stimulus["fields"]
        assert fields["variant"] in {"N", "A"} and fields["preset"] == "cpu"
        assert 0 < fields["gini"] < 1 and -1 <= fields["ssim"] <= 1 and -1 < fields["road_aopc"] < 1
        assert fields["ris"] is None or fields["ris"] > 0  # null: noise changed the class (quantus's NaN)
        assert "pk" not in stimulus and (fields["rendering"], fields["scaling"], fields["settings"]) == ("sequential",
                                                                                                      "map", {})
        source = next(s for s in sources if [s["fields"]["dataset"], s["fields"]["image"]] == fields["source_image"])
        assert fields["predicted_class"] == source["fields"]["class_name"]  # chosen images are classified correctly
    for path in [s["fields"]["image"] for s in sources] + [s["fields"]["heatmap"] for s in stimuli]:
        assert re.fullmatch(r"stimuli/[0-9a-f]{20}\.png", path) and (out / path).is_file()

    call_command("loaddata", str(out / "stimuli.json"), stdout=io.StringIO())
    assert SourceImage.objects.count() == 4 and Stimulus.objects.count() == 8
    assert Stimulus.objects.filter(variant="A", source_image__dataset="fmnist").count() == 4
    assert Stimulus.objects.filter(gini__gt=0, road_aopc__isnull=False, ssim__isnull=False).count() == 8

    written = _files(out)
    again = _generate(tmp_path)
    assert "Reusing fmnist N" in again and "Training" not in again
    assert _files(out) == written

    with pytest.raises(CommandError, match="Only \\d+ of 5000 .* ask for fewer"):
        _generate(tmp_path, "--images-per-dataset", "5000")
    assert _files(out) == written  # a failed run leaves the previous stimuli as they were

    (tmp_path / "models" / "fmnist-A-cpu.json").write_text("{not json")
    with pytest.raises(CommandError, match="fmnist-A-cpu.pt / fmnist-A-cpu.json is unreadable.*delete both"):
        _generate(tmp_path)
    assert _files(out) == written


@pytest.mark.parametrize(("args", "message"), [
    (["--images-per-dataset", "0"], "at least 1"),
    (["--datasets", "cifar10"], "--data-root.*cifar-10-python"),
    (["--datasets", "imagenette", "--data-root", "{tmp}"], "ImageNette folder not found"),
    pytest.param(["--device", "cuda"], "no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_input_stops_before_anything_is_written(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("generate_stimuli", "--checkpoints", str(tmp_path / "models"), "--out", str(tmp_path / "out"),
                     *args, stdout=io.StringIO())
    assert not (tmp_path / "models").exists() and not (tmp_path / "out").exists()


@pytest.mark.django_db
def test_shipped_stimuli_are_what_the_shipped_checkpoints_make(tmp_path, settings):
    """The fixture in the repository is what the shipped checkpoints make, on any x86-64 CPU and thread count:
    the same images, models, predicted classes and records; PNGs and metrics within the stated tolerances."""
    fixtures = Path(settings.BASE_DIR) / "fixtures"
    shutil.copytree(fixtures / "models", tmp_path / "models")  # the command rewrites the accuracy table there
    shipped = json.loads((fixtures / "stimuli.json").read_text())
    images = sum(record["model"] == "saliency.sourceimage" for record in shipped)
    out = tmp_path / "out"
    call_command("generate_stimuli", "--images-per-dataset", str(images), "--preset", "cpu", "--device", "cpu",
                 "--seed", "0", "--checkpoints", str(tmp_path / "models"), "--out", str(out), "--threads", "1",
                 stdout=io.StringIO())
    made = json.loads((out / "stimuli.json").read_text())
    assert len(made) == len(shipped)  # in the same order: loaddata gives the same ids

    def test_index(records, fields):
        return next(r["fields"]["test_index"] for r in records
                    if [r["fields"].get("dataset"), r["fields"].get("image")] == fields["source_image"])

    for place, (new, old) in enumerate(zip(made, shipped)):
        what = f"{old['model']} record {place}"
        assert new["model"] == old["model"], what
        assert list(new["fields"]) == list(old["fields"]), what  # --targets predicted adds no field (issue 29)
        # PNG names (and so the natural keys naming them) are compared as PNGs below
        exact = {k: v for k, v in old["fields"].items()
                 if k not in (*METRIC_NAMES, "image", "heatmap", "source_image")}
        assert {k: new["fields"][k] for k in exact} == exact, what
        if old["model"] == "saliency.stimulus":
            assert test_index(made, new["fields"]) == test_index(shipped, old["fields"]), what
        for name in METRIC_NAMES if old["model"] == "saliency.stimulus" else ():
            if old["fields"][name] is None:  # noise changed the class: that must not depend on the CPU
                assert new["fields"][name] is None, f"{what} {name}"
            else:
                assert new["fields"][name] == pytest.approx(old["fields"][name], rel=METRIC_RTOL), f"{what} {name}"
        for png in ("image", "heatmap"):
            if png in old["fields"]:
                assert_png_close(out / new["fields"][png], fixtures / old["fields"][png], f"{what} {png}")


@pytest.mark.django_db
def test_each_method_makes_its_own_maps_with_their_metrics(tmp_path, settings):
    """--methods: one stimulus per image, model and method, each with an opaque PNG and its metrics."""
    shutil.copytree(Path(settings.BASE_DIR) / "fixtures" / "models", tmp_path / "models")

    def generate(out):
        call_command("generate_stimuli", "--models", "N", "M2", "--methods", "VG", "IG", "SG", "GradCAM",
                     "--images-per-dataset", "2", "--preset", "cpu", "--device", "cpu", "--seed", "3",
                     "--checkpoints", str(tmp_path / "models"), "--out", str(out), stdout=io.StringIO())
        return json.loads((out / "stimuli.json").read_text())

    records = generate(tmp_path / "out")
    stimuli = [r["fields"] for r in records if r["model"] == "saliency.stimulus"]
    cells = [(tuple(s["source_image"]), s["variant"], s["method"]) for s in stimuli]
    assert len(cells) == len(set(cells)) == 2 * 2 * 4
    assert {s["method"] for s in stimuli} == {"VG", "IG", "SG", "GradCAM"}
    assert len({s["heatmap"] for s in stimuli}) == 16  # every map its own picture, named by its content only
    assert all(s["gini"] is not None and s["road_aopc"] is not None for s in stimuli)
    for image, variant in {(tuple(s["source_image"]), s["variant"]) for s in stimuli}:
        same = [s for s in stimuli if (tuple(s["source_image"]), s["variant"]) == (image, variant)]
        assert len({s["predicted_class"] for s in same}) == 1 and len({s["gini"] for s in same}) == 4
    assert generate(tmp_path / "again") == records
    assert _files(tmp_path / "again") == _files(tmp_path / "out")

    call_command("loaddata", str(tmp_path / "out" / "stimuli.json"), stdout=io.StringIO())
    assert Stimulus.objects.filter(method="GradCAM").count() == 4


@pytest.mark.django_db
def test_signed_maps_can_be_generated_diverging_on_one_range_per_image(tmp_path, settings):
    """--rendering diverging --scaling image: Integrated Gradients' negative attributions are drawn blue (the
    default draws them the colour of zero), and the choice is recorded on each stimulus. (One image of two models:
    IG's metrics take a minute; saliency.rendering's tests check the shared ranges themselves.)"""
    shutil.copytree(Path(settings.BASE_DIR) / "fixtures" / "models", tmp_path / "models")
    call_command("generate_stimuli", "--models", "N", "M2", "--methods", "IG", "--images-per-dataset", "1",
                 "--preset", "cpu", "--device", "cpu", "--seed", "3", "--rendering", "diverging", "--scaling", "image",
                 "--checkpoints", str(tmp_path / "models"), "--out", str(tmp_path / "out"), stdout=io.StringIO())
    stimuli = [r["fields"] for r in json.loads((tmp_path / "out" / "stimuli.json").read_text())
               if r["model"] == "saliency.stimulus"]
    assert len(stimuli) == 2 and {(s["rendering"], s["scaling"]) for s in stimuli} == {("diverging", "image")}
    for stimulus in stimuli:
        pixels = np.asarray(Image.open(tmp_path / "out" / stimulus["heatmap"]).convert("RGB"), dtype=int)
        blue, red = (pixels[..., 2] > pixels[..., 0] + 8).mean(), (pixels[..., 0] > pixels[..., 2] + 8).mean()
        assert blue > 0.01 and red > 0.01, (stimulus["heatmap"], blue, red)
    with pytest.raises(CommandError, match="invalid choice: 'rainbow'"):
        call_command("generate_stimuli", "--rendering", "rainbow", stdout=io.StringIO())
