"""`make server`'s set-up run whole, as CI can run it: deploy/server.py install --direct (no systemd as PID 1).

A copy of this working tree becomes a git clone, as a lab's VM would hold; the installer runs in it with Debian's
python3, every system path under a folder of its own (--root), PostgreSQL a throwaway cluster
(devtools/pg_cluster.py), and Caddy on high ports with its internal CA (--local-certs). The installer starts the
app server as its systemd unit says and Caddy as Debian runs it. Then, as a participant and a lab would:
the site answers over HTTPS with a certificate for the domain; a second run changes nothing; `check --deploy` is
clean with the installed environment; the data live in the data folder, none in the checkout; Chromium takes the
study through the proxy (the http redirect, HSTS, Secure cookies, CSRF-protected POSTs); Django sees the client's
address as Caddy forwards it; /healthz follows the database; the nightly backup unit's command writes an archive;
`make upgrade` upgrades to a release with a migration, and one whose migration fails is rolled back with its data.

What only a real VM shows is not here: systemd itself (the units' `Type=notify`, the timer's schedule, restarts),
Let's Encrypt issuing a certificate for a public domain, and adduser (the service user here is the test's own).
"""

import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from devtools.pg_cluster import PostgresCluster, free_port
from tests.helpers.chromium import chromium

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
import server as installer  # noqa: E402  (deploy/server.py)

DOMAIN, EMAIL, RESEARCHER = "study.example.org", "lab@example.org", "alice"
PASSWORD = "a long passphrase for alice"
SHIPPED_PNGS = sorted((ROOT / "fixtures" / "stimuli").glob("*.png"))
SYSTEM_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
GIT_ENV = {"GIT_AUTHOR_NAME": "Lab", "GIT_AUTHOR_EMAIL": "lab@example.org", "GIT_COMMITTER_NAME": "Lab",
           "GIT_COMMITTER_EMAIL": "lab@example.org"}

pytestmark = pytest.mark.skipif(not shutil.which("caddy"), reason="Caddy is not installed (make system-packages)")


def git(folder, *args):
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


