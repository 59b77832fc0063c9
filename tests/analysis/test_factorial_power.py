"""Planning a model x method study: the simulated studies have the study's own design (the balanced incomplete
design of studyapp.randomization), are analysed by the two-factor tests `analyze` runs (checked against
statsmodels and scipy called directly), and their power behaves; `manage.py plan_study --methods` end to end.

Monte-Carlo bounds as in test_power.py: MC_Z standard errors of a share estimated from the simulations.
"""

import csv
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from django.core.management import CommandError, execute_from_command_line
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests

from analysis import mixed, pipeline, power
from analysis.loading import InputError
from studyapp import randomization
from studyapp.schema import FACTORIAL_POWER_COLUMNS, RATINGS_COLUMNS
from tests.analysis.test_plan_study_command import plan_study

MC_Z = 4
MODELS, METHODS = ("N", "A", "M2"), ("VG", "IG", "SG")
SPREADS = {"sd": 1.0, "participant_sd": 0.5, "image_sd": 0.3}


def design(effect=0.5, images=6, views=3, method_effect=None, **fields):
    return power.factorial_design(METHODS, means={"N": 3.0, "A": 3.0 + effect, "M2": 3.0 + effect},
                                  method_effects={"VG": 0.0, "IG": 0.0, "SG": effect if method_effect is None
                                                  else method_effect},
                                  images=images, views_per_image=views, **{**SPREADS, **fields})


def test_each_participant_rates_the_cells_the_studys_incomplete_design_gives_them():
    planned = design(images=6, views=3)
    layout = power.factorial_layout(planned, 20, seed=5)
    frame = pd.DataFrame(layout, columns=["participant", "image", "model", "method"])
    per_person = frame.groupby("participant").size()
    assert (per_person == 6 * 3).all() and len(per_person) == 20
    # each image at most views_per_image times per participant, each time under another cell
    per_image = frame.groupby(["participant", "image"])
    assert (per_image.size() == 3).all()
    assert (per_image.apply(lambda g: len(set(zip(g["model"], g["method"])))) == 3).all()
    # participant k's cells are what the survey's planner gives enrolment index k in a study seeded 5
    stimuli = [randomization.StimulusRef(i, image, model, method) for i, (image, model, method)
               in enumerate(itertools.product(range(6), MODELS, METHODS))]
    for k in (0, 7, 19):
        expected = randomization.rated_stimuli(stimuli, randomization.Design(views_per_image=3, study_seed=5, index=k))
        found = frame[frame["participant"] == k]
        assert list(zip(found["image"], found["model"].map(MODELS.__getitem__),
                        found["method"].map(METHODS.__getitem__))) == [(r.source_image, r.variant, r.method)
                                                                       for r in expected]
    # balanced: every image x cell seen by the same number of participants to within one, at any sample size
    for n in (1, 4, 9, 10, 20):
        counts = frame[frame["participant"] < n].groupby(["image", "model", "method"]).size()
        counts = counts.reindex(pd.MultiIndex.from_product([range(6), range(3), range(3)]), fill_value=0)
        assert counts.max() - counts.min() <= 1, n
        assert power.layout_balance(planned, [n], 5)[n] == {
            "ratings_per_participant": 18, "participants_per_image_and_cell_min": counts.min(),
            "participants_per_image_and_cell_max": counts.max()}
    assert set(frame[frame["participant"] < 9].groupby(["image", "model", "method"]).size()) == {3}


def test_without_views_per_image_everyone_rates_every_image_under_every_cell():
    layout = power.factorial_layout(design(images=4, views=None), 3, seed=0)
    assert len(layout) == 3 * 4 * 9
    assert len({tuple(row) for row in layout}) == len(layout)


