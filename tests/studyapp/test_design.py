"""Study designs over conditions (model x method cells): the balanced incomplete design, what the side-by-side page
compares, the enrolment index taken at plan start, and the balance report over 60 participants."""

from collections import Counter
from itertools import product

import pandas as pd
import pytest
from django.core.management import call_command

from studyapp import balance, survey
from studyapp.enrollment import enroll_participants
from studyapp.randomization import (ARRANGEMENTS, CHOICE, COMPARE_METHODS, RATING, Design, StimulusRef, conditions,
                                    design_offsets, draw_plan, image_order, participant_seed, plan_length)
from studyapp.schema import BALANCE_COLUMNS, BALANCE_FILE

MODELS, METHODS = ("A", "M2", "N"), ("IG", "SG", "VG")


def refs(images=20, models=MODELS, methods=METHODS):
    ids = iter(range(100, 100 + images * len(models) * len(methods)))
    return [StimulusRef(next(ids), image, model, method)
            for image in range(1, images + 1) for model, method in product(models, methods)]


def rated(plan, stimuli):
    by_id = {ref.stimulus: ref for ref in stimuli}
    return [by_id[t.stimulus] for t in plan if t.kind == RATING]


def plans(stimuli, participants, views, study_seed=5, compare="models"):
    return [draw_plan(stimuli, participant_seed(study_seed, k), comparison_count=None, attention_checks=True,
                      design=Design(compare, views, study_seed, k)) for k in range(participants)]


def test_each_participant_rates_each_image_under_distinct_cells_and_every_cell():
    stimuli = refs()
    for plan in plans(stimuli, 12, views=3):
        seen = rated(plan, stimuli)
        assert len(seen) == 60 == len({r.stimulus for r in seen})
        per_image = Counter(r.source_image for r in seen)
        assert set(per_image.values()) == {3}
        assert {r.condition for r in seen} == set(conditions(stimuli))  # every cell, spread over images
        assert len(plan) == plan_length(stimuli, comparison_count=None, attention_checks=True,
                                        design=Design("models", 3, 5)) == 60 + 2 + 20


@pytest.mark.parametrize("participants", [60, 50, 7])
def test_every_cell_x_image_is_seen_by_the_same_number_of_participants_to_within_one(participants):
    stimuli = refs()
    counts = Counter((r.source_image, r.condition) for plan in plans(stimuli, participants, views=3)
                     for r in rated(plan, stimuli))
    grid = [counts[(image, cell)] for image in range(1, 21) for cell in conditions(stimuli)]
    assert max(grid) - min(grid) <= 1
    assert sum(grid) == participants * 60
    if participants == 60:
        assert set(grid) == {20}


def test_the_rotation_is_the_documented_formula():
    stimuli = refs(images=4)
    cells = conditions(stimuli)
    order = image_order(stimuli, 5)
    assert sorted(order) == [1, 2, 3, 4] and order == image_order(stimuli, 5)
    assert design_offsets(9, 3) == [0, 3, 6] and design_offsets(9, 2) == [0, 4]
    for k in (0, 1, 8, 9):
        seen = {(r.source_image, r.condition) for r in rated(plans(stimuli, k + 1, views=2)[k], stimuli)}
        assert seen == {(image, cells[(i + k + offset) % 9]) for i, image in enumerate(order) for offset in (0, 4)}


def test_without_views_per_image_or_with_one_method_the_plan_is_as_before():
    stimuli = [StimulusRef(r.stimulus, r.source_image, r.variant) for r in refs(images=6, methods=("VG",))]
    for k in range(8):
        seed = participant_seed(3, k)
        before = draw_plan(stimuli, seed, comparison_count=None, attention_checks=True)
        assert before == draw_plan(stimuli, seed, comparison_count=None, attention_checks=True,
                                   design=Design("models", None, 3, k))
        assert before == draw_plan(stimuli, seed, comparison_count=None, attention_checks=True,
                                   design=Design("models", 3, 3, k))  # three views of three cells: all of them