def release_of_this_tree(upstream):
    """This working tree as it is (tracked and new files, not the ignored) committed in a repository of its own."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (upstream / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, upstream / name)
    git(upstream, "init", "--quiet", "--initial-branch=main")
    git(upstream, "add", "-A")
    git(upstream, "commit", "--quiet", "-m", "release 1")


class VM:
    def __init__(self, base):
        self.base = base
        self.upstream, self.checkout, self.root = base / "upstream", base / "checkout", base / "sys"
        self.cluster = None
        self.app_port, self.http_port, self.https_port = free_port(), free_port(), free_port()

    def install_args(self):
        return ["install", "--root", str(self.root), "--domain", DOMAIN, "--email", EMAIL, "--researcher",
                RESEARCHER, "--direct", "--postgres-admin-url", self.cluster.url("postgres"), "--app-port",
                str(self.app_port), "--http-port", str(self.http_port), "--https-port", str(self.https_port),
                "--local-certs"]

    def server_py(self, *args, check=True, env=None):
        result = subprocess.run([SYSTEM_PYTHON, str(self.checkout / "deploy" / "server.py"), *args],
                                cwd=self.checkout, capture_output=True, text=True,
                                env={"PATH": os.environ["PATH"], **(env or {})}, timeout=400)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def install(self):
        return self.server_py(*self.install_args(), env={"RESEARCHER_PASSWORD": PASSWORD})

    def manage(self, *args):
        return self.server_py("manage", "--root", str(self.root), *args).stdout

    @property
    def server(self):
        return installer.Server.installed(self.root)

    @property
    def ca(self):
        return installer.caddy_root_certificate(self.server)

    def https(self, path, method="GET", body=b"", headers=(), source="127.0.0.1"):
        """(status, headers, body) of one request over TLS to Caddy, from `source` (a loopback address)."""
        context = ssl.create_default_context(cafile=self.ca)
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=30,
                                      source_address=(source, 0)) as raw, \
                context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {DOMAIN}:{self.https_port}", "Connection: close",
                     f"Content-Length: {len(body)}", *[f"{k}: {v}" for k, v in headers]]
            tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
        head, _, content = reply.partition(b"\r\n\r\n")
        head = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(": ")
            fields.setdefault(name.lower(), []).append(value)
        return int(head[0].split()[1]), fields, content

    def app_log(self):
        return (self.root / "run" / "saliency-study" / "app.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def vm():
    base = Path(tempfile.mkdtemp(prefix="saliency-vm-"))
    machine = VM(base)
    machine.upstream.mkdir()
    release_of_this_tree(machine.upstream)
    git(base, "clone", "--quiet", str(machine.upstream), str(machine.checkout))
    (machine.checkout / ".venv").symlink_to(ROOT / ".venv")  # `make install` made it; no network in a test
    machine.cluster = PostgresCluster().start()
    import psycopg

    with psycopg.connect(machine.cluster.url("postgres"), autocommit=True) as connection:
        connection.execute("DROP DATABASE saliency_study")  # a fresh server's PostgreSQL has none
    try:
        machine.first_install = machine.install()
        yield machine
    finally:
        machine.server_py("stop", "--root", str(machine.root), check=False)
        machine.cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_the_install_serves_https_for_the_domain_and_makes_what_a_server_needs(vm):
    printed = vm.first_install.stdout
    assert f"https://{DOMAIN}:{vm.https_port}/healthz answers 200 with a valid certificate" in printed
    for made in ("made the PostgreSQL role", "made the PostgreSQL database saliency_study", "applied",
                 f"copied {len(SHIPPED_PNGS)} shipped stimulus PNGs", "loaded the shipped stimuli",
                 f"made the researcher account {RESEARCHER}", "started app", "started caddy"):
        assert made in printed, made
    status, headers, body = vm.https("/healthz")
    assert (status, body) == (200, b"ok\n")
    # No demo study unless asked; the researcher account logs in (the password given, never printed).
    assert vm.manage("shell", "-v", "0", "-c", "from studyapp.models import Study; print(Study.objects.count())"
                     ).split()[-1] == "0"
    assert PASSWORD not in printed
    checked = vm.manage("shell", "-v", "0", "-c", f"from django.contrib.auth import get_user_model; "
                                                  f"user = get_user_model().objects.get(username='{RESEARCHER}'); "
                                                  f"print(user.check_password('{PASSWORD}') and user.is_staff)")
    assert checked.split()[-1] == "True"


def test_check_deploy_is_clean_with_the_installed_environment(vm):
    assert "System check identified no issues" in vm.manage("check", "--deploy", "--fail-level", "WARNING")


def test_a_second_run_changes_nothing(vm):
    watched = [vm.root / "etc/saliency-study/env", vm.root / "var/lib/saliency-study/secret_key",
               vm.root / "etc/caddy/Caddyfile", vm.root / "etc/systemd/system/saliency-app@.service"]
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in watched}
    pids = {name: installer.DirectProcesses(vm.server).pid(name) for name in ("app", "caddy")}
    again = vm.install().stdout
    assert f"Nothing changed: https://{DOMAIN}:{vm.https_port}/ was set up already and answers." in again
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in watched} == before
    assert {name: installer.DirectProcesses(vm.server).pid(name) for name in ("app", "caddy")} == pids


def test_another_domain_on_the_same_server_is_refused_with_what_to_do(vm):
    args = vm.install_args()
    args[args.index(DOMAIN)] = "other.example.org"
    settings = (vm.root / "etc/saliency-study/server.json").read_bytes()
    result = vm.server_py(*args, check=False, env={"RESEARCHER_PASSWORD": PASSWORD})
    assert result.returncode == 1 and result.stdout == ""
    assert "serves 'study.example.org', not 'other.example.org': edit its ALLOWED_HOSTS" in result.stderr
    assert (vm.root / "etc/saliency-study/server.json").read_bytes() == settings


def test_the_data_live_in_the_data_folder_and_none_in_the_checkout(vm):
    data = vm.root / "var/lib/saliency-study"
    env = vm.server.environment()
    assert env["SECRET_KEY_FILE"] == str(data / "secret_key") and env["STIMULI_ROOT"] == str(data / "media")
    assert env["BACKUP_ROOT"] == str(data / "backups")
    key, env_file = data / "secret_key", vm.root / "etc/saliency-study/env"
    for path in (key, env_file):
        stat = path.stat()
        assert stat.st_mode & 0o777 == 0o600 and stat.st_uid == os.geteuid()  # the service user's, no one else's
    assert len(list((data / "media" / "stimuli").glob("*.png"))) == len(SHIPPED_PNGS)
    assert data.stat().st_mode & 0o777 == 0o750
    # The checkout holds nothing the server wrote: it can be replaced by another clone.
    untracked = git(vm.checkout, "status", "--porcelain", "--ignored", "--untracked-files=all").splitlines()
    assert [line for line in untracked if "__pycache__" not in line] == ["?? .venv"], untracked
    # The rendered units name this checkout and this server's paths, none of the shipped production ones.
    unit = (vm.root / "etc/systemd/system/saliency-app@.service").read_text()
    assert f"WorkingDirectory={vm.checkout}" in unit and f"EnvironmentFile={vm.root}/etc/saliency-study/env" in unit
    for rendered in (unit, (vm.root / "etc/caddy/Caddyfile").read_text(), env_file.read_text()):
        rendered = rendered.replace(str(vm.root), "ROOT").replace(str(vm.checkout), "CHECKOUT")
        assert "/srv/saliency-study" not in rendered
        assert not re.search(r"(?<!ROOT)/(etc|var/lib|var/cache)/saliency-study", rendered), rendered


def nss_database_trusting(ca, home):
    """A HOME whose NSS database trusts `ca` for TLS servers: Chromium checks Caddy's certificate against it."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "caddy-local", "-i", ca], check=True)


