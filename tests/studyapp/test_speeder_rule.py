"""The speeder rule where a pilot is judged: real walkers through the survey, ten completions, one of them 0.9 s."""

import datetime as dt
import statistics

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from studyapp import access, monitoring
from studyapp.export import review_frame
from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Outcome, Participant, Role
from studyapp.rehearsal import Rehearsal
from studyapp.simulation import AnswerModel
from tests.helpers.console import cells_of

pytestmark = pytest.mark.django_db

HONEST_SECONDS_PER_PAGE = 10  # a person's median pace; each walker's own pace varies around it (log-normal)


def walk(study, count, seed):
    """`count` walkers through the real pages (invite link, consent, every trial, the ending); their Participants."""
    return Rehearsal(study, AnswerModel(), seed=seed).run(count)


def take(participants, seconds):
    """Record each walker's consent-to-completion time as `seconds`, its pages at an even pace (the walk itself
    took the server's milliseconds)."""
    for participant, total in zip(participants, seconds):
        done = Participant.objects.get(pk=participant.pk).completed_at
        Participant.objects.filter(pk=participant.pk).update(consented_at=done - dt.timedelta(seconds=total))
        for answers in (LikertResponse, AttentionCheck, ChoiceResponse):
            answers.objects.filter(trial__participant=participant).update(rt_ms=round(1000 * total / 45))


def flags_cell(html, name):
    return cells_of(html, name)[1][9]


def test_a_walker_who_answers_45_pages_in_0_9_s_is_flagged_at_ten_completions_and_no_honest_walker_is(
        study_factory, client):
    study = study_factory(images=10)  # 30 ratings + 2 checks + 10 comparisons + 3 pages before them = 45 pages
    assert study.plan_length() + 3 == 45
    researcher = get_user_model().objects.create_user("researcher", password="a-long-passphrase", is_staff=True)
    access.grant(study, researcher, Role.ANALYST)
    client.force_login(researcher)
    honest = walk(study, 9, seed=1)
    rng = np.random.default_rng(7)
    honest_seconds = 45 * HONEST_SECONDS_PER_PAGE * np.exp(rng.normal(0, 0.3, size=9))
    take(honest, honest_seconds)
    html = client.get(f"/dashboard/{study.slug}/").content.decode()
    for walker in honest:  # nine completions: the rule waits for ten, and says so
        assert flags_cell(html, walker.pseudonym) == "speeder: not judged yet (9 of 10 completions)"

    (speeder,) = walk(study, 1, seed=2)
    take([speeder], [0.9])
    times = [*honest_seconds, 0.9]
    assert 0.9 > statistics.fmean(times) - 3 * statistics.stdev(times)  # mean - 3 SD of all ten: never fires
    rows = {row.participant: row for row in monitoring.study_rows(study)}
    assert all(row.outcome == Outcome.COMPLETED for row in rows.values()) and len(rows) == 10
    assert rows[speeder.pseudonym].flags.speeder is True
    assert [name for name, row in rows.items() if row.flags.speeder] == [speeder.pseudonym]
    assert all(row.flags.speeder is False for name, row in rows.items() if name != speeder.pseudonym)
    html = client.get(f"/dashboard/{study.slug}/").content.decode()
    assert flags_cell(html, speeder.pseudonym).startswith('<span class="flag">speeder: total time 0.9 s under the '
                                                          "cutoff")
    review = review_frame(study).set_index("participant")
    assert review.loc[speeder.pseudonym, "action"] == "may_reject"
    assert (review.drop(index=speeder.pseudonym)["action"] == "approve").all()