def test_a_simulated_study_has_the_cells_and_a_large_one_recovers_the_design():
    planned = power.factorial_design(METHODS, cell_means={f"{m}:{k}": 2.5 + 0.3 * i + 0.2 * j + (0.3 if (i, j) == (2, 2)
                                                                                                  else 0)
                                                          for (i, m), (j, k) in itertools.product(enumerate(MODELS),
                                                                                                  enumerate(METHODS))},
                                     images=18, views_per_image=3, sd=0.8, participant_sd=0.5, image_sd=0.3)
    ratings = power.simulate_factorial_ratings(planned, power.factorial_layout(planned, 90, 1),
                                               np.random.default_rng(2))
    assert len(ratings) == 90 * 18 * 3
    assert list(ratings["model"].cat.categories) == [f"{m}×{k}" for m in MODELS for k in METHODS]
    assert (ratings["model"].astype(str) == ratings["variant"].astype(str) + "×" + ratings["method"].astype(str)).all()
    assert set(ratings["trust"]) <= {1, 2, 3, 4, 5} and not ratings["trust"].equals(ratings["sufficiency"])
    terms = pipeline.factor_tests(ratings, planned.levels, pipeline.Options())["factorial_mixed"]
    for statement in ("sufficiency", "trust"):
        fit = terms[terms["statement"] == statement].set_index("term")["estimate"]
        assert fit["C(model, Treatment)[T.M2]"] == pytest.approx(0.6, abs=0.12)
        assert fit["C(method, Treatment)[T.SG]"] == pytest.approx(0.4, abs=0.12)
        assert fit["C(model, Treatment)[T.M2]:C(method, Treatment)[T.SG]"] == pytest.approx(0.3, abs=0.17)
        row = terms[terms["statement"] == statement].iloc[0]
        assert row["participant_variance"] == pytest.approx(0.25, abs=0.1)
        assert row["residual_variance"] == pytest.approx(0.64 + 1 / 12, abs=0.06)


def test_each_simulated_study_is_decided_by_the_two_factor_tests_as_statsmodels_and_scipy_decide():
    planned = design(effect=0.3, images=6, views=3)
    frame = power.simulate_factorial_ratings(planned, power.factorial_layout(planned, 12, 3),
                                             np.random.default_rng(4))
    study = power.first_participants(frame, planned, 10)
    assert study["participant"].nunique() == 10 and len(study) == 10 * 18
    tables = pipeline.factor_tests(study, planned.levels, pipeline.Options(alpha=0.2))
    raw = pd.DataFrame({"participant": study["participant"].astype(str), "image": study["image"].astype(str),
                        "model": pd.Categorical(study["variant"].astype(str), categories=MODELS),
                        "method": pd.Categorical(study["method"].astype(str), categories=METHODS),
                        "sufficiency": study["sufficiency"], "trust": study["trust"]})
    expected = []
    for statement in ("sufficiency", "trust"):
        direct = smf.mixedlm("rating ~ C(model, Treatment) * C(method, Treatment)",
                             raw.assign(rating=raw[statement].astype(float), group=1), groups="group",
                             re_formula="0", vc_formula={"participant": "0 + C(participant)",
                                                         "image": "0 + C(image)"}).fit(**mixed.FIT_OPTIONS)
        terms = tables["factorial_mixed"].query("statement == @statement").set_index("term")
        assert list(terms.index) == list(direct.fe_params.index)
        assert terms["estimate"].to_numpy() == pytest.approx(direct.fe_params.to_numpy(), abs=1e-6)
        assert terms["se"].to_numpy() == pytest.approx(direct.bse_fe.to_numpy(), rel=1e-4)
        names = list(direct.fe_params.index)
        for factor, levels, other in (("model", MODELS, METHODS), ("method", METHODS, MODELS)):
            family = tables["factorial_contrasts"].query("statement == @statement and factor == @factor")
            p_values = []
            for (first, second), row in zip(itertools.combinations(levels, 2), family.itertuples()):
                # a level's marginal mean: its cells averaged with equal weights, treatment coding by hand
                def marginal(level):
                    weights = np.zeros(len(names))
                    for value in other:
                        cell = {factor: level, "model" if factor == "method" else "method": value}
                        weights[0] += 1 / len(other)
                        parts = [f"C(model, Treatment)[T.{cell['model']}]" if cell["model"] != "N" else None,
                                 f"C(method, Treatment)[T.{cell['method']}]" if cell["method"] != "VG" else None]
                        for part in filter(None, parts):
                            weights[names.index(part)] += 1 / len(other)
                        if all(parts):
                            weights[names.index(":".join(parts))] += 1 / len(other)
                    return weights
                test = direct.t_test((marginal(second) - marginal(first))[None, :])
                assert (row.level_a, row.level_b) == (first, second)
                assert row.estimate == pytest.approx(float(test.effect[0]), abs=1e-6)
                assert row.p == pytest.approx(float(test.pvalue), rel=1e-4)
                p_values.append(float(test.pvalue))
            holm = multipletests(p_values, method="holm")[1]
            assert family["p_holm"].to_numpy() == pytest.approx(holm, rel=1e-4)
            expected.append(("mixed", factor, power.MAIN_EFFECT, statement, bool((holm < 0.2).any())))
            expected += [("mixed", factor, f"{a}-{b}", statement, bool(h < 0.2))
                         for (a, b), h in zip(itertools.combinations(levels, 2), holm)]
            means = raw.groupby(["participant", factor], observed=True)[statement].mean().unstack()[list(levels)]
            friedman = sp.friedmanchisquare(*(means[level] for level in levels))
            row = tables["friedman_factors"].query("statement == @statement and factor == @factor").iloc[0]
            assert (row["chi2"], row["p"]) == pytest.approx((friedman.statistic, friedman.pvalue))
            expected.append(("friedman", factor, power.MAIN_EFFECT, statement, bool(friedman.pvalue < 0.2)))
    assert sorted(power.factor_decisions(tables, 0.2)) == sorted(expected)
    assert {significant for *_, significant in expected} == {True, False}  # both outcomes are compared


