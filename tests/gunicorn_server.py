"""A real gunicorn (config/gunicorn.py) on a free 127.0.0.1 port, for tests that need a server process.

    with gunicorn_server(env, workers=4) as base:   # base: "http://127.0.0.1:<port>"
        status, headers, body = fetch(base + "/login/")
"""

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from devtools.pg_cluster import free_port

ROOT = Path(__file__).resolve().parent.parent


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, **headers):
    """(status, headers, body) of a GET that follows no redirect; a 4xx/5xx is returned, not raised."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@contextmanager
def gunicorn_server(env, workers=1, start_timeout=30):
    """Serve config.wsgi with `env` (the whole environment) and `workers` processes; its base URL.

    The server's log goes to a file, not a pipe, so a chatty server never blocks on a full pipe; it is
    shown when the server does not start.
    """
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT, env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)},
            stdout=subprocess.DEVNULL, stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                fetch(base + "/")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    server.wait()
                    log.seek(0)
                    raise RuntimeError("gunicorn did not start:\n" + log.read().decode(errors="replace"))
                time.sleep(0.1)
        try:
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)