def test_comparing_methods_shows_one_models_three_methods_rotating_the_model():
    stimuli = refs(images=6)
    by_id = {ref.stimulus: ref for ref in stimuli}
    models_shown = Counter()
    for k, plan in enumerate(plans(stimuli, 6, views=3, compare=COMPARE_METHODS)):
        choices = [t for t in plan if t.kind == CHOICE]
        assert len(choices) == 6
        for trial in choices:
            maps = [by_id[s] for s in (trial.left, trial.middle, trial.right)]
            assert len({m.variant for m in maps}) == 1 and {m.method for m in maps} == set(METHODS)
            assert {m.source_image for m in maps} == {trial.source_image}
            models_shown[maps[0].variant] += 1
    assert models_shown == {"A": 12, "M2": 12, "N": 12}


def test_an_incomplete_design_needs_every_image_under_every_cell():
    stimuli = refs(images=3)[:-1]
    with pytest.raises(ValueError, match="needs every image under every condition; missing: image 3 under N/VG"):
        draw_plan(stimuli, 1, comparison_count=0, attention_checks=False, design=Design("models", 2, 1, 0))


@pytest.fixture
def methods_study(study_factory):
    return study_factory(images=20, methods=METHODS, views_per_image=3, comparison="methods",
                         attention_checks=True)


def test_sixty_participants_started_through_the_locked_plan_start_are_balanced(methods_study, tmp_path):
    study = methods_study
    people = enroll_participants(study, 60)
    consent = study.ensure_consent_version()
    for person in people:
        survey.start_study(person, consent)
        survey.start_study(person, consent)  # a second start changes nothing
    assert sorted(p.design_index for p in study.participants.all()) == list(range(60))
    frame = balance.balance_frame(study)
    assert list(frame.columns) == list(BALANCE_COLUMNS)
    ratings = frame[frame["page"] == "rating"]
    assert len(ratings) == 20 * 9 and set(ratings["planned"]) == {20} and set(ratings["answered"]) == {0}
    choices = frame[frame["page"] == "choice"]
    by_side = choices.groupby(["model", "method", "position"])["planned"].sum().unstack("position")
    assert by_side.to_numpy().sum() == 60 * 20 * 3
    # each cell on each side: the rotation of positions (participant number % 6) and of the compared model
    assert (by_side.max(axis=1) - by_side.min(axis=1)).max() <= 0.1 * by_side.to_numpy().mean()
    summary = balance.summary(frame)
    assert summary["within_one"] and summary["rating_min"] == summary["rating_max"] == 20
    assert {(c["model"], c["method"]) for c in summary["cells"]} == set(product(MODELS, METHODS))
    call_command("export_responses", study=study.slug, out=tmp_path / "export")
    written = pd.read_csv(tmp_path / "export" / BALANCE_FILE, keep_default_na=False, dtype=str)
    assert written.astype(str).equals(frame.astype(str).replace("<NA>", ""))


def test_a_one_method_study_balance_counts_every_participant_for_every_stimulus(study_factory):
    study = study_factory(images=2)
    consent = study.ensure_consent_version()
    for person in enroll_participants(study, 6):
        survey.start_study(person, consent)
    summary = balance.summary(balance.balance_frame(study))
    assert summary["within_one"] and summary["rating_min"] == summary["rating_max"] == 6
    # six participants: the six arrangements, so every model twice on each side per image
    assert all(cell[side] == 4 for cell in summary["cells"] for side in ("left", "middle", "right"))
    assert set(ARRANGEMENTS) and len(summary["cells"]) == 3


def test_the_admin_and_the_console_show_the_balance(methods_study, admin_client):
    consent = methods_study.ensure_consent_version()
    for person in enroll_participants(methods_study, 9):
        survey.start_study(person, consent)
    for url in (f"/admin/studyapp/study/{methods_study.pk}/change/", f"/dashboard/{methods_study.slug}/"):
        page = admin_client.get(url).content.decode()
        assert "Design balance" in page and "every condition x image within one: 3-3 participants" in page, url
        assert "<th scope=\"row\">M2</th><td>IG</td><td>20</td><td>3-3</td><td>60</td>" in page, url
