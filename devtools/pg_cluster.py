"""A throwaway PostgreSQL cluster: the test suite's `--postgres` pass and `benchmarks/load.py` start one.

`PostgresCluster` starts one with the machine's `initdb`/`pg_ctl` in a temporary directory on
127.0.0.1 and removes it afterwards (tests/pg_cluster.py is the pytest plugin that uses it).

PostgreSQL refuses to run as root, so when we are root the cluster runs as the `postgres`
system user if there is one, else as `nobody`.
"""

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "postgres"


def find_pg_binary(name):
    """`initdb`/`pg_ctl` from PATH, else from Debian's versioned folder (not on PATH by default)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's `{name}` was not found; install it with `apt-get install postgresql-15`.")
    return found


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unprivileged_user():
    """The account the server runs as: ourselves, unless we are root (which postgres refuses)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("Running as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as.")


class PostgresCluster:
    """initdb + pg_ctl start on a free 127.0.0.1 port; `stop()` shuts it down and deletes every file.

    `durable=False` (tests) turns fsync off; the benchmark keeps PostgreSQL's durable defaults.
    """

    def __init__(self, durable=False, settings=()):
        self.durable = durable
        self.settings = dict(settings)
        self.user = unprivileged_user()
        self.directory = None
        self.port = None
        self.flags = None  # pg_ctl's -o: the server's settings, its port included

    @property
    def data_dir(self):
        return self.directory / "data"

    def url(self, database="saliency_study"):
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args):
        kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}
        result = subprocess.run(args, capture_output=True, text=True, cwd=self.directory, **kwargs)
        if result.returncode != 0:
            log = self.directory / "postgres.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{result.stdout}{result.stderr}{tail}")
        return result

    def start(self, attempts=3):
        self.directory = Path(tempfile.mkdtemp(prefix="saliency-pg-"))
        if self.user:
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        atexit.register(self.stop)
        self._run(find_pg_binary("initdb"), "-D", self.data_dir, "-U", SUPERUSER, "--auth=trust",
                  "--encoding=UTF8", "--locale=C", *([] if self.durable else ["--no-sync"]))
        options = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.directory),
                   "fsync": "on" if self.durable else "off", **self.settings}
        for attempt in range(attempts):  # a free port can be taken between probing and binding
            self.port = free_port()
            self.flags = " ".join(f"-c {key}={value}" for key, value in {**options, "port": self.port}.items())
            try:
                self.resume()
                break
            except RuntimeError:
                if attempt == attempts - 1:
                    self.stop()
                    raise
        self.create_database("saliency_study")
        return self

    def pause(self):
        """Stop the server, keeping its files and port (a database that does not answer); `resume()` starts it."""
        self._run(find_pg_binary("pg_ctl"), "-D", self.data_dir, "-m", "fast", "-w", "stop")

    def resume(self):
        self._run(find_pg_binary("pg_ctl"), "-D", self.data_dir, "-l", self.directory / "postgres.log",
                  "-o", self.flags, "-w", "-t", "60", "start")

    def create_database(self, name):
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def stop(self):
        if self.directory is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}
            subprocess.run([find_pg_binary("pg_ctl"), "-D", self.data_dir, "-m", "immediate", "-w", "stop"],
                           capture_output=True, cwd=self.directory, **kwargs)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
