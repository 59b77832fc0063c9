"""Back up the study server into one archive and bring it back: the database, the stimulus files its records
name (under STIMULI_ROOT), and a manifest with their checksums, the code version and what the database holds.

`manage.py backup` and `manage.py restore` are thin over this. A restore checks the whole archive and the place
it goes to before it changes anything: an empty database (or `replace`), and stimulus files that are either
missing or the same bytes.
"""

import subprocess
import tempfile
import tomllib
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings

from saliency.models import SourceImage, Stimulus
from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Participant, Study

from . import archive, databases

ARCHIVE_PREFIX, ARCHIVE_SUFFIX = "saliency-study-", ".tar.gz"
STIMULUS_FILES = ((SourceImage, "image"), (Stimulus, "heatmap"))  # the records' fields that name a file
COUNTED = {"studies": (Study,), "participants": (Participant,),
           "answers": (LikertResponse, ChoiceResponse, AttentionCheck)}


class RestoreRefused(Exception):
    """The archive, or the place it would go to, is not fit for a restore; nothing was changed."""


def archive_name(now):
    return f"{ARCHIVE_PREFIX}{now:%Y%m%dT%H%M%SZ}{ARCHIVE_SUFFIX}"


def code_version(base_dir=settings.BASE_DIR):
    """The checkout's version (pyproject.toml) and git commit (None outside a git checkout)."""
    version = tomllib.loads((Path(base_dir) / "pyproject.toml").read_text())["project"]["version"]
    # The service user reads a checkout that root owns: git would call it dubious without safe.directory.
    git = subprocess.run(["git", "-c", f"safe.directory={base_dir}", "rev-parse", "HEAD"], cwd=base_dir,
                         capture_output=True, text=True)
    return {"version": version, "commit": git.stdout.strip() if git.returncode == 0 else None}


def table_sql(model, column=None):
    return f"SELECT {'COUNT(*)' if column is None else model._meta.get_field(column).column} FROM {model._meta.db_table}"


def snapshot_facts(execute):
    """What one consistent view of the database holds: its migrations, the stimulus files its records name, and
    how many studies, participants and answers (`execute(sql)` -> rows, on that view)."""
    migrations = sorted(f"{app}.{name}" for app, name in execute("SELECT app, name FROM django_migrations"))
    files = sorted({path for model, field in STIMULUS_FILES for (path,) in execute(table_sql(model, field)) if path})
    counts = {name: sum(execute(table_sql(model))[0][0] for model in models) for name, models in COUNTED.items()}
    return {"migrations": migrations, "stimulus_files": files, "holds": counts}


def stimulus_path(relative):
    """`relative` under STIMULI_ROOT, or None when it points outside it (never read nor written)."""
    root = Path(settings.STIMULI_ROOT).resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


def make_backup(connection, target):
    """The archive at `target` (written whole or not at all); its manifest."""
    engine = databases.engine_of(connection)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=target.parent) as work:
        database_file = Path(work) / databases.ENGINES[engine]
        facts = databases.dump(connection, database_file, snapshot_facts)
        members = {f"{archive.DATABASE_FOLDER}/{database_file.name}": database_file}
        missing = []
        for relative in facts.pop("stimulus_files"):
            path = stimulus_path(relative)
            if path is None or not path.is_file():
                missing.append(relative)
            else:
                members[f"{archive.STIMULI_FOLDER}/{relative}"] = path
        manifest = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "code": code_version(), "database": {"engine": engine, "migrations": facts["migrations"]},
                    "holds": facts["holds"], "missing_stimulus_files": missing}
        partial = target.with_name(f".{target.name}.partial")
        written = archive.write_archive(partial, manifest, members)
        partial.chmod(0o600)  # participants' data
        partial.replace(target)
    return written


def prune(folder, keep):
    """Delete all but the newest `keep` archives that `backup` named in `folder`; the deleted paths."""
    archives = sorted(folder.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}"))
    doomed = archives[:-keep] if keep else archives
    for path in doomed:
        path.unlink()
    return doomed