def test_power_grows_with_the_sample_size_and_the_seed_decides_the_numbers_whatever_the_jobs():
    planned = design(effect=0.5, images=4, views=3)
    simulations = 40
    decided = power.simulate_power(planned, [3, 27], simulations, seed=1, jobs=2)
    first_frame = power.simulate_power(planned, [3, 27], 2, seed=1, jobs=1)
    pd.testing.assert_frame_equal(decided[decided["simulation"] < 2].reset_index(drop=True), first_frame)
    table = power.power_table(decided, planned)
    assert list(table.columns) == [c for c in FACTORIAL_POWER_COLUMNS]
    assert list(table["factor"].drop_duplicates()) == ["model", "method"]
    for factor in ("model", "method"):
        curve = table.query("test == 'mixed' and factor == @factor and comparison == @power.MAIN_EFFECT")
        small, large = curve.sort_values("participants")["power"]
        spread = math.sqrt((small * (1 - small) + large * (1 - large)) / simulations)
        assert large - small > MC_Z * spread, (factor, small, large)


def test_with_equal_means_no_main_effect_is_found_more_often_than_alpha():
    planned = power.factorial_design(("VG", "IG", "SG"), means={"N": 3.0, "A": 3.0}, method_effects=dict.fromkeys(
        ("VG", "IG", "SG"), 0.0), images=6, views_per_image=2, **SPREADS)
    simulations, alpha = 120, 0.2
    table = power.power_table(power.simulate_power(planned, [12], simulations, alpha=alpha, seed=2, jobs=2), planned)
    band = MC_Z * math.sqrt(alpha * (1 - alpha) / simulations)
    assert len(table) == 2 + 4 + 1  # model: the mixed main effect and its one pair; method: mixed x 4, Friedman
    assert (table["power"] <= alpha + band).all(), table


