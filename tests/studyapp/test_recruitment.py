"""The study link: platform IDs, one participant per ID, endings by outcome, places and closing."""

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from studyapp.export import recruitment_frame, review_frame
from studyapp.models import AttentionCheck, LikertResponse, Outcome, Participant, Study, Trial
from tests.helpers.recruitment import PID, arrive, prolific, through_background
from tests.helpers.survey import AGREE, answer_for, location, play_to_end, stored_answers, trial_at


pytestmark = pytest.mark.django_db

def test_a_platform_id_makes_one_participant_who_resumes_and_never_starts_over(study_factory):
    study = study_factory(images=1, recruitment_source="prolific", completion_code="PROLIFIC-CODE")
    first = Client()
    assert arrive(first, prolific(study.slug)) == "/consent/"
    (participant,) = Participant.objects.all()
    assert (participant.study, participant.source, participant.external_id, participant.external_session) == \
        (study, "prolific", PID, "s1")
    assert participant.arrived_at is not None and participant.outcome == Outcome.IN_PROGRESS
    url = through_background(first)
    first.get(url)
    url = location(first.post(url, answer_for(trial_at(url, participant), 1)))

    # The same ID on another device, in a new attempt: the same participant, at the same page.
    again = Client()
    assert arrive(again, prolific(study.slug, session="s2")) == url
    assert Participant.objects.count() == 1 and get_user_model().objects.count() == 1
    assert int(again.session["_auth_user_id"]) == participant.user_id
    pages = [again.get(url).content.decode()]
    play_to_end(again, participant, url)
    assert stored_answers() == Trial.objects.count()

    # Completed: the ID sees its completion again, with its code, and nothing changes.
    ending = Client().get(prolific(study.slug), follow=True)
    html = ending.content.decode()
    assert ending.redirect_chain[-1][0] == "/complete/"
    assert "PROLIFIC-CODE" in html and "https://app.prolific.com/submissions/complete?cc=PROLIFIC-CODE" in html
    assert not any("PROLIFIC-CODE" in page for page in pages)  # shown only after the final answer is stored
    participant.refresh_from_db()
    assert (participant.outcome, participant.ending_code) == (Outcome.COMPLETED, "PROLIFIC-CODE")
    assert participant.completed_at is not None and participant.ended_at == participant.completed_at
    assert Participant.objects.count() == 1


def test_an_id_that_declines_consent_is_told_to_return_the_study(study_factory):
    study = study_factory(images=1, recruitment_source="prolific", no_consent_code="NOCONSENT-1")
    client = Client()
    arrive(client, prolific(study.slug))
    assert location(client.post("/consent/", {"decline": "yes"})) == "/complete/"
    participant = Participant.objects.get()
    assert participant.outcome == Outcome.NO_CONSENT and participant.consented_at is None
    assert not participant.trials.exists()
    for visitor in (client, Client()):  # on this device, and the same ID arriving again
        response = visitor.get(prolific(study.slug), follow=True)
        html = response.content.decode()
        assert "You chose not to take part" in html and "NOCONSENT-1" in html
        assert "https://app.prolific.com/submissions/complete?cc=NOCONSENT-1" in html
    assert location(client.post("/consent/", AGREE)) == "/complete/"  # no way back in
    assert Participant.objects.count() == 1 and not Trial.objects.exists()


def test_without_a_code_a_declining_id_is_asked_to_return_the_study(study_factory):
    study = study_factory(images=1, recruitment_source="prolific")
    client = Client()
    arrive(client, prolific(study.slug))
    html = client.post("/consent/", {"decline": "yes"}, follow=True).content.decode()
    assert "Please return the study on Prolific." in html and "completion-code" not in html


@pytest.mark.parametrize("source, id_parameter, query, message", [
    ("prolific", "", {"STUDY_ID": "60a1", "SESSION_ID": "s"}, "This link has no PROLIFIC_PID"),
    ("prolific", "", {"PROLIFIC_PID": ""}, "PROLIFIC_PID is empty in this link"),
    ("prolific", "", {"PROLIFIC_PID": "a" * 101}, "PROLIFIC_PID is 101 characters long; an ID has at most 100."),
    ("prolific", "", {"PROLIFIC_PID": "<script>alert(1)</script>"}, "must consist of letters and digits"),
    ("sona", "", {"id": "0123"}, "id must consist of 2 to 7 digits, the first not 0"),
    ("prolific", "", {"PROLIFIC_PID": "{{%PROLIFIC_PID%}}"}, "placeholder {{%PROLIFIC_PID%}}: this is the study "
                                                              "link as it is pasted into Prolific"),
    ("sona", "", {"id": "%SURVEY_CODE%"}, "Researchers: to try the study, use Preview"),
    ("mturk", "", {"workerId": "A1", "assignmentId": "B2", "hitId": "C3", "turkSubmitTo": "https://evil.example"},
     "turkSubmitTo must be https://www.mturk.com or https://workersandbox.mturk.com"),
    ("generic", "pid", {"id": "x"}, "This link has no pid"),
])
def test_malformed_links_answer_400_with_the_reason_and_store_nothing(study_factory, client, source, id_parameter,
                                                                      query, message):
    study = study_factory(images=1, recruitment_source=source, id_parameter=id_parameter)
    response = client.get(f"/s/{study.slug}/?{urlencode(query)}")
    html = response.content.decode()
    assert response.status_code == 400 and message in html and "Nothing was stored." in html
    assert "<script>alert(1)" not in html
    assert not Participant.objects.exists() and not get_user_model().objects.exists()
    assert "_auth_user_id" not in client.session


