"""`manage.py analyze --tasks`: the report's task section from real-format export files; a study without task
answers gets the same report, byte for byte; bad tasks.csv rows are refused with a message naming them."""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from analysis import tasks
from analysis.loading import from_export_frames, read_export
from analysis.pipeline import Options, run_analysis
from analysis.simulation import TaskBlock, simulate_export, simulate_task_export, simulate_tasks
from studyapp.schema import (
    CHOICES_FILE, PARTICIPANTS_FILE, RATINGS_FILE, STIMULI_FILE, TASKS_COLUMNS, TASKS_FILE, guard_formula,
)
from tests.helpers.exports import report_file_without_provenance

BLOCKS = (TaskBlock("distinction", 6, ask_true_class=True), TaskBlock("simulation", 6, learn_pages=2),
          TaskBlock("verification", 6, options=2))


def analyze(*args):
    out = io.StringIO()
    call_command("analyze", *map(str, args), stdout=out)
    return out.getvalue()


def results(out):
    return json.loads((Path(out) / "results.json").read_text())


@pytest.fixture
def export(tmp_path):
    """16 participants of a study of task blocks only (none and N×VG), as export_responses writes it."""
    return simulate_task_export(tmp_path / "export", 16, {"none": 0.5, "N×VG": 0.8}, BLOCKS, seed=4) | {
        "out": tmp_path / "report"}


def task_args(export, *extra):
    return ["--tasks", export["tasks"], "--participants", export["participants"], "--stimuli", export["stimuli"],
            "--out", export["out"], *extra]


def test_a_study_of_task_blocks_only_gets_the_task_section_and_the_accuracy_figure(export):
    output = analyze(*task_args(export))
    raw = pd.read_csv(export["tasks"])
    assert f"Analysed 16 participants, {len(raw)} task answers; report in" in output
    out = export["out"]
    assert {p.name for p in (out / "figures").iterdir()} == {"participant_flow.png", "task_accuracy.png"}
    tables = {p.stem for p in (out / "tables").iterdir()}
    assert {"task_blocks", "task_conditions", "task_accuracy", "task_participant_accuracy", "task_utility",
            "task_by_model_correct", "task_condition_model", "task_calibration", "task_verification",
            "task_verification_participants", "task_stimuli", "task_metric_correlations"} <= tables
    assert not tables & {"descriptives", "mixed", "anova"}  # no rating pages, no rating tables

    data = results(out)
    assert data["sample"]["analysed"] == 16 and data["sample"]["ratings"] == 0 and data["models"] == []
    assert data["task_participant_accuracy"] == "tables/task_participant_accuracy.csv"
    accuracy = pd.read_csv(out / "tables" / "task_accuracy.csv", keep_default_na=False)
    in_json = pd.DataFrame(data["task_accuracy"])
    assert list(in_json.columns) == list(accuracy.columns) and len(in_json) == len(accuracy) == 5 * 2
    for column in ("accuracy", "wilson_low", "bootstrap_high", "participant_mean", "chance"):
        assert in_json[column].to_numpy() == pytest.approx(accuracy[column].to_numpy(), rel=1e-12)
    verification = accuracy[accuracy["task"] == "verification"]
    assert set(verification["chance"]) == {0.5} and set(accuracy.loc[accuracy["task"] != "verification",
                                                                       "chance"]) == {0.25}
    pooled = raw.groupby(["block", "condition"])["correct"].mean()
    first = accuracy.iloc[1]  # block 1's predicted question, N×VG
    assert first["condition"] == "N×VG" and first["accuracy"] == pytest.approx(
        raw[(raw["block"] == 1) & (raw["question"] == "predicted") & (raw["condition"] == "N×VG")]["correct"].mean())
    assert pooled.loc[(3, "N×VG")] > pooled.loc[(3, "none")]

    # The figure draws chance as a line at each panel's chance, and the bars the table's participant means.
    drawn = json.loads(Image.open(out / "figures" / "task_accuracy.png").text["Description"])
    assert [panel["chance"] for panel in drawn] == pytest.approx([0.25] * 4 + [0.5])
    assert [bar for panel in drawn for bar in panel["bars"]] == [
        [label, pytest.approx(mean)] for label, mean in zip(
            accuracy["condition"].map(lambda c: "none (N)" if c == "none" else c), accuracy["participant_mean"])]

    html = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    for text in (html, markdown):
        for title in ("Tasks with a right answer", "Task blocks", "Accuracy per block, question and condition",
                      "Utility against the no-map control (Colin, Fel et al. 2022)",
                      "Verification: the team against the AI alone, reliance and sensitivity",
                      "Accuracy where the model is right and where it is wrong (HIVE)",
                      f"Condition model: {tasks.GLMM_NAME}",
                      "Confidence and correctness (calibration)", "Explanation metrics and task accuracy",
                      "log-linear correction (Hautus 1995", "Task answers: "):
            assert title in text
        assert "Results" not in text and "Methods" not in text  # the rating sections are not there empty
    assert html.count('src="data:image/png;base64,') == 2
    utility = pd.read_csv(out / "tables" / "task_utility.csv")
    row = utility.iloc[0]
    assert f"| Block 1, distinction: predicted | N×VG | 8 / 8 | {row['accuracy_condition']:.3f} / " in markdown

    # Given beside them, the export's empty ratings.csv and choices.csv change nothing.
    again = export["out"].parent / "again"
    analyze(*task_args(export | {"out": again}), "--ratings", export["ratings"], "--choices", export["choices"])
    assert report_file_without_provenance(again / "report.md") == report_file_without_provenance(out / "report.md")


