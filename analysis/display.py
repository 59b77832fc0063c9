"""The report's tables, lines and figure titles as people read them: shared by report.html and report.md."""

import base64
import math
from dataclasses import dataclass
from datetime import datetime

from analysis import choices as choice_stats
from analysis import explanations, factorial, mixed, stats
from analysis import tasks
from analysis.figures import FLOW_FIGURE, FLOW_FIGURE_TITLE, TASK_ACCURACY_FIGURE
from analysis.loading import FLOW_DEFINITIONS, FLOW_EXCLUSION, LIKERT_LEVELS, STATEMENTS
from studyapp.schema import DELETED_OUTCOMES, METRIC_NAMES, NO_MAP_CONDITION

JUSTIFICATIONS_SHOWN = 25  # per model in report.html and report.md; all of them are in tables/justifications.csv


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


def interval(low, high, decimals=2):
    """A confidence interval as every table shows it: [low, high]."""
    return f"[{format_number(low, decimals)}, {format_number(high, decimals)}]"


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
    wraps_last: bool = False  # the last column holds sentences: they wrap (other cells keep to one line)


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


def subsample_note(first):
    """The sentence a crossed model's caption gets when it was fitted on a participant subsample (else "")."""
    return (f" Fitted on a random subsample of {first['n_participants_fitted']:,} of {first['n_participants']:,} "
            f"participants (numpy default_rng seed {first['seed']})." if first["subsampled"] else "")


def mixed_tables(fits, alpha):
    """The mixed model's comparisons, then its variance components and convergence (one row per statement)."""
    first = fits.iloc[0]
    subsample = subsample_note(first)
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
          interval(r["ci_low"], r["ci_high"], 3)] for _, r in fits.iterrows()],
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


def odds_ratio_cells(row, alpha):
    """Odds ratio, its interval, log OR, SE, p (and p (Holm) where the row has one); "not converged" instead of
    numbers where the fit did not converge."""
    cells = [format_number(row["odds_ratio"]), interval(row["or_ci_low"], row["or_ci_high"]),
             format_number(row["log_odds_ratio"], 3), format_number(row["se"], 3),
             format_p(row["p"]) + ("" if "p_holm" in row else mark(row["p"], alpha))]
    if "p_holm" in row:
        cells.append(format_p(row["p_holm"]) + mark(row["p_holm"], alpha))
    return cells if row["converged"] else ["not converged", *["n/a"] * (len(cells) - 1)]


ODDS_RATIO_HEADER = ["Odds ratio", "95% CI", "log OR", "SE", "p"]


def convergence_note(per_fit):
    """The caption's sentence on fits that did not converge (one row per statement), else ""."""
    failed = per_fit[~per_fit["converged"].astype(bool)]
    return "".join(f" It did not converge for {r['statement']} ({r['fit_message']}): no numbers are shown for it."
                   for _, r in failed.iterrows())


def fit_state(row):
    """A cumulative link mixed model's convergence as the tables say it: yes (and any variance at 0), or NO: why."""
    if not row["converged"]:
        return f"NO: {row['fit_message']}"
    note = row["fit_message"].removeprefix("converged").removeprefix("; ")
    return f"yes ({note})" if note else "yes"


def clmm_tables(pairs, thresholds, alpha):
    """The cumulative link mixed model's odds ratios, then its thresholds, variances and convergence."""
    first = pairs.iloc[0]
    per_fit = pairs.drop_duplicates("statement")
    comparisons = DisplayTable(
        "Ordinal mixed model: odds ratio of a higher answer",
        f"Cumulative link mixed model logit P(answer <= j) = threshold_j - (model + participant + image) per "
        f"statement: the answers as ordered categories, with the crossed random intercepts of the mixed model above "
        f"and on its participants (Laplace approximation, as R's ordinal::clmm fits it; analysis/clmm.py), "
        f"{first['reference']} the reference. Odds ratio: how much higher the odds of a higher answer are with the "
        f"second model than with the first (> 1: the second is rated higher), the same at every threshold; Wald "
        f"{first['confidence']:.0%} intervals and z tests from the Hessian at the optimum; p (Holm): Holm-adjusted "
        f"over the model pairs within each statement. * marks p < {alpha}.{subsample_note(first)}"
        + convergence_note(per_fit),
        ["Statement", "Comparison", *ODDS_RATIO_HEADER, "p (Holm)"],
        [[r["statement"].capitalize(), f"{r['model_a']} vs {r['model_b']}", *odds_ratio_cells(r, alpha)]
         for _, r in pairs.iterrows()],
        "clmm.csv")

    def threshold_cell(statement):
        rows = thresholds[thresholds["statement"] == statement]
        return "; ".join(f"{r['threshold']}: {format_number(r['estimate'])} ({format_number(r['se'])})"
                         for _, r in rows.iterrows()) if rows["converged"].all() else "n/a"

    components = DisplayTable(
        "Ordinal mixed model: thresholds, variance components and convergence",
        "Thresholds (SE) on the logit scale, where the reference model's latent answer crosses from one answer to "
        "the next; the variance of the participants' and the images' random intercepts on the same scale (the "
        "logistic residual's is pi^2/3 = 3.29); the Laplace log-likelihood; whether the optimizer converged "
        "(a variance whose estimate is 0 is said so).",
        ["Statement", "Thresholds (SE)", "Participant variance", "Image variance", "Log-likelihood", "Participants",
         "Images", "Ratings", "Converged"],
        [[r["statement"].capitalize(), threshold_cell(r["statement"]), format_number(r["participant_variance"], 3),
          format_number(r["image_variance"], 3), format_number(r["log_likelihood"], 2),
          f"{r['n_participants_fitted']:,}", f"{r['n_images']:,}", f"{r['n_ratings_fitted']:,}", fit_state(r)]
         for _, r in per_fit.iterrows()],
        "clmm.csv, clmm_thresholds.csv")
    return [comparisons, components]


