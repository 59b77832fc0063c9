"""manage.py import_stimuli on a manifest of made-up images and maps in their real file formats."""

import csv
import io
import json
import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from PIL import Image

from saliency.importing import Target
from saliency.models import FixtureConflict, SourceImage, Stimulus
from saliency.names import DIVERGING, PER_IMAGE, TARGET_FIELDS
from saliency.rendering import png_bytes, render_heatmap, render_heatmaps, render_image
from studyapp.enrollment import enroll_participants
from studyapp.models import LikertResponse, Study, Trial

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


def _rows(*models):
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def _shipped_records():
    fixtures = Path(settings.BASE_DIR) / "fixtures"
    return [record for name in ("stimuli.json", "methods.json", "tasks.json")
            for record in json.loads((fixtures / name).read_text())]


@pytest.mark.django_db
def test_loading_the_shipped_fixtures_keeps_imported_stimuli_and_the_answers_to_them(made_up, stimuli_root):
    """README: import your maps, then `loaddata stimuli methods tasks` (as `make run` does). Every imported record
    and every answer to it stays as it was, the shipped maps are all there, and loading them again changes
    nothing."""
    folder, rows, _ = made_up
    call_command("import_stimuli", str(write_manifest(folder, rows)), stdout=io.StringIO())
    imported = list(Stimulus.objects.order_by("pk"))
    study = Study.objects.create(slug="mine", title="Mine", seed=1)
    study.stimuli.set(imported)
    participant = enroll_participants(study, 1)[0]
    for position, stimulus in enumerate(imported, start=1):
        trial = Trial.objects.create(participant=participant, position=position, kind=Trial.Kind.RATING,
                                     stimulus=stimulus)
        LikertResponse.objects.create(trial=trial, sufficiency=position % 5 + 1, trust=3, rt_ms=1000 + position)
    before = _rows(SourceImage, Stimulus, Trial, LikertResponse)

    call_command("loaddata", "stimuli", "methods", "tasks", stdout=io.StringIO())
    after = _rows(SourceImage, Stimulus, Trial, LikertResponse)
    assert after["Trial"] == before["Trial"] and after["LikertResponse"] == before["LikertResponse"]
    for name in ("SourceImage", "Stimulus"):
        assert after[name][:len(before[name])] == before[name]  # the imported records: same ids, same values
    shipped = _shipped_records()
    assert Stimulus.objects.count() == len(imported) + sum(r["model"] == "saliency.stimulus" for r in shipped)
    for record in shipped:  # every shipped map, as shipped, under an id the import does not hold
        model = apps.get_model(record["model"])
        if model is Stimulus:
            dataset, image = record["fields"]["source_image"]
            stored = Stimulus.objects.get(source_image__dataset=dataset, source_image__image=image,
                                          variant=record["fields"]["variant"], method=record["fields"]["method"],
                                          target_rank=record["fields"].get("target_rank", 1))
            assert stored.heatmap == record["fields"]["heatmap"] and stored.pk > imported[-1].pk
    call_command("loaddata", "stimuli", "methods", "tasks", stdout=io.StringIO())
    assert _rows(SourceImage, Stimulus, Trial, LikertResponse) == after  # loading twice changes nothing


def _first_shipped_image():
    return next(r["fields"] for r in _shipped_records() if r["model"] == "saliency.sourceimage")


def _everything():
    return _rows(SourceImage, Stimulus)


@pytest.mark.django_db
def test_an_import_and_a_fixture_that_claim_one_test_image_differently_are_refused_in_either_order(made_up,
                                                                                                   stimuli_root):
    """Another picture as a shipped test index: whichever comes second is refused, naming the clash, and changes
    nothing."""
    folder, rows, _ = made_up
    shipped = _first_shipped_image()
    claim = [{**row, "dataset": "fmnist", "test_index": str(shipped["test_index"])} for row in rows
             if row["image"] == "boot.png"]
    manifest = write_manifest(folder, claim)
    call_command("import_stimuli", str(manifest), stdout=io.StringIO())
    before = _everything()
    with pytest.raises(FixtureConflict, match=rf"both have dataset 'fmnist', test_index {shipped['test_index']}\. "
                                              "loaddata loaded nothing: it never overwrites a stored record"):
        call_command("loaddata", "stimuli", stdout=io.StringIO())
    assert _everything() == before

    Stimulus.objects.all().delete()
    SourceImage.objects.all().delete()
    call_command("loaddata", "stimuli", stdout=io.StringIO())
    before = _everything()
    with pytest.raises(CommandError, match=rf"row 2: test_index {shipped['test_index']} of dataset 'fmnist' is "
                                           "already another image"):
        call_command("import_stimuli", str(manifest), stdout=io.StringIO())
    assert _everything() == before


