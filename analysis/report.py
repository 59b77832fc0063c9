"""Run every analysis on checked data and write the report: HTML, Markdown, CSV tables, JSON, PNGs.

The HTML page is rendered by a function the caller passes in (the management command renders
templates/analysis/report.html, where Django autoescapes all text); this module stays free of Django.
"""

import base64
import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import choices as choice_stats
from analysis import explanations, figures, mixed, ordinal, stats
from analysis.loading import LIKERT_LEVELS, STATEMENTS, select_sample
from saliency.files import json_ready, publish_folder
from studyapp.schema import DELETED_OUTCOMES, METRIC_NAMES, guard_formulas

JUSTIFICATIONS_SHOWN = 25  # per model in report.html and report.md; all of them are in tables/justifications.csv
# Tables with one row per participant or per answer: CSV only, not repeated in results.json.
PER_ROW_TABLES = ("participant_means", "most_chosen", "justifications", "stimulus_metrics")


@dataclass
class Options:
    models: list | None = None
    alpha: float = 0.05
    zero_method: str = stats.DEFAULT_ZERO_METHOD
    exclude_failed_attention: bool = False
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


def run_analysis(data, options):
    """Every table and figure of the report, from checked StudyData."""
    data, sample = select_sample(data, options.models, options.exclude_failed_attention)
    models = sample.models
    ratings = data.ratings
    tables = {
        "descriptives": stats.descriptives(ratings, models),
        "descriptives_by_dataset": stats.descriptives(ratings, models, by=("dataset",)),
    }
    means, tests = model_tests(ratings, models, options)
    tables.update(tests)
    tables["mean_ci"] = stats.participant_mean_ci(means, models)
    flat = means.copy()
    flat.columns = [f"{statement}_{model}" for statement, model in flat.columns]
    tables["participant_means"] = flat.reset_index().astype({"participant": str})
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
    analysis = Analysis(sample, options, models, choice_models, tables)
    analysis.figures = {
        "mean_ci": figures.mean_ci_figure(tables["mean_ci"], models),
        "likert": figures.likert_figure(tables["descriptives"], models),
    }
    if "choice_shares" in tables:
        analysis.figures["choice_shares"] = figures.choice_figure(tables["choice_shares"], choice_models)
    if "stimulus_metrics" in tables:
        analysis.figures["metric_ratings"] = figures.metric_rating_figure(
            tables["stimulus_metrics"], models, METRIC_NAMES, explanations.METRIC_LABELS)
    return analysis


# ---- formatting -------------------------------------------------------------------------------

