"""`analyze --stimuli`: ratings against the stimuli's explanation metrics, equal to scipy on the same data."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from scipy import stats as sp

from analysis.simulation import simulate_export
from studyapp.schema import METRIC_NAMES, STIMULI_COLUMNS


def analyze(*args):
    call_command("analyze", *map(str, args), stdout=io.StringIO())


@pytest.fixture
def export(tmp_path):
    """15 participants x 6 images x N, A, M2, and a stimuli.csv whose Gini follows the models' effects."""
    ratings, choices, participants = simulate_export(tmp_path / "export", 15, images=6,
                                                     effects={"N": 0.0, "A": 0.5, "M2": 1.0}, seed=2)
    rng = np.random.default_rng(0)
    rated = pd.read_csv(ratings)[["image", "dataset", "class_name", "model"]].drop_duplicates()
    effect = rated["model"].map({"N": 0.0, "A": 0.1, "M2": 0.2}).to_numpy()
    stimuli = rated.assign(
        predicted_class=rated["class_name"], confidence=0.9,
        gini=0.4 + effect + rng.normal(0, 0.05, len(rated)), ris=rng.lognormal(-9, 1, len(rated)),
        ros=rng.lognormal(7, 1, len(rated)), road_aopc=rng.uniform(0, 0.5, len(rated)),
        ssim=rng.uniform(0.3, 0.9, len(rated)), method="VG", rendering="sequential", scaling="map", settings="{}",
        target_class=rated["class_name"], target_rank=1, target_probability=0.9, top_classes="", top_probabilities="",
        true_class=rated["class_name"])
    stimuli.loc[stimuli.index[0], "ris"] = np.nan  # noise changed the prediction: an empty cell
    path = tmp_path / "export" / "stimuli.csv"
    stimuli[list(STIMULI_COLUMNS)].to_csv(path, index=False)
    return {"ratings": ratings, "choices": choices, "participants": participants, "stimuli": path,
            "out": tmp_path / "report"}


def args(export, **replace):
    paths = {**export, **replace}
    return ["--ratings", paths["ratings"], "--choices", paths["choices"], "--stimuli", paths["stimuli"],
            "--out", paths["out"]]


