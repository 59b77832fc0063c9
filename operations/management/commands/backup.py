"""`manage.py backup [--out DIR | --file FILE] [--keep N]`: the database, the stimulus files and a manifest with
their checksums and the code version, as one .tar.gz (operations/backups.py); consistent while participants
answer. The nightly timer (deploy/saliency-backup.service) runs it with --keep 14."""

from datetime import datetime, timezone
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from operations import backups, databases


class Command(BaseCommand):
    help = ("Back up the database, the stimulus files it names and a manifest (checksums, code version) into one "
            "archive, consistent while participants answer. It holds personal data: keep it as safe as the server.")

    def add_arguments(self, parser):
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--out", type=Path, help="Folder for saliency-study-<UTC time>.tar.gz (default: "
                                                    "BACKUP_ROOT, var/backups/ or the server's data folder).")
        where.add_argument("--file", type=Path, help="Write the archive to exactly this file (must not exist).")
        parser.add_argument("--keep", type=int, help="Then delete all but the newest KEEP archives in the folder.")

    def handle(self, *, out, file, keep, **options):
        if keep is not None and (keep < 1 or file is not None):
            raise CommandError("--keep must be 1 or more, and goes with --out (archives named by this command).")
        if file is not None:
            if file.exists():
                raise CommandError(f"{file} exists already; choose another --file.")
            if not file.parent.is_dir():
                raise CommandError(f"Folder {file.parent} does not exist; create it or choose another --file.")
            target = file
        else:
            folder = out if out is not None else backups.default_folder()
            if not folder.is_dir():
                raise CommandError(f"Folder {folder} does not exist; create it or choose another --out.")
            target = folder / backups.archive_name(datetime.now(timezone.utc))
            if target.exists():
                raise CommandError(f"{target} exists already (a backup this very second); try again.")
        try:
            manifest = backups.make_backup(connection, target)
        except databases.DatabaseCopyError as error:
            raise CommandError(f"No backup was written: {error}") from None
        size = target.stat().st_size / 1e6
        self.stdout.write(f"Backup written: {target} ({size:.1f} MB), {backups.describe_manifest(manifest)}.")
        for relative in manifest["missing_stimulus_files"]:
            self.stderr.write(f"Warning: the database names stimulus file {relative}, which is not under STIMULI_ROOT.")
        if keep is not None:
            for path in backups.prune(target.parent, keep):
                self.stdout.write(f"Deleted {path.name} (keeping the newest {keep}).")