@pytest.mark.django_db
def test_the_same_test_image_imported_and_shipped_is_one_source_image_in_either_order(tmp_path, stimuli_root):
    """A researcher's LRP maps of a shipped test image (its PNG, its class and index) join the shipped image."""
    shipped = _first_shipped_image()
    image = tmp_path / "pullover.png"
    image.write_bytes((Path(settings.BASE_DIR) / "fixtures" / shipped["image"]).read_bytes())
    np.save(tmp_path / "lrp.npy", np.random.default_rng(3).normal(size=(224, 224)))
    row = {"image": "pullover.png", "map": "lrp.npy", "dataset": "fmnist", "class_name": shipped["class_name"],
           "model": "N", "method": "LRP", "test_index": str(shipped["test_index"])}
    manifest = write_manifest(tmp_path, [row], list(row))
    for first, second in ((("import_stimuli", str(manifest)), ("loaddata", "stimuli")),
                          (("loaddata", "stimuli"), ("import_stimuli", str(manifest)))):
        call_command(*first, stdout=io.StringIO())
        call_command(*second, stdout=io.StringIO())
        source = SourceImage.objects.get(dataset="fmnist", test_index=shipped["test_index"])
        assert source.image == shipped["image"] and source.stimuli.count() == 4  # N A M2 by VG, and N by LRP
        Stimulus.objects.all().delete()
        SourceImage.objects.all().delete()

    mine = write_manifest(tmp_path, [{**row, "method": "VG"}], list(row))  # a shipped cell, another map
    call_command("import_stimuli", str(mine), stdout=io.StringIO())
    before = _everything()
    with pytest.raises(FixtureConflict, match=r"the fixture's stimulus \('fmnist', '[^']+', 'N', 'VG', 1\) differs "
                                              r"from the stored one \(id \d+\): heatmap: stored 'stimuli/.*loaded "
                                              "nothing"):
        call_command("loaddata", "stimuli", stdout=io.StringIO())
    assert _everything() == before
    Stimulus.objects.all().delete()
    SourceImage.objects.all().delete()

    wrong = write_manifest(tmp_path, [{**row, "class_name": "Coat"}], list(row))
    call_command("loaddata", "stimuli", stdout=io.StringIO())
    with pytest.raises(CommandError, match="row 2: this image is already stored in dataset 'fmnist' as class_name "
                                           f"'{shipped['class_name']}'"):
        call_command("import_stimuli", str(wrong), stdout=io.StringIO())


@pytest.mark.django_db
def test_imported_ids_are_a_seeded_shuffle(made_up, stimuli_root):
    folder, rows, _ = made_up
    orders = []
    for dataset, seed in (("first", "0"), ("second", "0"), ("third", "1")):
        manifest = write_manifest(folder, [{**row, "dataset": dataset} for row in rows])
        call_command("import_stimuli", str(manifest), "--seed", seed, stdout=io.StringIO())
        stored = Stimulus.objects.filter(source_image__dataset=dataset).order_by("pk")
        orders.append([(s.source_image.class_name, s.variant, s.method) for s in stored])
    in_manifest = [(row["class_name"], row["model"], row["method"]) for row in rows]
    assert sorted(orders[0]) == sorted(in_manifest) and orders[0] != in_manifest
    assert orders[0] == orders[1] != orders[2]  # the seed decides


