"""`manage.py plan_study` end to end: its files, a pilot's export as the design, and bad flags."""

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from django.core.management import CommandError, call_command, execute_from_command_line

from analysis import power
from analysis.simulation import simulate_export

DESIGN = ["--means", "N=2.08,A=2.99,M2=3.33", "--sd", "0.8", "--participant-sd", "0.5", "--image-sd", "0.3"]


def plan_study(*args):
    out = io.StringIO()
    call_command("plan_study", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_writes_power_per_test_and_size_a_figure_and_one_answer_per_model_pair(tmp_path):
    out = tmp_path / "plan"
    output = plan_study(*DESIGN, "--images", 3, "--participants", 8, 3, "--simulations", 12, "--seed", 2,
                        "--jobs", 1, "--out", out)
    assert {p.name for p in out.iterdir()} == {"power.csv", "power.json", "power.png", "answers.txt"}
    assert (out / "power.png").read_bytes().startswith(b"\x89PNG")
    rows = list(csv.DictReader(open(out / "power.csv", newline="")))
    assert list(rows[0]) == ["test", "comparison", "participants", "power", "simulations"]
    assert [(r["test"], r["comparison"], r["participants"]) for r in rows[:4]] == [
        ("participant_wilcoxon", "N-A", "3"), ("participant_wilcoxon", "N-A", "8"),
        ("participant_wilcoxon", "A-M2", "3"), ("participant_wilcoxon", "A-M2", "8")]
    assert {r["test"] for r in rows} == {"participant_wilcoxon", "participant_friedman", "pooled_wilcoxon",
                                         "pooled_anova"}
    assert {r["comparison"] for r in rows if r["test"] == "pooled_anova"} == {"all"}
    assert len(rows) == (3 + 1 + 3 + 1) * 2 and {r["simulations"] for r in rows} == {"12"}

    plan = json.loads((out / "power.json").read_text())
    assert plan["design"] == {"means": {"N": 2.08, "A": 2.99, "M2": 3.33}, "sd": 0.8, "participant_sd": 0.5,
                              "image_sd": 0.3, "images": 3}
    assert plan["design_source"] == {"from": "flags"} and plan["participants"] == [3, 8]
    assert (plan["seed"], plan["alpha"], plan["simulations"], plan["mixed_model"]) == (2, 0.05, 12, False)
    for row, written in zip(plan["power"], rows):
        assert row["power"] == float(written["power"])
        assert row["monte_carlo_se"] == pytest.approx(np.sqrt(row["power"] * (1 - row["power"]) / 12))
    # the share of 12 simulated studies: a multiple of 1/12
    assert all(float(r["power"]) * 12 == pytest.approx(round(float(r["power"]) * 12)) for r in rows)

    answers = (out / "answers.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in answers] == ["N-A", "A-M2", "N-M2"]
    assert answers == plan["answers"] and all(line in output for line in answers)
    smallest = plan["smallest_participants"]["participant_wilcoxon"]["A-M2"]
    curve = {int(r["participants"]): float(r["power"]) for r in rows
             if (r["test"], r["comparison"]) == ("participant_wilcoxon", "A-M2")}
    assert smallest == min((n for n, p in curve.items() if p >= 0.8), default=None)
    assert (f"participant_wilcoxon {smallest}" if smallest else "participant_wilcoxon not within 8") in answers[1]
    assert "Simulated 12 studies at each of 3, 8 participants" in output


def test_mixed_adds_the_mixed_models_contrasts(tmp_path):
    plan_study(*DESIGN, "--images", 3, "--participants", 5, "--simulations", 2, "--mixed", "--jobs", 1,
               "--out", tmp_path / "plan")
    table = pd.read_csv(tmp_path / "plan" / "power.csv")
    assert list(table.loc[table["test"] == "mixed", "comparison"]) == ["N-A", "A-M2", "N-M2"]
    assert json.loads((tmp_path / "plan" / "power.json").read_text())["mixed_model"] is True


@pytest.fixture
def pilot(tmp_path):
    """A pilot's export: 12 participants x 6 images x N, A, M2, with participant and image offsets."""
    paths = simulate_export(tmp_path / "pilot", 12, images=6, effects={"N": 0.0, "A": 0.5, "M2": 0.9},
                            image_sd=0.4, seed=8)
    return paths[0]


def test_from_export_estimates_the_design_with_the_crossed_mixed_model(pilot, tmp_path):
    plan_study("--from-export", pilot, "--statement", "trust", "--participants", 4, "--simulations", 2,
               "--jobs", 1, "--out", tmp_path / "plan")
    plan = json.loads((tmp_path / "plan" / "power.json").read_text())
    raw = pd.read_csv(pilot)
    fit = smf.mixedlm("trust ~ C(model, Treatment('N'))", raw, groups=np.ones(len(raw)), re_formula="0",
                      vc_formula={"participant": "0 + C(participant)", "image": "0 + C(image)"}
                      ).fit(reml=True, method="powell", ftol=1e-10)
    components = dict(zip(fit.model.exog_vc.names, fit.vcomp))
    design = plan["design"]
    assert list(design["means"]) == ["N", "A", "M2"]
    expected_means = raw.groupby("model")["trust"].mean()  # every participant rated everything: the raw means
    assert design["means"] == pytest.approx(expected_means.to_dict(), rel=1e-6)
    assert design["means"]["A"] - design["means"]["N"] == pytest.approx(
        fit.params["C(model, Treatment('N'))[T.A]"], rel=1e-6)
    assert design["sd"] == pytest.approx(np.sqrt(fit.scale), rel=1e-6)
    assert design["participant_sd"] == pytest.approx(np.sqrt(components["participant"]), rel=1e-6)
    assert design["image_sd"] == pytest.approx(np.sqrt(components["image"]), rel=1e-6)
    assert design["images"] == 6
    source = plan["design_source"]
    assert (source["from"], source["statement"], source["pilot_participants"]) == ("export", "trust", 12)
    assert source["pilot_fit"]["converged"] and source["overridden_by_flags"] == []


def test_flags_override_the_pilots_estimates(pilot, tmp_path):
    plan_study("--from-export", pilot, "--means", "N=3.0,M2=3.3", "--images", 4, "--participants", 4,
               "--simulations", 2, "--jobs", 1, "--out", tmp_path / "plan")
    plan = json.loads((tmp_path / "plan" / "power.json").read_text())
    assert plan["design"]["means"] == {"N": 3.0, "M2": 3.3} and plan["design"]["images"] == 4
    assert plan["design_source"]["overridden_by_flags"] == ["--means", "--images"]
    assert plan["design"]["sd"] == plan["design_source"]["pilot_estimates"]["sd"]  # estimated from N and M2 only
    assert list(plan["design_source"]["pilot_estimates"]["means"]) == ["N", "M2"]


BAD_FLAGS = {
    "no design": ([], ["Missing --means, --sd, --participant-sd, --image-sd, --images", "--from-export"]),
    "one model": (["--means", "N=2", "--sd", "1", "--participant-sd", "0", "--image-sd", "0", "--images", "3"],
                  ["the means name 1 model(s); give at least two"]),
    "empty model name": ([*DESIGN[:1], "N=2,=3", *DESIGN[2:], "--images", "3"],
                         ["--means: expected MODEL=NUMBER items separated by commas, got '=3'"]),
    "negative sd": ([*DESIGN[:2], "--sd", "-0.8", *DESIGN[4:], "--images", "3"],
                    ["the residual SD must be > 0, got -0.8"]),
    "negative participant sd": ([*DESIGN[:4], "--participant-sd", "-1", *DESIGN[6:], "--images", "3"],
                                ["the participant SD must be >= 0, got -1.0"]),
    "one participant": ([*DESIGN, "--images", "3", "--participants", "1", "5"],
                        ["--participants: every sample size must be at least 2, got 1"]),
    "no simulations": ([*DESIGN, "--images", "3", "--simulations", "0"], ["--simulations must be at least 1"]),
    "alpha": ([*DESIGN, "--images", "3", "--alpha", "1.5"], ["--alpha must be between 0 and 1"]),
    "one image": ([*DESIGN, "--images", "1"], ["at least 2 images per participant, got 1"]),
    "pilot missing": (["--from-export", "nowhere/ratings.csv"], ["ratings (nowhere/ratings.csv): cannot read"]),
    "pilot without the model": (["--from-export", "PILOT", "--means", "N=2,G=3"],
                                ["--from-export: the pilot has no ratings of model(s) G; it rated N, A, M2"]),
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_bad_flags_say_what_is_wrong_and_write_nothing(case, pilot, tmp_path):
    flags, messages = BAD_FLAGS[case]
    flags = [str(pilot) if flag == "PILOT" else flag for flag in flags]
    for flag, default in (("--participants", "5"), ("--simulations", "2")):
        if flag not in flags:
            flags += [flag, default]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CommandError) as error:
        plan_study(*flags, "--jobs", 1, "--out", tmp_path / "plan")
    for message in messages:
        assert message in str(error.value)
    assert "Nothing was written" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_bad_pilot_file_gets_the_loaders_message(pilot, tmp_path):
    pd.read_csv(pilot).drop(columns="trust").to_csv(pilot, index=False)
    with pytest.raises(CommandError, match=r"missing column\(s\) trust"):
        plan_study("--from-export", pilot, "--participants", 4, "--out", tmp_path / "plan")
    assert not (tmp_path / "plan").exists()


def test_bad_flags_exit_non_zero_from_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        execute_from_command_line(["manage.py", "plan_study", *DESIGN, "--images", "3", "--participants", "1",
                                   "--out", str(tmp_path / "plan")])
    assert exit.value.code != 0
    assert "every sample size must be at least 2" in capsys.readouterr().err
    assert not (tmp_path / "plan").exists()


def test_power_table_is_what_the_simulation_decided():
    design = power.Design({"N": 3.0, "A": 3.5}, sd=1.0, participant_sd=0.0, image_sd=0.0, images=3)
    decided = power.simulate_power(design, [4, 6], 6, seed=1)
    table = power.power_table(decided, design)
    shares = decided.groupby(["test", "comparison", "participants"])["significant"].mean()
    for _, row in table.iterrows():
        assert row["power"] == shares[(row["test"], row["comparison"], row["participants"])]
