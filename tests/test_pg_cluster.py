"""The throwaway PostgreSQL cluster that `pytest --postgres` and benchmarks/load.py start."""

import psycopg
import pytest
from django.db import connection

from devtools.pg_cluster import PostgresCluster


def test_cluster_serves_on_loopback_and_leaves_nothing_behind():
    cluster = PostgresCluster().start()
    directory, url = cluster.directory, cluster.url()
    try:
        assert url.startswith("postgres://postgres@127.0.0.1:")
        with psycopg.connect(url) as conn:
            version, address = conn.execute("SELECT current_setting('server_version'), inet_server_addr()").fetchone()
        assert version.startswith("15.")
        assert str(address) == "127.0.0.1"
    finally:
        cluster.stop()
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_postgres_pass_really_runs_on_postgres():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT inet_server_addr()")
        assert str(cursor.fetchone()[0]) == "127.0.0.1"