def display_tables(analysis):
    """The report's tables, formatted: the same content for report.html and report.md."""
    t, alpha, models = analysis.tables, analysis.options.alpha, analysis.models
    if "descriptives" not in t:  # a study of task blocks only: no ratings
        return []
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
    if "clmm" in t:
        shown += clmm_tables(t["clmm"], t["clmm_thresholds"], alpha)
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
          interval(r["ci_low"], r["ci_high"])] for _, r in ci.iterrows()],
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
        "Pooled ordinal model (sensitivity check)",
        f"Cumulative logit model (statsmodels OrderedModel, distr='logit') of each statement on model variant, "
        f"{models[0]} the reference; odds ratio > 1: higher answers more likely than with {models[0]}. Pools all "
        f"ratings like the published tests: no participant or image effect, so its intervals are too narrow"
        + ("; the ordinal mixed model above is the same model with them." if "clmm" in t else ".") + subsample
        + ("" if fits["converged"].all() else " WARNING: the fit did not converge for "
           + ", ".join(sorted(set(fits.loc[~fits["converged"], "statement"]))) + " (often: near-perfect "
           "separation of the answers by model); do not read its coefficients."),
        ["Statement", "Model", "log OR", "SE", "Odds ratio", "95% CI", "p"],
        [[r["statement"].capitalize(), f"{r['model']} vs {r['reference']}", format_number(r["coef"], 3),
          format_number(r["se"], 3), format_number(r["odds_ratio"]),
          interval(r["or_ci_low"], r["or_ci_high"]),
          format_p(r["p"]) + mark(r["p"], alpha)] for _, r in fits.iterrows()],
        "ordinal.csv"))

    if "choice_shares" in t:
        shown += choice_tables(analysis)
    return shown


def compared_cells(tables):
    """The connected sets of the cells shown side by side, as the shares table lists them: {set: [cells]}."""
    overall = tables["choice_shares"][tables["choice_shares"]["dataset"] == choice_stats.OVERALL]
    return {number: list(group["model"]) for number, group in overall.groupby("set", sort=True)}


def sets_note(sets):
    """What the report says when the pages compared separate sets of cells ('' for one set)."""
    if len(sets) < 2:
        return ""
    listed = "; ".join(f"set {number}: {', '.join(cells)}" for number, cells in sets.items())
    return (f"The side-by-side pages compared {len(sets)} separate sets of cells ({listed}): cells of different "
            "sets were never shown together, directly or through other cells, so the choices cannot compare them. "
            "Every choice number is computed within one set, and none compares cells of different sets.")


def choice_tables(analysis):
    """The side-by-side choices' shares (with the chi-square test of equal shares) and each participant's
    most-chosen cell, within each connected set; then, outside a two-factor study (whose section shows it), the
    paired-comparison model where it was fitted."""
    t, alpha = analysis.tables, analysis.options.alpha
    sets = compared_cells(t)
    several = len(sets) > 1
    chi = t["choice_chisquare"].set_index(["set", "dataset"])
    shares = t["choice_shares"]
    shown = []
    for number, cells in sets.items():
        rows = []
        for dataset, group in shares[shares["set"] == number].groupby("dataset", sort=False):
            test = chi.loc[(number, dataset)]
            rows.append([dataset, str(int(test["n"])),
                         *[f"{r['count']} ({100 * r['share']:.1f} %)" for _, r in group.iterrows()],
                         f"chi2({int(test['df'])}) = {format_number(test['chi2'])}" if not test["note"]
                         else "n/a (pages showed part of the set)",
                         format_p(test["p"]) + mark(test["p"], alpha)])
        partial = any(chi.loc[number]["note"])
        shown.append(DisplayTable(
            "Side-by-side choices" + (f", set {number}: {', '.join(cells)}" if several else ""),
            ("" if number > 1 else sets_note(sets) + (" " if several else ""))
            + "Count and share of " + ("the set's choices" if several else "all choices") + " per chosen model "
            "(shares of choices, not of people), overall and per dataset; chi-square goodness of fit against equal "
            "shares."
            + (f" No chi-square where {choice_stats.PARTIAL_PAGES}." if partial else ""),
            ["Dataset", "Choices", *cells, "Chi-square", "p"], rows, "choice_shares.csv, choice_chisquare.csv"))
    summary = t["most_chosen_summary"]
    shown.append(DisplayTable(
        "Each participant's most-chosen model",
        "Participants by the model they chose most often; ties (e.g. A/M2) are their own row."
        + (" Within each set: a participant's most-chosen cell among the set's cells, counted once per set "
           "they chose in." if several else ""),
        (["Set"] if several else []) + ["Most chosen", "Participants", "Share"],
        [[*([str(r["set"])] if several else []), r["most_chosen"], str(r["participants"]),
          f"{100 * r['share']:.1f} %"] for _, r in summary.iterrows()],
        "most_chosen.csv, most_chosen_summary.csv"))
    if "cell_descriptives" not in t:
        shown += choice_model_tables(analysis)
    return shown


