"""analysis/tasks.py: every number of the task tables against a direct call of scipy or statsmodels on the raw
tasks.csv, and a known effect found (and no effect not found) in 60 simulated participants."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from analysis import clmm, tasks
from analysis.loading import read_export
from analysis.simulation import TaskBlock, simulate_task_export, simulate_tasks, task_arms
from studyapp.schema import TASKS_COLUMNS
from tests.analysis.r_reference import generate

BLOCKS = (TaskBlock("distinction", 8, ask_true_class=True), TaskBlock("simulation", 12, learn_pages=4),
          TaskBlock("verification", 16, options=2))
ACCURACY = {"N×none": 0.5, "N×VG": 0.75, "A×none": 0.5, "A×VG": 0.6, "A×IG": 0.7}
SEED = 3


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """40 simulated participants in five conditions of two models, three task blocks, with stimuli.csv; the
    report's tables of it, and the raw tasks.csv as a plain frame."""
    paths = simulate_task_export(tmp_path_factory.mktemp("tasks"), 40, ACCURACY, BLOCKS, seed=1, error_effect=-1.0)
    data = read_export(None, None, paths["participants"], paths["stimuli"], paths["tasks"])
    raw = pd.read_csv(paths["tasks"], keep_default_na=False, na_values={"confidence": [""]},  # learning guesses
                      dtype={"phase": str, "method": str})
    return {"tables": tasks.task_tables(data.tasks, data.stimuli, seed=SEED), "raw": raw,
            "stimuli": pd.read_csv(paths["stimuli"])}


def unit_of(raw, row):
    keys = ["block", "phase", "question", "model", "condition"]
    return raw[np.logical_and.reduce([raw[k] == row[k] for k in keys])]


def person_accuracy(answers):
    return answers.groupby("participant")["correct"].mean().to_numpy()


def test_accuracy_equals_statsmodels_wilson_and_scipy_bootstrap(study):
    table, raw = study["tables"]["task_accuracy"], study["raw"]
    assert len(table) == raw.groupby(["block", "phase", "question", "model", "condition"]).ngroups == 5 * 5
    for i, row in table.iterrows():
        answers = unit_of(raw, row)
        correct = answers["correct"].sum()
        assert (row["answers"], row["correct"], row["participants"]) == (len(answers), correct,
                                                                         answers["participant"].nunique())
        assert row["accuracy"] == correct / len(answers)
        assert (row["wilson_low"], row["wilson_high"]) == pytest.approx(
            proportion_confint(correct, len(answers), alpha=0.05, method="wilson"), rel=1e-12)
        people = person_accuracy(answers)
        assert row["participant_mean"] == pytest.approx(people.mean(), rel=1e-12)
        assert row["chance"] == pytest.approx((1 / answers["options"].str.count(r"\|").add(1)).mean())
        if i < 3:  # the bootstrap, recomputed from its recorded seed, stream and row
            assert (row["seed"], row["stream"], row["stream_row"]) == (SEED, tasks.STREAMS["accuracy"], i)
            expected = sp.bootstrap((people,), np.mean, n_resamples=9999, method="percentile",
                                    random_state=np.random.default_rng([SEED, row["stream"], i])).confidence_interval
            assert (row["bootstrap_low"], row["bootstrap_high"]) == pytest.approx(tuple(expected), rel=1e-12)
            assert row["bootstrap_low"] < row["participant_mean"] < row["bootstrap_high"]
    assert set(table["chance"].round(6)) == {0.25, 0.5}


