"""Two factors (model x method): every number of the two-factor tables against a direct call of its library."""

import base64
import io
import itertools
import json
import re
from pathlib import Path

import choix
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from django.conf import settings
from django.core.management import call_command
from django.template import engines
from django.template.loader import render_to_string
from scipy import stats as sp
from statsmodels.discrete.conditional_models import ConditionalLogit
from statsmodels.stats.multitest import multipletests

from analysis import choices as choice_stats
from analysis import clmm, factorial, mixed
from analysis.display import html_context
from analysis.loading import read_export
from analysis.pipeline import Options, run_analysis
from analysis.simulation import simulate_export
from tests.helpers.report import html_tables, p_text

MODELS, METHODS = ("N", "A", "M2"), ("VG", "IG", "SG")
EFFECTS = {f"{m}|{k}": 0.3 * i + 0.5 * j for (i, m), (j, k) in
           itertools.product(enumerate(MODELS), enumerate(METHODS))}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two-factors")
    ratings, choices, participants = simulate_export(folder, 15, images=4, effects=EFFECTS, seed=4,
                                                     choice_weights={c: 1 + e for c, e in EFFECTS.items()})
    frame = pd.read_csv(ratings, dtype=str, keep_default_na=False)
    frame["model"], frame["method"] = frame["model"].str.split("|").str[0], frame["model"].str.split("|").str[1]
    frame.to_csv(ratings, index=False)
    frame = pd.read_csv(choices, dtype=str, keep_default_na=False)
    for model, method in (("left", "left_method"), ("middle", "middle_method"), ("right", "right_method"),
                          ("chosen_model", "chosen_method")):
        frame[method] = frame[model].str.split("|").str[1]
        frame[model] = frame[model].str.split("|").str[0]
    frame.to_csv(choices, index=False)
    data = read_export(ratings, choices, participants)
    return {"paths": (ratings, choices, participants), "analysis": run_analysis(data, Options()),
            "raw": pd.read_csv(ratings), "choices": pd.read_csv(choices), "folder": folder}


def test_the_cells_and_levels_are_in_report_order(export):
    analysis = export["analysis"]
    assert analysis.models == [f"{m}×{k}" for m in MODELS for k in METHODS]
    assert list(analysis.tables["factor_levels"]["levels"]) == ["N A M2", "VG IG SG"]


def direct_fit(raw, statement):
    data = raw.assign(rating=raw[statement].astype(float), group=1,
                      model=pd.Categorical(raw["model"], categories=MODELS),
                      method=pd.Categorical(raw["method"], categories=METHODS))
    model = smf.mixedlm("rating ~ C(model, Treatment) * C(method, Treatment)", data, groups="group",
                        re_formula="0", vc_formula={"participant": "0 + C(participant)", "image": "0 + C(image)"})
    return model.fit(**mixed.FIT_OPTIONS)


def test_the_mixed_model_terms_and_contrasts_equal_statsmodels(export):
    terms, contrasts = export["analysis"].tables["factorial_mixed"], export["analysis"].tables["factorial_contrasts"]
    for statement in ("sufficiency", "trust"):
        result = direct_fit(export["raw"], statement)
        ours = terms[terms["statement"] == statement].set_index("term")
        assert list(ours.index) == list(result.fe_params.index)
        assert ours["estimate"].to_numpy() == pytest.approx(result.fe_params.to_numpy(), abs=1e-6)
        assert ours["p"].to_numpy() == pytest.approx(result.pvalues.iloc[:len(ours)].to_numpy(), rel=1e-4)
        names = list(result.fe_params.index)
        # M2 vs N, averaged over the three methods: M2's main effect plus the mean of its interaction terms
        weights = np.zeros(len(names))
        weights[names.index("C(model, Treatment)[T.M2]")] = 1
        for method in ("IG", "SG"):
            weights[names.index(f"C(model, Treatment)[T.M2]:C(method, Treatment)[T.{method}]")] = 1 / 3
        expected = result.t_test(weights[None, :])
        row = contrasts[(contrasts["statement"] == statement) & (contrasts["level_a"] == "N")
                        & (contrasts["level_b"] == "M2")].iloc[0]
        assert row["estimate"] == pytest.approx(float(expected.effect[0]), abs=1e-6)
        assert row["p"] == pytest.approx(float(expected.pvalue), rel=1e-4)
        family = contrasts[(contrasts["statement"] == statement) & (contrasts["factor"] == "model")]
        assert family["p_holm"].to_numpy() == pytest.approx(multipletests(family["p"], method="holm")[1])
        assert set(contrasts[contrasts["statement"] == statement]["factor"]) == {"model", "method"}