def choice_model_tables(analysis):
    """The paired-comparison model's worths, within each connected set (none when it was not fitted)."""
    t, alpha = analysis.tables, analysis.options.alpha
    if "choice_model" not in t or not len(t["choice_model"]):
        return []
    choice, sets = t["choice_model"], compared_cells(t)
    several = len(sets) > 1
    notes = sorted({f"set {r['set']}: {r['note']}" if several else r["note"]
                    for _, r in choice.iterrows() if r["note"]})
    references = ", ".join(choice.loc[choice["reference"], "cell"])
    return [DisplayTable(
        "Side-by-side choices: worth of each cell (conditional logit)",
        f"Which of the shown maps was chosen, in {int(choice.drop_duplicates('set')['n_choices'].sum()):,} choices: "
        "the Plackett-Luce first-choice model (Bradley-Terry where a page shows two maps), fitted as a conditional "
        "logit (statsmodels ConditionalLogit) with one indicator per cell"
        + (f" within each set, each set's first cell the reference (worth 1: {references}). " if several else
           f", {references} the reference (worth 1). ")
        + "Worth = exp(coefficient): how much more often a cell's map is chosen than the reference's when both are "
        f"shown; 95% Wald intervals. Shown and Chosen: the cell's pages and choices. * marks p < {alpha}."
        + (f" {sets_note(sets)}" if several else "") + (f" {'; '.join(notes)}." if notes else ""),
        (["Set"] if several else []) + ["Cell", "Shown", "Chosen", "Worth", "95% CI", "Coefficient", "SE", "p"],
        [[*([str(r["set"])] if several else []), r["cell"], str(r["shown"]), str(r["chosen"]),
          format_number(r["worth"], 3), "reference" if r["reference"] else
          interval(r["worth_ci_low"], r["worth_ci_high"], 3), format_number(r["coefficient"], 3),
          format_number(r["se"], 3), format_p(r["p"]) + mark(r["p"], alpha)] for _, r in choice.iterrows()],
        "choice_model.csv")]


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


def task_rows(table, cells):
    """Rows of a task table: the unit and the arm as people read them, then `cells(row)`."""
    return [[tasks.unit_label(r["block"], r["task"], r["phase"], r["question"]),
             tasks.arm_label(r["model"], r["condition"]), *cells(r)] for _, r in table.iterrows()]


