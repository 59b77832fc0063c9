"""Where a participant's first pages spend their time: queries, bytes and CPU per page, and a cProfile.

The 10-second rush (benchmarks/load.py --arrivals-over 10) is many people on their first pages at
once: the study link (arrival), consent, instructions, background and the first trials. This walks
--participants people through those pages with Django's test client, in one process, on a throwaway
PostgreSQL (as load.py starts it) with the production settings (DEBUG off, behind the TLS proxy), and
prints per page: SQL queries, response bytes, and the milliseconds of this process's CPU (Django's
whole request, the database's CPU not included). --profile adds cProfile's top functions over all pages.

    nice -n 10 .venv/bin/python benchmarks/profile_pages.py --participants 40 --profile 30
    nice -n 10 .venv/bin/python benchmarks/profile_pages.py --participants 40 --profile 30 \
        --profile-page 'GET study link' --queries 'GET study link'
"""

import argparse
import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load import production_environment, prepare_database, prolific_arrivals  # noqa: E402
from studyapp.simulation import parse_page, random_answers  # noqa: E402
from devtools.pg_cluster import PostgresCluster  # noqa: E402


class Record(defaultdict):
    sql = {}


def page_name(method, path):
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[-2] == "trial":
        return f"{method} trial"
    return f"{method} {parts[-1] if parts else '/'}"


def walk(client, link, pages, rng, record, profiler, profile_page):
    """Follow `link` through the survey for `pages` pages (GET and POST each), recording every request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    method, url, data = "GET", link, None
    shown = 0
    while shown < pages:
        split = urlsplit(url)
        target = split.path + (f"?{split.query}" if split.query else "")
        name = "GET study link" if url == link else page_name(method, split.path)
        profiling = profile_page in ("all", name)
        with CaptureQueriesContext(connection) as queries:
            if profiling:
                profiler.enable()
            started = time.process_time()
            reply = (client.get(target, secure=True) if method == "GET"
                     else client.post(target, data, secure=True, HTTP_ORIGIN="https://testserver",
                                      HTTP_REFERER="https://testserver" + split.path))
            cpu = time.process_time() - started
            if profiling:
                profiler.disable()
        body = reply.content
        record[name].append((len(queries), len(body), cpu))
        record.sql[name] = [q["sql"] for q in queries.captured_queries]
        if reply.status_code in (301, 302, 303):
            method, url, data = "GET", reply["Location"], None
            continue
        if reply.status_code != 200:
            raise RuntimeError(f"{method} {split.path} answered {reply.status_code}")
        shown += 1
        forms, _ = parse_page(body.decode())
        answer_forms = [f for f in forms if f.method == "post" and not f.action.endswith("/logout/")]
        if not answer_forms:
            return
        method, url, data = "POST", answer_forms[0].action or split.path, random_answers(answer_forms[0], rng)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--pages", type=int, default=6, help="Pages each walks: consent, instructions, "
                                                             "background and the first trials (default 6).")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="Print cProfile's top N functions.")
    parser.add_argument("--profile-page", default="all", metavar="REQUEST",
                        help="Profile only this request, as the table names it (e.g. 'GET study link'); default all.")
    parser.add_argument("--profile-out", metavar="FILE", help="Also write the cProfile stats to FILE (pstats).")
    parser.add_argument("--sort", choices=["tottime", "cumulative"], default="tottime",
                        help="Order cProfile's functions by their own time (default) or with what they call.")
    parser.add_argument("--queries", metavar="REQUEST", help="Print the SQL of this request (its last one).")
    args = parser.parse_args(argv)
    if args.participants < 1 or args.pages < 1:
        parser.error("--participants and --pages must be 1 or more")

    workdir = Path(tempfile.mkdtemp(prefix="saliency-profile-"))
    with PostgresCluster(durable=True) as cluster:
        env = production_environment(cluster, workdir)
        env["ALLOWED_HOSTS"] = "testserver"
        os.environ.update(env)
        slug = prepare_database(workdir)
        from django.test import Client

        people = prolific_arrivals(slug, args.participants, "https://testserver")
        record = Record(list)
        profiler = cProfile.Profile()
        rng = np.random.default_rng(0)
        client = Client(enforce_csrf_checks=True)  # one handler, as a gunicorn worker has; new cookies each
        for _, link in people:
            client.cookies.clear()
            walk(client, link, args.pages, rng, record, profiler, args.profile_page)
        print(f"{args.participants} participants, first {args.pages} pages each, PostgreSQL, DEBUG off")
        print(f"{'request':<24} {'n':>5} {'queries':>8} {'bytes':>9} {'CPU ms':>7}")
        total_cpu = 0.0
        for name, rows in list(record.items()):
            queries, size, cpu = np.array(rows).mean(axis=0)
            total_cpu += sum(r[2] for r in rows)
            print(f"{name:<24} {len(rows):>5} {queries:>8.1f} {size:>9.0f} {1000 * cpu:>7.1f}")
        print(f"CPU of Django in this process: {1000 * total_cpu / args.participants:.0f} ms per participant "
              f"for these pages")
        if args.queries:
            print("\n".join(record.sql.get(args.queries, [f"no request {args.queries!r}"])))
        if args.profile:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            if args.profile_out:
                stats.dump_stats(args.profile_out)
            stats.sort_stats(args.sort).print_stats(args.profile)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
