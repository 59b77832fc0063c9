"""Issue 29's stimuli: each model's maps of its top-K classes (--targets top-k K) on images each model gets wrong for
a chosen share (--error-share), on real Fashion-MNIST with the shipped checkpoints."""

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from saliency.models import SourceImage, Stimulus
from saliency.names import TARGET_FIELDS
from saliency.stimuli import ImageSelection, class_quotas, error_quotas, error_shares, top_k_of


def test_targets_are_the_prediction_or_the_top_k_classes():
    assert top_k_of(["predicted"]) == 1 and top_k_of(["top-k", "4"]) == 4 and top_k_of(["top-k", "10"]) == 10
    for words in (["top-k", "1"], ["top-k", "11"], ["top-k", "four"], ["top-k"], ["all"], ["predicted", "2"]):
        with pytest.raises(ValueError, match="--targets is predicted .* or top-k K .*K from 2 to 10"):
            top_k_of(words)


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_error_quotas_spread_the_errors_over_the_classes_as_their_images(share):
    quotas = class_quotas(32, 10, torch.Generator().manual_seed(1))
    errors = error_quotas(quotas, share, torch.Generator().manual_seed(2))
    assert sum(errors) == int(share * 32 + 0.5)
    assert all(0 <= e <= q and abs(e - share * q) < 1 for e, q in zip(errors, quotas))


def _pool(generator, per_pattern):
    """Candidates (index, label, wrong per model) of 3 classes and 2 models: `per_pattern[label][pattern]` of each
    pattern of wrong answers, in a seeded order."""
    items = [(label, pattern) for label, counts in enumerate(per_pattern) for pattern, count in counts.items()
             for _ in range(count)]
    order = torch.randperm(len(items), generator=generator).tolist()
    return [(index, *items[index]) for index in order]


def test_each_model_gets_the_share_of_each_class_wrong_where_the_images_allow():
    pool = _pool(torch.Generator().manual_seed(0), [
        {(False, False): 50, (True, True): 5, (True, False): 5, (False, True): 5}] * 3)
    selection = ImageSelection([4, 4, 4], [2, 2, 2], 2)
    for candidate in pool:
        selection.offer(*candidate)
        if selection.complete:
            break
    assert selection.complete
    for label in range(3):
        chosen = [wrong for _, chosen_label, wrong in selection.chosen if chosen_label == label]
        assert len(chosen) == 4 and [sum(w[m] for w in chosen) for m in range(2)] == [2, 2]


def test_without_errors_every_model_is_right_as_before():
    pool = _pool(torch.Generator().manual_seed(0), [{(False, False): 3, (True, False): 9, (False, True): 9}] * 3)
    selection = ImageSelection([2, 2, 2], [0, 0, 0], 2)
    for candidate in pool:
        selection.offer(*candidate)
    assert selection.complete and all(wrong == (False, False) for _, _, wrong in selection.chosen)


def test_a_class_without_enough_errors_lends_its_places_keeping_each_models_total():
    """Class 0 has no image that a model gets wrong: its error places go to the other classes, which then hold one
    image more than their quota, and each model's total stays exact."""
    pool = _pool(torch.Generator().manual_seed(3), [{(False, False): 40},
                                                   {(False, False): 40, (True, True): 10},
                                                   {(False, False): 40, (True, True): 10}])
    selection = ImageSelection([4, 4, 4], [2, 2, 2], 2)
    for candidate in pool:
        selection.offer(*candidate)
    assert not selection.complete
    selection.relax()
    assert selection.complete
    labels = [label for _, label, _ in selection.chosen]
    assert sorted(labels.count(label) for label in range(3)) == [2, 5, 5]
    assert [sum(wrong[m] for *_, wrong in selection.chosen) for m in range(2)] == [6, 6]


def test_error_shares_count_each_models_wrong_images_once():
    records = [{"model": "saliency.sourceimage", "fields": {"dataset": "d", "image": f"{i}.png", "class_name": c}}
               for i, c in enumerate("ab")]
    for image, variant, method, rank, predicted in [(0, "N", "VG", 1, "a"), (0, "N", "IG", 1, "a"),
                                                    (0, "N", "VG", 2, "a"), (1, "N", "VG", 1, "a"),
                                                    (0, "A", "VG", 1, "b"), (1, "A", "VG", 1, "b")]:
        records.append({"model": "saliency.stimulus", "fields": {
            "source_image": ["d", f"{image}.png"], "variant": variant, "method": method, "target_rank": rank,
            "predicted_class": predicted}})
    assert error_shares(records) == {("d", "N"): (1, 2), ("d", "A"): (1, 2)}


@pytest.mark.parametrize(("args", "message"), [
    (["--targets", "top-k", "1"], "--targets is predicted .* not 'top-k 1'"),
    (["--targets", "everything"], "--targets is predicted"),
    (["--error-share", "1.5"], "--error-share is a share from 0 to 1, not 1.5"),
    (["--error-share", "nan"], "--error-share is a share from 0 to 1, not nan"),
])
def test_bad_targets_or_shares_stop_before_anything_is_written(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_stimuli", "--checkpoints", str(tmp_path / "models"), "--out", str(tmp_path / "out"),
                     *args, stdout=io.StringIO())
    assert not (tmp_path / "models").exists() and not (tmp_path / "out").exists()


def _stimuli(out):
    return [r["fields"] for r in json.loads((out / "stimuli.json").read_text()) if r["model"] == "saliency.stimulus"]


