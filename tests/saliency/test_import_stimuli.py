"""manage.py import_stimuli on a manifest of made-up images and maps in their real file formats."""

import csv
import io
import re

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from saliency.models import SourceImage, Stimulus
from saliency.rendering import png_bytes, render_heatmap, render_image

COLUMNS = ["image", "map", "dataset", "class_name", "model", "method", "predicted_class", "confidence",
           "test_index"]


def write_manifest(folder, rows, columns=COLUMNS):
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def made_up(tmp_path):
    """Two greyscale PNG images (28 px), one RGB JPEG (32 px); per image and (model, method) a map:
    .npy arrays of any range, and one grayscale PNG map."""
    folder = tmp_path / "mine"
    (folder / "maps").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {}
    for name, size, mode, fmt in (("boot.png", 28, "L", "PNG"), ("bag.png", 28, "L", "PNG"),
                                  ("car.jpg", 32, "RGB", "JPEG")):
        shape = (size, size) if mode == "L" else (size, size, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / name, fmt)
        images[name] = size
    rows, maps = [], {}
    for image, size in images.items():
        for model in ("ResNet (ours)", "ViT-B/16"):
            for method in ("LIME", "VG"):
                values = rng.normal(0, 50, (size, size)) ** 3  # any float range, negative too
                if image == "bag.png" and method == "LIME":
                    map_name = f"maps/{image}-{model[:3]}-{method}.png"
                    values = rng.integers(0, 256, (size, size), dtype=np.uint8)
                    Image.fromarray(values, "L").save(folder / map_name)
                else:
                    map_name = f"maps/{image}-{model[:3]}-{method}.npy"
                    np.save(folder / map_name, values)
                maps[map_name] = values
                rows.append({"image": image, "map": map_name, "dataset": "my-photos", "class_name": image[:-4],
                             "model": model, "method": method, "predicted_class": image[:-4], "confidence": "0.9",
                             "test_index": ""})
    return folder, rows, maps


def _stored(stimuli_root):
    return sorted(p.relative_to(stimuli_root) for p in stimuli_root.rglob("*") if p.is_file())


@pytest.mark.django_db
def test_a_manifest_becomes_records_and_pngs_rendered_as_the_project_renders(made_up, stimuli_root):
    folder, rows, maps = made_up
    manifest = write_manifest(folder, rows)
    out = io.StringIO()
    call_command("import_stimuli", str(manifest), stdout=out)
    assert "Imported 12 stimuli of 3 images" in out.getvalue()
    assert SourceImage.objects.filter(dataset="my-photos").count() == 3
    assert Stimulus.objects.count() == 12
    assert set(Stimulus.objects.values_list("variant", flat=True)) == {"ResNet (ours)", "ViT-B/16"}
    assert set(Stimulus.objects.values_list("method", flat=True)) == {"LIME", "VG"}
    for row in rows:
        stimulus = Stimulus.objects.get(source_image__class_name=row["class_name"], variant=row["model"],
                                        method=row["method"])
        assert re.fullmatch(r"stimuli/[0-9a-f]{20}\.png", stimulus.heatmap)  # opaque: no model, method or class
        data = (stimuli_root / stimulus.heatmap).read_bytes()
        assert data == png_bytes(render_heatmap(maps[row["map"]].astype(np.float64)))
        assert b"tEXt" not in data and b"iTXt" not in data and b"zTXt" not in data
        assert stimulus.confidence == 0.9 and stimulus.predicted_class == row["class_name"]
        assert stimulus.gini is None and stimulus.source_image.test_index is None
    car = SourceImage.objects.get(class_name="car")
    with Image.open(folder / "car.jpg") as original:
        expected = png_bytes(render_image(np.asarray(original, dtype=np.float64).transpose(2, 0, 1) / 255))
    assert (stimuli_root / car.image).read_bytes() == expected

    files = _stored(stimuli_root)
    with pytest.raises(CommandError, match=r"row 2: .*already imported"):
        call_command("import_stimuli", str(manifest), stdout=io.StringIO())
    assert Stimulus.objects.count() == 12 and _stored(stimuli_root) == files


@pytest.mark.django_db
def test_every_bad_row_is_named_and_nothing_is_written(made_up, stimuli_root):
    folder, rows, maps = made_up
    np.save(folder / "maps" / "small.npy", np.ones((20, 20)))
    with_nan = np.ones((28, 28))
    with_nan[3, 4] = np.nan
    np.save(folder / "maps" / "nan.npy", with_nan)
    Image.new("RGB", (28, 28)).save(folder / "maps" / "colour.png")
    bad = [
        {**rows[0], "map": "maps/missing.npy", "method": "gone"},  # row 14
        {**rows[0], "map": "maps/small.npy", "method": "other"},  # 15
        {**rows[0], "map": "maps/nan.npy", "method": "nan"},  # 16
        dict(rows[1]),  # 17: duplicate of row 3
        {**rows[0], "method": "colour", "map": "maps/colour.png"},  # 18
        {**rows[0], "method": "sure", "confidence": "1.5"},  # 19
        {**rows[0], "method": "", "model": ""},  # 20
    ]
    manifest = write_manifest(folder, rows + bad)
    with pytest.raises(CommandError) as caught:
        call_command("import_stimuli", str(manifest), stdout=io.StringIO())
    message = str(caught.value)
    for expected in (r"row 14: map file 'maps/missing.npy' not found", r"row 15: map 'maps/small.npy' is 20x20, "
                     r"its image is 28x28", r"row 16: map 'maps/nan.npy' contains NaN", r"row 17: duplicate of row 3",
                     r"row 18: map 'maps/colour.png' is a RGB image; a PNG map must be grayscale",
                     r"row 19: confidence must be a number from 0 to 1", r"row 20: model is empty; method is empty"):
        assert re.search(expected, message), (expected, message)
    assert "row 2:" not in message and "Nothing was imported" in message
    assert not Stimulus.objects.exists() and not SourceImage.objects.exists() and _stored(stimuli_root) == []

    manifest = write_manifest(folder, [{**rows[0], "colour": "x"}], [*COLUMNS, "colour"])
    with pytest.raises(CommandError, match=r"unknown column\(s\) 'colour'"):
        call_command("import_stimuli", str(manifest), stdout=io.StringIO())

    manifest = write_manifest(folder, rows)
    out = io.StringIO()
    call_command("import_stimuli", str(manifest), "--dry-run", stdout=out)
    assert "The manifest is fine: 12 stimuli of 3 images" in out.getvalue()
    assert not Stimulus.objects.exists() and _stored(stimuli_root) == []
