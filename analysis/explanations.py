"""Do ratings follow the maps' explanation metrics? Each stimulus's mean rating against its metrics.

A stimulus is one image + model; its mean rating is over the participants who rated it. Spearman's rho
comes straight from scipy.stats.spearmanr; the within-image comparison counts, for each pair of models,
the images where the model with the higher metric also got the higher mean rating.
"""

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from analysis.loading import STATEMENTS
from analysis.stats import model_pairs
from studyapp.schema import METRIC_NAMES

METRIC_LABELS = {"gini": "Gini sparsity", "ris": "RIS", "ros": "ROS", "road_aopc": "ROAD AOPC", "ssim": "SSIM"}
# Which way is better, as the study reads each metric.
METRIC_BETTER = {"gini": "higher", "ris": "lower", "ros": "lower", "road_aopc": "higher", "ssim": "higher"}


def stimulus_ratings(ratings, stimuli, models):
    """One row per rated stimulus (image, model): its mean rating per statement, the raters, its metrics."""
    means = (ratings.groupby(["image", "model"], observed=True)[list(STATEMENTS)].agg(["mean", "count"]))
    table = pd.DataFrame({
        "image": means.index.get_level_values("image").astype(str),
        "model": means.index.get_level_values("model").astype(str),
        "raters": means[(STATEMENTS[0], "count")].to_numpy(),
        **{f"mean_{statement}": means[(statement, "mean")].to_numpy() for statement in STATEMENTS},
    })
    metrics = stimuli.assign(image=stimuli["image"].astype(str), model=stimuli["model"].astype(str))
    table = table.merge(metrics[["image", "model", *METRIC_NAMES]], on=["image", "model"], how="left")
    table["model"] = pd.Categorical(table["model"], categories=models)
    return table.sort_values(["image", "model"]).reset_index(drop=True).astype({"model": str})


def metric_correlations(table):
    """Spearman's rho between each metric and each statement's mean rating, over the stimuli with that metric."""
    rows = []
    for statement in STATEMENTS:
        for metric in METRIC_NAMES:
            known = table[metric].notna().to_numpy()
            n, rho, p = spearman(table[metric].to_numpy()[known], table[f"mean_{statement}"].to_numpy()[known])
            rows.append({"statement": statement, "metric": metric, "n": n, "rho": rho, "p": p})
    return pd.DataFrame(rows)


def spearman(x, y):
    """(n, rho, p) of scipy.stats.spearmanr over paired values; rho and p NaN below 3 pairs or on constant input."""
    rho = p = np.nan
    if len(x) >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)  # constant input: rho is NaN
            result = stats.spearmanr(x, y)
        rho, p = float(result.statistic), float(result.pvalue)
    return len(x), rho, p


def within_image_agreement(table, models):
    """For each pair of models, statement and metric: over the images with both stimuli rated and scored, the
    share where the model with the higher metric also got the higher mean rating (ties in either: left out)."""
    rows = []
    for statement in STATEMENTS:
        wide = table.pivot(index="image", columns="model", values=[f"mean_{statement}", *METRIC_NAMES])
        for metric in METRIC_NAMES:
            for first, second in model_pairs(models):
                if (metric, first) not in wide or (metric, second) not in wide:
                    continue
                metric_gap = (wide[(metric, second)] - wide[(metric, first)]).to_numpy(np.float64)
                rating_gap = (wide[(f"mean_{statement}", second)] - wide[(f"mean_{statement}", first)]).to_numpy(
                    np.float64)
                both = np.isfinite(metric_gap) & np.isfinite(rating_gap)
                compared = both & (metric_gap != 0) & (rating_gap != 0)
                agree = int((np.sign(metric_gap[compared]) == np.sign(rating_gap[compared])).sum())
                rows.append({
                    "statement": statement, "metric": metric, "model_a": first, "model_b": second,
                    "images": int(both.sum()), "compared": int(compared.sum()),
                    "metric_ties": int((both & (metric_gap == 0)).sum()),
                    "rating_ties": int((both & (metric_gap != 0) & (rating_gap == 0)).sum()),
                    "agree": agree, "share": agree / compared.sum() if compared.any() else np.nan,
                })
    return pd.DataFrame(rows)


def metric_means(table, models):
    """Each metric's mean over the rated stimuli of each model, and how many stimuli had it."""
    rows = []
    for model in models:
        group = table[table["model"] == model]
        row = {"model": model, "stimuli": len(group)}
        for metric in METRIC_NAMES:
            values = group[metric].dropna()
            row[f"mean_{metric}"] = float(values.mean()) if len(values) else np.nan
            row[f"n_{metric}"] = len(values)
        rows.append(row)
    return pd.DataFrame(rows)
