"""The study's rating statistics, pooled (as the published study ran them) and per participant.

Every test statistic and p-value comes straight from scipy.stats / statsmodels; this module only
arranges the data (one pivot shared by all paired tests) and adds the effect sizes.
"""

import gc
import itertools

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.loading import LIKERT_LEVELS, STATEMENTS

ZERO_METHODS = ("pratt", "wilcox", "zsplit")
# Likert differences are often zero; Pratt ranks the zeros with the rest (then drops them from the
# signed sums) instead of discarding them before ranking, as scipy's default "wilcox" does.
DEFAULT_ZERO_METHOD = "pratt"
# Per-participant means and their differences are rounded before ranking, so that float noise
# (3.35 - 3.05 != 4.35 - 4.05) does not split ties.
MEAN_DECIMALS = 10
# scipy.stats.wilcoxon(method="auto") runs an exact permutation test up to this many differences with ties or zeros.
PERMUTATION_MAX_N = 13


def model_pairs(models):
    """Every pair of models, neighbours first: N vs A, A vs M2, then N vs M2."""
    pairs = itertools.combinations(range(len(models)), 2)
    return [(models[i], models[j]) for i, j in sorted(pairs, key=lambda ij: (ij[1] - ij[0], ij[0]))]


def answer_counts(ratings, statement, keys):
    """How often each answer 1-5 was given, per observed group of the categorical `keys` columns."""
    codes = [ratings[k].cat.codes.to_numpy(np.int64) for k in keys]
    sizes = [len(ratings[k].cat.categories) for k in keys]
    answers = ratings[statement].to_numpy(np.int64) - LIKERT_LEVELS[0]
    flat = np.ravel_multi_index(codes, sizes) * len(LIKERT_LEVELS) + answers
    counts = np.bincount(flat, minlength=int(np.prod(sizes)) * len(LIKERT_LEVELS)).reshape(-1, len(LIKERT_LEVELS))
    observed = counts.sum(axis=1) > 0
    index = pd.MultiIndex.from_product([ratings[k].cat.categories.astype(str) for k in keys], names=keys)
    return pd.DataFrame(counts[observed], index=index[observed], columns=[f"n_{v}" for v in LIKERT_LEVELS])


