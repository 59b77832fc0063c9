"""The analysis options that `analyze` and `package` share (analysis.pipeline.option_flags gives them back)."""

from django.core.management.base import CommandError

from analysis.loading import MODEL_ORDER
from analysis.pipeline import Options
from analysis.stats import DEFAULT_ZERO_METHOD, ZERO_METHODS


def add_analysis_arguments(parser):
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
                        help="skip the mixed models with crossed random effects for participant and image "
                             "(the linear one, the ordinal one and the task blocks' condition model)")


def analysis_options(options):
    """Options from the parsed arguments of add_analysis_arguments; CommandError for a bad --alpha."""
    if not 0 < options["alpha"] < 1:
        raise CommandError(f"--alpha must be between 0 and 1, not {options['alpha']}.")
    return Options(models=options["models"], alpha=options["alpha"], zero_method=options["zero_method"],
                   exclude_failed_attention=options["exclude_failed_attention"], seed=options["seed"],
                   include_excluded=options["include_excluded"], completed_only=options["completed_only"],
                   mixed_model=not options["no_mixed"])