@pytest.mark.django_db
def test_a_manifest_chooses_its_rendering_and_gives_each_map_its_settings(made_up, stimuli_root):
    folder, rows, maps = made_up
    settings_of = {"LIME": '{"samples": 1000, "kernel_width": 0.25}', "VG": ""}
    manifest = write_manifest(folder, [{**row, "settings": settings_of[row["method"]]} for row in rows],
                              [*COLUMNS, "settings"])
    call_command("import_stimuli", str(manifest), "--rendering", "diverging", "--scaling", "image",
                 stdout=io.StringIO())
    for image in ("boot", "car"):
        same = [row for row in rows if row["class_name"] == image and row["method"] == "VG"]
        drawn = render_heatmaps([maps[row["map"]].astype(np.float64) for row in same], [1] * len(same),
                                DIVERGING, PER_IMAGE)
        for row, picture in zip(same, drawn):
            stimulus = Stimulus.objects.get(source_image__class_name=image, variant=row["model"], method="VG")
            assert (stimuli_root / stimulus.heatmap).read_bytes() == png_bytes(picture)
            assert (stimulus.rendering, stimulus.scaling, stimulus.settings) == ("diverging", "image", {})
    lime = Stimulus.objects.filter(method="LIME")
    assert [s.settings for s in lime] == [{"samples": 1000, "kernel_width": 0.25}] * 6


@pytest.mark.django_db
def test_bad_settings_name_their_row_and_nothing_is_imported(made_up, stimuli_root):
    folder, rows, _ = made_up
    bad = [{**rows[0], "settings": '{"epsilon": 0.1,}'}, {**rows[1], "settings": "[0.1, 2]"}, *rows[2:]]
    with pytest.raises(CommandError) as caught:
        call_command("import_stimuli", str(write_manifest(folder, bad, [*COLUMNS, "settings"])), stdout=io.StringIO())
    assert re.search(r"row 2: settings is not valid JSON \(Expecting property name enclosed in double quotes at "
                     r"character 17\)", str(caught.value))
    assert "row 3: settings must be a JSON object" in str(caught.value) and "row 4" not in str(caught.value)
    assert not Stimulus.objects.exists() and _stored(stimuli_root) == []


TARGET_COLUMNS = [*COLUMNS, "target_class", "target_rank", "true_class", "top_classes", "top_probabilities"]


def _ranked(row, maps_folder, rank, **cells):
    """A map of `row`'s image and model by its method explaining the class of `rank`, in a new .npy file."""
    name = f"maps/{row['image']}-{row['model'][:3]}-{row['method']}-{rank}.npy"
    np.save(maps_folder / name, np.random.default_rng(rank).normal(size=(28, 28)))
    return {**row, "map": name, "target_rank": str(rank), **cells}


@pytest.mark.django_db
def test_target_columns_give_a_map_per_class_of_the_models_top_classes(made_up, stimuli_root):
    """Issue 29: a boot's maps for the model's top-3 classes; the facts a row leaves out follow from the others
    (the prediction is top_classes' first, the target of rank r its r-th), and rows without the target columns
    are maps of the prediction."""
    folder, rows, _ = made_up
    boot = next(row for row in rows if row["image"] == "boot.png" and row["method"] == "VG")
    top = {"top_classes": "boot|bag|car", "top_probabilities": "0.7|0.2|0.05", "predicted_class": "",
           "confidence": ""}
    ranked = [{**boot, **top, "target_class": "boot", "true_class": "boot"},
              _ranked(boot, folder, 2, **top),
              _ranked(boot, folder, 3, **{**top, "predicted_class": "boot", "confidence": "0.7"}, target_class="car")]
    manifest = write_manifest(folder, [row for row in rows if row is not boot] + ranked, TARGET_COLUMNS)
    out = io.StringIO()
    call_command("import_stimuli", str(manifest), stdout=out)
    assert "Imported 14 stimuli of 3 images" in out.getvalue()
    maps = Stimulus.objects.filter(source_image__class_name="boot", variant=boot["model"], method="VG")
    assert [(s.target_rank, s.target_class, s.target_probability, s.predicted_class, s.confidence)
            for s in maps.order_by("target_rank")] == [(1, "boot", 0.7, "boot", 0.7), (2, "bag", 0.2, "boot", 0.7),
                                                       (3, "car", 0.05, "boot", 0.7)]
    assert {(tuple(s.top_classes), tuple(s.top_probabilities)) for s in maps} == {(("boot", "bag", "car"),
                                                                                   (0.7, 0.2, 0.05))}
    assert len({s.heatmap for s in maps}) == 3
    others = Stimulus.objects.exclude(pk__in=maps)
    assert others.count() == 11
    assert all((s.target_rank, s.top_classes, s.top_probabilities) == (1, [], []) for s in others)
    assert all(s.target_class == s.predicted_class and s.target_probability == s.confidence == 0.9 for s in others)
    assert list(Stimulus.objects.predicted().order_by("pk")) == list(Stimulus.objects.filter(
        target_rank=1).order_by("pk")) and Stimulus.objects.predicted().count() == 12

    assert tuple(field.name for field in fields(Target)) == TARGET_FIELDS  # the records' fields, one to one
    with pytest.raises(CommandError, match=r"row 2: this image's map by model 'ResNet \(ours\)' and method 'VG' "
                                           r"of target_rank 2 is already imported"):
        call_command("import_stimuli", str(write_manifest(folder, [ranked[1]], TARGET_COLUMNS)),
                     stdout=io.StringIO())