def descriptives(ratings, models, by=()):
    """n, mean, SD (ddof=1), median and the count of each answer 1-5, per statement x model (x `by`).

    Answers are whole numbers 1-5, so every descriptive follows from the answer counts: one
    bincount over all ratings instead of a groupby per statistic.
    """
    levels = np.array(LIKERT_LEVELS, dtype=np.float64)
    tables = []
    for statement in STATEMENTS:
        counts = answer_counts(ratings, statement, [*by, "model"])
        c = counts.to_numpy()
        n = c.sum(axis=1)
        mean = c @ levels / n
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt((c * (levels - mean[:, None]) ** 2).sum(axis=1) / (n - 1))
        cumulative = c.cumsum(axis=1)
        lower = levels[(cumulative > ((n - 1) // 2)[:, None]).argmax(axis=1)]
        upper = levels[(cumulative > (n // 2)[:, None]).argmax(axis=1)]
        summary = pd.DataFrame({"n": n, "mean": mean, "sd": sd, "median": (lower + upper) / 2}, index=counts.index)
        tables.append(summary.join(counts).reset_index().assign(statement=statement))
    table = pd.concat(tables, ignore_index=True)
    table["model"] = pd.Categorical(table["model"], categories=models)
    table["statement"] = pd.Categorical(table["statement"], categories=STATEMENTS)
    table = table.sort_values(["statement", *by, "model"]).reset_index(drop=True)
    columns = ["statement", *by, "model", "n", "mean", "sd", "median", *[f"n_{v}" for v in LIKERT_LEVELS]]
    return table[columns].astype({"statement": str, "model": str})


def paired_ratings(ratings, models):
    """One row per (participant, image), one column per (statement, model): NaN where not rated."""
    n_images = len(ratings["image"].cat.categories)
    key = ratings["participant"].cat.codes.to_numpy(np.int64) * n_images + ratings["image"].cat.codes.to_numpy()
    row, _ = pd.factorize(key)
    column = pd.Categorical(ratings["model"].astype(str), categories=models).codes
    n_rows = row.max() + 1 if len(row) else 0
    blocks = {}
    for statement in STATEMENTS:
        block = np.full((n_rows, len(models)), np.nan)
        block[row, column] = ratings[statement].to_numpy(np.float64)
        for j, model in enumerate(models):
            blocks[(statement, model)] = block[:, j]
    return pd.DataFrame(blocks)


def signed_rank_sums(differences, zero_method=DEFAULT_ZERO_METHOD):
    """R+ and R-, ranked the way scipy.stats.wilcoxon ranks them for `zero_method`."""
    d = np.asarray(differences, dtype=np.float64)
    if zero_method == "wilcox":
        d = d[d != 0]
    ranks = stats.rankdata(np.abs(d))
    r_plus, r_minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    if zero_method == "zsplit":
        half = ranks[d == 0].sum() / 2
        r_plus, r_minus = r_plus + half, r_minus + half
    return float(r_plus), float(r_minus)


def signed_rank_test(differences, zero_method=DEFAULT_ZERO_METHOD):
    """(statistic, p) of scipy.stats.wilcoxon(differences, zero_method=zero_method), two-sided, method="auto".

    For PERMUTATION_MAX_N or fewer differences with ties or zeros, scipy runs an exact permutation test
    over all 2^n sign flips and calls its statistic once per flip: 0.3 s per test at n = 10, 1 s at 13.
    The same scipy.stats.permutation_test with R+ computed for all flips at once gives the same p in
    milliseconds (the tests compare the two), which a power simulation of small studies needs.
    """
    d = np.asarray(differences, dtype=np.float64)
    if len(d) > PERMUTATION_MAX_N or (len(np.unique(np.abs(d))) == len(d) and (d != 0).all()):
        result = stats.wilcoxon(d, zero_method=zero_method)
        return float(result.statistic), float(result.pvalue)
    zeros = d == 0
    # Zeros tie for the lowest ranks, so leaving them out ("wilcox") lowers every other rank by their count.
    ranks = stats.rankdata(np.abs(d)) - (zeros.sum() if zero_method == "wilcox" else 0)
    zero_share = ranks[zeros].sum() / 2 if zero_method == "zsplit" else 0.0

    def r_plus(flipped, axis):
        return (np.moveaxis(flipped, axis, -1) > 0) @ ranks + zero_share

    p = stats.permutation_test((d,), r_plus, permutation_type="samples", vectorized=True,
                               alternative="two-sided").pvalue
    return min(signed_rank_sums(d, zero_method)), float(p)


def rank_biserial(differences, zero_method=DEFAULT_ZERO_METHOD):
    """Matched-pairs rank-biserial r = (R+ - R-) / (R+ + R-): +1 when every difference is positive."""
    r_plus, r_minus = signed_rank_sums(differences, zero_method)
    total = r_plus + r_minus
    return (r_plus - r_minus) / total if total else float("nan")


def holm(pvalues):
    """Holm step-down adjusted p-values (statsmodels method='holm', not its Holm-Sidak default)."""
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        gc.freeze()  # statsmodels' holm branch runs a full gc.collect(): ~0.3 s per call with pandas loaded
        try:
            adjusted[tested] = multipletests(p[tested], method="holm")[1]
        finally:
            gc.unfreeze()
    return adjusted


def wilcoxon_pairs(wide, models, zero_method=DEFAULT_ZERO_METHOD, decimals=None, unit="rating pairs"):
    """Wilcoxon signed-rank test per statement and model pair on the rows where both models are present.

    `wide` has (statement, model) columns; the difference is second model minus first, so a positive
    rank-biserial r means the second model was rated higher. Holm adjusts within each statement.
    """
    rows = []
    for statement in STATEMENTS:
        family = []
        for first, second in model_pairs(models):
            x, y = wide[(statement, first)].to_numpy(), wide[(statement, second)].to_numpy()
            both = ~(np.isnan(x) | np.isnan(y))
            d = y[both] - x[both]
            if decimals is not None:
                d = np.round(d, decimals)
            row = {"statement": statement, "model_a": first, "model_b": second, "unit": unit,
                   "n": int(both.sum()), "n_zero_differences": int((d == 0).sum()),
                   "mean_difference": float(d.mean()) if len(d) else np.nan,
                   "statistic": np.nan, "p": np.nan, "rank_biserial": np.nan}
            if (d != 0).any():
                statistic, p = signed_rank_test(d, zero_method)
                row.update(statistic=statistic, p=p, rank_biserial=rank_biserial(d, zero_method))
            family.append(row)
        for row, adjusted in zip(family, holm([r["p"] for r in family])):
            row["p_holm"] = float(adjusted)
        rows.extend(family)
    return pd.DataFrame(rows)


def one_way_anova(ratings, models):
    """Pooled one-way ANOVA across models per statement: F, both df, p, eta squared = SS_between / SS_total."""
    codes = pd.Categorical(ratings["model"].astype(str), categories=models).codes
    rows = []
    for statement in STATEMENTS:
        values = ratings[statement].to_numpy(np.float64)
        groups = [values[codes == j] for j in range(len(models))]
        result = stats.f_oneway(*groups)
        grand = values.mean()
        ss_between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
        ss_total = ((values - grand) ** 2).sum()
        rows.append({"statement": statement, "n": len(values), "F": float(result.statistic),
                     "df_between": len(models) - 1, "df_within": len(values) - len(models),
                     "p": float(result.pvalue), "eta_squared": float(ss_between / ss_total) if ss_total else np.nan})
    return pd.DataFrame(rows)


def participant_means(ratings, models):
    """Each participant's mean rating per (statement, model), rounded to MEAN_DECIMALS; NaN where none."""
    means = ratings.groupby(["participant", "model"], observed=True)[list(STATEMENTS)].mean().unstack("model")
    means = means.reindex(columns=pd.MultiIndex.from_product([STATEMENTS, models]))
    return means.round(MEAN_DECIMALS)


def friedman_kendall(means, models):
    """Friedman test on participants who rated every model, with Kendall's W = chi2 / (n (k - 1))."""
    rows = []
    for statement in STATEMENTS:
        block = means[statement][models].dropna()
        n, k = block.shape
        row = {"statement": statement, "n": n, "k": k, "chi2": np.nan, "df": k - 1, "p": np.nan, "kendall_w": np.nan}
        if k >= 3 and n >= 2:
            result = stats.friedmanchisquare(*(block[m].to_numpy() for m in models))
            row.update(chi2=float(result.statistic), p=float(result.pvalue),
                       kendall_w=float(result.statistic / (n * (k - 1))))
        rows.append(row)
    return pd.DataFrame(rows)


def participant_mean_ci(means, models, confidence=0.95):
    """Mean of participant means per model with a t confidence interval: each participant one unit."""
    rows = []
    for statement in STATEMENTS:
        for model in models:
            values = means[(statement, model)].dropna().to_numpy()
            n = len(values)
            mean = values.mean() if n else np.nan
            low, high = (stats.t.interval(confidence, n - 1, loc=mean, scale=stats.sem(values))
                         if n >= 2 else (np.nan, np.nan))
            rows.append({"statement": statement, "model": model, "n_participants": n, "mean": float(mean),
                         "ci_low": float(low), "ci_high": float(high), "confidence": confidence})
    return pd.DataFrame(rows)


def rating_design(ratings):
    """How the ratings cross participants, images and models (one row): the counts, and the fewest and most images
    a participant rated and models a participant rated one image under. Complete: every participant rated every
    image under every model (the published design); a balanced incomplete design (views_per_image) is not."""
    views = ratings.groupby(["participant", "image"], observed=True).size()
    images = views.groupby(level="participant", observed=True).size()
    row = {"participants": int(ratings["participant"].nunique()), "images": int(ratings["image"].nunique()),
           "models": int(ratings["model"].nunique()), "ratings": len(ratings),
           "images_per_participant_min": int(images.min()), "images_per_participant_max": int(images.max()),
           "models_per_image_min": int(views.min()), "models_per_image_max": int(views.max())}
    row["complete"] = (row["images_per_participant_min"] == row["images"]
                       and row["models_per_image_min"] == row["models"])
    return pd.DataFrame([row])
