"""Side-by-side pages of two and of four maps, from exports the survey made (simulate_participants plays its real
pages): `analyze --study` and `analyze` on the exported CSV files read them alike, and every choice number is
checked against the raw choices.csv: shares and most-chosen by counting, the chi-square by scipy, and the
paired-comparison worths within each connected set by choix (Bradley-Terry on pages of two, Plackett-Luce top-1
on pages of four). Rows whose map_count disagrees with their filled sides, or whose chosen map was not shown, are
refused and named."""

import io

import choix
import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from scipy import stats as sp

from analysis.loading import SIDES, InputError, read_export
from analysis.simulation import simulate_export
from tests.helpers.exports import report_file_without_provenance

FILES = ("ratings", "choices", "participants", "stimuli")


def run(*args, **options):
    call_command(*args, stdout=io.StringIO(), stderr=io.StringIO(), **options)


def analysed(study, folder):
    """The study's export files (export_responses), its report from the database and from those files."""
    run("export_responses", study=study.slug, out=folder / "export")
    export = {name: folder / "export" / f"{name}.csv" for name in FILES}
    run("analyze", "--study", study.slug, "--no-mixed", "--out", str(folder / "db"))
    run("analyze", *[f"--{name}={path}" for name, path in export.items()], "--title", study.title, "--no-mixed",
        "--out", str(folder / "files"))
    return export, folder / "db", folder / "files"


def choices_file(path):
    """choices.csv as text (an empty side: NaN), map_count as numbers."""
    frame = pd.read_csv(path, dtype=str)
    return frame.assign(map_count=frame["map_count"].astype(int))


def cells(choices, side):
    return (choices[side] + "×" + choices[f"{side}_method"]).where(choices[side].notna())


def shown_and_chosen(choices):
    """Per page: the cells shown (in page order, empty sides left out) and the chosen cell."""
    shown = pd.concat([cells(choices, side) for side in SIDES], axis=1).to_numpy()
    pages = [[cell for cell in row if isinstance(cell, str)] for row in shown]
    return pages, (choices["chosen_model"] + "×" + choices["chosen_method"]).tolist()


def table(report, name):
    return pd.read_csv(report / "tables" / f"{name}.csv", keep_default_na=False, na_values=[""], dtype={"note": str})


def check_choice_tables(report, raw, maps):
    """The report's choice tables against the raw choices.csv of pages of `maps` maps."""
    pages, chosen = shown_and_chosen(raw)
    assert {len(page) for page in pages} == {maps} and set(raw["map_count"]) == {maps}
    shares = table(report, "choice_shares")
    chi = table(report, "choice_chisquare").set_index(["set", "dataset"])
    worths = table(report, "choice_model").fillna({"note": ""})  # an empty note: the worths were estimated
    per_person = table(report, "most_chosen")
    sets = {number: list(group["model"]) for number, group in shares[shares["dataset"] == "all"].groupby("set")}
    assert sorted(cell for members in sets.values() for cell in members) == sorted({c for p in pages for c in p})
    for number, members in sets.items():
        rows = [i for i, page in enumerate(pages) if set(page) <= set(members)]
        assert rows and all(set(pages[i]) == set(members) for i in rows)  # each page shows its whole set
        counts = [sum(chosen[i] == cell for i in rows) for cell in members]
        overall = shares[(shares["set"] == number) & (shares["dataset"] == "all")]
        assert list(overall["count"]) == counts and overall["share"].sum() == pytest.approx(1)
        expected = sp.chisquare(counts)
        assert chi.loc[(number, "all"), "chi2"] == pytest.approx(expected.statistic, rel=1e-12)
        assert chi.loc[(number, "all"), "p"] == pytest.approx(expected.pvalue, rel=1e-12)
        assert chi.loc[(number, "all"), "df"] == maps - 1

        ours = worths[worths["set"] == number]
        assert list(ours["cell"]) == members and (ours["note"] == "").all(), ours["note"].tolist()
        index = {cell: i for i, cell in enumerate(members)}
        if maps == 2:  # Bradley-Terry: (winner, loser) pairs
            comparisons = [(index[chosen[i]], index[next(c for c in pages[i] if c != chosen[i])]) for i in rows]
            params = choix.ilsr_pairwise(len(members), comparisons, alpha=0.0, max_iter=10_000, tol=1e-12)
        else:  # Plackett-Luce, first choice: (winner, the others shown)
            comparisons = [(index[chosen[i]], [index[c] for c in pages[i] if c != chosen[i]]) for i in rows]
            params = choix.ilsr_top1(len(members), comparisons, alpha=0.0, max_iter=10_000, tol=1e-12)
        assert ours["coefficient"].to_numpy() == pytest.approx(params - params[0], abs=1e-6)
        assert ours["worth"].to_numpy() == pytest.approx(np.exp(params - params[0]), rel=1e-6)
        assert list(ours["shown"]) == [len(rows)] * len(members) and list(ours["chosen"]) == counts

        mine = per_person[per_person["set"] == number]
        for _, person in mine.iterrows():
            theirs = [i for i in rows if raw["participant"].iat[i] == person["participant"]]
            tally = {cell: sum(chosen[i] == cell for i in theirs) for cell in members}
            top = [cell for cell in members if tally[cell] == max(tally.values())]
            assert person["most_chosen"] == "/".join(top) and person["n_choices"] == len(theirs)