def format_p(p):
    """Scientific notation as in the study's Table 3: 9.79E-41."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    if p == 0:
        return "<2.23E-308"  # below the smallest normal double: scipy returns 0
    return f"{p:.2E}"


def format_number(value, decimals=2):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{decimals}f}"


def format_mean_sd(mean, sd):
    return f"{format_number(mean)} +- {format_number(sd)}"


def mark(p, alpha):
    return " *" if p is not None and not math.isnan(p) and p < alpha else ""


@dataclass
class DisplayTable:
    """A table as the reader sees it, shared by the HTML template and the Markdown writer."""

    title: str
    caption: str
    header: list
    rows: list
    csv: str = ""


def descriptive_rows(table, by=()):
    return [[*(str(r[c]) for c in by), r["statement"].capitalize(), r["model"], str(int(r["n"])),
             format_mean_sd(r["mean"], r["sd"]), format_number(r["median"], 1),
             *(str(int(r[f"n_{v}"])) for v in LIKERT_LEVELS)]
            for _, r in table.iterrows()]


def pair_cells(row, alpha):
    return [format_number(row["statistic"], 1), format_p(row["p"]),
            format_p(row["p_holm"]) + mark(row["p_holm"], alpha), format_number(row["rank_biserial"], 3)]


def pair_header(models, what):
    return [f"{a} vs {b}: {w}" for a, b in stats.model_pairs(models) for w in what]


def mixed_tables(fits, alpha):
    """The mixed model's comparisons, then its variance components and convergence (one row per statement)."""
    first = fits.iloc[0]
    subsample = (f" Fitted on a random subsample of {first['n_participants_fitted']:,} of {first['n_participants']:,} "
                 f"participants (numpy default_rng seed {first['seed']})." if first["subsampled"] else "")
    comparisons = DisplayTable(
        "Mixed model: crossed random effects for participant and image (primary test)",
        f"Linear mixed model rating ~ model + (1 | participant) + (1 | image) per statement (statsmodels MixedLM, "
        f"REML), {first['reference']} the reference. Estimate: mean rating of the second model minus the first; "
        f"the pairs with {first['reference']} are the model's fixed effects, the others contrasts of them, all "
        f"z-tested from the fitted covariance of the fixed effects; p (Holm): Holm-adjusted over the model pairs "
        f"within each statement. * marks p < {alpha}.{subsample}",
        ["Statement", "Comparison", "Estimate", "SE", "z", "p", "p (Holm)", "95% CI"],
        [[r["statement"].capitalize(), f"{r['model_a']} vs {r['model_b']}", format_number(r["estimate"], 3),
          format_number(r["se"], 3), format_number(r["z"]), format_p(r["p"]),
          format_p(r["p_holm"]) + mark(r["p_holm"], alpha),
          f"[{format_number(r['ci_low'], 3)}, {format_number(r['ci_high'], 3)}]"] for _, r in fits.iterrows()],
        "mixed.csv")
    per_fit = fits.drop_duplicates("statement")
    warnings = "; ".join(f"{r['statement']}: {r['fit_warnings']}" for _, r in per_fit.iterrows() if r["fit_warnings"])
    components = DisplayTable(
        "Mixed model: variance components and convergence",
        "Variance of the participants' and the images' random intercepts and of the residual, in squared rating "
        "points (REML estimates), and whether the optimizer converged. A variance near 0 means the ratings hardly "
        "differ by participant (or image) beyond the model effects."
        + (f" statsmodels warned: {warnings}." if warnings else ""),
        ["Statement", "Participant variance", "Image variance", "Residual variance", "Participants", "Images",
         "Ratings", "Converged"],
        [[r["statement"].capitalize(), format_number(r["participant_variance"], 3),
          format_number(r["image_variance"], 3), format_number(r["residual_variance"], 3),
          f"{r['n_participants_fitted']:,}", f"{r['n_images']:,}", f"{r['n_ratings_fitted']:,}",
          "yes" if r["converged"] else "NO: do not read its numbers"] for _, r in per_fit.iterrows()],
        "mixed.csv")
    return [comparisons, components]


