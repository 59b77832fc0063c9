"""Tasks with a right answer (issue 29): accuracy, utility against the no-map control, reliance and d', HIVE's
split by the model's correctness, the condition model (the logistic GLMM of analysis/clmm.py), calibration and
the metrics of the maps that helped.

A *unit* is one question of one block in one phase (UNIT): answers of different units are never pooled. An *arm*
is a condition of a model (ARM): a `none` participant judges the answers of one model, so each model's control is
its own arm and an explanation condition is compared with the control of its own model (utility as Colin, Fel et
al. 2022 define it needs that model's errors). Each participant is one unit of the between-participants tests.

Every test statistic, p-value and interval comes from scipy.stats, statsmodels or analysis.clmm (equal to R's
glmer, tested against R); this module arranges the data.
Bootstrap intervals resample participants within each arm (scipy.stats.bootstrap, percentile method), each
interval seeded by numpy default_rng([seed, table stream, row]) so that any one of them can be recomputed alone.
"""

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis import clmm
from analysis.explanations import spearman
from analysis.loading import order_methods, order_models
from analysis.ordinal import fit_columns, odds_ratio_columns
from analysis.stats import DEFAULT_ZERO_METHOD, holm, signed_rank_test
from studyapp.schema import (
    LEARN, METRIC_NAMES, NO_MAP_CONDITION, PHASES, QUESTIONS, VERIFICATION, VERIFICATION_OPTIONS,
)

UNIT = ["block", "task", "phase", "question"]
ARM = ["model", "condition"]
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999  # scipy.stats.bootstrap's default
# Each table's bootstrap stream: the seed of row r of table t is default_rng([seed, STREAMS[t], r]).
STREAMS = {"accuracy": 1, "utility_difference": 2, "utility_ratio": 3, "verification": 4}
# The log-linear correction of hit and false-alarm rates (Hautus 1995): add 0.5 to each count, 1 to each total.
LOG_LINEAR_ADD = 0.5
# The condition model (issue 28 and 29): the logistic GLMM, fitted by analysis/clmm.py as glmer fits it.
CONDITION_FORMULA = "correct ~ condition"  # + (1 | participant) + (1 | image): clmm.GROUPS, always
GLMM_NAME = "logistic GLMM (Laplace, as glmer nAGQ = 1)"
GLMM_FIT = ("logistic GLMM correct ~ condition + (1 | participant) + (1 | image), Laplace approximation as "
            "lme4::glmer(nAGQ = 1) fits it (analysis/clmm.py)")


def with_chance(answers):
    """The answers with `chance`: 1 / the options shown, the accuracy of guessing."""
    return answers.assign(chance=1.0 / answers["n_options"])


def arm_order(frame):
    """The arms present, in report order: models as order_models, each model's control first, then its explanation
    conditions by method (order_methods)."""
    models = order_models(frame["model"].unique())
    arms = []
    for model in models:
        conditions = frame.loc[frame["model"] == model, ["condition", "method"]].drop_duplicates()
        methods = order_methods(conditions.loc[conditions["condition"] != NO_MAP_CONDITION, "method"])
        named = dict(zip(conditions["method"], conditions["condition"]))
        arms += [(model, NO_MAP_CONDITION)] * (NO_MAP_CONDITION in set(conditions["condition"]))
        arms += [(model, named[method]) for method in methods]
    return arms


def in_report_order(table, arms):
    """Rows sorted by block, phase (learn before test), question (schema order), then arm (arm_order)."""
    if not len(table):
        return table.reset_index(drop=True)
    key = pd.DataFrame({
        "block": table["block"],
        "phase": table["phase"].map({"": 0, **{p: i + 1 for i, p in enumerate(PHASES)}}),
        "question": table["question"].map(QUESTIONS.index),
        "arm": [arms.index(arm) for arm in zip(table["model"], table["condition"])],
    }, index=table.index)
    return table.loc[key.sort_values(list(key.columns), kind="stable").index].reset_index(drop=True)


def tested(answers):
    """The answers the between-condition analyses use: all but a simulation block's learning phase (its guesses
    come with feedback; the test phase is the measure)."""
    return answers[answers["phase"] != LEARN]


