"""A database built by an earlier release's code migrates to today's, and its exports hold the same answers.

The earlier code is commit 9b10fff (this work's starting point), unpacked with `git archive` into a folder of its
own and run with the same .venv (a script's own folder comes first on sys.path, so its code is the one imported).
It builds the study as a lab would have: the shipped stimuli and the methods fixture, both demo studies, rehearsed
participants, a researcher's exclusion with its reason, a withdrawal. Today's `migrate` then upgrades that
database, and today's `export_responses` must give every row the earlier code exported, in the same order, with
the same value in every column the earlier code wrote (later releases may append columns). SQLite and PostgreSQL.
"""

import csv
import subprocess
import sys
import tarfile

import pytest

from devtools.pg_cluster import PostgresCluster
from tests.gunicorn_server import ROOT

EARLIER = "9b10fff"
STUDIES = ("demo", "methods")
BUILD = """
from django.contrib.auth import get_user_model
from studyapp import decisions, participation
from studyapp.models import Outcome, Participant

researcher = get_user_model().objects.get(username="researcher")
done = Participant.objects.filter(study__slug="demo", completed_at__isnull=False).order_by("pseudonym")
decisions.decide(researcher, done[:1], True, "answered every page in under a second")
participation.erase(Participant.objects.filter(study__slug="methods", completed_at__isnull=False).first(),
                    Outcome.WITHDRAWN)
"""


def run(code, env, *args):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=code, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"manage.py {' '.join(args)} in {code}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def earlier_code(tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"code-{EARLIER}")
    archive = folder / "code.tar"
    subprocess.run(["git", "archive", "--output", str(archive), EARLIER, "--", ".", ":!fixtures/models"],
                   cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    with PostgresCluster() as cluster:
        yield cluster.url()


def export(code, env, folder):
    folder.mkdir()
    for slug in STUDIES:
        run(code, env, "export_responses", "--study", slug, "--out", str(folder / slug))


def table(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_a_database_of_the_earlier_release_migrates_and_exports_the_same_answers(earlier_code, database_url,
                                                                                  tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "DATABASE_URL": database_url,
           "STIMULI_ROOT": str(earlier_code / "fixtures")}
    run(earlier_code, env, "migrate", "--no-input", "-v0")
    run(earlier_code, env, "loaddata", "stimuli", "methods")
    run(earlier_code, env, "create_demo_study", "--participants", "2")
    for slug in STUDIES:
        run(earlier_code, env, "simulate_participants", "--study", slug, "--count", "3", "--seed", "7",
            "--attention-failure-rate", "0.2")
    run(earlier_code, env, "shell", "-c", BUILD)
    export(earlier_code, env, tmp_path / "before")

    plan = run(ROOT, env, "migrate", "--plan")
    run(ROOT, env, "migrate", "--no-input", "-v0")
    assert "No planned migration operations" in run(ROOT, env, "migrate", "--plan")
    export(ROOT, env, tmp_path / "after")

    compared = 0
    for before in sorted((tmp_path / "before").rglob("*.csv")):
        after = tmp_path / "after" / before.relative_to(tmp_path / "before")
        old, new = table(before), table(after)
        header = old[0]
        assert new[0][:len(header)] == header, f"{after}: the earlier columns must come first, in order"
        assert [row[:len(header)] for row in new[1:]] == old[1:], f"{after} differs from the earlier export"
        compared += len(old) - 1
    participants = table(tmp_path / "after" / "demo" / "participants.csv")
    excluded = [row for row in participants[1:] if row[participants[0].index("excluded")] == "True"]
    assert [row[participants[0].index("exclusion_reason")] for row in excluded] == \
        ["answered every page in under a second"]
    outcomes = {row[table(tmp_path / "after" / "methods" / "participants.csv")[0].index("outcome")]
                for row in table(tmp_path / "after" / "methods" / "participants.csv")[1:]}
    assert "withdrawn" in outcomes and compared > 300, plan
