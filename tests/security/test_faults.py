"""Double clicks that really happen at once, on PostgreSQL: two threads, two connections, one answer.

Runs in the `--postgres` pass of `make test` only: SQLite serialises every write, so it cannot race.
"""

import threading

import pytest
from django.db import connection
from django.test import Client

from studyapp.models import LikertResponse, Participant, Trial
from tests.studyapp.test_survey import answer_for, location, open_first_trial

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(requests):
    """Run the callables in threads released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(index, request):
        try:
            barrier.wait()
            results[index] = request()
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def same_browser(client):
    """A second client with the first one's cookies: the same participant, logged in, in another tab."""
    twin = Client()
    twin.cookies = client.cookies
    return twin


def test_two_identical_answers_at_the_same_moment_store_one_and_both_move_on(client, study_factory,
                                                                            participant_factory):
    participant = participant_factory(study_factory(images=2, attention_checks=False))
    url, trial = open_first_trial(client, participant)
    twin = same_browser(client)
    for _ in range(5):  # trial after trial: each time both requests pass the position check together
        data = answer_for(trial, trial.position)
        replies = at_once([lambda: client.post(url, data), lambda: twin.post(url, data)])
        next_url = f"/trial/{trial.position + 1}/"
        assert [r.status_code for r in replies] == [303, 303]
        assert [location(r) for r in replies] == [next_url, next_url]  # both land on the next trial
        stored = LikertResponse.objects.filter(trial__participant=participant)
        assert stored.filter(trial=trial).count() == 1
        assert stored.count() == trial.position
        (answer,) = stored.filter(trial=trial).values_list("sufficiency", "trust")
        assert answer == (int(data["sufficiency"]), int(data["trust"]))
        url = next_url
        assert client.get(url).status_code == 200
        trial = Trial.objects.get(participant=participant, position=trial.position + 1)


def test_two_consents_at_the_same_moment_draw_one_plan(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2))
    client.get(f"/i/{participant.invite_token}/")
    twin = same_browser(client)
    replies = at_once([lambda: client.post("/consent/", {"agree": "on"}),
                       lambda: twin.post("/consent/", {"agree": "on"})])
    assert [location(r) for r in replies] == ["/instructions/", "/instructions/"]
    participant = Participant.objects.get(pk=participant.pk)
    plan = list(participant.trials.values_list("position", flat=True))
    assert plan == list(range(1, len(plan) + 1)) and len(plan) == 2 * 3 + 2 + 2
