"""manage.py evaluate_explanations on the shipped checkpoints and real Fashion-MNIST (a few images, few perturbations)."""

import io
import json

import pandas as pd
import pytest
import torch
from django.core.management import CommandError, call_command

from saliency.evaluation import PER_IMAGE_COLUMNS, STUDY_TABLE1, table1

CHECKPOINTS = "fixtures/models"


def _evaluate(out, *extra):
    stdout = io.StringIO()
    call_command("evaluate_explanations", "--models", "N", "A", "--images", "4", "--samples", "5", "--seed", "0",
                 "--device", "cpu", "--checkpoints", CHECKPOINTS, "--out", str(out), *extra, stdout=stdout)
    return stdout.getvalue()


def test_writes_per_image_metrics_and_table1_reproducibly(tmp_path):
    printed = _evaluate(tmp_path / "out")
    per_image = pd.read_csv(tmp_path / "out" / "per_image.csv")
    assert list(per_image.columns) == PER_IMAGE_COLUMNS
    assert len(per_image) == 4 * 2 * 3
    assert set(map(tuple, per_image[["model", "method"]].drop_duplicates().to_numpy())) == {
        (m, k) for m in ("N", "A") for k in ("VG", "IG", "SG")}
    assert per_image.groupby(["model", "method"])["test_index"].apply(tuple).nunique() == 1  # the same images
    assert per_image["gini"].between(0, 1).all() and per_image["ssim"].between(-1, 1).all()
    assert per_image["road_aopc"].notna().all()

    table = pd.read_csv(tmp_path / "out" / "table1.csv")
    differences = table[table["metric"] != "SSIM"]
    assert len(differences) == 3 * 4 and set(differences["model"]) == {"A"}
    vg_gini = differences[(differences["method"] == "VG") & (differences["metric"] == "dG")].iloc[0]
    means = per_image[per_image["method"] == "VG"].groupby("model")["gini"].mean()
    assert vg_gini["value"] == pytest.approx(means["A"] - means["N"], rel=1e-5)
    assert vg_gini["study"] == STUDY_TABLE1["VG", "dG"]["A"]
    assert len(table[table["metric"] == "SSIM"]) == 3 * 2
    assert "| VG | dG | higher |" in (tmp_path / "out" / "table1.md").read_text() and "| VG | dG |" in printed

    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert document["images"] == 4 and document["samples"] == 5 and document["models"] == ["N", "A"]
    assert {"methods", "ris_ros", "road_aopc", "ssim", "gini"} <= set(document["settings"])

    _evaluate(tmp_path / "again", "--methods", "SG")  # SmoothGrad's own noise too comes from the seed
    again = pd.read_csv(tmp_path / "again" / "per_image.csv")
    pd.testing.assert_frame_equal(again, per_image[per_image["method"] == "SG"].reset_index(drop=True))


def test_table1_compares_log_ris_and_skips_nan():
    per_image = pd.DataFrame({
        "dataset": "fmnist", "test_index": [1, 2, 1, 2], "model": ["N", "N", "A", "A"], "method": "VG",
        "gini": [0.5, 0.7, 0.6, 0.9], "ris": [1e-4, float("nan"), 1e-3, 1e-2], "ros": [10.0, 100.0, 10.0, 10.0],
        "road_aopc": [0.1, 0.2, 0.3, 0.4], "ssim": [0.5, 0.6, 0.7, float("nan")],
    })
    rows = table1(per_image).set_index(["metric", "model"])
    assert rows.loc[("dG", "A"), "value"] == pytest.approx(0.75 - 0.6)
    assert rows.loc[("dRIS", "A"), "value"] == pytest.approx((torch.log(torch.tensor([1e-3, 1e-2])).mean()
                                                             - torch.log(torch.tensor(1e-4))).item(), rel=1e-6)
    assert rows.loc[("dRIS", "A"), "n_values"] == 2
    assert rows.loc[("SSIM", "A"), "value"] == pytest.approx(0.7) and rows.loc[("SSIM", "A"), "n_values"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--models", "N", "X"], "invalid choice: 'X'"),
    (["--models", "A", "M2"], "must include N"),
    (["--checkpoints", "{tmp}/none"], "Missing checkpoint file.*fmnist-N-cpu.pt.*generate_stimuli"),
    (["--images", "5000"], "Only \\d+ of 5000 .* ask for fewer with --images"),
    (["--images", "0"], "at least 1"),
    pytest.param(["--device", "cuda"], "no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_input_is_a_clear_error_that_writes_nothing(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_explanations", "--checkpoints", CHECKPOINTS, "--out", str(tmp_path / "out"),
                     "--methods", "VG", "--samples", "2", *args, stdout=io.StringIO())
    assert not (tmp_path / "out").exists()
