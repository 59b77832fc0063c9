"""Side-by-side choices: shares (as the published 56/29/15 % are), per person, why, and a paired-comparison model.

Choices compare only the maps shown on one page. The maps (cells) joined by some page form a connected set of
the comparison graph; a methods study whose pages show the methods of one model has one set per model. The
choices say nothing about cells of different sets, so every number here is computed within a set: shares of
the set's choices, the chi-square test of equal shares, each participant's most-chosen cell, and the
Plackett-Luce (top-1) / Bradley-Terry worths of the paired-comparison model (docs/explanation/choice-model.md).
A page shows 2 to 4 maps (choices.csv's map_count); the sides a page leaves empty are not shown maps.
"""

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components
from statsmodels.discrete.conditional_models import ConditionalLogit
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

from analysis.loading import SIDES, order_models

OVERALL = "all"
CONFIDENCE = 0.95
# statsmodels' default (BFGS, whose gtol it does not pass on) stops up to 5e-4 short of the maximum on a few hundred
# choices; Newton's method reaches it (the tests compare with choix's maximum-likelihood estimates to 1e-6). It
# runs only where the maximum exists (unordered() checks first).
FIT_OPTIONS = {"method": "newton", "maxiter": 100, "disp": False}
PARTIAL_PAGES = "pages show only part of the set: equal shares are not the null; read the paired-comparison model"


def offered_models(choices, models):
    """The models shown side by side: those of `models` first, in its order, then the rest (order_models)."""
    shown = set()
    for side in SIDES:
        shown.update(choices[side].dropna().astype(str).unique())
    return [m for m in models if m in shown] + [m for m in order_models(shown) if m not in models]


def cell_codes(column, cells):
    """A choices column as indexes into `cells`; -1 where it is empty."""
    values = column.astype("category")
    lookup = np.array([cells.index(str(c)) if str(c) in cells else -1 for c in values.cat.categories] + [-1],
                      dtype=np.int64)
    return lookup[values.cat.codes.to_numpy()]  # code -1 (empty) picks the last entry, -1


@dataclass
class ComparedSets:
    """The comparison graph of the choices: which cells were compared with which, directly or through others."""

    cells: list  # every shown cell, in report order
    shown: np.ndarray  # (choices, sides): the shown cells' indexes into `cells`, -1 where a side is empty
    chosen: np.ndarray  # (choices,): the chosen cell's index
    of_choice: np.ndarray  # (choices,): the 0-based set of each choice
    members: list  # per set, its cells' indexes in report order; sets ordered by their first cell

    def names(self, number):
        return [self.cells[i] for i in self.members[number]]

    def whole_pages(self, number):
        """Whether every page of the set showed all of its cells (the shares' chi-square needs it)."""
        pages = self.shown[self.of_choice == number]
        return bool(((pages >= 0).sum(axis=1) == len(self.members[number])).all())


def compared_sets(choices, cells):
    """The connected sets of the cells shown side by side (scipy connected_components of the comparison graph)."""
    shown = np.column_stack([cell_codes(choices[side], cells) for side in SIDES])
    chosen = cell_codes(choices["chosen_model"], cells)
    pairs = [shown[(shown[:, i] >= 0) & (shown[:, j] >= 0)][:, [i, j]]
             for i, j in itertools.combinations(range(shown.shape[1]), 2)]
    edges = np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(cells),) * 2)
    _, labels = connected_components(graph, directed=False)
    renumber = {label: number for number, label in enumerate(dict.fromkeys(labels))}  # by first cell
    of_cell = np.array([renumber[label] for label in labels], dtype=np.int64)
    members = [list(np.flatnonzero(of_cell == number)) for number in range(len(renumber))]
    of_choice = of_cell[chosen] if len(chosen) else np.empty(0, dtype=np.int64)
    return ComparedSets(cells, shown, chosen, of_choice, members)


