"""`manage.py create_researcher`: the route to a researcher account on a server, its password asked at a terminal."""

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
GOOD = "correct horse battery staple"


def create(*args, password=GOOD, monkeypatch):
    if password is None:
        monkeypatch.delenv("RESEARCHER_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("RESEARCHER_PASSWORD", password)
    call_command("create_researcher", *args, "--no-input")


def test_the_account_logs_in_to_the_console_and_the_admin_as_staff_not_superuser(db, client, monkeypatch):
    create("alice", "--email", "alice@lab.example.org", monkeypatch=monkeypatch)
    alice = get_user_model().objects.get(username="alice")
    assert alice.is_staff and alice.is_active and not alice.is_superuser and alice.email == "alice@lab.example.org"
    assert alice.has_perm("studyapp.change_study") and not alice.has_perm("auth.add_user")
    assert client.post("/login/", {"username": "alice", "password": GOOD}).status_code == 302  # as a person logs in
    assert client.get(reverse("studyapp:dashboard")).status_code == 200
    assert client.get(reverse("admin:studyapp_study_changelist")).status_code == 200


@pytest.mark.parametrize("password, message", [
    (None, "--no-input needs the password in the RESEARCHER_PASSWORD environment variable"),
    ("short", "RESEARCHER_PASSWORD is refused: This password is too short"),
    ("password123", "RESEARCHER_PASSWORD is refused: This password is too common"),
])
def test_a_missing_or_weak_password_creates_nothing(password, message, db, monkeypatch):
    with pytest.raises(CommandError, match=message):
        create("alice", password=password, monkeypatch=monkeypatch)
    assert not get_user_model().objects.exists()


def test_a_name_taken_is_refused_and_its_password_kept(db, monkeypatch):
    create("alice", monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match=r"A user named 'alice' exists already; set a new password with "
                                           r"`manage.py changepassword alice`"):
        create("alice", password="another long passphrase", monkeypatch=monkeypatch)
    assert get_user_model().objects.get(username="alice").check_password(GOOD)


def converse(command, env, replies, timeout=60):
    """Run `command` on a terminal (a pty), typing each reply once its prompt has appeared; (status, transcript)."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the command, on the terminal
        os.chdir(ROOT)
        os.execve(command[0], command, env)
    transcript, seen, deadline = b"", 0, time.monotonic() + timeout
    pending = list(replies)
    while time.monotonic() < deadline:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the command ended and closed the terminal
            break
        transcript += chunk
        while pending and (found := transcript.find(pending[0][0], seen)) >= 0:
            seen = found + len(pending[0][0])  # the next prompt is looked for after this one
            os.write(terminal, pending.pop(0)[1] + b"\n")
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), transcript.decode(errors="replace")


def test_at_a_terminal_the_password_is_asked_twice_not_echoed_and_asked_again_when_they_differ(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    status, transcript = converse(
        [sys.executable, "manage.py", "create_researcher", "bob"], env,
        [(b"Password for bob: ", GOOD.encode()), (b"Password (again): ", b"a different passphrase"),
         (b"Password for bob: ", GOOD.encode()), (b"Password (again): ", GOOD.encode())])
    assert status == 0, transcript
    assert "The two passwords differ; try again." in transcript and "Researcher 'bob' created" in transcript
    assert GOOD not in transcript and "different" not in transcript.replace("differ;", "")  # nothing echoed
    check = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.contrib.auth import get_user_model; bob = get_user_model().objects.get(username='bob'); "
         f"print(bob.check_password({GOOD!r}) and bob.is_staff)"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert check.stdout.splitlines()[-1] == "True", check.stderr
