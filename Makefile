# Two commands do all set-up on a fresh machine: `make run` and `make test` (`make dev` for development).
# Variables a user may set (`make run PORT=8080`) have a comment above them: docs/reference/environment.md lists them.

# The Python that makes .venv (3.11 or later).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MANAGE := $(PY) manage.py
FMNIST_DIR := /usr/share/datasets/fashion-mnist
# Fashion-MNIST's files; Chromium for the browser tests; PostgreSQL 15 for the tests' second pass; HAProxy, the
# load balancer of deploy/haproxy.cfg (tests check the shipped config with `haproxy -c`; benchmarks/load.py --servers);
# R with ordinal and lme4, the reference tests/analysis/test_clmm.py compares analysis/clmm.py with (never the product);
# Caddy, the one-VM server's TLS proxy (tests/deploy runs `make server`'s set-up with it), and NSS's certutil, with
# which that test's Chromium trusts Caddy's internal CA.
DEBIAN_PACKAGES := dataset-fashion-mnist chromium chromium-driver postgresql-15 haproxy r-base-core r-cran-ordinal \
	r-cran-lme4 caddy libnss3-tools
# What `make server` needs on a fresh Debian 12 VM: no browser, no datasets.
SERVER_PACKAGES := caddy postgresql-15 python3-venv git make ca-certificates
# axe-core, the accessibility rules the Chromium tests run on every participant page and the report: pinned,
# installed once by npm into build/node (ignored by git); nothing is downloaded while the tests run. Where no npm
# command exists (a fresh Debian), Debian's npm and nodejs packages bring it. Only then: a Node.js installed from
# elsewhere (NodeSource's nodejs ships its own npm) conflicts with Debian's npm package.
NODE_PACKAGES := nodejs npm
AXE_CORE_VERSION := 4.14.1
NODE_TOOLS := build/node
AXE := $(NODE_TOOLS)/axe-core-$(AXE_CORE_VERSION).installed
# The address and port `make run` and `make dev` serve on.
HOST ?= 127.0.0.1
PORT ?= 8000
# `make run` serves as a live study does (DEBUG=0: gunicorn, whitenoise) over plain http on this machine
# (BEHIND_TLS_PROXY=0); with a TLS proxy in front, BEHIND_TLS_PROXY=1 serves participants from elsewhere
# (docs/how-to/several-app-servers.md). SECRET_KEY_FILE keeps the key made on the first run.
DEBUG ?= 0
BEHIND_TLS_PROXY ?= 0
SECRET_KEY_FILE ?= var/secret_key
SERVE_ENV := DEBUG=$(DEBUG) BEHIND_TLS_PROXY=$(BEHIND_TLS_PROXY) SECRET_KEY_FILE=$(SECRET_KEY_FILE)
# The port `make docs-serve` serves the documentation site on (beside `make run`'s).
DOCS_PORT ?= 8001

.PHONY: install system-packages node-tools bench-packages run dev test demo clean server upgrade docs docs-serve

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test,bench,docs]'
	touch $@

# Installs those of the Debian packages $(1) that dpkg does not list (as root, or through sudo): one shell command.
define install-debian
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
	echo "Installing Debian packages:$$missing"; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
fi
endef

# Debian packages the project needs (Fashion-MNIST's original files, ...).
system-packages:
	@$(call install-debian,$(DEBIAN_PACKAGES))

# What benchmarks/load.py --servers needs (HAProxy): the same Debian packages as `make test`.
bench-packages: system-packages

demo: install system-packages
	$(MANAGE) migrate --no-input
	$(MANAGE) loaddata stimuli methods tasks
	$(MANAGE) create_demo_study --base-url http://$(HOST):$(PORT)

run: demo
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input -v0
	@echo "Serving http://$(HOST):$(PORT)/ with gunicorn (config/gunicorn.py), DEBUG=$(DEBUG). Ctrl-C stops it."
	$(SERVE_ENV) GUNICORN_BIND=$(HOST):$(PORT) $(PY) -m gunicorn -c config/gunicorn.py config.wsgi

# Development: Django's runserver with DEBUG on (tracebacks in the browser, code reloaded on change).
dev: demo
	DEBUG=1 $(MANAGE) runserver $(HOST):$(PORT)

node-tools: $(AXE)

$(AXE):
	@command -v npm >/dev/null || { $(call install-debian,$(NODE_PACKAGES)); }
	@command -v npm >/dev/null || { echo "npm is still missing after installing Debian's $(NODE_PACKAGES)."; exit 1; }
	npm install --prefix $(NODE_TOOLS) --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_CORE_VERSION)
	test -f $(NODE_TOOLS)/node_modules/axe-core/axe.min.js && touch $@

# The study server on one Debian 12 VM, as root (docs/how-to/deploy-one-vm.md): Caddy with HTTPS for DOMAIN,
# gunicorn under systemd as user saliency, PostgreSQL, the data in /var/lib/saliency-study, the first researcher
# account (its password asked). Run again, it changes nothing already set. DEMO=1 adds the demo study.
DOMAIN ?=
EMAIL ?=
RESEARCHER ?= researcher
SERVER_ARGS ?=
server:
	@[ -n "$(DOMAIN)" ] && [ -n "$(EMAIL)" ] || { echo "Usage: make server DOMAIN=study.example.org EMAIL=you@example.org [RESEARCHER=name] [DEMO=1]"; exit 2; }
	$(MAKE) system-packages DEBIAN_PACKAGES="$(SERVER_PACKAGES)"
	$(MAKE) install
	$(PYTHON) deploy/server.py install --domain "$(DOMAIN)" --email "$(EMAIL)" --researcher "$(RESEARCHER)" $(if $(DEMO),--demo) $(SERVER_ARGS)

# Back up, pull the new code, install, migrate, restart; a failed migration restores the backup and the code
# (docs/how-to/back-up-and-upgrade.md).
upgrade:
	$(PYTHON) deploy/server.py upgrade $(SERVER_ARGS)

# The documentation site (mkdocs.yml, docs/) into build/site; --strict: a broken link or a page outside the
# navigation stops it (tests/docs runs the same build).
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The documentation site at http://$(HOST):$(DOCS_PORT)/, rebuilt on every change.
docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --strict --dev-addr $(HOST):$(DOCS_PORT)

# Everything on SQLite, then the database-facing tests again on a throwaway PostgreSQL cluster.
test: install system-packages node-tools
	$(PY) -m pytest
	$(PY) -m pytest --postgres

clean:
	rm -rf $(VENV) $(NODE_TOOLS) db.sqlite3 db.sqlite3-wal db.sqlite3-shm .pytest_cache