def choice_shares(choices, sets):
    """Count and share of each cell over the choices of its set, overall (dataset 'all') and per dataset."""
    datasets = choices["dataset"].astype(str).to_numpy()
    rows = []
    for number in range(len(sets.members)):
        in_set = sets.of_choice == number
        frames = [(OVERALL, in_set)] + [(d, in_set & (datasets == d)) for d in
                                        choices["dataset"].cat.categories.astype(str) if (in_set & (datasets == d)).any()]
        for dataset, rows_of in frames:
            counts = np.bincount(sets.chosen[rows_of], minlength=len(sets.cells))
            total = int(rows_of.sum())
            rows += [{"set": number + 1, "dataset": dataset, "model": sets.cells[i], "count": int(counts[i]),
                      "share": counts[i] / total} for i in sets.members[number]]
    return pd.DataFrame(rows, columns=["set", "dataset", "model", "count", "share"])


def choice_goodness_of_fit(shares, sets):
    """Chi-square goodness of fit of each set's counts against equal shares, per dataset; n/a (with the reason)
    for a set whose pages showed only some of its cells, where equal shares are not what no preference means."""
    rows = []
    for (number, dataset), group in shares.groupby(["set", "dataset"], sort=False):
        counts = group["count"].to_numpy()
        row = {"set": number, "dataset": dataset, "n": int(counts.sum()), "chi2": np.nan, "df": len(counts) - 1,
               "p": np.nan, "note": ""}
        if sets.whole_pages(number - 1):
            result = stats.chisquare(counts)
            row.update(chi2=float(result.statistic), p=float(result.pvalue))
        else:
            row["note"] = PARTIAL_PAGES
        rows.append(row)
    return pd.DataFrame(rows, columns=["set", "dataset", "n", "chi2", "df", "p", "note"])


def most_chosen(choices, sets):
    """Per participant and set: choices per cell and the most-chosen cell of the set ('A/M2' when tied)."""
    frame = pd.DataFrame({"participant": choices["participant"].astype(str).to_numpy(),
                          "set": sets.of_choice + 1,
                          "chosen": pd.Categorical.from_codes(sets.chosen, sets.cells)})
    counts = frame.groupby(["participant", "set", "chosen"], observed=True).size().unstack("chosen", fill_value=0) \
        .reindex(columns=sets.cells, fill_value=0)
    top = np.zeros(counts.shape, dtype=bool)
    for number, members in enumerate(sets.members):  # a set's top cell among its own cells only
        rows = counts.index.get_level_values("set").to_numpy() == number + 1
        block = counts.to_numpy()[np.ix_(rows, members)]
        top[np.ix_(rows, members)] = block == block.max(axis=1, keepdims=True)
    names = np.array([m + "/" for m in sets.cells], dtype=object)
    counts.columns = [f"n_{m}" for m in sets.cells]
    table = counts.assign(n_choices=counts.sum(axis=1),
                          most_chosen=[s.rstrip("/") for s in top.astype(int) @ names])
    return table.reset_index()


def most_chosen_summary(per_participant, sets):
    """How many participants chose each cell most often, per set (ties listed as their own row)."""
    rows = []
    for number, group in per_participant.groupby("set", sort=True):
        counts = group["most_chosen"].value_counts()
        names = sets.names(number - 1)
        order = [m for m in names if m in counts.index] + sorted(set(counts.index) - set(names))
        rows += [{"set": number, "most_chosen": m, "participants": int(counts[m]), "share": counts[m] / counts.sum()}
                 for m in order]
    return pd.DataFrame(rows, columns=["set", "most_chosen", "participants", "share"])


def justifications(choices, models):
    """Every justification, grouped by the chosen model (in `models` order), then participant and image."""
    table = choices[["chosen_model", "participant", "image", "justification"]].copy()
    table["chosen_model"] = table["chosen_model"].cat.set_categories(models)
    return table.sort_values(["chosen_model", "participant", "image"], kind="stable").reset_index(drop=True)