def test_two_maps_side_by_side_from_the_survey_are_analysed_as_pairs(study_factory, tmp_path):
    """2 models x 2 methods, the methods compared side by side: every page shows two maps (Map 2 in `middle`,
    `right` empty), and each model's two cells form a set whose worths are Bradley-Terry's."""
    study = study_factory(images=4, variants=("A", "N"), methods=("IG", "VG"), comparison="methods",
                          attention_checks=False)
    run("simulate_participants", study=study.slug, count=14, seed=2, choice_weights="N:IG=3,A:VG=2")
    export, db, files = analysed(study, tmp_path)
    raw = choices_file(export["choices"])
    assert raw["right"].isna().all() and raw["right_method"].isna().all() and raw["fourth"].isna().all()
    assert set(raw["chosen_model"]) <= {"A", "N"} and (raw["left"] == raw["middle"]).all()
    check_choice_tables(files, raw, maps=2)
    assert [sorted(set(group["model"])) for _, group in table(files, "choice_shares").groupby("set")] == [
        ["N×IG", "N×VG"], ["A×IG", "A×VG"]]
    for name in ("results.json", "report.md"):
        assert report_file_without_provenance(db / name) == report_file_without_provenance(files / name), name
    markdown = (files / "report.md").read_text(encoding="utf-8")
    assert "the Plackett-Luce first-choice model (Bradley-Terry where a page shows two maps)" in markdown
    assert "### Side-by-side choices, set 1: N×VG, N×IG" in markdown


def test_four_maps_side_by_side_from_the_survey_include_the_fourth_in_every_number(study_factory, tmp_path):
    """4 models x 2 methods, the models compared side by side: every page shows four maps, Map 4 in `fourth`,
    and the chosen map is the fourth on some pages; each method's four cells form a set."""
    study = study_factory(images=3, variants=("A", "G", "M2", "N"), methods=("IG", "VG"), comparison="models",
                          attention_checks=False)
    run("simulate_participants", study=study.slug, count=16, seed=5, choice_weights="M2=3,A=2,N=1.5,G=1")
    export, db, files = analysed(study, tmp_path)
    raw = choices_file(export["choices"])
    assert raw["fourth"].notna().all() and raw["fourth_method"].notna().all()
    assert (raw["chosen_model"] + raw["chosen_method"] == raw["fourth"] + raw["fourth_method"]).any()
    check_choice_tables(files, raw, maps=4)
    for name in ("results.json", "report.md"):
        assert report_file_without_provenance(db / name) == report_file_without_provenance(files / name), name
    markdown = (files / "report.md").read_text(encoding="utf-8")
    assert "| Dataset | Choices | N×VG | A×VG | M2×VG | G×VG | Chi-square | p |" in markdown

    # Rows the page could not have shown are refused, each named; nothing is written.
    broken = tmp_path / "broken.csv"
    edits = raw.copy()
    edits.loc[1, "map_count"] = 3  # four maps filled
    edits.loc[2, ["fourth", "fourth_method"]] = np.nan  # map_count 4, three filled
    edits.loc[4, "map_count"] = 5
    edits.to_csv(broken, index=False)
    with pytest.raises(CommandError) as refused:
        run("analyze", "--ratings", str(export["ratings"]), "--choices", str(broken), "--out", str(tmp_path / "no"))
    message = str(refused.value)
    assert ("a page of map_count maps shows them in the first map_count of left, middle, right, fourth (model and "
            "method each) and leaves the others empty; data rows 2, 3 do not (map_count 3 with left, middle, right, "
            "fourth; map_count 4 with left, middle, right)") in message
    assert "'map_count' must hold whole numbers 2-4; data rows 5 hold '5'" in message
    assert not (tmp_path / "no").exists()
    edits = raw.copy()
    edits.loc[5, ["chosen_model", "chosen_method"]] = ["N", "SG"]
    edits.to_csv(broken, index=False)
    with pytest.raises(InputError, match=r"chosen_model \(with chosen_method\) is not one of the maps shown "
                                         r"\(left/middle/right/fourth\) in data rows 6\."):
        read_export(export["ratings"], broken)


def test_a_three_map_export_gets_the_same_report_with_or_without_the_map_count_columns(tmp_path):
    """choices.csv of three-map pages as the survey writes it now (map_count 3, fourth empty) and as it was written
    before pages of 2 and 4 maps (without the three columns): every file of the report is the same, byte for byte
    (its provenance left out). The report of such an export is also byte-identical to the one made before this
    change (checked at commit 19a40eb on the shipped demo studies' exports, from the database and from the files)."""
    ratings, choices, participants = simulate_export(tmp_path / "export", 12, images=5, seed=8,
                                                     effects={"N": 0.0, "A": 0.3, "M2": 0.6})
    written = pd.read_csv(choices, dtype=str, keep_default_na=False)
    assert set(written["map_count"]) == {"3"} and set(written["fourth"]) == set(written["fourth_method"]) == {""}
    older = tmp_path / "older-choices.csv"
    written.drop(columns=["map_count", "fourth", "fourth_method"]).to_csv(older, index=False)
    for name, path in (("now", choices), ("older", older)):
        run("analyze", "--ratings", str(ratings), "--choices", str(path), "--participants", str(participants),
            "--out", str(tmp_path / name))
    files = sorted(p.relative_to(tmp_path / "now") for p in (tmp_path / "now").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "older") for p in (tmp_path / "older").rglob("*") if p.is_file())
    for name in files:
        assert report_file_without_provenance(tmp_path / "now" / name) == report_file_without_provenance(
            tmp_path / "older" / name), name
