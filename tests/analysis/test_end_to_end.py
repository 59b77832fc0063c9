"""Rehearse a study through the real survey, export it, analyze it: the simulated effect comes out."""

import io
import json

from django.core.management import CommandError, call_command
import pytest


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_a_strong_simulated_effect_survives_survey_export_and_analysis(study_factory, tmp_path):
    study = study_factory(images=2)
    run("simulate_participants", study=study.slug, count=8, seed=0, means="N=1.5,A=3,M2=4.5", sd=0.6,
        choice_weights="N=1,A=2,M2=12")
    run("export_responses", study=study.slug, out=tmp_path / "export")
    run("analyze", ratings=tmp_path / "export" / "ratings.csv", choices=tmp_path / "export" / "choices.csv",
        participants=tmp_path / "export" / "participants.csv", out=tmp_path / "from-files")
    run("analyze", study=study.slug, out=tmp_path / "from-database", exclude_failed_attention=True)

    files = json.loads((tmp_path / "from-files" / "results.json").read_text())
    database = json.loads((tmp_path / "from-database" / "results.json").read_text())
    asked = ["Excluded: failed at least one attention check (--exclude-failed-attention)", 0]
    assert asked in database["sample"]["flow"]  # asked for, none failed
    assert files["sample"] == {**database["sample"], "exclusion_rule": "none",
                               "flow": [step for step in database["sample"]["flow"] if step != asked]}
    assert files["sample"]["participants"] == files["sample"]["completed"] == 8
    assert files["sample"]["ratings"] == 8 * 6 and files["sample"]["choices"] == 8 * 2
    for table in ("descriptives", "wilcoxon_ratings", "anova", "friedman", "wilcoxon_participants", "choice_shares"):
        assert files[table] == database[table]
    for statement in ("sufficiency", "trust"):
        means = {r["model"]: r["mean"] for r in files["descriptives"] if r["statement"] == statement}
        assert means["M2"] > means["A"] > means["N"]
        for table in ("wilcoxon_ratings", "wilcoxon_participants"):
            pairs = [r for r in files[table] if r["statement"] == statement]
            assert [(r["model_a"], r["model_b"]) for r in pairs] == [("N", "A"), ("A", "M2"), ("N", "M2")]
            assert all(r["p_holm"] < 0.05 and r["rank_biserial"] > 0.9 for r in pairs)
    shares = {r["model"]: r["share"] for r in files["choice_shares"] if r["dataset"] == "all"}
    assert shares["M2"] > 0.5
    html = (tmp_path / "from-database" / "report.html").read_text()
    assert "Participants: 8 arrived, 8 consented with answers kept, 8 completed" in html


def test_study_option_names_unknown_studies_and_refuses_files_beside_it(db, tmp_path):
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        run("analyze", study="nope", out=tmp_path / "report")
    with pytest.raises(CommandError, match="either --study S or the exported files"):
        run("analyze", study="nope", ratings="r.csv", out=tmp_path / "report")
    assert not (tmp_path / "report").exists()