def task_tables(analysis):
    """The section "Tasks with a right answer" (only when the export has task answers): its tables, formatted."""
    t, alpha = analysis.tables, analysis.options.alpha
    if "task_accuracy" not in t:
        return []
    blocks, conditions = t["task_blocks"], t["task_conditions"]
    shown = [DisplayTable(
        "Task blocks", "Each task block: its phases and scored questions, the options per page (chance = 1 / "
        "options), and the participants and answers analysed.",
        ["Block", "Task", "Phases", "Questions", "Options", "Participants", "Answers"],
        [[str(r["block"]), r["task"], r["phases"] or "-", r["questions"], r["options"], str(r["participants"]),
          f"{r['answers']:,}"] for _, r in blocks.iterrows()], "task_blocks.csv"),
        DisplayTable(
        "Task conditions", f"Participants per between-participants condition: {NO_MAP_CONDITION} (no map) or a "
        "model's maps by a method. A control belongs to the model whose answers it judges.",
        ["Condition", "Model", "Participants", "Answers"],
        [[tasks.arm_label(r["model"], r["condition"]), r["model"], str(r["participants"]), f"{r['answers']:,}"]
         for _, r in conditions.iterrows()], "task_conditions.csv")]
    accuracy = t["task_accuracy"]
    shown.append(DisplayTable(
        "Accuracy per block, question and condition",
        "Pooled: right answers / answers, with the Wilson score interval (statsmodels proportion_confint). "
        "Participant mean: the mean of each participant's accuracy, with a participant-bootstrap interval "
        f"(scipy.stats.bootstrap, percentile, {tasks.BOOTSTRAP_RESAMPLES:,} resamples, seed "
        f"{analysis.options.seed}). Chance: the accuracy of guessing among the options shown. 95% intervals.",
        ["Block and question", "Condition", "Participants", "Answers", "Accuracy (pooled)", "95% CI (Wilson)",
         "Participant mean", "95% CI (bootstrap)", "Chance"],
        task_rows(accuracy, lambda r: [str(r["participants"]), f"{r['answers']:,}", format_number(r["accuracy"], 3),
                                       interval(r["wilson_low"], r["wilson_high"], 3),
                                       format_number(r["participant_mean"], 3),
                                       interval(r["bootstrap_low"], r["bootstrap_high"], 3),
                                       format_number(r["chance"], 3)]),
        "task_accuracy.csv, task_participant_accuracy.csv"))
    if "task_utility" in t:
        utility = t["task_utility"]
        shown.append(DisplayTable(
            "Utility against the no-map control (Colin, Fel et al. 2022)",
            f"Each explanation condition against the {NO_MAP_CONDITION} participants of the same model, each "
            "participant one unit: the mean of the participants' accuracies, the difference (condition minus "
            "control) and the ratio (condition / control: the utility; above 1, the maps helped), with "
            "participant-bootstrap 95% intervals (each group resampled on its own); Mann-Whitney U (scipy, "
            "two-sided; r = 2U / (n1 n2) - 1, positive when the condition is higher) and Welch's t (scipy "
            "ttest_ind, equal_var=False); p (Holm) over the comparisons of each block and question. Learning "
            f"phases are left out. * marks p < {alpha}.",
            ["Block and question", "Condition", "n (condition / control)", "Accuracy (condition / control)",
             "Difference", "95% CI", "Ratio", "95% CI", "U", "r", "p (Holm)", "Welch t (df)", "p (Holm)"],
            task_rows(utility, lambda r: [
                f"{r['n_condition']} / {r['n_control']}",
                f"{format_number(r['accuracy_condition'], 3)} / {format_number(r['accuracy_control'], 3)}",
                format_number(r["difference"], 3), interval(r["difference_low"], r["difference_high"], 3),
                format_number(r["ratio"], 3), interval(r["ratio_low"], r["ratio_high"], 3),
                format_number(r["u"], 1), format_number(r["rank_biserial"], 3),
                format_p(r["p_mannwhitney_holm"]) + mark(r["p_mannwhitney_holm"], alpha),
                f"{format_number(r['t'])} ({format_number(r['df'], 1)})",
                format_p(r["p_welch_holm"]) + mark(r["p_welch_holm"], alpha)]),
            "task_utility.csv"))
    if "task_verification" in t:
        shown.append(DisplayTable(
            "Verification: the team against the AI alone, reliance and sensitivity",
            "Means over participants with participant-bootstrap 95% intervals. Team: the participant's accuracy in "
            "accepting right labels and rejecting wrong ones; AI alone: the model's accuracy on the images the "
            "participant saw; p: Wilcoxon signed-rank test of team minus AI over participants. Over-reliance: the "
            "share of wrong labels accepted; under-reliance: the share of right labels rejected (pooled shares in "
            "tables/task_verification.csv). d' = z(H) - z(F) and criterion c = -(z(H) + z(F)) / 2, H the rate of "
            "right labels accepted, F of wrong labels accepted, each with the log-linear correction (Hautus "
            f"1995: add 0.5 to the count and 1 to the total); c < 0 leans to accepting. * marks p < {alpha}.",
            ["Block and question", "Condition", "Participants", "Team accuracy", "AI alone", "Team - AI", "p",
             "Over-reliance", "Under-reliance", "d'", "Criterion c"],
            task_rows(t["task_verification"], lambda r: [
                str(r["participants"]), f"{format_number(r['team_accuracy'], 3)} "
                f"{interval(r['team_accuracy_low'], r['team_accuracy_high'], 3)}", format_number(r["ai_accuracy"], 3),
                f"{format_number(r['team_minus_ai'], 3)} "
                f"{interval(r['team_minus_ai_low'], r['team_minus_ai_high'], 3)}",
                format_p(r["p_team_vs_ai"]) + mark(r["p_team_vs_ai"], alpha),
                *[f"{format_number(r[m], 3)} {interval(r[f'{m}_low'], r[f'{m}_high'], 3)}"
                  for m in ("over_reliance", "under_reliance", "d_prime", "criterion")]]),
            "task_verification.csv, task_verification_participants.csv"))
    split = t["task_by_model_correct"]
    shown.append(DisplayTable(
        "Accuracy where the model is right and where it is wrong (HIVE)",
        "HIVE (Kim et al. 2022) found that people could not tell a model's right predictions from its wrong ones: "
        "accuracy on the images where the model is right against those where it is wrong, pooled with Wilson 95% "
        "intervals; over the participants who saw both, the mean of their differences (right minus wrong) and the "
        f"Wilcoxon signed-rank test. * marks p < {alpha}.",
        ["Block and question", "Condition", "Model right: answers", "Accuracy", "95% CI", "Model wrong: answers",
         "Accuracy", "95% CI", "Participants", "Difference", "p"],
        task_rows(split, lambda r: [
            str(r["answers_model_right"]), format_number(r["accuracy_model_right"], 3),
            interval(r["model_right_low"], r["model_right_high"], 3), str(r["answers_model_wrong"]),
            format_number(r["accuracy_model_wrong"], 3), interval(r["model_wrong_low"], r["model_wrong_high"], 3),
            str(r["participants_both"]), format_number(r["participant_difference"], 3),
            format_p(r["p_wilcoxon"]) + mark(r["p_wilcoxon"], alpha)]),
        "task_by_model_correct.csv"))
    if "task_condition_model" in t:
        fits = t["task_condition_model"]
        failed = fits[~fits["converged"].astype(bool)].drop_duplicates([*tasks.UNIT, "model"])
        shown.append(DisplayTable(
            f"Condition model: {tasks.GLMM_NAME}",
            "correct ~ condition + (1 | participant) + (1 | image) per block, question and model, the model's "
            f"{NO_MAP_CONDITION} control the reference: a logistic generalized linear mixed model, participants and "
            "images both random samples, fitted by the Laplace approximation as R's lme4::glmer fits it with nAGQ "
            "= 1 (analysis/clmm.py, checked against R in the test suite). Odds ratio: how much higher the odds of a "
            "right answer are in the condition than in the reference (> 1: the maps helped); Wald "
            f"{fits['confidence'].iloc[0]:.0%} intervals and z tests from the Hessian at the optimum; the variances of "
            "the participants' and the images' random intercepts on the logit scale (the logistic residual's is "
            f"pi^2/3 = 3.29). * marks p < {alpha}."
            + "".join(f" It did not converge for {tasks.unit_label(r['block'], r['task'], r['phase'], r['question'])}"
                      f", {r['model']} ({r['fit_message']}): no numbers are shown for it."
                      for _, r in failed.iterrows()),
            ["Block and question", "Condition", "Reference", *ODDS_RATIO_HEADER, "Answers", "Participant variance",
             "Image variance", "Converged"],
            task_rows(fits, lambda r: [
                tasks.arm_label(r["model"], r["reference"]), *odds_ratio_cells(r, alpha), f"{r['n_answers']:,}",
                format_number(r["participant_variance"], 3), format_number(r["image_variance"], 3), fit_state(r)]),
            "task_condition_model.csv"))
    shown.append(DisplayTable(
        "Confidence and correctness (calibration)",
        "Mean confidence (1 = not confident at all, 5 = completely confident) of right and of wrong answers; AUC: "
        "the area under the ROC curve of confidence for a right answer, the chance that a right answer carries "
        "more confidence than a wrong one (ties count half; 0.5: confidence says nothing), pooled over answers, "
        "as U / (n_right n_wrong) of the Mann-Whitney U test (scipy), with its p; and the mean of each "
        f"participant's own AUC (those with right and wrong answers). * marks p < {alpha}.",
        ["Block and question", "Condition", "Right: answers", "Confidence", "Wrong: answers", "Confidence", "AUC",
         "p", "Participants", "Participant AUC"],
        task_rows(t["task_calibration"], lambda r: [
            str(r["answers_right"]), format_number(r["confidence_right"]), str(r["answers_wrong"]),
            format_number(r["confidence_wrong"]), format_number(r["auc"], 3),
            format_p(r["p_auc"]) + mark(r["p_auc"], alpha),
            str(r["participants_with_both"]), format_number(r["participant_auc"], 3)]),
        "task_calibration.csv"))
    if "task_metric_correlations" in t:
        labels = explanations.METRIC_LABELS
        correlations = t["task_metric_correlations"]
        shown.append(DisplayTable(
            "Explanation metrics and task accuracy",
            "Does an automatic metric predict whether a map helps? Per map shown (image, model and method; the map "
            "of the model's prediction), its accuracy over the participants who saw it, and its gain: that accuracy "
            "minus the same model's control's on the same image. Spearman's rho (scipy.stats.spearmanr) of each "
            f"metric with each, over the maps with both. * marks p < {alpha}.",
            ["Block and question", "Outcome", "Metric", "Maps", "rho", "p"],
            [[tasks.unit_label(r["block"], r["task"], r["phase"], r["question"]), r["outcome"], labels[r["metric"]],
              str(r["n"]), format_number(r["rho"], 3), format_p(r["p"]) + mark(r["p"], alpha)]
             for _, r in correlations.iterrows()],
            "task_metric_correlations.csv, task_stimuli.csv"))
    return shown