def test_a_study_without_a_recruitment_source_has_no_open_link(study_factory, client):
    study = study_factory(images=1)
    assert client.get(prolific(study.slug)).status_code == 404
    assert client.get(prolific("no-such-study")).status_code == 404
    assert not Participant.objects.exists()


def test_an_mturk_preview_shows_the_task_and_creates_nothing(study_factory, client):
    study = study_factory(images=1, recruitment_source="mturk")
    response = client.get(f"/s/{study.slug}/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=3HIT")
    html = response.content.decode()
    assert response.status_code == 200 and "Accept the HIT to begin." in html and "about 9 short pages" in html
    assert "<form" not in html and not Participant.objects.exists() and "_auth_user_id" not in client.session


def test_mturk_ends_with_a_form_post_to_turk_submit_to(study_factory, client):
    study = study_factory(images=1, attention_checks=False, recruitment_source="mturk", completion_code="")
    url = f"/s/{study.slug}/?" + urlencode({"workerId": "A1B2C3", "assignmentId": "3ASSIGNX", "hitId": "3HITY",
                                             "turkSubmitTo": "https://workersandbox.mturk.com"})
    arrive(client, url)
    participant = Participant.objects.get()
    play_to_end(client, participant, through_background(client))
    html = client.get("/complete/").content.decode()
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.S)
    assert form.group(1) == "https://workersandbox.mturk.com/mturk/externalSubmit"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    assert fields == {"assignmentId": "3ASSIGNX", "outcome": "completed"}  # no CSRF token leaves the site


def test_sona_grants_credit_through_the_researchers_url_with_the_persons_code(study_factory, client):
    credit = ("https://uni.sona-systems.com/webstudy_credit.aspx?experiment_id=123&credit_token=9f8e&"
              "survey_code={survey_code}")
    study = study_factory(images=1, attention_checks=False, recruitment_source="sona", completion_redirect_url=credit)
    arrive(client, f"/s/{study.slug}/?id=4711")
    play_to_end(client, Participant.objects.get(), through_background(client))
    assert location(client.get("/complete/")) == credit.replace("{survey_code}", "4711")


def test_a_redirect_template_with_an_unknown_placeholder_is_refused(study_factory):
    study = study_factory(images=1, completion_redirect_url="https://x.example/done?cc={cc}")
    with pytest.raises(ValidationError, match=r"Unknown placeholder\(s\) \{cc\}"):
        study.full_clean()
    study.completion_redirect_url = "https://x.example/done?cc={code}"
    study.recruitment_source, study.id_parameter = "generic", ""
    with pytest.raises(ValidationError, match="Name the query parameter"):
        study.full_clean()


def make_inactive(participant, hours=3):
    """As if the participant's last page was `hours` ago."""
    then = timezone.now() - dt.timedelta(hours=hours)
    Participant.objects.filter(pk=participant.pk).update(arrived_at=then, consented_at=then,
                                                         instructions_read_at=then)
    Trial.objects.filter(participant=participant, shown_at__isnull=False).update(shown_at=then)