def test_utility_equals_scipy_mann_whitney_welch_and_bootstrap_against_the_models_own_control(study):
    table, raw = study["tables"]["task_utility"], study["raw"]
    # Three explanation conditions, each against its own model's control, in the four tested units.
    assert sorted(set(zip(table["model"], table["condition"]))) == [("A", "A×IG"), ("A", "A×VG"), ("N", "N×VG")]
    assert len(table) == 3 * 4 and "learn" not in set(table["phase"])
    for i, row in table.iterrows():
        unit = raw[(raw["block"] == row["block"]) & (raw["phase"] == row["phase"])
                   & (raw["question"] == row["question"]) & (raw["model"] == row["model"])]
        x = person_accuracy(unit[unit["condition"] == row["condition"]])
        y = person_accuracy(unit[unit["condition"] == "none"])
        assert (row["difference"], row["ratio"]) == pytest.approx((x.mean() - y.mean(), x.mean() / y.mean()),
                                                                  rel=1e-12)
        u = sp.mannwhitneyu(x, y, alternative="two-sided")
        welch = sp.ttest_ind(x, y, equal_var=False)
        assert (row["u"], row["p_mannwhitney"]) == pytest.approx((u.statistic, u.pvalue), rel=1e-12)
        assert row["rank_biserial"] == pytest.approx(2 * u.statistic / (len(x) * len(y)) - 1)
        assert (row["t"], row["df"], row["p_welch"]) == pytest.approx((welch.statistic, welch.df, welch.pvalue),
                                                                      rel=1e-12)
        interval = sp.bootstrap((x, y), lambda a, b, axis: a.mean(axis) / b.mean(axis), n_resamples=9999,
                                method="percentile",
                                random_state=np.random.default_rng([SEED, tasks.STREAMS["utility_ratio"], i]))
        assert (row["ratio_low"], row["ratio_high"]) == pytest.approx(tuple(interval.confidence_interval), rel=1e-12)
    for _, family in table.groupby(["block", "phase", "question"]):
        assert family["p_welch_holm"].to_numpy() == pytest.approx(
            multipletests(family["p_welch"], method="holm")[1], rel=1e-12)


def test_verification_reliance_and_d_prime_with_the_log_linear_correction(study):
    people, raw = study["tables"]["task_verification_participants"], study["raw"]
    verification = raw[raw["task"] == "verification"]
    assert len(people) == verification["participant"].nunique() == 40
    for _, row in people.iterrows():
        mine = verification[verification["participant"] == row["participant"]]
        right, wrong = mine[mine["model_correct"] == 1], mine[mine["model_correct"] == 0]
        hits, false_alarms = (right["answer"] == "accept").sum(), (wrong["answer"] == "accept").sum()
        hit_rate = (hits + 0.5) / (len(right) + 1)  # Hautus (1995)
        false_alarm_rate = (false_alarms + 0.5) / (len(wrong) + 1)
        assert row["d_prime"] == pytest.approx(sp.norm.ppf(hit_rate) - sp.norm.ppf(false_alarm_rate), rel=1e-12)
        assert row["criterion"] == pytest.approx(-(sp.norm.ppf(hit_rate) + sp.norm.ppf(false_alarm_rate)) / 2,
                                                 rel=1e-12, abs=1e-15)
        assert row["over_reliance"] == false_alarms / len(wrong)
        assert row["under_reliance"] == pytest.approx((right["answer"] == "reject").mean())
        assert row["team_accuracy"] == mine["correct"].mean() and row["ai_accuracy"] == mine["model_correct"].mean()
    summary = study["tables"]["task_verification"]
    for _, row in summary.iterrows():
        group = people[(people["model"] == row["model"]) & (people["condition"] == row["condition"])]
        assert row["d_prime"] == pytest.approx(group["d_prime"].mean(), rel=1e-12)
        gaps = group["team_minus_ai"].to_numpy()
        assert row["p_team_vs_ai"] == pytest.approx(sp.wilcoxon(gaps, zero_method="pratt").pvalue, rel=1e-10)
        pooled = verification[(verification["model"] == row["model"])
                              & (verification["condition"] == row["condition"])]
        wrong = pooled[pooled["model_correct"] == 0]
        assert row["over_reliance_pooled"] == pytest.approx((wrong["answer"] == "accept").mean(), rel=1e-12)


def test_accuracy_where_the_model_is_right_and_wrong_equals_scipy(study):
    table, raw = study["tables"]["task_by_model_correct"], study["raw"]
    for _, row in table.iterrows():
        answers = unit_of(raw, row)
        for name, flag in (("right", 1), ("wrong", 0)):
            part = answers[answers["model_correct"] == flag]
            assert row[f"answers_model_{name}"] == len(part)
            assert row[f"accuracy_model_{name}"] == pytest.approx(part["correct"].mean(), rel=1e-12)
            assert (row[f"model_{name}_low"], row[f"model_{name}_high"]) == pytest.approx(
                proportion_confint(part["correct"].sum(), len(part), method="wilson"), rel=1e-12)
        wide = answers.pivot_table(index="participant", columns="model_correct", values="correct").dropna()
        gaps = (wide[1] - wide[0]).to_numpy()
        assert row["participants_both"] == len(gaps)
        assert row["participant_difference"] == pytest.approx(gaps.mean(), rel=1e-12)
        if len(gaps) > 13 or (len(np.unique(np.abs(gaps))) == len(gaps) and (gaps != 0).all()):
            assert row["p_wilcoxon"] == pytest.approx(sp.wilcoxon(gaps, zero_method="pratt").pvalue, rel=1e-10)