@pytest.mark.django_db
def test_bad_target_values_name_their_rows_and_nothing_is_imported(made_up, stimuli_root):
    folder, rows, _ = made_up
    boot = next(row for row in rows if row["image"] == "boot.png" and row["method"] == "VG")
    top = {"top_classes": "boot|bag|car", "top_probabilities": "0.7|0.2|0.05", "predicted_class": "boot",
           "confidence": "0.7"}
    bad = [
        _ranked(boot, folder, 2, target_rank="0"),  # row 14
        _ranked(boot, folder, 2, target_rank="second"),  # 15
        _ranked(boot, folder, 2, top_classes="boot|bag"),  # 16
        _ranked(boot, folder, 2, **{**top, "top_probabilities": "0.2|0.7|0.05"}),  # 17
        _ranked(boot, folder, 2, **{**top, "top_probabilities": "0.7|0.5|0.05"}),  # 18
        _ranked(boot, folder, 2, **{**top, "top_probabilities": "0.7|0.2|nan"}),  # 19
        _ranked(boot, folder, 2, **{**top, "top_classes": "boot|bag|boot"}),  # 20
        _ranked(boot, folder, 4, **top),  # 21
        _ranked(boot, folder, 2, **top, target_class="car"),  # 22
        _ranked(boot, folder, 2, **{**top, "predicted_class": "bag"}),  # 23
        _ranked(boot, folder, 2, **top, true_class="shoe"),  # 24
        _ranked(boot, folder, 2),  # 25
        _ranked(boot, folder, 3, **top),  # 26: fine
        _ranked(boot, folder, 3, **top),  # 27: duplicate of 26
        _ranked(boot, folder, 2, **{**top, "top_probabilities": "0.7|0.25|0.05"}),  # 28: another output than 26's
        _ranked(boot, folder, 2, **{**top, "confidence": "0.9"}),  # 29
    ]
    bad = [row if number in (26, 27) else {**row, "method": f"method of row {number}"}
           for number, row in enumerate(bad, start=14)]  # each its own map but 26 and 27
    with pytest.raises(CommandError) as caught:
        call_command("import_stimuli", str(write_manifest(folder, rows + bad, TARGET_COLUMNS)), stdout=io.StringIO())
    message = str(caught.value)
    for expected in (
            r"row 14: target_rank must be a whole number from 1, not '0'",
            r"row 15: target_rank must be a whole number from 1, not 'second'",
            r"row 16: top_classes names 2 classes and top_probabilities gives 0 numbers",
            r"row 17: top_probabilities must be most probable first",
            r"row 18: top_probabilities add up to 1.25, more than 1",
            r"row 19: top_probabilities must be numbers from 0 to 1 separated by \|",
            r"row 20: top_classes must be different class names",
            r"row 21: target_rank is 4, but top_classes names only 3 classes",
            r"row 22: target_class is 'car', but top_classes at rank 2 says 'bag'",
            r"row 23: predicted_class is 'bag', but top_classes' first says 'boot'",
            r"row 24: true_class 'shoe' differs from class_name 'boot'",
            r"row 25: a map of target_rank 2 names the class it explains",
            r"row 27: duplicate of row 26: the same image, model, method and target_rank",
            r"row 28: model 'ResNet \(ours\)' is given other top_classes or top_probabilities for this image than on "
            r"row 26",
            r"row 29: confidence is 0.9, but top_probabilities' first says 0.7"):
        assert re.search(expected, message), (expected, message)
    assert "row 26" not in message.replace("than on row 26", "").replace("duplicate of row 26", "")
    assert not Stimulus.objects.exists() and not SourceImage.objects.exists() and _stored(stimuli_root) == []
