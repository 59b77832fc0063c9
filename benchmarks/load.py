"""Load and crash benchmark: N participants at once through the whole study, over HTTP.

Starts its own throwaway PostgreSQL (devtools/pg_cluster.py, durable settings) and gunicorn on
127.0.0.1 with the production settings (DEBUG=0, config/gunicorn.py), creates the demo study (the
shipped fixtures/stimuli.json, or 20 synthetic images x 3 maps when it is missing; it recruits on
Prolific) and, per run, fresh participants. They arrive through the study's Prolific link, each with a
new PROLIFIC_PID, at a uniform moment within the first --arrivals-over seconds (default: --think), or
with --arrive invite through personal invite links made with `create_participants`. Then: consent,
instructions, background, every trial page (ratings, attention checks, side-by-side choices; their
images come embedded in the page), completion. Participants think between pages (uniform
0.5-1.5 x --think seconds: --think 10 is the 5-15 s people take). Loops are bounded: every participant
stops after its plan, or after --max-pages pages, or at --deadline.

It prints requests/s, page latency p50/p95/p99 (every request: page GETs and answer POSTs) and the p95
of each minute, CPU per request of gunicorn, PostgreSQL and this client, then checks in the database
that each PROLIFIC_PID made exactly one participant, that every answer sent is stored exactly once,
with the values sent, and that every participant finished with a complete plan.
--floor S first asks for the login page (no database) and a 404 at full speed for S seconds each:
no survey request can cost less than those.

--url URL drives a server started elsewhere instead: `make run`'s (gunicorn on SQLite, DEBUG off, plain
http), on the database it uses (the same DATABASE_URL; default db.sqlite3) and its demo study; the same
checks follow. --server-pid (the gunicorn master's, printed by `make run`) adds its CPU per request.

--kill: SIGKILL gunicorn (master and workers) once 40% of the answers are in, restart it; participants
whose requests fail retry (bounded) by reopening their link, which resumes at their current page.
Answers whose POST got no reply are "in doubt": each must be stored once or not at all, never twice
and never changed; nothing answered may be lost and nothing half-written (a consented participant
without a full plan, a participant marked complete with unanswered trials).

--servers N: N gunicorn app servers on 127.0.0.1 ports behind HAProxy (deploy/haproxy.cfg, rendered with
their ports: round robin, no sticky sessions, a health check every second), one PostgreSQL, each worker
with a psycopg pool (DATABASE_POOL_MAX_SIZE, default 1); it prints how many requests each app server
answered and that every participant was served by every app server (HAProxy names it in a header
that only the benchmark adds). --kill-server (with 2 or more): SIGKILL one app server for good once 40% of the answers are in;
HAProxy's health check takes it out, the participants go on through the others (a 502 or no reply is
retried by reopening the link, as with --kill), and it prints the errors the participants saw: how many,
and the seconds they spanned. HAProxy must be installed (`make bench-packages`).

Traffic goes to 127.0.0.1 only. Run it niced:
    nice -n 10 .venv/bin/python benchmarks/load.py --participants 500 --think 10 --arrivals-over 300 --deadline 1800
    nice -n 10 .venv/bin/python benchmarks/load.py --participants 500 --think 10 --deadline 1500
    nice -n 10 .venv/bin/python benchmarks/load.py --participants 100 500 --think 2 --deadline 240
    nice -n 10 .venv/bin/python benchmarks/load.py --floor 10 --participants 20 --think 0
    nice -n 10 .venv/bin/python benchmarks/load.py --participants 60 --think 1 --kill
    nice -n 10 .venv/bin/python benchmarks/load.py --servers 3 --participants 150 --think 1 --arrivals-over 1 --deadline 60
    nice -n 10 .venv/bin/python benchmarks/load.py --servers 3 --kill-server --participants 40 --think 1 --deadline 300
    nice -n 10 .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --server-pid PID \
        --participants 200 --think 10 --arrivals-over 10 --deadline 1500      # against `make run`

The machine is shared with other sessions: what they took is noted beside each figure (CPU split from
/proc/stat every 30 s; this benchmark runs at nice 10, so their jobs at nice 0 come first).

Measured 2026-11-26 on the 2-core development machine, 5 sync workers, fixtures/stimuli.json (60 pairs,
20 side-by-side pages, 2 attention checks: 86 pages per participant, each an answer POST and the next
page's GET), arrivals through the Prolific link (--arrive link):

    participants  think    arrivals   completed          req/s  latency p50 / p95 / p99   others' load  data check
    500           5-15 s   in 300 s   500/500 in 1186 s  73     19 / 78 / 185 ms          ~0.8 core for  exactly once
                                                                (every minute's p95         the first 4 min,
                                                                 16-265 ms)                 then none
    500           5-15 s   in 10 s    500/500 in 973 s   89     67 / 941 / 2030 ms        load 1.8      exactly once
    500           5-15 s   in 10 s    500/500 in 976 s   89     109 / 965 / 2421 ms       load 3.5      exactly once
                                                                (per minute: 3172 in the
                                                                 first, then 31-1356)
    500           5-15 s   in 10 s    500/500 in 1030 s  84     393 / 1932 / 3956 ms      load 3.2      exactly once
    100           1-3 s    in 2 s     100/100 in 194 s   89     21 / 183 / 330 ms         load 1.4      exactly once
    100           1-3 s    in 2 s     100/100 in 199 s   87     53 / 172 / 553 ms         load 3.9      exactly once
    500           1-3 s    in 2 s     stopped at 240 s,  86     4553 / 6141 / 8220 ms     load 6.5      exactly once
                                      ~21 pages each

CPU per request: gunicorn 7.4-9.4 ms, PostgreSQL 2.5-3.5 ms, client 1.4-1.7 ms.

The goal, 500 participants at 5-15 s with page p95 under 200 ms and every answer stored exactly once, is
met when they arrive as a study link's people do, over minutes (500 within 5 minutes: p95 78 ms over the
run). The rows above for all 500 arriving within 10 seconds were measured beside other sessions' jobs (load
1.8-3.5). With the machine to itself (2026-11-30, load average 0.7-0.9), the whole 10-second rush, back to back:

    code        participants  think    arrivals   completed          req/s  latency p50 / p95 / p99   p95 of each minute      data check
    3fc030d     500           5-15 s   in 10 s    500/500 in 941 s   92     14 / 49 / 583 ms          14-614 ms (3 above 300)  exactly once
    this code   500           5-15 s   in 10 s    500/500 in 940 s   92     14 / 41 / 68 ms           19-72 ms                 exactly once

(docs/explanation/performance.md, "The launch rush": the earlier code's slow minutes were gunicorn workers importing the analysis on
their first request, at the start and at each recycling; gunicorn now preloads Django and the report view
imports the analysis only when used.) At the old 2 s pace the machine serves about 100 participants with p95
under 200 ms; 500 at 2 s need 3-4 such app servers (docs/how-to/several-app-servers.md).

`make run` on SQLite (2026-11-30, the same machine, shared: load average 5.4 at the end; gunicorn's 5 sync
workers, WAL, BEGIN IMMEDIATE), 200 participants through the Prolific link with --url, as above:

    participants  think    arrivals   completed          req/s  latency p50 / p95 / p99   statuses            data check
    200           5-15 s   in 10 s    200/200 in 944 s   37     18 / 132 / 430 ms         no 5xx, 0 conn.     exactly once
                                                                (per minute 22-461 ms)    errors              (16400 answers)
    200           5-15 s   in 10 s    200/200 in 942 s   37     15 / 104 / 614 ms         no 5xx, 0 conn.     exactly once
                                                                (per minute 15-732 ms)    errors              (16400 answers)

CPU per request: gunicorn with SQLite inside it 6.4-6.6 ms, client 1.6 ms. The second run is on the code after
the survey's views moved to studyapp/survey.py; load average 5.4 and 2.6 at the end of the two runs.

--kill, 60 participants at 1 s through the study link (2026-11-26): SIGKILL after 1969 of 4920 answers,
serving again 2.0 s later; 115 requests got no reply, 56 of them answer POSTs, none of which had been
stored, so all were answered again; afterwards all 4920 answers stored exactly once, every participant
complete with a full plan (p95 83 ms over the run). --servers 1/2/3 and --kill-server (2026-11-30): docs/explanation/performance.md, "Several app servers".
--floor 10 (2026-11-22): the login page 570
requests/s (gunicorn 2.8 ms + client 0.7 ms), a 404 970 requests/s (1.4 + 0.6 ms).
"""

