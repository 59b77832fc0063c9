"""Settings from environment variables, with safe local defaults.

DATABASE_URL   sqlite:///... (default: db.sqlite3 beside manage.py) or postgres://user:pw@host/db
CONN_MAX_AGE   seconds a worker keeps its database connection open between requests
SQLITE_BUSY_TIMEOUT  seconds a SQLite writer waits for another's transaction to end (default 20)
SECRET_KEY     required when DEBUG is off, unless SECRET_KEY_FILE is set
SECRET_KEY_FILE  a file holding the key, made with a new random key when missing (`make run` uses
               var/secret_key: a local server keeps its sessions across restarts)
DEBUG          "1"/"0" (default "1" for local work; production and `make run` set "0")
BEHIND_TLS_PROXY  "1"/"0" (default "1" when DEBUG is off): HTTPS redirect, Secure cookies, HSTS and
               X-Forwarded-Proto trusted. `make run` sets "0" to serve plain http://127.0.0.1:8000 itself.
ALLOWED_HOSTS  comma-separated (default: localhost names)
STIMULI_ROOT   folder holding the stimuli's PNGs, where `import_stimuli` writes (default: fixtures/, the
               shipped ones; a server keeps it in its data folder, /var/lib/saliency-study/media)
BACKUP_ROOT    where `manage.py backup` writes its archives (default: var/backups/)
DATABASE_POOL_MAX_SIZE  PostgreSQL only: a psycopg connection pool of this many per worker process (default
               0: none, persistent connections for CONN_MAX_AGE seconds instead); the bound is below
DATABASE_POOL_TIMEOUT  seconds a request waits for a free connection of that pool
STATIC_ROOT    where `collectstatic` puts static files for production (default: var/static/)
SECURE_HSTS_SECONDS  behind the TLS proxy: how long browsers keep to HTTPS for this site (HSTS)
CSRF_TRUSTED_ORIGINS  behind the TLS proxy: the site's origins, comma-separated, e.g. https://study.example.org
FORWARDED_ALLOW_IPS  the proxies whose X-Forwarded-For names the client, comma-separated (gunicorn trusts the same)
LOGIN_FAILURE_LIMIT  failed staff logins (one username from one address) before a lock-out (default 5)
LOGIN_LOCKOUT_MINUTES  how long that lock-out lasts (default 30)
With DEBUG=0 the site expects a TLS-terminating proxy that sets X-Forwarded-Proto
(docs/how-to/deploy-one-vm.md, docs/how-to/several-app-servers.md), unless BEHIND_TLS_PROXY=0.

SQLite (the embedded default) is set up for several gunicorn workers writing at once: WAL journal
(readers never wait for the writer), every transaction BEGIN IMMEDIATE (a transaction that reads and then
writes can otherwise fail at once with "database is locked" instead of waiting), and a busy timeout so
writers queue for the lock instead of failing. synchronous=NORMAL: a crash of the server loses nothing
committed; a power cut can lose the last commits before it. When the lock is still held past the timeout (a long
rehearsal beside the server), docs/faq.md says what to do.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_seconds(name, default):
    value = os.environ.get(name, default)
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, got {value!r}.") from None


DEBUG = env_bool("DEBUG", True)


def secret_key_from_file(path):
    """The key in `path`; a new random one written there (readable by its owner only) when it is missing.

    Made by root (an administrator's `manage.py` before the service ever ran), the file is given to the owner of
    its folder, the service user who owns the data folder: the server must read the key it will run with.
    """
    path = Path(path)
    if not path.exists():
        from django.core.management.utils import get_random_secret_key

        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(get_random_secret_key())
        if os.geteuid() == 0:
            folder = path.parent.stat()
            os.chown(path, folder.st_uid, folder.st_gid)
    try:
        key = path.read_text().strip()
    except PermissionError:
        import pwd

        owner, reader = pwd.getpwuid(path.stat().st_uid).pw_name, pwd.getpwuid(os.geteuid()).pw_name
        raise ImproperlyConfigured(f"SECRET_KEY_FILE {path} belongs to {owner} and user {reader} cannot read it: "
                                   f"`chown {reader} {path}`, or run this as {owner}.") from None
    if not key:
        raise ImproperlyConfigured(f"SECRET_KEY_FILE {path} is empty; delete it to have a new key made.")
    return key


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and os.environ.get("SECRET_KEY_FILE"):
    SECRET_KEY = secret_key_from_file(os.environ["SECRET_KEY_FILE"])
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or SECRET_KEY_FILE) in the environment when DEBUG is off.")
    SECRET_KEY = "local-development-only-not-secret"

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "saliency",
    "studyapp",
    "analysis",
    "operations",
]

MIDDLEWARE = [
    "studyapp.errors.LongLinkMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # a locked-out login answers with studyapp/locked_out.html
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# PostgreSQL connection pool per worker process (Django's psycopg pool), off unless DATABASE_POOL_MAX_SIZE is
# set. It replaces persistent connections (CONN_MAX_AGE must be 0 with it). Each gunicorn worker process holds
# at most that many connections, so PostgreSQL needs
#   app servers x WEB_CONCURRENCY x DATABASE_POOL_MAX_SIZE  <=  max_connections - superuser_reserved_connections (3)
# with a few to spare for migrations and psql (docs/how-to/several-app-servers.md). A sync worker uses one connection at a time:
# 1 is enough; gthread workers (GUNICORN_THREADS) need one per thread.
DATABASE_POOL_MAX_SIZE = int(os.environ.get("DATABASE_POOL_MAX_SIZE", "0"))
if DATABASE_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "10")),  # waiting for a free connection, s
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_seconds("SQLITE_BUSY_TIMEOUT", "20"),  # below gunicorn's 30 s worker timeout
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sessions in the database (every app server reads them), a new one written once (config/sessions.py).
SESSION_ENGINE = "config.sessions"

# In the database, so every gunicorn worker and app server shares it (studyapp.throttling counts invite
# guesses here); studyapp's migrations create its table.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}

# Axes first: it refuses a locked-out login before the password is checked. Participants log in by their link
# (studyapp.views, no password), which neither counts as an attempt nor can be locked. StudyRoleBackend answers
# the per-study permissions of researchers' roles (studyapp.access).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "studyapp.backends.ParticipantBackend",
    "studyapp.access.StudyRoleBackend",
]

# Lock-out after repeated failed password logins (django-axes), on the login page and the admin's alike. Counted
# per username and client address together: nobody can lock a researcher out from elsewhere, nor everyone behind
# one address (a lab, a campus). `manage.py axes_reset_username NAME` lifts a lock-out at once.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "30")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "studyapp.throttling.client_address"  # the proxies we trust, as for invite links
AXES_HANDLER = "studyapp.lockout.StaffLoginHandler"
AXES_LOCKOUT_TEMPLATE = "studyapp/locked_out.html"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))  # filled by `collectstatic`
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production serves hashed, compressed files from STATIC_ROOT with far-future cache headers.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}

if env_bool("BEHIND_TLS_PROXY", not DEBUG):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto: Caddy on one VM (deploy/Caddyfile), HAProxy
    # before several app servers (deploy/haproxy.cfg), or nginx.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
    # The proxy's health check asks the app server itself, over plain http (operations.views.healthz).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Proxies whose X-Forwarded-For names the client (studyapp.throttling); gunicorn trusts the same list.
TRUSTED_PROXIES = [a.strip() for a in os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1").split(",") if a.strip()]

# Where `manage.py loaddata stimuli` finds fixtures/stimuli.json, and where its PNGs live.
FIXTURE_DIRS = [BASE_DIR / "fixtures"]
STIMULI_ROOT = Path(os.environ.get("STIMULI_ROOT", BASE_DIR / "fixtures"))
BACKUP_ROOT = Path(os.environ.get("BACKUP_ROOT", BASE_DIR / "var" / "backups"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "studyapp": {"handlers": ["console"], "level": "INFO"},
        # Server errors with their traceback, on the console (gunicorn's error log) with DEBUG off too:
        # participants see only studyapp/templates/500.html, the researcher sees what went wrong.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