def test_the_ordinal_mixed_model_terms_and_contrasts_equal_clmm_on_the_raw_rows(export):
    """analysis.clmm (equal to R's ordinal::clmm: test_clmm.py) with the linear model's fixed effects, fitted to the
    raw CSV rows; each factor's contrasts are the marginal log odds, as the linear model's are marginal means."""
    terms = export["analysis"].tables["factorial_clmm"]
    contrasts = export["analysis"].tables["factorial_clmm_contrasts"]
    raw = export["raw"]
    for statement in ("sufficiency", "trust"):
        data = raw.assign(rating=raw[statement], model=pd.Categorical(raw["model"], categories=MODELS),
                          method=pd.Categorical(raw["method"], categories=METHODS))
        fit = clmm.fit_cumulative_mixed(factorial.FORMULA, data)
        assert fit.converged
        ours = terms[terms["statement"] == statement].set_index("term")
        assert list(ours.index) == fit.terms
        assert ours["log_odds_ratio"].to_numpy() == pytest.approx(fit.coefficients, rel=1e-5)
        assert ours["odds_ratio"].to_numpy() == pytest.approx(np.exp(fit.coefficients), rel=1e-5)
        weights = np.zeros(len(fit.terms))  # M2 vs N over the three methods: M2 + the mean of its interactions
        weights[fit.terms.index("C(model, Treatment)[T.M2]")] = 1
        for method in ("IG", "SG"):
            weights[fit.terms.index(f"C(model, Treatment)[T.M2]:C(method, Treatment)[T.{method}]")] = 1 / 3
        expected = fit.contrast(weights)
        row = contrasts[(contrasts["statement"] == statement) & (contrasts["level_a"] == "N")
                        & (contrasts["level_b"] == "M2")].iloc[0]
        assert [row["log_odds_ratio"], row["se"]] == pytest.approx([expected["estimate"], expected["se"]], rel=1e-5)
        assert [row["or_ci_low"], row["or_ci_high"]] == pytest.approx(
            np.exp([expected["ci_low"], expected["ci_high"]]), rel=1e-5)
        family = contrasts[(contrasts["statement"] == statement) & (contrasts["factor"] == "method")]
        assert family["p_holm"].to_numpy() == pytest.approx(multipletests(family["p"], method="holm")[1])


def test_friedman_per_factor_equals_scipy_on_participant_means(export):
    table = export["analysis"].tables["friedman_factors"]
    raw = export["raw"]
    for factor, column, levels in (("model", "model", MODELS), ("method", "method", METHODS)):
        means = raw.groupby(["participant", column])["trust"].mean().unstack()[list(levels)]
        expected = sp.friedmanchisquare(*(means[level] for level in levels))
        row = table[(table["factor"] == factor) & (table["statement"] == "trust")].iloc[0]
        assert row["chi2"] == pytest.approx(expected.statistic) and row["p"] == pytest.approx(expected.pvalue)
        assert row["n"] == 15 and row["k"] == 3


def test_cell_descriptives_equal_pandas_and_scipy(export):
    table = export["analysis"].tables["cell_descriptives"]
    raw = export["raw"]
    cell = raw[(raw["model"] == "A") & (raw["method"] == "SG")]
    per_person = cell.groupby("participant")["sufficiency"].mean()
    low, high = sp.t.interval(0.95, len(per_person) - 1, loc=per_person.mean(), scale=sp.sem(per_person))
    row = table[(table["model"] == "A") & (table["method"] == "SG") & (table["statement"] == "sufficiency")].iloc[0]
    assert row["n_ratings"] == len(cell) == 60
    assert row["mean"] == pytest.approx(cell["sufficiency"].mean())
    assert row["sd"] == pytest.approx(cell["sufficiency"].std())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