def document_headers(driver, url_part):
    """The response headers of the last page load whose URL contains `url_part` (Chromium's performance log)."""
    found = None
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived" and message["params"]["type"] == "Document" \
                and url_part in message["params"]["response"]["url"]:
            found = {k.lower(): v for k, v in message["params"]["response"]["headers"].items()}
    return found


def test_a_participant_takes_the_study_over_https_through_caddy_in_chromium(vm, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    printed = vm.manage("create_demo_study", "--base-url", f"https://{DOMAIN}:{vm.https_port}", "--participants", "1")
    link = re.search(r"https://\S+(/s/demo/\?\S+)", printed).group(1).replace(
        "{{%PROLIFIC_PID%}}", secrets.token_hex(12)).replace("{{%STUDY_ID%}}", "60a1b2c3d4e5f6a7b8c9d0e1") \
        .replace("{{%SESSION_ID%}}", secrets.token_hex(12))
    with socket.create_connection(("127.0.0.1", vm.http_port), timeout=10) as plain:
        plain.sendall(f"GET {link} HTTP/1.1\r\nHost: {DOMAIN}:{vm.http_port}\r\nConnection: close\r\n\r\n".encode())
        head = plain.recv(65536).decode("latin-1")
    assert head.split()[1] in ("301", "308") and f"Location: https://{DOMAIN}:{vm.https_port}{link}" in head, head
    home = tmp_path / "home"
    nss_database_trusting(vm.ca, home)
    flags = (f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1",)
    with chromium(flags, home=home, capabilities={"goog:loggingPrefs": {"performance": "ALL"}}) as driver:
        # The Prolific link as plain http: Caddy redirects to https, with a certificate Chromium accepts.
        driver.get(f"http://{DOMAIN}:{vm.http_port}{link}")
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/consent/"))
        assert driver.current_url == f"https://{DOMAIN}:{vm.https_port}/consent/"
        assert driver.execute_script("return window.isSecureContext") is True
        headers = document_headers(driver, "/consent/")
        assert "max-age=31536000" in headers["strict-transport-security"]
        cookies = {cookie["name"]: cookie for cookie in driver.get_cookies()}
        assert cookies["sessionid"]["secure"] and cookies["sessionid"]["httpOnly"]
        # Consent, instructions, background: CSRF-protected POSTs through the proxy, each to the next page.
        driver.find_element(By.CSS_SELECTOR, "input[name=agree]").click()
        driver.find_element(By.XPATH, "//button[normalize-space()='Start the study']").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/instructions/"))
        assert cookies_secure(driver)
        driver.find_element(By.XPATH, "//button[normalize-space()='Continue']").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/background/"))
    participants = vm.manage("shell", "-v", "0", "-c", "from studyapp.models import Participant; "
                             "print(Participant.objects.filter(consented_at__isnull=False, "
                             "instructions_read_at__isnull=False).count())")
    assert participants.split()[-1] == "1"


def cookies_secure(driver):
    return all(cookie["secure"] for cookie in driver.get_cookies())


def test_a_post_without_its_csrf_token_is_refused_through_the_proxy(vm):
    status, headers, _ = vm.https("/login/")
    assert status == 200 and "csrftoken" in " ".join(headers["set-cookie"])
    status, _, body = vm.https("/login/", "POST", b"username=alice&password=x",
                               [("Content-Type", "application/x-www-form-urlencoded"),
                                ("Origin", f"https://{DOMAIN}:{vm.https_port}")])
    assert status == 403 and b"allow cookies for this site" in body  # templates/403_csrf.html: no login tried


def test_django_sees_the_client_s_address_as_caddy_forwards_it(vm):
    """From 127.0.0.7, with a forged X-Forwarded-For: the app logs the unknown invite as from 127.0.0.7, the
    address Caddy saw, neither Caddy's own (127.0.0.1) nor the forged one."""
    token = secrets.token_urlsafe(32)
    status, _, _ = vm.https(f"/i/{token}/", headers=[("X-Forwarded-For", "203.0.113.9")], source="127.0.0.7")
    assert status == 404
    deadline = time.monotonic() + 10
    while f"prefix {token[:6]!r}" not in vm.app_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    (line,) = [line for line in vm.app_log().splitlines() if f"prefix {token[:6]!r}" in line]
    assert line.rstrip().endswith(" from 127.0.0.7, 1 in this window"), line


def test_healthz_follows_the_database_at_the_app_server_and_through_caddy(vm):
    assert vm.https("/healthz")[0] == 200
    vm.cluster.pause()
    try:
        deadline = time.monotonic() + 30
        while vm.https("/healthz")[0] != 503 and time.monotonic() < deadline:
            time.sleep(0.5)
        status, _, body = vm.https("/healthz")
        assert status == 503 and b"unavailable" in body
        # Caddy's health check takes the app server out: participants get the study's words, not a blank page.
        deadline = time.monotonic() + 30
        while b"briefly unavailable" not in vm.https("/consent/")[2] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert b"Your answers so far are kept" in vm.https("/consent/")[2]
    finally:
        vm.cluster.resume()
    deadline = time.monotonic() + 30
    while vm.https("/healthz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert vm.https("/healthz")[0] == 200


def test_the_nightly_backup_unit_s_command_writes_an_archive_in_the_data_folder(vm):
    unit = installer.parse_unit(vm.root / "etc/systemd/system/saliency-backup.service", instance="")
    assert unit["User"] == vm.server.user and unit["WorkingDirectory"] == str(vm.checkout)
    result = subprocess.run(unit["ExecStart"].split(), cwd=unit["WorkingDirectory"], env=vm.server.environment(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (archive,) = (vm.root / "var/lib/saliency-study/backups").glob("saliency-study-*.tar.gz")
    assert f"Backup written: {archive}" in result.stdout and "postgresql" in result.stdout
    timer = (vm.root / "etc/systemd/system/saliency-backup.timer").read_text()
    assert "OnCalendar=*-*-* 03:15:00" in timer and "--keep 14" in unit["ExecStart"]


def latest_migration(checkout, app="studyapp"):
    return sorted(p.stem for p in (checkout / app / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]


def release(vm, message, migrations):
    """A new commit upstream adding `migrations` ({name: operations source}) to studyapp, one after another."""
    previous = latest_migration(vm.upstream)
    number = int(previous[:4])
    for name, operations in migrations.items():
        number += 1
        stem = f"{number:04d}_{name}"
        (vm.upstream / "studyapp" / "migrations" / f"{stem}.py").write_text(
            "from django.db import migrations\n\n\ndef fail(apps, schema_editor):\n"
            "    raise RuntimeError('this release\\'s migration fails on purpose')\n\n\n"
            f"class Migration(migrations.Migration):\n    dependencies = [('studyapp', '{previous}')]\n"
            f"    operations = [{operations}]\n")
        previous = stem
    git(vm.upstream, "add", "-A")
    git(vm.upstream, "commit", "--quiet", "-m", message)
    return git(vm.upstream, "rev-parse", "HEAD")


def make_upgrade(vm):
    return subprocess.run(["make", "upgrade", f"SERVER_ARGS=--root {vm.root}", f"PYTHON={SYSTEM_PYTHON}"],
                          cwd=vm.checkout, capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
                          timeout=600)


def tables(vm):
    code = "from django.db import connection; print(','.join(sorted(connection.introspection.table_names())))"
    return set(vm.manage("shell", "-v", "0", "-c", code).split()[-1].split(","))


def answers(vm):
    code = ("from studyapp.models import Participant; print(list(Participant.objects.order_by('pk')"
            ".values_list('pseudonym', 'consented_at', 'instructions_read_at')))")
    return vm.manage("shell", "-v", "0", "-c", code).splitlines()[-1]


def test_make_upgrade_migrates_to_a_new_release_and_rolls_back_one_whose_migration_fails(vm):
    kept = answers(vm)
    assert "P0002" in kept  # the participant who took the study in Chromium

    second = release(vm, "release 2: a new table", {
        "upgrade_probe": "migrations.RunSQL('CREATE TABLE upgrade_probe (id integer)', 'DROP TABLE upgrade_probe')"})
    result = make_upgrade(vm)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Upgraded to {second[:12]}" in result.stdout and "Backup written" in result.stdout
    assert "Migrations of this upgrade:" in result.stdout and "upgrade_probe" in result.stdout
    assert git(vm.checkout, "rev-parse", "HEAD") == second and "upgrade_probe" in tables(vm)
    assert answers(vm) == kept and vm.https("/healthz")[0] == 200
    assert "Already at" in make_upgrade(vm).stdout

    third = release(vm, "release 3: a migration that fails after one that worked", {
        "upgrade_second": "migrations.RunSQL('CREATE TABLE upgrade_second (id integer)', "
                          "'DROP TABLE upgrade_second')",
        "upgrade_fails": "migrations.RunPython(fail)"})
    result = make_upgrade(vm)
    assert result.returncode != 0
    assert "this release's migration fails on purpose" in result.stdout
    assert f"Upgrade to {third[:12]} failed; the database was restored from" in result.stderr
    assert f"the code is back at {second[:12]}, serving again" in result.stderr
    assert git(vm.checkout, "rev-parse", "HEAD") == second
    assert "upgrade_second" not in tables(vm) and "upgrade_probe" in tables(vm)
    assert answers(vm) == kept and vm.https("/healthz")[0] == 200
