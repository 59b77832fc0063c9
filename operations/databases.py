"""The database into one file and back: SQLite through its online backup API, PostgreSQL through pg_dump.

Both copies are consistent while participants answer: SQLite's backup copies every page in one step under one
read transaction (WAL: writers go on meanwhile), pg_dump reads one snapshot. Both loads are one transaction: a
load that fails leaves the database as it was.
"""

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.db import transaction
from django.db.backends.postgresql.client import DatabaseClient
from django.db.migrations.loader import MigrationLoader

ENGINES = {"sqlite": "db.sqlite3", "postgresql": "db.dump"}  # engine: its file in the archive


class DatabaseCopyError(Exception):
    """A copy or load could not be made; the message says why and how to fix it."""


def engine_of(connection):
    if connection.vendor not in ENGINES:
        raise DatabaseCopyError(f"Backups cover SQLite and PostgreSQL; this database is {connection.vendor}.")
    return connection.vendor


def describe(connection):
    """The database as people name it: a SQLite file, or PostgreSQL's database@host."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite file {settings['NAME']}"
    return f"PostgreSQL database {settings['NAME']!r} on {settings['HOST'] or 'the local socket'}"


def known_migrations():
    """The migrations this code has on disk, as "app.migration" names."""
    return {f"{app}.{name}" for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations}


def tables(connection):
    """The database's tables; a SQLite file that does not exist yet has none (asking would create it)."""
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and not name.startswith((":memory:", "file:")) and not Path(name).exists():
        return []
    return connection.introspection.table_names()


def dump(connection, target, facts):
    """The whole database, as it is at one moment, into the file `target`; `facts(execute)` reads that same
    moment (`execute(sql)` -> rows) and its result is returned: what the copy holds, not what came after it."""
    if engine_of(connection) == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(target) as copy:
            connection.connection.backup(copy)  # every page in one step: one consistent read
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            found = facts(lambda sql: copy.execute(sql).fetchall())
        copy.close()
        return found
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        # pg_dump reads the snapshot this transaction exports, and `facts` reads it here
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()

        def execute(sql):
            cursor.execute(sql)
            return cursor.fetchall()

        found = facts(execute)
        run([program("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
             f"--file={target}"], libpq_environment(connection), "pg_dump")
    return found


def load(connection, source, replace=False):
    """The database file `source` (dump's) into the database, in one transaction; with `replace`, whatever
    tables the database holds go in the same transaction."""
    if engine_of(connection) == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(source) as copy:
            copy.backup(connection.connection)  # replaces every page of the database at once
        copy.close()
        return
    script = source.with_suffix(".sql")
    run([program("pg_restore"), "--no-owner", "--no-privileges", f"--file={script}", str(source)],
        libpq_environment(connection), "pg_restore")
    drops = [f'DROP TABLE IF EXISTS {connection.ops.quote_name(t)} CASCADE;\n' for t in tables(connection)]
    if replace and drops:
        script.write_text("".join(drops) + script.read_text(encoding="utf-8"), encoding="utf-8")
    connection.close()  # psql's transaction must not wait for Django's connection
    run([program("psql"), "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
         f"--file={script}"], libpq_environment(connection), "psql")


def libpq_environment(connection):
    """The environment that points pg_dump, pg_restore and psql at Django's database (as `dbshell` does)."""
    settings = connection.settings_dict
    _, environment = DatabaseClient.settings_to_cmd_args_env(settings, [])
    named = {"PGHOST": settings.get("HOST"), "PGPORT": settings.get("PORT"), "PGUSER": settings.get("USER"),
             "PGDATABASE": settings.get("NAME")}
    return {**(environment or {}), **{key: str(value) for key, value in named.items() if value}}


def program(name):
    found = shutil.which(name)
    if found is None:
        raise DatabaseCopyError(f"`{name}` is missing: install PostgreSQL's client programs "
                                "(Debian: apt-get install postgresql-client-15).")
    return found


def run(command, environment, name):
    result = subprocess.run(command, env={**os.environ, **environment}, capture_output=True, text=True)
    if result.returncode != 0:
        raise DatabaseCopyError(f"{name} failed: {(result.stderr or result.stdout).strip()[-2000:]}")
