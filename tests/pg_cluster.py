"""The pytest plugin that runs the database-facing tests against a throwaway PostgreSQL cluster.

`make test` runs the suite twice: everything on SQLite, then, with `--postgres`, the
database-facing tests again on a cluster that devtools.pg_cluster.PostgresCluster starts
and removes afterwards.
"""

from devtools.pg_cluster import PostgresCluster

POSTGRES_MARKER = "postgres: runs only on PostgreSQL (the `--postgres` pass of `make test`)"


def pytest_addoption(parser):
    parser.addoption(
        "--postgres", action="store_true",
        help="Start a throwaway PostgreSQL cluster and run only the database-facing tests against it.",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", POSTGRES_MARKER)
    if not config.getoption("--postgres"):
        return
    import dj_database_url
    from django.conf import settings
    from django.db import connections

    cluster = PostgresCluster().start()
    config._postgres_cluster = cluster
    # pytest-django has set Django up already (with DATABASE_URL's database), before any plugin
    # could run: point the default alias at the cluster and drop its not-yet-used SQLite wrapper.
    # OPTIONS are the SQLite ones (config/settings.py) until replaced: psycopg refuses them.
    settings.DATABASES["default"].update({"OPTIONS": {}, **dj_database_url.parse(cluster.url(), conn_max_age=0)})
    connections.close_all()
    del connections["default"]


def pytest_unconfigure(config):
    cluster = getattr(config, "_postgres_cluster", None)
    if cluster is not None:
        cluster.stop()


def uses_database(item):
    return item.get_closest_marker("django_db") is not None or "django_db_setup" in item.fixturenames


def pytest_collection_modifyitems(config, items):
    import pytest
    from django.conf import settings

    if config.getoption("--postgres"):
        deselected = [item for item in items if not uses_database(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if uses_database(item)]
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if not on_postgres:
        skip = pytest.mark.skip(reason="needs PostgreSQL: runs in `pytest --postgres` (the second pass of `make test`)")
        for item in items:
            if item.get_closest_marker("postgres"):
                item.add_marker(skip)