@pytest.mark.django_db
def test_top_k_maps_of_images_each_model_gets_wrong_for_the_share(tmp_path, settings):
    """--targets top-k 3 --error-share 0.5: each model wrong on 2 of the 4 images (printed), each model's maps of its
    3 most probable classes, the map of rank 1 the very map (and metrics) that --targets predicted makes; loaddata
    stores each rank as its own record, twice without change."""
    shutil.copytree(Path(settings.BASE_DIR) / "fixtures" / "models", tmp_path / "models")

    def generate(out, *extra):
        stdout = io.StringIO()
        call_command("generate_stimuli", "--models", "N", "M2", "--images-per-dataset", "4", "--preset", "cpu",
                     "--device", "cpu", "--seed", "3", "--error-share", "0.5", "--checkpoints", str(tmp_path / "models"),
                     "--out", str(out), *extra, stdout=stdout)
        return stdout.getvalue()

    printed = generate(tmp_path / "top", "--targets", "top-k", "3")
    assert "Error share on the 4 chosen fmnist images (asked 0.5): N 0.50 (2 wrong), M2 0.50 (2 wrong)" in printed
    records = json.loads((tmp_path / "top" / "stimuli.json").read_text())
    classes = {(r["fields"]["dataset"], r["fields"]["image"]): r["fields"]["class_name"]
               for r in records if r["model"] == "saliency.sourceimage"}
    stimuli = _stimuli(tmp_path / "top")
    assert len(stimuli) == 4 * 2 * 3
    for (image, variant), maps in _by_cell(stimuli).items():
        assert sorted(m["target_rank"] for m in maps) == [1, 2, 3]
        assert len({json.dumps([m["top_classes"], m["top_probabilities"], m["predicted_class"], m["confidence"]])
                    for m in maps}) == 1  # one model output per image
        top = maps[0]["top_classes"]
        assert len(set(top)) == 3 and maps[0]["top_probabilities"] == sorted(maps[0]["top_probabilities"],
                                                                               reverse=True)
        for stimulus in maps:
            rank = stimulus["target_rank"]
            assert stimulus["target_class"] == top[rank - 1] and top[0] == stimulus["predicted_class"]
            assert stimulus["target_probability"] == stimulus["top_probabilities"][rank - 1]
            assert stimulus["gini"] is not None and stimulus["road_aopc"] is not None
        assert len({m["heatmap"] for m in maps}) == 3 and len({m["gini"] for m in maps}) == 3
    wrong = {variant: sum(maps[0]["predicted_class"] != classes[image] for (image, v), maps in
                          _by_cell(stimuli).items() if v == variant) for variant in ("N", "M2")}
    assert wrong == {"N": 2, "M2": 2}

    generate(tmp_path / "predicted")
    predicted = _stimuli(tmp_path / "predicted")
    assert {s["source_image"][1] for s in predicted} == {s["source_image"][1] for s in stimuli}
    first = {(tuple(s["source_image"]), s["variant"]): s for s in stimuli if s["target_rank"] == 1}
    for stimulus in predicted:
        assert not set(TARGET_FIELDS) & set(stimulus)
        same = first[tuple(stimulus["source_image"]), stimulus["variant"]]
        assert {k: same[k] for k in stimulus} == stimulus  # the same PNG (content-named) and metrics
    assert not set(TARGET_FIELDS) - set(first[next(iter(first))])

    for _ in range(2):
        call_command("loaddata", str(tmp_path / "top" / "stimuli.json"), stdout=io.StringIO())
        assert SourceImage.objects.count() == 4 and Stimulus.objects.count() == 24
        assert Stimulus.objects.predicted().count() == 8
    stored = Stimulus.objects.get(pk=Stimulus.objects.filter(target_rank=3).first().pk)
    assert Stimulus.objects.get_by_natural_key(*stored.natural_key()) == stored
    assert Stimulus.objects.get_by_natural_key(*stored.natural_key()[:4]).target_rank == 1  # a key of before

    written = json.loads((tmp_path / "top" / "stimuli.json").read_text())
    with pytest.raises(CommandError, match=r"Only \d+ of 2000 test images can be chosen so that each model is wrong "
                                           "on 1000 of them; ask for fewer with --images-per-dataset"):
        # N errs on 955 of the 10 000 test images
        call_command("generate_stimuli", "--models", "N", "--images-per-dataset", "2000", "--preset", "cpu",
                     "--device", "cpu", "--seed", "3", "--error-share", "0.5", "--checkpoints",
                     str(tmp_path / "models"), "--out", str(tmp_path / "top"), stdout=io.StringIO())
    assert json.loads((tmp_path / "top" / "stimuli.json").read_text()) == written


def _by_cell(stimuli):
    cells = {}
    for stimulus in stimuli:
        cells.setdefault((tuple(stimulus["source_image"]), stimulus["variant"]), []).append(stimulus)
    return cells


@pytest.mark.django_db
def test_a_stimulus_gives_one_probability_per_top_class_and_a_rank_from_1():
    source = SourceImage.objects.create(dataset="fmnist", test_index=1, class_name="Bag", image="stimuli/a.png")
    stimulus = Stimulus(source_image=source, variant="N", heatmap="stimuli/b.png", predicted_class="Bag",
                        confidence=0.8, top_classes=["Bag", "Sandal"], top_probabilities=[0.8])
    with pytest.raises(ValidationError, match="1 probabilities for 2 top classes"):
        stimulus.full_clean()
    stimulus.top_probabilities, stimulus.target_rank = [0.8, 0.1], 0
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        stimulus.full_clean()
    stimulus.target_rank = 1
    stimulus.full_clean()
    stimulus.save()
    assert (stimulus.target_class, stimulus.target_probability) == ("Bag", 0.8)  # the prediction, named
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Stimulus.objects.filter(pk=stimulus.pk).update(target_rank=0)  # the database refuses it too
