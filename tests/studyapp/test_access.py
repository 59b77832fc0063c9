"""Who gets in and what they see: invite links, login, blinding, embedded stimulus images, the staff dashboard."""

import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from studyapp import access
from studyapp.models import AttentionCheck, LikertResponse, Trial
from tests.helpers.blinding import Attributes, assert_blind, embedded_png
from tests.helpers.console import cells_of
from tests.helpers.survey import AGREE, answer_for, location, play_to_end, play_until, start, trial_at


pytestmark = pytest.mark.django_db



# --- Invite links ---------------------------------------------------------------------------------------

def test_opening_an_invite_link_logs_in_but_starts_nothing(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2))
    for _ in range(2):  # link previews open it, then the person does
        assert location(client.get(f"/i/{participant.invite_token}/")) == "/consent/"
        assert client.head(f"/i/{participant.invite_token}/").status_code == 302
    assert int(client.session["_auth_user_id"]) == participant.user_id
    assert client.get("/consent/").status_code == 200
    participant.refresh_from_db()
    assert participant.consented_at is None and participant.instructions_read_at is None
    assert not participant.trials.exists()
    assert client.post(f"/i/{participant.invite_token}/").status_code == 405


def test_an_unknown_invite_token_is_a_logged_404(client, study_factory, participant_factory, caplog):
    participant = participant_factory(study_factory(images=1))
    caplog.set_level(logging.WARNING, logger="studyapp")
    for token in ("x" * 43, participant.invite_token[:-1], participant.invite_token + "A"):
        assert client.get(f"/i/{token}/").status_code == 404
    assert "_auth_user_id" not in client.session
    warnings = [r for r in caplog.records if r.name == "studyapp" and r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all("Unknown invite token" in r.getMessage() for r in warnings)
    assert not any(participant.invite_token[:-1] in r.getMessage() for r in warnings)


def test_an_invite_link_switches_to_its_own_participant(client, study_factory, participant_factory):
    study = study_factory(images=1)
    first, second = participant_factory(study), participant_factory(study)
    start(client, first)
    client.get(f"/i/{second.invite_token}/")
    assert int(client.session["_auth_user_id"]) == second.user_id
    assert location(client.get("/")) == "/consent/"


def test_invite_tokens_have_at_least_128_bits(study_factory, participant_factory):
    study = study_factory(images=1)
    tokens = {participant_factory(study).invite_token for _ in range(20)}
    assert len(tokens) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)  # 43 base64 characters = 256 bits


# --- Logging in -----------------------------------------------------------------------------------------

def test_survey_pages_need_a_logged_in_participant(client, study_factory):
    study_factory(images=1)
    for url in ("/", "/consent/", "/instructions/", "/background/", "/trial/1/", "/complete/"):
        assert location(client.get(url)) == f"/login/?next={url}"
    get_user_model().objects.create_user("visitor", password="a-long-passphrase")
    client.post("/login/", {"username": "visitor", "password": "a-long-passphrase"})
    for url in ("/", "/consent/", "/trial/1/", "/complete/"):
        response = client.get(url)
        assert response.status_code == 403 and "does not take part in a study" in response.content.decode()


def test_a_wrong_password_is_refused_with_400(client, study_factory, participant_factory):
    participant_factory(study_factory(images=1), username="ada", password="a-long-passphrase")
    response = client.post("/login/", {"username": "ada", "password": "wrong"})
    assert response.status_code == 400
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_invite_only_account_has_no_password(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1))
    assert not participant.user.has_usable_password()


# --- Blinding -------------------------------------------------------------------------------------------

def participant_pages(client, participant):
    """The HTML of every page one participant sees, start to finish, with a refused answer on each kind."""
    pages = []
    client.get(f"/i/{participant.invite_token}/")
    for url, data in (("/consent/", AGREE), ("/instructions/", {}),
                      ("/background/", {"degree": "none", "cv_experience_years": "0"})):
        pages.append(client.get(url).content.decode())
        client.post(url, data)
    url = location(client.get("/"))
    while url != "/complete/":
        pages.append(client.get(url).content.decode())
        trial = trial_at(url, participant)
        pages.append(client.post(url, {"trial": trial.token}).content.decode())  # 400 page
        url = location(client.post(url, answer_for(trial, trial.position)))
    pages.append(client.get(url).content.decode())
    return pages