def task_lines(analysis):
    """What the task section's numbers are, in words (shown above its tables); empty without task answers."""
    if "task_accuracy" not in analysis.tables:
        return []
    return [
        f"Analysed {analysis.task_answers:,} answers to scored questions of the task blocks (tasks.csv). A block's "
        "questions and phases are analysed apart; each condition is between participants, so every test compares "
        f"groups of participants, each participant one unit. A {NO_MAP_CONDITION} (no map) participant judges one "
        "model's answers: explanation conditions are compared with the control of their own model.",
        "Accuracy: right answers above chance are the score; chance is 1 / the options on the page (dashed line in "
        "the accuracy figure). Utility (Colin, Fel et al. 2022): the accuracy of an explanation condition over that "
        "of the control, as a ratio (and a difference): how much the maps let people predict the model.",
        "Distinction (HIVE, Kim et al. 2022): accuracy where the model is right and where it is wrong, apart. "
        "Verification (Nguyen et al. 2021): the team's accuracy against the AI's alone, over-reliance (wrong labels "
        "accepted), under-reliance (right labels rejected), and signal-detection d' and criterion with the "
        "log-linear correction (Hautus 1995).",
        f"Bootstrap intervals resample participants within each condition (seed {analysis.options.seed}; each "
        "row's stream in its table's CSV), so they are reproducible.",
        "Condition model: " + (f"the {tasks.GLMM_NAME}, correct ~ condition + (1 | participant) + (1 | image) per "
                               "block, question and model, with odds ratios of a right answer against the model's "
                               "control and Wald intervals; a fit that did not converge shows no numbers."
                               if analysis.options.mixed_model else "not fitted for this report (--no-mixed)."),
    ]


def term_labels(levels):
    """The two-factor model's fixed-effect terms as people read them: `model A`, `method IG`, `A × IG`."""
    labels = {"Intercept": f"Intercept ({levels['model'][0]} × {levels['method'][0]})"}
    for factor in factorial.FACTORS:
        labels |= {factorial.term_name(factor, level): f"{factor} {level}" for level in levels[factor][1:]}
    labels |= {f"{factorial.term_name('model', m)}:{factorial.term_name('method', k)}": f"{m} × {k}"
               for m in levels["model"][1:] for k in levels["method"][1:]}
    return labels


