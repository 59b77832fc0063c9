"""`manage.py analyze` end to end on real-format export files: the report, its numbers, and bad input."""

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests

from analysis.simulation import simulate_export
from tests.helpers.report import html_tables, p_text


def analyze(*args):
    out = io.StringIO()
    call_command("analyze", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.fixture
def export(tmp_path):
    """A small export (15 participants x 4 images x N, A, M2) with a moderate effect.

    15, not fewer: with 13 or fewer participants and tied means, scipy's wilcoxon runs an exact
    permutation test (2^n samples), correct but seconds per test.
    """
    ratings, choices, participants = simulate_export(tmp_path / "export", 15, images=4,
                                                     effects={"N": 0.0, "A": 0.4, "M2": 0.8},
                                                     choice_weights={"N": 1, "A": 2, "M2": 4}, seed=1)
    return {"ratings": ratings, "choices": choices, "participants": participants, "out": tmp_path / "report"}


def file_args(export, **replace):
    paths = {**export, **replace}
    return ["--ratings", paths["ratings"], "--choices", paths["choices"], "--participants", paths["participants"],
            "--out", paths["out"]]


def results(out):
    return json.loads((out / "results.json").read_text())


def test_report_holds_every_output_and_the_numbers_equal_scipy(export):
    output = analyze(*file_args(export))
    out = export["out"]
    assert "Analysed 15 participants, 180 ratings of N A M2, 60 choices" in output
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "results.json", "tables", "figures"}
    assert {p.name for p in (out / "figures").iterdir()} == {"mean_ci.png", "likert.png", "choice_shares.png",
                                                             "participant_flow.png"}
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in (out / "figures").iterdir())
    assert {"descriptives.csv", "wilcoxon_ratings.csv", "anova.csv", "friedman.csv", "wilcoxon_participants.csv",
            "choice_shares.csv", "justifications.csv", "ordinal.csv", "mixed.csv"} <= {p.name for p in (out / "tables").iterdir()}

    data = results(out)
    assert data["sample"] == {"participants": 15, "started": 15, "completed": 15, "excluded": [], "analysed": 15,
                              "ratings": 180, "choices": 60, "models": ["N", "A", "M2"], "exclusion_rule": "none",
                              "outcomes": {"completed": 15}, "flow": [
                                  ["Arrived", 15], ["Consented", 15], ["Withdrew or erased (answers deleted)", 0],
                                  ["Completed", 15], ["Did not complete, answers kept", 0], ["With answers kept", 15],
                                  ["No rating in the analysis (none given yet, or only of models not compared)", 0],
                                  ["Analysed", 15]], "exclusions": {}}
    assert "participant_flow.csv" in {p.name for p in (out / "tables").iterdir()}
    raw = pd.read_csv(export["ratings"])
    wide = raw.pivot_table(index=["participant", "image"], columns="model", values="sufficiency")
    expected = [sp.wilcoxon(wide[a], wide[b], zero_method="pratt").pvalue for a, b in (("N", "A"), ("A", "M2"), ("N", "M2"))]
    pooled = [r for r in data["wilcoxon_ratings"] if r["statement"] == "sufficiency"]
    assert [(r["model_a"], r["model_b"]) for r in pooled] == [("N", "A"), ("A", "M2"), ("N", "M2")]
    assert [r["p"] for r in pooled] == pytest.approx(expected, rel=1e-10)
    assert [r["p_holm"] for r in pooled] == pytest.approx(multipletests(expected, method="holm")[1], rel=1e-10)
    anova = sp.f_oneway(*(raw.loc[raw["model"] == m, "trust"] for m in ("N", "A", "M2")))
    assert data["anova"][1]["F"] == pytest.approx(anova.statistic, rel=1e-12)
    counts = pd.read_csv(export["choices"])["chosen_model"].value_counts()
    shares = {r["model"]: r["count"] for r in data["choice_shares"] if r["dataset"] == "all"}
    assert shares == counts.to_dict()
    chi = [r for r in data["choice_chisquare"] if r["dataset"] == "all"][0]
    assert chi["p"] == pytest.approx(sp.chisquare([shares[m] for m in ("N", "A", "M2")]).pvalue, rel=1e-12)

    html = (out / "report.html").read_text()
    mean, sd = raw.loc[raw["model"] == "N", "sufficiency"].agg(["mean", "std"])
    assert f"<td>{mean:.2f} +- {sd:.2f}</td>" in html
    assert f"{pooled[0]['p']:.2E}" in html and "E-" in f"{pooled[0]['p']:.2E}"
    for statement in ("zero_method=&#x27;pratt&#x27;", "method=&#x27;holm&#x27;", "each participant as one unit",
                      "Participants: 15 arrived, 15 consented with answers kept, 15 completed", "Excluded: none"):
        assert statement in html
    # Three results' figures and the participant flow's.
    assert html.count('src="data:image/png;base64,') == 4 and "http" not in html.replace("http-equiv", "")
    markdown = (out / "report.md").read_text()
    assert f"| Sufficiency | N | 60 | {mean:.2f} +- {sd:.2f} |" in markdown and "N vs A: p (Holm)" in markdown

    mixed = [r for r in data["mixed"] if r["statement"] == "trust"]
    assert [(r["model_a"], r["model_b"]) for r in mixed] == [("N", "A"), ("A", "M2"), ("N", "M2")]
    assert all(r["converged"] for r in mixed) and mixed[0]["n_ratings_fitted"] == 180
    table = list(csv.DictReader(open(out / "tables" / "mixed.csv", newline="")))
    assert float(table[3]["estimate"]) == pytest.approx(mixed[0]["estimate"], rel=1e-12)
    assert f"| Trust | A vs M2 | {mixed[1]['estimate']:.3f} |" in markdown
    assert "Which test answers which question" in html and "(1 | participant) + (1 | image)" in html
    results_section = html[html.index("<h2>Results</h2>"):]
    order = [results_section.index(title) for title in (
        "Descriptives", "Mixed model: crossed random effects", "Mixed model: variance components",
        "Ordinal mixed model: odds ratio of a higher answer", "Ordinal mixed model: thresholds",
        "Participant-level tests", "Table 3 layout: pooled tests", "Pooled ordinal model (sensitivity check)")]
    assert order == sorted(order)


