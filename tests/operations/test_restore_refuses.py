"""`manage.py restore` refuses a damaged or mismatched archive, or a place that is not empty, with the reason, and
changes nothing; `manage.py backup --keep N` keeps the newest N archives. Real archives of a real study (SQLite)."""

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from operations import archive
from tests.gunicorn_server import ROOT
from tests.helpers.served import manage
from tests.operations.test_backup_restore import study_environment


@pytest.fixture(scope="module")
def backup(tmp_path_factory):
    """An archive of a study with one simulated participant; the environment that made it."""
    directory = tmp_path_factory.mktemp("made")
    env = {**study_environment(directory, f"sqlite:///{directory / 'db.sqlite3'}"), "DEBUG": "1"}  # no collectstatic
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "loaddata", "stimuli")
    manage(env, "create_demo_study", "--participants", "1")
    manage(env, "simulate_participants", "--study", "demo", "--count", "1")
    manage(env, "backup", "--file", str(directory / "backup.tar.gz"))
    return directory / "backup.tar.gz"


@pytest.fixture
def target(tmp_path):
    """A new server's environment: no database file yet, an empty stimulus folder."""
    media = tmp_path / "media"
    media.mkdir()
    return {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "STIMULI_ROOT": str(media)}


def restore(env, source, *options):
    return subprocess.run([sys.executable, "manage.py", "restore", str(source), *options], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def state(env):
    """What a restore could change: the database file's bytes and every file under STIMULI_ROOT."""
    database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    files = sorted((str(p), p.read_bytes()) for p in Path(env["STIMULI_ROOT"]).rglob("*") if p.is_file())
    return database.read_bytes() if database.exists() else None, files


def unpack(source, folder):
    with tarfile.open(source, "r:gz") as tar:
        tar.extractall(folder, filter="data")
    return json.loads((folder / archive.MANIFEST).read_text())


def repack_raw(folder, out, names):
    """The files `names` of `folder` as a .tar.gz, as they are (the manifest not made again)."""
    with tarfile.open(out, "w:gz") as tar:
        for name in names:
            tar.add(folder / name, arcname=name)
    return out


def members_of(folder, manifest):
    return {name: folder / name for name in manifest["files"]}


def damaged_by(kind, backup, tmp_path):
    work = tmp_path / "work"
    manifest = unpack(backup, work)
    names = [archive.MANIFEST, *manifest["files"]]
    out = tmp_path / "damaged.tar.gz"
    if kind == "cut off":
        out.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    elif kind == "a byte flipped":
        data = bytearray(backup.read_bytes())
        data[len(data) // 2] ^= 0xFF
        out.write_bytes(bytes(data))
    elif kind == "not an archive":
        out.write_text("participant,image\n")
    elif kind == "a stimulus file changed":
        changed = next(name for name in manifest["files"] if name.startswith(f"{archive.STIMULI_FOLDER}/"))
        (work / changed).write_bytes(b"\x89PNG not the same picture")
        repack_raw(work, out, names)
    elif kind == "the database file missing":
        repack_raw(work, out, [n for n in names if not n.startswith("database/")])
    elif kind == "a file not in the manifest":
        (work / archive.STIMULI_FOLDER / "extra.png").write_bytes(b"extra")
        repack_raw(work, out, [*names, f"{archive.STIMULI_FOLDER}/extra.png"])
    elif kind == "no manifest":
        repack_raw(work, out, names[1:])
    return out


@pytest.mark.parametrize("kind, message", [
    ("cut off", r"it is damaged or not a \.tar\.gz"),
    ("a byte flipped", r"it is damaged"),
    ("not an archive", r"it is damaged or not a \.tar\.gz"),
    ("a stimulus file changed", r"it is damaged: STIMULI_ROOT/\S+ differs from its checksum"),
    ("the database file missing", "it is damaged: database/db.sqlite3 is missing"),
    ("a file not in the manifest", "it is damaged: STIMULI_ROOT/extra.png is not in the manifest"),
    ("no manifest", "it holds no manifest.json: not a backup of this program"),
])
def test_a_damaged_archive_is_refused_and_nothing_changes(kind, message, backup, target, tmp_path):
    damaged = damaged_by(kind, backup, tmp_path)
    before = state(target)
    result = restore(target, damaged)
    assert result.returncode == 1
    assert re.search(f"{re.escape(str(damaged))} cannot be restored: {message}", result.stderr), result.stderr
    assert "Nothing was changed." in result.stderr
    assert state(target) == before == (None, [])


def mismatched(backup, tmp_path, edit):
    """The archive with its manifest edited as `edit` says, checksums made again: whole, but not this server's."""
    work = tmp_path / "work"
    manifest = unpack(backup, work)
    edit(manifest)
    files = members_of(work, manifest)
    for key in ("format", "format_version", "files"):
        manifest.pop(key)
    archive.write_archive(tmp_path / "mismatched.tar.gz", manifest, files)
    return tmp_path / "mismatched.tar.gz"


def future_format(manifest):
    manifest["format_version"] = archive.FORMAT_VERSION + 1


def postgresql_engine(manifest):
    manifest["database"]["engine"] = "postgresql"


def newer_migration(manifest):
    manifest["database"]["migrations"].append("studyapp.9999_from_the_future")
    manifest["code"]["commit"] = "f" * 40


def test_an_archive_of_another_format_version_is_refused(backup, target, tmp_path):
    work = tmp_path / "work"
    manifest = unpack(backup, work)
    future_format(manifest)
    (work / archive.MANIFEST).write_text(json.dumps(manifest))
    result = restore(target, repack_raw(work, tmp_path / "future.tar.gz", [archive.MANIFEST, *manifest["files"]]))
    assert result.returncode == 1 and "it is format version 2; this code reads version 1" in result.stderr
    assert state(target) == (None, [])


@pytest.mark.parametrize("edit, message", [
    (postgresql_engine, "The archive holds a postgresql database and this server's DATABASE_URL is SQLite file"),
    (newer_migration, "The archive was made by newer code (version 0.1.0, commit ffffffffffffffffffffffffffffffff"
                      "ffffffff): its database has migrations this code does not know "
                      "(studyapp.9999_from_the_future). Check out that code, then restore."),
])
def test_an_archive_that_does_not_fit_this_server_is_refused_and_nothing_changes(edit, message, backup, target,
                                                                                    tmp_path):
    result = restore(target, mismatched(backup, tmp_path, edit))
    assert result.returncode == 1 and message in result.stderr and "Nothing was changed." in result.stderr
    assert state(target) == (None, [])


def test_a_database_that_is_not_empty_is_refused_unless_replaced(backup, target, tmp_path):
    manage(target, "migrate", "--no-input", "-v0")
    before = state(target)
    result = restore(target, backup)
    assert result.returncode == 1, result.stdout
    assert "is not empty (" in result.stderr and "pass --replace to drop everything in this one" in result.stderr
    assert state(target) == before
    replaced = restore(target, backup, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "1 studies, 2 participants" in replaced.stdout


def test_a_stimulus_file_in_place_with_other_bytes_is_refused_before_anything_is_written(backup, target, tmp_path):
    manifest = unpack(backup, tmp_path / "work")
    relative = sorted(archive.stimulus_members(manifest))[0]
    clash = Path(target["STIMULI_ROOT"]) / relative
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"another picture under the same name")
    before = state(target)
    result = restore(target, backup)
    assert result.returncode == 1
    assert "1 stimulus file(s) under STIMULI_ROOT differ from the archive's" in result.stderr
    assert state(target) == before


def test_the_same_stimulus_files_in_place_are_kept_and_the_rest_restored(backup, target, tmp_path):
    shutil.copytree(ROOT / "fixtures" / "stimuli", Path(target["STIMULI_ROOT"]) / "stimuli")
    result = restore(target, backup)
    assert result.returncode == 0, result.stderr
    assert "Restored" in result.stdout


def test_backup_keep_deletes_only_its_own_oldest_archives(backup, tmp_path):
    env = {**study_environment(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")}
    manage(env, "migrate", "--no-input", "-v0")
    folder = tmp_path / "nightly"
    folder.mkdir()
    for old in ("saliency-study-20200101T031500Z.tar.gz", "saliency-study-20200102T031500Z.tar.gz"):
        shutil.copy(backup, folder / old)
    (folder / "notes.txt").write_text("the lab's own file")
    printed = manage(env, "backup", "--out", str(folder), "--keep", "2")
    assert "Deleted saliency-study-20200101T031500Z.tar.gz (keeping the newest 2)" in printed
    kept = sorted(p.name for p in folder.iterdir())
    assert kept[0] == "notes.txt" and kept[1] == "saliency-study-20200102T031500Z.tar.gz" and len(kept) == 3
    assert re.fullmatch(r"saliency-study-\d{8}T\d{6}Z\.tar\.gz", kept[2])


@pytest.mark.parametrize("options, message", [
    (["--keep", "0"], "--keep must be 1 or more"),
    (["--file", "{existing}"], "exists already; choose another --file"),
    (["--out", "{missing}"], "does not exist; create it or choose another --out"),
])
def test_backup_refuses_bad_options_and_writes_nothing(options, message, backup, tmp_path):
    env = study_environment(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    options = [o.format(existing=backup, missing=tmp_path / "missing") for o in options]
    result = subprocess.run([sys.executable, "manage.py", "backup", *options], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1 and message in result.stderr
    assert not Path(env["BACKUP_ROOT"]).exists() or not any(Path(env["BACKUP_ROOT"]).iterdir())
