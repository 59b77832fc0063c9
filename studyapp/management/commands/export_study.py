"""`manage.py export_study SLUG study.toml [--without-codes]`: the study as a file (studyapp/studyfile.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studyapp import studyfile
from studyapp.management.studies import study_by_slug


class Command(BaseCommand):
    help = ("Write everything that defines a study (texts, pages, design and seed, attention checks, recruitment, "
            "limits, endings and codes, its stimuli by their files' SHA-256) as a TOML study file that "
            "`create_study` reads.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The study's slug.")
        parser.add_argument("out", type=Path, help="The study file to write, e.g. study.toml ('-': print it).")
        parser.add_argument("--without-codes", action="store_true",
                            help="Leave out the ending codes (secret on the platform) and write the study closed, "
                                 "to share the file.")
        parser.add_argument("--overwrite", action="store_true", help="Replace the file if it exists.")

    def handle(self, *, slug, out, without_codes, overwrite, **options):
        study = study_by_slug(slug)
        if str(out) != "-":
            if out.exists() and not overwrite:
                raise CommandError(f"{out} exists; pass --overwrite or choose another file.")
            if not out.parent.is_dir():
                raise CommandError(f"Folder {out.parent} does not exist; create it or choose another file.")
        try:
            text = studyfile.dump(study, without_codes=without_codes)
        except studyfile.StudyFileError as error:
            raise CommandError(f"Nothing was written.\n{error}") from error
        if str(out) == "-":
            self.stdout.write(text, ending="")
            return
        temporary = out.with_name(f".{out.name}.writing")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(out)
        self.stdout.write(f"Wrote study {study.slug!r} ({study.stimuli.count()} stimuli) to {out}"
                          + (" without its ending codes, closed." if without_codes else "."))
