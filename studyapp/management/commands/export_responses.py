"""`manage.py export_responses --study S --out DIR` writes ratings.csv, choices.csv, participants.csv,
recruitment.csv, stimuli.csv, balance.csv and review.csv (for the platform's review); a study of task blocks also
tasks.csv, and bonus.csv where it pays a bonus.

Columns, value formats and the formula-injection prefix are documented in studyapp/export.py.
recruitment.csv, review.csv and bonus.csv alone carry platform IDs (personal data); the other files can be shared.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from saliency.files import publish_folder
from studyapp import access
from studyapp.export import PLATFORM_ID_FILES, csv_text, export_frames
from studyapp.management.studies import study_by_slug


class Command(BaseCommand):
    help = ("Export a study's answers as ratings.csv, choices.csv and participants.csv into DIR, and its "
            "participants' platform IDs and outcomes (personal data, for payments) as recruitment.csv, and its stimuli "
            "with their explanation metrics as stimuli.csv; all files or none.")

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="The study's slug.")
        parser.add_argument("--out", required=True, type=Path, help="Folder to write the CSV files into.")
        parser.add_argument("--overwrite", action="store_true", help="Replace export files already in DIR.")
        parser.add_argument("--include-preview", action="store_true",
                            help="Also export researchers' preview participants (left out by default).")

    def handle(self, *, study, out, overwrite, include_preview=False, **options):
        study = study_by_slug(study)
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} is a file; give a folder.")
        if not out.parent.is_dir():
            raise CommandError(f"Folder {out.parent} does not exist; create it or choose another --out.")
        frames = export_frames(study, include_preview)
        clashes = [name for name in frames if (out / name).exists()]
        if clashes and not overwrite:
            raise CommandError(f"{out} already holds {', '.join(clashes)}; pass --overwrite or choose another --out.")

        def write(folder):
            for name, frame in frames.items():
                csv_text(name, frame, folder / name)

        publish_folder(out, write, f".{out.name}.")
        access.record_command(study, access.EXPORTED, f"export_responses to {out}"[:300])
        counts = ", ".join(f"{len(frame)} rows in {name}" for name, frame in frames.items())
        personal = [name for name in PLATFORM_ID_FILES if name in frames]
        self.stdout.write(f"Exported study {study.slug!r} to {out}: {counts}. {', '.join(personal[:-1])} and "
                          f"{personal[-1]} hold platform IDs (personal data): keep it for payments, do not share it.")
