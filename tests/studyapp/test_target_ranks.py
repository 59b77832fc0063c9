"""Issue 29: a study may hold each model's maps of its top classes (for distinction pages); its rating and
side-by-side pages, their balance and the plan's length use the maps of the prediction (target rank 1) only, and
stimuli.csv lists every map with its target."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from saliency.models import Stimulus
from studyapp.balance import balance_frame
from studyapp.export import export_frames
from studyapp.models import Study
from studyapp.replication import stimulus_materials
from studyapp.schema import STIMULI_COLUMNS, STIMULI_FILE, STIMULI_TARGET_COLUMNS
from tests.conftest import CLASS_NAMES
from tests.helpers.survey import play_to_end, start

pytestmark = pytest.mark.django_db


def add_top_maps(study, write_png, k=4):
    """Add each model's maps of its classes of rank 2..k (named after the next classes) to the study's maps."""
    for stimulus in list(study.stimuli.all()):
        top = [CLASS_NAMES[(CLASS_NAMES.index(stimulus.predicted_class) + r) % len(CLASS_NAMES)] for r in range(k)]
        probabilities = [0.6, 0.2, 0.1, 0.05][:k]
        Stimulus.objects.filter(pk=stimulus.pk).update(top_classes=top, top_probabilities=probabilities)
        for rank in range(2, k + 1):
            study.stimuli.add(Stimulus.objects.create(
                source_image=stimulus.source_image, variant=stimulus.variant, method=stimulus.method,
                heatmap=write_png(stimulus.pk * 11 + rank), predicted_class=stimulus.predicted_class,
                confidence=0.6, target_class=top[rank - 1], target_rank=rank,
                target_probability=probabilities[rank - 1], top_classes=top, top_probabilities=probabilities))


def test_a_study_of_top_4_maps_rates_and_compares_only_the_maps_of_the_prediction(client, study_factory,
                                                                                   participant_factory, write_png):
    study = study_factory(images=3)
    predicted = set(study.stimuli.values_list("pk", flat=True))
    length = study.plan_length()
    add_top_maps(study, write_png)
    assert study.stimuli.count() == 4 * len(predicted)
    assert {ref.stimulus for ref in study.stimulus_refs()} == predicted and study.plan_length() == length

    participant = participant_factory(study)
    play_to_end(client, participant, start(client, participant))
    trials = participant.trials.all()
    rated = {t.stimulus_id for t in trials if t.kind == "rating"}
    compared = {pk for t in trials if t.kind == "choice" for pk in (t.left_id, t.middle_id, t.right_id)}
    shown = {t.stimulus_id for t in trials if t.kind == "attention"}
    assert rated == predicted and compared <= predicted and shown <= predicted and compared

    balance = balance_frame(study)
    assert len(balance[balance["page"] == "rating"]) == len(predicted)


def test_stimuli_csv_lists_each_map_with_its_target_and_the_models_top_classes(study_factory, write_png):
    study = study_factory(images=1, variants=("N",))
    add_top_maps(study, write_png, k=3)
    frame = export_frames(study)[STIMULI_FILE]
    assert tuple(frame.columns) == STIMULI_COLUMNS and STIMULI_COLUMNS[-6:] == STIMULI_TARGET_COLUMNS
    assert STIMULI_TARGET_COLUMNS == ("target_class", "target_rank", "target_probability", "top_classes",
                                      "top_probabilities", "true_class")
    rows = frame[list(STIMULI_TARGET_COLUMNS)].astype(object).values.tolist()
    assert rows == [["T-shirt/top", 1, 0.9, "T-shirt/top|Trouser|Pullover", "0.6|0.2|0.1", "T-shirt/top"],
                    ["Trouser", 2, 0.2, "T-shirt/top|Trouser|Pullover", "0.6|0.2|0.1", "T-shirt/top"],
                    ["Pullover", 3, 0.1, "T-shirt/top|Trouser|Pullover", "0.6|0.2|0.1", "T-shirt/top"]]


def test_the_rating_demos_leave_the_task_images_to_the_tasks_demo(settings):
    """`make run` loads stimuli, methods and tasks: the demo and methods studies rate the images of the first two
    fixtures, as before tasks.json existed."""
    fixtures = Path(settings.BASE_DIR) / "fixtures"
    shipped = {name: [r["fields"] for r in json.loads((fixtures / f"{name}.json").read_text())
                      if r["model"] == "saliency.stimulus"] for name in ("stimuli", "methods", "tasks")}
    call_command("loaddata", "stimuli", "methods", "tasks", stdout=io.StringIO())
    call_command("create_demo_study", "--participants", "1", stdout=io.StringIO())
    demo, methods = Study.objects.get(slug="demo"), Study.objects.get(slug="methods")
    assert demo.stimuli.count() == len(shipped["stimuli"])
    assert methods.stimuli.count() == len(shipped["stimuli"]) + len(shipped["methods"])
    tasks_images = {tuple(s["source_image"]) for s in shipped["tasks"]}
    for study in (demo, methods):
        assert not {(s.source_image.dataset, s.source_image.image) for s in study.stimuli.all()} & tasks_images


def test_the_replication_manifest_tells_the_top_maps_apart(study_factory, write_png):
    study = study_factory(images=1, variants=("N",))
    add_top_maps(study, write_png, k=3)
    _, manifest = stimulus_materials(study)
    assert manifest[["model", "method", "target_rank", "target_class"]].values.tolist() == [
        ["N", "VG", 1, "T-shirt/top"], ["N", "VG", 2, "Trouser"], ["N", "VG", 3, "Pullover"]]
    assert manifest["map_file"].nunique() == 3