def test_correlations_and_within_image_shares_equal_scipy_and_a_direct_count(export):
    analyze(*args(export))
    out = export["out"]
    results = json.loads((out / "results.json").read_text())
    ratings = pd.read_csv(export["ratings"])
    stimuli = pd.read_csv(export["stimuli"])
    means = ratings.groupby(["image", "model"])[["sufficiency", "trust"]].mean().reset_index()
    joined = means.merge(stimuli, on=["image", "model"])
    rows = {(r["statement"], r["metric"]): r for r in results["metric_correlations"]}
    for statement in ("sufficiency", "trust"):
        for metric in METRIC_NAMES:
            known = joined[joined[metric].notna()]
            expected = sp.spearmanr(known[metric], known[statement])
            row = rows[(statement, metric)]
            assert row["n"] == len(known) == (17 if metric == "ris" else 18)
            assert row["rho"] == pytest.approx(expected.statistic, rel=1e-12)
            assert row["p"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert rows[("sufficiency", "gini")]["rho"] > 0.5  # Gini and ratings both follow the models

    share = {(r["statement"], r["metric"], r["model_a"], r["model_b"]): r for r in results["metric_agreement"]}
    wide = joined.pivot(index="image", columns="model")
    agree = compared = 0
    for image in wide.index:
        metric_gap = wide.at[image, ("gini", "M2")] - wide.at[image, ("gini", "N")]
        rating_gap = wide.at[image, ("trust", "M2")] - wide.at[image, ("trust", "N")]
        if metric_gap != 0 and rating_gap != 0:
            compared += 1
            agree += (metric_gap > 0) == (rating_gap > 0)
    row = share[("trust", "gini", "N", "M2")]
    assert (row["images"], row["compared"], row["agree"]) == (6, compared, agree)
    assert row["share"] == pytest.approx(agree / compared)

    per_model = {r["model"]: r for r in results["metric_means"]}
    assert per_model["A"]["mean_gini"] == pytest.approx(stimuli[stimuli["model"] == "A"]["gini"].mean())
    assert per_model["N"]["n_ris"] == 5 and per_model["N"]["stimuli"] == 6
    report = (out / "report.md").read_text()
    assert "## Explanation metrics and ratings" in report and "Spearman correlation of metric and mean rating" in report
    assert "Explanation metrics and ratings" in (out / "report.html").read_text()
    assert (out / "figures" / "metric_ratings.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(out / "tables" / "stimulus_metrics.csv")) == 18


def test_without_stimuli_the_report_has_no_metric_section(export):
    analyze("--ratings", export["ratings"], "--choices", export["choices"], "--out", export["out"])
    assert "Explanation metrics" not in (export["out"] / "report.md").read_text()
    assert "metric_correlations" not in json.loads((export["out"] / "results.json").read_text())
    assert not (export["out"] / "figures" / "metric_ratings.png").exists()


def edit_stimuli(export, tmp_path, edit):
    frame = pd.read_csv(export["stimuli"], dtype=str, keep_default_na=False)
    path = tmp_path / "edited-stimuli.csv"
    edit(frame).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: f.iloc[1:], r"no row for rated image and model img-001 N"),
    (lambda f: pd.concat([f, f.iloc[:1].assign(image="img-999")]), r"image\(s\) img-999 were never rated"),
    (lambda f: f.assign(gini=["high"] + list(f["gini"].iloc[1:])), r"'gini' must hold numbers.*data rows 1 hold 'high'"),
    (lambda f: pd.concat([f, f.iloc[:1]]), r"the same image and model is listed more than once.*img-001"),
    # Model names are free text (imported models); a name the ratings do not have leaves a rated map unlisted.
    (lambda f: f.assign(model=["X"] + list(f["model"].iloc[1:])), r"no row for rated image and model img-001 N"),
    (lambda f: f.assign(method=["IG"] + list(f["method"].iloc[1:])),
     r"no row for rated image, model and method img-001 N VG"),
])
def test_a_stimuli_file_that_does_not_match_the_ratings_is_a_clear_error(export, tmp_path, edit, message):
    path = edit_stimuli(export, tmp_path, edit)
    with pytest.raises(CommandError, match=message):
        analyze(*args(export, stimuli=path))
    assert not export["out"].exists()


def test_metrics_from_the_database_equal_those_from_stimuli_csv(study_factory, tmp_path):
    study = study_factory(images=3)
    for number, stimulus in enumerate(study.stimuli.order_by("pk")):
        stimulus.gini, stimulus.ris, stimulus.ros = 0.3 + number / 50, 1e-4 * (number % 4 + 1), 100.0 + number
        stimulus.road_aopc, stimulus.ssim = 0.1 * (number % 3), 0.5 + number / 100
        stimulus.save()
    call_command("simulate_participants", study=study.slug, count=6, seed=0, means="N=2,A=3,M2=4", sd=0.8,
                 stdout=io.StringIO())
    call_command("export_responses", study=study.slug, out=tmp_path / "export", stdout=io.StringIO())
    export = tmp_path / "export"
    analyze("--ratings", export / "ratings.csv", "--choices", export / "choices.csv", "--stimuli",
            export / "stimuli.csv", "--out", tmp_path / "from-files")
    analyze("--study", study.slug, "--out", tmp_path / "from-database")
    files = json.loads((tmp_path / "from-files" / "results.json").read_text())
    database = json.loads((tmp_path / "from-database" / "results.json").read_text())
    for table in ("metric_correlations", "metric_agreement", "metric_means"):
        assert files[table] == database[table] and files[table]
