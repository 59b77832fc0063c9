"""DATABASE_POOL_MAX_SIZE: Django's psycopg pool per worker on PostgreSQL, in place of persistent connections."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOW = ("import django, json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup(); "
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(json.dumps({'options': d.get('OPTIONS', {}), 'conn_max_age': d['CONN_MAX_AGE']}))")


def database_settings(**env):
    result = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_pool_replaces_persistent_connections_on_postgresql():
    found = database_settings(DATABASE_URL="postgres://u:p@127.0.0.1:5999/studydb", DATABASE_POOL_MAX_SIZE="2")
    assert found == {"options": {"pool": {"min_size": 1, "max_size": 2, "timeout": 10.0}}, "conn_max_age": 0}


def test_without_it_postgresql_keeps_persistent_connections():
    found = database_settings(DATABASE_URL="postgres://u:p@127.0.0.1:5999/studydb")
    assert found == {"options": {}, "conn_max_age": 60}


def test_sqlite_ignores_it():
    found = database_settings(DATABASE_POOL_MAX_SIZE="4")
    assert "pool" not in found["options"] and found["conn_max_age"] == 60


def test_psycopg_pool_is_installed():
    import psycopg_pool  # noqa: F401  (Django imports it only at the first connection: fail here, not there)