def direct_glmm(data, reference):
    """glmer(correct ~ condition + (1|participant) + (1|image), binomial) by analysis.clmm, `reference` first."""
    others = sorted(set(data["condition"]) - {reference})
    frame = data.assign(condition=pd.Categorical(data["condition"], categories=[reference, *others]))
    return clmm.fit_binary_mixed(frame, "correct ~ condition")


def check_against(row, fit, condition):
    """A condition_model row against the direct fit's coefficient of `condition`."""
    effects = fit.fixed_effects().set_index("term").loc[f"condition[T.{condition}]"]
    assert fit.converged and row["converged"] and row["fit_message"] == fit.message
    assert (row["log_odds_ratio"], row["se"], row["z"], row["p"]) == pytest.approx(
        (effects["estimate"], effects["se"], effects["z"], effects["p"]), rel=1e-9)
    assert (row["odds_ratio"], row["or_ci_low"], row["or_ci_high"]) == pytest.approx(
        tuple(np.exp([effects["estimate"], effects["ci_low"], effects["ci_high"]])), rel=1e-9)
    assert (row["participant_variance"], row["image_variance"], row["log_likelihood"]) == pytest.approx(
        (fit.variances["participant"], fit.variances["image"], fit.log_likelihood), rel=1e-9)
    assert (row["n_answers"], row["n_participants"], row["n_images"]) == (
        fit.n_observations, fit.n_participants, fit.n_images)


def test_condition_model_is_the_logistic_glmm_of_each_unit_and_model_against_its_control(study):
    table, raw = study["tables"]["task_condition_model"], study["raw"]
    assert set(table["fit"]) == {tasks.GLMM_FIT} and table["converged"].all()
    assert sorted(set(zip(table["model"], table["condition"]))) == [("A", "A×IG"), ("A", "A×VG"), ("N", "N×VG")]
    assert "learn" not in set(table["phase"]) and len(table) == 3 * 4
    for (block, phase, question, model), rows in table.groupby(["block", "phase", "question", "model"]):
        data = raw[(raw["block"] == block) & (raw["phase"] == phase) & (raw["question"] == question)
                   & (raw["model"] == model)]
        fit = direct_glmm(data, "none")
        for _, row in rows.iterrows():
            assert row["reference"] == "none"
            check_against(row, fit, row["condition"])


def test_condition_model_on_the_r_reference_task_equals_the_fit_that_equals_glmer():
    """tests/analysis/r_reference/tasks.csv, the right/wrong task that test_clmm.py fits with R's glmer: the
    report's condition model of it (its conditions as one model's: none, N×VG, N×IG) is the direct fit, which
    equals glmer's to the issue's tolerances (test_clmm.py, with R)."""
    reference = pd.read_csv(generate.FOLDER / "tasks.csv")
    named = {"none": "none", "N_VG": "N×VG", "M2_VG": "N×IG"}
    answers = reference.assign(
        condition=reference["condition"].map(named), model="N", method=reference["condition"].map(
            {"none": "", "N_VG": "VG", "M2_VG": "IG"}), block=1, task="verification", phase="", question="accept")
    table = tasks.condition_model(answers)
    assert list(table["condition"]) == ["N×VG", "N×IG"] and set(table["reference"]) == {"none"}
    fit = clmm.fit_binary_mixed(reference.assign(condition=pd.Categorical(
        reference["condition"], categories=list(generate.CONDITIONS))), "correct ~ condition")
    for (_, row), condition in zip(table.iterrows(), ("N_VG", "M2_VG")):
        check_against(row, fit, condition)


def test_a_condition_model_that_does_not_converge_says_so_and_holds_no_numbers(study):
    raw = study["raw"]
    unit = raw[(raw["block"] == 3) & (raw["model"] == "N")].assign(n_options=2)
    unit.loc[unit["condition"] == "N×VG", "correct"] = 1  # every answer right: the odds ratio is infinite
    (row,) = tasks.condition_model(unit).to_dict("records")
    assert not row["converged"] and row["fit_message"].startswith("did not converge: ")
    assert "condition[T.N×VG]" in row["fit_message"]
    numbers = ("log_odds_ratio", "se", "z", "p", "odds_ratio", "or_ci_low", "or_ci_high", "participant_variance",
               "image_variance", "log_likelihood")
    assert all(np.isnan(row[name]) for name in numbers)


