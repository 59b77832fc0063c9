import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_check(env):
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_production_settings_refuse_a_missing_secret_key():
    result = run_check({"PATH": "/usr/bin:/bin", "DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_database_url_selects_the_database():
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://u:p@127.0.0.1:5999/studydb"}
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'])"
    result = subprocess.run(
        [sys.executable, "-c", f"import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','config.settings'); django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "studydb"]


def settings_of(env, *names):
    """The values of settings `names` under `env`, as printed by a fresh process."""
    code = ("import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup(); "
            f"from django.conf import settings; print(*[repr(getattr(settings, n)) for n in {names!r}], sep='\\n')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_secret_key_file_is_made_once_readable_by_its_owner_only_and_reused(tmp_path):
    key_file = tmp_path / "var" / "secret_key"
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "SECRET_KEY_FILE": str(key_file)}
    (first,) = settings_of(env, "SECRET_KEY")
    assert key_file.stat().st_mode & 0o777 == 0o600 and repr(key_file.read_text()) == first
    assert settings_of(env, "SECRET_KEY") == [first] and len(first) > 40


def test_make_run_s_plain_http_keeps_the_production_defaults_unless_asked(tmp_path):
    names = ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS")
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "SECRET_KEY": "x" * 50}
    assert settings_of(env, *names) == ["True", "True", "True", "31536000"]
    assert settings_of({**env, "BEHIND_TLS_PROXY": "0"}, *names) == ["False", "False", "False", "0"]


def test_sqlite_is_set_up_for_concurrent_writers_and_a_bad_timeout_is_named():
    env = {"PATH": "/usr/bin:/bin", "SQLITE_BUSY_TIMEOUT": "5"}
    (options,) = settings_of(env, "DATABASES")
    assert "'transaction_mode': 'IMMEDIATE'" in options and "'timeout': 5.0" in options
    assert "journal_mode=WAL" in options and "synchronous=NORMAL" in options
    result = run_check({**env, "SQLITE_BUSY_TIMEOUT": "a while"})
    assert result.returncode != 0 and "SQLITE_BUSY_TIMEOUT must be a number of seconds, got 'a while'" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: an administrator's first `manage.py` as root")
def test_a_secret_key_file_made_by_root_belongs_to_the_owner_of_its_folder(tmp_path):
    """An administrator runs `manage.py` as root before the service ever started: the key file it makes belongs to
    the service user who owns the data folder, so the server can read the key it will run with."""
    nobody = pwd.getpwnam("nobody")
    data = Path(tempfile.mkdtemp(prefix="saliency-data-"))  # under /tmp: pytest's own folder is root's alone
    try:
        os.chown(data, nobody.pw_uid, nobody.pw_gid)
        key_file = data / "secret_key"
        (key,) = settings_of({"PATH": "/usr/bin:/bin", "DEBUG": "0", "SECRET_KEY_FILE": str(key_file)}, "SECRET_KEY")
        stat = key_file.stat()
        assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (nobody.pw_uid, nobody.pw_gid, 0o600)
        as_service_user = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(key_file)],
                                         capture_output=True, text=True)
        assert repr(as_service_user.stdout) == key
    finally:
        shutil.rmtree(data)
