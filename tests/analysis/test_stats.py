"""Each statistic against scipy / statsmodels called directly, and against textbook formulas on tiny data."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests

from analysis import stats
from analysis.loading import read_export
from analysis.simulation import simulate_export

MODELS = ["N", "A", "M2"]


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    """Fixed simulated ratings, read through the real loader (30 participants x 8 images x 3 models)."""
    folder = tmp_path_factory.mktemp("export")
    paths = simulate_export(folder, 30, images=8, effects={"N": 0.0, "A": 0.3, "M2": 0.6}, seed=7)
    return read_export(*paths).ratings


def tiny_ratings(rows):
    """Ratings frame from (participant, image, model, sufficiency, trust) tuples, categoricals as loaded."""
    frame = pd.DataFrame(rows, columns=["participant", "image", "model", "sufficiency", "trust"])
    frame["dataset"] = "fmnist"
    for column in ("participant", "image", "model", "dataset"):
        frame[column] = frame[column].astype("category")
    return frame


def test_model_pairs_put_neighbours_first():
    assert stats.model_pairs(["N", "A", "M2"]) == [("N", "A"), ("A", "M2"), ("N", "M2")]
    assert stats.model_pairs(["N", "A"]) == [("N", "A")]
    assert len(stats.model_pairs(["N", "A", "M1", "M2", "G"])) == 10


def test_descriptives_equal_numpy_per_model_and_dataset(ratings):
    table = stats.descriptives(ratings, MODELS, by=("dataset",))
    assert len(table) == 2 * 2 * 3  # statements x datasets x models
    for _, row in table.iterrows():
        values = ratings.loc[(ratings["model"] == row["model"]) & (ratings["dataset"] == row["dataset"]),
                             row["statement"]].to_numpy()
        assert row["n"] == len(values)
        assert row["mean"] == pytest.approx(np.mean(values), rel=1e-13)
        assert row["sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        assert row["median"] == np.median(values)
        assert [row[f"n_{v}"] for v in range(1, 6)] == [int((values == v).sum()) for v in range(1, 6)]


def test_median_of_an_even_count_averages_the_middle_answers():
    frame = tiny_ratings([("p1", "i1", "N", 2, 1), ("p1", "i2", "N", 3, 1), ("p1", "i1", "A", 5, 4),
                          ("p1", "i2", "A", 5, 4), ("p1", "i3", "N", 4, 2), ("p1", "i4", "N", 5, 2)])
    table = stats.descriptives(frame, ["N", "A"]).set_index(["statement", "model"])
    assert table.loc[("sufficiency", "N"), "median"] == 3.5
    assert table.loc[("trust", "N"), "median"] == 1.5
    assert np.isnan(stats.descriptives(frame.iloc[[0, 2]], ["N", "A"])["sd"]).all()  # one rating: no SD


@pytest.mark.parametrize("zero_method", stats.ZERO_METHODS)
def test_wilcoxon_pairs_equal_scipy_on_the_same_pairs_with_holm(ratings, zero_method):
    table = stats.wilcoxon_pairs(stats.paired_ratings(ratings, MODELS), MODELS, zero_method)
    for statement in ("sufficiency", "trust"):
        wide = ratings.pivot_table(index=["participant", "image"], columns="model", values=statement, observed=True)
        rows = table[table["statement"] == statement]
        expected_p = []
        for _, row in rows.iterrows():
            x, y = wide[row["model_a"]].to_numpy(), wide[row["model_b"]].to_numpy()
            result = sp.wilcoxon(x, y, zero_method=zero_method)
            assert row["n"] == len(x) == 30 * 8
            assert row["statistic"] == pytest.approx(result.statistic, rel=1e-12)
            assert row["p"] == pytest.approx(result.pvalue, rel=1e-10)
            expected_p.append(result.pvalue)
        assert rows["p_holm"].to_numpy() == pytest.approx(multipletests(expected_p, method="holm")[1], rel=1e-12)


def test_holm_is_not_statsmodels_default_holm_sidak():
    p = [0.01, 0.02, 0.04]
    assert stats.holm(p) == pytest.approx([0.03, 0.04, 0.04])
    assert not np.allclose(stats.holm(p), multipletests(p)[1])
    assert np.isnan(stats.holm([np.nan, 0.01])[0]) and stats.holm([np.nan, 0.01])[1] == 0.01


def test_rank_biserial_follows_the_textbook_formula():
    d = np.array([1.0, -2.0, 3.0, 4.0, 0.0])
    # wilcox drops the zero: ranks 1, 2, 3, 4 -> R+ = 1 + 3 + 4 = 8, R- = 2 -> r = 6 / 10
    assert stats.signed_rank_sums(d, "wilcox") == (8.0, 2.0)
    assert stats.rank_biserial(d, "wilcox") == pytest.approx(0.6)
    # pratt ranks the zero first (rank 1): R+ = 2 + 4 + 5 = 11, R- = 3 -> r = 8 / 14
    assert stats.signed_rank_sums(d, "pratt") == (11.0, 3.0)
    assert stats.rank_biserial(d, "pratt") == pytest.approx(8 / 14)
    # zsplit gives half of the zero's rank to each sign: R+ = 11.5, R- = 3.5 -> r = 8 / 15
    assert stats.rank_biserial(d, "zsplit") == pytest.approx(8 / 15)
    assert stats.rank_biserial([2.0, 1.0, 3.0]) == 1.0 and stats.rank_biserial([-1.0, -5.0]) == -1.0


def test_scipys_statistic_is_the_smaller_signed_rank_sum():
    d = np.array([1.0, -2.0, 3.0, 4.0, 0.0, 2.5, -0.5])
    for method in stats.ZERO_METHODS:
        assert sp.wilcoxon(d, zero_method=method).statistic == min(stats.signed_rank_sums(d, method))


SMALL_SAMPLES = {  # where scipy's method="auto" runs its exact permutation test: n <= 13 with ties or zeros
    "ties": [0.5, -0.5, 1.0, 1.0, 0.25, 2.0, -1.0, 0.5],
    "zeros": [0.0, 0.3, 0.0, 1.2, -0.4, 0.9, 0.6],
    "ties and zeros, n=11": [0.0, 0.2, 0.2, -0.2, 0.4, 0.0, 0.6, 0.8, -0.6, 0.2, 1.0],
    "one nonzero": [0.0, 0.0, 0.7],
    "all negative": [-0.1, -0.2, -0.2, -0.3, -0.5],
    "no ties (scipy's exact distribution)": [0.1, -0.3, 0.7, 1.1, 1.3],
    "n=14 (scipy's normal approximation)": [0.0, 0.2, 0.2, -0.2, 0.4, 0.5, 0.6, 0.8, -0.6, 0.2, 1.0, 0.3, 0.3, 0.1],
}


@pytest.mark.parametrize("zero_method", stats.ZERO_METHODS)
@pytest.mark.parametrize("sample", SMALL_SAMPLES)
def test_signed_rank_test_gives_scipys_wilcoxon_exactly(sample, zero_method):
    d = np.array(SMALL_SAMPLES[sample])
    expected = sp.wilcoxon(d, zero_method=zero_method)
    assert stats.signed_rank_test(d, zero_method) == (expected.statistic, expected.pvalue)


def test_one_way_anova_equals_scipy_and_eta_squared_the_sums_of_squares(ratings):
    table = stats.one_way_anova(ratings, MODELS).set_index("statement")
    for statement in ("sufficiency", "trust"):
        groups = [ratings.loc[ratings["model"] == m, statement].to_numpy(float) for m in MODELS]
        result = sp.f_oneway(*groups)
        row = table.loc[statement]
        assert row["F"] == pytest.approx(result.statistic, rel=1e-12)
        assert row["p"] == pytest.approx(result.pvalue, rel=1e-10)
        assert (row["df_between"], row["df_within"]) == (2, len(ratings) - 3)
        values = np.concatenate(groups)
        ss_between = sum(len(g) * (g.mean() - values.mean()) ** 2 for g in groups)
        assert row["eta_squared"] == pytest.approx(ss_between / ((values - values.mean()) ** 2).sum(), rel=1e-12)
        # and the identity eta^2 = F df1 / (F df1 + df2)
        assert row["eta_squared"] == pytest.approx(row["F"] * 2 / (row["F"] * 2 + row["df_within"]), rel=1e-10)


def test_participant_level_tests_equal_scipy_on_participant_means(ratings):
    means = stats.participant_means(ratings, MODELS)
    friedman = stats.friedman_kendall(means, MODELS).set_index("statement")
    pairs = stats.wilcoxon_pairs(means, MODELS, "pratt", decimals=stats.MEAN_DECIMALS)
    for statement in ("sufficiency", "trust"):
        direct = ratings.groupby(["participant", "model"], observed=True)[statement].mean().unstack()
        assert means[statement].to_numpy() == pytest.approx(direct[MODELS].to_numpy(), rel=1e-12)
        result = sp.friedmanchisquare(*(direct[m].to_numpy() for m in MODELS))
        row = friedman.loc[statement]
        assert row["n"] == 30
        assert row["chi2"] == pytest.approx(result.statistic, rel=1e-12)
        assert row["p"] == pytest.approx(result.pvalue, rel=1e-10)
        assert row["kendall_w"] == pytest.approx(result.statistic / (30 * 2), rel=1e-12)
        for _, pair in pairs[pairs["statement"] == statement].iterrows():
            d = np.round(direct[pair["model_b"]] - direct[pair["model_a"]], stats.MEAN_DECIMALS)
            expected = sp.wilcoxon(d, zero_method="pratt")
            assert pair["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
            assert pair["p"] == pytest.approx(expected.pvalue, rel=1e-10)


def test_kendalls_w_follows_the_textbook_formula_on_untied_ranks():
    # 4 participants rank 3 models (no ties): W = 12 S / (m^2 (k^3 - k)), S = sum (R_j - mean R)^2
    ranks = np.array([[1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2, 3]], dtype=float)
    means = pd.DataFrame(ranks, columns=pd.MultiIndex.from_product([["sufficiency"], MODELS]))
    means = pd.concat([means, means.rename(columns={"sufficiency": "trust"})], axis=1)
    rank_sums = ranks.sum(axis=0)
    s = ((rank_sums - rank_sums.mean()) ** 2).sum()
    textbook = 12 * s / (4 ** 2 * (3 ** 3 - 3))
    row = stats.friedman_kendall(means, MODELS).iloc[0]
    assert row["kendall_w"] == pytest.approx(textbook, rel=1e-12)
    assert textbook == pytest.approx(12 * 18 / (16 * 24))  # rank sums 5, 8, 11: S = 9 + 0 + 9


def test_float_noise_in_mean_differences_does_not_split_ties():
    # A - N is +0.3 for one participant and -0.3 for another, but 3.35 - 3.05 != 4.35 - 4.05 in floating point.
    assert 3.35 - 3.05 != -(4.05 - 4.35)
    means = pd.DataFrame([[3.05, 3.35], [4.35, 4.05], [1.0, 2.0]],
                         columns=pd.MultiIndex.from_product([["sufficiency"], ["N", "A"]]))
    means = pd.concat([means, means.rename(columns={"sufficiency": "trust"})], axis=1)
    row = stats.wilcoxon_pairs(means, ["N", "A"], "wilcox", decimals=stats.MEAN_DECIMALS).iloc[0]
    # rounded: the two 0.3s tie at rank 1.5, the 1.0 gets rank 3: R+ = 4.5, R- = 1.5
    assert row["statistic"] == 1.5 and row["rank_biserial"] == pytest.approx(0.5)
    # unrounded, float noise would rank them 1 and 2: R- = 1
    assert stats.wilcoxon_pairs(means, ["N", "A"], "wilcox").iloc[0]["statistic"] == 1.0


def test_two_models_have_no_friedman_test_but_their_pair():
    frame = tiny_ratings([(f"p{i}", "i1", m, v, v) for i in range(6) for m, v in (("N", 2), ("A", 4))])
    means = stats.participant_means(frame, ["N", "A"])
    assert np.isnan(stats.friedman_kendall(means, ["N", "A"])["p"]).all()
    pair = stats.wilcoxon_pairs(means, ["N", "A"]).iloc[0]
    assert pair["rank_biserial"] == 1.0 and pair["p"] == pytest.approx(sp.wilcoxon([2.0] * 6).pvalue)


def test_mean_ci_is_scipys_t_interval_over_participants(ratings):
    means = stats.participant_means(ratings, MODELS)
    table = stats.participant_mean_ci(means, MODELS)
    for _, row in table.iterrows():
        values = means[(row["statement"], row["model"])].to_numpy()
        low, high = sp.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=sp.sem(values))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)
        assert row["n_participants"] == 30