def test_no_participant_page_reveals_a_model(client, study_factory, participant_factory, stimuli_root):
    study = study_factory(images=3, variants=("N", "A", "M2"))
    participant = participant_factory(study)
    pages = participant_pages(client, participant)
    file_names = [p.name for p in stimuli_root.iterdir()]
    random_tokens = set(participant.trials.values_list("token", flat=True))
    files_shown = set()
    for html in pages:
        for name in file_names:
            assert name not in html and Path(name).stem not in html
        parsed = assert_blind(html, random_tokens)
        for img in parsed.images:
            assert img["alt"] in {"Original image", "Saliency map", "Saliency Map 1", "Saliency Map 2",
                                  "Saliency Map 3"}
            files_shown.add(embedded_png(img["src"]))
    assert files_shown == {path.read_bytes() for path in stimuli_root.iterdir()}  # 3 images, 9 maps


# --- Stimulus images ------------------------------------------------------------------------------------

def test_each_trial_page_embeds_its_own_stimulus_files(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2, attention_checks=True))
    url = start(client, participant)
    root = Path(settings.STIMULI_ROOT)
    kinds = set()
    while url != "/complete/":
        trial = trial_at(url, participant)
        parsed = Attributes()
        parsed.feed(client.get(url).content.decode())
        shown = [embedded_png(img["src"]) for img in parsed.images]
        if trial.kind == "rating":
            expected = [trial.stimulus.source_image.image, trial.stimulus.heatmap]
        elif trial.kind == "choice":
            expected = [trial.source_image.image, trial.left.heatmap, trial.middle.heatmap, trial.right.heatmap]
        else:  # an attention check looks like a rating page: an image and a map
            expected = [trial.stimulus.source_image.image, trial.stimulus.heatmap]
        assert shown == [(root / name).read_bytes() for name in expected]
        kinds.add(trial.kind)
        url = location(client.post(url, answer_for(trial, trial.position)))
    assert kinds == {"rating", "attention", "choice"}
    assert client.get("/img/x/map/").status_code == 404  # no image URLs at all


class Skeleton(HTMLParser):
    """A page's tags with their attribute names and classes, and its visible words: what a participant can tell."""

    def __init__(self):
        super().__init__()
        self.tags, self.words = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(sorted(name for name, _ in attrs)), dict(attrs).get("class")))

    def handle_data(self, data):
        self.words.extend(data.lower().split())


def skeleton(html):
    parsed = Skeleton()
    parsed.feed(html)
    return parsed


def test_an_attention_check_looks_like_a_rating_page(client, study_factory, participant_factory):
    study = study_factory(images=2)
    participant = participant_factory(study)
    rating_url = play_until(client, participant, start(client, participant), "rating")
    rating, rating_trial = client.get(rating_url).content.decode(), trial_at(rating_url, participant)
    check_url = play_until(client, participant, rating_url, "attention")
    check, check_trial = client.get(check_url).content.decode(), trial_at(check_url, participant)
    assert skeleton(check).tags == skeleton(rating).tags  # same elements, same layout, same classes
    heading = "<h1>Observe the image from class '{}' and its saliency map</h1>"
    assert heading.format(check_trial.stimulus.source_image.class_name) in check
    assert heading.format(rating_trial.stimulus.source_image.class_name) in rating
    legends = [re.findall(r"<legend>(.*?)</legend>", html) for html in (rating, check)]
    assert legends[0] == [study.sufficiency_statement, study.trust_statement]
    instruction = "To show you are reading, select &#x27;Agree&#x27; for this item."
    assert legends[1] == [study.sufficiency_statement, instruction]
    shown_words = set(skeleton(check).words) - set(skeleton(rating).words)
    assert not shown_words & {"attention", "check", "carefully", "careful"}


def test_an_attention_check_needs_both_answers_and_stores_only_the_instructed_one(client, study_factory,
                                                                                  participant_factory):
    participant = participant_factory(study_factory(images=1))
    url = play_until(client, participant, start(client, participant), "attention")
    trial = trial_at(url, participant)
    data = answer_for(trial, 0)
    response = client.post(url, {key: value for key, value in data.items() if key != "sufficiency"})
    assert response.status_code == 400 and "Choose one answer from 1 (Strongly disagree)" in response.content.decode()
    assert not AttentionCheck.objects.exists()
    location(client.post(url, data))
    assert list(AttentionCheck.objects.values_list("trial", "answer")) == [(trial.pk, trial.attention_target)]
    assert not LikertResponse.objects.filter(trial=trial).exists()