def test_a_known_effect_is_found_and_a_null_effect_is_not(tmp_path):
    effect = simulate_export(tmp_path / "effect", 30, images=10, effects={"N": 0.0, "A": 0.6, "M2": 1.2},
                             choice_weights={"N": 1, "A": 2, "M2": 4}, seed=2)
    null = simulate_export(tmp_path / "null", 30, images=10, effects={"N": 0.0, "A": 0.0, "M2": 0.0}, seed=2)
    for paths, name in ((effect, "effect"), (null, "null")):
        analyze("--ratings", paths[0], "--choices", paths[1], "--out", tmp_path / f"{name}-report")
    found, nothing = results(tmp_path / "effect-report"), results(tmp_path / "null-report")
    for statement in ("sufficiency", "trust"):
        means = {r["model"]: r["mean"] for r in found["descriptives"] if r["statement"] == statement}
        assert means["M2"] > means["A"] > means["N"]
        for table in ("wilcoxon_ratings", "wilcoxon_participants"):
            pairs = [r for r in found[table] if r["statement"] == statement]
            assert all(r["p_holm"] < 0.05 and r["rank_biserial"] > 0 for r in pairs)
            null_pairs = [r for r in nothing[table] if r["statement"] == statement]
            assert all(r["p_holm"] > 0.05 for r in null_pairs)
        assert all(r["p_holm"] < 0.05 and r["estimate"] > 0 for r in found["mixed"] if r["statement"] == statement)
        assert all(r["p_holm"] > 0.05 for r in nothing["mixed"] if r["statement"] == statement)
        assert [r["p"] < 0.05 for r in found["friedman"]] == [True, True]
        assert [r["p"] > 0.05 for r in nothing["friedman"] + nothing["anova"]] == [True] * 4
    assert max(found["most_chosen_summary"], key=lambda r: r["participants"])["most_chosen"] == "M2"
    assert [r["p"] < 0.05 for r in found["choice_chisquare"] if r["dataset"] == "all"] == [True]
    assert [r["p"] > 0.05 for r in nothing["choice_chisquare"] if r["dataset"] == "all"] == [True]


