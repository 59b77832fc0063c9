"""Choice shares, the chi-square test, most-chosen models, justifications and the paired-comparison model within
each connected set of compared cells: on hand-checkable data, and against choix and statsmodels per set."""

import io
import json

import choix
import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from scipy import stats as sp
from statsmodels.discrete.conditional_models import ConditionalLogit

from analysis import choices
from analysis.loading import SIDES, read_export
from analysis.pipeline import Options, run_analysis
from tests.helpers.exports import METHODS_DEMO, methods_demo_export


def choice_frame(rows):
    frame = pd.DataFrame(rows, columns=["participant", "dataset", "chosen_model", "justification"])
    frame["image"] = [f"img-{i}" for i in range(len(frame))]
    frame["class_name"] = "Bag"
    frame["left"], frame["middle"], frame["right"], frame["fourth"] = "N", "A", "M2", None  # pages of three maps
    for column in ("participant", "image", "dataset", "class_name", *SIDES, "chosen_model"):
        frame[column] = frame[column].astype("category")
    return frame


@pytest.fixture
def frame():
    rows = ([("p1", "fmnist", "M2", "sharp")] * 3 + [("p1", "cifar10", "A", "ok")]
            + [("p2", "fmnist", "N", "n1"), ("p2", "cifar10", "A", "a1"), ("p2", "cifar10", "N", "n2"),
               ("p2", "fmnist", "A", "a2")]
            + [("p3", "cifar10", "M2", "<b>bold</b>")] * 2)
    return choice_frame(rows)


def one_set(frame):
    return choices.compared_sets(frame, ["N", "A", "M2"])


def test_shares_are_of_all_choices_overall_and_per_dataset(frame):
    shares = choices.choice_shares(frame, one_set(frame))
    assert set(shares["set"]) == {1}
    overall = shares[shares["dataset"] == "all"].set_index("model")
    assert overall["count"].to_dict() == {"N": 2, "A": 3, "M2": 5}
    assert overall["share"].to_dict() == pytest.approx({"N": 0.2, "A": 0.3, "M2": 0.5})
    cifar = shares[shares["dataset"] == "cifar10"].set_index("model")["count"].to_dict()
    assert cifar == {"N": 1, "A": 2, "M2": 2}


