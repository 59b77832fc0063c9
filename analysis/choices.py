"""Side-by-side choices: shares of all choices (as the published 56/29/15 % are), per person, and why."""

import numpy as np
import pandas as pd
from scipy import stats

from analysis.loading import order_models

OVERALL = "all"
SIDES = ("left", "middle", "right")


def offered_models(choices, models):
    """The models shown side by side: those of `models` first, in its order, then the rest (order_models)."""
    shown = set()
    for side in SIDES:
        shown.update(choices[side].dropna().astype(str).unique())
    return [m for m in models if m in shown] + [m for m in order_models(shown) if m not in models]


def choice_shares(choices, models):
    """Count and share of each model over all choices, overall (dataset 'all') and per dataset."""
    frames = [(OVERALL, choices)] + [(str(d), g) for d, g in choices.groupby("dataset", observed=True)]
    rows = []
    for dataset, frame in frames:
        counts = frame["chosen_model"].astype(str).value_counts().reindex(models, fill_value=0)
        total = int(counts.sum())
        for model, count in counts.items():
            rows.append({"dataset": dataset, "model": model, "count": int(count),
                         "share": count / total if total else np.nan})
    return pd.DataFrame(rows, columns=["dataset", "model", "count", "share"])


def choice_goodness_of_fit(shares):
    """Chi-square goodness of fit of the counts against equal shares, per dataset."""
    rows = []
    for dataset, group in shares.groupby("dataset", sort=False):
        counts = group["count"].to_numpy()
        result = stats.chisquare(counts)
        rows.append({"dataset": dataset, "n": int(counts.sum()), "chi2": float(result.statistic),
                     "df": len(counts) - 1, "p": float(result.pvalue)})
    return pd.DataFrame(rows)


def most_chosen(choices, models):
    """Per participant: choices per model and the most-chosen model ('A/M2' when tied)."""
    counts = (choices.groupby(["participant", "chosen_model"], observed=True).size()
              .unstack("chosen_model", fill_value=0).reindex(columns=models, fill_value=0))
    counts.index = counts.index.astype(str)
    top = counts.to_numpy() == counts.max(axis=1).to_numpy()[:, None]
    names = np.array([m + "/" for m in models], dtype=object)
    counts.columns = [f"n_{m}" for m in models]
    table = counts.assign(n_choices=counts.sum(axis=1),
                          most_chosen=[s.rstrip("/") for s in top.astype(int) @ names])
    return table.reset_index().rename(columns={"index": "participant"})


def most_chosen_summary(per_participant, models):
    """How many participants chose each model most often (ties listed as their own row)."""
    counts = per_participant["most_chosen"].value_counts()
    order = [m for m in models if m in counts.index] + sorted(set(counts.index) - set(models))
    counts = counts.reindex(order)
    return pd.DataFrame({"most_chosen": counts.index, "participants": counts.to_numpy(),
                         "share": counts.to_numpy() / counts.sum()})


def justifications(choices, models):
    """Every justification, grouped by the chosen model (in `models` order), then participant and image."""
    table = choices[["chosen_model", "participant", "image", "justification"]].copy()
    table["chosen_model"] = table["chosen_model"].cat.set_categories(models)
    return table.sort_values(["chosen_model", "participant", "image"], kind="stable").reset_index(drop=True)
