"""Requests that really happen at once, on PostgreSQL: two threads, two connections, one answer or participant.

Runs in the `--postgres` pass of `make test` only: SQLite serialises every write, so it cannot race.
"""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from studyapp.models import LikertResponse, Participant, Trial
from tests.helpers.survey import AGREE, answer_for, location, open_first_trial

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
    replies = at_once([lambda: client.post("/consent/", AGREE),
                       lambda: twin.post("/consent/", AGREE)])
    assert [location(r) for r in replies] == ["/instructions/", "/instructions/"]
    participant = Participant.objects.get(pk=participant.pk)
    plan = list(participant.trials.values_list("position", flat=True))
    assert plan == list(range(1, len(plan) + 1)) and len(plan) == 2 * 3 + 2 + 2


def test_two_first_arrivals_of_one_platform_id_at_the_same_moment_make_one_participant(study_factory):
    study = study_factory(images=1, recruitment_source="prolific")
    for round_ in range(3):  # each round a fresh ID, both requests released together
        pid = f"5f8a1b2c3d4e5f6a7b8c9d{round_:02d}"
        link = f"/s/{study.slug}/?PROLIFIC_PID={pid}&STUDY_ID=60a1&SESSION_ID=s1"
        clients = [Client(), Client()]
        replies = at_once([lambda c=c: c.get(link) for c in clients])
        assert [location(r) for r in replies] == ["/consent/", "/consent/"]  # straight to the current page
        (participant,) = Participant.objects.filter(study=study, external_id=pid)
        assert [int(c.session["_auth_user_id"]) for c in clients] == [participant.user_id] * 2
        assert [location(c.get("/")) for c in clients] == ["/consent/", "/consent/"]
    assert Participant.objects.count() == 3 and get_user_model().objects.count() == 3


def test_simultaneous_arrivals_of_different_ids_never_overtake_the_last_place(study_factory):
    study = study_factory(images=1, recruitment_source="sona", max_participants=1)
    replies = at_once([lambda n=n: Client().get(f"/s/{study.slug}/?id={4711 + n}") for n in range(4)])
    assert sorted(r.status_code for r in replies) == [200, 200, 200, 302]
    assert sum("This study is full" in r.content.decode() for r in replies) == 3
    assert Participant.objects.count() == 1 and get_user_model().objects.count() == 1