import argparse
import asyncio
import csv
import io
import os
import runpy
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studyapp.simulation import parse_page, random_answers  # noqa: E402  (pure Python, no Django)
from devtools.pg_cluster import PostgresCluster, free_port  # noqa: E402

PROXY_HEADERS = {"X-Forwarded-Proto": "https"}  # what the TLS proxy in front of gunicorn adds
SYNTHETIC_IMAGES, SYNTHETIC_VARIANTS = 20, ("N", "A", "M2")
MAX_CONNECTIONS = 200  # the benchmark's PostgreSQL


# --- Server side: cluster, Django set-up, gunicorn -------------------------------------------------

def production_environment(cluster, workdir):
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": cluster.url(), "ALLOWED_HOSTS": "127.0.0.1", "STATIC_ROOT": str(workdir / "static"),
    }


def write_synthetic_stimuli(root):
    """20 source images x 3 maps as smooth 224x224 PNGs under opaque names (no fixture shipped yet)."""
    from PIL import Image

    from saliency.models import SourceImage, Stimulus

    rng = np.random.default_rng(0)

    def png(rgb):
        name = f"{secrets.token_hex(8)}.png"
        coarse = (rng.random((14, 14, 3 if rgb else 1)) * 255).astype(np.uint8)
        image = Image.fromarray(coarse if rgb else coarse[..., 0]).resize((224, 224), Image.BILINEAR)
        image.save(root / name)
        return name

    for index in range(SYNTHETIC_IMAGES):
        source = SourceImage.objects.create(dataset="fmnist", test_index=index, class_name=f"class {index % 10}",
                                            image=png(rgb=False))
        for variant in SYNTHETIC_VARIANTS:
            Stimulus.objects.create(source_image=source, variant=variant, heatmap=png(rgb=True),
                                    predicted_class=source.class_name, confidence=0.9, preset="bench",
                                    checkpoint="bench.pt")