def factor_tables(analysis):
    """The section "Model and method: two factors" (only when the ratings show more than one method)."""
    t, alpha = analysis.tables, analysis.options.alpha
    if "cell_descriptives" not in t:
        return []
    levels = {r["factor"]: r["levels"].split(" ") for _, r in t["factor_levels"].iterrows()}
    cells = t["cell_descriptives"]
    shown = [DisplayTable(
        "Descriptives per model x method cell",
        "Ratings per cell and statement: n, mean +- SD (ddof=1); participants who rated the cell, the mean of "
        "their means with a 95% t interval over them (the cell-means figure).",
        ["Statement", "Model", "Method", "Ratings", "Mean +- SD", "Participants", "Mean of participant means",
         "95% CI"],
        [[r["statement"].capitalize(), r["model"], r["method"], str(r["n_ratings"]), format_mean_sd(r["mean"], r["sd"]),
          str(r["n_participants"]), format_number(r["participant_mean"]), interval(r["ci_low"], r["ci_high"], 2)]
         for _, r in cells.sort_values("statement", kind="stable", key=lambda s: s.map(STATEMENTS.index)).iterrows()],
        "cell_descriptives.csv")]
    if "factorial_mixed" in t:
        terms, labels = t["factorial_mixed"], term_labels(levels)
        per_fit = terms.drop_duplicates("statement")
        warnings = "; ".join(f"{r['statement']}: {r['fit_warnings']}" for _, r in per_fit.iterrows()
                             if r["fit_warnings"])
        fits = "; ".join(
            f"{r['statement']}: participant variance {format_number(r['participant_variance'], 3)}, image variance "
            f"{format_number(r['image_variance'], 3)}, residual variance {format_number(r['residual_variance'], 3)}, "
            f"{r['n_ratings_fitted']:,} ratings, " + ("converged" if r["converged"] else "NOT converged: do not read "
                                                       "its numbers") for _, r in per_fit.iterrows())
        shown.append(DisplayTable(
            "Two-factor mixed model: fixed effects",
            f"Linear mixed model rating ~ model * method + (1 | participant) + (1 | image) per statement "
            f"(statsmodels MixedLM, REML, fitted as the one-factor model), treatment coding: {levels['model'][0]} and "
            f"{levels['method'][0]} the references, so a model's term is its difference under "
            f"{levels['method'][0]}, a method's under {levels['model'][0]}, and a model × method term their "
            f"interaction. z tests and 95% intervals from the fitted covariance; * marks p < {alpha}. Fits: {fits}."
            + (f" statsmodels warned: {warnings}." if warnings else ""),
            ["Statement", "Term", "Estimate", "SE", "z", "p", "95% CI"],
            [[r["statement"].capitalize(), labels.get(r["term"], r["term"]), format_number(r["estimate"], 3),
              format_number(r["se"], 3), format_number(r["z"]), format_p(r["p"]) + mark(r["p"], alpha),
              interval(r["ci_low"], r["ci_high"], 3)] for _, r in terms.iterrows()],
            "factorial_mixed.csv"))
        shown.append(DisplayTable(
            "Two-factor mixed model: contrasts within each factor",
            "Each pair of levels of a factor, compared on their marginal means (a level's cells averaged with equal "
            "weights over the other factor's levels): estimate = second minus first, z-tested from the fitted "
            f"covariance of the fixed effects; p (Holm): Holm-adjusted within factor and statement. * marks "
            f"p < {alpha}.",
            ["Statement", "Factor", "Comparison", "Estimate", "SE", "z", "p", "p (Holm)", "95% CI"],
            [[r["statement"].capitalize(), r["factor"], f"{r['level_a']} vs {r['level_b']}",
              format_number(r["estimate"], 3), format_number(r["se"], 3), format_number(r["z"]), format_p(r["p"]),
              format_p(r["p_holm"]) + mark(r["p_holm"], alpha), interval(r["ci_low"], r["ci_high"], 3)]
             for _, r in t["factorial_contrasts"].iterrows()],
            "factorial_contrasts.csv"))
    if "factorial_clmm" in t:
        shown += factorial_clmm_tables(t["factorial_clmm"], t["factorial_clmm_contrasts"], levels, alpha)
    shown.append(DisplayTable(
        "Friedman test per factor (participant level)",
        "Each participant's mean rating at each level of the factor (over the other factor's levels); Friedman "
        "test (scipy.stats.friedmanchisquare) over the participants with every level. A factor of two levels has "
        f"no Friedman test here: read its contrast. * marks p < {alpha}.",
        ["Statement", "Factor", "n", "Levels", "Friedman", "p"],
        [[r["statement"].capitalize(), r["factor"], str(r["n"]), str(r["k"]),
          f"chi2({r['df']}) = {format_number(r['chi2'])}" if r["k"] >= 3 else "n/a (two levels)",
          format_p(r["p"]) + mark(r["p"], alpha)]
         for _, r in t["friedman_factors"].sort_values("statement", kind="stable",
                                                       key=lambda s: s.map(STATEMENTS.index)).iterrows()],
        "friedman_factors.csv"))
    shown += choice_model_tables(analysis)
    return shown