def test_calibration_auc_equals_pair_counting_and_sklearn(study):
    table, raw = study["tables"]["task_calibration"], study["raw"]
    for _, row in table.iterrows():
        answers = unit_of(raw, row)
        right = answers.loc[answers["correct"] == 1, "confidence"].to_numpy()
        wrong = answers.loc[answers["correct"] == 0, "confidence"].to_numpy()
        pairs = np.subtract.outer(right, wrong)
        assert row["auc"] == pytest.approx(((pairs > 0).sum() + 0.5 * (pairs == 0).sum()) / pairs.size, rel=1e-12)
        assert row["auc"] == pytest.approx(roc_auc_score(answers["correct"], answers["confidence"]), rel=1e-12)
        assert (row["confidence_right"], row["confidence_wrong"]) == pytest.approx((right.mean(), wrong.mean()))
        own = [roc_auc_score(person["correct"], person["confidence"])
               for _, person in answers.groupby("participant") if person["correct"].nunique() == 2]
        assert (row["participants_with_both"], row["participant_auc"]) == (len(own), pytest.approx(np.mean(own)))
    assert (table["auc"] > 0.5).all()  # the simulation's confidence follows correctness


def test_metric_join_equals_scipy_spearman_on_each_maps_accuracy_and_gain(study):
    shown, correlations = study["tables"]["task_stimuli"], study["tables"]["task_metric_correlations"]
    raw = study["raw"]
    tested = raw[raw["phase"] != "learn"]
    maps = tested[tested["condition"] != "none"].groupby(
        ["block", "phase", "question", "image", "model", "method"])["correct"].mean()
    controls = tested[tested["condition"] == "none"].groupby(["block", "phase", "question", "image", "model"])[
        "correct"].mean()
    assert len(shown) == len(maps)
    for _, row in shown.sample(20, random_state=0).iterrows():
        key = (row["block"], row["phase"], row["question"], row["image"], row["model"])
        assert row["accuracy"] == pytest.approx(maps[key + (row["method"],)])
        assert row["gain"] == pytest.approx(maps[key + (row["method"],)] - controls.get(key, np.nan), nan_ok=True)
        metrics = study["stimuli"].set_index(["image", "model", "method"]).loc[(row["image"], row["model"],
                                                                                row["method"])]
        assert row["gini"] == metrics["gini"]
    for _, row in correlations.iterrows():
        unit = shown[(shown["block"] == row["block"]) & (shown["question"] == row["question"])
                     & (shown["phase"] == row["phase"])][[row["metric"], row["outcome"]]].dropna()
        expected = sp.spearmanr(unit[row["metric"]], unit[row["outcome"]])
        assert (row["n"], row["rho"], row["p"]) == (len(unit), pytest.approx(expected.statistic, rel=1e-12),
                                                    pytest.approx(expected.pvalue, rel=1e-12))
    # The simulated Gini tracks each image's ease, so it predicts the maps' accuracy in the largest unit.
    gini = correlations[(correlations["metric"] == "gini") & (correlations["outcome"] == "accuracy")
                        & (correlations["task"] == "verification")]
    assert (gini["rho"] > 0).all()


def simulated(participants, accuracy, seed, **spreads):
    frame, _ = simulate_tasks(participants, accuracy, (TaskBlock("simulation", 20),), seed=seed, **spreads)
    return frame.assign(n_options=frame["options"].str.count(r"\|") + 1)


def analysed(participants, accuracy, seed, **spreads):
    return tasks.task_tables(simulated(participants, accuracy, seed, **spreads), seed=seed)


