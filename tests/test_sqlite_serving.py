"""The embedded default under real concurrency: `make run`'s settings, gunicorn, and SQLite in a file.

A gunicorn with several worker processes serves a SQLite file set up as `make run` sets it up (DEBUG
off, plain http, migrate, the shipped stimuli, the demo study recruiting on Prolific). Threads released
together by a barrier play participants over HTTP, and the checks read the database file itself. Before
WAL, IMMEDIATE transactions and the busy timeout (config/settings.py), simultaneous consents and one
platform ID arriving several times at once answered 500 ("database is locked").

Not in the `--postgres` pass: these tests bring their own database (pytest's own SQLite test database is
in memory, where locking works otherwise).
"""

import re
import secrets
import sqlite3

import numpy as np
import pytest

from tests.gunicorn_server import gunicorn_server
from tests.helpers.served import Browser, manage, serving_env
from tests.security.test_faults import at_once

WORKERS = 4  # processes, each with its own SQLite connection: writers in different processes meet at the file
ANSWER_TABLES = {"rating": "studyapp_likertresponse", "attention": "studyapp_attentioncheck",
                 "choice": "studyapp_choiceresponse"}


class ServedStudy:
    def __init__(self, base, database, link):
        self.base, self.database, self.link = base, database, link

    def arrival_link(self, pid):
        """The study's Prolific link as Prolific fills it in for `pid`."""
        return self.link.replace("{{%PROLIFIC_PID%}}", pid).replace("{{%STUDY_ID%}}", "60a1b2c3d4e5f6a7b8c9d0e1") \
            .replace("{{%SESSION_ID%}}", secrets.token_hex(12))

    def newcomer(self):
        """A browser that arrived with a new Prolific ID and is shown the consent page."""
        return Browser(self.base).open(self.arrival_link(secrets.token_hex(12)))

    def query(self, sql, *params):
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as connection:
            return connection.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("served")
    env = serving_env(directory)
    manage(env, "migrate", "--no-input")
    manage(env, "loaddata", "stimuli")
    printed = manage(env, "create_demo_study", "--participants", "1")
    link = re.search(r"https?://\S+(/s/demo/\?\S+)", printed).group(1)
    manage(env, "collectstatic", "--no-input", "-v0")
    with gunicorn_server(env, workers=WORKERS) as base:
        yield ServedStudy(base, directory / "db.sqlite3", link)


def statuses(replies):
    return sorted({status for status, _ in replies})


def test_the_database_file_is_in_wal_mode(served):
    assert served.query("PRAGMA journal_mode") == [("wal",)]


def test_simultaneous_consents_each_start_once_with_a_whole_plan(served):
    rng = np.random.default_rng(1)
    people = [served.newcomer() for _ in range(10)]
    assert {p.path for p in people} == {"/consent/"}
    # Every participant presses "Start the study" at the same moment, in two tabs: 20 POSTs at once.
    posts = [(tab, p.answer(rng)) for p in people for tab in (p, p.tab())]
    replies = at_once([lambda tab=tab, data=data: tab.post(data) for tab, data in posts])
    assert replies == [(303, "/instructions/")] * len(posts), statuses(replies)
    plans = served.query(
        "SELECT COUNT(*), COUNT(DISTINCT position), MIN(position), MAX(position) FROM studyapp_trial "
        "WHERE participant_id IN (SELECT id FROM studyapp_participant WHERE consented_at IS NOT NULL) "
        "GROUP BY participant_id")
    assert len(plans) == 10
    (planned,) = {plan[0] for plan in plans}
    assert planned > 0 and set(plans) == {(planned, planned, 1, planned)}  # one whole plan each, drawn once


def test_one_platform_id_arriving_several_times_at_once_makes_one_participant(served):
    for _ in range(3):  # each round a fresh ID, opened six times at the same moment
        pid = secrets.token_hex(12)
        link = served.arrival_link(pid)
        browsers = [Browser(served.base) for _ in range(6)]
        replies = at_once([lambda b=b: b.request(link)[:2] for b in browsers])
        assert replies == [(302, "/consent/")] * 6, statuses(replies)
        assert served.query("SELECT COUNT(*) FROM studyapp_participant WHERE external_id = ?", pid) == [(1,)]
        assert {b.open("/").path for b in browsers} == {"/consent/"}  # every one of them logged in


def test_a_launch_rush_of_new_ids_admits_each_once(served):
    pids = [secrets.token_hex(12) for _ in range(24)]
    replies = at_once([lambda pid=pid: Browser(served.base).request(served.arrival_link(pid))[:2] for pid in pids])
    assert replies == [(302, "/consent/")] * len(pids), statuses(replies)
    marks = ",".join("?" * len(pids))
    assert served.query(f"SELECT COUNT(*), COUNT(DISTINCT external_id) FROM studyapp_participant "
                        f"WHERE external_id IN ({marks})", *pids) == [(len(pids), len(pids))]


def stored_answer(served, token):
    """[(kind, answer values)] of every answer stored for the trial with `token`."""
    rows = []
    for kind, table in ANSWER_TABLES.items():
        columns = {"rating": "a.sufficiency, a.trust", "attention": "a.answer", "choice": "a.justification"}[kind]
        rows += [(kind, values) for *values, in served.query(
            f"SELECT {columns} FROM {table} a JOIN studyapp_trial t ON t.id = a.trial_id WHERE t.token = ?", token)]
    return rows


def sent_values(kind, data):
    return {"rating": [int(data.get("sufficiency", 0)), int(data.get("trust", 0))],
            "attention": [int(data.get("answer", 0))], "choice": [data.get("justification")]}[kind]


def test_simultaneous_answers_are_each_stored_once(served):
    rng = np.random.default_rng(2)
    people = [served.newcomer() for _ in range(8)]
    for person in people:  # consent, instructions, background: on to the first trial
        for _ in range(3):
            status, location = person.post(person.answer(rng))
            assert status == 303, (person.path, status)
            person.open(location)
        assert person.path == "/trial/1/"
    for position in range(1, 6):  # five trials: every participant answers at the same moment, in two tabs
        sent = [(p, p.answer(rng)) for p in people]
        posts = [(tab, data) for p, data in sent for tab in (p, p.tab())]
        replies = at_once([lambda tab=tab, data=data: tab.post(data) for tab, data in posts])
        assert statuses(replies) == [303], replies
        for person, data in sent:
            ((kind, values),) = stored_answer(served, data["trial"])  # exactly one answer, the one sent
            assert values == sent_values(kind, data)
            person.open("/")
            assert person.path != f"/trial/{position}/"  # answered: the survey moved on


def test_error_pages_are_the_study_s_own_with_debug_off(served):
    browser = Browser(served.base)
    status, _, mistyped_invite = browser.request("/i/a-mistyped-invite-token/")
    assert status == 404 and "This invite link is not valid" in mistyped_invite
    status, _, unknown_page = browser.request("/no-such-page/")
    assert status == 404
    person = served.newcomer()
    data = {key: value for key, value in person.answer(np.random.default_rng(3)).items()
            if key != "csrfmiddlewaretoken"}
    status, _, refused_post = person.request("/consent/", data)  # as if the page's token had expired
    assert status == 403 and "was not saved" in refused_post and "Reload the page" in refused_post
    for page in (mistyped_invite, unknown_page):
        assert "exactly as you received it" in page
    for page in (mistyped_invite, unknown_page, refused_post):
        assert "studyapp/survey." in page and "Traceback" not in page  # the study's style, nothing of the code
