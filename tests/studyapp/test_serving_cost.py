"""What serving a trial page or storing its answer costs the database: few queries, each cheap to plan.

PostgreSQL searches every join order of a query exhaustively up to 8 tables: an 8-table join took
~20 ms to plan on every request (benchmarks/load.py), longer than everything else the request did.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studyapp.models import Participant
from tests.helpers.recruitment import prolific
from tests.helpers.survey import AGREE, answer_for, location, start, trial_at


pytestmark = pytest.mark.django_db
MAX_TABLES_PER_QUERY = 5


def tables_in(sql):
    return 1 + sql.upper().count(" JOIN ")


def statements(captured):
    """The queries that reach the database's planner (not the test transaction's savepoints)."""
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_trial_pages_and_their_answers_use_few_small_queries(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2, attention_checks=True))
    url = start(client, participant)
    while url != "/complete/":
        trial = trial_at(url, participant)
        with CaptureQueriesContext(connection) as page:
            assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as answer:
            url = location(client.post(url, answer_for(trial, trial.position)))
        # session, user with participant and study, standing with the current trial, then:
        # GET: shown_at (first view), the stimuli with their image; POST: the answer (completion at the end)
        assert len(statements(page)) <= 3 + 1 + 1, statements(page)
        assert len(statements(answer)) <= 3 + 1 + (url == "/complete/"), statements(answer)
        for sql in statements(page) + statements(answer):
            assert tables_in(sql) <= MAX_TABLES_PER_QUERY, sql


def test_an_arrival_goes_straight_to_consent_and_each_step_costs_few_queries(client, study_factory):
    """The launch rush is many people on these pages at once (benchmarks/profile_pages.py)."""
    study = study_factory(images=2, recruitment_source="prolific")
    with CaptureQueriesContext(connection) as arrival:
        assert location(client.get(prolific(study.slug))) == "/consent/"
    # study, participant of the ID (none), study locked, participant of the ID again, enrolment index and
    # highest pseudonym, user, participant, session: no second lock, no last_login UPDATE.
    assert len(statements(arrival)) <= 11, statements(arrival)
    assert not any("last_login" in sql for sql in statements(arrival) if sql.startswith("UPDATE"))
    client.get("/consent/")
    for url, data, following in (("/consent/", AGREE, "/instructions/"), ("/instructions/", {}, "/background/"),
                                 ("/background/", {"degree": "master", "cv_experience_years": "3"}, "/trial/1/")):
        with CaptureQueriesContext(connection) as step:
            assert location(client.post(url, data)) == following
        # session, user with participant and study, standing, the step's writes; no reload afterwards
        writes = 6 if url == "/consent/" else 1
        assert len(statements(step)) <= 3 + writes + 2, statements(step)  # + BEGIN/COMMIT of a transaction


def test_a_participant_login_writes_no_last_login_and_a_staff_login_does(client, study_factory, admin_user):
    study = study_factory(images=1, recruitment_source="prolific")
    client.get(prolific(study.slug))
    assert Participant.objects.get().user.last_login is None
    client.force_login(admin_user)
    admin_user.refresh_from_db()
    assert admin_user.last_login is not None
