"""Playing the survey through Django's test client: the steps many test modules share."""

import re

from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Trial

AGREE = {"agree": "on", "consent_version": "1"}  # a new study's consent text is its version 1


def location(response):
    assert response.status_code in (302, 303), (response.status_code, response.content[:500])
    return response["Location"]


def start(client, participant, degree="master", years="3"):
    """Invite link, consent, instructions, background: returns the first trial's URL."""
    assert location(client.get(f"/i/{participant.invite_token}/")) == "/consent/"
    assert location(client.post("/consent/", AGREE)) == "/instructions/"
    assert location(client.post("/instructions/")) == "/background/"
    return location(client.post("/background/", {"degree": degree, "cv_experience_years": years}))


def open_first_trial(client, participant):
    """Start, load the first trial's page; returns its URL and the Trial."""
    url = start(client, participant)
    assert client.get(url).status_code == 200
    return url, trial_at(url, participant)


def answer_for(trial, n):
    """A valid answer to `trial`, varied with `n`."""
    if trial.kind == Trial.Kind.RATING:
        return {"trial": trial.token, "sufficiency": str(n % 5 + 1), "trust": str((n + 2) % 5 + 1)}
    if trial.kind == Trial.Kind.ATTENTION:  # the first statement's answer (not stored), then the instruction's
        return {"trial": trial.token, "sufficiency": str(n % 5 + 1), "answer": str(trial.attention_target)}
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


def stored_answers():
    return LikertResponse.objects.count() + AttentionCheck.objects.count() + ChoiceResponse.objects.count()


def play_until(client, participant, url, kind):
    """Answer trials from `url` until the current one is of `kind`; returns its URL (page already loaded)."""
    while True:
        assert client.get(url).status_code == 200
        trial = trial_at(url, participant)
        if trial.kind == kind:
            return url
        url = location(client.post(url, answer_for(trial, trial.position)))