def prepare_database(workdir):
    """Migrate, collect static files, load (or make) stimuli, create the demo study; its slug."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if (ROOT / "fixtures" / "stimuli.json").exists():
        call_command("loaddata", "stimuli", verbosity=0)
        source = "fixtures/stimuli.json"
    else:
        os.environ["STIMULI_ROOT"] = str(workdir / "stimuli")
        (workdir / "stimuli").mkdir()
        from django.conf import settings

        settings.STIMULI_ROOT = workdir / "stimuli"
        write_synthetic_stimuli(workdir / "stimuli")
        source = f"synthetic ({SYNTHETIC_IMAGES} images x {len(SYNTHETIC_VARIANTS)} maps)"
    call_command("create_demo_study", participants=1, stdout=io.StringIO())
    from studyapp.models import Study

    study = Study.objects.get(slug="demo")
    print(f"study {study.slug!r}: {study.stimuli.count()} stimuli from {source}, "
          f"comparisons {study.comparison_count or 'every image'}, attention checks {study.attention_checks}")
    return study.slug


def study_plan_length(slug):
    """Trials in each participant's plan: the pages after background and before completion."""
    from studyapp.models import Study

    return Study.objects.get(slug=slug).plan_length()


def create_participants(slug, count, base_url, workdir):
    """(pseudonym, invite link) of `count` new participants, enrolled in advance."""
    from django.core.management import call_command
    from django.db import connections

    out = workdir / f"invites-{secrets.token_hex(4)}.csv"
    call_command("create_participants", study=slug, count=count, out=out, base_url=base_url, stdout=io.StringIO())
    connections.close_all()
    with open(out, newline="") as file:
        return [(row["pseudonym"], row["invite_url"]) for row in csv.DictReader(file)]


def prolific_arrivals(slug, count, base_url):
    """(PROLIFIC_PID, study link) of `count` new people: the study's Prolific link as Prolific fills it in."""
    from studyapp.models import Study

    link = Study.objects.get(slug=slug).study_link(base_url)
    study_id = secrets.token_hex(12)
    people = []
    for _ in range(count):
        pid, session = secrets.token_hex(12), secrets.token_hex(12)  # Prolific's IDs: 24 hex digits
        people.append((pid, link.replace("{{%PROLIFIC_PID%}}", pid).replace("{{%STUDY_ID%}}", study_id)
                       .replace("{{%SESSION_ID%}}", session)))
    return people


class Gunicorn:
    """gunicorn with config/gunicorn.py, in its own process group so --kill can SIGKILL all of it."""

    proxied = True  # the production settings expect the TLS proxy's X-Forwarded-Proto

    def __init__(self, env, port, workers, log):
        self.env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.process = None

    def start(self, timeout=60):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        import urllib.request

        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log.name}")
            try:
                request = urllib.request.Request(self.base + "/login/", headers=PROXY_HEADERS)
                with urllib.request.urlopen(request, timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s; see {self.log.name}")

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass(frozen=True)
class RunningServer:
    """--url: a server started elsewhere (`make run`), reached directly over plain http; `pid` its gunicorn master."""

    base: str
    pid: int | None = None
    proxied: bool = False


HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"


def render_haproxy_config(text, port, backends):
    """deploy/haproxy.cfg as this benchmark runs it: one plain-http bind on 127.0.0.1:`port` instead of its
    :80/:443 (no TLS here, so no https redirect), and one `server` line per app server port in `backends`."""
    out, bind_done, servers_done = [], False, False
    for line in text.splitlines():
        word = line.split()[0] if line.split() else ""
        if word == "bind":
            if not bind_done:
                out.append(f"    bind 127.0.0.1:{port}")
                bind_done = True
        elif word == "http-request" and "redirect scheme https" in line:
            continue
        elif word == "server":
            if not servers_done:
                out += [f"    server app{i} 127.0.0.1:{backend}" for i, backend in enumerate(backends, 1)]
                servers_done = True
        else:
            out.append(line)
    if not servers_done:
        raise ValueError("no `server` lines in the HAProxy config")
    return "\n".join(out) + "\n"


def find_haproxy():
    import shutil

    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None)
    if found is None:
        raise SystemExit("--servers needs HAProxy, which is not installed: `make bench-packages` "
                         "(or `apt-get install haproxy`).")
    return found