@pytest.mark.parametrize("fields, message", [
    ({"methods": ["VG"]}, "--methods names 1 method(s)"),
    ({"methods": ["VG", "VG"]}, "--methods names a method twice"),
    ({"method_effects": None}, "needs its effects: --means (per model) with --method-effects"),
    ({"method_effects": {"IG": 0, "VG": 0, "SG": 0}}, "--method-effects must name the methods of --methods"),
    ({"cell_means": {"N:VG": 3}}, "not both"),
    ({"means": None, "method_effects": None, "cell_means": {"N:VG": 3, "N:IG": 3, "N:SG": 3, "A:VG": 3}},
     "--cell-means lacks cell(s) A×IG, A×SG"),
    ({"means": None, "method_effects": None, "cell_means": {"N-VG": 3}}, "'N-VG' is not a cell"),
    ({"means": None, "method_effects": None, "cell_means": {"N×GradCAM": 3}}, "has method GradCAM, not one of"),
    ({"means": {"N": 3.0}}, "at least two models and two methods, got 1 model(s)"),
    ({"means": {"N": 3.0, "A": 4.9}}, "mean rating(s) A×IG=5.1, A×SG=5.4 outside the answers 1-5"),
    ({"views_per_image": 10}, "--views-per-image must be between 1 and the 9 cells, got 10"),
    ({"sd": 0.0}, "the residual SD must be > 0"),
])
def test_a_factorial_design_that_cannot_be_simulated_is_refused(fields, message):
    given = {"methods": METHODS, "means": {"N": 3.0, "A": 3.2, "M2": 3.4},
             "method_effects": {"VG": 0.0, "IG": 0.2, "SG": 0.5}, "cell_means": None, "images": 4,
             "views_per_image": 3, **SPREADS, **fields}
    with pytest.raises(InputError) as error:
        power.factorial_design(given.pop("methods"), **given)
    assert message in str(error.value)


DESIGN = ["--means", "N=2.5,A=2.9,M2=3.2", "--methods", "VG", "IG", "SG", "--method-effects", "VG=0,IG=0.2,SG=0.4",
          "--sd", "0.8", "--participant-sd", "0.5", "--image-sd", "0.3", "--images", "4"]


def test_plan_study_plans_a_model_by_method_study(tmp_path):
    out = tmp_path / "plan"
    output = plan_study(*DESIGN, "--views-per-image", 3, "--participants", 9, 3, "--simulations", 4, "--seed", 2,
                        "--jobs", 1, "--out", out)
    assert {p.name for p in out.iterdir()} == {"power.csv", "power.json", "power.png", "answers.txt"}
    rows = list(csv.DictReader(open(out / "power.csv", newline="")))
    assert tuple(rows[0]) == FACTORIAL_POWER_COLUMNS
    assert [(r["test"], r["factor"], r["comparison"], r["participants"]) for r in rows[:3]] == [
        ("mixed", "model", "main effect", "3"), ("mixed", "model", "main effect", "9"), ("mixed", "model", "N-A", "3")]
    assert len(rows) == 2 * 2 * (1 + 3 + 1)  # sizes x factors x (mixed main effect, 3 pairs, Friedman)
    plan = json.loads((out / "power.json").read_text())
    assert plan["design"] == {"cell_means": {"N": {"VG": 2.5, "IG": 2.7, "SG": 2.9}, "A": {"VG": 2.9, "IG": 3.1, "SG": 3.3},
                                             "M2": {"VG": 3.2, "IG": 3.4, "SG": 3.6}},
                              "sd": 0.8, "participant_sd": 0.5, "image_sd": 0.3, "images": 4, "views_per_image": 3}
    assert plan["factors"] == {"model": ["N", "A", "M2"], "method": ["VG", "IG", "SG"]}
    assert plan["balance"]["9"] == {"ratings_per_participant": 12, "participants_per_image_and_cell_min": 3,
                                    "participants_per_image_and_cell_max": 3}
    assert (plan["seed"], plan["mixed_model"], plan["zero_method"]) == (2, True, None)
    answers = (out / "answers.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in answers] == [
        "model main effect", "model N-A", "model N-M2", "model A-M2",
        "method main effect", "method VG-IG", "method VG-SG", "method IG-SG"]
    assert answers == plan["answers"] and all(line in output for line in answers)
    assert "mixed" in answers[0] and "friedman" in answers[0]
    # the same plan per cell gives the same numbers
    plan_study("--cell-means", ",".join(f"{m}×{k}={v}" for m, row in plan["design"]["cell_means"].items()
                                        for k, v in row.items()),
               *DESIGN[2:6], *DESIGN[8:], "--views-per-image", 3, "--participants", 9, 3, "--simulations", 4,
               "--seed", 2, "--jobs", 1, "--out", tmp_path / "per-cell")
    assert (tmp_path / "per-cell" / "power.csv").read_text() == (out / "power.csv").read_text()


