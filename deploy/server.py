#!/usr/bin/env python3
"""The study server on one Debian 12 VM: `make server DOMAIN=... EMAIL=...` installs it, `make upgrade` upgrades it.

    deploy/server.py install --domain study.example.org --email you@example.org [--researcher NAME] [--demo]
    deploy/server.py upgrade            # back up, pull, install, migrate, restart; restore if a migration fails
    deploy/server.py manage ARGS...     # manage.py as the service user with the server's environment
    saliency-study ...                  # the same, once installed (/usr/local/sbin/saliency-study)

`install` (as root) creates the service user, the data folder (/var/lib/saliency-study: the secret key, the
stimulus files, the backups, the exports), the PostgreSQL role and database, the environment file
(/etc/saliency-study/env, from deploy/app.env), runs the migrations, loads the shipped stimuli, creates the first
researcher account (asking for its password), installs the systemd units and Caddy's configuration (from this
folder, with this checkout's path), starts everything and checks that the site answers over HTTPS. Run again, it
changes nothing that is already set, and says so.

`--direct` runs the same set-up where systemd is not PID 1 (a container, CI): the app server and Caddy are started
as processes (pid files and logs under <root>/run/saliency-study), PostgreSQL is the server that
`--postgres-admin-url` names, `--root` puts every system path under a folder of its own, and `--http-port`,
`--https-port` and `--local-certs` give Caddy high ports and its internal CA. tests/deploy/test_one_vm.py runs it so.

Standard library only: it runs as root with Debian's python3, and drops to the service user for manage.py.
"""

import argparse
import grp
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SHIPPED_FIXTURES = ("stimuli", "methods", "tasks")  # the Makefile's demo target loads the same, in this order
SHIPPED = CHECKOUT / "deploy"
SERVICE_USER = "saliency"
DATABASE = "saliency_study"
APP_UNIT = "saliency-app@.service"
BACKUP_UNITS = ("saliency-backup.service", "saliency-backup.timer")
COMMAND_LINK = "usr/local/sbin/saliency-study"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The production paths and names as the shipped files spell them; installed, each becomes this server's.
SHIPPED_DOMAIN, SHIPPED_EMAIL, SHIPPED_PORT = "study.example.org", "lab@example.org", 8000
SHIPPED_CHECKOUT, SHIPPED_DATABASE_URL = "/srv/saliency-study", "postgres://saliency@%2Fvar%2Frun%2Fpostgresql/saliency_study"
SYSTEM_FOLDERS = ("/etc/saliency-study", "/var/lib/saliency-study", "/var/cache/saliency-study")
HTTPS_WAIT = 120  # seconds: Caddy's first certificate from Let's Encrypt takes a while


class SetupError(Exception):
    """What stopped the set-up, and what to do about it."""


def say(message):
    print(f"[saliency-study] {message}", flush=True)