class Balancer:
    """HAProxy (deploy/haproxy.cfg) on a 127.0.0.1 port, round robin over N gunicorn app servers."""

    proxied = True  # HAProxy sets X-Forwarded-Proto as the TLS proxy does; the client sends it too

    def __init__(self, env, count, workers, workdir, log):
        self.servers = [Gunicorn(env, free_port(), workers, log) for _ in range(count)]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "haproxy.cfg"
        self.socket = workdir / "haproxy.sock"  # its stats: how many requests each app server answered
        config = render_haproxy_config(HAPROXY_CONFIG.read_text(), self.port, [urlsplit(s.base).port for s in self.servers])
        config = config.replace("global\n", f"global\n    stats socket {self.socket} mode 600\n", 1)
        # Which app server answered each request, for the benchmark only (a live site need not say).
        config = config.replace("    balance roundrobin\n", "    balance roundrobin\n    http-response set-header X-App-Server %s\n", 1)
        self.config.write_text(config)
        self.log = log
        self.process = None
        self.killed = None

    def start(self, timeout=60):
        haproxy = find_haproxy()
        check = subprocess.run([haproxy, "-c", "-q", "-f", self.config], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"HAProxy rejects {self.config}: {check.stdout}{check.stderr}")
        try:
            for server in self.servers:
                server.start(timeout)
            self.process = subprocess.Popen([haproxy, "-db", "-f", self.config], stdout=self.log, stderr=self.log,
                                            start_new_session=True)
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout):
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + "/login/", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"haproxy did not answer within {timeout} s; see {self.log.name}")

    def requests_per_server(self):
        """{app server: requests HAProxy sent it} from HAProxy's stats socket."""
        import socket

        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(self.socket))
            connection.sendall(b"show stat\n")
            data = b""
            while chunk := connection.recv(65536):
                data += chunk
        rows = list(csv.reader(io.StringIO(data.decode().lstrip("# "))))
        header = rows[0]
        named = [dict(zip(header, row)) for row in rows[1:] if row]
        return {row["svname"]: int(row["stot"]) for row in named
                if row.get("pxname") == "app" and row["svname"] not in ("BACKEND", "FRONTEND")}

    def kill_one(self):
        """SIGKILL one app server (master and workers) for good; the others and HAProxy go on."""
        self.killed = self.servers[-1]
        self.killed.kill()
        return self.killed

    def stop(self):
        for server in self.servers:
            server.stop()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def process_cpu_seconds(root_pid, same_session):
    """CPU time of a server: the root process, its live workers (or backends), and its reaped ones.

    gunicorn's workers share its session; PostgreSQL's backends are children of the postmaster.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent, session = int(entry.name), int(fields[1]), int(fields[3])
        if pid == root_pid:
            total += sum(int(f) for f in fields[11:15])  # its own time and its reaped children's
        elif (session == root_pid) if same_session else (parent == root_pid):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def server_cpu_seconds(server, cluster):
    postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    return process_cpu_seconds(server.process.pid, True), process_cpu_seconds(postmaster, False)


def cpu_accounts(server, cluster):
    """{what: CPU seconds so far} of the server's processes: gunicorn and PostgreSQL, or a --url server's
    gunicorn (SQLite runs inside it) when its --server-pid is known; {} when it is not."""
    if isinstance(server, Balancer):
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        return {"gunicorn": sum(process_cpu_seconds(s.process.pid, True) for s in server.servers),
                "HAProxy": process_cpu_seconds(server.process.pid, True),
                "PostgreSQL": process_cpu_seconds(postmaster, False)}
    if cluster is not None:
        return dict(zip(("gunicorn", "PostgreSQL"), server_cpu_seconds(server, cluster)))
    if server.pid:  # make run's workers are the master's children
        return {"gunicorn with its database": process_cpu_seconds(server.pid, False)}
    return {}


# --- Client side: participants over HTTP ------------------------------------------------------------

@dataclass
class Stats:
    page_latencies: list = field(default_factory=list)
    page_starts: list = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    connection_errors: int = 0
    error_times: list = field(default_factory=list)  # when a request got no reply, or the balancer's 502/503/504
    killed_at: float = 0.0  # --kill-server: when the app server was killed
    first: float = float("inf")
    last: float = 0.0

    def record(self, started, finished, status):
        self.page_latencies.append(finished - started)
        self.page_starts.append(started)
        self.statuses[status] += 1
        self.first, self.last = min(self.first, started), max(self.last, finished)


@dataclass
class Player:
    name: str  # the pseudonym (invite links) or the PROLIFIC_PID (the study link)
    link: str  # the invite link or the study link: where the player starts, and comes back after a crash
    rng: np.random.Generator
    cookies: dict = field(default_factory=dict)
    acknowledged: dict = field(default_factory=dict)  # trial token -> answer, POST answered with a redirect
    in_doubt: dict = field(default_factory=dict)  # trial token -> answer, POST that got no reply
    no_reply: int = 0  # answer POSTs that got no reply (some of them stored, some sent again)
    pages: int = 0
    app_servers: set = field(default_factory=set)  # --servers: the app servers that answered this player
    completed: bool = False
    error: str = ""


class ServerGone(Exception):
    """The request got no HTTP reply (connection refused or dropped)."""


class Client:
    def __init__(self, session, server, stats, think, arrivals_over, max_pages, deadline, retry_for):
        self.session, self.base, self.stats = session, server.base, stats
        # Behind the TLS proxy the browser's origin is https; reached directly, the server's own.
        self.headers = dict(PROXY_HEADERS) if server.proxied else {}
        self.origin = ("https" if server.proxied else urlsplit(server.base).scheme) + "://" + urlsplit(server.base).netloc
        self.think, self.arrivals_over = think, arrivals_over
        self.max_pages, self.deadline, self.retry_for = max_pages, deadline, retry_for
        self.balanced = isinstance(server, Balancer)
        self.answers_in = 0

    async def call(self, player, method, url, data=None):
        headers = dict(self.headers)
        if player.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in player.cookies.items())
        if method == "POST":
            headers.update(Origin=self.origin, Referer=self.origin + urlsplit(url).path)
        started = time.monotonic()
        try:
            async with self.session.request(method, url, data=data, headers=headers, allow_redirects=False) as reply:
                body = await reply.read()
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
            self.stats.connection_errors += 1
            self.stats.error_times.append(time.monotonic())
            raise ServerGone(str(error)) from error
        self.stats.record(started, time.monotonic(), reply.status)
        if "X-App-Server" in reply.headers:
            player.app_servers.add(reply.headers["X-App-Server"])
        if self.balanced and reply.status in (502, 503, 504):  # HAProxy: the app server died under the request
            self.stats.error_times.append(time.monotonic())
            raise ServerGone(f"{reply.status} from the load balancer")
        for name, morsel in reply.cookies.items():  # Secure cookies, kept by hand: this client speaks http
            if morsel.value and morsel["max-age"] != "0":
                player.cookies[name] = morsel.value
            else:
                player.cookies.pop(name, None)
        return reply.status, reply.headers, body

    async def think_time(self, player):
        if self.think > 0:
            await asyncio.sleep(player.rng.uniform(0.5, 1.5) * self.think)

    async def play(self, player):
        try:
            await self._play(player)
        except Exception as error:  # one participant's failure is reported, the others go on
            player.error = f"{type(error).__name__}: {error}"

    async def _play(self, player):
        if self.arrivals_over > 0:
            await asyncio.sleep(player.rng.uniform(0, self.arrivals_over))
        method, url, data = "GET", player.link, None
        gone_since = None
        while player.pages < self.max_pages and time.monotonic() < self.deadline:
            try:
                method, url, data = await self.step(player, method, url, data)
                gone_since = None
            except ServerGone:
                if method == "POST" and "trial" in data and data["trial"] not in player.acknowledged:
                    player.in_doubt[data["trial"]] = answer_of(data)
                    player.no_reply += 1
                gone_since = gone_since or time.monotonic()
                if time.monotonic() - gone_since > self.retry_for:
                    raise
                await asyncio.sleep(0.5)
                method, url, data = "GET", player.link, None  # reopen the link: it resumes
            if method is None:
                return
        raise RuntimeError(f"stopped after {player.pages} pages without reaching the completion page")

    async def step(self, player, method, url, data):
        """One request (and, after a page, the think time); the next request, or None at the end."""
        status, headers, body = await self.call(player, method, url, data)
        if method == "POST" and status == 303 and "trial" in data:
            player.acknowledged[data["trial"]] = answer_of(data)
            player.in_doubt.pop(data["trial"], None)
            self.answers_in += 1
        if status in (301, 302, 303):
            return "GET", urljoin(url, headers["Location"]), None
        if status != 200:
            raise RuntimeError(f"{method} {urlsplit(url).path} answered {status}")
        player.pages += 1
        forms, images = parse_page(body.decode())
        if not all(source.startswith("data:image/png;base64,") for source in images):
            raise RuntimeError(f"{urlsplit(url).path} links an image instead of embedding it")
        answer_forms = [form for form in forms if form.method == "post" and not form.action.endswith("/logout/")]
        if not answer_forms:
            player.completed = urlsplit(url).path.rstrip("/").endswith("complete")
            if not player.completed:
                raise RuntimeError(f"{urlsplit(url).path} has no form and is not the completion page")
            return None, None, None
        await self.think_time(player)
        return "POST", urljoin(url, answer_forms[0].action), random_answers(answer_forms[0], player.rng)


def answer_of(data):
    """What of a POST is stored as the answer: an attention check keeps only its instructed answer, not the statement
    above it; the page-hides count (empty here: this client runs no script) is not part of the answer."""
    if "answer" in data:
        return {"answer": data["answer"]}
    return {key: value for key, value in data.items() if key not in ("csrfmiddlewaretoken", "trial", "page_hides")}


# --- Checking the database --------------------------------------------------------------------------

def stored_answers(pseudonyms, planned):
    """trial token -> stored answer (as the form sent it) for these participants, and integrity problems."""
    from django.db.models import Count

    from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Participant, Trial
    from studyapp.schema import SIDE_BY_SIDE_SLOTS

    problems = []
    for model in (LikertResponse, AttentionCheck, ChoiceResponse):
        doubled = model.objects.values("trial").annotate(n=Count("id")).filter(n__gt=1).count()
        if doubled:
            problems.append(f"{doubled} trials with two {model.__name__} rows")
    for participant in Participant.objects.filter(pseudonym__in=pseudonyms).annotate(trial_count=Count("trials")):
        trials = participant.trial_count
        if participant.consented_at and trials != planned:
            problems.append(f"{participant.pseudonym}: consented with {trials} of {planned} trials")
        if not participant.consented_at and trials:
            problems.append(f"{participant.pseudonym}: {trials} trials without consent")
    answers = {}
    rows = Trial.objects.filter(participant__pseudonym__in=pseudonyms).values_list(
        "token", "kind", "likert_response__sufficiency", "likert_response__trust",
        "attention_response__answer", "choice_response__chosen_id", "choice_response__justification",
        "participant__completed_at", "participant__pseudonym", *(f"{slot}_id" for slot in SIDE_BY_SIDE_SLOTS),
    )
    for token, kind, sufficiency, trust, attention, chosen, justification, done, who, *maps in rows:
        answer = None
        if kind == "rating" and sufficiency is not None:
            answer = {"sufficiency": str(sufficiency), "trust": str(trust)}
        elif kind == "attention" and attention is not None:
            answer = {"answer": str(attention)}
        elif kind == "choice" and chosen is not None:
            position = dict(zip(maps, SIDE_BY_SIDE_SLOTS))[chosen]
            answer = {"choice": position, "justification": justification}
        if answer is not None:
            answers[token] = answer
        elif done:
            problems.append(f"{who}: marked complete with an unanswered trial")
    return answers, problems


def pseudonyms_of(players, slug, arrive):
    """The pseudonyms of the players' participants, and problems: a study link must make one participant per ID."""
    from django.db.models import Count

    from studyapp.models import Participant

    if arrive == "invite":
        return [p.name for p in players], []
    found = dict(Participant.objects.filter(study__slug=slug, external_id__in=[p.name for p in players])
                 .values_list("external_id", "pseudonym"))
    doubled = Participant.objects.filter(study__slug=slug).values("external_id").annotate(n=Count("id")) \
        .filter(n__gt=1).exclude(external_id="").count()
    problems = [f"{label}: {n}" for label, n in (("platform IDs with more than one participant", doubled),
                                                  ("players whose ID made no participant",
                                                   sum(p.name not in found for p in players))) if n]
    return list(found.values()), problems


