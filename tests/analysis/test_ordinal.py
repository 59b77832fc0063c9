"""The pooled ordinal model is statsmodels' OrderedModel on the same rows (or the recorded subsample); the mixed
ordinal model is analysis.clmm (equal to R's ordinal::clmm: test_clmm.py) on the linear mixed model's participants."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.multitest import multipletests

from analysis import clmm, mixed, ordinal
from analysis.loading import read_export
from analysis.simulation import simulate_export

MODELS = ["N", "A", "M2"]


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    paths = simulate_export(tmp_path_factory.mktemp("export"), 20, images=6,
                            effects={"N": 0.0, "A": 0.5, "M2": 1.0}, seed=3)
    return read_export(*paths).ratings


def direct_fit(rows):
    endog = pd.Series(pd.Categorical(rows["trust"], categories=sorted(rows["trust"].unique()), ordered=True),
                      index=rows.index)
    exog = pd.DataFrame({f"model:{m}": (rows["model"].astype(str) == m).astype(float).to_numpy() for m in MODELS[1:]},
                        index=rows.index)
    return OrderedModel(endog, exog, distr="logit").fit(method="bfgs", disp=False, maxiter=200)


def test_coefficients_equal_statsmodels_on_the_same_ratings(ratings):
    table = ordinal.ordinal_models(ratings, MODELS).set_index(["statement", "model"])
    result = direct_fit(ratings)
    for model in MODELS[1:]:
        row = table.loc[("trust", model)]
        assert row["coef"] == pytest.approx(result.params[f"model:{model}"], rel=1e-9)
        assert row["se"] == pytest.approx(result.bse[f"model:{model}"], rel=1e-9)
        assert row["p"] == pytest.approx(result.pvalues[f"model:{model}"], rel=1e-9)
        assert row["odds_ratio"] == pytest.approx(np.exp(result.params[f"model:{model}"]), rel=1e-9)
        assert not row["subsampled"] and row["n_fitted"] == len(ratings) == 360
    assert table.loc[("trust", "M2"), "coef"] > table.loc[("trust", "A"), "coef"] > 0


def test_large_data_is_fitted_on_a_seeded_subsample_that_can_be_redrawn(ratings):
    table = ordinal.ordinal_models(ratings, MODELS, max_rows=200, seed=11).set_index(["statement", "model"])
    row = table.loc[("trust", "A")]
    assert row["subsampled"] and row["n_fitted"] == 200 and row["seed"] == 11
    rows = np.sort(np.random.default_rng(11).choice(len(ratings), size=200, replace=False))
    assert row["coef"] == pytest.approx(direct_fit(ratings.iloc[rows]).params["model:A"], rel=1e-9)


def direct_clmm(rows, statement):
    """analysis.clmm on the raw CSV rows: its own frame, not mixed_frame."""
    frame = rows.assign(rating=rows[statement], model=pd.Categorical(rows["model"], categories=MODELS))
    return clmm.fit_cumulative_mixed("rating ~ model", frame)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    paths = simulate_export(tmp_path_factory.mktemp("crossed"), 20, images=6, effects={"N": 0.0, "A": 0.5, "M2": 1.0},
                            image_sd=0.5, seed=7)
    return pd.read_csv(paths[0]), read_export(*paths).ratings


def test_the_mixed_ordinal_model_is_clmm_on_the_same_rows_with_every_pair_as_an_odds_ratio(export):
    raw, ratings = export
    pairs, thresholds = ordinal.mixed_ordinal_models(ratings, MODELS)
    for statement in ("sufficiency", "trust"):
        fit = direct_clmm(raw, statement)
        assert fit.converged
        rows = pairs[pairs["statement"] == statement].set_index(["model_a", "model_b"])
        assert list(rows.index) == [("N", "A"), ("A", "M2"), ("N", "M2")]
        for (first, second), weights in {("N", "A"): [1, 0], ("A", "M2"): [-1, 1], ("N", "M2"): [0, 1]}.items():
            row, expected = rows.loc[(first, second)], fit.contrast(weights)
            assert row["log_odds_ratio"] == pytest.approx(expected["estimate"], rel=1e-6)
            assert row["se"] == pytest.approx(expected["se"], rel=1e-5)
            assert [row["odds_ratio"], row["or_ci_low"], row["or_ci_high"]] == pytest.approx(
                np.exp([expected["estimate"], expected["ci_low"], expected["ci_high"]]), rel=1e-5)
        assert list(rows["p_holm"]) == pytest.approx(multipletests(list(rows["p"]), method="holm")[1], rel=1e-9)
        assert rows["participant_variance"].iloc[0] == pytest.approx(fit.variances["participant"], rel=1e-5)
        assert rows["log_likelihood"].iloc[0] == pytest.approx(fit.log_likelihood, abs=1e-6)
        assert rows["converged"].all() and (rows["fit_message"] == fit.message).all()
        mine = thresholds[thresholds["statement"] == statement]
        assert list(mine["threshold"]) == ["1|2", "2|3", "3|4", "4|5"]
        assert list(mine["estimate"]) == pytest.approx(list(fit.thresholds), rel=1e-5)
    assert (pairs.query("model_a == 'N'")["odds_ratio"] > 1).all()  # the simulated effects


def test_the_mixed_ordinal_model_is_fitted_on_the_linear_mixed_models_participant_subsample(export):
    raw, ratings = export
    pairs, _ = ordinal.mixed_ordinal_models(ratings, MODELS, max_participants=12, seed=9)
    linear = mixed.mixed_models(ratings, MODELS, max_participants=12, seed=9)
    columns = ["n_ratings", "n_participants", "n_ratings_fitted", "n_participants_fitted", "subsampled", "seed"]
    assert pairs[columns].iloc[0].to_dict() == linear[columns].iloc[0].to_dict()
    names = np.array(sorted(raw["participant"].unique()))
    chosen = names[np.sort(np.random.default_rng(9).choice(len(names), size=12, replace=False))]
    fit = direct_clmm(raw[raw["participant"].isin(chosen)], "trust")
    row = pairs.set_index(["statement", "model_a", "model_b"]).loc[("trust", "N", "M2")]
    assert row["log_odds_ratio"] == pytest.approx(fit.coefficients[1], rel=1e-6)
