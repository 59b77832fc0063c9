"""`manage.py reproduce DIR [--rtol R --atol A] [--keep FOLDER]`: check a replication package (manage.py package)
with only the package: its checksums, then its analysis rerun from data/ and compared number by number with
analysis/. Needs no database; exits non-zero naming every file and number that differs."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from analysis import package
from analysis.loading import InputError


class Command(BaseCommand):
    help = ("Check a replication package: every file against CHECKSUMS.sha256, then rerun its analysis from data/ "
            "with the recorded options and compare every number with DIR/analysis/results.json and "
            "DIR/analysis/tables/*.csv within the tolerance. Exits non-zero naming each difference.")
    requires_system_checks = []  # a replicator's instance may have no database

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="The package folder (unzipped).")
        parser.add_argument("--rtol", type=float, default=package.TOLERANCE["rtol"],
                            help=f"relative tolerance (default {package.TOLERANCE['rtol']})")
        parser.add_argument("--atol", type=float, default=package.TOLERANCE["atol"],
                            help=f"absolute tolerance (default {package.TOLERANCE['atol']})")
        parser.add_argument("--keep", type=Path, help="a new folder to keep the rerun's report in")

    def handle(self, *, folder, rtol, atol, keep, **options):
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder; unzip the package and give its folder.")
        if keep is not None and keep.exists():
            raise CommandError(f"--keep {keep} exists; give a new folder.")
        try:
            check = package.reproduce(folder, lambda context: render_to_string("analysis/report.html", context),
                                      rtol=rtol, atol=atol, keep=keep)
        except (package.PackageError, InputError) as error:
            raise CommandError(f"{folder}: the analysis cannot be rerun.\n{error}") from error
        lines = [f"Files: {len(check.problems)} problem(s):" if check.problems else
                 "Files: every file matches CHECKSUMS.sha256."]
        lines += [f"  {problem}" for problem in check.problems]
        lines.append(f"Results: {check.compared} values compared within |shipped - rerun| <= {atol} + {rtol} x the "
                     f"larger; {len(check.differences)} differ.")
        lines += [f"  {difference}" for difference in check.differences]
        if check.ok:
            self.stdout.write("\n".join(lines) + f"\nReproduced: {folder}")
            return
        raise CommandError("\n".join(lines) + f"\nNot reproduced: {folder}")
