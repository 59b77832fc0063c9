"""The report's tables, lines and figure titles as people read them: shared by report.html and report.md."""

import base64
import math
from dataclasses import dataclass

from analysis import explanations, factorial, mixed, stats
from analysis.figures import FLOW_FIGURE, FLOW_FIGURE_TITLE
from analysis.loading import LIKERT_LEVELS, STATEMENTS
from studyapp.schema import DELETED_OUTCOMES, METRIC_NAMES

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
    if "choice_model" in t and len(t["choice_model"]):
        choice = t["choice_model"]
        notes = sorted({n for n in choice["note"] if n})
        shown.append(DisplayTable(
            "Side-by-side choices: worth of each cell (conditional logit)",
            f"Which of the three shown maps was chosen, in {int(choice['n_choices'].iloc[0]):,} choices: a "
            "conditional logit (statsmodels ConditionalLogit; the Bradley-Terry-Luce / Plackett-Luce first-choice "
            f"model) with one indicator per cell, {choice['cell'].iloc[0]} the reference (worth 1). Worth = "
            f"exp(coefficient): how much more often a cell's map is chosen than the reference's when both are shown; "
            f"95% intervals. * marks p < {alpha}." + (f" {'; '.join(notes)}." if notes else ""),
            ["Cell", "Worth", "95% CI", "Coefficient", "SE", "p"],
            [[r["cell"], format_number(r["worth"], 3), "reference" if r["reference"] else
              interval(r["worth_ci_low"], r["worth_ci_high"], 3), format_number(r["coefficient"], 3),
              format_number(r["se"], 3), format_p(r["p"]) + mark(r["p"], alpha)] for _, r in choice.iterrows()],
            "choice_model.csv"))
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
    """The participant flow, CONSORT-style: arrived -> consented -> completed -> excluded by reason -> analysed."""
    flow = analysis.sample.flow
    if not flow:
        return None
    return DisplayTable(
        "Participant flow",
        "Each step's participants, from arrival to analysis (CONSORT-style). Exclusions are counted in order "
        "among those with answers kept, each participant once; those analysed are the participants with at least "
        "one rating in the tables below.",
        ["Step", "Participants"], [[label, str(count)] for label, count in flow], "participant_flow.csv")


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
                 if s.exclusion_rule != "none" else "Excluded: none (no exclusion asked for)")
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
        "flow_table": flow_table(analysis),
        "flow_figure": flow_figure(analysis),
        "sample_lines": sample_lines(analysis),
        "method_lines": method_lines(analysis),
        "tables": display_tables(analysis),
        "metric_tables": metric_tables(analysis),
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
              "cell_means": "Mean rating per model x method cell with 95% CI (over participant means)"}
    return [(name, titles[name]) for name in analysis.figures if name != FLOW_FIGURE]