class Server:
    """One server's layout and settings; those given at install are kept in <root>/etc/saliency-study/server.json."""

    def __init__(self, root="/", **settings):
        self.root = Path(root)
        self.settings = settings
        self.changed = []

    # --- where things are -------------------------------------------------------------------------------------
    def path(self, system_path):
        return self.root / system_path.lstrip("/")

    config_dir = property(lambda self: self.path("/etc/saliency-study"))
    data_dir = property(lambda self: self.path("/var/lib/saliency-study"))
    cache_dir = property(lambda self: self.path("/var/cache/saliency-study"))
    env_file = property(lambda self: self.config_dir / "env")
    settings_file = property(lambda self: self.config_dir / "server.json")
    unit_dir = property(lambda self: self.path("/etc/systemd/system"))
    caddyfile = property(lambda self: self.path("/etc/caddy/Caddyfile"))
    run_dir = property(lambda self: self.path("/run/saliency-study"))  # --direct: pid files and logs
    caddy_home = property(lambda self: self.path("/var/lib/caddy"))  # --direct: Caddy's certificates and CA
    direct = property(lambda self: self.settings.get("direct", False))
    user = property(lambda self: self.settings.get("user", SERVICE_USER))
    app_port = property(lambda self: self.settings.get("app_port", SHIPPED_PORT))
    app_unit = property(lambda self: f"saliency-app@{self.app_port}")
    domain = property(lambda self: self.settings["domain"])

    @classmethod
    def installed(cls, root):
        server = cls(root)
        if not server.settings_file.exists():
            raise SetupError(f"{server.settings_file} is missing: set the server up first (make server DOMAIN=... "
                             "EMAIL=...).")
        return cls(root, **json.loads(server.settings_file.read_text()))

    def replacements(self):
        """The shipped files' production names -> this server's."""
        found = {SHIPPED_DOMAIN: self.domain, SHIPPED_EMAIL: self.settings["email"],
                 SHIPPED_CHECKOUT: str(CHECKOUT), f"127.0.0.1:{SHIPPED_PORT}": f"127.0.0.1:{self.app_port}",
                 "User=saliency\nGroup=saliency": f"User={self.user}\nGroup={self.group_name()}"}
        found.update({folder: str(self.path(folder)) for folder in SYSTEM_FOLDERS})
        if self.settings.get("postgres_admin_url"):
            admin = urllib.parse.urlsplit(self.settings["postgres_admin_url"])
            found[SHIPPED_DATABASE_URL] = f"postgres://{self.user}@{admin.hostname}:{admin.port or 5432}/{DATABASE}"
        elif self.user != SERVICE_USER:
            found[SHIPPED_DATABASE_URL] = SHIPPED_DATABASE_URL.replace("saliency@", f"{self.user}@")
        return found

    def rendered(self, name):
        text = (SHIPPED / name).read_text()
        if name == "Caddyfile":  # another HTTPS port goes in the site's address: Caddy's redirect then names it
            text = text.replace(f"\n{SHIPPED_DOMAIN} {{", f"\n{public_address(self)} {{")
        for shipped, installed in self.replacements().items():
            text = text.replace(shipped, installed)
        if name == "Caddyfile":
            text = text.replace("{\n", "{\n" + "".join(f"\t{line}\n" for line in self.caddy_global_options()), 1)
        return text

    def caddy_global_options(self):
        options = []
        if self.settings.get("http_port"):
            options.append(f"http_port {self.settings['http_port']}")
        if self.settings.get("local_certs"):
            options += ["local_certs", "skip_install_trust"]
        if self.direct:
            options += ["admin off", "default_bind 127.0.0.1"]  # a process of its own, restarted, not reloaded
        return options

    # --- the service user and its commands --------------------------------------------------------------------
    def account(self):
        try:
            return pwd.getpwnam(self.user)
        except KeyError:
            raise SetupError(f"There is no user {self.user!r}.") from None

    def group_name(self):
        try:
            return grp.getgrgid(pwd.getpwnam(self.user).pw_gid).gr_name
        except KeyError:
            return self.user  # made with its own group by `adduser --group`

    def as_user(self, account):
        """subprocess keywords that run a command as `account` (only root can; others run it as themselves)."""
        if os.geteuid() != 0 or account.pw_uid == os.geteuid():
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def environment(self):
        """The environment systemd gives the app: PATH and the environment file."""
        values = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": str(self.data_dir)}
        for line in self.env_file.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
        return values

    def manage(self, *args, capture=True, check=True, extra_environment=None):
        """manage.py `args` as the service user, with the server's environment, from the checkout."""
        result = subprocess.run([str(CHECKOUT / ".venv" / "bin" / "python"), "manage.py", *args], cwd=CHECKOUT,
                                env={**self.environment(), **(extra_environment or {})}, text=True,
                                capture_output=capture,
                                **self.as_user(self.account()))
        if check and result.returncode != 0:
            raise SetupError(f"manage.py {' '.join(args)} failed:\n{(result.stdout or '') + (result.stderr or '')}")
        return result

    def count(self, model, **filters):
        code = (f"from django.apps import apps; print(apps.get_model({model!r}).objects.filter(**{filters!r}).count())")
        return int(self.manage("shell", "-v", "0", "-c", code).stdout.split()[-1])

    # --- small idempotent steps -------------------------------------------------------------------------------
    def note(self, message):
        self.changed.append(message)
        say(message)

    def folder(self, path, mode, account=None):
        if not path.exists():
            path.mkdir(parents=True, mode=mode)
            self.note(f"made {path}")
        self.own(path, mode, account)

    def own(self, path, mode, account=None):
        stat = path.stat()
        if account is not None and os.geteuid() == 0 and (stat.st_uid, stat.st_gid) != (account.pw_uid,
                                                                                          account.pw_gid):
            os.chown(path, account.pw_uid, account.pw_gid)
            self.note(f"gave {path} to {account.pw_name}")
        if stat.st_mode & 0o7777 != mode:
            path.chmod(mode)
            self.note(f"set {path} to mode {mode:o}")

    def write(self, path, text, mode=0o644, account=None):
        """`text` at `path` unless it holds it already; True when it was written."""
        if path.exists() and path.read_text() == text:
            self.own(path, mode, account)
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.new")
        partial.write_text(text)
        partial.chmod(mode)
        if account is not None and os.geteuid() == 0:
            os.chown(partial, account.pw_uid, account.pw_gid)
        partial.replace(path)
        self.note(f"wrote {path}")
        return True


