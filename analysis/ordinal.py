"""Sensitivity check: an ordinal (cumulative logit) model of each statement on model variant.

Likert answers are ordered categories, not interval numbers; if the ordinal model agrees with the
mean-based tests, the conclusion does not hang on treating 1-5 as numbers. Like the published
tests, it pools all ratings (statsmodels has no mixed-effects ordinal model).
"""

import numpy as np
import pandas as pd
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis.loading import STATEMENTS

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
