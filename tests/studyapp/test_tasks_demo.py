"""The third demo study "tasks" (issue 29) that `make run` makes from the shipped fixtures: a distinction block
(k = 4), a forward-simulation block and a verification block under N/A/M2 x VG and the no-map control, on images
where each model is wrong on half; its links printed beside the other demos', and participants walked through it
from its Prolific link to its completion code."""

import re
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from saliency.models import Stimulus
from studyapp.models import Role, Study, Trial
from studyapp.schema import DISTINCTION, LEARN, SIMULATION, TEST, VERIFICATION
from tests.helpers.recruitment import arrive, prolific, through_background
from tests.helpers.survey import answer_for, location, past_feedback, trial_at
from tests.studyapp.test_commands import run

pytestmark = pytest.mark.django_db

BASE = "http://127.0.0.1:8000"
DATA_URI = re.compile(r'<img src="data:image/png;base64,')


@pytest.fixture
def demos():
    """`make run`'s set-up: the three shipped fixtures, then create_demo_study; its output."""
    run("loaddata", "stimuli", "methods", "tasks")
    return run("create_demo_study", base_url=BASE, participants=2)


def test_create_demo_study_makes_the_tasks_study_beside_the_others_and_prints_its_links(demos, client):
    assert sorted(Study.objects.values_list("slug", flat=True)) == ["demo", "methods", "tasks"]
    researcher = get_user_model().objects.get(username="researcher")
    assert sorted(researcher.study_memberships.values_list("study__slug", "role")) == [
        ("demo", Role.OWNER), ("methods", Role.OWNER), ("tasks", Role.OWNER)]
    study = Study.objects.get(slug="tasks")
    assert [(b.kind, b.top_k, b.images, b.learning_images) for b in study.blocks.all()] == [
        (DISTINCTION, 4, 8, None), (SIMULATION, 4, 8, 8), (VERIFICATION, 4, 8, None)]
    assert study.blocks.get(kind=DISTINCTION).ask_true_class
    assert [str(c) for c in study.task_conditions.all()] == ["N×VG", "A×VG", "M2×VG", "none (N)", "none (A)",
                                                              "none (M2)"]
    assert study.bonus_per_correct is not None and study.completion_code == "TASKS-DONE" and study.is_open
    shown = study.stimuli.all()
    assert shown.count() == 32 * 3 * 4 and set(shown.values_list("method", flat=True)) == {"VG"}
    predictions = shown.filter(target_rank=1).select_related("source_image")
    wrong = Counter(s.variant for s in predictions if s.predicted_class != s.source_image.class_name)
    assert wrong == {"N": 16, "A": 16, "M2": 16}  # about half model errors

    assert "Third demo study 'tasks' created: 384 stimuli" in demos
    assert f"{BASE}/s/tasks/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}" in demos
    invites = re.findall(rf"^  (P\d+)  ({BASE}/i/\S+)$", demos, flags=re.M)
    assert len(invites) == 6 and study.participants.count() == 2
    consoles = re.findall(rf"^Console: {BASE}(/dashboard/\S+/)$", demos, flags=re.M)
    assert consoles == ["/dashboard/demo/", "/dashboard/methods/", "/dashboard/tasks/"]
    client.force_login(researcher)
    assert all(client.get(console).status_code == 200 for console in consoles)

    again = run("create_demo_study", base_url=BASE, participants=2)  # idempotent: nothing that exists changes
    assert "Third demo study 'tasks' exists: 384 stimuli" in again
    assert Study.objects.count() == 3 and study.blocks.count() == 3 and study.task_conditions.count() == 6
    assert study.participants.count() == 2 and study.stimuli.count() == 384
    assert re.findall(rf"^  (P\d+)  ({BASE}/i/\S+)$", again, flags=re.M) == invites


def walk(client, study, pid):
    """A participant from the study's Prolific link through every page (learning feedback included) to the
    completion page: (the participant, the completion page's HTML)."""
    assert arrive(client, prolific(study.slug, pid=pid)) == "/consent/"
    url = through_background(client)
    participant = study.participants.get(external_id=pid)  # its condition assigned at consent
    while url != "/complete/":
        html = client.get(url).content.decode()
        trial = trial_at(url, participant)
        images = len(DATA_URI.findall(html))
        if not participant.task_condition.method:
            assert images == 1, trial  # the control sees the image alone
        elif trial.kind == DISTINCTION:
            assert images == 1 + 4, trial  # the image and the maps of the model's top 4 classes
        url = past_feedback(client, location(client.post(url, answer_for(trial, trial.position))))
    participant.refresh_from_db()
    return participant, client.get("/complete/").content.decode()


def test_participants_walk_the_tasks_demo_from_its_prolific_link_to_its_completion_code(demos):
    study = Study.objects.get(slug="tasks")
    conditions = []
    for number in range(study.task_conditions.count()):  # one participant in each condition, in order of consent
        participant, ending = walk(Client(), study, pid=f"5f8a1b2c3d4e5f6a7b8c9d{number:02d}")
        assert participant.outcome == "completed" and "TASKS-DONE" in ending
        conditions.append(str(participant.task_condition))
        pages = Counter((t.kind, t.phase) for t in participant.trials.exclude(kind=Trial.Kind.ATTENTION))
        assert pages == {(DISTINCTION, ""): 8, (SIMULATION, LEARN): 8, (SIMULATION, TEST): 8, (VERIFICATION, ""): 8}
        assert participant.trials.filter(kind=Trial.Kind.ATTENTION).exists()
        # The 32 pages on the 32 images: each image at most once per phase, learning and test on other images, and
        # a later block on images no earlier block showed.
        seen = list(participant.trials.exclude(kind=Trial.Kind.ATTENTION).values_list("source_image", flat=True))
        assert len(seen) == len(set(seen)) == 32
        shown = Stimulus.objects.filter(pk__in=participant.trials.values("stimulus"))
        assert set(shown.values_list("variant", flat=True)) == {participant.task_condition.model}
    assert conditions == ["N×VG", "A×VG", "M2×VG", "none (N)", "none (A)", "none (M2)"]