def test_no_mixed_leaves_the_condition_model_out_and_the_seed_moves_the_bootstrap(export):
    analyze(*task_args(export), "--no-mixed", "--seed", "9")
    data = results(export["out"])
    assert "task_condition_model" not in data and "task_utility" in data
    markdown = (export["out"] / "report.md").read_text()
    assert "Condition model: not fitted for this report (--no-mixed)." in markdown
    assert "### Condition model" not in markdown
    assert {row["seed"] for row in data["task_accuracy"]} == {9}
    again = export["out"].parent / "seed-0"
    analyze(*task_args(export | {"out": again}), "--no-mixed")
    pairs = list(zip(results(again)["task_accuracy"], data["task_accuracy"]))
    assert all(zero["accuracy"] == nine["accuracy"] for zero, nine in pairs)
    assert any((zero["bootstrap_low"], zero["bootstrap_high"]) != (nine["bootstrap_low"], nine["bootstrap_high"])
               for zero, nine in pairs)


def condition_model_line(row):
    """The report.md table row of a condition_model row (results.json), formatted as the report formats it."""
    arm = "none (N)" if row["condition"] == "none" else row["condition"]
    unit = tasks.unit_label(row["block"], row["task"], row["phase"], row["question"])
    if not row["converged"]:
        return (f"| {unit} | {arm} | none ({row['model']}) | not converged | n/a | n/a | n/a | n/a | "
                f"{row['n_answers']} |")
    star = " *" if row["p"] < 0.05 else ""
    return (f"| {unit} | {arm} | none ({row['model']}) | {row['odds_ratio']:.2f} | [{row['or_ci_low']:.2f}, "
            f"{row['or_ci_high']:.2f}] | {row['log_odds_ratio']:.3f} | {row['se']:.3f} | {row['p']:.2E}{star} | "
            f"{row['n_answers']} | {row['participant_variance']:.3f} | {row['image_variance']:.3f} | yes")