def participant_accuracy(answers):
    """One row per unit, arm and participant: answers, right answers, accuracy, chance and mean confidence.

    Counted with numpy over one code per group (plan_study runs this on every simulated study)."""
    keys = UNIT + ARM + ["participant"]
    group = pd.factorize(pd.Series(list(zip(*(answers[k].to_numpy() for k in keys))), dtype=object))[0]
    first = np.unique(group, return_index=True)[1]
    count = np.bincount(group)
    correct = np.bincount(group, weights=answers["correct"].to_numpy(np.float64)).round().astype(np.int64)
    table = answers.iloc[first][keys].reset_index(drop=True).assign(
        answers=count, correct=correct,
        chance=np.bincount(group, weights=1.0 / answers["n_options"].to_numpy(np.float64)) / count,
        mean_confidence=np.bincount(group, weights=answers["confidence"].to_numpy(np.float64)) / count,
        accuracy=correct / count)
    return in_report_order(table, arm_order(answers))


def bootstrap_interval(samples, statistic, rng):
    """The percentile bootstrap interval of statistic(*samples) (scipy.stats.bootstrap, each sample resampled on
    its own); NaN where a sample has fewer than two values or the statistic is undefined."""
    if any(len(sample) < 2 for sample in samples):
        return np.nan, np.nan
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(samples, statistic, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=CONFIDENCE,
                                 method="percentile", vectorized=True, random_state=rng)
    low, high = result.confidence_interval
    return float(low), float(high)


def stream(seed, table, row):
    return np.random.default_rng([seed, STREAMS[table], row])


def mean(values, axis=-1):
    return np.mean(values, axis=axis)


def difference(first, second, axis=-1):
    return np.mean(first, axis=axis) - np.mean(second, axis=axis)


def ratio(first, second, axis=-1):
    return np.mean(first, axis=axis) / np.mean(second, axis=axis)


def wilson(correct, answers):
    """The Wilson score interval of a proportion (statsmodels proportion_confint, method='wilson')."""
    low, high = proportion_confint(correct, answers, alpha=1 - CONFIDENCE, method="wilson")
    return float(low), float(high)


def accuracy_table(per_participant, seed=0):
    """Per unit and arm: participants, answers, the pooled accuracy (right answers / answers) with its Wilson
    interval, the mean of the participants' accuracies with its participant-bootstrap interval, and chance."""
    rows = []
    for number, (key, group) in enumerate(per_participant.groupby(UNIT + ARM, sort=False)):
        correct, answers = int(group["correct"].sum()), int(group["answers"].sum())
        accuracies = group["accuracy"].to_numpy(np.float64)
        rows.append(dict(zip(UNIT + ARM, key)) | {
            "participants": len(group), "answers": answers, "correct": correct, "accuracy": correct / answers,
            **dict(zip(("wilson_low", "wilson_high"), wilson(correct, answers))),
            "participant_mean": float(accuracies.mean()), "participant_sd": float(np.std(accuracies, ddof=1))
            if len(accuracies) > 1 else np.nan,
            **dict(zip(("bootstrap_low", "bootstrap_high"),
                       bootstrap_interval((accuracies,), mean, stream(seed, "accuracy", number)))),
            "chance": float((group["chance"] * group["answers"]).sum() / answers),
            "seed": seed, "stream": STREAMS["accuracy"], "stream_row": number,
        })
    return pd.DataFrame(rows)


def control_pairs(per_participant):
    """(unit key, model, condition, the condition's accuracies, the control's accuracies) for every explanation
    condition whose model has a control in that unit, learning phases left out."""
    groups = {}  # (unit..., model, condition) -> accuracies, in the table's order (plain Python: it is small)
    table = tested(per_participant)
    for *key, accuracy in zip(*(table[c].to_numpy() for c in UNIT + ARM), table["accuracy"].to_numpy()):
        groups.setdefault(tuple(key), []).append(accuracy)
    pairs = []
    for (*unit, model, condition), accuracies in groups.items():
        control = groups.get((*unit, model, NO_MAP_CONDITION))
        if condition != NO_MAP_CONDITION and control:
            pairs.append((tuple(unit), model, condition, np.array(accuracies), np.array(control)))
    return pairs