def check(players, planned, slug, arrive):
    """Compare what the players sent with what is stored; the list of problems (empty: all good)."""
    pseudonyms, problems = pseudonyms_of(players, slug, arrive)
    stored, integrity = stored_answers(pseudonyms, planned)
    problems += integrity
    acknowledged = {token: answer for p in players for token, answer in p.acknowledged.items()}
    in_doubt = {token: answer for p in players for token, answer in p.in_doubt.items()}
    lost = [t for t in acknowledged if t not in stored]
    changed = [t for t in acknowledged if t in stored and stored[t] != acknowledged[t]]
    unexplained = [t for t in stored if t not in acknowledged and stored[t] != in_doubt.get(t)]
    for label, tokens in (("acknowledged answers not stored", lost), ("stored answers differ from sent", changed),
                          ("stored answers never sent", unexplained)):
        if tokens:
            problems.append(f"{len(tokens)} {label}")
    stored_without_reply = sum(1 for t in in_doubt if t in stored)
    return problems, len(acknowledged), len(stored), sum(p.no_reply for p in players), stored_without_reply


# --- Runs -------------------------------------------------------------------------------------------

def percentiles(values):
    if not values:
        return "n/a"
    p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms"


async def run_participants(server, people, plan_length, args):
    stats = Stats()
    deadline = time.monotonic() + args.deadline
    players = [Player(name, link, np.random.default_rng([args.seed, i])) for i, (name, link) in enumerate(people)]
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as session:
        arrivals_over = args.think if args.arrivals_over is None else args.arrivals_over
        client = Client(session, server, stats, args.think, arrivals_over, args.max_pages, deadline,
                        args.retry_for)
        tasks = [asyncio.create_task(client.play(p)) for p in players]
        if args.kill:
            await crash_and_restart(server, client, tasks, plan_length * len(players))
        if args.kill_server:
            await kill_one_server(server, client, tasks, plan_length * len(players))
        await asyncio.gather(*tasks)
    return players, stats