def test_the_condition_model_is_the_logistic_glmm_and_the_report_prints_results_json(export):
    analyze(*task_args(export))
    rows = results(export["out"])["task_condition_model"]
    assert len(rows) == 4 and {r["fit"] for r in rows} == {tasks.GLMM_FIT} and all(r["converged"] for r in rows)
    table = pd.read_csv(export["out"] / "tables" / "task_condition_model.csv", keep_default_na=False)
    assert table["odds_ratio"].to_numpy() == pytest.approx([r["odds_ratio"] for r in rows], rel=1e-12)
    markdown = (export["out"] / "report.md").read_text()
    for row in rows:
        assert condition_model_line(row) in markdown
        assert row["odds_ratio"] == pytest.approx(np.exp(row["log_odds_ratio"]))
    assert "Laplace approximation as R's lme4::glmer fits it with nAGQ = 1" in markdown
    assert "Condition model: the logistic GLMM (Laplace, as glmer nAGQ = 1), correct ~ condition + " in markdown
    assert "GEE" not in markdown and "GEE" not in (export["out"] / "report.html").read_text()

    # One condition right on every verification answer: that fit cannot converge, and the report says so.
    answers = pd.read_csv(export["tasks"], dtype=str, keep_default_na=False)
    always = (answers["task"] == "verification") & (answers["condition"] == "N×VG")
    answers.loc[always, "answer"] = answers.loc[always, "correct_answer"]
    answers.loc[always, "correct"] = "1"
    answers.to_csv(export["tasks"], index=False)
    analyze(*task_args(export))
    rows = results(export["out"])["task_condition_model"]
    failed = [r for r in rows if not r["converged"]]
    assert [r["task"] for r in failed] == ["verification"] and failed[0]["odds_ratio"] is None
    markdown = (export["out"] / "report.md").read_text()
    assert condition_model_line(failed[0]) in markdown
    assert (f"It did not converge for Block 3, verification: accept, N ({failed[0]['fit_message']}): no numbers "
            "are shown for it.") in markdown
    assert failed[0]["fit_message"].startswith("did not converge: the data carry almost no information on ")


def test_ratings_and_tasks_of_one_study_get_both_sections(tmp_path):
    ratings, choices, participants = simulate_export(tmp_path, 15, images=4, seed=1,
                                                     effects={"N": 0.0, "A": 0.4, "M2": 0.8})
    frame, _ = simulate_tasks(15, {"none": 0.5, "N×VG": 0.8}, BLOCKS[1:2], seed=2)
    frame.to_csv(tmp_path / TASKS_FILE, index=False)
    output = analyze("--ratings", ratings, "--choices", choices, "--participants", participants, "--tasks",
                     tmp_path / TASKS_FILE, "--out", tmp_path / "report", "--no-mixed")
    assert f"Analysed 15 participants, 180 ratings of N A M2, 60 choices, {len(frame)} task answers" in output
    html = (tmp_path / "report" / "report.html").read_text()
    for title in ("<h2>Methods</h2>", "<h2>Results</h2>", "Participant-level tests", "Tasks with a right answer",
                  "Block 1, simulation (test): model_output", "one rating or task answer"):
        assert title in html
    assert html.index("Side-by-side choices") < html.index("Tasks with a right answer") < html.index("<h2>Figures")
    data = results(tmp_path / "report")
    assert data["models"] == ["N", "A", "M2"] and data["task_conditions"] == [
        {"model": "N", "condition": "none", "participants": 8, "answers": 64},
        {"model": "N", "condition": "N×VG", "participants": 7, "answers": 56}]


def test_an_export_without_task_answers_gets_a_byte_identical_report(tmp_path):
    """An empty tasks.csv (a study without task blocks: the header only) leaves every file of the report as it is
    without --tasks, so the ratings' report is unchanged."""
    ratings, choices, participants = simulate_export(tmp_path / "export", 15, images=4, seed=1,
                                                     effects={"N": 0.0, "A": 0.4, "M2": 0.8})
    empty = tmp_path / "export" / TASKS_FILE
    pd.DataFrame(columns=list(TASKS_COLUMNS)).to_csv(empty, index=False)
    common = ["--ratings", ratings, "--choices", choices, "--participants", participants]
    analyze(*common, "--out", tmp_path / "without")
    analyze(*common, "--tasks", empty, "--out", tmp_path / "with-empty")
    files = sorted(p.relative_to(tmp_path / "without") for p in (tmp_path / "without").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "with-empty") for p in (tmp_path / "with-empty").rglob("*")
                           if p.is_file())
    for name in files:
        assert report_file_without_provenance(tmp_path / "without" / name) == report_file_without_provenance(
            tmp_path / "with-empty" / name), name
    assert not [key for key in results(tmp_path / "without") if key.startswith("task")]


