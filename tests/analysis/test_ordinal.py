"""The ordinal sensitivity model is statsmodels' OrderedModel on the same rows (or the recorded subsample)."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis import ordinal
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