def test_goodness_of_fit_equals_scipy_against_equal_shares(frame):
    sets = one_set(frame)
    table = choices.choice_goodness_of_fit(choices.choice_shares(frame, sets), sets).set_index("dataset")
    expected = sp.chisquare([2, 3, 5])
    assert table.loc["all", "chi2"] == pytest.approx(expected.statistic, rel=1e-12)
    assert table.loc["all", "p"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert (table.loc["all", "df"], table.loc["all", "n"]) == (2, 10)
    assert table.loc["fmnist", "chi2"] == pytest.approx(sp.chisquare([1, 1, 3]).statistic)


def test_most_chosen_per_participant_names_ties(frame):
    sets = one_set(frame)
    table = choices.most_chosen(frame, sets).set_index("participant")
    assert table.loc["p1", "most_chosen"] == "M2" and table.loc["p1", "n_M2"] == 3
    assert table.loc["p2", "most_chosen"] == "N/A" and table.loc["p2", "n_choices"] == 4
    summary = choices.most_chosen_summary(table.reset_index(), sets)
    assert summary.set_index("most_chosen")["participants"].to_dict() == {"M2": 2, "N/A": 1}


def test_justifications_are_grouped_by_the_chosen_model_in_model_order(frame):
    table = choices.justifications(frame, ["N", "A", "M2"])
    assert list(table["chosen_model"]) == ["N", "N", "A", "A", "A", "M2", "M2", "M2", "M2", "M2"]
    assert list(table["justification"][:2]) == ["n1", "n2"]


def test_offered_models_follow_the_requested_order_then_the_rest():
    frame = choice_frame([("p1", "fmnist", "M2", "x")])
    assert choices.offered_models(frame, ["M2", "N"]) == ["M2", "N", "A"]


@pytest.fixture(scope="module")
def methods_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("methods-demo")
    paths = methods_demo_export(folder)
    analysis = run_analysis(read_export(*paths), Options(mixed_model=False))
    return {"paths": paths, "analysis": analysis, "choices": pd.read_csv(paths[1]), "folder": folder}


def top1(choices_frame, cells):
    """The choices as choix's top-1 data over `cells`: (winner, losers) per page, as indexes into `cells`."""
    data = []
    for _, row in choices_frame.iterrows():
        shown = [f"{row[s]}×{row[f'{s}_method']}" for s in ("left", "middle", "right")]
        winner = f"{row['chosen_model']}×{row['chosen_method']}"
        data.append((cells.index(winner), tuple(cells.index(c) for c in shown if c != winner)))
    return data


def test_a_methods_study_gets_worths_within_each_model_equal_to_choix(methods_demo):
    """The shipped methods demo's shape: every page shows the three methods of one model, so the cells fall into
    one connected set per model. Before, one conditional logit over all nine cells gave every worth as NaN (or
    SE 477 and CI [0, inf]); now each set has its own reference, and its worths are choix's maximum-likelihood
    Plackett-Luce estimates."""
    table = methods_demo["analysis"].tables["choice_model"]
    raw = methods_demo["choices"]
    assert list(table["set"].unique()) == [1, 2, 3]
    for number, (model, weights) in enumerate(METHODS_DEMO.items(), start=1):
        cells = [f"{model}×{k}" for k in weights]
        ours = table[table["set"] == number]
        assert list(ours["cell"]) == cells and list(ours["reference"]) == [True, False, False]
        assert np.isfinite(ours["se"].iloc[1:]).all() and (ours["note"] == "").all()
        pages = raw[raw["left"] == model]
        params = choix.ilsr_top1(3, top1(pages, cells), alpha=0.0, max_iter=10_000, tol=1e-12)
        assert ours["coefficient"].to_numpy() == pytest.approx(params - params[0], abs=1e-6)
        assert ours["worth"].to_numpy() == pytest.approx(np.exp(params - params[0]), rel=1e-6)
        assert ours["n_choices"].iloc[0] == len(pages) and (ours["shown"] == len(pages)).all()
        chosen = (pages["chosen_model"] + "×" + pages["chosen_method"]).value_counts()
        assert list(ours["chosen"]) == [chosen.get(c, 0) for c in cells]


def test_the_worths_intervals_are_a_direct_conditional_logit_of_the_set(methods_demo):
    table = methods_demo["analysis"].tables["choice_model"]
    raw = methods_demo["choices"]
    pages = raw[raw["left"] == "M2"]
    cells = ["M2×VG", "M2×IG", "M2×SG"]
    shown = np.column_stack([(pages[s] + "×" + pages[f"{s}_method"]).to_numpy() for s in ("left", "middle", "right")])
    chosen = (pages["chosen_model"] + "×" + pages["chosen_method"]).to_numpy()
    exog = np.column_stack([(shown.ravel() == c).astype(float) for c in cells[1:]])
    result = ConditionalLogit((shown == chosen[:, None]).astype(float).ravel(), exog,
                              groups=np.repeat(np.arange(len(pages)), 3)).fit(**choices.FIT_OPTIONS)
    ours = table[table["set"] == 3].iloc[1:]
    assert ours["se"].to_numpy() == pytest.approx(result.bse, rel=1e-6)
    assert ours["p"].to_numpy() == pytest.approx(result.pvalues, rel=1e-6)
    ci = np.exp(result.conf_int(alpha=0.05))
    assert ours[["worth_ci_low", "worth_ci_high"]].to_numpy() == pytest.approx(ci, rel=1e-6)
    assert ours["worth"].iloc[-1] > 1  # M2×SG was weighted 3x M2×VG


def test_shares_chi_square_and_most_chosen_stay_within_each_set(methods_demo):
    tables = methods_demo["analysis"].tables
    raw = methods_demo["choices"]
    shares = tables["choice_shares"]
    chi = tables["choice_chisquare"].set_index(["set", "dataset"])
    for number, model in enumerate(METHODS_DEMO, start=1):
        pages = raw[raw["left"] == model]
        overall = shares[(shares["set"] == number) & (shares["dataset"] == "all")]
        assert list(overall["model"]) == [f"{model}×{k}" for k in METHODS_DEMO[model]]
        assert overall["share"].sum() == pytest.approx(1.0)
        expected = sp.chisquare(overall["count"].to_numpy())
        assert overall["count"].sum() == len(pages)
        assert chi.loc[(number, "all"), "chi2"] == pytest.approx(expected.statistic, rel=1e-12)
        assert chi.loc[(number, "all"), "p"] == pytest.approx(expected.pvalue, rel=1e-12)
        assert chi.loc[(number, "all"), "df"] == 2
    per_person = tables["most_chosen"]
    first = per_person[(per_person["participant"] == "P000001") & (per_person["set"] == 1)].iloc[0]
    pages = raw[(raw["participant"] == "P000001") & (raw["left"] == "N")]
    counts = (pages["chosen_model"] + "×" + pages["chosen_method"]).value_counts()
    top = sorted(counts[counts == counts.max()].index, key=[f"N×{k}" for k in METHODS_DEMO["N"]].index)
    assert first["most_chosen"] == "/".join(top) and first["n_choices"] == len(pages)
    assert first["n_A×VG"] == 0  # another set's cells are never counted


def test_the_report_says_the_sets_and_prints_no_number_across_them(methods_demo):
    out = methods_demo["folder"] / "report"
    ratings, choices_path, people = methods_demo["paths"]
    call_command("analyze", "--ratings", str(ratings), "--choices", str(choices_path), "--participants", str(people),
                 "--out", str(out), "--no-mixed", stdout=io.StringIO())
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert ("The side-by-side pages compared 3 separate sets of cells (set 1: N×VG, N×IG, N×SG; set 2: A×VG, A×IG, "
            "A×SG; set 3: M2×VG, M2×IG, M2×SG)") in markdown
    assert "none compares cells of different sets" in markdown
    assert "| Set | Cell | Shown | Chosen | Worth | 95% CI | Coefficient | SE | p |" in markdown
    results = json.loads((out / "results.json").read_text())
    rows = [r for r in results["choice_model"]]
    for r in rows:
        line = (f"| {r['set']} | {r['cell']} | {r['shown']} | {r['chosen']} | {r['worth']:.3f} | "
                + ("reference" if r["reference"] else f"[{r['worth_ci_low']:.3f}, {r['worth_ci_high']:.3f}]")
                + f" | {r['coefficient']:.3f} | ")
        assert line in markdown
    for number in (1, 2, 3):
        assert f"### Side-by-side choices, set {number}: " in markdown
    assert "| Dataset | Choices | N×VG | N×IG | N×SG | Chi-square | p |" in markdown
    assert "one conditional logit" not in markdown


def partial_frame(pages):
    """Choices of pages that show two to four cells (the sides after the page's last map empty), each
    (shown..., chosen)."""
    rows = []
    for i, (*shown, chosen) in enumerate(pages):
        sides = dict(zip(SIDES, shown + [None] * (len(SIDES) - len(shown))))
        rows.append({"participant": f"p{i % 4}", "image": f"img-{i}", "dataset": "fmnist", **sides,
                     "chosen_model": chosen})
    frame = pd.DataFrame(rows, columns=["participant", "image", "dataset", *SIDES, "chosen_model"])
    return frame.astype("category")


def test_pages_of_two_join_cells_through_a_shared_one_and_fit_bradley_terry():
    """Pairwise pages a-b, b-c, c-a, and d-e: two sets, the first joined only through pairs. Its worths are the
    Bradley-Terry estimates (choix), and the shares' chi-square, whose equal-shares null needs every page to show
    the whole set, is not computed there."""
    wins = {("a", "b"): (6, 4), ("b", "c"): (5, 5), ("c", "a"): (3, 7), ("d", "e"): (4, 6)}
    pages = [(x, y, x) for (x, y), (n, _) in wins.items() for _ in range(n)]
    pages += [(y, x, y) for (x, y), (_, n) in wins.items() for _ in range(n)]
    frame = partial_frame(pages)
    sets = choices.compared_sets(frame, ["a", "b", "c", "d", "e"])
    assert [sets.names(n) for n in range(2)] == [["a", "b", "c"], ["d", "e"]]
    assert sets.whole_pages(0) is False and sets.whole_pages(1) is True
    table = choices.paired_comparison(sets)
    pairs = [(w, l) for (x, y), (n, m) in wins.items() if x in "abc" for w, l in [(x, y)] * n + [(y, x)] * m]
    index = {"a": 0, "b": 1, "c": 2}
    params = choix.ilsr_pairwise(3, [(index[w], index[l]) for w, l in pairs], alpha=0.0, max_iter=10_000,
                                 tol=1e-12)
    first = table[table["set"] == 1]
    assert first["coefficient"].to_numpy() == pytest.approx(params - params[0], abs=1e-6)
    second = table[table["set"] == 2]
    assert second["coefficient"].iloc[1] == pytest.approx(np.log(6 / 4), abs=1e-6)  # Bradley-Terry on one pair
    shares = choices.choice_shares(frame, sets)
    chi = choices.choice_goodness_of_fit(shares, sets).query("dataset == 'all'").set_index("set")
    assert np.isnan(chi.loc[1, "chi2"]) and chi.loc[1, "note"] == choices.PARTIAL_PAGES
    assert chi.loc[2, "chi2"] == pytest.approx(sp.chisquare([4, 6]).statistic)


def test_a_cell_never_chosen_has_no_worth_and_the_report_says_why():
    pages = [("a", "b", "c", "a")] * 4 + [("a", "b", "c", "b")] * 3
    table = choices.paired_comparison(choices.compared_sets(partial_frame(pages), ["a", "b", "c"]))
    assert table["reference"].tolist() == [True, False, False]
    assert np.isnan(table["worth"].iloc[1:]).all() and table["worth"].iloc[0] == 1.0
    assert table["note"].iloc[1] == "not estimable: never chosen: c (worths without a finite estimate)"
