"""`manage.py backup` while participants answer, then `manage.py restore` after the database is gone.

A real gunicorn serves the study on a SQLite file or a PostgreSQL database of its own (a throwaway cluster); threads
play participants over HTTP. Mid-way a backup is taken; after it the participants go on answering. Then the
database and the stimulus folder are destroyed, the archive is restored, and the study is exported again: every
answer acknowledged before the backup began is there, and every row of the restored export is byte-identical to
the same row exported from the live database.
"""

import csv
import io
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from devtools.pg_cluster import PostgresCluster
from tests.gunicorn_server import ROOT, gunicorn_server
from tests.helpers.served import Browser, manage, serving_env

PARTICIPANTS = 6
ANSWER_FILES = ("ratings.csv", "choices.csv")


def manage_result(env, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def study_environment(directory, database_url):
    """`make run`'s serving environment on `database_url`, with its own stimulus folder and backup folder."""
    media = directory / "media"
    shutil.copytree(ROOT / "fixtures" / "stimuli", media / "stimuli")
    return {**serving_env(directory), "DATABASE_URL": database_url, "STIMULI_ROOT": str(media),
            "BACKUP_ROOT": str(directory / "backups")}


def prolific_link(printed):
    return re.search(r"https?://\S+(/s/demo/\?\S+)", printed).group(1)


def arrival(link, pid):
    """The study's Prolific link as Prolific fills it in for `pid` (24 hex digits, as Prolific's IDs are)."""
    return link.replace("{{%PROLIFIC_PID%}}", pid).replace("{{%STUDY_ID%}}", "60a1b2c3d4e5f6a7b8c9d0e1") \
        .replace("{{%SESSION_ID%}}", secrets.token_hex(12))


def kind_of(data):
    return "choice" if "choice" in data else "rating" if "trust" in data else "attention" if "answer" in data else "page"


class Participants:
    """Threads, each a participant answering page after page until told to stop; every acknowledged answer is
    recorded with its kind and the moment its 303 came back."""

    def __init__(self, base, link):
        self.base, self.link = base, link
        self.stop = threading.Event()
        self.acknowledged = []  # (pid, kind, monotonic time)
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.play, args=(n,)) for n in range(PARTICIPANTS)]

    def play(self, n):
        pid, rng = secrets.token_hex(12), np.random.default_rng(n)
        try:
            person = Browser(self.base).open(arrival(self.link, pid))
            while not self.stop.is_set() and person.path != "/complete/":
                data = person.answer(rng)
                status, location = person.post(data)
                assert status == 303, (person.path, status)
                with self.lock:
                    self.acknowledged.append((pid, kind_of(data), time.monotonic()))
                person.open(location)
        except Exception as error:  # noqa: BLE001 (reported by the test)
            self.errors.append(f"{pid}: {error!r}")

    def count(self, kinds=("rating", "choice")):
        with self.lock:
            return sum(1 for _, kind, _ in self.acknowledged if kind in kinds)

    def wait_for(self, answers, timeout=300):
        deadline = time.monotonic() + timeout
        while self.count() < answers:
            assert not self.errors and time.monotonic() < deadline, self.errors or "participants too slow"
            time.sleep(0.05)

    def per_participant(self, kind, until):
        with self.lock:
            counts = {}
            for pid, answered, moment in self.acknowledged:
                if answered == kind and moment < until:
                    counts[pid] = counts.get(pid, 0) + 1
            return counts


def rows_of(folder, name):
    with open(folder / name, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def lines_of(folder, name):
    return (folder / name).read_bytes().split(b"\r\n")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(url, destroy()) of a database of the study's own: a SQLite file, or a database in a throwaway cluster."""
    if request.param == "sqlite":
        path = tmp_path / "db.sqlite3"

        def destroy():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        yield f"sqlite:///{path}", destroy
        return
    with PostgresCluster() as cluster:
        def destroy():
            import psycopg

            with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:
                connection.execute('DROP DATABASE "saliency_study" WITH (FORCE)')
            cluster.create_database("saliency_study")  # empty, as a new server's would be

        yield cluster.url(), destroy


def test_a_backup_taken_while_participants_answer_restores_every_answer_given_before_it(database, tmp_path):
    url, destroy = database
    env = study_environment(tmp_path, url)
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "loaddata", "stimuli")
    link = prolific_link(manage(env, "create_demo_study", "--participants", "1"))
    manage(env, "collectstatic", "--no-input", "-v0")
    archive = tmp_path / "backup.tar.gz"
    with gunicorn_server(env, workers=2) as base:
        people = Participants(base, link)
        for thread in people.threads:
            thread.start()
        try:
            people.wait_for(40)
            backup_began = time.monotonic()
            printed = manage(env, "backup", "--file", str(archive))
            backup_ended = time.monotonic()
            answers_at_backup = people.count()
            people.wait_for(answers_at_backup + 20)  # they go on answering after it
        finally:
            people.stop.set()
            for thread in people.threads:
                thread.join(timeout=120)
        assert not people.errors, people.errors
    assert "Backup written" in printed and archive.stat().st_mode & 0o777 == 0o600
    manage(env, "export_responses", "--study", "demo", "--out", str(tmp_path / "live"))

    destroy()
    shutil.rmtree(env["STIMULI_ROOT"])
    assert "Restored" in manage(env, "restore", str(archive))
    manage(env, "export_responses", "--study", "demo", "--out", str(tmp_path / "restored"))

    live, restored = tmp_path / "live", tmp_path / "restored"
    pseudonyms = {row["external_id"]: row["participant"] for row in rows_of(restored, "recruitment.csv")}
    given_before = 0
    for name, kind in zip(ANSWER_FILES, ("rating", "choice")):
        assert set(lines_of(restored, name)) <= set(lines_of(live, name)), f"{name}: a restored row differs"
        rows = rows_of(restored, name)
        before, by_end = people.per_participant(kind, backup_began), people.per_participant(kind, backup_ended)
        for pid, given in before.items():
            kept = sum(1 for row in rows if row["participant"] == pseudonyms[pid])
            assert given <= kept <= by_end.get(pid, 0), (name, pid, given, kept, by_end.get(pid))
        given_before += sum(before.values())
    assert given_before >= 40
    # The answers given after the backup are in the live export only: the backup was taken mid-study.
    assert sum(len(rows_of(restored, n)) for n in ANSWER_FILES) < sum(len(rows_of(live, n)) for n in ANSWER_FILES)
    # The stimulus files came back with the database, and the restored study is served: a newcomer's trial page
    # embeds its maps from them.
    restored_files = list((Path(env["STIMULI_ROOT"]) / "stimuli").iterdir())
    assert restored_files and all(f.read_bytes() == (ROOT / "fixtures" / "stimuli" / f.name).read_bytes()
                                  for f in restored_files)
    with gunicorn_server(env) as base:
        person = Browser(base).open(arrival(link, secrets.token_hex(12)))
        rng = np.random.default_rng(0)
        while not person.path.startswith("/trial/"):
            person.open(person.post(person.answer(rng))[1])
        assert person.page.count("data:image/png;base64,") >= 2