async def crash_and_restart(server, client, tasks, answers_expected, fraction=0.4):
    """SIGKILL the whole server once `fraction` of the expected answers are in, then start it again."""
    while client.answers_in < fraction * answers_expected and not all(t.done() for t in tasks):
        await asyncio.sleep(0.1)
    answers_before = client.answers_in
    killed = time.monotonic()
    server.kill()
    print(f"  SIGKILL gunicorn (master and workers) after {answers_before} of {answers_expected} answers; ",
          end="", flush=True)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(server.start)
    print(f"restarted, serving again {time.monotonic() - killed:.1f} s after the kill", flush=True)


async def kill_one_server(balancer, client, tasks, answers_expected, fraction=0.4):
    """SIGKILL one of the app servers behind HAProxy for good once `fraction` of the answers are in."""
    while client.answers_in < fraction * answers_expected and not all(t.done() for t in tasks):
        await asyncio.sleep(0.1)
    killed = balancer.kill_one()
    client.stats.killed_at = time.monotonic()
    print(f"  SIGKILL app server {killed.base} (master and workers) after {client.answers_in} of "
          f"{answers_expected} answers; {len(balancer.servers) - 1} left behind HAProxy", flush=True)


def error_seconds(stats, since):
    """What the participants saw of errors: how many, the seconds they spanned, and which seconds had any."""
    if not stats.error_times:
        return "none"
    times = np.array(stats.error_times) - since
    return (f"{len(times)} requests over {times.max() - times.min():.1f} s (from {times.min():+.1f} s to "
            f"{times.max():+.1f} s after the kill), in {len(np.unique(np.floor(times)))} distinct seconds")


