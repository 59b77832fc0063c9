"""`manage.py create_study study.toml [--slug S]`: make the study a study file defines (studyapp/studyfile.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studyapp import readiness, studyfile


class Command(BaseCommand):
    help = ("Make the study a study file (export_study's TOML) defines, with the admin's validation: a file with any "
            "problem makes nothing and every problem is named. Its stimuli must be loaded on this instance.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The study file, e.g. study.toml.")
        parser.add_argument("--slug", help="The new study's slug, instead of the file's.")

    def handle(self, *, file, slug, **options):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}. Nothing was created.") from None
        try:
            study = studyfile.create_study(text, slug=slug)
        except studyfile.StudyFileError as error:
            raise CommandError(f"{file}: nothing was created; fix these and run it again:\n{error}") from None
        self.stdout.write(f"Created study {study.slug!r} ({study.title}) from {file}: {study.stimuli.count()} "
                          f"stimuli, {'open' if study.is_open else 'closed'}. Each participant gets "
                          f"{readiness.study_length(study)}.")
        for conflict in readiness.rule_conflicts(study):
            self.stderr.write(f"Warning: {conflict}")
