"""gunicorn settings for production: `gunicorn -c config/gunicorn.py config.wsgi`.

Environment:
GUNICORN_BIND  address:port gunicorn listens on (behind the TLS proxy, or `make run`'s HOST:PORT)
WEB_CONCURRENCY  worker processes (2 per core + 1 by default)
GUNICORN_THREADS  threads per worker process (each needs its own database connection)
FORWARDED_ALLOW_IPS  the proxies whose X-Forwarded-* headers are trusted, comma-separated (config/settings.py
               reads the same list for the address that counts invite-link guesses)
GUNICORN_ACCESS_LOG  a file for gunicorn's access log, or - for standard output (default: none)
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
# Survey pages answer in milliseconds; a request that takes 30 s is stuck, not slow.
timeout = 30
graceful_timeout = 20
# The proxy in front keeps client connections; gunicorn's side stays short.
keepalive = 5
# Recycle workers now and then so a slow leak never builds up during a long study.
max_requests = 5000
max_requests_jitter = 500
# Django is set up once, in the master, and each worker is a fork of it: a recycled worker serves at once instead of
# spending ~0.5 s of CPU importing Django and the apps while participants' requests wait (a launch recycles
# workers every few minutes). Database connections are opened by the workers, on their first query.
preload_app = True
# No request-line limit of gunicorn's own (0: only its 1 MiB guard): a long link reaches Django, which answers it
# with the study's pages (a 414 page past 8190 characters: studyapp.errors), never gunicorn's bare error page.
limit_request_line = 0
# X-Forwarded-* headers are trusted only from the proxy (settings.TRUSTED_PROXIES reads the same variable).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