def frames_as_the_database_gives_them(export):
    """The export's frames as studyapp.export builds them: text as pandas strings, whole numbers nullable."""
    frames = {}
    for kind, name in (("ratings", RATINGS_FILE), ("choices", CHOICES_FILE), ("participants", PARTICIPANTS_FILE),
                       ("stimuli", STIMULI_FILE), ("tasks", TASKS_FILE)):
        frame = pd.read_csv(export[kind], keep_default_na=False, na_values=[""])
        frames[name] = frame.astype({c: "string" if frame[c].dtype == object or frame[c].isna().all() else
                                     "Int64" if frame[c].dtype == np.int64 else frame[c].dtype
                                     for c in frame.columns})
    return frames


def test_the_database_path_reads_the_same_task_answers(export):
    analyze(*task_args(export))
    analysis = run_analysis(from_export_frames(frames_as_the_database_gives_them(export), "study 'tasks'"),
                            Options())
    files = results(export["out"])
    for name in ("task_accuracy", "task_utility", "task_verification", "task_calibration"):
        pd.testing.assert_frame_equal(pd.DataFrame(json.loads(analysis.tables[name].to_json(orient="records"))),
                                      pd.DataFrame(files[name]), check_dtype=False, rtol=1e-12)


def test_the_researchers_exclusions_leave_their_task_answers_out(export):
    people = pd.read_csv(export["participants"], dtype=str, keep_default_na=False)
    people.loc[[0, 3], "excluded"] = "True"
    people.loc[[0, 3], "exclusion_reason"] = "did not read the task"
    people.to_csv(export["participants"], index=False)
    analyze(*task_args(export))
    data = results(export["out"])
    flow = dict(map(tuple, data["sample"]["flow"]))
    assert flow["Excluded by the researcher: did not read the task"] == 2 and flow["Analysed"] == 14
    assert sum(r["participants"] for r in data["task_conditions"]) == 14
    kept = pd.read_csv(export["out"] / "tables" / "task_participant_accuracy.csv")["participant"]
    assert not set(kept) & set(people.loc[[0, 3], "participant"])


def test_learning_guesses_have_no_confidence_and_calibration_leaves_them_out(export):
    """The survey asks a learning guess without a confidence, so tasks.csv leaves it empty there (the codebook
    says so); the guesses count in the accuracy table, and calibration uses the answers with a confidence."""
    raw = pd.read_csv(export["tasks"], dtype=str, keep_default_na=False)
    learn = raw["phase"] == "learn"
    assert learn.sum() == 16 * 2 and (raw.loc[learn, "confidence"] == "").all()
    assert (raw.loc[~learn, "confidence"] != "").all()
    analyze(*task_args(export))
    tables = export["out"] / "tables"
    accuracy = pd.read_csv(tables / "task_accuracy.csv", keep_default_na=False)
    assert accuracy.loc[accuracy["phase"] == "learn", "answers"].sum() == 16 * 2
    calibration = pd.read_csv(tables / "task_calibration.csv", keep_default_na=False)
    assert set(calibration["phase"]) == {"", "test"}
    assert calibration["answers_right"].sum() + calibration["answers_wrong"].sum() == (~learn).sum()
    people = pd.read_csv(tables / "task_participant_accuracy.csv")
    assert people.loc[people["phase"] == "learn", "mean_confidence"].isna().all()
    assert people.loc[people["phase"] != "learn", "mean_confidence"].between(1, 5).all()

    asked = int(np.flatnonzero(~learn.to_numpy())[0]) + 1  # a row whose page asks for a confidence
    set_cells(export["tasks"], [asked], "confidence", "")
    with pytest.raises(CommandError, match=rf"'confidence' must hold whole numbers 1-5; data rows {asked} hold ''"):
        analyze(*task_args(export))


def set_cells(path, rows, column, value):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[[r - 1 for r in rows], column] = value
    frame.to_csv(path, index=False)


def edit(path, change):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)


def swap_answer(frame):
    """Row 1's answer turns right if it was wrong (else wrong), keeping `correct` as it was."""
    row = frame.loc[0]
    frame.loc[0, "answer"] = row["correct_answer"] if row["correct"] == "0" else next(
        o for o in row["options"].split("|") if o != row["correct_answer"])


