"""`manage.py restore ARCHIVE [--replace]`: a `backup` archive into an empty database and STIMULI_ROOT. The whole
archive and the place it goes to are checked first; a damaged or mismatched archive is refused with the reason,
and nothing is changed (operations/backups.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from operations import backups, databases


class Command(BaseCommand):
    help = ("Restore a `manage.py backup` archive into an empty database and STIMULI_ROOT; a damaged or mismatched "
            "archive is refused and nothing is changed.")

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)
        parser.add_argument("--replace", action="store_true",
                            help="Drop every table of the database in the restore's own transaction (an upgrade "
                                 "that failed goes back to its backup this way).")

    def handle(self, *, archive, replace, **options):
        if not archive.is_file():
            raise CommandError(f"{archive} is not a file; give the path of a `manage.py backup` archive.")
        try:
            manifest, notes = backups.restore_backup(connection, archive, replace)
        except backups.RestoreRefused as error:
            raise CommandError(str(error)) from None
        except databases.DatabaseCopyError as error:
            raise CommandError(f"{error} Nothing was changed.") from None
        self.stdout.write(f"Restored {archive} into {databases.describe(connection)}: "
                          f"{backups.describe_manifest(manifest)}.")
        for note in notes:
            self.stdout.write(note)