def display_tables(analysis):
    """The report's tables, formatted: the same content for report.html and report.md."""
    t, alpha, models = analysis.tables, analysis.options.alpha, analysis.models
    zero = analysis.options.zero_method
    pair_what = ("W", "p", "p (Holm)", "r")
    distribution = [f"n({v})" for v in LIKERT_LEVELS]
    shown = [
        DisplayTable("Descriptives", "Ratings per model and statement: n, mean +- SD (ddof=1), median and the "
                     "number of answers 1 (strongly disagree) to 5 (strongly agree).",
                     ["Statement", "Model", "n", "Mean +- SD", "Median", *distribution],
                     descriptive_rows(t["descriptives"]), "descriptives.csv"),
        DisplayTable("Descriptives per dataset", "As above, for each dataset.",
                     ["Dataset", "Statement", "Model", "n", "Mean +- SD", "Median", *distribution],
                     descriptive_rows(t["descriptives_by_dataset"], by=("dataset",)), "descriptives_by_dataset.csv"),
    ]
    if "mixed" in t:
        shown += mixed_tables(t["mixed"], alpha)
    per_person = t["wilcoxon_participants"]
    rows = []
    for statement, friedman in zip(STATEMENTS, t["friedman"].to_dict("records")):
        pairs = per_person[per_person["statement"] == statement]
        rows.append([statement.capitalize(), str(friedman["n"]),
                     f"chi2({friedman['df']}) = {format_number(friedman['chi2'])}",
                     format_p(friedman["p"]) + mark(friedman["p"], alpha), format_number(friedman["kendall_w"], 3),
                     *[c for _, r in pairs.iterrows() for c in pair_cells(r, alpha)]])
    shown.append(DisplayTable(
        "Participant-level tests (each participant one unit)",
        f"Each participant's mean rating per model; Friedman test over participants who rated every model, "
        f"with Kendall's W = chi2 / (n (k - 1)); Wilcoxon signed-rank tests on the participants' means "
        f"(differences rounded to {stats.MEAN_DECIMALS} decimals before ranking so float noise does not split "
        f"ties; zero_method='{zero}'; Holm within each statement). * marks p < {alpha}."
        + (" The Friedman test needs three or more models." if len(models) < 3 else ""),
        ["Statement", "n", "Friedman", "p", "Kendall's W", *pair_header(models, pair_what)], rows,
        "friedman.csv, wilcoxon_participants.csv, participant_means.csv"))

    ci = t["mean_ci"]
    shown.append(DisplayTable(
        "Mean per model with 95% confidence interval", "Mean of the participants' means with a t interval "
        "over participants (the figure's error bars).",
        ["Statement", "Model", "Participants", "Mean", "95% CI"],
        [[r["statement"].capitalize(), r["model"], str(r["n_participants"]), format_number(r["mean"]),
          f"[{format_number(r['ci_low'])}, {format_number(r['ci_high'])}]"] for _, r in ci.iterrows()],
        "mean_ci.csv"))

    pooled = t["wilcoxon_ratings"]
    rows = []
    for statement, anova in zip(STATEMENTS, t["anova"].to_dict("records")):
        pairs = pooled[pooled["statement"] == statement]
        rows.append([statement.capitalize(), *[c for _, r in pairs.iterrows() for c in pair_cells(r, alpha)],
                     f"F({anova['df_between']}, {anova['df_within']}) = {format_number(anova['F'])}",
                     format_p(anova["p"]) + mark(anova["p"], alpha), format_number(anova["eta_squared"], 3)])
    n_pairs = ", ".join(f"{r['model_a']} vs {r['model_b']}: {r['n']}" for _, r in pooled.drop_duplicates(
        ["model_a", "model_b"]).iterrows())
    shown.append(DisplayTable(
        "Table 3 layout: pooled tests (every rating one observation)",
        f"Wilcoxon signed-rank tests pairing the two models' ratings of the same image by the same participant "
        f"(pairs: {n_pairs}); zero_method='{zero}'; W is scipy's statistic (the smaller signed-rank sum); "
        f"p (Holm): Holm-adjusted within each statement (statsmodels method='holm'); r: matched-pairs "
        f"rank-biserial, positive when the second model is rated higher. One-way ANOVA across models on all "
        f"ratings with eta squared. * marks p < {alpha}. These tests treat every rating as independent: "
        f"read them to compare with the published study, not to draw conclusions.",
        ["Statement", *pair_header(models, pair_what), "ANOVA F(df)", "ANOVA p", "eta^2"], rows,
        "wilcoxon_ratings.csv, anova.csv"))

    fits = t["ordinal"]
    first = fits.iloc[0]
    subsample = (f" Fitted on a random subsample of {first['n_fitted']:,} of {first['n_ratings']:,} ratings "
                 f"(numpy default_rng seed {first['seed']})." if first["subsampled"] else "")
    shown.append(DisplayTable(
        "Ordinal model (sensitivity check)",
        f"Cumulative logit model (statsmodels OrderedModel, distr='logit') of each statement on model variant, "
        f"{models[0]} the reference; odds ratio > 1: higher answers more likely than with {models[0]}. Pools all "
        f"ratings like the published tests.{subsample}"
        + ("" if fits["converged"].all() else " WARNING: the fit did not converge for "
           + ", ".join(sorted(set(fits.loc[~fits["converged"], "statement"]))) + " (often: near-perfect "
           "separation of the answers by model); do not read its coefficients."),
        ["Statement", "Model", "log OR", "SE", "Odds ratio", "95% CI", "p"],
        [[r["statement"].capitalize(), f"{r['model']} vs {r['reference']}", format_number(r["coef"], 3),
          format_number(r["se"], 3), format_number(r["odds_ratio"]),
          f"[{format_number(r['or_ci_low'])}, {format_number(r['or_ci_high'])}]",
          format_p(r["p"]) + mark(r["p"], alpha)] for _, r in fits.iterrows()],
        "ordinal.csv"))

    if "choice_shares" in t:
        choice_models = analysis.choice_models
        chi = t["choice_chisquare"].set_index("dataset")
        rows = []
        for dataset, group in t["choice_shares"].groupby("dataset", sort=False):
            test = chi.loc[dataset]
            rows.append([dataset, str(int(test["n"])),
                         *[f"{r['count']} ({100 * r['share']:.1f} %)" for _, r in group.iterrows()],
                         f"chi2({int(test['df'])}) = {format_number(test['chi2'])}",
                         format_p(test["p"]) + mark(test["p"], alpha)])
        shown.append(DisplayTable(
            "Side-by-side choices",
            "Count and share of all choices per chosen model (shares of choices, not of people), overall and per "
            "dataset; chi-square goodness of fit against equal shares.",
            ["Dataset", "Choices", *choice_models, "Chi-square", "p"], rows,
            "choice_shares.csv, choice_chisquare.csv"))
        summary = t["most_chosen_summary"]
        shown.append(DisplayTable(
            "Each participant's most-chosen model",
            "Participants by the model they chose most often; ties (e.g. A/M2) are their own row.",
            ["Most chosen", "Participants", "Share"],
            [[r["most_chosen"], str(r["participants"]), f"{100 * r['share']:.1f} %"] for _, r in summary.iterrows()],
            "most_chosen.csv, most_chosen_summary.csv"))
    return shown