def between_tests(first, second):
    """Mann-Whitney U (two-sided, scipy's method 'auto') with the rank-biserial r = 2U / (n1 n2) - 1 (positive
    when `first` is higher), and Welch's t (scipy ttest_ind, equal_var=False), of two groups of participants."""
    row = {"u": np.nan, "p_mannwhitney": np.nan, "rank_biserial": np.nan, "t": np.nan, "df": np.nan,
           "p_welch": np.nan}
    if len(first) < 2 or len(second) < 2:
        return row
    u = stats.mannwhitneyu(first, second, alternative="two-sided")
    row.update(u=float(u.statistic), p_mannwhitney=float(u.pvalue),
               rank_biserial=float(2 * u.statistic / (len(first) * len(second)) - 1))
    if np.ptp(np.concatenate([first, second])) > 0:
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            # One group's accuracies may all be equal (its variance exactly 0); scipy then warns of precision loss.
            warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
            t = stats.ttest_ind(first, second, equal_var=False)
        row.update(t=float(t.statistic), df=float(t.df), p_welch=float(t.pvalue))
    return row


def utility_table(per_participant, seed=0, resamples=True):
    """Each explanation condition against its model's no-map control, per unit (Colin, Fel et al. 2022): the mean
    accuracies, their difference and ratio (the utility) with participant-bootstrap intervals (unless
    `resamples` is False: plan_study's simulations), Mann-Whitney U and Welch's t between the two groups of
    participants, each with Holm-adjusted p over the unit's comparisons."""
    rows = []
    for number, (key, model, condition, accuracies, control) in enumerate(control_pairs(per_participant)):
        row = dict(zip(UNIT, key)) | {
            "model": model, "condition": condition, "control": NO_MAP_CONDITION, "n_condition": len(accuracies),
            "n_control": len(control), "accuracy_condition": float(accuracies.mean()),
            "accuracy_control": float(control.mean()),
            "difference": float(accuracies.mean() - control.mean()),
            "ratio": float(accuracies.mean() / control.mean()) if control.mean() else np.nan}
        for name, statistic in (("difference", difference), ("ratio", ratio)):
            low, high = (bootstrap_interval((accuracies, control), statistic, stream(seed, f"utility_{name}", number))
                         if resamples else (np.nan, np.nan))
            row |= {f"{name}_low": low, f"{name}_high": high}
        rows.append(row | between_tests(accuracies, control) | {"seed": seed, "stream_row": number})
    table = pd.DataFrame(rows)
    if not len(table):
        return table
    for test in ("mannwhitney", "welch"):
        table[f"p_{test}_holm"] = np.nan
        for _, family in table.groupby(UNIT, sort=False):
            table.loc[family.index, f"p_{test}_holm"] = holm(family[f"p_{test}"])
    return table


def signal_detection(hits, signals, false_alarms, noises):
    """d' and criterion c from counts, with the log-linear correction (Hautus 1995): H = (hits + 0.5) /
    (signals + 1), F = (false alarms + 0.5) / (noises + 1); d' = z(H) - z(F), c = -(z(H) + z(F)) / 2."""
    hit_rate = (hits + LOG_LINEAR_ADD) / (signals + 2 * LOG_LINEAR_ADD)
    false_alarm_rate = (false_alarms + LOG_LINEAR_ADD) / (noises + 2 * LOG_LINEAR_ADD)
    z_hit, z_false_alarm = stats.norm.ppf(hit_rate), stats.norm.ppf(false_alarm_rate)
    return hit_rate, false_alarm_rate, z_hit - z_false_alarm, -(z_hit + z_false_alarm) / 2