def test_justifications_are_inert_in_the_html_markdown_and_csv(export):
    choices = pd.read_csv(export["choices"])
    choices.loc[0, "justification"] = "<script>alert('x')</script>"
    choices.loc[1, "justification"] = "'=HYPERLINK(\"http://evil.example\",\"click\")"  # as the exporter guards it
    choices.loc[2, "justification"] = "'hello'"
    choices.to_csv(export["choices"], index=False)
    analyze(*file_args(export))
    html = (export["out"] / "report.html").read_text()
    assert "<script" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "=HYPERLINK(&quot;http://evil.example&quot;,&quot;click&quot;)" in html and "<a " not in html
    assert "'hello'" in html.replace("&#x27;", "'")
    markdown = (export["out"] / "report.md").read_text()
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    table = list(csv.DictReader(open(export["out"] / "tables" / "justifications.csv", newline="")))
    texts = {row["justification"] for row in table}
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in texts and "<script>alert('x')</script>" in texts
    assert "''hello'" in texts  # guarded like the exporter does, so that the guard can be undone exactly
    assert not any(t.startswith("=") for t in texts)


def test_failed_attention_checks_exclude_participants_when_asked(export):
    people = pd.read_csv(export["participants"])
    people.loc[3, "attention_passed"] = 1
    people.to_csv(export["participants"], index=False)
    analyze(*file_args(export), "--exclude-failed-attention")
    sample = results(export["out"])["sample"]
    assert sample["excluded"] == [people.loc[3, "participant"]] and sample["analysed"] == 14
    assert sample["ratings"] == 14 * 12 and sample["choices"] == 14 * 4
    assert "Excluded: 1" in (export["out"] / "report.html").read_text()


def test_withdrawn_and_erased_participants_are_counted_and_not_analysed(export):
    people = pd.read_csv(export["participants"], dtype=str, keep_default_na=False)
    gone = pd.DataFrame([{**people.iloc[0].to_dict(), "participant": name, "degree": "", "cv_experience_years": "",
                          "attention_passed": "0", "attention_total": "0", "outcome": outcome}
                         for name, outcome in (("P000098", "withdrawn"), ("P000099", "erased"))])
    pd.concat([people, gone]).to_csv(export["participants"], index=False)
    analyze(*file_args(export))
    sample = results(export["out"])["sample"]
    assert sample["outcomes"] == {"completed": 15, "withdrawn": 1, "erased": 1}
    assert (sample["participants"], sample["analysed"]) == (17, 15)
    # The erased and withdrawn people had completed (their rows keep the times) but count as their outcome only.
    assert (sample["started"], sample["completed"]) == (15, 15)
    assert "Participants: 17 arrived, 15 consented with answers kept, 15 completed" in (export["out"] / "report.md").read_text()
    assert ("Outcomes: 15 completed, 1 withdrawn, 1 erased (1 withdrawn and 1 erased: their answers were deleted "
            "and are not analysed)") in (export["out"] / "report.md").read_text()


def test_models_option_picks_and_orders_the_models(export):
    analyze(*file_args(export), "--models", "M2", "N", "--alpha", "0.01", "--zero-method", "wilcox")
    data = results(export["out"])
    assert data["models"] == ["M2", "N"] and {r["model"] for r in data["descriptives"]} == {"M2", "N"}
    assert [(r["model_a"], r["model_b"]) for r in data["wilcoxon_ratings"]] == [("M2", "N")] * 2
    assert data["options"]["alpha"] == 0.01 and data["options"]["zero_method"] == "wilcox"
    assert data["choice_models"] == ["M2", "N", "A"]  # shares stay shares of all choices


