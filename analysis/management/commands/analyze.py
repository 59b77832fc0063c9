from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from analysis.loading import InputError, from_export_frames, read_export
from analysis.management.options import add_analysis_arguments, analysis_options
from analysis.pipeline import run_analysis
from analysis.writers import publish
from studyapp.export import export_frames
from studyapp.management.studies import study_by_slug


class Command(BaseCommand):
    help = ("Analyze a study's responses (from the database with --study, or the CSV files of export_responses) "
            "and write report.html, report.md, results.json, tables/*.csv and figures/*.png into --out.")

    def add_arguments(self, parser):
        parser.add_argument("--study", help="a study's slug: read its answers from the database")
        parser.add_argument("--ratings", help="ratings.csv written by export_responses")
        parser.add_argument("--choices", help="choices.csv written by export_responses")
        parser.add_argument("--participants", help="participants.csv (needed for --exclude-failed-attention)")
        parser.add_argument("--stimuli", help="stimuli.csv (the stimuli's explanation metrics): adds the section "
                                              "'Explanation metrics and ratings'")
        parser.add_argument("--out", required=True, help="folder for the report (created; written all at once)")
        add_analysis_arguments(parser)

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder.")
        files = [options[name] for name in ("ratings", "choices", "participants", "stimuli") if options[name]]
        if options["study"] and files:
            raise CommandError("Give either --study S or the exported files, not both.")
        if not options["study"] and not (options["ratings"] and options["choices"]):
            raise CommandError("Give --study S, or the exported files: --ratings ratings.csv --choices choices.csv "
                               "[--participants participants.csv] [--stimuli stimuli.csv].")
        settings = analysis_options(options)
        try:
            if options["study"]:
                data = from_export_frames(export_frames(study_by_slug(options["study"])), f"study {options['study']!r}")
            else:
                data = read_export(options["ratings"], options["choices"], options["participants"], options["stimuli"])
            analysis = run_analysis(data, settings)
            publish(out, analysis, lambda context: render_to_string("analysis/report.html", context))
        except InputError as error:
            raise CommandError(f"Nothing was written.\n{error}") from error
        except OSError as error:
            raise CommandError(f"Cannot write the report to {out}: {error}. Nothing was written.") from error
        sample = analysis.sample
        self.stdout.write(f"Analysed {sample.analysed} participants, {sample.ratings} ratings of "
                          f"{' '.join(sample.models)}, {sample.choices} choices; report in {out}/report.html")
