"""`/healthz`: 200 while the database answers, 503 when it does not; no session read or written, no cookie."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_answers_200_with_one_query_and_touches_no_session(client, participant_factory, study_factory):
    participant = participant_factory(study_factory(images=1))
    client.get(f"/i/{participant.invite_token}/")  # a participant's browser, with its session cookie
    session = Session.objects.get()
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz", secure=False)
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert [q["sql"] for q in queries] == ["SELECT 1"]
    assert not response.cookies and "Cookie" not in response.get("Vary", "")
    assert "no-cache" in response["Cache-Control"]
    assert Session.objects.get().expire_date == session.expire_date


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_healthz_answers_503_from_a_server_whose_database_does_not_answer(database, tmp_path):
    """gunicorn with the production settings, its database a SQLite file in a folder that does not exist or a
    PostgreSQL port nobody listens on: /healthz says 503 (a proxy takes the server out), every time."""
    from devtools.pg_cluster import free_port
    from tests.gunicorn_server import fetch, gunicorn_server
    from tests.test_deployment import production_env

    url = (f"sqlite:///{tmp_path / 'missing-folder' / 'db.sqlite3'}" if database == "sqlite"
           else f"postgres://saliency@127.0.0.1:{free_port()}/saliency_study")
    with gunicorn_server(production_env(tmp_path, DATABASE_URL=url, ALLOWED_HOSTS="127.0.0.1")) as base:
        for _ in range(2):
            status, headers, body = fetch(base + "/healthz")
            assert status == 503 and body == b"database unavailable: OperationalError\n"
            assert "Set-Cookie" not in headers
