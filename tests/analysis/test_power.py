"""Power by simulation is honest: level alpha under equal means, power growing with n, reproducible, analyze's tests.

Bounds are Monte-Carlo error: a share estimated from S independent simulated studies has standard error
sqrt(p (1 - p) / S); checks allow MC_Z of them, so a correct simulation lands outside 1 time in 16,000.
"""

import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from analysis import mixed, pipeline, power
from analysis.loading import InputError
from studyapp.schema import RATINGS_COLUMNS

MC_Z = 4
# A larger alpha than 0.05 makes the Monte-Carlo band narrow relative to it at the same number of studies.
ALPHA = 0.2


def monte_carlo_band(share, simulations):
    return MC_Z * math.sqrt(share * (1 - share) / simulations)


def rejection_rates(design, participants, simulations, mixed_model=False, seed=0):
    decided = power.simulate_power(design, [participants], simulations, alpha=ALPHA, seed=seed,
                                   mixed_model=mixed_model, jobs=2)
    table = power.power_table(decided, design).set_index(["test", "comparison"])
    assert (table["simulations"] == simulations).all()
    familywise = decided.groupby(["test", "simulation"])["significant"].any().groupby("test").mean()
    return table["power"], familywise


def test_with_equal_means_every_test_rejects_at_alpha_within_monte_carlo_error():
    """Two models: one pair per test, so Holm changes nothing and each test's level is alpha itself."""
    design = power.Design({"N": 3.0, "A": 3.0}, sd=1.0, participant_sd=0.0, image_sd=0.0, images=3)
    rates, _ = rejection_rates(design, participants=16, simulations=600)
    assert set(rates.index) == {("participant_wilcoxon", "N-A"), ("pooled_wilcoxon", "N-A"), ("pooled_anova", "all")}
    for (test, comparison), rate in rates.items():
        assert abs(rate - ALPHA) <= monte_carlo_band(ALPHA, 600), (test, comparison, rate)


def test_with_equal_means_the_mixed_model_rejects_at_alpha_within_monte_carlo_error():
    design = power.Design({"N": 3.0, "A": 3.0}, sd=1.0, participant_sd=0.5, image_sd=0.3, images=3)
    rates, _ = rejection_rates(design, participants=16, simulations=200, mixed_model=True)
    assert abs(rates[("mixed", "N-A")] - ALPHA) <= monte_carlo_band(ALPHA, 200)


def test_with_equal_means_and_random_effects_no_test_rejects_more_than_alpha():
    """Three models: Holm keeps each family of pairs at alpha or below; the Friedman test is at alpha.

    The pooled ANOVA may reject less often: participant and image offsets shared by all models cancel
    between the models' means but inflate its within-model variance.
    """
    design = power.Design({"N": 3.0, "A": 3.0, "M2": 3.0}, sd=1.0, participant_sd=0.5, image_sd=0.3, images=3)
    rates, familywise = rejection_rates(design, participants=16, simulations=400)
    band = monte_carlo_band(ALPHA, 400)
    assert len(rates) == 3 + 1 + 3 + 1
    assert (rates <= ALPHA + band).all(), rates
    assert (familywise <= ALPHA + band).all(), familywise
    assert abs(rates[("participant_friedman", "all")] - ALPHA) <= band


def test_power_grows_with_the_sample_size_beyond_monte_carlo_error_never_falls():
    design = power.Design({"N": 3.0, "A": 3.35}, sd=1.0, participant_sd=0.5, image_sd=0.3, images=3)
    simulations = 200
    table = power.power_table(power.simulate_power(design, [4, 8, 16, 32], simulations, alpha=0.05, jobs=2), design)
    for (test, comparison), curve in table.groupby(["test", "comparison"]):
        values = curve.sort_values("participants")["power"].to_numpy()
        for smaller, larger in zip(values, values[1:]):
            spread = math.sqrt((smaller * (1 - smaller) + larger * (1 - larger)) / simulations)
            assert larger >= smaller - MC_Z * spread, (test, comparison, values)
        spread = math.sqrt((values[0] * (1 - values[0]) + values[-1] * (1 - values[-1])) / simulations)
        assert values[-1] - values[0] > MC_Z * spread, (test, comparison, values)


def test_the_same_seed_gives_the_same_numbers_with_any_number_of_processes():
    design = power.Design({"N": 3.0, "A": 3.3, "M2": 3.5}, sd=1.0, participant_sd=0.5, image_sd=0.3, images=3)
    one = power.simulate_power(design, [5, 9], 21, seed=4, jobs=1)
    assert len(one) == 21 * 2 * (3 + 1 + 3 + 1) and one["simulation"].max() == 20
    pd.testing.assert_frame_equal(one, power.simulate_power(design, [5, 9], 21, seed=4, jobs=2))
    other = power.simulate_power(design, [5, 9], 21, seed=5, jobs=1)
    assert not one["significant"].equals(other["significant"])