def unordered(sets, number, pages, winners):
    """Why a set's worths have no maximum-likelihood estimate, or '' when they have one: the directed graph
    'winner -> each cell shown beside it' must be strongly connected (Hunter 2004); otherwise a group of cells
    always beats the rest, and its worths run off to infinity."""
    local = {cell: i for i, cell in enumerate(sets.members[number])}
    to_local = np.array([local.get(i, -1) for i in range(len(sets.cells))] + [-1])
    losers = to_local[pages]  # -1 (an empty side) indexes the last entry: -1
    won = to_local[winners]
    edges = [(w, l) for w, row in zip(won, losers) for l in row if l >= 0 and l != w]
    size = len(local)
    graph = sparse.coo_matrix((np.ones(len(edges)), tuple(np.array(edges, dtype=np.int64).reshape(-1, 2).T)),
                              shape=(size, size))
    if connected_components(graph, directed=True, connection="strong")[0] == 1:
        return ""
    never = [sets.cells[i] for i in sets.members[number] if not (won == local[i]).any()]
    always = [sets.cells[i] for i in sets.members[number]
              if (won == local[i]).sum() == (losers == local[i]).any(axis=1).sum()]
    return "not estimable: " + ("; ".join(
        ([f"never chosen: {', '.join(never)}"] if never else [])
        + ([f"chosen every time shown: {', '.join(always)}"] if always else []))
        or "some cells were always chosen over the others of the set") + " (worths without a finite estimate)"


def fit_set(sets, number):
    """The conditional logit of one set's choices on one indicator per cell (its first cell the reference)."""
    members = sets.members[number]
    in_set = sets.of_choice == number
    pages, winners = sets.shown[in_set], sets.chosen[in_set]
    base = {"set": number + 1, "n_choices": int(in_set.sum()), "se": np.nan, "z": np.nan, "p": np.nan,
            "worth_ci_low": np.nan, "worth_ci_high": np.nan}
    counts = [{"cell": sets.cells[i], "shown": int((pages == i).any(axis=1).sum()), "chosen": int((winners == i).sum())}
              for i in members]
    reference = {**base, **counts[0], "reference": True, "coefficient": 0.0, "worth": 1.0, "note": ""}
    note = unordered(sets, number, pages, winners)
    result = None
    if not note:
        side = np.nonzero(pages >= 0)
        flat = pages[side]
        exog = np.column_stack([(flat == i).astype(float) for i in members[1:]])
        endog = (flat == winners[side[0]]).astype(float)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = ConditionalLogit(endog, exog, groups=side[0]).fit(**FIT_OPTIONS)
                if (not np.isfinite(np.asarray(result.bse)).all()
                        or any(issubclass(w.category, (ConvergenceWarning, HessianInversionWarning)) for w in caught)):
                    note = "not estimable: " + ("; ".join(sorted({str(w.message) for w in caught})) or "no covariance")
            except (ValueError, np.linalg.LinAlgError) as error:
                note = f"not estimable: {error}"
    if note:
        return [reference] + [{**base, **count, "reference": False, "coefficient": np.nan, "worth": np.nan,
                               "note": note} for count in counts[1:]]
    low, high = np.asarray(result.conf_int(alpha=1 - CONFIDENCE)).T
    return [reference] + [{**base, **count, "reference": False, "coefficient": float(result.params[i]),
                           "se": float(result.bse[i]), "z": float(result.tvalues[i]), "p": float(result.pvalues[i]),
                           "worth": float(np.exp(result.params[i])), "worth_ci_low": float(np.exp(low[i])),
                           "worth_ci_high": float(np.exp(high[i])), "note": ""}
                          for i, count in enumerate(counts[1:])]


PAIRED_COLUMNS = ("set", "cell", "shown", "chosen", "reference", "coefficient", "se", "z", "p", "worth",
                  "worth_ci_low", "worth_ci_high", "n_choices", "note")


def paired_comparison(sets):
    """Worth of each cell within its connected set: the Plackett-Luce first-choice model (Bradley-Terry on
    pages of two), fitted as a conditional logit (statsmodels ConditionalLogit) per set, the set's first cell
    the reference (worth 1), with Wald intervals. No number compares cells of different sets."""
    rows = [row for number in range(len(sets.members)) for row in fit_set(sets, number)]
    return pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))
