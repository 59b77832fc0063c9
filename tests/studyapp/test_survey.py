"""The survey through Django's test client on a real database: invite link to completion and every refusal."""

import logging
import re

import pytest

from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Participant, Trial

pytestmark = pytest.mark.django_db


def location(response):
    assert response.status_code in (302, 303), (response.status_code, response.content[:500])
    return response["Location"]


def start(client, participant, degree="master", years="3"):
    """Invite link, consent, instructions, background: returns the first trial's URL."""
    assert location(client.get(f"/i/{participant.invite_token}/")) == "/"
    assert location(client.get("/")) == "/consent/"
    assert location(client.post("/consent/", {"agree": "on"})) == "/instructions/"
    assert location(client.post("/instructions/")) == "/background/"
    return location(client.post("/background/", {"degree": degree, "cv_experience_years": years}))


def answer_for(trial, n):
    """A valid answer to `trial`, varied with `n`."""
    if trial.kind == Trial.Kind.RATING:
        return {"trial": trial.token, "sufficiency": str(n % 5 + 1), "trust": str((n + 2) % 5 + 1)}
    if trial.kind == Trial.Kind.ATTENTION:
        return {"trial": trial.token, "answer": str(trial.attention_target)}
    return {"trial": trial.token, "choice": ("left", "middle", "right")[n % 3], "justification": f"Reason {n}"}


def trial_at(url, participant):
    position = int(re.fullmatch(r"/trial/(\d+)/", url).group(1))
    return Trial.objects.get(participant=participant, position=position)


def play_to_end(client, participant, url):
    """Answer every remaining trial from `url` on; returns {position: posted data}."""
    posted = {}
    while url != "/complete/":
        assert client.get(url).status_code == 200
        trial = trial_at(url, participant)
        posted[trial.position] = answer_for(trial, trial.position)
        url = location(client.post(url, posted[trial.position]))
    return posted


def test_invite_link_to_completion_stores_exactly_the_answers_given(client, study_factory, participant_factory):
    study = study_factory(images=3)
    participant = participant_factory(study)
    url = start(client, participant)
    posted = play_to_end(client, participant, url)

    page = client.get("/complete/")
    assert page.status_code == 200 and study.completion_code in page.content.decode()
    participant.refresh_from_db()
    assert participant.completed_at is not None
    assert (participant.degree, participant.cv_experience_years) == ("master", 3)
    assert len(posted) == 9 + 2 + 3
    for trial in participant.trials.all():
        sent = posted[trial.position]
        if trial.kind == Trial.Kind.RATING:
            stored = LikertResponse.objects.get(trial=trial)
            assert (stored.sufficiency, stored.trust) == (int(sent["sufficiency"]), int(sent["trust"]))
        elif trial.kind == Trial.Kind.ATTENTION:
            assert AttentionCheck.objects.get(trial=trial).passed
        else:
            stored = ChoiceResponse.objects.get(trial=trial)
            assert stored.chosen_id == getattr(trial, f"{sent['choice']}_id")
            assert stored.justification == sent["justification"]
    assert LikertResponse.objects.count() + AttentionCheck.objects.count() + ChoiceResponse.objects.count() == 14
