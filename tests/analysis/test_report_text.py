"""What the report says about itself: the study and the export it was made from, and when; who each step of the
participant flow counts; the design as the ratings show it; and why a section is left out."""

import io
import json
import os
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analysis.loading import FLOW_DEFINITIONS, FLOW_EXCLUSION
from analysis.simulation import simulate_export
from studyapp.schema import METRIC_NAMES
from tests.helpers.exports import methods_demo_export, stimuli_export


def analyze(*args):
    call_command("analyze", *map(str, args), stdout=io.StringIO())


def files(paths, out, *more):
    ratings, choices, participants = paths
    return ["--ratings", ratings, "--choices", choices, "--participants", participants, "--out", out, "--no-mixed",
            *more]


def utc(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)


def test_a_report_from_files_names_the_study_the_files_their_times_and_when_it_was_made(tmp_path):
    paths = simulate_export(tmp_path / "export", 6, images=2)
    os.utime(paths[0], (1_700_000_000, 1_700_000_000))  # 2023-11-14T22:13:20Z
    before = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    analyze(*files(paths, tmp_path / "report", "--title", "Pilot of the smoothing study"))
    after = datetime.now(timezone.utc)
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    lines = markdown.splitlines()
    assert lines[0] == "# Analysis report: Pilot of the smoothing study"
    assert lines[2] == "- Study: Pilot of the smoothing study"
    made = re.fullmatch(r"- Made: (\d{4}-\d\d-\d\d \d\d:\d\d UTC) \(its numbers are those of the data as read then\)",
                        lines[3])
    assert made and before <= utc(made.group(1)) <= after
    assert lines[4].startswith(f"- From: the export files {paths[0].resolve()} (written 2023-11-14T22:13:20+00:00), "
                               f"{paths[1].resolve()} (written ")
    provenance = json.loads((tmp_path / "report" / "results.json").read_text())["provenance"]
    assert provenance["study"] == "Pilot of the smoothing study" and provenance["slug"] is None
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "<title>Analysis report: Pilot of the smoothing study</title>" in html
    assert f"<li>From: the export files {paths[0].resolve()} (written 2023-11-14T22:13:20+00:00)" in html

    analyze(*files(paths, tmp_path / "unnamed"))
    markdown = (tmp_path / "unnamed" / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Saliency study: analysis report\n\n- Study: not named (the export files do not "
                               "carry the study's name; give analyze --title to name it)\n")


def test_a_report_from_the_database_names_the_study_by_title_and_slug(study_factory, tmp_path):
    study = study_factory(images=2, title="Which map explains best?", slug="best-map")
    call_command("simulate_participants", study="best-map", count=3, seed=0, stdout=io.StringIO())
    analyze("--study", "best-map", "--out", tmp_path / "report", "--no-mixed")
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith(f"# Analysis report: {study.title}\n\n- Study: {study.title} (slug best-map)\n- Made: ")
    assert "- From: the answers of study 'best-map' in the database when the report was made\n" in markdown
    assert "Explanation metrics and ratings: left out, because no rated stimulus has an explanation metric" in markdown
    with pytest.raises(CommandError, match="--title names a study analysed from export files"):
        analyze("--study", "best-map", "--title", "Other", "--out", tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_each_step_of_the_flow_says_who_it_counts_and_the_counts_agree_with_it(tmp_path):
    paths = simulate_export(tmp_path / "export", 10, images=2)
    people = pd.read_csv(paths[2], dtype=str, keep_default_na=False)
    people.loc[0, ["started_at", "completed_at", "outcome"]] = ["", "", "no_consent"]  # arrived, did not consent
    people.loc[1, ["completed_at", "outcome"]] = ["", "expired"]  # consented, did not finish: answers kept
    people.loc[2, "outcome"] = "withdrawn"  # consented, then withdrew: answers deleted
    people.to_csv(paths[2], index=False)
    for path in paths[:2]:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame[~frame["participant"].isin(people.loc[[0, 2], "participant"])].to_csv(path, index=False)
    analyze(*files(paths, tmp_path / "report"))
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    flow = dict(map(tuple, results["sample"]["flow"]))
    assert (flow["Arrived"], flow["Consented"], flow["With answers kept"]) == (10, 9, 8)
    assert flow["Consented"] - flow["Withdrew or erased (answers deleted)"] == flow["With answers kept"] \
        == flow["Completed"] + flow["Did not complete, answers kept"] == results["sample"]["started"]
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| Step | Participants | Who is counted |" in markdown
    for step, count in flow.items():
        assert f"| {step} | {count} | {FLOW_DEFINITIONS.get(step, FLOW_EXCLUSION)} |" in markdown
    assert "Participants: 10 arrived, 8 consented with answers kept, 7 completed" in markdown


def test_the_methods_text_states_a_complete_design_as_complete(tmp_path):
    paths = simulate_export(tmp_path / "export", 5, images=4)
    analyze(*files(paths, tmp_path / "report"))
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert ("crossed: every participant rated every image under every one of the models (5 participants x 4 "
            "images x 3 models)") in markdown


def test_the_methods_text_states_an_incomplete_design_as_the_ratings_show_it(tmp_path):
    """Each participant rates each image under 3 of the 9 cells (the methods demo's views_per_image 3): the
    report must not say that every participant rated every image under every model."""
    paths = methods_demo_export(tmp_path / "export", participants=6, images=4)
    ratings = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
    cells = sorted(set(ratings["model"] + ratings["method"]))
    person = ratings["participant"].str[1:].astype(int)
    image = ratings["image"].str[4:].astype(int)
    cell = (ratings["model"] + ratings["method"]).map(cells.index)
    ratings = ratings[(cell - person - image) % 3 == 0]
    ratings.to_csv(paths[0], index=False)
    analyze(*files(paths, tmp_path / "report"))
    design = json.loads((tmp_path / "report" / "results.json").read_text())["rating_design"][0]
    views = ratings.groupby(["participant", "image"]).size()
    assert design == {"participants": 6, "images": 4, "models": 9, "ratings": len(ratings),
                      "images_per_participant_min": 4, "images_per_participant_max": 4,
                      "models_per_image_min": int(views.min()), "models_per_image_max": int(views.max()),
                      "complete": False}
    assert views.min() == views.max() == 3
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert (f"crossed, in an incomplete design: each participant rated 4 of the 4 images, each image under 3 of the "
            f"9 model x method cells (6 participants, {len(ratings)} ratings): not every participant rated every "
            "image under every one of the model x method cells") in markdown
    assert "every participant rates every image" not in markdown


def test_stimuli_without_metrics_give_one_sentence_instead_of_a_section_of_empty_tables(tmp_path):
    paths = simulate_export(tmp_path / "export", 6, images=3)
    stimuli = stimuli_export(paths[0], tmp_path / "export" / "stimuli.csv")
    frame = pd.read_csv(stimuli)
    frame[list(METRIC_NAMES)] = np.nan  # imported maps: no metrics
    frame.to_csv(stimuli, index=False)
    analyze(*files(paths, tmp_path / "report", "--stimuli", stimuli))
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    sentence = ("Explanation metrics and ratings: left out, because no rated stimulus has an explanation metric "
                "(maps imported with import_stimuli carry none; generate_stimuli computes them for the maps it makes).")
    assert f"- {sentence}" in markdown and f"<li>{sentence}</li>" in html
    assert "## Explanation metrics and ratings" not in markdown and "<h2>Explanation metrics" not in html
    assert not (tmp_path / "report" / "tables" / "stimulus_metrics.csv").exists()

    stimuli_export(paths[0], stimuli)  # with metrics: the section, and no such sentence
    analyze(*files(paths, tmp_path / "with-metrics", "--stimuli", stimuli))
    markdown = (tmp_path / "with-metrics" / "report.md").read_text(encoding="utf-8")
    assert "## Explanation metrics and ratings" in markdown and sentence not in markdown