BAD_FLAGS = {
    "one method": (["--methods", "VG"], "--methods names 1 method(s); a model x method plan needs at least two"),
    "method effects without methods": (["--method-effects", "VG=0,IG=0.2"],
                                       "--method-effects needs --methods (a model x method plan)"),
    "views without methods": (["--views-per-image", "2"], "--views-per-image needs --methods"),
    "no method effects": (["--methods", "VG", "IG"], "needs its effects"),
    "zero method": (["--methods", "VG", "IG", "--method-effects", "VG=0,IG=1", "--zero-method", "wilcox"],
                    "a model x method plan runs no Wilcoxon test"),
    "both effects": (["--methods", "VG", "IG", "--method-effects", "VG=0,IG=1", "--cell-means", "N:VG=3"],
                     "not both"),
    "bad effect": (["--methods", "VG", "IG", "--method-effects", "VG=0,IG=lots"],
                   "--method-effects: 'lots' for method IG is not a number"),
    "too many views": (["--methods", "VG", "IG", "--method-effects", "VG=0,IG=1", "--views-per-image", "7"],
                       "--views-per-image must be between 1 and the 4 cells, got 7"),
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_bad_model_by_method_flags_say_what_is_wrong_and_write_nothing(case, tmp_path):
    flags, message = BAD_FLAGS[case]
    with pytest.raises(CommandError) as error:
        plan_study("--means", "N=2.5,A=2.9", "--sd", 1, "--participant-sd", 0.5, "--image-sd", 0.3, "--images", 4,
                   *flags, "--participants", 5, "--simulations", 2, "--jobs", 1, "--out", tmp_path / "plan")
    assert message in str(error.value) and "Nothing was written" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_model_by_method_plan_exits_non_zero_from_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        execute_from_command_line(["manage.py", "plan_study", *DESIGN[:4], *DESIGN[8:], "--participants", "4",
                                   "--out", str(tmp_path / "plan")])
    assert exit.value.code != 0
    assert "--methods names 1 method(s)" in capsys.readouterr().err
    assert not (tmp_path / "plan").exists()


def pilot_ratings_csv(path, planned, participants, seed):
    """A pilot's ratings.csv (the export's columns) of a simulated model x method study."""
    frame = power.simulate_factorial_ratings(planned, power.factorial_layout(planned, participants, seed),
                                             np.random.default_rng(seed))
    rows = pd.DataFrame({
        "participant": frame["participant"].astype(str), "image": frame["image"].astype(str), "dataset": "fmnist",
        "class_name": "Shirt",
        "model": frame["variant"].astype(str), "trial": frame.groupby("participant").cumcount() + 1,
        "sufficiency": frame["sufficiency"], "trust": frame["trust"], "rt_ms": 2000,
        "answered_at": "2026-11-30T10:00:00+00:00", "method": frame["method"].astype(str), "page_hides": ""})
    rows[list(RATINGS_COLUMNS)].to_csv(path, index=False)
    return path


def test_a_model_by_method_plan_from_a_pilot_takes_the_cells_and_spreads_of_the_two_factor_mixed_model(tmp_path):
    truth = design(effect=0.6, images=8, views=3, method_effect=0.4)
    pilot = pilot_ratings_csv(tmp_path / "ratings.csv", truth, 18, seed=4)
    plan_study("--from-export", pilot, "--methods", *METHODS, "--statement", "trust", "--participants", 6,
               "--simulations", 2, "--jobs", 1, "--out", tmp_path / "plan")
    plan = json.loads((tmp_path / "plan" / "power.json").read_text())
    raw = pd.read_csv(pilot)
    raw["model"] = pd.Categorical(raw["model"], categories=MODELS)
    raw["method"] = pd.Categorical(raw["method"], categories=METHODS)
    fit = smf.mixedlm("trust ~ C(model, Treatment) * C(method, Treatment)", raw, groups=np.ones(len(raw)),
                      re_formula="0", vc_formula={"participant": "0 + C(participant)", "image": "0 + C(image)"}
                      ).fit(reml=True, method="powell", ftol=1e-10)
    cells = pd.DataFrame([(m, k) for m in MODELS for k in METHODS], columns=["model", "method"]).astype(
        {"model": raw["model"].dtype, "method": raw["method"].dtype})
    predicted = fit.predict(cells)  # the fixed effects' mean of each cell
    design_ = plan["design"]
    assert list(design_["cell_means"]) == list(MODELS) and list(design_["cell_means"]["N"]) == list(METHODS)
    for (model, method), mean in zip(cells.itertuples(index=False), predicted):
        assert design_["cell_means"][model][method] == pytest.approx(mean, abs=1e-4), (model, method)
    components = dict(zip(fit.model.exog_vc.names, fit.vcomp))
    assert design_["sd"] == pytest.approx(math.sqrt(fit.scale), rel=1e-3)
    assert design_["participant_sd"] == pytest.approx(math.sqrt(components["participant"]), rel=1e-2)
    assert design_["image_sd"] == pytest.approx(math.sqrt(components["image"]), abs=0.02)
    assert (design_["images"], design_["views_per_image"]) == (8, 3)  # as the pilot was: 3 cells per image
    # the pilot's cells are near the truth it was drawn from (18 people: within sampling error)
    assert design_["cell_means"]["M2"]["SG"] - design_["cell_means"]["N"]["VG"] == pytest.approx(1.0, abs=0.35)
    source = plan["design_source"]
    assert (source["from"], source["statement"], source["pilot_participants"]) == ("export", "trust", 18)
    assert source["overridden_by_flags"] == [] and source["pilot_fit"]["converged"]

    plan_study("--from-export", pilot, "--methods", "VG", "SG", "--method-effects", "VG=0,SG=0.5", "--means",
               "N=3,A=3.2,M2=3.4", "--views-per-image", 2, "--participants", 6, "--simulations", 2, "--jobs", 1,
               "--out", tmp_path / "override")
    plan = json.loads((tmp_path / "override" / "power.json").read_text())
    assert plan["design"]["cell_means"]["A"] == {"VG": 3.2, "SG": 3.7}  # the flags' effects replace the pilot's
    assert plan["design"]["views_per_image"] == 2 and plan["design"]["sd"] == plan["design_source"][
        "pilot_estimates"]["sd"]
    assert list(plan["design_source"]["pilot_estimates"]["cell_means"]["N"]) == ["VG", "SG"]
    assert plan["design_source"]["overridden_by_flags"] == ["--means", "--method-effects", "--views-per-image"]


def test_a_model_by_method_plan_from_a_pilot_of_other_methods_is_refused(tmp_path):
    pilot = pilot_ratings_csv(tmp_path / "ratings.csv", design(images=4, views=2), 6, seed=1)
    with pytest.raises(CommandError) as error:
        plan_study("--from-export", pilot, "--methods", "VG", "GradCAM", "--participants", 4, "--out",
                   tmp_path / "plan")
    assert "the pilot has no ratings under method(s) GradCAM; it rated" in str(error.value)
    assert "Nothing was written" in str(error.value) and not (tmp_path / "plan").exists()