def p95_per_minute(stats):
    """Page latency p95 of the requests started in each minute of the run: the arrivals apart from the rest."""
    minute = ((np.array(stats.page_starts) - stats.first) // 60).astype(int)
    latencies = np.array(stats.page_latencies) * 1000
    return " ".join(f"{np.percentile(latencies[minute == m], 95):.0f}" for m in np.unique(minute))


def report(n, args, players, stats, elapsed, verdict, cpu):
    problems, acknowledged, stored, no_reply, stored_without_reply = verdict
    requests = sum(stats.statuses.values())
    span = max(stats.last - stats.first, 1e-9)
    completed = sum(p.completed for p in players)
    errors = [p for p in players if p.error]
    pace = f"think {0.5 * args.think:g}-{1.5 * args.think:g} s" if args.think else "no think time"
    arrivals = args.think if args.arrivals_over is None else args.arrivals_over
    print(f"participants {n} arriving through the {'study link' if args.arrive == 'link' else 'invite links'} "
          f"within {arrivals:g} s, {pace}{', --kill' if args.kill else ''}"
          f"{', --kill-server' if args.kill_server else ''}: "
          f"{completed}/{n} completed in {elapsed:.0f} s")
    print(f"  {requests} requests in {span:.1f} s: {requests / span:.0f} requests/s")
    print(f"  page latency {percentiles(stats.page_latencies)}")
    print(f"  p95 per minute: {p95_per_minute(stats)} ms")
    print(f"  statuses {dict(sorted(stats.statuses.items()))}, connection errors {stats.connection_errors}")
    if getattr(args, "kill_server", False):
        print(f"  errors the participants saw: {error_seconds(stats, stats.killed_at)}")
    if cpu:  # contention-free cost: what one request takes of the machine's CPUs
        print(f"  CPU: {', '.join(f'{what} {seconds:.1f} s' for what, seconds in cpu.items())}; per request "
              f"{' + '.join(f'{1000 * seconds / requests:.1f}' for seconds in cpu.values())} ms; "
              f"load average {os.getloadavg()[0]:.1f}")
    print(f"  answers: {acknowledged} acknowledged, {stored} stored; {no_reply} answer POSTs got no reply: "
          f"{stored_without_reply} of them stored (the participant went on), the others sent again")
    for player in errors[:5]:
        print(f"  ! {player.name}: {player.error}")
    for problem in problems:
        print(f"  ! {problem}")
    print("  data check: every answer sent is stored exactly once, with the values sent; nothing half-written"
          if not problems else "  data check: FAILED")
    if completed < n:
        print(f"  {n - completed} participants did not finish (see the errors above)")
    return not problems and not errors and completed == n


async def hammer(base, path, seconds, connections=20):
    """GET `path` over `connections` at once for `seconds`; the number of replies."""
    replies, stop = 0, time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as session:
        async def loop():
            nonlocal replies
            while time.monotonic() < stop:
                async with session.get(base + path, headers=PROXY_HEADERS, allow_redirects=False) as reply:
                    await reply.read()
                replies += 1

        await asyncio.gather(*(loop() for _ in range(connections)))
    return replies


def measure_floor(server, cluster, path, seconds):
    """What a request costs that does (almost) nothing: no page of the survey can be cheaper."""
    before, client_before = server_cpu_seconds(server, cluster), time.process_time()
    replies = asyncio.run(hammer(server.base, path, seconds))
    web, database = np.subtract(server_cpu_seconds(server, cluster), before)
    client = time.process_time() - client_before
    print(f"floor {path}: {replies / seconds:.0f} requests/s; CPU per request gunicorn {1000 * web / replies:.2f} ms, "
          f"PostgreSQL {1000 * database / replies:.2f} ms, client {1000 * client / replies:.2f} ms")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[50, 200, 500],
                        help="Runs, one per number of concurrent participants (default: 50 200 500).")
    parser.add_argument("--think", type=float, default=2.0,
                        help="Mean think time between pages, s: each pause is uniform over 0.5-1.5 x this (10: the "
                             "5-15 s people take; 0: none).")
    parser.add_argument("--arrivals-over", type=float, default=None, metavar="SECONDS",
                        help="Each participant arrives at a uniform moment within the first SECONDS "
                             "(default: --think).")
    parser.add_argument("--arrive", choices=["link", "invite"], default="link",
                        help="How participants come in: through the study's Prolific link, each with a new "
                             "PROLIFIC_PID (default), or through personal invite links made in advance.")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: config/gunicorn.py's).")
    parser.add_argument("--kill", action="store_true", help="SIGKILL gunicorn mid-run and restart it.")
    parser.add_argument("--servers", type=int, default=None, metavar="N",
                        help="N gunicorn app servers on 127.0.0.1 ports behind HAProxy (deploy/haproxy.cfg, round "
                             "robin, no sticky sessions), one PostgreSQL, a psycopg pool per worker "
                             "(DATABASE_POOL_MAX_SIZE, default 1). Default: one gunicorn reached directly.")
    parser.add_argument("--kill-server", action="store_true",
                        help="With --servers 2 or more: SIGKILL one app server for good once 40%% of the answers are "
                             "in; print the seconds of errors the participants saw.")
    parser.add_argument("--max-pages", type=int, default=400, help="Per participant, a bound on pages.")
    parser.add_argument("--deadline", type=float, default=900, help="Per run, seconds before everyone stops.")
    parser.add_argument("--retry-for", type=float, default=60, help="How long a participant retries a dead server.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--floor", type=float, default=0, metavar="SECONDS",
                        help="Before the runs, the ceiling of this machine: the login page (no database) and a "
                             "404 asked for at full speed for SECONDS each.")
    parser.add_argument("--url", help="Drive a server started elsewhere instead of starting PostgreSQL and "
                                      "gunicorn: `make run`'s, e.g. http://127.0.0.1:8000, on its own database "
                                      "(DATABASE_URL as make run has it; default db.sqlite3) and its demo study.")
    parser.add_argument("--server-pid", type=int, default=None,
                        help="With --url: the gunicorn master's PID, for the server's CPU per request.")
    args = parser.parse_args(argv)

    if args.url and (args.kill or args.floor or args.workers or args.servers or args.kill_server):
        parser.error("--url drives a server started elsewhere: --kill, --floor, --workers, --servers and "
                     "--kill-server start their own")
    if args.servers is not None and args.servers < 1:
        parser.error(f"--servers must be 1 or more app servers, not {args.servers}")
    if args.kill_server and (args.servers or 0) < 2:
        parser.error("--kill-server needs --servers 2 or more: the participants go on through the others")
    if args.servers and args.floor:
        parser.error("--floor measures one gunicorn reached directly: run it without --servers")
    if args.kill and args.servers:
        parser.error("--kill restarts the only server; with --servers use --kill-server")
    if args.servers:
        find_haproxy()  # a clear error before PostgreSQL starts

    workdir = Path(tempfile.mkdtemp(prefix="saliency-load-"))
    all_ok = against_running_server(args, workdir) if args.url else against_own_server(args, workdir)
    if all_ok:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    elif not args.url:
        print(f"server log kept in {workdir / 'gunicorn.log'}")
    return 0 if all_ok else 1


