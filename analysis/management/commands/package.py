"""`manage.py package --study S --out DIR [--power power.json] [--without-justifications] [analysis options]`:
the study's replication package in DIR and DIR.zip (analysis/package.py lays it out; studyapp/replication.py
gathers it). All or nothing: DIR and DIR.zip appear only when every file was written and checked."""

import json
import os
import platform
import shlex
import subprocess
from importlib import metadata
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from analysis import package
from analysis.loading import InputError
from analysis.management.options import add_analysis_arguments, analysis_options
from analysis.pipeline import option_flags
from saliency.files import publish_folder
from studyapp import replication
from studyapp.management.studies import study_by_slug
from studyapp.rehearsal import RehearsalError

PROJECT = "saliency-study"
# The distributions the analysis and the package run on; README.md lists each with its exact version.
REQUIREMENTS = ("django", "numpy", "scipy", "statsmodels", "pandas", "matplotlib", "pillow")


def render_report(context):
    return render_to_string("analysis/report.html", context)


def git(*args):
    try:
        return subprocess.run(["git", "-C", str(settings.BASE_DIR), *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def software(command):
    """The versions and the command line that made the package (the README's requirements, the provenance)."""
    commit = git("rev-parse", "HEAD")
    return {"command": "manage.py " + shlex.join(command), "version": metadata.version(PROJECT),
            "commit": commit, "dirty": bool(git("status", "--porcelain")) if commit else None,
            "python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "packages": {name: metadata.version(name) for name in REQUIREMENTS}}


def package_parts(study, analysis_settings, command, plan=None, without_justifications=False,
                  checkpoints=Path(settings.BASE_DIR) / "fixtures" / "models"):
    """Everything the package is made of, gathered from the study (studyapp.replication); FileNotFoundError or
    RehearsalError when a stimulus file is missing or a page cannot be snapshot."""
    files, manifest = replication.stimulus_materials(study)
    return package.Parts(
        facts=replication.study_facts(study), frames=replication.shared_frames(study, without_justifications),
        study_toml=replication.study_file(study), stimulus_files=files, stimulus_manifest=manifest,
        generation=replication.generation_provenance(manifest, checkpoints), consent=replication.consent_texts(study),
        pages=replication.page_snapshots(study), options=analysis_settings, software=software(command),
        secrets=replication.secrets(study), power=plan, without_justifications=without_justifications)


class Command(BaseCommand):
    help = ("Write a study's replication package, laid out as Psych-DS 0.4 asks, into DIR and DIR.zip: "
            "dataset_description.json, data/ (no platform IDs, withdrawn or erased participants), materials/ "
            "(study.toml, stimuli with SHA-256 and provenance, consent texts, page snapshots), analysis/ (the "
            "report, exclusions, provenance), prereg.md, README.md and CHECKSUMS.sha256.")

    def add_arguments(self, parser):
        parser.add_argument("--study", help="The study's slug.")
        parser.add_argument("--out", type=Path, help="The package folder to make (DIR; also DIR.zip).")
        parser.add_argument("--rehash", type=Path, metavar="DIR",
                            help="After you filled in README.md, prereg.md and dataset_description.json of the "
                                 "package DIR: write its CHECKSUMS.sha256 and DIR.zip again (nothing else may "
                                 "have changed).")
        parser.add_argument("--power", type=Path, help="plan_study's power.json: prereg.md's sample size from it.")
        parser.add_argument("--without-justifications", action="store_true",
                            help="Leave the participants' written justifications out of the data and the report.")
        parser.add_argument("--checkpoints", type=Path, default=Path(settings.BASE_DIR) / "fixtures" / "models",
                            help="Where the stimuli's checkpoints are, for their SHA-256 (default fixtures/models).")
        add_analysis_arguments(parser)

    def handle(self, *, study, out, rehash, power, without_justifications, checkpoints, **options):
        if rehash is not None:
            if study or out:
                raise CommandError("Give either --rehash DIR, or --study S --out DIR.")
            return self.rehash(rehash)
        if not (study and out):
            raise CommandError("Give --study S --out DIR (or --rehash DIR).")
        study = study_by_slug(study)
        archive = out.with_name(out.name + ".zip")
        for path in (out, archive):
            if path.exists():
                raise CommandError(f"{path} exists; a package is written into a new folder. Remove it or choose "
                                   "another --out.")
        if not out.parent.is_dir():
            raise CommandError(f"Folder {out.parent} does not exist; create it or choose another --out.")
        plan = self.read_power(power) if power else None
        analysis_settings = analysis_options(options)
        # File names only: a folder's path may name the person who made the package (/home/NAME/...).
        command = ["package", "--study", study.slug, "--out", out.name, *(["--power", power.name] if power else []),
                   *(["--without-justifications"] if without_justifications else []),
                   *option_flags(analysis_settings)]
        try:
            parts = package_parts(study, analysis_settings, command, plan, without_justifications, checkpoints)
        except (FileNotFoundError, RehearsalError) as error:
            raise CommandError(f"Nothing was written. {error}") from None
        made = {}
        zipped = out.with_name(f".{out.name}.zip.writing")

        def write(folder):
            made["package"] = package.write_package(folder, parts, render_report)
            package.zip_package(folder, zipped, out.name)

        try:
            publish_folder(out, write, f".{out.name}.")
            zipped.replace(archive)
        except (package.PackageError, InputError) as error:
            raise CommandError(f"Nothing was written.\n{error}") from error
        except OSError as error:
            raise CommandError(f"Cannot write the package to {out}: {error}. Nothing was written.") from error
        finally:
            zipped.unlink(missing_ok=True)
        result = made["package"]
        sample = result.analysis.sample
        missing = [entry["checkpoint"] for entry in ((parts.generation.get("generated") or {}).get("checkpoints", []))
                   if entry["sha256"] is None]
        if missing:
            self.stderr.write(f"Warning: checkpoint(s) {', '.join(missing)} not found in {checkpoints}: "
                              "materials/stimuli/provenance.json has no SHA-256 for them (give --checkpoints).")
        self.stdout.write(f"Wrote the replication package of {study.slug!r} to {out} and {archive}: "
                          f"{result.files} files; {sample.analysed} participants analysed, {sample.ratings} "
                          f"ratings, {sample.choices} choices"
                          + (f", {result.analysis.task_answers} task answers" if result.analysis.task_answers else "")
                          + f" (analysis {result.seconds:.1f} s). Fill in the "
                          f"fields marked [Researcher: ...] in README.md, prereg.md and dataset_description.json.")

    def rehash(self, folder):
        if not (folder / package.CHECKSUMS).is_file():
            raise CommandError(f"{folder} is no replication package (no {package.CHECKSUMS}).")
        try:
            changed = package.rehash(folder, folder.name)
        except package.PackageError as error:
            raise CommandError(f"Nothing was changed.\n{error}") from error
        self.stdout.write(f"Wrote {folder / package.CHECKSUMS} and {folder.name}.zip again"
                          + (f" with the new {', '.join(changed)}." if changed else " (nothing had changed)."))

    @staticmethod
    def read_power(path):
        try:
            plan = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"--power {path}: cannot read plan_study's power.json: {error}.") from None
        if not isinstance(plan, dict) or "answers" not in plan:
            raise CommandError(f"--power {path}: not plan_study's power.json (no 'answers').")
        return plan