# --- install ------------------------------------------------------------------------------------------------------

def install(server, researcher, demo):
    check_start(server)
    account = service_user(server)
    readable_checkout(server, account)
    server.folder(server.config_dir, 0o750)
    server.write(server.settings_file, json.dumps(server.settings, indent=1, sort_keys=True) + "\n", 0o640)
    data_folders(server, account)
    secret_key(server, account)
    environment_changed = environment_file(server, account)
    database(server)
    migrate(server)
    server.manage("collectstatic", "--no-input", "-v", "0")
    shipped_stimuli(server, account)
    first_researcher(server, researcher)
    if demo:
        say(server.manage("create_demo_study", "--base-url", f"https://{public_address(server)}").stdout.strip())
    app_changed, caddy_changed = install_units(server)
    start(server, restart_app=app_changed or environment_changed, reload_caddy=caddy_changed)
    check_https(server)
    say(f"Nothing changed: https://{public_address(server)}/ was set up already and answers."
        if not server.changed else
        f"Done: https://{public_address(server)}/ answers. Researchers log in at /login/ (the console) and /admin/.")


def check_start(server):
    if not server.direct and os.geteuid() != 0:
        raise SetupError("Run it as root (sudo make server ...): it creates a user, a database and services.")
    if not server.direct and not Path("/run/systemd/system").is_dir():
        raise SetupError("systemd is not running here (a container?): set up with --direct instead (see "
                         "docs/how-to/deploy-one-vm.md).")
    if server.direct and not server.settings.get("postgres_admin_url"):
        raise SetupError("--direct needs --postgres-admin-url: the PostgreSQL server to create the database on.")
    if not (CHECKOUT / ".venv" / "bin" / "python").exists():
        raise SetupError(f"{CHECKOUT / '.venv'} is missing: run `make install` first (make server does).")
    if server.env_file.exists():
        served = server.environment().get("ALLOWED_HOSTS", "").split(",")[0]
        if served != server.domain:
            raise SetupError(f"{server.env_file} serves {served!r}, not {server.domain!r}: edit its ALLOWED_HOSTS "
                             "and CSRF_TRUSTED_ORIGINS (or delete it to have it written again), then run this again. "
                             "Nothing was changed.")


def service_user(server):
    try:
        return server.account()
    except SetupError:
        if server.direct:
            raise
    subprocess.run(["adduser", "--system", "--group", "--home", str(server.data_dir), "--no-create-home",
                    "--shell", "/usr/sbin/nologin", server.user], check=True, capture_output=True)
    server.note(f"made the system user {server.user}")
    return server.account()


def readable_checkout(server, account):
    probe = subprocess.run(["test", "-r", str(CHECKOUT / "manage.py"), "-a", "-x", str(CHECKOUT / ".venv" / "bin" /
                                                                                      "python")],
                           **server.as_user(account))
    if probe.returncode != 0:
        raise SetupError(f"User {account.pw_name} cannot read {CHECKOUT} (a folder above it is private: /root?). "
                         "Clone the code where the service may read it, e.g. /srv/saliency-study, and run it there.")