def verification_participants(answers):
    """Per verification unit, arm and participant: the team's accuracy (the participant deciding with the AI), the
    AI's alone (the model's accuracy on the images shown), their difference, over-reliance (the share of wrong
    labels accepted), under-reliance (the share of right labels rejected), and d' and criterion c with the
    log-linear correction: a signal is a right label, a hit its acceptance, a false alarm a wrong label
    accepted."""
    answers = answers[answers["task"] == VERIFICATION]
    accepted = answers["answer"] == VERIFICATION_OPTIONS[0]
    frame = answers.assign(accepted=accepted, hit=accepted & (answers["model_correct"] == 1),
                           false_alarm=accepted & (answers["model_correct"] == 0))
    table = (frame.groupby(UNIT + ARM + ["participant"], sort=False)
             .agg(answers=("correct", "size"), team_accuracy=("correct", "mean"), ai_accuracy=("model_correct", "mean"),
                  right_labels=("model_correct", "sum"), hits=("hit", "sum"), false_alarms=("false_alarm", "sum"))
             .reset_index())
    table["wrong_labels"] = table["answers"] - table["right_labels"]
    table["team_minus_ai"] = table["team_accuracy"] - table["ai_accuracy"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["over_reliance"] = table["false_alarms"] / table["wrong_labels"].replace(0, np.nan)
        table["under_reliance"] = 1 - table["hits"] / table["right_labels"].replace(0, np.nan)
    counts = [table[c].to_numpy(np.float64) for c in ("hits", "right_labels", "false_alarms", "wrong_labels")]
    (table["hit_rate_corrected"], table["false_alarm_rate_corrected"], table["d_prime"],
     table["criterion"]) = signal_detection(*counts)
    return in_report_order(table, arm_order(answers)) if len(table) else table


VERIFICATION_MEASURES = ("team_accuracy", "team_minus_ai", "over_reliance", "under_reliance", "d_prime", "criterion")


def verification_table(per_participant, seed=0, zero_method=DEFAULT_ZERO_METHOD):
    """Per verification unit and arm: the participants' means of each measure (verification_participants) with
    participant-bootstrap intervals, the AI's accuracy alone, the pooled reliance shares, and the Wilcoxon
    signed-rank test of team minus AI over participants."""
    rows = []
    for number, (key, group) in enumerate(per_participant.groupby(UNIT + ARM, sort=False)):
        row = dict(zip(UNIT + ARM, key)) | {
            "participants": len(group), "answers": int(group["answers"].sum()),
            "ai_accuracy": float(group["ai_accuracy"].mean()),
            "over_reliance_pooled": float(group["false_alarms"].sum() / group["wrong_labels"].sum())
            if group["wrong_labels"].sum() else np.nan,
            "under_reliance_pooled": float(1 - group["hits"].sum() / group["right_labels"].sum())
            if group["right_labels"].sum() else np.nan}
        rng = stream(seed, "verification", number)
        for measure in VERIFICATION_MEASURES:
            values = group[measure].dropna().to_numpy(np.float64)
            low, high = bootstrap_interval((values,), mean, rng)
            row |= {measure: float(values.mean()) if len(values) else np.nan, f"{measure}_n": len(values),
                    f"{measure}_low": low, f"{measure}_high": high}
        gaps = group["team_minus_ai"].to_numpy(np.float64)
        row["p_team_vs_ai"] = signed_rank_test(gaps, zero_method)[1] if (gaps != 0).any() else np.nan
        rows.append(row | {"seed": seed, "stream_row": number})
    return pd.DataFrame(rows)


def by_model_correct(answers, zero_method=DEFAULT_ZERO_METHOD):
    """Per unit and arm, accuracy where the model is right and where it is wrong (HIVE, Kim et al. 2022: people
    could not tell right predictions from wrong ones): pooled with Wilson intervals, and over the participants who
    met both, the mean difference (right minus wrong) with the Wilcoxon signed-rank test."""
    rows = []
    for key, group in answers.groupby(UNIT + ARM, sort=False):
        row = dict(zip(UNIT + ARM, key))
        for name, right in (("right", 1), ("wrong", 0)):
            part = group[group["model_correct"] == right]
            correct, total = int(part["correct"].sum()), len(part)
            row |= {f"answers_model_{name}": total, f"accuracy_model_{name}": correct / total if total else np.nan,
                    **dict(zip((f"model_{name}_low", f"model_{name}_high"),
                               wilson(correct, total) if total else (np.nan, np.nan)))}
        people = group.pivot_table(index="participant", columns="model_correct", values="correct", aggfunc="mean")
        both = people.dropna().reindex(columns=[1, 0]).dropna()
        gaps = (both[1] - both[0]).to_numpy(np.float64) if len(both) else np.array([])
        row |= {"participants_both": len(gaps), "participant_difference": float(gaps.mean()) if len(gaps) else np.nan,
                "p_wilcoxon": signed_rank_test(gaps, zero_method)[1] if (gaps != 0).any() else np.nan}
        rows.append(row)
    return in_report_order(pd.DataFrame(rows), arm_order(answers)) if rows else pd.DataFrame()


def condition_effects(answers, conditions, reference):
    """The condition model correct ~ condition + (1 | participant) + (1 | image) of one unit and model, the logistic
    GLMM by Laplace (clmm.fit_binary_mixed, as glmer with nAGQ = 1): one row per condition against `reference`, its
    odds ratio of a right answer with a Wald interval, z and p, and the fit's variances, log-likelihood and
    convergence. Rows of a fit that did not converge hold no numbers and say why (e.g. a condition where every
    answer is right: separation, an infinite odds ratio)."""
    others = [c for c in conditions if c != reference]
    frame = pd.DataFrame({"correct": answers["correct"].to_numpy(np.int64),
                          "condition": pd.Categorical(answers["condition"], categories=[reference, *others]),
                          **{group: answers[group].to_numpy() for group in clmm.GROUPS}})
    fit = clmm.fit_binary_mixed(frame, CONDITION_FORMULA)
    base = {"fit": GLMM_FIT, "reference": reference, "n_answers": fit.n_observations,
            "n_participants": fit.n_participants, "n_images": fit.n_images}
    unit = np.eye(len(fit.terms))
    return [base | {"condition": c} | odds_ratio_columns(fit.contrast(unit[fit.terms.index(f"condition[T.{c}]")]))
            | fit_columns(fit) for c in others]


def condition_model(answers):
    """condition_effects per unit and model with two or more conditions (learning phases left out), the model's
    control the reference (else its first condition)."""
    rows = []
    arms = arm_order(answers)
    for key, unit in tested(answers).groupby(UNIT, sort=False):
        for model, group in unit.groupby("model", sort=False):
            conditions = [c for m, c in arms if m == model and c in set(group["condition"])]
            if len(conditions) >= 2:
                rows += [dict(zip(UNIT, key)) | {"model": model} | row
                         for row in condition_effects(group, conditions, conditions[0])]
    return in_report_order(pd.DataFrame(rows), arms) if rows else pd.DataFrame()


def confidence_auc(right, wrong):
    """The area under the ROC curve of confidence for a right answer, P(a right answer's confidence exceeds a wrong
    one's) + half the ties, as U / (n_right n_wrong) of the Mann-Whitney U test (scipy), and its two-sided p."""
    if not len(right) or not len(wrong):
        return np.nan, np.nan
    result = stats.mannwhitneyu(right, wrong, alternative="two-sided")
    return float(result.statistic / (len(right) * len(wrong))), float(result.pvalue)


def calibration_table(answers):
    """Per unit and arm: the mean confidence of right and of wrong answers, the pooled ROC AUC of confidence for
    correctness with its Mann-Whitney p, and the mean of the participants' own AUCs (over those with both right
    and wrong answers). A learning page's guesses carry no confidence and are left out."""
    rows = []
    for key, group in answers[answers["confidence"].notna()].groupby(UNIT + ARM, sort=False):
        right = group.loc[group["correct"] == 1, "confidence"].to_numpy(np.float64)
        wrong = group.loc[group["correct"] == 0, "confidence"].to_numpy(np.float64)
        auc, p = confidence_auc(right, wrong)
        own = [confidence_auc(person.loc[person["correct"] == 1, "confidence"].to_numpy(np.float64),
                              person.loc[person["correct"] == 0, "confidence"].to_numpy(np.float64))[0]
               for _, person in group.groupby("participant", sort=False)]
        own = np.array([a for a in own if a == a])
        rows.append(dict(zip(UNIT + ARM, key)) | {
            "answers_right": len(right), "answers_wrong": len(wrong),
            "confidence_right": float(right.mean()) if len(right) else np.nan,
            "confidence_wrong": float(wrong.mean()) if len(wrong) else np.nan,
            "auc": auc, "p_auc": p, "participants_with_both": len(own),
            "participant_auc": float(own.mean()) if len(own) else np.nan})
    return in_report_order(pd.DataFrame(rows), arm_order(answers)) if rows else pd.DataFrame()


def stimulus_accuracy(answers, stimuli):
    """One row per unit and map shown (image, model, method of an explanation condition; learning phases left
    out): its answers and accuracy, the accuracy of the same model's control on the same image (`gain` = the
    map's accuracy minus the control's), and the map's metrics from stimuli.csv (its prediction's map)."""
    answers = tested(answers)
    keys = UNIT + ["model", "image"]
    control = (answers[answers["condition"] == NO_MAP_CONDITION].groupby(keys, sort=False)["correct"]
               .agg(control_answers="size", control_accuracy="mean").reset_index())
    shown = (answers[answers["condition"] != NO_MAP_CONDITION]
             .groupby(keys + ["method", "condition"], sort=False)["correct"]
             .agg(answers="size", accuracy="mean").reset_index())
    table = shown.merge(control, on=keys, how="left")
    table["gain"] = table["accuracy"] - table["control_accuracy"]
    metrics = stimuli.assign(**{c: stimuli[c].astype(str) for c in ("image", "model", "method")})
    table = table.merge(metrics[["image", "model", "method", *METRIC_NAMES]], on=["image", "model", "method"],
                        how="left")
    return in_report_order(table, arm_order(answers)) if len(table) else table


def metric_correlations(table):
    """Spearman's rho (scipy) of each metric with the maps' accuracy and, where the model has a control, with their
    gain over it, per unit, over the maps with that metric."""
    rows = []
    for key, unit in table.groupby(UNIT, sort=False):
        for outcome in ("accuracy", "gain"):
            for metric in METRIC_NAMES:
                known = unit[[metric, outcome]].dropna()
                n, rho, p = spearman(known[metric].to_numpy(), known[outcome].to_numpy())
                rows.append(dict(zip(UNIT, key)) | {"outcome": outcome, "metric": metric, "n": n, "rho": rho, "p": p})
    return pd.DataFrame(rows)


def block_table(answers):
    """Per block: its task, phases, questions, options per page, participants and answers."""
    rows = []
    for block, group in answers.groupby("block", sort=True):
        options = group["n_options"]
        rows.append({"block": block, "task": group["task"].iloc[0],
                     "phases": " ".join(p for p in PHASES if p in set(group["phase"])),
                     "questions": " ".join(q for q in QUESTIONS if q in set(group["question"])),
                     "options": f"{options.min()}" if options.min() == options.max() else
                                f"{options.min()}-{options.max()}",
                     "participants": group["participant"].nunique(), "answers": len(group)})
    return pd.DataFrame(rows)


def condition_table(answers):
    """Participants per arm (the between-participants assignment's balance) and their answers."""
    counts = answers.groupby(ARM, sort=False).agg(participants=("participant", "nunique"), answers=("correct", "size"))
    arms = arm_order(answers)
    return pd.DataFrame([{"model": model, "condition": condition, **counts.loc[(model, condition)].to_dict()}
                         for model, condition in arms])


def task_tables(answers, stimuli=None, seed=0, zero_method=DEFAULT_ZERO_METHOD, with_condition_model=True):
    """Every task table of the report, by name (tables/<name>.csv); the condition model unless
    `with_condition_model` is False (analyze --no-mixed)."""
    per_participant = participant_accuracy(answers)
    tables = {
        "task_blocks": block_table(answers),
        "task_conditions": condition_table(answers),
        "task_accuracy": accuracy_table(per_participant, seed),
        "task_participant_accuracy": per_participant,
        "task_utility": utility_table(per_participant, seed),
        "task_by_model_correct": by_model_correct(answers, zero_method),
        "task_condition_model": condition_model(answers) if with_condition_model else pd.DataFrame(),
        "task_calibration": calibration_table(answers),
    }
    if (answers["task"] == VERIFICATION).any():
        people = verification_participants(answers)
        tables |= {"task_verification": verification_table(people, seed, zero_method),
                   "task_verification_participants": people}
    if stimuli is not None:
        shown = stimulus_accuracy(answers, stimuli)
        if len(shown):
            tables |= {"task_stimuli": shown, "task_metric_correlations": metric_correlations(shown)}
    return {name: table for name, table in tables.items() if len(table)}


def unit_label(block, task, phase, question):
    """A unit as people read it: `Block 2, simulation (test): model_output`."""
    return f"Block {block}, {task}" + (f" ({phase})" if phase else "") + f": {question}"


def arm_label(model, condition):
    """An arm as people read it: the condition, a control with its model (`none (N)`)."""
    return f"{condition} ({model})" if condition == NO_MAP_CONDITION else condition