def test_a_simulated_study_has_the_designs_means_and_spreads():
    """The mixed model recovers the design from one large simulated study (rounding adds 1/12 to the residual)."""
    design = power.Design({"N": 2.5, "A": 3.0, "M2": 3.4}, sd=0.8, participant_sd=0.5, image_sd=0.3, images=30)
    ratings = power.simulate_ratings(design, 120, np.random.default_rng(1))
    assert len(ratings) == 120 * 30 * 3 and ratings["participant"].nunique() == 120
    for statement in ("sufficiency", "trust"):
        assert set(ratings[statement]) <= {1, 2, 3, 4, 5}
        result, _ = mixed.fit_mixed(ratings, design.models, statement)
        found = mixed.variance_components(result)
        assert found["participant_variance"] == pytest.approx(0.25, abs=0.08)
        assert found["image_variance"] == pytest.approx(0.09, abs=0.06)
        assert found["residual_variance"] == pytest.approx(0.64 + 1 / 12, abs=0.05)
        # each mean carries the sampled images' and participants' offsets; differences between models do not
        means = ratings.groupby("model", observed=True)[statement].mean()
        assert means.to_dict() == pytest.approx(design.means, abs=0.3)
        assert (means - means["N"]).to_dict() == pytest.approx({m: v - 2.5 for m, v in design.means.items()}, abs=0.08)
    assert not ratings["sufficiency"].equals(ratings["trust"])  # two independent studies


def test_each_simulated_study_is_decided_as_analyze_decides_on_its_export(tmp_path):
    """Write one simulated study in the export format, run `manage.py analyze`, compare the decisions."""
    design = power.Design({"N": 3.0, "A": 3.3, "M2": 3.5}, sd=1.0, participant_sd=0.5, image_sd=0.3, images=4)
    ratings = power.simulate_ratings(design, 15, np.random.default_rng(3))
    export = ratings.assign(dataset="fmnist", class_name="Bag", trial=1, rt_ms=1000, answered_at="", method="VG")
    export.reindex(columns=list(RATINGS_COLUMNS)).to_csv(tmp_path / "ratings.csv", index=False)
    (tmp_path / "choices.csv").write_text("participant,image,dataset,class_name,left,middle,right,chosen_model,"
                                          "justification,rt_ms,answered_at\n")
    call_command("analyze", "--ratings", str(tmp_path / "ratings.csv"), "--choices", str(tmp_path / "choices.csv"),
                 "--alpha", "0.1", "--out", str(tmp_path / "report"), stdout=io.StringIO())
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    from_report = set()
    for test, (table, column, compares, _) in power.TESTS.items():
        for row in results[table]:
            comparison = f"{row['model_a']}-{row['model_b']}" if compares == "pairs" else "all"
            from_report.add((test, comparison, row["statement"], row[column] < 0.1))
    _, tables = pipeline.model_tests(ratings, design.models, pipeline.Options(models=design.models, alpha=0.1))
    assert set(power.decisions(tables, design.models, 0.1)) == from_report
    assert len(from_report) == 2 * (3 + 3 + 1 + 3 + 1)
    assert {significant for *_, significant in from_report} == {True, False}  # both outcomes are compared


def test_a_design_names_any_model_as_a_study_of_imported_maps_does():
    design = power.Design({"ResNet-50": 3.0, "my ViT": 3.4}, sd=1.0, participant_sd=0.5, image_sd=0.3, images=3)
    table = power.power_table(power.simulate_power(design, [4], 2, seed=1), design)
    assert set(table["comparison"]) == {"ResNet-50-my ViT", "all"}


@pytest.mark.parametrize("fields, message", [
    ({"means": {"N": 3.0}}, "the means name 1 model(s); give at least two"),
    ({"means": {"N": 3.0, " ": 3.0}}, "an empty model name"),
    ({"means": {"N": 3.0, "A": 5.5}}, "mean rating(s) A=5.5 outside the answers 1-5"),
    ({"sd": -1.0}, "the residual SD must be > 0, got -1.0"),
    ({"participant_sd": -0.5}, "the participant SD must be >= 0, got -0.5"),
    ({"image_sd": float("nan")}, "the image SD must be >= 0, got nan"),
    ({"images": 1}, "at least 2 images per participant, got 1"),
])
def test_a_design_that_cannot_be_simulated_is_refused(fields, message):
    values = {"means": {"N": 3.0, "A": 3.5}, "sd": 1.0, "participant_sd": 0.5, "image_sd": 0.3, "images": 4}
    with pytest.raises(InputError) as error:
        power.Design(**{**values, **fields})
    assert message in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("N=2.08,A", "expected MODEL=NUMBER items separated by commas, got 'A'"),
    ("N=2.08,A=high", "'high' for model A is not a number"),
    ("N=2,N=3", "model N is given twice"),
    ("N=2,A=inf", "'inf' for model A is not a number"),
])
def test_means_are_parsed_or_refused_clearly(text, message):
    assert power.parse_means(" N = 2.08 , A=2.99,M2=3.33") == {"N": 2.08, "A": 2.99, "M2": 3.33}
    with pytest.raises(InputError, match=re.escape("--means: " + message)):
        power.parse_means(text)