def test_the_choice_model_equals_a_direct_conditional_logit_and_choix(export):
    """Pages of three random cells of nine join every cell in one set: one fit, N×VG the reference."""
    table = export["analysis"].tables["choice_model"]
    choices = export["choices"]
    cells = [f"{m}×{k}" for m in MODELS for k in METHODS]
    shown = np.column_stack([(choices[s] + "×" + choices[f"{s}_method"]).to_numpy()
                             for s in ("left", "middle", "right")])
    chosen = (choices["chosen_model"] + "×" + choices["chosen_method"]).to_numpy()
    endog = (shown == chosen[:, None]).astype(float).ravel()
    exog = np.column_stack([(shown.ravel() == cell).astype(float) for cell in cells[1:]])
    result = ConditionalLogit(endog, exog, groups=np.repeat(np.arange(len(choices)), 3)).fit(**choice_stats.FIT_OPTIONS)
    assert list(table["cell"]) == cells and table["reference"].tolist() == [True] + [False] * 8
    assert set(table["set"]) == {1}
    assert table["coefficient"].iloc[1:].to_numpy() == pytest.approx(result.params, abs=1e-6)
    assert table["worth"].iloc[1:].to_numpy() == pytest.approx(np.exp(result.params), rel=1e-6)
    ci = np.exp(result.conf_int())
    assert table["worth_ci_low"].iloc[1:].to_numpy() == pytest.approx(ci[:, 0], rel=1e-6)
    top1 = [(cells.index(w), tuple(cells.index(c) for c in row if c != w)) for row, w in zip(shown, chosen)]
    params = choix.ilsr_top1(len(cells), top1, alpha=0.0, max_iter=10_000, tol=1e-12)
    assert table["coefficient"].to_numpy() == pytest.approx(params - params[0], abs=1e-6)
    assert table["worth"].iloc[-1] > table["worth"].iloc[0]  # M2×SG was weighted 3.1x N×VG's


