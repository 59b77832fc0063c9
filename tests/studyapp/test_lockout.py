"""The lock-out after repeated failed staff logins (django-axes): per username and address, on the login page and the
admin's alike; participants, who log in by their link, are never counted, never locked and cost it nothing."""

import io

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.helpers.recruitment import prolific
from tests.helpers.survey import location

pytestmark = pytest.mark.django_db

OFFICE, HOME = "198.51.100.7", "203.0.113.9"
PASSWORD = "a-long-passphrase"


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user("researcher", password=PASSWORD, is_staff=True)


def log_in(password, address=OFFICE, url="/login/"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": "researcher", "password": password})
    return response, "_auth_user_id" in client.session


def test_repeated_failed_logins_lock_the_account_out_from_that_address(researcher):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response, _ = log_in("wrong")
        assert response.status_code == 400 and "Please enter a correct username and password" in \
            response.content.decode()
    locked, logged_in = log_in("wrong")
    assert locked.status_code == 429 and not logged_in
    assert "Too many failed logins" in locked.content.decode() and "axes_reset_username researcher" in \
        locked.content.decode()
    right, logged_in = log_in(PASSWORD)  # the right password, too late
    assert right.status_code == 429 and not logged_in
    admin, logged_in = log_in(PASSWORD, url="/admin/login/")
    assert admin.status_code == 429 and not logged_in
    elsewhere, logged_in = log_in(PASSWORD, address=HOME)  # nobody locks a researcher out from elsewhere
    assert elsewhere.status_code == 302 and logged_in


def test_an_administrator_lifts_a_lockout_at_once(researcher):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in("wrong")
    assert log_in(PASSWORD)[0].status_code == 429
    call_command("axes_reset_username", "researcher", stdout=io.StringIO())  # as the lock-out page says
    assert log_in(PASSWORD)[1]


def test_a_successful_login_clears_the_count(researcher):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in("wrong")
    assert log_in(PASSWORD)[1]
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in("wrong")
    assert log_in(PASSWORD)[1]


def test_the_lockout_reads_the_address_our_proxy_forwarded(researcher):
    """Behind our proxy every request comes from it: the client's own address counts (as for invite links)."""
    proxy = settings.TRUSTED_PROXIES[0]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=OFFICE).post(
            "/login/", {"username": "researcher", "password": "wrong"})
    assert AccessAttempt.objects.get().ip_address == OFFICE
    client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=HOME)
    client.post("/login/", {"username": "researcher", "password": PASSWORD})
    assert "_auth_user_id" in client.session


def test_participants_on_a_locked_out_address_take_part_and_cost_the_lockout_nothing(
        researcher, study_factory, participant_factory):
    study = study_factory(images=1, recruitment_source="prolific")
    invited = participant_factory(study)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in("wrong")
    assert log_in(PASSWORD)[0].status_code == 429
    attempts, logs = AccessAttempt.objects.count(), AccessLog.objects.count()
    for url in (f"/i/{invited.invite_token}/", prolific(study.slug, pid="5f8a1b2c3d4e5f6a7b8c9d0e")):
        client = Client(REMOTE_ADDR=OFFICE)
        with CaptureQueriesContext(connection) as queries:
            assert location(client.get(url)) == "/consent/"
        assert not [q["sql"] for q in queries.captured_queries if "axes_" in q["sql"]]
        assert client.post("/consent/", {"agree": "on", "consent_version": "1"}).status_code == 303
    assert (AccessAttempt.objects.count(), AccessLog.objects.count()) == (attempts, logs)


def test_a_staff_login_is_kept_in_axes_access_log(researcher):
    assert log_in(PASSWORD)[1]
    assert AccessLog.objects.get().username == "researcher"