def test_sixty_participants_a_known_effect_is_found_and_no_effect_is_not():
    """60 participants, 30 per condition, 20 test pages: a map that lifts accuracy from 0.55 to 0.75 is found by
    every test; with no effect (0.6 and 0.6) none fires at alpha 0.05 (seeded)."""
    alpha = 0.05
    found = analysed(60, {"none": 0.55, "N×VG": 0.75}, seed=11)
    null = analysed(60, {"none": 0.6, "N×VG": 0.6}, seed=11)
    effect, nothing = found["task_utility"].iloc[0], null["task_utility"].iloc[0]
    assert (effect["n_condition"], effect["n_control"]) == (30, 30)
    assert effect["p_mannwhitney"] < alpha and effect["p_welch"] < alpha and effect["difference"] > 0.1
    assert effect["ratio_low"] > 1 and effect["difference_low"] > 0
    assert found["task_condition_model"].iloc[0]["p"] < alpha
    assert nothing["p_mannwhitney"] > alpha and nothing["p_welch"] > alpha
    assert nothing["difference_low"] < 0 < nothing["difference_high"]
    assert null["task_condition_model"].iloc[0]["p"] > alpha


def test_the_simulated_false_positive_rate_is_near_alpha():
    """Over 200 seeded null studies of 20 participants, each test fires at about its level (binomial 99%
    bounds around 0.05)."""
    fired = []
    for seed in range(200):
        frame = simulated(20, {"none": 0.6, "N×VG": 0.6}, seed=seed, image_sd=0.0)
        row = tasks.utility_table(tasks.participant_accuracy(frame), resamples=False).iloc[0]
        fired.append((row["p_mannwhitney"] < 0.05, row["p_welch"] < 0.05))
    low, high = sp.binom.ppf([0.005, 0.995], 200, 0.05) / 200
    for share in np.mean(fired, axis=0):
        assert low <= share <= high


def test_hive_a_model_error_effect_is_found_where_it_is_and_not_where_it_is_not():
    frame = {}
    for name, error_effect in (("effect", -1.5), ("null", 0.0)):
        tasks_frame, _ = simulate_tasks(60, {"none": 0.7, "N×VG": 0.7}, (TaskBlock("distinction", 20),), seed=5,
                                        error_effect=error_effect)
        tasks_frame["n_options"] = 4
        tasks_frame["phase"] = ""
        frame[name] = tasks.by_model_correct(tasks_frame)
    assert (frame["effect"]["p_wilcoxon"] < 0.05).all() and (frame["effect"]["participant_difference"] > 0).all()
    assert (frame["null"]["p_wilcoxon"] > 0.05).all()


def test_simulated_rows_follow_the_contract():
    frame, _ = simulate_tasks(7, {"none": 0.5, "N×VG": 0.8, "N×IG": 0.8}, BLOCKS, seed=2)
    assert list(frame.columns) == list(TASKS_COLUMNS)
    options = frame["options"].str.split("|")
    assert all(a in o and c in o for a, c, o in zip(frame["answer"], frame["correct_answer"], options))
    assert (frame["correct"] == (frame["answer"] == frame["correct_answer"])).all()
    assert (frame["model_correct"] == (frame["model_prediction"] == frame["class_name"])).all()
    # Round-robin assignment, and no image twice for a participant across blocks and phases (a page's two
    # distinction questions share it).
    assert frame.groupby("participant")["condition"].first().tolist() == ["none", "N×VG", "N×IG"] * 2 + ["none"]
    pages = frame.drop_duplicates(["participant", "block", "trial"])
    assert not pages.duplicated(["participant", "image"]).any()
    both = frame[frame["task"] == "distinction"].groupby(["participant", "trial"])["options"].nunique()
    assert (both == 1).all()  # both questions of a page show its options in one order


@pytest.mark.parametrize("names, message", [
    (["none", "N×VG", "A×VG"], "a bare none belongs to the model of the explanation conditions, but they name 2"),
    (["N-VG"], "'N-VG' is not a condition"),
    (["N×VG", "N:VG"], "condition(s) N×VG of N given twice"),
])
def test_condition_names_are_checked(names, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        task_arms(names)


def test_arms_read_as_the_contract_names_them():
    arms = task_arms(["none", "N×VG", "N:IG"])
    assert [(a.condition, a.model, a.method) for a in arms] == [("none", "N", ""), ("N×VG", "N", "VG"),
                                                                ("N×IG", "N", "IG")]
    assert [tuple(vars(a).values()) for a in task_arms(["A×none", "A×VG"])] == [("none", "A", ""),
                                                                                  ("A×VG", "A", "VG")]
    assert list(itertools.chain(*tasks.signal_detection(np.array([0.0]), np.array([10.0]), np.array([10.0]),
                                                        np.array([10.0])))) == pytest.approx(
        [0.5 / 11, 10.5 / 11, sp.norm.ppf(0.5 / 11) - sp.norm.ppf(10.5 / 11), 0.0])
