"""analysis.clmm equals R's ordinal::clmm (K = 5) and lme4::glmer (K = 2, nAGQ = 1) on seeded data.

R runs here (Rscript tests/analysis/r_reference/reference.R) on the CSVs that tests/analysis/r_reference/generate.py
writes: crossed participant and image effects, a variance near zero, an unbalanced incomplete model x method
design, and a right/wrong task with the condition between participants. Tolerances (the issue's): thresholds and
fixed effects 1e-3 relative, standard errors and variances 1e-2 relative, the log-likelihood 1e-3.
"""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import clmm, factorial, mixed
from tests.analysis.r_reference import generate

ESTIMATE_RTOL, SE_RTOL, VARIANCE_RTOL, LOGLIK_ATOL = 1e-3, 1e-2, 1e-2, 1e-3
LEVELS = {"model": list(generate.MODELS), "method": list(generate.METHODS), "condition": list(generate.CONDITIONS)}
ONE_FACTOR = mixed.FORMULA.split("~")[1].strip()
TWO_FACTORS = factorial.FORMULA.split("~")[1].strip()
# reference.R's fits: name -> (data file, response, the right-hand side as the report's models write it)
FITS = {
    "crossed_clmm": ("crossed.csv", "rating", ONE_FACTOR),
    "crossed_glmer": ("crossed.csv", "agree", ONE_FACTOR),
    "near_zero_clmm": ("near_zero.csv", "rating", ONE_FACTOR),
    "near_zero_glmer": ("near_zero.csv", "agree", ONE_FACTOR),
    "incomplete_clmm": ("incomplete.csv", "rating", TWO_FACTORS),
    "incomplete_glmer": ("incomplete.csv", "agree", TWO_FACTORS),
    "tasks_glmer": ("tasks.csv", "correct", "condition"),
}


def case(name):
    frame = pd.read_csv(generate.FOLDER / name)
    for column, levels in LEVELS.items():
        if column in frame:
            frame[column] = pd.Categorical(frame[column], categories=levels)
    return frame


def fit(name):
    file, response, right = FITS[name]
    formula = f"{response} ~ {right}"
    if name.endswith("glmer"):
        return clmm.fit_binary_mixed(case(file), formula)
    return clmm.fit_cumulative_mixed(formula, case(file))