def factorial_clmm_tables(terms, contrasts, levels, alpha):
    """The two-factor cumulative link mixed model: each term's odds ratio, then each factor's contrasts."""
    per_fit = terms.drop_duplicates("statement")
    labels = term_labels(levels)
    fits = "; ".join(
        f"{r['statement']}: participant variance {format_number(r['participant_variance'], 3)}, image variance "
        f"{format_number(r['image_variance'], 3)}, {r['n_ratings_fitted']:,} ratings, converged: {fit_state(r)}"
        for _, r in per_fit.iterrows())
    converged = dict(zip(per_fit["statement"], per_fit["converged"]))
    return [
        DisplayTable(
            "Two-factor ordinal mixed model: odds ratio of each term",
            f"Cumulative link mixed model of the answers as ordered categories, answer ~ model * method + "
            f"(1 | participant) + (1 | image) per statement (Laplace approximation, as R's ordinal::clmm; "
            f"analysis/clmm.py), treatment coding as in the linear model: {levels['model'][0]} and "
            f"{levels['method'][0]} the references. Odds ratio of a higher answer, Wald 95% intervals; * marks "
            f"p < {alpha}. Fits: {fits}." + convergence_note(per_fit),
            ["Statement", "Term", *ODDS_RATIO_HEADER],
            [[r["statement"].capitalize(), labels.get(r["term"], r["term"]), *odds_ratio_cells(r, alpha)]
             for _, r in terms.iterrows()],
            "factorial_clmm.csv"),
        DisplayTable(
            "Two-factor ordinal mixed model: odds ratio of a higher answer per model and per method",
            "Each pair of levels of a factor, compared on their marginal log odds (a level's cells averaged with "
            "equal weights over the other factor's levels): odds ratio of a higher answer with the second level "
            f"than with the first; p (Holm): Holm-adjusted within factor and statement. * marks p < {alpha}.",
            ["Statement", "Factor", "Comparison", *ODDS_RATIO_HEADER, "p (Holm)"],
            [[r["statement"].capitalize(), r["factor"], f"{r['level_a']} vs {r['level_b']}",
              *odds_ratio_cells({**r, "converged": converged[r["statement"]]}, alpha)]
             for _, r in contrasts.iterrows()],
            "factorial_clmm_contrasts.csv"),
    ]


def flow_table(analysis):
    """The participant flow, CONSORT-style: arrived -> consented -> completed -> excluded by reason -> analysed;
    each step with who it counts."""
    flow = analysis.sample.flow
    if not flow:
        return None
    return DisplayTable(
        "Participant flow",
        "Each step's participants, from arrival to analysis (CONSORT-style). Exclusions are counted in order "
        "among those with answers kept, each participant once; those analysed are the participants with at least "
        + ("one rating or task answer" if analysis.task_answers else "one rating") + " in the tables below.",
        ["Step", "Participants", "Who is counted"],
        [[label, str(count), FLOW_DEFINITIONS.get(label, FLOW_EXCLUSION)] for label, count in flow],
        "participant_flow.csv", wraps_last=True)


def sample_lines(analysis):
    s = analysis.sample
    if s.completed is not None:
        lines = [f"Participants: {s.participants} arrived, {s.started} consented with answers kept, {s.completed} "
                 "completed (the flow table says who each step counts)"]
    else:
        lines = [f"Participants: {s.participants} with answers (without participants.csv, who arrived, consented "
                 "and completed is not known)"]
    if s.outcomes:
        counts = ", ".join(f"{count} {outcome.replace('_', ' ')}" for outcome, count in s.outcomes.items())
        deleted = [f"{s.outcomes[o]} {o}" for o in DELETED_OUTCOMES if o in s.outcomes]
        lines.append(f"Outcomes: {counts}"
                     + (f" ({' and '.join(deleted)}: their answers were deleted and are not analysed)" if deleted else ""))
    lines.append(f"Excluded: {len(s.excluded)} ({s.exclusion_rule})"
                 if s.exclusion_rule != "none" else "Excluded: none (no exclusion asked for)")
    if s.models:
        lines.append(f"Analysed: {s.analysed} participants with {s.ratings:,} ratings of models "
                     f"{', '.join(s.models)}, and {s.choices:,} side-by-side choices (participants who did not "
                     "complete the study contribute the answers they gave)")
    if analysis.task_answers:
        blocks = analysis.tables["task_blocks"]
        people = analysis.tables["task_conditions"]["participants"].sum()
        lines.append(f"Task answers: {analysis.task_answers:,} answers of {people} participants in {len(blocks)} task "
                     f"block(s) ({', '.join(blocks['task'])})"
                     + ("" if s.models else f"; analysed: {s.analysed} participants (the study has no rating pages)"))
    return lines


def span(low, high):
    return f"{low}" if low == high else f"{low}-{high}"


def design_text(analysis):
    """How the ratings cross participants, images and models, as the data show it (rating_design)."""
    d = analysis.tables["rating_design"].iloc[0]
    unit = "model x method cells" if "cell_descriptives" in analysis.tables else "models"
    if d["complete"]:
        return (f"crossed: every participant rated every image under every one of the {unit} ({d['participants']} "
                f"participants x {d['images']} images x {d['models']} {unit})")
    return (f"crossed, in an incomplete design: each participant rated "
            f"{span(d['images_per_participant_min'], d['images_per_participant_max'])} of the {d['images']} images, "
            f"each image under {span(d['models_per_image_min'], d['models_per_image_max'])} of the {d['models']} "
            f"{unit} ({d['participants']} participants, {d['ratings']:,} ratings): not every participant rated "
            f"every image under every one of the {unit}, and the mixed model uses the ratings there are")


