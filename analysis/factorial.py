"""Two factors, model and explanation method: the analysis of a study whose conditions are model x method cells.

Runs only when a study shows more than one method (loading.as_conditions keeps each rating's own model in
`variant` and its method in `method`); a one-method study's report is the one-factor report, unchanged.

- The crossed mixed model rating ~ model * method + (1|participant) + (1|image), fitted as analysis.mixed fits
  the one-factor model (one group holding every rating, variance components for participant and image, the
  same optimizers), with every fixed-effect term, and pairwise contrasts within each factor between marginal
  means (each level's cells averaged with equal weights), tested from the fitted covariance, Holm within each
  factor and statement.
- Friedman per factor on participant-level means (each participant's mean rating at each level of the factor,
  over the other factor's levels), scipy.stats.friedmanchisquare, participants with every level.
- The cumulative link mixed model of the same fixed and random effects (analysis.clmm, as R's ordinal::clmm): the
  answers as ordered categories; each term and each factor's contrasts as odds ratios of a higher answer.
- Per-cell descriptives, with a 95% t interval over participant means of the cell.
- Choices: the cells' worths come from analysis.choices' paired-comparison model, within each connected set.
"""

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from analysis import clmm, mixed, ordinal
from analysis.loading import STATEMENTS
from analysis.stats import holm

FACTORS = ("model", "method")
CONFIDENCE = 0.95
FORMULA = "rating ~ C(model, Treatment) * C(method, Treatment)"


def has_two_factors(ratings):
    """Whether the ratings come from a study of several methods (as_conditions kept each rating's variant)."""
    return "variant" in ratings.columns


def factor_levels(ratings):
    """Each factor's levels in report order (the order of the cells' categories)."""
    cells = ratings[["variant", "method"]].astype(str).drop_duplicates()
    order = {cell: i for i, cell in enumerate(ratings["model"].cat.categories)}
    cells = cells.assign(rank=[order.get(c, len(order)) for c in ratings.loc[cells.index, "model"].astype(str)])
    cells = cells.sort_values("rank")
    return {"model": list(dict.fromkeys(cells["variant"])), "method": list(dict.fromkeys(cells["method"]))}


def factor_frame(ratings, levels, statement):
    return pd.DataFrame({
        "rating": ratings[statement].to_numpy(np.float64),
        "model": pd.Categorical(ratings["variant"].astype(str), categories=levels["model"]),
        "method": pd.Categorical(ratings["method"].astype(str), categories=levels["method"]),
        "participant": ratings["participant"].astype(str).to_numpy(),
        "image": ratings["image"].astype(str).to_numpy(),
        "group": np.ones(len(ratings)),
    })


def fit_factorial(ratings, levels, statement):
    """MixedLM of `statement` ~ model * method with crossed participant and image effects; (result, messages)."""
    return mixed.fit_crossed(FORMULA, factor_frame(ratings, levels, statement),
                             f"The two-factor mixed model could not be fitted to the {statement} ratings")


def term_name(factor, level):
    return f"C({factor}, Treatment)[T.{level}]"


def cell_weights(names, levels, model, method):
    """Weights on the fixed effects (named `names`, treatment coding, first levels the references) giving the
    mean of the cell (model, method): intercept + model effect + method effect + their interaction."""
    weights = np.zeros(len(names))
    weights[names.index("Intercept")] = 1
    parts = [term_name("model", model) if model != levels["model"][0] else None,
             term_name("method", method) if method != levels["method"][0] else None]
    for part in parts:
        if part:
            weights[names.index(part)] = 1
    if all(parts):
        weights[names.index(":".join(parts))] = 1
    return weights


def marginal_weights(names, levels, factor, level):
    """Weights on the fixed effects giving `level`'s marginal mean (its cells averaged with equal weights)."""
    other = "method" if factor == "model" else "model"
    cells = [{factor: level, other: value} for value in levels[other]]
    return np.mean([cell_weights(names, levels, c["model"], c["method"]) for c in cells], axis=0)


def factorial_mixed(ratings, levels, max_participants=mixed.MAX_PARTICIPANTS, seed=0):
    """(terms, contrasts): every fixed-effect term per statement, and each factor's pairwise contrasts of
    marginal means (Holm within factor and statement), with the fits' variance components."""
    fitted = mixed.participant_subsample(ratings, max_participants, seed)
    terms, contrasts = [], []
    for statement in STATEMENTS:
        result, messages = fit_factorial(fitted, levels, statement)
        components = dict(zip(result.model.exog_vc.names, result.vcomp))
        fit = {"participant_variance": float(components["participant"]),
               "image_variance": float(components["image"]), "residual_variance": float(result.scale),
               "log_likelihood": float(result.llf), "converged": bool(result.converged),
               "fit_warnings": "; ".join(messages), "n_ratings_fitted": len(fitted)}
        low, high = np.asarray(result.conf_int(alpha=1 - CONFIDENCE)).T
        for i, term in enumerate(result.fe_params.index):
            terms.append({"statement": statement, "term": term, "estimate": float(result.fe_params.iloc[i]),
                          "se": float(result.bse_fe.iloc[i]), "z": float(result.tvalues.iloc[i]),
                          "p": float(result.pvalues.iloc[i]), "ci_low": float(low[i]), "ci_high": float(high[i]),
                          **fit})
        def t_test(weights):
            test = result.t_test(weights[None, :])
            ci_low, ci_high = test.conf_int(alpha=1 - CONFIDENCE)[0]
            return {"estimate": float(test.effect[0]), "se": float(test.sd[0, 0]), "z": float(test.tvalue[0, 0]),
                    "p": float(test.pvalue), "ci_low": float(ci_low), "ci_high": float(ci_high)}

        contrasts += factor_contrasts(list(result.fe_params.index), levels, statement, t_test)
    return pd.DataFrame(terms), pd.DataFrame(contrasts)


