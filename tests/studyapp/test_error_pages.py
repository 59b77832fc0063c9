"""Every error status answers with a page in the study's style, never Django's debug or bare page.

pytest-django runs the views with DEBUG off, as a live study does: these are the pages participants see.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from studyapp.models import LikertResponse
from tests.helpers.survey import answer_for, location, open_first_trial, trial_at

pytestmark = pytest.mark.django_db

STUDY_STYLE = "studyapp/survey.css"


def assert_study_page(response, status, *texts):
    page = response.content.decode()
    assert response.status_code == status, page[:300]
    assert STUDY_STYLE in page and "Traceback" not in page
    for text in texts:
        assert text in page


def rename_table(old, new):
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(old)} RENAME TO {quote(new)}")


@pytest.mark.django_db(transaction=True)  # on PostgreSQL a failed statement would abort a test-wide transaction
def test_a_server_error_says_the_answers_are_kept_and_to_reload(study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2, attention_checks=False))
    client = Client(raise_request_exception=False)  # what the participant's browser gets
    url, first = open_first_trial(client, participant)
    second_url = location(client.post(url, answer_for(first, 0)))
    assert client.get(second_url).status_code == 200
    second = trial_at(second_url, participant)
    table = LikertResponse._meta.db_table
    rename_table(table, "unavailable")  # the answers' table is gone: the database fails the request
    try:
        assert_study_page(client.post(second_url, answer_for(second, 1)), 500,
                          "Your answers are not lost", "reload this page")
    finally:
        rename_table("unavailable", table)
    assert list(LikertResponse.objects.values_list("trial", flat=True)) == [first.pk]  # kept; the failed one not
    assert client.get(second_url).status_code == 200  # reloading asks for the page's answer again
    assert location(client.post(second_url, answer_for(second, 1))) == "/trial/3/"


def test_a_mistyped_invite_link_shows_the_view_s_message_and_guidance(client):
    assert_study_page(client.get("/i/a-mistyped-token/"), 404, "This invite link is not valid",
                      "exactly as you received it")


def test_an_unknown_address_or_study_shows_guidance_and_no_model_names(client, study_factory):
    assert_study_page(client.get("/no-such-page/"), 404, "exactly as you received it",
                      "<title>Error: Page not found")  # the title says first that this is an error (WCAG 2.4.2)
    response = client.get("/s/no-such-study/?PROLIFIC_PID=5f8a")
    assert_study_page(response, 404, "exactly as you received it")
    assert "matches the given query" not in response.content.decode()


def test_a_view_s_own_400_message_stays(study_factory):
    study = study_factory(images=1, recruitment_source="prolific")
    response = Client().get(f"/s/{study.slug}/")  # the platform's ID is missing
    assert_study_page(response, 400, "This study link is not valid", "Nothing was stored")


def test_a_request_for_another_host_is_a_plain_400():
    assert_study_page(Client(HTTP_HOST="attacker.example").get("/"), 400, "could not be read")


def test_an_expired_form_is_a_403_that_says_the_answer_was_not_saved(study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1))
    client = Client(enforce_csrf_checks=True)
    client.get(f"/i/{participant.invite_token}/")
    response = client.post("/consent/", {"agree": "on", "consent_version": "1"})  # no CSRF token
    assert_study_page(response, 403, "was not saved", "Reload the page")
    assert not participant.trials.exists()


def test_a_forbidden_page_is_the_study_s_403(client):
    staff = get_user_model().objects.create_user("assistant", password="pw-0123456789", is_staff=True)
    client.force_login(staff)  # staff, but without the permission to see participants in the admin
    assert_study_page(client.get("/admin/studyapp/participant/"), 403, "not open to you")


def test_a_link_too_long_to_read_gets_the_studys_414_page_and_stores_nothing(client, study_factory):
    study = study_factory(images=1, recruitment_source="prolific", declared_minutes=5)
    assert_study_page(client.get(f"/s/{study.slug}/?PROLIFIC_PID=" + "a" * 9000), 414, "This link is too long",
                      "<title>Error: Link too long")
    assert not study.participants.exists()
    assert_study_page(client.get(f"/s/{study.slug}/?PROLIFIC_PID=" + "a" * 5000), 400)  # read: an ID too long
    assert not study.participants.exists()
