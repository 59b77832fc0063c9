"""The ratings as ordered categories: cumulative logit models of each statement on model variant.

Likert answers are ordered categories, not interval numbers. The cumulative link mixed model (analysis.clmm;
R's ordinal::clmm) fits them with the linear mixed model's crossed participant and image effects, on the same
participants, so the two sit side by side: if they agree, the conclusion does not hang on treating 1-5 as
numbers. The pooled model (statsmodels OrderedModel) is kept as a sensitivity row: it treats every rating as
independent, as the published tests do.
"""

import numpy as np
import pandas as pd
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis import clmm, mixed
from analysis.loading import STATEMENTS
from analysis.stats import holm, model_pairs

# Above this many ratings the model is fitted on a seeded random subsample: a fit on 6 million rows
# takes minutes (30,000 rows: about 1 s per statement), and 30,000 ratings already pin the
# coefficients far below any difference that matters.
MAX_ROWS = 30_000


def fit_ordinal(ratings, models, statement, max_rows=MAX_ROWS, seed=0):
    """OrderedModel(statement ~ model dummies, logit), models[0] the reference; (rows_used, results)."""
    data = ratings[[statement, "model"]]
    if len(data) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(data), size=max_rows, replace=False))
        data = data.iloc[rows]
    levels = sorted(data[statement].unique())
    endog = pd.Series(pd.Categorical(data[statement], categories=levels, ordered=True), name=statement)
    exog = pd.get_dummies(pd.Categorical(data["model"].astype(str), categories=models),
                          prefix="model", prefix_sep=":", drop_first=True, dtype=np.float64)
    model = OrderedModel(endog, exog, distr="logit")
    return len(data), model.fit(method="bfgs", disp=False, maxiter=200)


def ordinal_models(ratings, models, max_rows=MAX_ROWS, seed=0):
    """Coefficient of each model against models[0] per statement: log odds of a higher answer."""
    rows = []
    for statement in STATEMENTS:
        n_used, result = fit_ordinal(ratings, models, statement, max_rows, seed)
        ci = result.conf_int()
        for model in models[1:]:
            term = f"model:{model}"
            rows.append({"statement": statement, "model": model, "reference": models[0],
                         "coef": float(result.params[term]), "se": float(result.bse[term]),
                         "z": float(result.tvalues[term]), "p": float(result.pvalues[term]),
                         "odds_ratio": float(np.exp(result.params[term])),
                         "or_ci_low": float(np.exp(ci.loc[term, 0])), "or_ci_high": float(np.exp(ci.loc[term, 1])),
                         "n_ratings": len(ratings), "n_fitted": n_used, "subsampled": n_used < len(ratings),
                         "seed": seed if n_used < len(ratings) else None,
                         "converged": bool(result.mle_retvals.get("converged", False))})
    return pd.DataFrame(rows)


def fit_columns(fit):
    """A cumulative link mixed model's fit as table columns; no numbers where it did not converge."""
    shown = fit.converged
    return {"participant_variance": fit.variances["participant"] if shown else np.nan,
            "image_variance": fit.variances["image"] if shown else np.nan,
            "log_likelihood": fit.log_likelihood if shown else np.nan, "converged": fit.converged,
            "fit_message": fit.message, "evaluations": fit.evaluations}


def odds_ratio_columns(test):
    """A tested log odds ratio (clmm.MixedFit.contrast) as the tables show it, with its odds ratio and interval."""
    return {"log_odds_ratio": test["estimate"], "se": test["se"], "z": test["z"], "p": test["p"],
            "odds_ratio": float(np.exp(test["estimate"])), "or_ci_low": float(np.exp(test["ci_low"])),
            "or_ci_high": float(np.exp(test["ci_high"])), "confidence": clmm.CONFIDENCE}


def mixed_ordinal_models(ratings, models, max_participants=mixed.MAX_PARTICIPANTS, seed=0):
    """(pairs, thresholds): the cumulative link mixed model statement ~ model + (1|participant) + (1|image) per
    statement, fitted on the linear mixed model's participants (its subsample above `max_participants`): every
    model pair's odds ratio of a higher answer (Holm over the pairs within a statement), and the thresholds."""
    ratings = ratings[ratings["model"].isin(models)]
    fitted = mixed.participant_subsample(ratings, max_participants, seed)
    sample = mixed.sample_columns(ratings, fitted, seed)
    pairs, thresholds = [], []
    for statement in STATEMENTS:
        fit = clmm.fit_cumulative_mixed(mixed.FORMULA, mixed.mixed_frame(fitted, models, statement))
        columns = {**fit_columns(fit), **sample}
        family = []
        for first, second in model_pairs(models):
            weights, term = mixed.pair_weights(fit.terms, first, second, models)
            family.append({"statement": statement, "model_a": first, "model_b": second, "reference": models[0],
                           "term": term, **odds_ratio_columns(fit.contrast(weights))})
        for row, adjusted in zip(family, holm([r["p"] for r in family])):
            pairs.append({**row, "p_holm": float(adjusted), **columns})
        thresholds += [{"statement": statement, **row, "converged": fit.converged}
                       for row in fit.threshold_table().to_dict("records")]
    return pd.DataFrame(pairs), pd.DataFrame(thresholds)