def factor_contrasts(names, levels, statement, test):
    """Each factor's pairs of levels, compared on their marginal means: `test(weights)` (weights on the fixed
    effects named `names`, intercept included) gives each comparison's columns, with "p"; Holm within factor."""
    rows = []
    for factor in FACTORS:
        family = []
        for first, second in itertools.combinations(levels[factor], 2):
            weights = marginal_weights(names, levels, factor, second) - marginal_weights(names, levels, factor, first)
            family.append({"statement": statement, "factor": factor, "level_a": first, "level_b": second,
                           **test(weights)})
        for row, adjusted in zip(family, holm([r["p"] for r in family])):
            rows.append({**row, "p_holm": float(adjusted)})
    return rows


def factorial_clmm(ratings, levels, max_participants=mixed.MAX_PARTICIPANTS, seed=0):
    """(terms, contrasts) of the cumulative link mixed model statement ~ model * method + (1|participant) +
    (1|image) per statement (analysis.clmm; FORMULA's fixed effects, on the linear model's participants): every
    term's odds ratio of a higher answer, and each factor's pairs of levels compared on their marginal log odds
    (Holm within factor and statement): the odds ratio of a higher answer per model and per method."""
    fitted = mixed.participant_subsample(ratings, max_participants, seed)
    terms, contrasts = [], []
    for statement in STATEMENTS:
        fit = clmm.fit_cumulative_mixed(FORMULA, factor_frame(fitted, levels, statement))
        columns = {**ordinal.fit_columns(fit), "n_ratings_fitted": len(fitted)}
        for i, term in enumerate(fit.terms):
            terms.append({"statement": statement, "term": term,
                          **ordinal.odds_ratio_columns(fit.contrast(np.eye(len(fit.terms))[i])), **columns})
        contrasts += factor_contrasts(["Intercept", *fit.terms], levels, statement,
                                      lambda weights: ordinal.odds_ratio_columns(fit.contrast(weights[1:])))
    return pd.DataFrame(terms), pd.DataFrame(contrasts)


def factor_means(ratings, factor, levels):
    """Each participant's mean rating at each level of `factor` (columns: (statement, level))."""
    column = "variant" if factor == "model" else "method"
    frame = ratings.assign(level=pd.Categorical(ratings[column].astype(str), categories=levels[factor]))
    means = frame.groupby(["participant", "level"], observed=True)[list(STATEMENTS)].mean().unstack("level")
    return means.reindex(columns=pd.MultiIndex.from_product([STATEMENTS, levels[factor]]))


def friedman_factors(ratings, levels):
    """Friedman's test per factor and statement on participant means, participants with every level."""
    rows = []
    for factor in FACTORS:
        means = factor_means(ratings, factor, levels)
        for statement in STATEMENTS:
            block = means[statement][levels[factor]].dropna()
            n, k = block.shape
            row = {"factor": factor, "statement": statement, "n": n, "k": k, "chi2": np.nan, "df": k - 1,
                   "p": np.nan}
            if k >= 3 and n >= 2:
                result = stats.friedmanchisquare(*(block[level].to_numpy() for level in levels[factor]))
                row.update(chi2=float(result.statistic), p=float(result.pvalue))
            elif k == 2 and n >= 2:  # two levels: Friedman's test is the sign test's square; say so instead
                row["note"] = "two levels: see the pairwise contrast"
            rows.append(row)
    return pd.DataFrame(rows)


def cell_descriptives(ratings, levels):
    """Per cell and statement: ratings, their mean and SD, and the mean of participant means with a 95% t CI."""
    rows = []
    for model, method in itertools.product(levels["model"], levels["method"]):
        cell = ratings[(ratings["variant"].astype(str) == model) & (ratings["method"].astype(str) == method)]
        for statement in STATEMENTS:
            per_person = cell.groupby("participant", observed=True)[statement].mean()
            n = len(per_person)
            mean = float(per_person.mean()) if n else np.nan
            half = (float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * per_person.std(ddof=1) / np.sqrt(n))
                    if n >= 2 else np.nan)
            rows.append({"model": model, "method": method, "statement": statement, "n_ratings": len(cell),
                         "mean": float(cell[statement].mean()) if len(cell) else np.nan,
                         "sd": float(cell[statement].std(ddof=1)) if len(cell) >= 2 else np.nan,
                         "n_participants": n, "participant_mean": mean, "ci_low": mean - half,
                         "ci_high": mean + half})
    return pd.DataFrame(rows)
