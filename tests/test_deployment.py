"""Production serving: `check --deploy` is clean, and gunicorn with DEBUG=0 serves what it should."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gunicorn_server import fetch, gunicorn_server

ROOT = Path(__file__).resolve().parent.parent


def production_env(tmp_path, **extra):
    return {
        "PATH": os.environ["PATH"], "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "STATIC_ROOT": str(tmp_path / "static"), **extra,
    }


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_debug_on(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path, DEBUG="1"), capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


@pytest.fixture
def gunicorn(tmp_path):
    env = production_env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
                   cwd=ROOT, env=env, check=True)
    with gunicorn_server(env) as base:
        yield base


def test_gunicorn_serves_production_settings(gunicorn):
    status, headers, _ = fetch(gunicorn + "/admin/login/")
    assert status == 301 and headers["Location"].startswith("https://"), "plain HTTP must go to HTTPS"

    status, headers, page = fetch(gunicorn + "/admin/login/", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert "max-age=31536000" in headers["Strict-Transport-Security"]
    assert "Secure" in headers["Set-Cookie"] and "csrftoken" in headers["Set-Cookie"]

    # Static files: hashed names from the manifest, compressed, cached for good by whitenoise.
    stylesheet = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, "templates must link the hashed file names that collectstatic wrote"
    status, headers, body = fetch(gunicorn + stylesheet.group(1).decode(),
                                  **{"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]


def test_the_health_check_is_answered_over_plain_http_where_pages_redirect(gunicorn):
    """The proxy asks the app server itself, without X-Forwarded-Proto: /healthz answers, the pages redirect."""
    assert fetch(gunicorn + "/login/")[0] == 301
    status, headers, body = fetch(gunicorn + "/healthz")
    assert (status, body) == (200, b"ok\n") and "Set-Cookie" not in headers


def test_a_long_link_gets_the_studys_error_page_from_the_real_server_never_gunicorns_bare_one(gunicorn):
    """gunicorn's default request-line limit (4094 bytes) answered a 5000-character link with its own bare 414."""
    https = {"X-Forwarded-Proto": "https"}
    for path, status, text in (("/" + "a" * 5000 + "/", 404, b"This page does not exist"),
                               ("/?q=" + "c" * 20000, 414, b"This link is too long to open")):
        got, headers, page = fetch(gunicorn + path, **https)
        assert got == status and text in page, (len(path), got, page[:200])
        assert re.search(rb'href="/static/studyapp/survey\.[0-9a-f]{12}\.css"', page), page[:500]  # the study's style