def test_no_mixed_skips_the_mixed_models_and_says_so(export):
    analyze(*file_args(export), "--no-mixed")
    data = results(export["out"])
    assert "mixed" not in data and "clmm" not in data and data["options"]["mixed_model"] is False
    assert not (export["out"] / "tables" / "mixed.csv").exists()
    assert not (export["out"] / "tables" / "clmm.csv").exists()
    html = (export["out"] / "report.html").read_text()
    assert "It was not fitted for this report (--no-mixed)." in html and "Mixed model: crossed" not in html
    assert "Ordinal mixed model" not in html and "the ordinal mixed model above" not in html


def odds_ratio_row(r):
    return [r["statement"].capitalize(), f"{r['model_a']} vs {r['model_b']}", f"{r['odds_ratio']:.2f}",
            f"[{r['or_ci_low']:.2f}, {r['or_ci_high']:.2f}]", f"{r['log_odds_ratio']:.3f}", f"{r['se']:.3f}",
            f"{r['p']:.2E}", p_text(r["p_holm"])]


def test_the_ordinal_mixed_model_stands_beside_the_linear_one_in_every_output(export):
    analyze(*file_args(export))
    out = export["out"]
    data = results(out)
    pairs, thresholds = data["clmm"], data["clmm_thresholds"]
    assert [(r["statement"], r["model_a"], r["model_b"]) for r in pairs] == [
        (s, a, b) for s in ("sufficiency", "trust") for a, b in (("N", "A"), ("A", "M2"), ("N", "M2"))]
    assert all(r["converged"] for r in pairs) and pairs[0]["n_ratings_fitted"] == 180
    assert [r["threshold"] for r in thresholds] == ["1|2", "2|3", "3|4", "4|5"] * 2
    table = list(csv.DictReader(open(out / "tables" / "clmm.csv", newline="")))
    assert [float(r["odds_ratio"]) for r in table] == pytest.approx([r["odds_ratio"] for r in pairs], rel=1e-12)
    assert (out / "tables" / "clmm_thresholds.csv").exists()

    tables = html_tables(out / "report.html")
    assert tables["Ordinal mixed model: odds ratio of a higher answer"] == [odds_ratio_row(r) for r in pairs]
    fits = tables["Ordinal mixed model: thresholds, variance components and convergence"]
    trust = [r for r in thresholds if r["statement"] == "trust"]
    assert fits[1][:3] == ["Trust", "; ".join(f"{r['threshold']}: {r['estimate']:.2f} ({r['se']:.2f})" for r in trust),
                           f"{pairs[3]['participant_variance']:.3f}"]
    assert fits[1][-1].startswith("yes")
    assert "Pooled ordinal model (sensitivity check)" in tables and "Ordinal model (sensitivity check)" not in tables
    markdown = (out / "report.md").read_text()
    assert "| " + " | ".join(odds_ratio_row(pairs[2])) + " |" in markdown
    assert "the ordinal mixed model above is the same model with them" in markdown
    assert "Ordinal mixed model: the cumulative link mixed model" in markdown  # the Methods line


