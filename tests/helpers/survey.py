"""Playing the survey through Django's test client: the steps many test modules share."""

import re

from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, TaskResponse, Trial
from studyapp.schema import DISTINCTION, LEARN

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


def task_answer(trial, n):
    """A valid answer to a page of a task block (issue 29), varied with `n`; an attention check's as instructed."""
    data = {"trial": trial.token}
    if not trial.options:
        return data  # a learning page that asks no guess: Next
    target = trial.attention_target - 1 if trial.kind == Trial.Kind.ATTENTION else n % len(trial.options)
    data["answer"] = trial.options[target]
    if trial.phase != LEARN:
        data["confidence"] = str(n % 5 + 1)
    if trial.block.kind == DISTINCTION and trial.block.ask_true_class:
        data.update(true_class=trial.options[(n + 1) % len(trial.options)], true_class_confidence=str((n + 2) % 5 + 1))
    return data


def answer_for(trial, n):
    """A valid answer to `trial`, varied with `n`."""
    if trial.in_task_block:
        return task_answer(trial, n)
    if trial.kind == Trial.Kind.RATING:
        return {"trial": trial.token, "sufficiency": str(n % 5 + 1), "trust": str((n + 2) % 5 + 1)}
    if trial.kind == Trial.Kind.ATTENTION:  # the first statement's answer (not stored), then the instruction's
        return {"trial": trial.token, "sufficiency": str(n % 5 + 1), "answer": str(trial.attention_target)}
    return {"trial": trial.token, "choice": ("left", "middle", "right")[n % 3], "justification": f"Reason {n}"}


def trial_at(url, participant):
    position = int(re.fullmatch(r"/trial/(\d+)/", url).group(1))
    return Trial.objects.get(participant=participant, position=position)


FEEDBACK = re.compile(r"/trial/(\d+)/feedback/")
NEXT_LINK = re.compile(r'<a class="button next" href="([^"]+)" rel="next">Next</a>')


def past_feedback(client, url):
    """After a learning page's guess: its feedback page's Next link; any other URL as it is."""
    if not FEEDBACK.fullmatch(url):
        return url
    page = client.get(url)
    assert page.status_code == 200
    return NEXT_LINK.search(page.content.decode()).group(1)


def play_to_end(client, participant, url):
    """Answer every remaining trial from `url` on (past learning feedback); returns {position: posted data}."""
    posted = {}
    while url != "/complete/":
        assert client.get(url).status_code == 200
        trial = trial_at(url, participant)
        posted[trial.position] = answer_for(trial, trial.position)
        url = past_feedback(client, location(client.post(url, posted[trial.position])))
    return posted


def stored_answers():
    return (LikertResponse.objects.count() + AttentionCheck.objects.count() + ChoiceResponse.objects.count()
            + TaskResponse.objects.count())


def play_until(client, participant, url, kind, phase=None):
    """Answer trials from `url` until the current one is of `kind` (and `phase`, where given); returns its URL (page
    already loaded)."""
    while True:
        assert client.get(url).status_code == 200
        trial = trial_at(url, participant)
        if trial.kind == kind and phase in (None, trial.phase):
            return url
        url = past_feedback(client, location(client.post(url, answer_for(trial, trial.position))))
