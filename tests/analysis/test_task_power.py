"""plan_study for a task block (--task-accuracy): binary answers with participant and image spread, the power of
the report's utility tests, and its flags."""

import csv
import json

import pytest
from django.core.management import CommandError
from scipy import stats as sp

from analysis import power
from analysis.simulation import TaskBlock, simulate_tasks
from studyapp.schema import POWER_COLUMNS, TASKS_COLUMNS
from tests.analysis.test_plan_study_command import plan_study

TASK = ["--task-accuracy", "none=0.55,N×VG=0.75", "--task-pages", "20", "--task-participant-sd", "0.5",
        "--task-image-sd", "0.5"]


def test_a_task_plan_writes_the_power_of_the_utility_tests(tmp_path):
    out = tmp_path / "plan"
    output = plan_study(*TASK, "--participants", 40, 10, "--simulations", 40, "--seed", 2, "--jobs", 1, "--out", out)
    assert {p.name for p in out.iterdir()} == {"power.csv", "power.json", "power.png", "answers.txt"}
    rows = list(csv.DictReader(open(out / "power.csv", newline="", encoding="utf-8")))
    assert list(rows[0]) == list(POWER_COLUMNS)
    assert [(r["test"], r["comparison"], r["participants"]) for r in rows] == [
        ("utility_mannwhitney", "N×VG-none", "10"), ("utility_mannwhitney", "N×VG-none", "40"),
        ("utility_welch", "N×VG-none", "10"), ("utility_welch", "N×VG-none", "40")]
    curve = {int(r["participants"]): float(r["power"]) for r in rows if r["test"] == "utility_welch"}
    assert curve[40] > curve[10] and curve[40] > 0.8
    plan = json.loads((out / "power.json").read_text(encoding="utf-8"))
    assert plan["design"] == {"accuracy": {"none": 0.55, "N×VG": 0.75}, "pages": 20, "participant_sd": 0.5,
                              "image_sd": 0.5, "images": None}
    assert plan["participants_per_condition"] == {"10": {"none": 5, "N×VG": 5}, "40": {"none": 20, "N×VG": 20}}
    answers = (out / "answers.txt").read_text(encoding="utf-8").splitlines()
    assert answers == plan["answers"] and answers[0].startswith("N×VG-none: smallest sample size with >= 80% power")
    assert answers[0] in output and "Simulated 40 studies at each of 10, 40 participants" in output


def test_each_simulated_study_is_decided_by_the_reports_utility_tests():
    """Frame f of a plan is simulate_tasks seeded [seed, f]; its first n participants, tested directly with scipy,
    give the plan's records."""
    design = power.TaskDesign({"none": 0.6, "N×VG": 0.7}, pages=12, participant_sd=0.4, image_sd=0.3)
    options = power.pipeline.Options(alpha=0.2, seed=5, mixed_model=False)
    records = power.simulate_task_frames(design, [8, 16], options, 5, [0, 1])
    assert len(records) == 2 * 2 * 2
    for frame in (0, 1):
        answers, _ = simulate_tasks(16, design.accuracy, (TaskBlock("simulation", 12),), participant_sd=0.4,
                                    image_sd=0.3, seed=[5, frame])
        for n in (8, 16):
            study = answers[answers["participant"].isin(sorted(answers["participant"].unique())[:n])]
            accuracy = study.groupby(["participant", "condition"])["correct"].mean().reset_index()
            x, y = (accuracy.loc[accuracy["condition"] == c, "correct"].to_numpy() for c in ("N×VG", "none"))
            expected = {("utility_mannwhitney", sp.mannwhitneyu(x, y, alternative="two-sided").pvalue < 0.2),
                        ("utility_welch", sp.ttest_ind(x, y, equal_var=False).pvalue < 0.2)}
            found = {(test, significant) for test, comparison, size, f, significant in records
                     if (size, f) == (n, frame)}
            assert found == expected and len(x) == len(y) == n // 2
    assert list(answers.columns) == list(TASKS_COLUMNS)


def test_with_equal_accuracies_the_utility_tests_reject_at_alpha_within_monte_carlo_error():
    design = power.TaskDesign({"none": 0.65, "N×VG": 0.65}, pages=10, participant_sd=0.5, image_sd=0.0)
    table = power.power_table(power.simulate_power(design, [20], 300, seed=4), design)
    low, high = sp.binom.ppf([0.0005, 0.9995], 300, 0.05) / 300
    assert len(table) == 2 and all(low <= p <= high for p in table["power"])


