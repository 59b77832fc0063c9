"""Export files with imported models' and methods' names, old exports without the method columns, and studies of
several methods (analysed by condition): what `analyze` makes of them."""

import io
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from scipy import stats as sp

from analysis.loading import order_models, read_export
from analysis.simulation import simulate_export
from studyapp.schema import APPENDED_COLUMNS, CHOICES_FILE, RATINGS_FILE


def analyze(*args):
    out = io.StringIO()
    call_command("analyze", *map(str, args), "--no-mixed", stdout=out)
    return out.getvalue()


@pytest.fixture
def export(tmp_path):
    ratings, choices, participants = simulate_export(tmp_path / "export", 15, images=4,
                                                     effects={"N": 0.0, "A": 0.4, "M2": 0.8}, seed=1)
    return {"ratings": ratings, "choices": choices, "participants": participants, "out": tmp_path / "report"}


def rename_models(export, names):
    for path, columns in ((export["ratings"], ["model"]),
                          (export["choices"], ["left", "middle", "right", "chosen_model"])):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in columns:
            frame[column] = frame[column].replace(names)
        frame.to_csv(path, index=False)


def test_built_in_codes_come_first_then_other_names_sorted():
    assert order_models(["zeta", "M2", "ResNet-50 (mine)", "N", "A"]) == ["N", "A", "M2", "ResNet-50 (mine)", "zeta"]


def test_imported_model_names_are_analysed_like_the_codes(export):
    rename_models(export, {"M2": "my ViT", "A": "ResNet-50"})
    output = analyze("--ratings", export["ratings"], "--choices", export["choices"], "--out", export["out"])
    assert "ratings of N ResNet-50 my ViT" in output
    data = json.loads((export["out"] / "results.json").read_text())
    assert data["sample"]["models"] == ["N", "ResNet-50", "my ViT"]
    raw = pd.read_csv(export["ratings"])
    means = raw.groupby(["participant", "model"])["trust"].mean().unstack()
    expected = sp.friedmanchisquare(*(means[m] for m in ["N", "ResNet-50", "my ViT"]))
    row = next(r for r in data["friedman"] if r["statement"] == "trust")
    assert row["chi2"] == pytest.approx(expected.statistic)
    assert {r["model"] for r in data["choice_shares"]} == {"N", "ResNet-50", "my ViT"}


def test_models_names_any_rated_model_and_an_absent_one_is_a_clear_error(export):
    rename_models(export, {"M2": "my ViT"})
    analyze("--ratings", export["ratings"], "--choices", export["choices"], "--out", export["out"],
            "--models", "my ViT", "N")
    assert json.loads((export["out"] / "results.json").read_text())["sample"]["models"] == ["my ViT", "N"]
    with pytest.raises(CommandError, match="no ratings of model\\(s\\) M2, .*models with ratings: N, A, my ViT"):
        analyze("--ratings", export["ratings"], "--choices", export["choices"], "--out", export["out"] / "x",
                "--models", "M2", "N")


def test_an_export_without_the_method_columns_is_read_as_vanilla_gradient(export, tmp_path):
    for path, file in ((export["ratings"], RATINGS_FILE), (export["choices"], CHOICES_FILE)):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.drop(columns=list(APPENDED_COLUMNS[file])).to_csv(path, index=False)
    data = read_export(export["ratings"], export["choices"])
    assert set(data.ratings["method"].astype(str)) == {"VG"}
    assert set(data.choices["chosen_method"].astype(str)) == {"VG"}


def test_a_study_of_several_methods_compares_its_cells(export):
    """Half the ratings relabelled IG: the analysis compares the six model x method cells."""
    frame = pd.read_csv(export["ratings"], dtype=str, keep_default_na=False)
    frame["method"] = ["IG" if int(p[-1]) % 2 else "VG" for p in frame["participant"]]
    frame.to_csv(export["ratings"], index=False)
    analyze("--ratings", export["ratings"], "--choices", export["choices"], "--out", export["out"])
    data = json.loads((export["out"] / "results.json").read_text())
    assert data["sample"]["models"] == ["N×VG", "N×IG", "A×VG", "A×IG", "M2×VG", "M2×IG"]
