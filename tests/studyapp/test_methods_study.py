"""The second demo study "methods" (models x methods, a balanced incomplete design, methods compared side by side):
created beside the demo, walked through by participants, blinded, exported and analysed."""

import base64
import csv
import io
import json
import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client

from saliency.models import Stimulus
from studyapp.models import Study, Trial
from tests.helpers.survey import answer_for, location, start

MODELS, METHODS = ("N", "A", "M2"), ("VG", "IG", "SG")
METHOD_WORDS = ("VG", "IG", "SG", "GradCAM", "Vanilla", "Integrated", "SmoothGrad", "Smooth", "Gradient")
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def demos(study_factory):
    """Two fmnist images under N/A/M2 x VG/IG/SG (in a scratch study), then create_demo_study."""
    study_factory(images=2, methods=METHODS, slug="scratch")
    return run("create_demo_study", base_url="http://127.0.0.1:8000", participants=3)


def png_text_chunks(data):
    """The chunk types of a PNG (tEXt, iTXt, zTXt would carry words)."""
    types, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        types.append(data[at + 4:at + 8].decode("ascii"))
        at += 12 + length
    return types


def test_create_demo_study_prints_the_methods_studys_links_beside_the_demos(demos):
    demo, methods = Study.objects.get(slug="demo"), Study.objects.get(slug="methods")
    assert set(demo.stimuli.values_list("method", flat=True)) == {"VG"} and demo.stimuli.count() == 6
    assert methods.stimuli.count() == 18 and methods.comparison == "methods" and methods.views_per_image == 3
    assert "Second demo study 'methods' created: 18 stimuli" in demos
    links = re.findall(r"^  (P\d+)  (http://127.0.0.1:8000/i/\S+)$", demos, flags=re.M)
    assert len(links) == 6  # three of each study
    assert "http://127.0.0.1:8000/s/methods/?PROLIFIC_PID=" in demos
    assert "Third demo study 'tasks' (distinction, forward simulation, verification): run `manage.py loaddata " \
        "tasks` and this command again." in demos and not Study.objects.filter(slug="tasks").exists()
    assert "Second demo study 'methods' exists" in run("create_demo_study", participants=3)  # idempotent


def test_participants_walk_through_the_methods_study_blinded_and_it_is_analysed(demos, tmp_path):
    study = Study.objects.get(slug="methods")
    maps = {s.pk: s for s in Stimulus.objects.all()}
    for person in study.participants.order_by("pseudonym"):
        client = Client()
        url = start(client, person)
        pages = []
        while url != "/complete/":
            pages.append(client.get(url).content.decode())
            trial = Trial.objects.get(participant=person, position=int(re.fullmatch(r"/trial/(\d+)/", url).group(1)))
            url = location(client.post(url, answer_for(trial, trial.position)))
        trials = list(person.trials.order_by("position"))
        rated = [maps[t.stimulus_id] for t in trials if t.kind == Trial.Kind.RATING]
        assert len(rated) == 6 and set(Counter(s.source_image_id for s in rated).values()) == {3}
        for choice in (t for t in trials if t.kind == Trial.Kind.CHOICE):
            shown = [maps[choice.left_id], maps[choice.middle_id], maps[choice.right_id]]
            assert len({s.variant for s in shown}) == 1 and {s.method for s in shown} == set(METHODS)
        for page in pages:
            images = DATA_URI.findall(page)
            text = DATA_URI.sub("", page)
            assert not [w for w in METHOD_WORDS if re.search(rf"\b{w}\b", text)], text[:300]
            for image in images:
                assert not {"tEXt", "iTXt", "zTXt"} & set(png_text_chunks(base64.b64decode(image)))
        assert not any(s.method in str(s.heatmap) for s in rated)  # opaque file names
    person.refresh_from_db()
    assert person.completed_at is not None
    assert sorted(study.participants.values_list("design_index", flat=True)) == [0, 1, 2]

    call_command("export_responses", study="methods", out=tmp_path / "export", stdout=io.StringIO())
    with (tmp_path / "export" / "ratings.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["method"] for row in rows} == {"VG", "IG", "SG"}
    out = tmp_path / "report"
    run("analyze", "--study", "methods", "--out", str(out), "--no-mixed")
    results = json.loads((out / "results.json").read_text())
    assert results["sample"]["analysed"] == 3 and results["sample"]["ratings"] == 18
    assert {"cell_descriptives", "friedman_factors", "choice_model"} <= set(results)
    assert all("×" in model for model in results["models"])
    sets = {}
    for row in results["choice_model"]:  # the methods of one model on each page: one set per model
        sets.setdefault(row["set"], []).append(row["cell"])
    for cells in sets.values():
        model = cells[0].split("×")[0]
        assert cells == [f"{model}×{method}" for method in METHODS]
    assert [row["reference"] for row in results["choice_model"]].count(True) == len(sets)


@pytest.mark.django_db
def test_a_participant_walks_through_the_shipped_methods_study():
    """`make run`'s second demo study on the shipped fixtures (stimuli.json + methods.json): 20 images x 9 cells."""
    run("loaddata", "stimuli", "methods")
    run("create_demo_study", participants=1)
    study = Study.objects.get(slug="methods")
    assert study.stimuli.count() == 20 * 9
    (person,) = study.participants.all()
    client = Client()
    url = start(client, person)
    while url != "/complete/":
        page = client.get(url).content.decode()
        assert len(DATA_URI.findall(page)) in (2, 4)  # image and map, or image and three maps
        trial = Trial.objects.get(participant=person, position=int(re.fullmatch(r"/trial/(\d+)/", url).group(1)))
        url = location(client.post(url, answer_for(trial, trial.position)))
    person.refresh_from_db()
    assert person.completed_at is not None
    rated = [t.stimulus for t in person.trials.filter(kind=Trial.Kind.RATING).select_related("stimulus")]
    assert len(rated) == 60 and set(Counter(s.source_image_id for s in rated).values()) == {3}
    assert len({(s.variant, s.method) for s in rated}) == 9  # every cell of the design, in a balanced share