def r_name(term):
    """patsy's name of a fixed effect as R's model.matrix names it: C(model, Treatment)[T.A]:... -> modelA:..."""
    return ":".join(re.sub(r"^(?:C\()?(\w+)(?:, Treatment\))?\[T\.(.+)\]$", r"\1\2", part) for part in term.split(":"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """R's fits: fit -> parameter -> (estimate, se)."""
    if not shutil.which("Rscript"):
        pytest.skip("Rscript is not installed: `make test` installs R (r-base-core, r-cran-ordinal, r-cran-lme4)")
    out = tmp_path_factory.mktemp("r") / "reference.csv"
    subprocess.run(["Rscript", str(generate.FOLDER / "reference.R"), str(generate.FOLDER), str(out)], check=True,
                   capture_output=True, timeout=600)
    table = pd.read_csv(out)
    return {name: rows.set_index("parameter")[["estimate", "se"]] for name, rows in table.groupby("fit")}


def test_the_committed_data_are_what_the_seeded_script_writes():
    for name, frame in generate.cases().items():
        assert (generate.FOLDER / name).read_text(encoding="utf-8") == generate.csv_text(frame), name


@pytest.mark.parametrize("name", list(FITS))
def test_estimates_standard_errors_variances_and_log_likelihood_equal_r(reference, name):
    ours, theirs = fit(name), reference[name]
    assert ours.converged, ours.message
    rows = [] if name.endswith("glmer") else [
        (r["threshold"], r["estimate"], r["se"]) for _, r in ours.threshold_table().iterrows()]
    rows += [("(Intercept)" if r["term"] == "Intercept" else r_name(r["term"]), r["estimate"], r["se"])
             for _, r in ours.fixed_effects().iterrows()]
    coefficients = [p for p in theirs.index if not p.endswith("_variance") and p not in ("log_likelihood", "singular")]
    assert sorted(p for p, _, _ in rows) == sorted(coefficients)
    for parameter, estimate, se in rows:
        assert estimate == pytest.approx(theirs.loc[parameter, "estimate"], rel=ESTIMATE_RTOL), parameter
        assert se == pytest.approx(theirs.loc[parameter, "se"], rel=SE_RTOL), parameter
    for group in clmm.GROUPS:
        assert ours.variances[group] == pytest.approx(theirs.loc[f"{group}_variance", "estimate"], rel=VARIANCE_RTOL,
                                                      abs=1e-8), group
    assert ours.log_likelihood == pytest.approx(theirs.loc["log_likelihood", "estimate"], abs=LOGLIK_ATOL)
    if "singular" in theirs.index:  # lme4's verdict on a variance at 0 is ours
        assert bool(theirs.loc["singular", "estimate"]) == bool(ours.at_zero)


def test_a_variance_near_zero_is_small_in_the_ordinal_fit_and_exactly_zero_in_the_binary_one(reference):
    ordinal, binary = fit("near_zero_clmm"), fit("near_zero_glmer")
    assert 0 < ordinal.variances["image"] < 0.05 and not ordinal.at_zero
    assert binary.variances["image"] == 0 and binary.at_zero == ("image",)
    assert binary.message == "converged; the image variance is estimated at 0"
    assert reference["near_zero_glmer"].loc["image_variance", "estimate"] == 0


@pytest.mark.parametrize("name", ["crossed_glmer", "tasks_glmer"])
def test_glmer_with_its_default_tolerances_stops_below_our_optimum(reference, name):
    """glmer's defaults (tolPwrss 1e-7) evaluate the Laplace likelihood at modes not solved to convergence: its
    log-likelihood is below ours, its estimates within a few 1e-3 of ours (reference.R's comment)."""
    ours, default = fit(name), reference[f"{name}_default"]
    assert ours.log_likelihood >= default.loc["log_likelihood", "estimate"] - 1e-9
    table = ours.fixed_effects().assign(term=lambda t: t["term"].map(
        lambda term: "(Intercept)" if term == "Intercept" else r_name(term))).set_index("term")
    assert table["estimate"].to_numpy() == pytest.approx(default.loc[table.index, "estimate"].to_numpy(), rel=1e-2)


def test_the_gradient_is_the_derivative_of_the_laplace_likelihood():
    """The exact gradient (implicit differentiation of the modes) against central differences of L itself, with
    more participants than images and the other way round, and at an SD of 0, where L is even in the SD."""
    frame = case("incomplete.csv")
    codes = (frame["rating"].to_numpy() - 1).astype(np.int64)
    X = pd.get_dummies(frame["model"], drop_first=True, dtype=float).to_numpy()
    people = pd.Categorical(frame["participant"]).codes.astype(np.int64)
    images = pd.Categorical(frame["image"]).codes.astype(np.int64)
    for groups in ((people, images, 36, 18), (images, people, 18, 36)):
        laplace = clmm._Laplace(codes, X, *groups, n_thresholds=4)
        for phi in ([-1.6, -0.5, 0.5, 1.6, 0.4, 0.9, 1.1, 0.7], [-1.4, -0.4, 0.6, 1.7, 0.3, 1.0, 0.9, 0.0]):
            phi = np.array(phi)
            _, gradient = laplace.value(phi, gradient=True)
            numeric = []
            for k in range(len(phi)):
                step = np.eye(len(phi))[k] * 1e-5
                numeric.append((laplace.value(phi + step) - laplace.value(phi - step)) / 2e-5)
            assert gradient == pytest.approx(numeric, rel=1e-6, abs=1e-5)
            mirrored = phi.copy()
            mirrored[-2:] *= -1
            assert laplace.value(mirrored) == pytest.approx(laplace.value(phi), rel=1e-12)


def test_swapping_participant_and_image_swaps_their_variances_and_nothing_else():
    """The Schur complement is taken on the smaller factor: here images, then participants."""
    frame = case("crossed.csv")
    first = clmm.fit_cumulative_mixed("rating ~ model", frame)
    second = clmm.fit_cumulative_mixed("rating ~ model", frame.rename(columns={"participant": "image",
                                                                               "image": "participant"}))
    assert first.converged and second.converged
    assert second.coefficients == pytest.approx(first.coefficients, rel=1e-7)
    assert second.thresholds == pytest.approx(first.thresholds, rel=1e-7)
    assert [second.variances["participant"], second.variances["image"]] == pytest.approx(
        [first.variances["image"], first.variances["participant"]], rel=1e-6)
    assert second.log_likelihood == pytest.approx(first.log_likelihood, abs=1e-8)


def test_wald_intervals_and_p_values_come_from_the_normal_distribution():
    result = fit("crossed_clmm")
    table = result.fixed_effects(confidence=0.9).set_index("term")
    row = table.loc["model[T.M2]"]
    assert row["se"] == pytest.approx(np.sqrt(result.covariance[5, 5]), rel=1e-12)
    assert row["z"] == pytest.approx(row["estimate"] / row["se"], rel=1e-12)
    assert row["p"] == pytest.approx(2 * stats.norm.sf(abs(row["z"])), rel=1e-12)
    assert row["ci_high"] - row["estimate"] == pytest.approx(stats.norm.ppf(0.95) * row["se"], rel=1e-12)
    difference = result.contrast([-1, 1])  # M2 vs A
    covariance = result.covariance[4:, 4:]
    assert difference["estimate"] == pytest.approx(result.coefficients[1] - result.coefficients[0], rel=1e-12)
    assert difference["se"] == pytest.approx(np.sqrt(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]),
                                             rel=1e-12)


def test_separation_is_reported_as_not_converged_and_its_tables_hold_no_numbers():
    """Every M2 rating a 5: the M2 effect runs off to infinity (R gives an estimate of 20-30 with an SE in the
    thousands); the fit says so and prints nothing as if it had converged."""
    frame = case("crossed.csv")
    frame.loc[frame["model"] == "M2", "rating"] = 5
    result = clmm.fit_cumulative_mixed("rating ~ model", frame)
    assert not result.converged
    assert result.message.startswith("did not converge: the data carry almost no information on model[T.M2]")
    assert result.fixed_effects()[["estimate", "se", "p", "ci_low", "ci_high"]].isna().all(axis=None)
    assert result.threshold_table()[["estimate", "se"]].isna().all(axis=None)
    assert np.isnan(result.contrast([1, -1])["estimate"])
    tasks = case("tasks.csv")
    tasks.loc[tasks["condition"] == "M2_VG", "correct"] = 1  # one condition always right: its odds are infinite
    binary = clmm.fit_binary_mixed(tasks, "correct ~ condition")
    assert not binary.converged and "condition[T.M2_VG]" in binary.message


def test_data_a_model_cannot_be_fitted_to_are_refused_or_reported():
    frame = case("crossed.csv")
    unused = clmm.fit_cumulative_mixed("rating ~ model", frame, categories=[1, 2, 3, 4, 5, 6])
    assert not unused.converged and unused.message == "not fitted: no answer is 6 (every category needs answers)"
    same = clmm.fit_cumulative_mixed("rating ~ model", frame.assign(rating=3))
    assert not same.converged and same.message == "not fitted: every answer is the same"
    empty_level = frame.assign(model=pd.Categorical(frame["model"].astype(str), categories=["N", "A", "M2", "G"]))
    result = clmm.fit_cumulative_mixed("rating ~ model", empty_level)
    assert not result.converged and "not all estimable" in result.message
    with pytest.raises(clmm.FitError, match="has no intercept"):
        clmm.fit_cumulative_mixed("rating ~ 0 + model", frame)
    with pytest.raises(clmm.FitError, match="no column image"):
        clmm.fit_cumulative_mixed("rating ~ model", frame.drop(columns="image"))
    with pytest.raises(clmm.FitError, match="missing values"):
        clmm.fit_cumulative_mixed("rating ~ model", frame.assign(rating=frame["rating"].where(frame.index > 0)))
    with pytest.raises(clmm.FitError, match=r"0/1 or False/True; found \[2, 3, 4, 5\]"):
        clmm.fit_binary_mixed(frame, "rating ~ model")
    tasks = case("tasks.csv")
    with pytest.raises(clmm.FitError, match="correct has missing values"):
        clmm.fit_binary_mixed(tasks.assign(correct=tasks["correct"].where(tasks.index > 0)), "correct ~ condition")
    as_bool = clmm.fit_binary_mixed(tasks.assign(correct=tasks["correct"].astype(bool)), "correct ~ condition")
    assert as_bool.converged
    assert as_bool.coefficients == pytest.approx(fit("tasks_glmer").coefficients, rel=1e-9)