BAD_TASKS = {
    "unknown task": (lambda p: set_cells(p, [3], "task", "guessing"),
                     ["tasks.csv): 'task' must be one of distinction, simulation, verification; data rows 3 hold "
                      "'guessing'"]),
    "question not of the task": (lambda p: set_cells(p, [2], "question", "accept"),
                                 ["'question' must be the task's: distinction: predicted, true; simulation: "
                                  "model_output; verification: accept; data rows 2 hold distinction 'accept'"]),
    "unknown phase": (lambda p: set_cells(p, [1], "phase", "warmup"),
                      ["'phase' must be learn or test in a simulation block and empty in the others; data rows 1 "
                       "hold distinction 'warmup'"]),
    "answer not among the options": (lambda p: set_cells(p, [4, 5], "answer", "Kimono"),
                                     ["'answer' must be one of the options shown; data rows 4, 5 hold 'Kimono'"]),
    "correct inconsistent with the answer": (lambda p: edit(p, swap_answer),
                                             ["'correct' must be 1 where answer equals correct_answer and 0 elsewhere; "
                                              "data rows 1 hold"]),
    "confidence out of range": (lambda p: set_cells(p, [6], "confidence", "7"),
                                ["'confidence' must hold whole numbers 1-5; data rows 6 hold '7'"]),
    "confidence missing": (lambda p: set_cells(p, [8], "confidence", ""), ["data rows 8 hold ''"]),
    "correct not 0 or 1": (lambda p: set_cells(p, [9], "correct", "2"),
                           ["'correct' must hold whole numbers 0-1; data rows 9 hold '2'"]),
    "model_correct inconsistent": (lambda p: edit(p, lambda f: f.__setitem__(
                                       "model_correct", 1 - f["model_correct"].astype(int))),
                                   ["'model_correct' must be 1 where model_prediction equals class_name and 0 "
                                    "elsewhere; data rows 1, 2, 3"]),
    # P000001 (none) answers data rows 1-26 (6 x 2 distinction, 2 + 6 simulation, 6 verification), P000002 (N×VG)
    # from row 27 on.
    "condition not its model and method": (lambda p: set_cells(p, [27], "method", "IG"),
                                           ["'condition' must be none (method empty) or the row's MODEL×METHOD; "
                                            "data rows 27 hold 'N×VG' (model 'N', method 'IG')"]),
    "control with a method": (lambda p: set_cells(p, [1], "method", "VG"),
                              ["data rows 1 hold 'none' (model 'N', method 'VG')"]),
    "unknown verification options": (lambda p: edit(p, lambda f: f.__setitem__(
                                         "options", f["options"].where(f["task"] != "verification", "yes|no"))),
                                     ["'options' must be two or more different options joined by | (verification: "
                                      "accept|reject)"]),
    "answered twice": (lambda p: Path(p).write_text(Path(p).read_text() + Path(p).read_text().splitlines()[1] + "\n"),
                       ["the same participant answered the same question about the same image in one block and "
                        "phase more than once: participant=P000001, block=1, phase=, question=predicted"]),
    "two conditions": (lambda p: set_cells(p, [1], "condition", "N×VG") or set_cells(p, [1], "method", "VG"),
                       ["participant(s) P000001 (N×VG of N, none of N) hold answers of more than one condition; "
                        "conditions are between participants"]),
    "a block of two tasks": (lambda p: set_cells(p, [1, 2], "block", "3"),
                             ["block(s) 3 (distinction, verification) hold answers of more than one task"]),
    "empty image": (lambda p: set_cells(p, [12], "image", ""), ["tasks.csv): empty 'image' in data rows 12"]),
    "trial not a number": (lambda p: set_cells(p, [2], "trial", "x"),
                           ["'trial' must hold whole numbers >= 1; data rows 2 hold 'x'"]),
    "missing column": (lambda p: pd.read_csv(p).drop(columns="model_correct").to_csv(p, index=False),
                       ["tasks (", "tasks.csv): missing column(s) model_correct in the header line"]),
}


@pytest.mark.parametrize("case", BAD_TASKS)
def test_bad_task_rows_are_refused_with_a_message_naming_them_and_nothing_is_written(export, case):
    change, messages = BAD_TASKS[case]
    change(export["tasks"])
    with pytest.raises(CommandError) as error:
        analyze(*task_args(export))
    for message in messages:
        assert message in str(error.value)
    assert "Nothing was written" in str(error.value)
    assert not export["out"].exists()