def choice_method_line(analysis):
    """How the side-by-side choices are read (none without choices)."""
    t = analysis.tables
    if "choice_shares" not in t:
        return []
    sets = compared_cells(t)
    return ["Side-by-side choices: a page shows maps side by side and the participant picks one. The choices "
            "compare only maps shown together, directly or through other maps: the compared cells form "
            + (f"{len(sets)} separate connected sets, and every choice number (shares, chi-square, most-chosen, "
               "worths) is computed within one set; none compares cells of different sets"
               if len(sets) > 1 else "one connected set")
            + "." + (" Worths: the Plackett-Luce first-choice model (Bradley-Terry on pages of two), a conditional "
                     "logit per set (statsmodels ConditionalLogit)." if "choice_model" in t else "")]


def metrics_line(analysis):
    """Why the report has no section on explanation metrics although stimuli were given (none otherwise)."""
    if not analysis.metrics_left_out:
        return []
    return ["Explanation metrics and ratings: left out, because no rated stimulus has an explanation metric (maps "
            "imported with import_stimuli carry none; generate_stimuli computes them for the maps it makes)."]


def method_lines(analysis):
    o = analysis.options
    if not analysis.models:  # a study of task blocks only: the task section says what its numbers are
        return []
    return [
        "Which test answers which question. The mixed model (primary test): do the models' ratings differ in a "
        "way that holds for other participants rating other images? Participants and images are both samples, "
        f"{design_text(analysis)}. It treats both as random factors "
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
        *(["Ordinal mixed model: the cumulative link mixed model (logit link) of the answers as ordered categories, "
           "with the same crossed random intercepts and on the same participants, fitted by the Laplace "
           "approximation as R's ordinal::clmm fits it (analysis/clmm.py, checked against R in the test suite); odds "
           "ratios of a higher answer with Wald intervals from the Hessian at the optimum. A fit that did not "
           "converge shows no numbers."] if o.mixed_model else []),
        f"Wilcoxon signed-rank: scipy.stats.wilcoxon with zero_method='{o.zero_method}' (zero differences are "
        + {"pratt": "ranked with the others, then left out of the signed sums",
           "wilcox": "dropped before ranking",
           "zsplit": "ranked and split half to each sign"}[o.zero_method]
        + "), two-sided, method='auto'.",
        "Multiple comparisons: Holm step-down (statsmodels multipletests method='holm', not its Holm-Sidak "
        "default) over the model pairs within each statement and analysis.",
        *choice_method_line(analysis),
        *metrics_line(analysis),
        f"Significance level alpha = {o.alpha}.",
    ]


def provenance_lines(analysis):
    """The study, when the report was made and from what: the report's first lines (none without provenance)."""
    given = analysis.provenance
    if given is None:
        return []
    made = datetime.fromisoformat(given.made_at).strftime("%Y-%m-%d %H:%M UTC")
    return [f"Study: {given.study}" + (f" (slug {given.slug})" if given.slug else "") if given.study else
            "Study: not named (the export files do not carry the study's name; give analyze --title to name it)",
            f"Made: {made} (its numbers are those of the data as read then)",
            f"From: {given.source}"]


def report_title(analysis):
    study = analysis.provenance.study if analysis.provenance else None
    return f"Analysis report: {study}" if study else "Saliency study: analysis report"


def html_context(analysis):
    """Everything report.html shows; plain strings (the template escapes them)."""
    by_model = {}
    if "justifications" in analysis.tables:
        table = analysis.tables["justifications"]
        for model, group in table.groupby("chosen_model", sort=False, observed=True):
            by_model[model] = {"total": len(group),
                               "rows": group.head(JUSTIFICATIONS_SHOWN).to_dict("records")}
    return {
        "title": report_title(analysis),
        "provenance_lines": provenance_lines(analysis),
        "flow_table": flow_table(analysis),
        "flow_figure": flow_figure(analysis),
        "sample_lines": sample_lines(analysis),
        "method_lines": method_lines(analysis),
        "tables": display_tables(analysis),
        "metric_tables": metric_tables(analysis),
        "task_tables": task_tables(analysis),
        "task_lines": task_lines(analysis),
        "factor_tables": factor_tables(analysis),
        "figures": [{"title": title, "data_uri": "data:image/png;base64," + base64.b64encode(
            analysis.figures[name]).decode("ascii")} for name, title in figure_titles(analysis)],
        "justifications": by_model,
        "justifications_shown": JUSTIFICATIONS_SHOWN,
    }


def flow_figure(analysis):
    """The participant-flow figure as the report embeds it beside the flow table (None without one)."""
    png = analysis.figures.get(FLOW_FIGURE)
    return {"title": FLOW_FIGURE_TITLE, "file": f"figures/{FLOW_FIGURE}.png",
            "data_uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii")} if png else None


def figure_titles(analysis):
    """The results' figures (the flow figure is the sample's: flow_figure), by name, with their titles."""
    titles = {"mean_ci": "Mean rating per model with 95% CI (over participants)",
              "likert": "Answers per model (diverging stacked bars)",
              "choice_shares": "Share of side-by-side choices per model",
              "metric_ratings": "Mean rating of each stimulus against its explanation metrics, one colour per model",
              "cell_means": "Mean rating per model x method cell with 95% CI (over participant means)",
              TASK_ACCURACY_FIGURE: "Task accuracy per condition with 95% CI (participant bootstrap); dashed: chance"}
    return [(name, titles[name]) for name in analysis.figures if name != FLOW_FIGURE]
