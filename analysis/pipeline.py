"""Which tests run on which data: every table and figure of the report, from checked StudyData.

`manage.py analyze` runs run_analysis; `manage.py plan_study` runs model_tests (factor_tests for a model x method
plan) on simulated studies, so a planned power is the power of the report. Presentation is analysis/display.py, files analysis/writers.py.
"""

from dataclasses import dataclass, field

import pandas as pd

from analysis import choices as choice_stats
from analysis import explanations, factorial, figures, mixed, ordinal, stats
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


@dataclass
class Analysis:
    sample: object
    options: Options
    models: list
    choice_models: list
    tables: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)


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


def run_analysis(data, options):
    """Every table and figure of the report, from checked StudyData."""
    data, sample = select_sample(data, options.models, options.exclude_failed_attention,
                                 include_excluded=options.include_excluded, completed_only=options.completed_only)
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
    if options.mixed_model:  # the ratings as ordered categories, beside the linear mixed model, on its participants
        tables["clmm"], tables["clmm_thresholds"] = ordinal.mixed_ordinal_models(
            ratings, models, options.mixed_max_participants, options.seed)
    tables["ordinal"] = ordinal.ordinal_models(ratings, models, options.ordinal_max_rows, options.seed)

    choice_models = choice_stats.offered_models(data.choices, models)
    if len(data.choices):
        shares = choice_stats.choice_shares(data.choices, choice_models)
        per_participant = choice_stats.most_chosen(data.choices, choice_models)
        tables.update(
            choice_shares=shares,
            choice_chisquare=choice_stats.choice_goodness_of_fit(shares),
            most_chosen=per_participant,
            most_chosen_summary=choice_stats.most_chosen_summary(per_participant, choice_models),
            justifications=choice_stats.justifications(data.choices, choice_models),
        )
    if data.stimuli is not None:
        per_stimulus = explanations.stimulus_ratings(ratings, data.stimuli, models)
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
        if len(data.choices):
            tables["choice_model"] = factorial.choice_model(data.choices, choice_models)
    analysis = Analysis(sample, options, models, choice_models, tables)
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
    return analysis