def metric_tables(analysis):
    """The section "Explanation metrics and ratings" (only with stimuli.csv): its tables, formatted."""
    t = analysis.tables
    if "stimulus_metrics" not in t:
        return []
    alpha, labels = analysis.options.alpha, explanations.METRIC_LABELS
    metric_names = METRIC_NAMES
    means = t["metric_means"]
    shown = [DisplayTable(
        "Metrics per model", "Mean of each explanation metric over the model's rated stimuli (n: stimuli with a "
        "value; RIS/ROS are empty where noise changed the prediction). Better: "
        + ", ".join(f"{labels[m]} {explanations.METRIC_BETTER[m]}" for m in metric_names) + ".",
        ["Model", "Stimuli", *[labels[m] for m in metric_names]],
        [[r["model"], str(r["stimuli"]), *[f"{r[f'mean_{m}']:.4g} (n={r[f'n_{m}']})" if r[f"n_{m}"] else "n/a"
                                           for m in metric_names]] for _, r in means.iterrows()],
        "metric_means.csv, stimulus_metrics.csv")]
    correlations = t["metric_correlations"]
    shown.append(DisplayTable(
        "Spearman correlation of metric and mean rating",
        "Spearman's rho (scipy.stats.spearmanr) between a stimulus's metric and its mean rating over the "
        f"participants who rated it, over all rated stimuli with that metric; * marks p < {alpha}.",
        ["Statement", "Metric", "n", "rho", "p"],
        [[r["statement"].capitalize(), labels[r["metric"]], str(r["n"]), format_number(r["rho"], 3),
          format_p(r["p"]) + mark(r["p"], alpha)] for _, r in correlations.iterrows()],
        "metric_correlations.csv"))
    agreement = t["metric_agreement"]
    shown.append(DisplayTable(
        "Within-image comparison",
        "For each pair of models: of the images where the two stimuli differ in both the metric and the mean "
        "rating, the share where the model with the higher metric also got the higher mean rating (ties are "
        "counted apart). 50 % is chance; for RIS and ROS, where lower is better, agreement means the less "
        "stable map was rated higher.",
        ["Statement", "Metric", "Models", "Images", "Compared", "Agree", "Share", "Metric ties", "Rating ties"],
        [[r["statement"].capitalize(), labels[r["metric"]], f"{r['model_a']} vs {r['model_b']}", str(r["images"]),
          str(r["compared"]), str(r["agree"]),
          "n/a" if r["compared"] == 0 else f"{100 * r['share']:.1f} %", str(r["metric_ties"]),
          str(r["rating_ties"])] for _, r in agreement.iterrows()],
        "metric_agreement.csv"))
    return shown