def test_a_right_answer_that_is_not_the_questions_is_refused(export):
    """A wrong answer made `correct` by naming it the right one: each question's right option is known from the
    row's facts, so the row is named."""
    frame = pd.read_csv(export["tasks"], dtype=str, keep_default_na=False)
    named = []
    for question in ("predicted", "true", "model_output", "accept"):
        row = frame.index[(frame["question"] == question) & (frame["correct"] == "0")][0]
        frame.loc[row, ["correct_answer", "correct"]] = [frame.loc[row, "answer"], "1"]
        named.append(row)
    frame.to_csv(export["tasks"], index=False)
    with pytest.raises(CommandError) as error:
        analyze(*task_args(export))
    rows = ", ".join(str(r + 1) for r in sorted(named))
    assert ("'correct_answer' must be the question's right option (predicted: the model's prediction; model_output: "
            "the model's prediction; true: the true class (class_name); accept: accept where the model is right, "
            f"else reject); data rows {rows} hold") in str(error.value)
    assert not export["out"].exists()


def test_task_answers_of_unlisted_or_withdrawn_participants_and_unlisted_maps_are_refused(export):
    people = pd.read_csv(export["participants"], dtype=str, keep_default_na=False)
    people.loc[1, "outcome"] = "withdrawn"
    people.drop(index=2).to_csv(export["participants"], index=False)
    stimuli = pd.read_csv(export["stimuli"], dtype=str, keep_default_na=False)
    missing = stimuli.iloc[0]
    stimuli.iloc[1:].to_csv(export["stimuli"], index=False)
    with pytest.raises(CommandError) as error:
        analyze(*task_args(export))
    tasks = pd.read_csv(export["tasks"])
    rows = ", ".join(str(i + 1) for i in np.flatnonzero(tasks["participant"] == "P000003")[:10])
    assert f"tasks.csv): participant(s) not listed in participants (" in str(error.value)
    assert f"data rows {rows} and " in str(error.value)
    assert "tasks.csv): data rows " in str(error.value) and "withdrew or were erased (P000002)" in str(error.value)
    assert (f"stimuli.csv): no row for image, model and method {missing['image']} {missing['model']} "
            f"{missing['method']} shown in tasks (") in str(error.value)


def test_stimuli_of_other_target_ranks_and_unshown_images_are_left_out(export):
    """stimuli.csv with target_rank (issue 29's top-k maps): only the prediction's maps join, and the study's
    images that nobody was shown are no error (each participant sees a draw of the images)."""
    stimuli = pd.read_csv(export["stimuli"], keep_default_na=False)
    other = stimuli.assign(target_rank=2, gini=-1.0)
    unshown = stimuli.iloc[:1].assign(image="fmnist-9999", target_rank=1)
    pd.concat([stimuli.assign(target_rank=1), other, unshown]).to_csv(export["stimuli"], index=False)
    analyze(*task_args(export))
    shown = pd.read_csv(export["out"] / "tables" / "task_stimuli.csv")
    assert (shown["gini"] >= 0).all() and "fmnist-9999" not in set(shown["image"])


def test_text_cells_carry_the_exporters_formula_guard(export):
    """A class named like a formula is written with the guard (schema.guard_formula) and read back as itself:
    guarded alone as an answer, inside a list of options unguarded, the two still match."""
    def rename(frame):
        for column in ("class_name", "answer", "correct_answer", "model_prediction"):
            frame[column] = frame[column].replace("Sandal", "-Sandal").map(guard_formula)
        frame["options"] = frame["options"].str.split("|").map(
            lambda options: "|".join("-Sandal" if o == "Sandal" else o for o in options)).map(guard_formula)
    edit(export["tasks"], rename)
    assert "'-Sandal" in Path(export["tasks"]).read_text()
    tasks = read_export(None, None, export["participants"], export["stimuli"], export["tasks"]).tasks
    assert "-Sandal" in set(tasks["class_name"]) and "-Sandal" in set(tasks["answer"])
    assert not tasks["options"].str.startswith("'").any()
    assert tasks["options"].str.contains("-Sandal").any() and not tasks["options"].str.contains("'").any()