def test_an_ordinal_mixed_model_that_does_not_converge_says_so_and_shows_no_numbers(export):
    """Every M2 sufficiency rating a 5: M2's odds ratio is infinite, the fit cannot converge."""
    ratings = pd.read_csv(export["ratings"])
    ratings.loc[ratings["model"] == "M2", "sufficiency"] = 5
    ratings.to_csv(export["ratings"], index=False)
    analyze(*file_args(export))
    out = export["out"]
    data = results(out)
    failed = [r for r in data["clmm"] if r["statement"] == "sufficiency"]
    assert not any(r["converged"] for r in failed)
    assert all(r["fit_message"].startswith("did not converge: the data carry almost no information on model[T.M2]")
               for r in failed)
    assert all(r[key] is None for r in failed for key in ("log_odds_ratio", "odds_ratio", "se", "p", "p_holm",
                                                         "or_ci_low", "participant_variance", "log_likelihood"))
    assert all(r["converged"] and r["odds_ratio"] > 0 for r in data["clmm"] if r["statement"] == "trust")
    assert all(r["estimate"] is None for r in data["clmm_thresholds"] if r["statement"] == "sufficiency")

    tables = html_tables(out / "report.html")
    rows = tables["Ordinal mixed model: odds ratio of a higher answer"]
    assert rows[0] == ["Sufficiency", "N vs A", "not converged", "n/a", "n/a", "n/a", "n/a", "n/a"]
    assert rows[3][2] != "not converged"
    fits = tables["Ordinal mixed model: thresholds, variance components and convergence"]
    assert fits[0][1:5] == ["n/a"] * 4 and fits[0][-1] == f"NO: {failed[0]['fit_message']}"
    html = (out / "report.html").read_text()
    assert "It did not converge for sufficiency (did not converge: the data carry almost no information" in html
    csv_rows = list(csv.DictReader(open(out / "tables" / "clmm.csv", newline="")))
    assert [r["odds_ratio"] for r in csv_rows[:3]] == [""] * 3 and csv_rows[0]["converged"] == "False"


def test_a_study_without_side_by_side_pages_gets_a_report_without_choices(export):
    rewrite(export["choices"], lambda lines: lines[:1])
    analyze(*file_args(export))
    data = results(export["out"])
    assert data["sample"]["choices"] == 0 and "choice_shares" not in data
    assert "Side-by-side choices" not in (export["out"] / "report.html").read_text()
    assert {p.name for p in (export["out"] / "figures").iterdir()} == {"mean_ci.png", "likert.png",
                                                                       "participant_flow.png"}


def test_a_second_run_replaces_the_previous_report(export):
    analyze(*file_args(export))
    (export["out"] / "notes.txt").write_text("mine")
    analyze(*file_args(export), "--models", "N", "A")
    assert results(export["out"])["models"] == ["N", "A"]
    assert (export["out"] / "notes.txt").read_text() == "mine"
    assert not [p for p in export["out"].parent.iterdir() if p.name.startswith(".analyze-")]


def rewrite(path, edit):
    lines = Path(path).read_text().splitlines()
    Path(path).write_text("\n".join(edit(lines)) + "\n")


def set_cell(path, row, column, value):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 1, column] = value
    frame.to_csv(path, index=False)


NOT_SHOWN = ("choices.csv): chosen_model (with chosen_method) is not one of the maps shown (left/middle/right/fourth) "
             "in data rows ")
SIDES_RULE = ("choices.csv): a page of map_count maps shows them in the first map_count of left, middle, right, "
              "fourth (model and method each) and leaves the others empty; data rows ")