def data_folders(server, account):
    server.folder(server.data_dir, 0o750, account)
    for name in ("media", "backups", "exports"):
        server.folder(server.data_dir / name, 0o750, account)
    server.folder(server.cache_dir, 0o755, account)


def secret_key(server, account):
    key = server.data_dir / "secret_key"
    if not key.exists():
        server.write(key, secrets.token_urlsafe(50) + "\n", 0o600, account)
    else:
        server.own(key, 0o600, account)


def environment_file(server, account):
    """Written once from deploy/app.env; afterwards it is the administrator's (check_start: for this domain).
    True when it was written."""
    if server.env_file.exists():
        server.own(server.env_file, 0o600, account)
        return False
    return server.write(server.env_file, server.rendered("app.env"), 0o600, account)


def postgres_admin(server, sql):
    """`sql` run by PostgreSQL's superuser: the local server's `postgres` over its socket, or --postgres-admin-url."""
    url = server.settings.get("postgres_admin_url")
    command = ["psql", "--no-psqlrc", "--tuples-only", "--no-align", "--quiet", "--set=ON_ERROR_STOP=1",
               "--command", sql, url or "postgres"]
    keywords = {} if url else server.as_user(pwd.getpwnam("postgres"))
    result = subprocess.run(command, capture_output=True, text=True, cwd="/", **keywords)
    if result.returncode != 0:
        raise SetupError(f"PostgreSQL refused {sql!r}: {result.stderr.strip()}")
    return result.stdout.strip()


