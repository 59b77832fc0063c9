"""Two, three or four maps side by side, through the real pages and exports; and a study that would fail at a
participant's first page refuses to open (the model's validation, the admin, the console's open switch)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client

from studyapp import access, balance, readiness
from studyapp.enrollment import enroll_participants
from studyapp.export import choices_frame
from studyapp.models import ChoiceResponse, ConsoleEvent, Role, Study, Trial
from tests.helpers.admin import admin_form
from tests.helpers.survey import answer_for, location, play_until, start, trial_at

pytestmark = pytest.mark.django_db


def choice_page(client, participant):
    """Start, answer every rating page, and load the first side-by-side page: its URL, HTML and Trial."""
    url = play_until(client, participant, start(client, participant), Trial.Kind.CHOICE)
    return url, client.get(url).content.decode(), trial_at(url, participant)


def maps_on(html):
    return re.findall(r'<img src="data:image/png;base64,[^"]+" alt="Saliency (Map \d)"', html)


def test_two_methods_of_two_models_compared_side_by_side_save_start_and_export(study_factory, admin_client):
    """The issue's study: 2 methods x 2 models, the methods compared side by side, with a comparison count. It used
    to save in the admin and answer every participant 503 at consent."""
    study = study_factory(images=3, variants=("A", "N"), methods=("IG", "VG"), comparison="methods",
                          is_open=False)
    response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/",
                                 {**admin_form(study), "comparison_count": "2", "is_open": "on"})
    assert location(response) == "/admin/studyapp/study/"
    study.refresh_from_db()
    assert study.is_open and study.comparison_count == 2

    (participant,) = enroll_participants(study, 1)
    client = Client()
    url, html, trial = choice_page(client, participant)
    assert "the two saliency maps" in html and maps_on(html) == ["Map 1", "Map 2"]
    assert re.findall(r'name="choice" value="(\w+)"', html) == ["left", "middle"]
    refused = client.post(url, {**answer_for(trial, 0), "choice": "right"})
    assert refused.status_code == 400 and "Choose one of the two maps (Map 1 or Map 2)." in refused.content.decode()
    assert not ChoiceResponse.objects.exists()
    assert location(client.post(url, {**answer_for(trial, 0), "choice": "middle"})) != url
    assert ChoiceResponse.objects.get().chosen_id == trial.middle_id

    frame = choices_frame(study)
    row = frame.iloc[0]
    assert (row["map_count"], row["chosen_model"], row["chosen_method"]) == (2, trial.middle.variant,
                                                                            trial.middle.method)
    assert row["right"] is frame["right"].dtype.na_value and row["fourth"] is frame["fourth"].dtype.na_value
    assert {row["left_method"], row["middle_method"]} == {"IG", "VG"} and row["left"] == row["middle"]
    positions = set(balance.balance_frame(study).query("page == 'choice'")["position"])
    assert positions == {"left", "middle"}


def test_four_models_side_by_side_show_four_maps_and_export_the_fourth(study_factory):
    study = study_factory(images=2, variants=("A", "G", "M2", "N"), attention_checks=False)
    (participant,) = enroll_participants(study, 1)
    client = Client()
    url, html, trial = choice_page(client, participant)
    assert "the four saliency maps" in html and maps_on(html) == ["Map 1", "Map 2", "Map 3", "Map 4"]
    assert re.findall(r'name="choice" value="(\w+)"', html) == ["left", "middle", "right", "fourth"]
    assert {trial.left.variant, trial.middle.variant, trial.right.variant, trial.fourth.variant} == {"A", "G", "M2",
                                                                                                     "N"}
    client.post(url, {**answer_for(trial, 0), "choice": "fourth"})
    assert ChoiceResponse.objects.get().chosen_id == trial.fourth_id
    row = choices_frame(study).iloc[0]
    assert (row["map_count"], row["fourth"], row["fourth_method"], row["chosen_model"]) == (
        4, trial.fourth.variant, "VG", trial.fourth.variant)
    summary = balance.summary(balance.balance_frame(study))
    assert [label for _, label in summary["sides"]] == ["Map 1", "Map 2", "Map 3", "Map 4"]
    assert sum(cell["fourth"] for cell in summary["cells"]) == 2  # two comparison pages planned, one map each at 4


def test_images_with_five_maps_to_compare_are_named_in_a_warning(study_factory):
    study = study_factory(images=2, variants=("A", "G", "M1", "M2", "N"))
    warnings = readiness.rule_conflicts(study)
    assert any("2 image(s) get no side-by-side page" in w and "fmnist-0: 5" in w for w in warnings)
    study.comparison_count = 0
    assert not any("side-by-side page" in w for w in readiness.rule_conflicts(study))


def test_a_study_that_would_fail_at_the_first_page_refuses_to_open_everywhere_and_says_why(study_factory,
                                                                                        admin_client):
    study = study_factory(images=2, comparison_count=5, is_open=False)  # asks for 5 comparisons of 2 images
    reason = "Participants could not start this study: The study asks for 5 side-by-side comparisons but only 2"
    study.full_clean()  # closed: it may be prepared
    study.is_open = True
    with pytest.raises(ValidationError, match=reason):
        study.full_clean()
    study.is_open = False

    response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", {**admin_form(study), "is_open": "on"})
    assert response.status_code == 200 and reason in response.content.decode()
    study.refresh_from_db()
    assert not study.is_open

    response = admin_client.post(f"/dashboard/{study.slug}/open/", {"open": "yes"})
    assert response.status_code == 400 and reason in response.content.decode()
    assert "The study stays closed" in response.content.decode()
    study.refresh_from_db()
    assert not study.is_open and not ConsoleEvent.objects.filter(action__in=["open", "close"]).exists()

    # The admin's form checks the stimuli it is saving, not the stored ones: with a third image's maps it opens.
    third = study_factory(images=3, slug="more").stimuli.all()
    response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", {
        **admin_form(study), "stimuli": [s.pk for s in third], "comparison_count": "3", "is_open": "on"})
    assert location(response) == "/admin/studyapp/study/"
    Study.objects.filter(pk=study.pk).update(is_open=False)
    assert location(admin_client.post(f"/dashboard/{study.slug}/open/", {"open": "yes"})) == f"/dashboard/{study.slug}/"
    study.refresh_from_db()
    assert study.is_open and ConsoleEvent.objects.get(action__in=["open", "close"]).action == "open"
    assert location(admin_client.post(f"/dashboard/{study.slug}/open/", {"open": "no"})) == f"/dashboard/{study.slug}/"
    study.refresh_from_db()
    assert not study.is_open


def test_the_open_switch_needs_staff_with_the_right_to_change_studies(study_factory, client):
    study = study_factory(images=1, is_open=False)
    assert client.post(f"/dashboard/{study.slug}/open/", {"open": "yes"}).status_code == 302  # log in first
    viewer = get_user_model().objects.create_user("viewer", password="a-long-passphrase", is_staff=True)
    client.force_login(viewer)
    assert client.post(f"/dashboard/{study.slug}/open/", {"open": "yes"}).status_code == 404  # no member: no study
    access.grant(study, viewer, Role.VIEWER)
    assert client.post(f"/dashboard/{study.slug}/open/", {"open": "yes"}).status_code == 403
    access.grant(study, viewer, Role.EDITOR)
    assert client.get(f"/dashboard/{study.slug}/open/").status_code == 405
    study.refresh_from_db()
    assert not study.is_open