def test_a_missing_stimulus_file_is_a_logged_503_and_no_form(client, study_factory, participant_factory, caplog):
    participant = participant_factory(study_factory(images=1))
    url = start(client, participant)
    trial = trial_at(url, participant)
    (Path(settings.STIMULI_ROOT) / trial.stimulus.heatmap).unlink()
    response = client.get(url)
    assert response.status_code == 503
    assert b"images are missing" in response.content and b"<form" not in response.content
    assert "cannot be shown" in caplog.text


# --- Staff dashboard ------------------------------------------------------------------------------------

def test_the_dashboard_is_for_staff_only(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1, slug="pilot"))
    for url in ("/dashboard/", "/dashboard/pilot/"):
        assert location(client.get(url)) == f"/login/?next={url}"
    client.get(f"/i/{participant.invite_token}/")
    for url in ("/dashboard/", "/dashboard/pilot/"):
        assert client.get(url).status_code == 403


def test_the_dashboard_shows_each_participants_progress(client, study_factory, participant_factory):
    pilot = study_factory(images=1, slug="pilot", title="Pilot study")
    main = study_factory(images=1, slug="main", title="Main study")
    done, halfway, idle = participant_factory(pilot), participant_factory(pilot), participant_factory(pilot)
    elsewhere = participant_factory(main)
    play_to_end(client, done, start(client, done))
    failed = Trial.objects.filter(participant=done, kind="attention").first()
    failed.attention_response.answer = 1 if failed.attention_target != 1 else 2
    failed.attention_response.save()
    client.logout()
    url = start(client, halfway)
    client.get(url)
    client.post(url, answer_for(trial_at(url, halfway), 0))

    staff = get_user_model().objects.create_user("researcher", password="a-long-passphrase", is_staff=True)
    access.grant(pilot, staff, "analyst")
    access.grant(main, staff, "owner")
    client.force_login(staff)
    assert location(client.get("/")) == "/dashboard/"
    html = client.get("/dashboard/pilot/").content.decode()
    # The first five cells as ever; the console's own columns (page, times, flags, decision) follow them.
    cells = {name: cells_of(html, name)[1][:5] for name in (done.pseudonym, halfway.pseudonym, idle.pseudonym)}
    assert cells[done.pseudonym][1:] == ["6/6", cells[done.pseudonym][2], "1/2", "Completed"]
    assert cells[done.pseudonym][2] != "no"
    reached = AttentionCheck.objects.filter(trial__participant=halfway).count()
    assert reached == 0  # its first page is a rating: it has reached no check (the export says 0/0 too)
    passed = sum(check.passed for check in AttentionCheck.objects.filter(trial__participant=halfway))
    assert cells[halfway.pseudonym][1:] == ["1/6", "no", f"{passed}/{reached}", "In progress"]  # checks reached
    assert cells[idle.pseudonym] == ["no", "0/0", "no", "0/0", "In progress"]
    assert "No recruitment source: participants come through personal invite links only." in html
    outcomes = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td></tr>', html))
    assert (outcomes["Completed"], outcomes["In progress"], outcomes["Did not consent"]) == ("1", "2", "0")
    assert "2 places taken\n(completed and active" in html  # the finished and halfway ones; the idle one never came
    assert elsewhere.pseudonym not in html
    assert elsewhere.pseudonym in client.get("/dashboard/").content.decode()
    assert client.get("/dashboard/nope/").status_code == 404


def test_the_dashboard_shows_the_study_link_to_paste_and_the_places(client, study_factory, admin_user):
    study_factory(images=1, slug="live", recruitment_source="sona", max_participants=40, is_open=False)
    client.force_login(admin_user)
    html = client.get("/dashboard/live/").content.decode()
    assert '<code class="study-link">http://testserver/s/live/?id=%SURVEY_CODE%</code>' in html
    assert "The study is <strong>closed</strong>;\n0 places taken of 40\n(completed and active participants" in html