def database(server):
    if not server.direct:
        systemctl("enable", "--now", "postgresql")
    role = server.user
    if not postgres_admin(server, f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"):
        postgres_admin(server, f'CREATE ROLE "{role}" LOGIN')
        server.note(f"made the PostgreSQL role {role}")
    owner = postgres_admin(server, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{DATABASE}'")
    if not owner:
        postgres_admin(server, f"CREATE DATABASE {DATABASE} OWNER \"{role}\" ENCODING 'UTF8' TEMPLATE template0")
        server.note(f"made the PostgreSQL database {DATABASE}")
    elif owner != role:
        raise SetupError(f"The PostgreSQL database {DATABASE} exists and belongs to {owner}, not {role}: "
                         f"`ALTER DATABASE {DATABASE} OWNER TO \"{role}\"` if it is this study's, then run this again.")


def migrate(server):
    plan = server.manage("migrate", "--plan").stdout
    if "No planned migration operations" in plan:
        return
    server.manage("migrate", "--no-input", "-v", "0")
    applied = re.findall(r"^\w+\.\d{4}_\w+$", plan, flags=re.M)
    server.note(f"applied {len(applied)} migrations")


def shipped_stimuli(server, account):
    """The shipped stimulus PNGs into the data folder (file names are content hashes: copying never replaces one
    with other bytes), and their records (SHIPPED_FIXTURES, as `make run` loads them) on a new database only."""
    target = Path(server.environment()["STIMULI_ROOT"]) / "stimuli"
    server.folder(target, 0o750, account)
    copied = 0
    for png in sorted((CHECKOUT / "fixtures" / "stimuli").glob("*.png")):
        if not (target / png.name).exists():
            shutil.copyfile(png, target / png.name)
            if account is not None and os.geteuid() == 0:
                os.chown(target / png.name, account.pw_uid, account.pw_gid)
            copied += 1
    if copied:
        server.note(f"copied {copied} shipped stimulus PNGs to {target}")
    if server.count("saliency.Stimulus") == 0:
        server.manage("loaddata", *SHIPPED_FIXTURES)
        server.note(f"loaded the shipped stimuli ({', '.join(f'fixtures/{name}.json' for name in SHIPPED_FIXTURES)})")


def first_researcher(server, username):
    if server.count("auth.User", username=username):
        return
    password = os.environ.get("RESEARCHER_PASSWORD")  # unattended (tests); otherwise asked at the terminal
    if not password:
        say(f"The first researcher account, {username!r}: choose its password.")
    server.manage("create_researcher", username, *(["--no-input"] if password else []), capture=bool(password),
                  extra_environment={"RESEARCHER_PASSWORD": password} if password else None)
    server.note(f"made the researcher account {username}")


def install_units(server):
    """The systemd units and Caddy's configuration; whether (the app server's unit, the Caddyfile) changed."""
    app = server.write(server.unit_dir / APP_UNIT, server.rendered(APP_UNIT))
    backup = [server.write(server.unit_dir / name, server.rendered(name)) for name in BACKUP_UNITS]
    caddy = server.write(server.caddyfile, server.rendered("Caddyfile"))
    if not server.direct:
        link = server.path(COMMAND_LINK)
        if not link.is_symlink() or link.resolve() != Path(__file__).resolve():
            link.unlink(missing_ok=True)
            link.symlink_to(Path(__file__).resolve())
            server.note(f"linked {link} to {Path(__file__).resolve()}")
        if app or any(backup):
            systemctl("daemon-reload")
    return app, caddy


# --- starting, stopping, checking ---------------------------------------------------------------------------------

def systemctl(*args):
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SetupError(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}")


def start(server, restart_app, reload_caddy):
    if not server.direct:
        systemctl("enable", "--now", server.app_unit, "saliency-backup.timer", "caddy")
        if restart_app:
            systemctl("restart", server.app_unit)
            server.note(f"restarted {server.app_unit}")
        if reload_caddy:
            systemctl("reload-or-restart", "caddy")
            server.note("reloaded Caddy")
        return
    processes = DirectProcesses(server)
    for name, command in (("app", processes.app_command()), ("caddy", processes.caddy_command())):
        if processes.running(name) and (restart_app if name == "app" else reload_caddy):
            processes.stop(name)
        if not processes.running(name):
            processes.start(name, *command)
            server.note(f"started {name} (pid {processes.pid(name)})")
    processes.wait_for_app()


class DirectProcesses:
    """--direct: the app server as its unit file says (ExecStart, WorkingDirectory, User, EnvironmentFile,
    Environment) and Caddy as Debian's caddy.service runs it, each a process with a pid file and a log."""

    def __init__(self, server):
        self.server = server
        server.run_dir.mkdir(parents=True, exist_ok=True)

    def pid_file(self, name):
        return self.server.run_dir / f"{name}.pid"

    def log(self, name):
        return self.server.run_dir / f"{name}.log"

    def pid(self, name):
        try:
            return int(self.pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def running(self, name):
        pid = self.pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"

    def app_command(self):
        unit = parse_unit(self.server.unit_dir / APP_UNIT, instance=str(self.server.app_port))
        environment = {**self.server.environment(), **unit["Environment"]}
        account = pwd.getpwnam(unit["User"])
        return shlex.split(unit["ExecStart"]), unit["WorkingDirectory"], environment, account

    def caddy_command(self):
        home = self.server.caddy_home
        environment = {"PATH": SYSTEM_PATH, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share"),
                       "XDG_CONFIG_HOME": str(home / ".config")}
        return (["caddy", "run", "--environ", "--config", str(self.server.caddyfile), "--adapter", "caddyfile"],
                "/", environment, pwd.getpwuid(os.geteuid()))

    def start(self, name, command, cwd, environment, account):
        with open(self.log(name), "ab") as log:
            process = subprocess.Popen(command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=log, start_new_session=True, **self.server.as_user(account))
        self.pid_file(name).write_text(f"{process.pid}\n")

    def stop(self, name, timeout=30):
        pid = self.pid(name)
        if pid is not None and self.running(name):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.running(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.running(name):
                os.killpg(pid, signal.SIGKILL)
        self.pid_file(name).unlink(missing_ok=True)

    def wait_for_app(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running("app"):
                raise SetupError(f"The app server stopped; its log: {self.log('app')}\n"
                                 f"{self.log('app').read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.server.app_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise SetupError(f"The app server did not listen on 127.0.0.1:{self.server.app_port}; see {self.log('app')}.")


def parse_unit(path, instance):
    """The [Service] settings of a systemd unit that --direct needs (%i: the instance)."""
    found = {"Environment": {}}
    for line in path.read_text().replace("%i", instance).splitlines():
        key, separator, value = line.partition("=")
        if not separator or line.startswith(("#", ";")):
            continue
        if key == "Environment":
            name, _, setting = value.partition("=")
            found["Environment"][name] = setting
        else:
            found[key] = value
    return found


def public_address(server):
    port = server.settings.get("https_port")
    return server.domain if port in (None, 443) else f"{server.domain}:{port}"


def https_request(server, path, port=None, timeout=10):
    """(status, headers) of GET https://<domain><path>, asked of this machine (127.0.0.1) with the domain's name, so
    the certificate is checked as a participant's browser checks it (Caddy's internal CA with --local-certs)."""
    port = port or server.settings.get("https_port") or 443
    context = ssl.create_default_context(cafile=caddy_root_certificate(server))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=server.domain) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {public_address(server)}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return int(head[0].split()[1]), dict(line.split(": ", 1) for line in head[1:] if ": " in line)


def caddy_root_certificate(server):
    if not server.settings.get("local_certs"):
        return None
    home = server.caddy_home if server.direct else Path("/var/lib/caddy")
    return str(home / ".local" / "share" / "caddy" / "pki" / "authorities" / "local" / "root.crt")


def check_https(server):
    deadline, last = time.monotonic() + HTTPS_WAIT, None
    while time.monotonic() < deadline:
        try:
            status, _ = https_request(server, "/healthz")
            if status == 200:
                say(f"https://{public_address(server)}/healthz answers 200 with a valid certificate.")
                return
            last = f"status {status}"
        except (OSError, ssl.SSLError) as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(1)
    raise SetupError(f"https://{public_address(server)}/ did not answer within {HTTPS_WAIT} s ({last}). Is the "
                     "domain's DNS pointing at this machine, and are ports 80 and 443 open? Caddy says why in "
                     "`journalctl -u caddy`.")


# --- upgrade ------------------------------------------------------------------------------------------------------

def git(*args, check=True):
    result = subprocess.run(["git", *args], cwd=CHECKOUT, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SetupError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def upgrade(server):
    """Stop the app server, back up, fast-forward to the branch's newest commit, install, migrate, start. Any
    failure after the backup puts the code and the database back as they were and starts the old code again."""
    if not server.direct and os.geteuid() != 0:
        raise SetupError("Run it as root (sudo make upgrade).")
    git("fetch", "--quiet")
    upstream = git("rev-parse", "--abbrev-ref", "@{upstream}", check=False)
    if not upstream:
        raise SetupError(f"{CHECKOUT} follows no branch (a tag or a commit is checked out): `git switch main` "
                         "there, then upgrade.")
    old, new = git("rev-parse", "HEAD"), git("rev-parse", "@{upstream}")
    if old == new:
        say(f"Already at {old[:12]}, the newest commit of {upstream}: nothing to upgrade.")
        return
    say(f"Upgrading {old[:12]} -> {new[:12]} ({upstream}); the study is unavailable meanwhile (participants "
        "who open a page are asked to reload it in a minute).")
    stop_app(server)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    archive = server.data_dir / "backups" / f"before-upgrade-{old[:12]}-{stamp}.tar.gz"
    try:
        say(server.manage("backup", "--file", str(archive)).stdout.strip())
    except SetupError as error:
        start_app(server)
        raise SetupError(f"No upgrade: the backup before it failed, and the code was not changed. {error}") from None
    git("merge", "--ff-only", "--quiet", new)
    try:
        reinstall_if_needed(old, new)
        shipped_stimuli(server, server.account())
        say(f"Migrations of this upgrade:\n{server.manage('migrate', '--plan').stdout.strip()}")
        server.manage("migrate", "--no-input")
        server.manage("collectstatic", "--no-input", "-v", "0")
    except SetupError as error:
        say(f"The upgrade failed: {error}")
        roll_back(server, old, new, archive)
        raise SetupError(f"Upgrade to {new[:12]} failed; the database was restored from {archive} and the code is "
                         f"back at {old[:12]}, serving again. Nothing of the study was lost.") from None
    start_app(server)
    check_https(server)
    say(f"Upgraded to {new[:12]}; the backup from before it is {archive}.")


def roll_back(server, old, new, archive):
    git("reset", "--keep", old)
    try:
        reinstall_if_needed(new, old)
        say(server.manage("restore", "--replace", str(archive)).stdout.strip())
    except SetupError as error:
        raise SetupError(f"Going back failed too: {error}\nThe app server is stopped and the code is at {old[:12]}. "
                         f"Restore by hand: saliency-study manage restore --replace {archive}, then "
                         f"systemctl start {server.app_unit}.") from None
    start_app(server)
    check_https(server)


def reinstall_if_needed(old, new):
    """`make install` when the dependencies differ between the two commits (the .venv is the code's)."""
    same = subprocess.run(["git", "diff", "--quiet", old, new, "--", "pyproject.toml", "constraints.txt"],
                          cwd=CHECKOUT).returncode == 0
    if same:
        return
    result = subprocess.run(["make", "install"], cwd=CHECKOUT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SetupError(f"make install failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def stop_app(server):
    if server.direct:
        DirectProcesses(server).stop("app")
    else:
        systemctl("stop", server.app_unit)


def start_app(server):
    if server.direct:
        processes = DirectProcesses(server)
        processes.start("app", *processes.app_command())
        processes.wait_for_app()
    else:
        systemctl("start", server.app_unit)


def stop(server):
    if not server.direct:
        raise SetupError("`stop` is for --direct servers; with systemd: systemctl stop saliency-app@8000 caddy.")
    processes = DirectProcesses(server)
    for name in ("caddy", "app"):
        processes.stop(name)
    say("Stopped the app server and Caddy.")


# --- the command line ---------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="saliency-study", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default="/", help="Put every system path under this folder (--direct, tests).")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("install", parents=[common], help="Set the server up (make server).")
    setup.add_argument("--domain", required=True)
    setup.add_argument("--email", required=True, help="Let's Encrypt's contact for the certificate.")
    setup.add_argument("--researcher", default="researcher", help="The first researcher account's username.")
    setup.add_argument("--demo", action="store_true", help="Also create the demo study (not for a real study).")
    setup.add_argument("--direct", action="store_true", help="No systemd: start the services as processes.")
    setup.add_argument("--user", default=None, help=f"The service user (default {SERVICE_USER}; --direct: you).")
    setup.add_argument("--postgres-admin-url", help="--direct: a superuser URL of the PostgreSQL server to use.")
    setup.add_argument("--app-port", type=int, default=SHIPPED_PORT)
    setup.add_argument("--http-port", type=int)
    setup.add_argument("--https-port", type=int)
    setup.add_argument("--local-certs", action="store_true", help="Caddy's internal CA instead of Let's Encrypt.")
    commands.add_parser("upgrade", parents=[common], help="Back up, pull, install, migrate, restart (make upgrade).")
    run = commands.add_parser("manage", parents=[common],
                              help="manage.py as the service user with the server's environment.")
    run.add_argument("arguments", nargs=argparse.REMAINDER)
    commands.add_parser("stop", parents=[common], help="--direct: stop the app server and Caddy.")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", args.domain):
                raise SetupError(f"--domain {args.domain!r} is not a domain name like study.example.org.")
            settings = {key: value for key, value in vars(args).items()
                        if key in ("domain", "email", "direct", "postgres_admin_url", "app_port", "http_port",
                                   "https_port", "local_certs") and value not in (None, False)}
            settings["user"] = args.user or (pwd.getpwuid(os.geteuid()).pw_name if args.direct else SERVICE_USER)
            install(Server(args.root, **settings), args.researcher, args.demo)
        elif args.command == "upgrade":
            upgrade(Server.installed(args.root))
        elif args.command == "manage":
            result = Server.installed(args.root).manage(*args.arguments, capture=False, check=False)
            return result.returncode
        else:
            stop(Server.installed(args.root))
    except SetupError as error:
        print(f"[saliency-study] {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
