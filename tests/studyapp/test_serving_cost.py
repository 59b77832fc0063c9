"""What serving a trial page or storing its answer costs the database: few queries, each cheap to plan.

PostgreSQL searches every join order of a query exhaustively up to 8 tables: an 8-table join took
~20 ms to plan on every request (benchmarks/load.py), longer than everything else the request did.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.helpers.survey import answer_for, location, start, trial_at


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