def sample_lines(analysis):
    s, o = analysis.sample, analysis.options
    lines = [f"Participants: {s.participants}"
             + (f" ({s.started} started, {s.completed} completed)" if s.completed is not None else "")]
    if s.outcomes:
        counts = ", ".join(f"{count} {outcome.replace('_', ' ')}" for outcome, count in s.outcomes.items())
        deleted = [f"{s.outcomes[o]} {o}" for o in DELETED_OUTCOMES if o in s.outcomes]
        lines.append(f"Outcomes: {counts}"
                     + (f" ({' and '.join(deleted)}: their answers were deleted and are not analysed)" if deleted else ""))
    lines.append(f"Excluded: {len(s.excluded)} ({s.exclusion_rule})"
                 if o.exclude_failed_attention else "Excluded: none (no exclusion asked for)")
    lines.append(f"Analysed: {s.analysed} participants with {s.ratings:,} ratings of models "
                 f"{', '.join(s.models)}, and {s.choices:,} side-by-side choices (participants who did not "
                 "complete the study contribute the answers they gave)")
    return lines


def method_lines(analysis):
    o = analysis.options
    return [
        "Which test answers which question. The mixed model (primary test): do the models' ratings differ in a "
        "way that holds for other participants rating other images? Participants and images are both samples, "
        "crossed (every participant rates every image under every model), so it treats both as random factors "
        "(Baayen, Davidson & Bates 2008; Judd, Westfall & Kenny 2012)."
        + ("" if o.mixed_model else " It was not fitted for this report (--no-mixed)."),
        "The participant-level tests: does a typical participant rate the models differently, on these images? "
        "They treat each participant as one unit (their mean rating per model), so they generalize to other "
        "participants, not to other images.",
        "The pooled tests (Table 3 layout): every rating one independent observation, as the published study ran "
        "them. Ratings by one person, and of one image, are not independent, so their p-values are too small; "
        "they are shown to compare with the published study. The ordinal model checks that the conclusion does "
        "not hang on treating the answers 1-5 as numbers.",
        "Mixed model: statsmodels MixedLM, REML, rating ~ model fitted as one group holding every rating, with "
        f"variance components (vc_formula) for participant and image; optimizer '{mixed.FIT_OPTIONS['method']}' "
        f"(ftol {mixed.FIT_OPTIONS['ftol']}; where it meets a singular matrix, Nelder-Mead, as the variance table "
        f"then says; sparse random-effects designs from {mixed.SPARSE_FROM_RATINGS:,} ratings on); z tests and {mixed.CONFIDENCE:.0%} confidence intervals from the fitted covariance of the "
        f"fixed effects. Above {o.mixed_max_participants} participants it is fitted on a random subsample of "
        f"{o.mixed_max_participants} participants (numpy default_rng seed {o.seed}).",
        f"Wilcoxon signed-rank: scipy.stats.wilcoxon with zero_method='{o.zero_method}' (zero differences are "
        + {"pratt": "ranked with the others, then left out of the signed sums",
           "wilcox": "dropped before ranking",
           "zsplit": "ranked and split half to each sign"}[o.zero_method]
        + "), two-sided, method='auto'.",
        "Multiple comparisons: Holm step-down (statsmodels multipletests method='holm', not its Holm-Sidak "
        "default) over the model pairs within each statement and analysis.",
        f"Significance level alpha = {o.alpha}.",
    ]


def html_context(analysis):
    """Everything report.html shows; plain strings (the template escapes them)."""
    by_model = {}
    if "justifications" in analysis.tables:
        table = analysis.tables["justifications"]
        for model, group in table.groupby("chosen_model", sort=False, observed=True):
            by_model[model] = {"total": len(group),
                               "rows": group.head(JUSTIFICATIONS_SHOWN).to_dict("records")}
    return {
        "title": "Saliency study: analysis report",
        "sample_lines": sample_lines(analysis),
        "method_lines": method_lines(analysis),
        "tables": display_tables(analysis),
        "metric_tables": metric_tables(analysis),
        "figures": [{"title": title, "data_uri": "data:image/png;base64," + base64.b64encode(
            analysis.figures[name]).decode("ascii")} for name, title in figure_titles(analysis)],
        "justifications": by_model,
        "justifications_shown": JUSTIFICATIONS_SHOWN,
    }


def figure_titles(analysis):
    titles = {"mean_ci": "Mean rating per model with 95% CI (over participants)",
              "likert": "Answers per model (diverging stacked bars)",
              "choice_shares": "Share of side-by-side choices per model",
              "metric_ratings": "Mean rating of each stimulus against its explanation metrics, one colour per model"}
    return [(name, titles[name]) for name in analysis.figures]