def test_analyze_writes_the_two_factor_tables_and_figure(export):
    ratings, choices, participants = export["paths"]
    out = export["folder"] / "report"
    call_command("analyze", "--ratings", str(ratings), "--choices", str(choices), "--participants",
                 str(participants), "--out", str(out), "--no-mixed", stdout=io.StringIO())
    results = json.loads((out / "results.json").read_text())
    assert {"cell_descriptives", "friedman_factors", "choice_model"} <= set(results)
    assert (out / "figures" / "cell_means.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "tables" / "cell_descriptives.csv").exists()


def test_a_one_method_study_has_no_two_factor_tables(tmp_path):
    ratings, choices, participants = simulate_export(tmp_path, 15, images=2, effects={"N": 0, "A": 0.5, "M2": 1})
    analysis = run_analysis(read_export(ratings, choices, participants), Options(mixed_model=False))
    assert not {"cell_descriptives", "friedman_factors", "factorial_mixed", "choice_model"} & set(analysis.tables)
    assert "cell_means" not in analysis.figures
    assert not factorial.has_two_factors(analysis.tables["descriptives"])


@pytest.fixture(scope="module")
def report(export):
    ratings, choices, participants = export["paths"]
    out = export["folder"] / "report-with-mixed"
    call_command("analyze", "--ratings", str(ratings), "--choices", str(choices), "--participants",
                 str(participants), "--out", str(out), stdout=io.StringIO())
    return out


def test_the_html_report_shows_the_two_factor_tables_with_the_numbers_of_results_json(report):
    results = json.loads((report / "results.json").read_text())
    html = (report / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="two-factors">Model and method: two factors</h2>' in html
    tables = html_tables(report / "report.html")

    cells = tables["Descriptives per model x method cell"]
    assert len(cells) == len(results["cell_descriptives"]) == 18
    for r in results["cell_descriptives"]:
        assert [r["statement"].capitalize(), r["model"], r["method"], str(r["n_ratings"]),
                f"{r['mean']:.2f} +- {r['sd']:.2f}", str(r["n_participants"]), f"{r['participant_mean']:.2f}",
                f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"] in cells

    terms = tables["Two-factor mixed model: fixed effects"]
    assert len(terms) == len(results["factorial_mixed"]) == 2 * 9
    for row, r in zip(terms, results["factorial_mixed"]):
        assert row[0] == r["statement"].capitalize()
        assert row[2:] == [f"{r['estimate']:.3f}", f"{r['se']:.3f}", f"{r['z']:.2f}", p_text(r["p"]),
                           f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"]
    assert [row[1] for row in terms[:9]] == ["Intercept (N × VG)", "model A", "model M2", "method IG", "method SG",
                                             "A × IG", "M2 × IG", "A × SG", "M2 × SG"]
    term_labels = dict(zip([r["term"] for r in results["factorial_mixed"][:9]], [row[1] for row in terms[:9]]))
    assert [r["term"] for r in results["factorial_mixed"][:9]][5] == \
        "C(model, Treatment)[T.A]:C(method, Treatment)[T.IG]"

    contrasts = tables["Two-factor mixed model: contrasts within each factor"]
    assert len(contrasts) == len(results["factorial_contrasts"]) == 2 * 2 * 3
    for row, r in zip(contrasts, results["factorial_contrasts"]):
        assert row == [r["statement"].capitalize(), r["factor"], f"{r['level_a']} vs {r['level_b']}",
                       f"{r['estimate']:.3f}", f"{r['se']:.3f}", f"{r['z']:.2f}", f"{r['p']:.2E}",
                       p_text(r["p_holm"]), f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"]

    odds = tables["Two-factor ordinal mixed model: odds ratio of each term"]
    assert len(odds) == len(results["factorial_clmm"]) == 2 * 8  # no intercept: the thresholds take its place
    for row, r in zip(odds, results["factorial_clmm"]):
        assert row == [r["statement"].capitalize(), term_labels[r["term"]], f"{r['odds_ratio']:.2f}",
                       f"[{r['or_ci_low']:.2f}, {r['or_ci_high']:.2f}]", f"{r['log_odds_ratio']:.3f}",
                       f"{r['se']:.3f}", p_text(r["p"])]
    per_factor = tables["Two-factor ordinal mixed model: odds ratio of a higher answer per model and per method"]
    assert len(per_factor) == len(results["factorial_clmm_contrasts"]) == 2 * 2 * 3
    for row, r in zip(per_factor, results["factorial_clmm_contrasts"]):
        assert row == [r["statement"].capitalize(), r["factor"], f"{r['level_a']} vs {r['level_b']}",
                       f"{r['odds_ratio']:.2f}", f"[{r['or_ci_low']:.2f}, {r['or_ci_high']:.2f}]",
                       f"{r['log_odds_ratio']:.3f}", f"{r['se']:.3f}", f"{r['p']:.2E}", p_text(r["p_holm"])]

    friedman = tables["Friedman test per factor (participant level)"]
    assert len(friedman) == len(results["friedman_factors"]) == 4
    for r in results["friedman_factors"]:
        assert [r["statement"].capitalize(), r["factor"], str(r["n"]), str(r["k"]),
                f"chi2({r['df']}) = {r['chi2']:.2f}", p_text(r["p"])] in friedman

    worths = tables["Side-by-side choices: worth of each cell (conditional logit)"]
    assert len(worths) == len(results["choice_model"]) == 9
    first = results["choice_model"][0]
    assert worths[0] == ["N×VG", str(first["shown"]), str(first["chosen"]), "1.000", "reference", "0.000", "n/a",
                         "n/a"]
    for row, r in zip(worths[1:], results["choice_model"][1:]):
        assert row == [r["cell"], str(r["shown"]), str(r["chosen"]), f"{r['worth']:.3f}",
                       f"[{r['worth_ci_low']:.3f}, {r['worth_ci_high']:.3f}]", f"{r['coefficient']:.3f}",
                       f"{r['se']:.3f}", p_text(r["p"])]

    figure = base64.b64encode((report / "figures" / "cell_means.png").read_bytes()).decode("ascii")
    assert f'<img src="data:image/png;base64,{figure}" alt="Mean rating per model x method cell' in html
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert "## Model and method: two factors" in markdown and "### Friedman test per factor" in markdown


def test_a_one_method_report_is_the_one_factor_report_without_a_byte_more(tmp_path):
    """No two-factor section, and the template's two-factor block renders to nothing at all: the one-factor page is
    what the template without that block makes of it (the report at main, compared byte for byte when the block
    came in)."""
    ratings, choices, participants = simulate_export(tmp_path, 12, images=3, effects={"N": 0, "A": 0.4, "M2": 0.8})
    call_command("analyze", "--ratings", str(ratings), "--choices", str(choices), "--participants",
                 str(participants), "--out", str(tmp_path / "report"), "--no-mixed", stdout=io.StringIO())
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "two-factors" not in html and "Model and method" not in html and "conditional logit" not in html
    assert "## Model and method" not in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")

    source = (Path(settings.BASE_DIR) / "analysis" / "templates" / "analysis" / "report.html").read_text(
        encoding="utf-8")
    block = re.search(r"\{% if factor_tables %\}.*?\{% endif %\}", source, re.S)
    assert block and "two-factors" in block.group()
    analysis = run_analysis(read_export(ratings, choices, participants), Options(mixed_model=False))
    context = html_context(analysis)
    assert context["factor_tables"] == []
    engine = engines["django"]
    assert engine.from_string(source).render(context) == \
        engine.from_string(source.replace(block.group(), "")).render(context)
    assert engine.from_string(source).render(context) == render_to_string("analysis/report.html", context)
