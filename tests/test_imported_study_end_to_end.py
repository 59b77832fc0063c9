"""Proof: a study of maps a researcher brings (a manifest of made-up images and maps, free-text model and method
names) goes through import, the survey (a balanced incomplete design), the export and the analysis."""

import csv
import io
import json

import numpy as np
import pandas as pd
from django.core.management import call_command
from django.test import Client
from PIL import Image

from saliency.models import Stimulus
from studyapp.enrollment import enroll_participants
from studyapp.models import Study
from tests.helpers.survey import play_to_end, start

MODELS = ("ResNet (ours)", "ViT-B/16", "ConvNeXt")
METHODS = ("LIME", "RISE")


def test_a_manifest_of_made_up_maps_goes_through_import_survey_export_and_analysis(db, stimuli_root, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(1)
    rows = []
    for image in range(4):
        Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8), "L").save(folder / f"img{image}.png")
        for model in MODELS:
            for method in METHODS:
                name = f"map-{image}-{MODELS.index(model)}-{method}.npy"
                np.save(folder / name, rng.normal(size=(24, 24)))
                rows.append({"image": f"img{image}.png", "map": name, "dataset": "my-photos",
                             "class_name": f"class {image % 2}", "model": model, "method": method})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    call_command("import_stimuli", str(manifest), stdout=io.StringIO())
    assert Stimulus.objects.count() == 24

    study = Study.objects.create(slug="mine", title="Maps", seed=7, completion_code="OK", views_per_image=2,
                                 attention_checks=False)
    study.stimuli.add(*Stimulus.objects.all())
    for person in enroll_participants(study, 6):
        client = Client()
        play_to_end(client, person, start(client, person))
    assert study.participants.filter(completed_at__isnull=False).count() == 6

    export = tmp_path / "export"
    call_command("export_responses", study="mine", out=export, stdout=io.StringIO())
    ratings = pd.read_csv(export / "ratings.csv")
    assert set(ratings["model"]) == set(MODELS) and set(ratings["method"]) == set(METHODS)
    assert len(ratings) == 6 * 4 * 2
    cells = ratings.groupby(["image", "model", "method"]).size()
    assert len(cells) == 24 and cells.max() - cells.min() <= 1  # 6 participants x 2 views over 6 cells: 2 each
    choices = pd.read_csv(export / "choices.csv")
    assert len(choices) == 6 * 4
    assert (choices["left_method"] == choices["right_method"]).all()  # the models under one method
    balance = pd.read_csv(export / "balance.csv")
    assert set(balance.loc[balance["page"] == "rating", "planned"]) == {2}

    out = tmp_path / "report"
    call_command("analyze", "--ratings", str(export / "ratings.csv"), "--choices", str(export / "choices.csv"),
                 "--participants", str(export / "participants.csv"), "--stimuli", str(export / "stimuli.csv"),
                 "--out", str(out), "--no-mixed", stdout=io.StringIO())
    results = json.loads((out / "results.json").read_text())
    assert results["models"] == [f"{m}×{k}" for m in sorted(MODELS) for k in METHODS]
    levels = {row["factor"]: row["levels"] for row in results["factor_levels"]}
    assert levels == {"model": " ".join(sorted(MODELS)), "method": " ".join(METHODS)}
    cell = next(r for r in results["cell_descriptives"]
                if r["model"] == "ViT-B/16" and r["method"] == "RISE" and r["statement"] == "trust")
    subset = ratings[(ratings["model"] == "ViT-B/16") & (ratings["method"] == "RISE")]
    assert cell["n_ratings"] == len(subset) and cell["mean"] == subset["trust"].mean()
    # Imported maps carry no explanation metrics: one sentence says so, instead of a section of empty tables.
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "Explanation metrics and ratings: left out, because no rated stimulus has an explanation metric" in markdown
    assert "## Explanation metrics and ratings" not in markdown and "stimulus_metrics" not in results
    # The pages compared the models under one method: one connected set of cells per method, each its own reference.
    methods = {}
    for row in results["choice_model"]:
        methods.setdefault(row["set"], set()).add(row["cell"].split("×")[1])
    assert all(len(m) == 1 for m in methods.values()) and len(set.union(*methods.values())) == len(methods) > 1