BAD_INPUTS = {
    "missing column": (lambda e: pd.read_csv(e["ratings"]).drop(columns="trust").to_csv(e["ratings"], index=False),
                       [], ["ratings (", "ratings.csv): missing column(s) trust"]),
    "rating not a number": (lambda e: set_cell(e["ratings"], 3, "sufficiency", "x"), [],
                            ["ratings.csv): 'sufficiency' must hold whole numbers 1-5; data rows 3 hold 'x'"]),
    "rating out of range": (lambda e: set_cell(e["ratings"], 7, "trust", "6"), [],
                            ["'trust' must hold whole numbers 1-5; data rows 7 hold '6'"]),
    "rating not whole": (lambda e: set_cell(e["ratings"], 2, "trust", "2.5"), [], ["data rows 2 hold '2.5'"]),
    "rating empty": (lambda e: set_cell(e["ratings"], 4, "trust", ""), [], ["data rows 4 hold ''"]),
    # Model names are free text (imported models), so a name is no error; an empty one is.
    "empty model": (lambda e: set_cell(e["ratings"], 5, "model", ""), [],
                    ["ratings.csv): empty 'model' in data rows 5"]),
    "empty method": (lambda e: set_cell(e["ratings"], 6, "method", ""), [],
                     ["ratings.csv): empty 'method' in data rows 6"]),
    "rated twice": (lambda e: rewrite(e["ratings"], lambda lines: lines + [lines[1]]), [],
                    ["the same participant rated the same image and model more than once: participant=P000001, "
                     "image=img-001, model=N in data rows 1, 181"]),
    "model without ratings": (lambda e: None, ["--models", "N", "G"],
                              ["no ratings of model(s) G", "--models asks for them"]),
    "empty file": (lambda e: Path(e["ratings"]).write_text(""), [], ["ratings.csv): the file is empty"]),
    "header only": (lambda e: rewrite(e["ratings"], lambda lines: lines[:1]), [], ["ratings.csv): no ratings"]),
    "empty choices": (lambda e: Path(e["choices"]).write_bytes(b"\n \n"), [], ["choices.csv): the file is empty"]),
    "not utf-8": (lambda e: Path(e["choices"]).write_bytes(Path(e["choices"]).read_bytes() + b"P1,\xff\xfe\n"), [],
                  ["choices.csv): the file is not UTF-8 text"]),
    "unquoted comma": (lambda e: rewrite(e["ratings"], lambda lines: lines[:2] + [lines[2].replace(
                       "Sandal", "Sandal,long")] + lines[3:]), [],
                       ["ratings.csv): 'trial' must hold whole numbers >= 1; data rows 2 hold 'A'"]),
    "missing file": (lambda e: Path(e["ratings"]).unlink(), [], ["ratings.csv): cannot read the file"]),
    "choice not shown": (lambda e: set_cell(e["choices"], 2, "right", "G") or set_cell(e["choices"], 3, "chosen_model",
                         "G"), [], [NOT_SHOWN + "3."]),
    "unknown chosen model": (lambda e: set_cell(e["choices"], 4, "chosen_model", "X"), [],
                             [NOT_SHOWN + "4."]),
    "chosen method not shown": (lambda e: set_cell(e["choices"], 2, "chosen_method", "IG"), [],
                                [NOT_SHOWN + "2."]),
    "map count of fewer maps": (lambda e: set_cell(e["choices"], 3, "map_count", "2"), [],
                                [SIDES_RULE + "3 do not (map_count 2 with left, middle, right)."]),
    "a fourth map on a page of three": (lambda e: set_cell(e["choices"], 2, "fourth", "G") or set_cell(
        e["choices"], 2, "fourth_method", "VG"), [], [SIDES_RULE + "2 do not (map_count 3 with left, middle, right, "
                                                      "fourth)."]),
    "a side without its method": (lambda e: set_cell(e["choices"], 5, "right_method", ""), [],
                                  [SIDES_RULE + "5 do not (map_count 3 with left, middle, right (no method))."]),
    "map count out of range": (lambda e: set_cell(e["choices"], 4, "map_count", "1"), [],
                               ["choices.csv): 'map_count' must hold whole numbers 2-4; data rows 4 hold '1'"]),
    "unlisted participant": (lambda e: rewrite(e["participants"], lambda lines: lines[:1] + lines[2:]), [],
                             ["ratings.csv): participant(s) not listed in participants (", "data rows 1, 2, 3"]),
    "attention tally": (lambda e: set_cell(e["participants"], 2, "attention_passed", "3"), [],
                        ["attention_passed exceeds attention_total in data rows 2"]),
    "unknown outcome": (lambda e: set_cell(e["participants"], 3, "outcome", "done"), [],
                        ["participants.csv): 'outcome' must be one of in_progress, completed, no_consent, "
                         "attention_failed, expired, withdrawn, erased; data rows 3 hold 'done'"]),
    "answers of a withdrawn participant": (lambda e: set_cell(e["participants"], 1, "outcome", "withdrawn"), [],
                                           ["ratings.csv): data rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more are "
                                            "answers of participants who withdrew or were erased (P000001)",
                                            "choices.csv): data rows 1, 2, 3, 4 are answers"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_names_file_rows_and_problem_and_writes_nothing(export, tmp_path, case):
    edit, extra, messages = BAD_INPUTS[case]
    edit(export)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CommandError) as error:
        analyze(*file_args(export), *extra)
    for message in messages:
        assert message in str(error.value)
    assert "Nothing was written" in str(error.value)
    assert not export["out"].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging folder left behind


def test_exclusion_needs_the_participants_file(export):
    with pytest.raises(CommandError, match="--exclude-failed-attention needs the participants file"):
        analyze("--ratings", export["ratings"], "--choices", export["choices"], "--out", export["out"],
                "--exclude-failed-attention")
    assert not export["out"].exists()


def test_bad_input_exits_non_zero_from_the_command_line(export, capsys):
    set_cell(export["ratings"], 3, "sufficiency", "9")
    with pytest.raises(SystemExit) as exit:
        execute_from_command_line(["manage.py", "analyze", *map(str, file_args(export))])
    assert exit.value.code != 0
    assert "'sufficiency' must hold whole numbers 1-5; data rows 3 hold '9'" in capsys.readouterr().err
    assert not export["out"].exists()


def test_the_researchers_exclusions_are_left_out_by_default_and_the_flow_counts_them(export):
    people = pd.read_csv(export["participants"], dtype=str, keep_default_na=False)
    people.loc[[0, 1], "excluded"] = "True"
    people.loc[[0, 1], "exclusion_reason"] = ["=speeder", "=speeder"]  # stored with the exporter's formula guard
    people.loc[2, "excluded"] = "True"
    people.loc[2, "exclusion_reason"] = "straight-lining"
    people.loc[2, "outcome"] = "in_progress"
    people.loc[2, "completed_at"] = ""
    people.to_csv(export["participants"], index=False)
    analyze(*file_args(export))
    sample = results(export["out"])["sample"]
    flow = dict(map(tuple, sample["flow"]))
    assert sample["analysed"] == 12 and flow["Analysed"] == 12
    assert flow["Excluded by the researcher: =speeder"] == 2 and flow["Excluded by the researcher: straight-lining"] == 1
    assert sample["exclusions"] == {people.loc[0, "participant"]: "Excluded by the researcher: =speeder",
                                    people.loc[1, "participant"]: "Excluded by the researcher: =speeder",
                                    people.loc[2, "participant"]: "Excluded by the researcher: straight-lining"}
    assert flow["Completed"] == 14 and flow["Did not complete, answers kept"] == 1
    assert flow["With answers kept"] - 3 - flow["No rating in the analysis (none given yet, or only of models not "
                                                 "compared)"] == flow["Analysed"]
    report = (export["out"] / "report.md").read_text()
    assert report.index("Participant flow") < report.index("## Methods")

    analyze(*file_args(export), "--include-excluded")
    assert results(export["out"])["sample"]["analysed"] == 15

    analyze(*file_args(export), "--include-excluded", "--completed-only")
    sample = results(export["out"])["sample"]
    assert sample["analysed"] == 14 and sample["excluded"] == [people.loc[2, "participant"]]
    assert sample["exclusions"] == {people.loc[2, "participant"]: "Left out: did not complete (--completed-only)"}


def test_a_broken_excluded_cell_is_named(export):
    people = pd.read_csv(export["participants"], dtype=str, keep_default_na=False)
    people.loc[4, "excluded"] = "maybe"
    people.to_csv(export["participants"], index=False)
    with pytest.raises(CommandError, match=r"'excluded' must be True or False \(or empty\); data rows 5"):
        analyze(*file_args(export))
    assert not export["out"].exists()


def test_files_exported_before_the_decision_columns_are_still_read(export):
    for name in ("participants", "ratings", "choices"):
        frame = pd.read_csv(export[name], dtype=str, keep_default_na=False)
        frame.drop(columns=[c for c in frame.columns if c in ("page_hides", "excluded", "exclusion_reason",
                                                               "speeder", "total_seconds", "fast_pages")]
                   ).to_csv(export[name], index=False)
    analyze(*file_args(export))
    assert results(export["out"])["sample"]["analysed"] == 15