def test_places_count_started_and_completed_participants_until_inactivity_expires_them(study_factory):
    study = study_factory(images=1, attention_checks=False, recruitment_source="prolific", max_participants=2,
                          over_quota_code="FULL-1")
    finished, idle = Client(), Client()
    arrive(finished, prolific(study.slug, pid="AAA1"))
    play_to_end(finished, Participant.objects.get(external_id="AAA1"), through_background(finished))
    arrive(idle, prolific(study.slug, pid="BBB2"))
    url = through_background(idle)
    idle.get(url)

    refused = Client().get(prolific(study.slug, pid="CCC3"))
    html = refused.content.decode()
    assert refused.status_code == 200 and "This study is full" in html and "FULL-1" in html
    assert "Nothing about you was stored." in html
    assert not Participant.objects.filter(external_id="CCC3").exists() and Participant.objects.count() == 2

    # An hour of inactivity is within the study's two hours: the place is still taken.
    make_inactive(Participant.objects.get(external_id="BBB2"), hours=1)
    assert "This study is full" in Client().get(prolific(study.slug, pid="CCC3")).content.decode()
    # After three hours the newcomer gets the place, and the inactive participant has expired.
    make_inactive(Participant.objects.get(external_id="BBB2"), hours=3)
    assert arrive(Client(), prolific(study.slug, pid="CCC3")) == "/consent/"
    expired = Participant.objects.get(external_id="BBB2")
    assert (expired.outcome, expired.ending_code) == (Outcome.EXPIRED, "")  # away: shown no code yet
    assert recruitment_frame(study).set_index("participant").loc[expired.pseudonym, "completion_code"] == ""
    assert expired.pseudonym not in set(review_frame(study)["participant"])
    assert Participant.objects.get(external_id="AAA1").outcome == Outcome.COMPLETED  # completed ones always count

    # Back on their page, the expired participant can answer nothing more and sees why.
    before = stored_answers()
    assert location(idle.post(url, answer_for(trial_at(url, expired), 0))) == "/complete/"
    html = idle.get("/complete/").content.decode()
    assert "Your time for this study ran out" in html and "FULL-1" in html
    assert "so it was not saved" not in html  # it was never answered: the ending itself says why
    assert stored_answers() == before
    expired.refresh_from_db()
    assert expired.ending_code == "FULL-1"  # the code they were shown, now
    assert recruitment_frame(study).set_index("participant").loc[expired.pseudonym, "completion_code"] == "FULL-1"
    review = review_frame(study).set_index("participant")
    assert (review.loc[expired.pseudonym, "action"], review.loc[expired.pseudonym, "reason"]) == (
        "request_return", "expired: their ending asked them to return the study")
    Study.objects.filter(pk=study.pk).update(over_quota_code="FULL-2")
    assert "FULL-1" in idle.get("/complete/").content.decode()  # once shown, their code stands
    assert "This study is full" in Client().get(prolific(study.slug, pid="DDD4")).content.decode()


def test_invited_participants_hold_a_place_once_they_have_opened_their_link(study_factory, participant_factory):
    study = study_factory(images=1, recruitment_source="prolific", max_participants=1)
    invited = participant_factory(study)
    assert arrive(Client(), prolific(study.slug, pid="AAA1")) == "/consent/"  # the invitee never came
    Participant.objects.filter(external_id="AAA1").delete()
    Client().get(f"/i/{invited.invite_token}/")
    invited.refresh_from_db()
    assert invited.arrived_at is not None
    assert "This study is full" in Client().get(prolific(study.slug, pid="BBB2")).content.decode()


def test_a_closed_study_turns_newcomers_away_and_lets_those_in_go_on(study_factory):
    study = study_factory(images=1, recruitment_source="prolific", is_open=False, over_quota_code="CLOSED-7",
                          over_quota_redirect_url="")
    html = Client().get(prolific(study.slug, pid="NEW1")).content.decode()
    assert "This study is closed" in html and "CLOSED-7" in html and not Participant.objects.exists()
    study.is_open = True
    study.save()
    inside = Client()
    arrive(inside, prolific(study.slug, pid="IN1"))
    study.is_open = False
    study.save()
    assert arrive(Client(), prolific(study.slug, pid="IN1")) == "/consent/"
    assert through_background(inside).startswith("/trial/")
    study.over_quota_redirect_url = "https://app.prolific.com/submissions/complete?cc={code}"
    study.save()
    assert location(Client().get(prolific(study.slug, pid="NEW2"))) == \
        "https://app.prolific.com/submissions/complete?cc=CLOSED-7"
    assert Participant.objects.count() == 1


def fail_every_check(client, participant, url):
    """Answer from `url` on, every attention check wrongly; the URL each answer leads to, in order."""
    seen = []
    while url.startswith("/trial/"):
        client.get(url)
        trial = trial_at(url, participant)
        answer = answer_for(trial, trial.position)
        if trial.kind == Trial.Kind.ATTENTION:
            answer["answer"] = str(trial.attention_target % 5 + 1)
        url = location(client.post(url, answer))
        seen.append((trial.kind, url))
    return seen


@pytest.mark.parametrize("mode, outcome", [("", Outcome.COMPLETED), ("at_end", Outcome.ATTENTION_FAILED),
                                           ("early", Outcome.ATTENTION_FAILED)])
def test_a_failed_attention_check_ends_the_study_as_the_study_says(study_factory, mode, outcome):
    study = study_factory(images=2, recruitment_source="prolific", attention_failure_ending=mode,
                          completion_code="DONE-OK", attention_failed_code="ATTN-FAIL")
    client = Client()
    arrive(client, prolific(study.slug))
    participant = Participant.objects.get()
    seen = fail_every_check(client, participant, through_background(client))
    first_check = next(i for i, (kind, _) in enumerate(seen) if kind == Trial.Kind.ATTENTION)
    if mode == "early":
        assert seen[first_check][1] == "/complete/" and len(seen) == first_check + 1
        assert AttentionCheck.objects.count() == 1 and LikertResponse.objects.count() == first_check
    else:
        assert len(seen) == participant.trials.count()
    participant.refresh_from_db()
    assert participant.outcome == outcome
    html = client.get("/complete/").content.decode()
    code = "DONE-OK" if outcome == Outcome.COMPLETED else "ATTN-FAIL"
    assert code in html and participant.ending_code == code
    assert ("The study has ended" in html) == (outcome == Outcome.ATTENTION_FAILED)
    assert (participant.completed_at is None) == (mode == "early")
