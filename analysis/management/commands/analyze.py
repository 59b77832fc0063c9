from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from analysis.loading import MODEL_ORDER, InputError, from_export_frames, read_export
from analysis.pipeline import Options, database_provenance, files_provenance, run_analysis
from analysis.writers import publish
from analysis.stats import DEFAULT_ZERO_METHOD, ZERO_METHODS
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
        parser.add_argument("--models", nargs="+", metavar="MODEL",
                            help="models to compare, in this order: built-in codes or imported models' names "
                                 "(default: those rated, the built-in ones in the order "
                                 f"{' '.join(MODEL_ORDER)}, then the others sorted); in a study of several "
                                 "methods, the cells to compare, e.g. 'M2×IG'")
        parser.add_argument("--exclude-failed-attention", action="store_true",
                            help="leave out participants who failed any attention check")
        parser.add_argument("--include-excluded", action="store_true",
                            help="keep participants the researcher excluded (participants.csv 'excluded'; left out "
                                 "by default)")
        parser.add_argument("--completed-only", action="store_true",
                            help="analyse only participants who completed the study (needs participants.csv)")
        parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
        parser.add_argument("--zero-method", choices=ZERO_METHODS, default=DEFAULT_ZERO_METHOD,
                            help=f"how the Wilcoxon tests treat zero differences (default {DEFAULT_ZERO_METHOD})")
        parser.add_argument("--seed", type=int, default=0,
                            help="seed of the ordinal and mixed models' subsamples on very large data and of the "
                                 "task tables' bootstrap intervals (default 0)")
        parser.add_argument("--no-mixed", action="store_true",
                            help="skip the mixed model with crossed random effects for participant and image "
                                 "(and the task blocks' condition model)")

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder.")
        if not 0 < options["alpha"] < 1:
            raise CommandError(f"--alpha must be between 0 and 1, not {options['alpha']}.")
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
        settings = Options(models=options["models"], alpha=options["alpha"], zero_method=options["zero_method"],
                           exclude_failed_attention=options["exclude_failed_attention"], seed=options["seed"],
                           include_excluded=options["include_excluded"], completed_only=options["completed_only"],
                           mixed_model=not options["no_mixed"])
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
