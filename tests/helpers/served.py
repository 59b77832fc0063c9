"""A participant's browser over real HTTP, and `manage.py` in a subprocess: for tests against a served study.

    env = serving_env(tmp_path)                 # `make run`'s settings, on a database of its own
    manage(env, "migrate", "--no-input")
    with gunicorn_server(env) as base:
        person = Browser(base).open(link)       # follows redirects to the page they end on
        status, location = person.post(person.answer(rng))
"""

import subprocess
import sys
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode, urljoin, urlsplit

from studyapp.simulation import parse_page, random_answers
from tests.gunicorn_server import ROOT, NoRedirect


def serving_env(directory):
    """The environment `make run` serves with (Makefile: SERVE_ENV), on a database and static folder of its own."""
    return {"PATH": "/usr/bin:/bin", "DEBUG": "0", "BEHIND_TLS_PROXY": "0",
            "SECRET_KEY_FILE": str(directory / "secret_key"), "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
            "STATIC_ROOT": str(directory / "static")}


def manage(env, *args):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class Browser:
    """One participant's browser over HTTP: its cookies, and the last page it was shown."""

    def __init__(self, base, cookies=None):
        self.base = base
        self.cookies = cookies if cookies is not None else CookieJar()
        self.opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(self.cookies))
        self.path, self.page = None, ""

    def tab(self):
        """A second tab of the same browser: the same cookies, the same participant."""
        twin = Browser(self.base, self.cookies)
        twin.path, twin.page = self.path, self.page
        return twin

    def request(self, path, data=None):
        """(status, Location path or "", body) of one request; nothing followed."""
        headers = {"Origin": self.base} if data is not None else {}
        request = urllib.request.Request(urljoin(self.base, path), headers=headers,
                                         data=urlencode(data).encode() if data is not None else None)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, "", response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, urlsplit(error.headers.get("Location", "")).path, error.read().decode()

    def open(self, path):
        """GET `path`, following redirects to the page they end on, which must answer 200."""
        for _ in range(10):
            status, location, body = self.request(path)
            if not location:
                assert status == 200, f"GET {path} answered {status}"
                self.path, self.page = path, body
                return self
            path = location
        raise AssertionError(f"{path}: too many redirects")

    def answer(self, rng):
        """What this page's answer form sends, random answers filled in."""
        (form,) = [f for f in parse_page(self.page)[0] if f.method == "post" and not f.action.endswith("/logout/")]
        return random_answers(form, rng)

    def post(self, data):
        """POST `data` to the page shown; (status, Location path)."""
        status, location, _ = self.request(self.path, data)
        return status, location
