"""The crossed random-effects model equals statsmodels' MixedLM called directly on the same export file."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests

from analysis import mixed
from analysis.loading import read_export
from analysis.simulation import simulate_export

MODELS = ["N", "A", "M2"]
PAIRS = [("N", "A"), ("A", "M2"), ("N", "M2")]


def simulated(folder, participants):
    """Participant and image offsets, 8 images; the export's paths, its checked ratings and their mixed models."""
    paths = simulate_export(folder, participants, images=8, effects={"N": 0.0, "A": 0.4, "M2": 0.6}, image_sd=0.4,
                            seed=5)
    ratings = read_export(*paths).ratings
    return paths, ratings, mixed.mixed_models(ratings, MODELS)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """480 ratings: fitted with dense random-effects designs."""
    return simulated(tmp_path_factory.mktemp("export"), 20)


@pytest.fixture(scope="module")
def large_export(tmp_path_factory):
    """1,080 ratings: fitted with sparse random-effects designs."""
    return simulated(tmp_path_factory.mktemp("large"), 45)


def direct_fit(rows, statement, **fit):
    """statsmodels on the raw CSV rows: its own formula, reference and groups, not analysis.mixed's frame."""
    return smf.mixedlm(f"{statement} ~ C(model, Treatment('N'))", rows, groups=np.ones(len(rows)), re_formula="0",
                       vc_formula={"participant": "0 + C(participant)", "image": "0 + C(image)"},
                       use_sparse=len(rows) >= mixed.SPARSE_FROM_RATINGS).fit(**fit)


def term(model):
    return f"C(model, Treatment('N'))[T.{model}]"


@pytest.mark.parametrize("size", ["export", "large_export"])
@pytest.mark.parametrize("statement", ["sufficiency", "trust"])
def test_fixed_effects_contrasts_and_variances_equal_statsmodels(request, size, statement):
    paths, _, table = request.getfixturevalue(size)
    raw = pd.read_csv(paths[0])
    rows = table[table["statement"] == statement].set_index(["model_a", "model_b"])
    result = direct_fit(raw, statement, reml=True, method="powell", ftol=1e-10)
    assert result.converged and rows["converged"].all() and not rows["subsampled"].any()

    ci = result.conf_int()
    for model in ("A", "M2"):  # the pairs with the reference are the model's fixed effects
        row = rows.loc[("N", model)]
        assert row["term"] == f"model[T.{model}]"
        assert [row["estimate"], row["se"], row["z"], row["p"], row["ci_low"], row["ci_high"]] == pytest.approx(
            [result.params[term(model)], result.bse[term(model)], result.tvalues[term(model)],
             result.pvalues[term(model)], ci.loc[term(model), 0], ci.loc[term(model), 1]], rel=1e-6)

    covariance = result.cov_params()  # the contrast A vs M2 by hand from the fitted covariance
    estimate = result.params[term("M2")] - result.params[term("A")]
    se = np.sqrt(covariance.loc[term("M2"), term("M2")] + covariance.loc[term("A"), term("A")]
                 - 2 * covariance.loc[term("A"), term("M2")])
    row = rows.loc[("A", "M2")]
    assert row["term"] == "model[T.M2] - model[T.A]"
    assert [row["estimate"], row["se"], row["z"], row["p"], row["ci_low"], row["ci_high"]] == pytest.approx(
        [estimate, se, estimate / se, 2 * sp.norm.sf(abs(estimate / se)),
         estimate - sp.norm.ppf(0.975) * se, estimate + sp.norm.ppf(0.975) * se], rel=1e-6)
    assert list(rows["p_holm"]) == pytest.approx(multipletests(list(rows["p"]), method="holm")[1], rel=1e-12)

    components = dict(zip(result.model.exog_vc.names, result.vcomp))
    first = rows.iloc[0]
    assert [first["participant_variance"], first["image_variance"], first["residual_variance"],
            first["log_likelihood"]] == pytest.approx(
        [components["participant"], components["image"], result.scale, result.llf], rel=1e-6)
    assert first["n_ratings"] == first["n_ratings_fitted"] == len(raw)
    assert first["n_participants"] == raw["participant"].nunique() and first["n_images"] == 8
    assert first["fit_warnings"] == ""