def restore_backup(connection, source, replace=False):
    """The archive at `source` into the database and STIMULI_ROOT; (manifest, notes for the researcher).

    RestoreRefused, with nothing changed, when the archive is damaged, of another engine or of newer code, the
    database is not empty (unless `replace`), or a stimulus file in place differs from the archive's.
    """
    engine = databases.engine_of(connection)
    with tempfile.TemporaryDirectory(prefix="saliency-restore-") as work:
        work = Path(work)
        try:
            manifest = archive.read_archive(source, work)
        except archive.ArchiveError as error:
            raise RestoreRefused(f"{source} cannot be restored: {error} Nothing was changed.") from None
        check_fit(connection, engine, manifest, replace)
        placed = place_stimuli(work, manifest)
        try:
            databases.load(connection, work / archive.DATABASE_FOLDER / databases.ENGINES[engine], replace)
        except Exception:
            for path in placed:
                path.unlink(missing_ok=True)
            raise
    notes = []
    newer = sorted(databases.known_migrations() - set(manifest["database"]["migrations"]))
    if newer:
        notes.append(f"This code has {len(newer)} migration(s) the archive's database lacks ({', '.join(newer)}): "
                     "run `manage.py migrate`.")
    if manifest["missing_stimulus_files"]:
        notes.append(f"{len(manifest['missing_stimulus_files'])} stimulus file(s) were already missing when the "
                     f"backup was made: {', '.join(manifest['missing_stimulus_files'][:5])}.")
    return manifest, notes


def check_fit(connection, engine, manifest, replace):
    archived = manifest["database"]["engine"]
    if archived != engine:
        raise RestoreRefused(f"The archive holds a {archived} database and this server's DATABASE_URL is "
                             f"{databases.describe(connection)}: restore it into a {archived} database. "
                             "Nothing was changed.")
    unknown = sorted(set(manifest["database"]["migrations"]) - databases.known_migrations())
    if unknown:
        code = manifest["code"]
        raise RestoreRefused(f"The archive was made by newer code (version {code['version']}, commit "
                             f"{code['commit']}): its database has migrations this code does not know "
                             f"({', '.join(unknown)}). Check out that code, then restore. Nothing was changed.")
    present = databases.tables(connection)
    if present and not replace:
        raise RestoreRefused(f"{databases.describe(connection)} is not empty ({len(present)} tables): a restore "
                             "goes into an empty database. Point DATABASE_URL at a new one, or pass --replace to "
                             "drop everything in this one. Nothing was changed.")


def place_stimuli(work, manifest):
    """Copy the archive's stimulus files under STIMULI_ROOT; the files written. Files already there must be the
    same bytes (their names are their content's hash): checked for all before any is written."""
    to_write, differing = [], []
    for relative, name in sorted(archive.stimulus_members(manifest).items()):
        target = stimulus_path(relative)
        if target is None:
            raise RestoreRefused(f"The archive names a stimulus file outside STIMULI_ROOT ({relative!r}). "
                                 "Nothing was changed.")
        if not target.exists():
            to_write.append((work / name, target))
        elif archive.sha256_of(target) != manifest["files"][name]["sha256"]:
            differing.append(str(target))
    if differing:
        raise RestoreRefused(f"{len(differing)} stimulus file(s) under STIMULI_ROOT differ from the archive's "
                             f"({', '.join(differing[:5])}): restore into an empty STIMULI_ROOT. Nothing was changed.")
    placed = []
    try:
        for source, target in to_write:
            target.parent.mkdir(parents=True, exist_ok=True)
            archive.copy_file(source, target)
            placed.append(target)
    except OSError:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    return placed


def default_folder():
    folder = Path(settings.BACKUP_ROOT)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def describe_manifest(manifest):
    holds = manifest["holds"]
    return (f"made {manifest['created_at']} by version {manifest['code']['version']} (commit "
            f"{(manifest['code']['commit'] or 'unknown')[:12]}), {manifest['database']['engine']}: "
            f"{holds['studies']} studies, {holds['participants']} participants, {holds['answers']} answers, "
            f"{len(archive.stimulus_members(manifest))} stimulus files")