def test_the_same_seed_gives_the_same_numbers_with_any_number_of_processes():
    design = power.TaskDesign({"A×none": 0.5, "A×VG": 0.7, "A×IG": 0.6}, pages=8, participant_sd=0.3, image_sd=0.3)
    one = power.power_table(power.simulate_power(design, [6, 12], 12, seed=7, jobs=1), design)
    two = power.power_table(power.simulate_power(design, [6, 12], 12, seed=7, jobs=2), design)
    assert one.equals(two) and set(one["comparison"]) == {"A×VG-none", "A×IG-none"}


def test_mixed_adds_the_reports_condition_model(tmp_path):
    out = tmp_path / "plan"
    plan_study(*TASK, "--participants", 12, "--simulations", 4, "--mixed", "--jobs", 1, "--out", out)
    rows = list(csv.DictReader(open(out / "power.csv", newline="", encoding="utf-8")))
    assert [r["test"] for r in rows] == ["utility_mannwhitney", "utility_welch", "condition_model"]


def test_each_model_is_compared_with_its_own_control():
    design = power.TaskDesign({"N×none": 0.5, "N×VG": 0.7, "A×none": 0.5, "A×VG": 0.6}, pages=6,
                              participant_sd=0.2, image_sd=0.2)
    assert design.comparisons == ["N×VG-none", "A×VG-none"]
    assert design.participants_per_condition(10) == {"N×none": 3, "N×VG": 3, "A×none": 2, "A×VG": 2}
    assert set(power.power_table(power.simulate_power(design, [8], 2, seed=1), design)["comparison"]) == {
        "N×VG-none", "A×VG-none"}


BAD = {
    "task flag alone": (["--task-pages", "20", "--means", "N=2,A=3", "--sd", "1", "--participant-sd", "0.5",
                         "--image-sd", "0.3", "--images", "4"], "--task-pages needs --task-accuracy"),
    "rating flags beside": ([*TASK, "--means", "N=2,A=3", "--methods", "VG", "IG"],
                            "--means, --methods: a plan of a task block (--task-accuracy) takes no rating flags"),
    "missing task flags": (["--task-accuracy", "none=0.5,N×VG=0.7"],
                           "Missing --task-pages, --task-participant-sd, --task-image-sd"),
    "accuracy outside": (["--task-accuracy", "none=0.5,N×VG=1.2", *TASK[2:]],
                         "accuracies N×VG=1.2 are not between 0 and 1"),
    "bare none of two models": (["--task-accuracy", "none=0.5,N×VG=0.7,A×VG=0.7", *TASK[2:]],
                                "a bare none belongs to the model of the explanation conditions"),
    "no control": (["--task-accuracy", "N×VG=0.5,N×IG=0.7", *TASK[2:]],
                   "no explanation condition has a none control of its model"),
    "not a condition": (["--task-accuracy", "N-VG=0.5,none=0.6", *TASK[2:]], "'N-VG' is not a condition"),
    "too few participants": ([*TASK, "--participants", "3"], "--participants: 3 participants give some of the 2"),
    "one page": (["--task-accuracy", "none=0.5,N×VG=0.7", "--task-pages", "1", *TASK[4:]],
                 "--task-pages: a block needs at least 2 scored pages"),
    "not a number": (["--task-accuracy", "none=x,N×VG=0.7", *TASK[2:]], "'x' for condition none is not a number"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_task_flags_say_what_is_wrong_and_write_nothing(case, tmp_path):
    flags, message = BAD[case]
    participants = [] if "--participants" in flags else ["--participants", "10"]
    with pytest.raises(CommandError) as error:
        plan_study(*flags, *participants, "--simulations", 2, "--out", tmp_path / "plan")
    assert message in str(error.value) and "Nothing was written" in str(error.value)
    assert not (tmp_path / "plan").exists()


def test_power_grows_as_the_planned_effect_does():
    sizes = {}
    for effect in (0.6, 0.7, 0.8):
        design = power.TaskDesign({"none": 0.55, "N×VG": effect}, pages=15, participant_sd=0.5, image_sd=0.3)
        table = power.power_table(power.simulate_power(design, [20], 60, seed=3), design)
        sizes[effect] = table.loc[table["test"] == "utility_welch", "power"].item()
    assert sizes[0.6] < sizes[0.7] < sizes[0.8] and sizes[0.8] > 0.8
