from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from analysis.loading import InputError, from_export_frames, read_export
from analysis.management.options import add_analysis_arguments, analysis_options
from analysis.pipeline import database_provenance, files_provenance, run_analysis
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
        parser.add_argument("--title", help="the study's name at the top of a report made from export files (the "
                                            "files do not carry it; with --study the report names the study itself)")
        parser.add_argument("--tasks", help="tasks.csv (the answers of the task blocks): adds the section 'Tasks with "
                                            "a right answer'; a study of task blocks only needs neither --ratings "
                                            "nor --choices")
        parser.add_argument("--out", required=True, help="folder for the report (created; written all at once)")
        add_analysis_arguments(parser)

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder.")
        files = [options[name] for name in ("ratings", "choices", "participants", "stimuli", "tasks") if options[name]]
        if options["study"] and files:
            raise CommandError("Give either --study S or the exported files, not both.")
        if options["study"] and options["title"]:
            raise CommandError("--title names a study analysed from export files; with --study the report takes the "
                               "study's own title.")
        answers = (options["ratings"] and options["choices"]) or (options["tasks"] and not options["ratings"]
                                                                    and not options["choices"])
        if not options["study"] and not answers:
            raise CommandError("Give --study S, or the exported files: --ratings ratings.csv --choices choices.csv "
                               "[--participants participants.csv] [--stimuli stimuli.csv] [--tasks tasks.csv] (a "
                               "study of task blocks only: --tasks tasks.csv without --ratings and --choices).")
        settings = analysis_options(options)
        try:
            if options["study"]:
                study = study_by_slug(options["study"])
                data = from_export_frames(export_frames(study), f"study {study.slug!r}")
                provenance = database_provenance(study.title, study.slug)
            else:
                data = read_export(options["ratings"], options["choices"], options["participants"], options["stimuli"],
                                   options["tasks"])
                provenance = files_provenance(data.sources, options["title"])
            analysis = run_analysis(data, settings, provenance)
            publish(out, analysis, lambda context: render_to_string("analysis/report.html", context))
        except InputError as error:
            raise CommandError(f"Nothing was written.\n{error}") from error
        except OSError as error:
            raise CommandError(f"Cannot write the report to {out}: {error}. Nothing was written.") from error
        sample = analysis.sample
        counts = [f"{sample.ratings} ratings of {' '.join(sample.models)}", f"{sample.choices} choices"] * bool(
            sample.models) + [f"{analysis.task_answers} task answers"] * bool(analysis.task_answers)
        self.stdout.write(f"Analysed {sample.analysed} participants, {', '.join(counts)}; report in "
                          f"{out}/report.html")