def against_own_server(args, workdir):
    """A throwaway PostgreSQL and gunicorn with the production settings; True when every run passed."""
    with PostgresCluster(durable=True, settings={"max_connections": MAX_CONNECTIONS}) as cluster:
        env = production_environment(cluster, workdir)
        os.environ.update(env)
        slug = prepare_database(workdir)
        env["STIMULI_ROOT"] = os.environ.get("STIMULI_ROOT", str(ROOT / "fixtures"))
        workers = args.workers or runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["workers"]
        with open(workdir / "gunicorn.log", "w") as log:
            if args.servers:
                pool = int(os.environ.get("DATABASE_POOL_MAX_SIZE") or 1)
                env["DATABASE_POOL_MAX_SIZE"] = str(pool)
                server = Balancer(env, args.servers, workers, workdir, log)
                server.start()
                print(f"HAProxy (deploy/haproxy.cfg, round robin, health check every 1 s) on {server.base} in front "
                      f"of {args.servers} app servers ({', '.join(s.base for s in server.servers)}), each gunicorn "
                      f"with {workers} sync workers and a psycopg pool of {pool} per worker: "
                      f"{args.servers * workers * pool} PostgreSQL connections at most of max_connections "
                      f"{MAX_CONNECTIONS}; PostgreSQL 15 on port {cluster.port}; {os.cpu_count()} CPUs shared with "
                      f"this client")
            else:
                server = Gunicorn(env, free_port(), workers, log)
                server.start()
                print(f"gunicorn: {workers} sync workers on {server.base}; PostgreSQL 15 on port {cluster.port}; "
                      f"{os.cpu_count()} CPUs shared with this client")
            try:
                for path in ("/login/", "/no-such-page/") if args.floor else ():
                    measure_floor(server, cluster, path, args.floor)
                return run_all(server, cluster, slug, args, workdir)
            finally:
                server.stop()


def against_running_server(args, workdir):
    """--url: the server `make run` serves, on the database it uses (DATABASE_URL, default db.sqlite3)."""
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from studyapp.management.commands.create_demo_study import DEMO_SLUG
    from studyapp.models import RecruitmentSource, Study

    database = settings.DATABASES["default"]
    if args.arrive == "link" and not Study.objects.filter(
            slug=DEMO_SLUG, recruitment_source=RecruitmentSource.PROLIFIC).exists():
        raise SystemExit(f"No demo study recruiting on Prolific in {database['NAME']}: start the server with "
                         f"`make run` (same DATABASE_URL) first.")
    server = RunningServer(args.url.rstrip("/"), args.server_pid)
    print(f"server {server.base} started elsewhere (gunicorn master {args.server_pid or 'not given: no CPU figures'}); "
          f"database {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}; {os.cpu_count()} CPUs shared with "
          f"this client")
    return run_all(server, None, DEMO_SLUG, args, workdir)


def run_all(server, cluster, slug, args, workdir):
    """One run per --participants number, each checked in the database; True when every one passed."""
    plan_length = study_plan_length(slug)
    all_ok = True
    for n in args.participants:
        people = (prolific_arrivals(slug, n, server.base) if args.arrive == "link"
                  else create_participants(slug, n, server.base, workdir))
        started, cpu_before, client_before = time.monotonic(), cpu_accounts(server, cluster), time.process_time()
        spread_before = server.requests_per_server() if isinstance(server, Balancer) else None
        players, stats = asyncio.run(run_participants(server, people, plan_length, args))
        if spread_before is not None:
            spread = {name: count - spread_before.get(name, 0) for name, count in server.requests_per_server().items()}
            everywhere = sum(len(p.app_servers) == len(server.servers) for p in players)
            print(f"  requests per app server (HAProxy's count, round robin): "
                  f"{', '.join(f'{name} {count}' for name, count in spread.items())}; {everywhere} of "
                  f"{len(players)} participants were served by every app server")
        # A killed gunicorn takes its CPU account with it: no CPU figures for --kill runs.
        cpu = None if args.kill or args.kill_server else {
            **{what: seconds - cpu_before[what] for what, seconds in cpu_accounts(server, cluster).items()},
            "client": time.process_time() - client_before}
        if getattr(server, "killed", None):  # bring the killed app server back for the next run
            server.killed.start()
            server.killed = None
        verdict = check(players, plan_length, slug, args.arrive)
        all_ok &= report(n, args, players, stats, time.monotonic() - started, verdict, cpu)
    return all_ok


if __name__ == "__main__":
    sys.exit(main())
