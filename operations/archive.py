"""A backup archive: one gzip'd tar of manifest.json, the database and the stimulus files.

The manifest names every other file of the archive with its SHA-256 and size, and says what made it (the code
version, the database engine and its applied migrations). An archive is read back whole or not at all: a file
missing, added, changed or cut off refuses the archive before anything is restored. No Django here.
"""

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

FORMAT = "saliency-study-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_FOLDER = "database"
STIMULI_FOLDER = "STIMULI_ROOT"  # the stimulus files, by their path relative to STIMULI_ROOT
CHUNK = 1 << 20


class ArchiveError(Exception):
    """The archive is damaged, is not a backup, or does not fit this server; the message says which."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_archive(target, manifest, members):
    """`manifest` (a dict, completed with the format and every member's checksum) and `members` ({name in the
    archive: file}) as a .tar.gz at `target`, the manifest first; the completed manifest."""
    files = {name: {"sha256": sha256_of(path), "bytes": Path(path).stat().st_size} for name, path in members.items()}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files}
    document = json.dumps(manifest, indent=1, sort_keys=True).encode()
    with tarfile.open(target, "w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(document)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(document))
        for name, path in sorted(members.items()):
            tar.add(path, arcname=name, recursive=False)
    return manifest


def safe_name(name):
    """`name` as a relative path that stays inside the folder it is extracted to; ArchiveError otherwise."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArchiveError(f"it names a file outside its own folder ({name!r}): not a backup of this program.")
    return path


def read_archive(source, into):
    """Extract the archive at `source` into the empty folder `into` and check it whole; its manifest.

    ArchiveError says what is wrong: not a .tar.gz, cut off or corrupt, no manifest or another format, a file
    missing or not listed, a checksum or size that differs.
    """
    source, into = Path(source), Path(into)
    extracted = {}
    try:
        with tarfile.open(source, "r:gz") as tar:
            for member in tar:
                path = safe_name(member.name)
                if not member.isfile():
                    raise ArchiveError(f"{member.name!r} is not a plain file: not a backup of this program.")
                if member.name in extracted:
                    raise ArchiveError(f"it holds {member.name!r} twice.")
                target = into / path
                target.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                with tar.extractfile(member) as data, open(target, "wb") as out:
                    while chunk := data.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                extracted[member.name] = {"sha256": digest.hexdigest(), "bytes": size}
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"it is damaged or not a .tar.gz ({type(error).__name__}: {error}).") from None
    if MANIFEST not in extracted:
        raise ArchiveError(f"it holds no {MANIFEST}: not a backup of this program.")
    try:
        manifest = json.loads((into / MANIFEST).read_text(encoding="utf-8"))
        listed = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as error:
        raise ArchiveError(f"its {MANIFEST} is unreadable ({error}).") from None
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"its {MANIFEST} is not a {FORMAT} manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"it is format version {manifest.get('format_version')!r}; this code reads version "
                           f"{FORMAT_VERSION}: restore it with the code that made it.")
    del extracted[MANIFEST]
    problems = [f"{name} is missing" for name in sorted(set(listed) - set(extracted))]
    problems += [f"{name} is not in the manifest" for name in sorted(set(extracted) - set(listed))]
    problems += [f"{name} differs from its checksum" for name in sorted(set(listed) & set(extracted))
                 if listed[name] != extracted[name]]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ArchiveError(f"it is damaged: {shown}.")
    return manifest


def stimulus_members(manifest):
    """{path relative to STIMULI_ROOT: name in the archive} of the stimulus files the manifest lists."""
    prefix = f"{STIMULI_FOLDER}/"
    return {name[len(prefix):]: name for name in manifest["files"] if name.startswith(prefix)}


def copy_file(source, target):
    """`source`'s bytes at `target`, written under a temporary name and renamed into place."""
    partial = Path(target).with_name(f".{Path(target).name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
