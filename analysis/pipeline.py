"""Which tests run on which data: every table and figure of the report, from checked StudyData.

`manage.py analyze` runs run_analysis; `manage.py plan_study` runs model_tests (factor_tests for a model x method
plan) on simulated studies, so a planned power is the power of the report. Presentation is analysis/display.py, files analysis/writers.py.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis import choices as choice_stats
from analysis import explanations, factorial, figures, mixed, ordinal, stats
from analysis import tasks as task_stats
from analysis.loading import select_sample
from studyapp.schema import METRIC_NAMES


@dataclass
class Options:
    models: list | None = None
    alpha: float = 0.05
    zero_method: str = stats.DEFAULT_ZERO_METHOD
    exclude_failed_attention: bool = False
    include_excluded: bool = False  # keep participants the researcher excluded
    completed_only: bool = False  # analyse completed participants only
    seed: int = 0
    ordinal_max_rows: int = ordinal.MAX_ROWS
    mixed_model: bool = True
    mixed_max_participants: int = mixed.MAX_PARTICIPANTS


def option_flags(options):
    """The `analyze` flags that give `options` back, defaults left out (the replication package records them)."""
    default = Options()
    flags = ["--models", *options.models] if options.models else []
    for name, flag in (("alpha", "--alpha"), ("zero_method", "--zero-method"), ("seed", "--seed")):
        if getattr(options, name) != getattr(default, name):
            flags += [flag, str(getattr(options, name))]
    switches = (("exclude_failed_attention", "--exclude-failed-attention"),
                ("include_excluded", "--include-excluded"), ("completed_only", "--completed-only"))
    flags += [flag for name, flag in switches if getattr(options, name)]
    return flags + ([] if options.mixed_model else ["--no-mixed"])


@dataclass
class Provenance:
    """What a report was made from, and when: the report names them first, and results.json keeps them."""

    study: str | None  # the study's title (None: the export files do not name it)
    slug: str | None  # its slug, when read from the database
    source: str  # the data read: the study's database, or the export files
    made_at: str  # when the report was made: UTC, ISO 8601 to the second


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def database_provenance(title, slug):
    return Provenance(title, slug, f"the answers of study {slug!r} in the database when the report was made",
                      now_utc())


def files_provenance(sources, title=None):
    """The export files (`sources`: StudyData.sources, file names by role), each with the time it was written."""
    files = []
    for path in sources.values():
        written = datetime.fromtimestamp(Path(path).stat().st_mtime, timezone.utc).replace(microsecond=0)
        files.append(f"{Path(path).resolve()} (written {written.isoformat()})")
    return Provenance(title, None, "the export files " + ", ".join(files), now_utc())


@dataclass
class Analysis:
    sample: object
    options: Options
    models: list
    choice_models: list
    tables: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    provenance: Provenance | None = None
    metrics_left_out: bool = False  # stimuli were given, but none of those rated has an explanation metric
    task_answers: int = 0  # answers in tasks.csv analysed (0: the study has no task blocks)


def model_tests(ratings, models, options):
    """The tests of differences between models, as the report runs them: (participant means, tables).

    `manage.py plan_study` runs them on simulated studies, so a planned power is the power of this report.
    """
    means = stats.participant_means(ratings, models)
    tables = {
        "wilcoxon_ratings": stats.wilcoxon_pairs(stats.paired_ratings(ratings, models), models, options.zero_method),
        "anova": stats.one_way_anova(ratings, models),
        "friedman": stats.friedman_kendall(means, models),
        "wilcoxon_participants": stats.wilcoxon_pairs(means, models, options.zero_method,
                                                      decimals=stats.MEAN_DECIMALS, unit="participants"),
    }
    if options.mixed_model:
        tables["mixed"] = mixed.mixed_models(ratings, models, options.mixed_max_participants, options.seed)
    return means, tables


def factor_tests(ratings, levels, options):
    """The two-factor tests (model x method), as the report runs them: Friedman per factor and, unless
    --no-mixed, the crossed mixed model's terms and contrasts. `manage.py plan_study` runs them on simulated
    model x method studies."""
    tables = {"friedman_factors": factorial.friedman_factors(ratings, levels)}
    if options.mixed_model:
        tables["factorial_mixed"], tables["factorial_contrasts"] = factorial.factorial_mixed(
            ratings, levels, options.mixed_max_participants, options.seed)
    return tables


def task_tests(answers, options):
    """The tests of the task blocks' conditions, as the report runs them: utility against each model's control
    (Mann-Whitney U, Welch's t) and, unless --no-mixed, the condition model. `manage.py plan_study` runs them on
    simulated studies (without the bootstrap intervals, which decide nothing), so a planned power is the power of
    this report."""
    tables = {"task_utility": task_stats.utility_table(task_stats.participant_accuracy(answers), options.seed,
                                                       resamples=False)}
    if options.mixed_model:
        tables["task_condition_model"] = task_stats.condition_model(answers)
    return tables


def run_analysis(data, options, provenance=None):
    """Every table and figure of the report, from checked StudyData (`provenance`: what it was made from)."""
    stimuli = data.stimuli  # as exported: select_sample names a many-method study's stimuli by cell
    data, sample = select_sample(data, options.models, options.exclude_failed_attention,
                                 include_excluded=options.include_excluded, completed_only=options.completed_only)
    if not len(data.ratings):  # a study of task blocks only
        analysis = Analysis(sample, options, [], [], provenance=provenance)
        if sample.flow:
            analysis.tables["participant_flow"] = pd.DataFrame(sample.flow, columns=["step", "participants"])
            analysis.figures[figures.FLOW_FIGURE] = figures.flow_figure(sample.flow)
        return with_tasks(analysis, data.tasks, stimuli)
    models = sample.models
    ratings = data.ratings
    tables = {}
    if sample.flow:
        tables["participant_flow"] = pd.DataFrame(sample.flow, columns=["step", "participants"])
    tables |= {
        "descriptives": stats.descriptives(ratings, models),
        "descriptives_by_dataset": stats.descriptives(ratings, models, by=("dataset",)),
    }
    means, tests = model_tests(ratings, models, options)
    tables.update(tests)
    tables["mean_ci"] = stats.participant_mean_ci(means, models)
    flat = means.copy()
    flat.columns = [f"{statement}_{model}" for statement, model in flat.columns]
    tables["participant_means"] = flat.reset_index().astype({"participant": str})
    tables["rating_design"] = stats.rating_design(ratings)
    if options.mixed_model:  # the ratings as ordered categories, beside the linear mixed model, on its participants
        tables["clmm"], tables["clmm_thresholds"] = ordinal.mixed_ordinal_models(
            ratings, models, options.mixed_max_participants, options.seed)
    tables["ordinal"] = ordinal.ordinal_models(ratings, models, options.ordinal_max_rows, options.seed)

    choice_models = choice_stats.offered_models(data.choices, models)
    if len(data.choices):
        sets = choice_stats.compared_sets(data.choices, choice_models)
        shares = choice_stats.choice_shares(data.choices, sets)
        per_participant = choice_stats.most_chosen(data.choices, sets)
        tables.update(
            choice_shares=shares,
            choice_chisquare=choice_stats.choice_goodness_of_fit(shares, sets),
            most_chosen=per_participant,
            most_chosen_summary=choice_stats.most_chosen_summary(per_participant, sets),
            justifications=choice_stats.justifications(data.choices, choice_models),
        )
        # The paired-comparison model: for the cells of a two-factor study, and wherever pages showed only part of
        # their set (the shares' chi-square then has no equal-shares null).
        if factorial.has_two_factors(ratings) or not all(map(sets.whole_pages, range(len(sets.members)))):
            tables["choice_model"] = choice_stats.paired_comparison(sets)
    per_stimulus = None if data.stimuli is None else explanations.stimulus_ratings(ratings, data.stimuli, models)
    # Imported maps carry no metrics: a section of empty tables says less than one sentence saying why.
    metrics_left_out = per_stimulus is not None and not per_stimulus[list(METRIC_NAMES)].notna().any(axis=None)
    if per_stimulus is not None and not metrics_left_out:
        tables.update(
            stimulus_metrics=per_stimulus,
            metric_correlations=explanations.metric_correlations(per_stimulus),
            metric_agreement=explanations.within_image_agreement(per_stimulus, models),
            metric_means=explanations.metric_means(per_stimulus, models),
        )
    if factorial.has_two_factors(ratings):
        levels = factorial.factor_levels(ratings)
        tables.update(
            factor_levels=pd.DataFrame([{"factor": f, "levels": " ".join(levels[f])} for f in factorial.FACTORS]),
            cell_descriptives=factorial.cell_descriptives(ratings, levels),
        )
        tables.update(factor_tests(ratings, levels, options))
        if options.mixed_model:
            tables["factorial_clmm"], tables["factorial_clmm_contrasts"] = factorial.factorial_clmm(
                ratings, levels, options.mixed_max_participants, options.seed)
    analysis = Analysis(sample, options, models, choice_models, tables, provenance=provenance,
                        metrics_left_out=metrics_left_out)
    analysis.figures = {
        "mean_ci": figures.mean_ci_figure(tables["mean_ci"], models),
        "likert": figures.likert_figure(tables["descriptives"], models),
    }
    if sample.flow:  # the flow table's own pairs: one source of numbers for the table and the figure
        analysis.figures[figures.FLOW_FIGURE] = figures.flow_figure(sample.flow)
    if "choice_shares" in tables:
        analysis.figures["choice_shares"] = figures.choice_figure(tables["choice_shares"], choice_models)
    if "cell_descriptives" in tables:
        analysis.figures["cell_means"] = figures.cell_means_figure(tables["cell_descriptives"], levels)
    if "stimulus_metrics" in tables:
        analysis.figures["metric_ratings"] = figures.metric_rating_figure(
            tables["stimulus_metrics"], models, METRIC_NAMES, explanations.METRIC_LABELS)
    return with_tasks(analysis, data.tasks, stimuli)


def with_tasks(analysis, answers, stimuli):
    """The analysis with the task blocks' tables and accuracy figure added (analysis/tasks.py); unchanged for a
    study without task answers."""
    if answers is None or not len(answers):
        return analysis
    options = analysis.options
    analysis.tables |= task_stats.task_tables(answers, stimuli, options.seed, options.zero_method,
                                              options.mixed_model)
    analysis.task_answers = len(answers)
    analysis.figures[figures.TASK_ACCURACY_FIGURE] = figures.task_accuracy_figure(analysis.tables["task_accuracy"])
    return analysis
