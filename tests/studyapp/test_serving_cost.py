"""What serving a page or an image costs the database: few queries, each cheap for PostgreSQL to plan.

PostgreSQL searches every join order of a query exhaustively up to 8 tables: an 8-table join took
~20 ms to plan on every image request (benchmarks/load.py), longer than everything else the request did.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .test_survey import location, start, trial_at

pytestmark = pytest.mark.django_db
MAX_TABLES_PER_QUERY = 5


def tables_in(sql):
    return 1 + sql.upper().count(" JOIN ")


def test_trial_pages_and_their_images_use_few_small_queries(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1, attention_checks=False))
    url = start(client, participant)
    while url != "/complete/":
        trial = trial_at(url, participant)
        slots = ("image", "map") if trial.kind == "rating" else ("image", "1", "2", "3")
        with CaptureQueriesContext(connection) as page:
            assert client.get(url).status_code == 200
        for slot in slots:
            with CaptureQueriesContext(connection) as image:
                response = client.get(f"/img/{trial.token}/{slot}/")
                assert response.status_code == 200
                b"".join(response.streaming_content)
            assert len(image) <= 5, [q["sql"] for q in image.captured_queries]
            assert max(tables_in(q["sql"]) for q in image.captured_queries) <= MAX_TABLES_PER_QUERY
        assert len(page) <= 8
        assert max(tables_in(q["sql"]) for q in page.captured_queries) <= MAX_TABLES_PER_QUERY
        data = {"trial": trial.token, "sufficiency": "3", "trust": "4"} if trial.kind == "rating" else \
            {"trial": trial.token, "choice": "left", "justification": "clear"}
        url = location(client.post(url, data))