# ---- writers ----------------------------------------------------------------------------------

def markdown_cell(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|") \
        .replace("\r", " ").replace("\n", " ")


def markdown_table(table):
    lines = [f"### {table.title}", "", table.caption, ""]
    lines.append("| " + " | ".join(map(markdown_cell, table.header)) + " |")
    lines.append("|" + "---|" * len(table.header))
    lines += ["| " + " | ".join(map(markdown_cell, row)) + " |" for row in table.rows]
    return lines + ["", f"Data: tables/{table.csv.replace(', ', ', tables/')}", ""]


def markdown_report(analysis, context):
    lines = [f"# {context['title']}", "", "## Sample", ""]
    lines += [f"- {markdown_cell(line)}" for line in context["sample_lines"]]
    lines += ["", "## Methods", ""] + [f"- {markdown_cell(line)}" for line in context["method_lines"]]
    lines += ["", "## Results", ""]
    for table in context["tables"]:
        lines += markdown_table(table)
    if context["metric_tables"]:
        lines += ["## Explanation metrics and ratings", ""]
        for table in context["metric_tables"]:
            lines += markdown_table(table)
    lines += ["## Figures", ""] + [f"![{title}](figures/{name}.png)" for name, title in figure_titles(analysis)]
    if context["justifications"]:
        lines += ["", "## Justifications", "",
                  f"The first {JUSTIFICATIONS_SHOWN} per chosen model; all of them: tables/justifications.csv.", ""]
        for model, group in context["justifications"].items():
            lines += [f"### {model} ({group['total']} choices)", ""]
            lines += [f"- {markdown_cell(r['justification'])} ({markdown_cell(r['participant'])}, "
                      f"{markdown_cell(r['image'])})" for r in group["rows"]]
            lines.append("")
    return "\n".join(lines) + "\n"


def results_json(analysis):
    results = {"sample": asdict(analysis.sample), "options": asdict(analysis.options),
               "models": analysis.models, "choice_models": analysis.choice_models,
               "rounding_decimals_of_participant_means": stats.MEAN_DECIMALS}
    for name, table in analysis.tables.items():
        results[name] = (f"tables/{name}.csv" if name in PER_ROW_TABLES
                         else table.to_dict("records"))
    return json.dumps(json_ready(results), indent=2, allow_nan=False)


def csv_column(values):
    """A column as CSV cells: '' for missing, text guarded against spreadsheet formulas."""
    if pd.api.types.is_float_dtype(values):
        return [v if v == v else "" for v in values.tolist()]
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.tolist()
    if isinstance(values.dtype, pd.CategoricalDtype):
        cells = np.array(guard_formulas([str(c) for c in values.cat.categories]) + [""], dtype=object)
        return cells[values.cat.codes.to_numpy()].tolist()  # code -1 (missing) picks the last cell, ""
    cells = values.astype(object).where(values.notna(), "").astype(str).tolist()
    return guard_formulas(cells)


def write_csv(table, path):
    """csv.writer rather than DataFrame.to_csv: twice as fast on the 2-million-row justifications."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows(zip(*(csv_column(table[c]) for c in table.columns)))


def write_outputs(directory, analysis, render_html):
    """Every output file; `render_html(context)` turns html_context() into the page."""
    directory = Path(directory)
    context = html_context(analysis)
    (directory / "tables").mkdir()
    (directory / "figures").mkdir()
    for name, table in analysis.tables.items():
        write_csv(table, directory / "tables" / f"{name}.csv")
    for name, png in analysis.figures.items():
        (directory / "figures" / f"{name}.png").write_bytes(png)
    (directory / "results.json").write_text(results_json(analysis), encoding="utf-8")
    (directory / "report.md").write_text(markdown_report(analysis, context), encoding="utf-8")
    (directory / "report.html").write_text(render_html(context), encoding="utf-8")


def publish(out, analysis, render_html):
    """Write the report into a temporary folder beside `out`, then move it into place: all or nothing."""
    return publish_folder(out, lambda folder: write_outputs(folder, analysis, render_html), ".analyze-")