def test_powell_reaches_the_reml_optimum_that_statsmodels_default_optimizer_finds(export):
    """The faster optimizer is a choice of how to climb, not of where to: same optimum as the default bfgs."""
    paths, _, table = export
    raw = pd.read_csv(paths[0])
    ours = table.query("statement == 'trust'").set_index(["model_a", "model_b"])
    default = direct_fit(raw, "trust", reml=True)
    assert default.converged
    assert ours["log_likelihood"].iloc[0] >= default.llf - 1e-6
    for model in ("A", "M2"):
        assert ours.loc[("N", model), "estimate"] == pytest.approx(default.params[term(model)], rel=1e-6)
        assert ours.loc[("N", model), "se"] == pytest.approx(default.bse[term(model)], rel=1e-4)
    components = dict(zip(default.model.exog_vc.names, default.vcomp))
    assert ours["participant_variance"].iloc[0] == pytest.approx(components["participant"], rel=1e-3)
    assert ours["image_variance"].iloc[0] == pytest.approx(components["image"], rel=1e-3)


def test_many_participants_are_fitted_on_a_seeded_subsample_that_can_be_redrawn(export):
    paths, ratings, _ = export
    table = mixed.mixed_models(ratings, MODELS, max_participants=12, seed=9)
    row = table.set_index(["statement", "model_a", "model_b"]).loc[("sufficiency", "N", "M2")]
    assert row["subsampled"] and row["seed"] == 9 and row["n_participants_fitted"] == 12
    assert row["n_participants"] == ratings["participant"].nunique()
    raw = pd.read_csv(paths[0])
    names = np.array(sorted(raw["participant"].unique()))
    chosen = names[np.sort(np.random.default_rng(9).choice(len(names), size=12, replace=False))]
    rows = raw[raw["participant"].isin(chosen)]
    assert row["n_ratings_fitted"] == len(rows)
    result = direct_fit(rows, "sufficiency", reml=True, method="powell", ftol=1e-10)
    assert row["estimate"] == pytest.approx(result.params[term("M2")], rel=1e-6)
    assert row["se"] == pytest.approx(result.bse[term("M2")], rel=1e-6)


def test_the_first_model_is_the_reference(export):
    _, ratings, both = export
    table = mixed.mixed_models(ratings, ["M2", "N"]).set_index(["statement", "model_a", "model_b"])
    both = both.set_index(["statement", "model_a", "model_b"])
    row = table.loc[("trust", "M2", "N")]
    assert row["reference"] == "M2" and row["term"] == "model[T.N]"
    assert row["estimate"] < 0  # N is rated lower than M2
    assert len(table) == 2 and table["p_holm"].equals(table["p"])  # one pair: Holm leaves it alone
    # every participant rated every image under both: the estimate is the difference of the means either way
    assert row["estimate"] == pytest.approx(-both.loc[("trust", "N", "M2"), "estimate"], rel=1e-6)


def test_a_singular_step_falls_back_to_nelder_mead_at_the_same_optimum(tmp_path):
    """6 participants x 3 images, both variances near 0: Powell meets a singular matrix on the trust ratings."""
    paths = simulate_export(tmp_path, 6, images=3, effects={"N": 0.0, "A": 1.0, "M2": 2.0}, noise_sd=0.8, seed=29)
    ratings = read_export(*paths).ratings
    raw = pd.read_csv(paths[0])
    with pytest.raises(np.linalg.LinAlgError):
        direct_fit(raw, "trust", reml=True, method="powell", ftol=1e-10)
    table = mixed.mixed_models(ratings, MODELS).query("statement == 'trust'").set_index(["model_a", "model_b"])
    assert "optimizer powell failed (Singular matrix); fitted with optimizer nm" in table["fit_warnings"].iloc[0]
    nelder_mead = direct_fit(raw, "trust", reml=True, method="nm", maxiter=20000)
    assert table["log_likelihood"].iloc[0] == pytest.approx(nelder_mead.llf, rel=1e-9)
    assert table["log_likelihood"].iloc[0] >= direct_fit(raw, "trust", reml=True).llf  # the default chain's optimum
    for model in ("A", "M2"):
        assert table.loc[("N", model), "estimate"] == pytest.approx(nelder_mead.params[term(model)], rel=1e-6)
