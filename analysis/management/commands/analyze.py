from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from analysis.loading import MODEL_ORDER, InputError, from_export_frames, read_export
from analysis.pipeline import Options, run_analysis
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
                            help="seed of the ordinal and mixed models' subsamples on very large data (default 0)")
        parser.add_argument("--no-mixed", action="store_true",
                            help="skip the mixed models with crossed random effects for participant and image "
                                 "(the linear one and the ordinal one)")

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder.")
        if not 0 < options["alpha"] < 1:
            raise CommandError(f"--alpha must be between 0 and 1, not {options['alpha']}.")
        files = [options[name] for name in ("ratings", "choices", "participants", "stimuli") if options[name]]
        if options["study"] and files:
            raise CommandError("Give either --study S or the exported files, not both.")
        if not options["study"] and not (options["ratings"] and options["choices"]):
            raise CommandError("Give --study S, or the exported files: --ratings ratings.csv --choices choices.csv "
                               "[--participants participants.csv] [--stimuli stimuli.csv].")
        settings = Options(models=options["models"], alpha=options["alpha"], zero_method=options["zero_method"],
                           exclude_failed_attention=options["exclude_failed_attention"], seed=options["seed"],
                           include_excluded=options["include_excluded"], completed_only=options["completed_only"],
                           mixed_model=not options["no_mixed"])
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
