"""The tutorials run as written, command by command, on a fresh SQLite database: the page and the test cannot drift.

Each ```sh block's lines run in order in a folder of their own (the repository's manage.py, .venv and Makefile
linked into it), and each `<!-- test: STEP ... -->` mark runs what the reader does in the browser there
(tests/docs/tutorial_steps.py). `make run` serves until stopped: its set-up, `make demo`, runs instead (with
`-o install -o system-packages`: `make test` has installed both). A command that fails fails the test with its
output. After the last step the test checks what the tutorial promised the reader."""

import csv
import json
import os
import re
import subprocess
import sys

from tests.docs.pages import DOCS, ROOT, code_blocks

MARK = re.compile(r"<!--\s*test:\s*(.+?)\s*-->")
LINKED = ("manage.py", ".venv", "Makefile", "pyproject.toml", "constraints.txt", "docs")


def steps(page):
    """[("sh", command) or ("step", arguments)] in the page's order."""
    text = page.read_text(encoding="utf-8")
    found = [(match.start(), ("step", match.group(1))) for match in MARK.finditer(text)]
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    for language, lines in code_blocks(text):
        if language == "sh":
            found += [(offsets[number - 1], ("sh", command)) for number, command in lines
                      if command and not command.startswith("#")]
    return [step for _, step in sorted(found, key=lambda item: item[0])]


def run_tutorial(page, folder, environment):
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'tutorial.sqlite3'}",
           "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver", "PYTHONPATH": str(ROOT), **environment}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    ran = []
    for kind, text in steps(page):
        if kind == "sh":
            command = "make -o install -o system-packages demo" if text.split()[:2] == ["make", "run"] else text
        else:
            command = f"{sys.executable} -m tests.docs.tutorial_steps {text}"
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{page.name}: {text}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        ran.append((text, done.stdout))
    return ran


def test_your_first_study(tmp_path):
    ran = run_tutorial(DOCS / "tutorials" / "first-study.md", tmp_path, {})
    commands = [text for text, _ in ran]
    assert commands[0] == "make run" and any(c.startswith("pilot-copy demo") for c in commands)
    report = tmp_path / "pilot-report"
    assert (report / "report.html").exists()
    flow = (report / "tables" / "participant_flow.csv").read_text(encoding="utf-8").splitlines()
    # The rehearsal's 12 participants, the preview left out; the one exclusion with the tutorial's reason.
    assert "Completed,12" in flow and "Analysed,11" in flow
    assert '"Excluded by the researcher: clicked at random, said so in the chat",1' in flow
    assert json.loads((report / "results.json").read_text(encoding="utf-8"))["mixed"]
    participants = (tmp_path / "pilot-export" / "participants.csv").read_text(encoding="utf-8").splitlines()
    assert len(participants) - 1 == 12
    assert (tmp_path / "pilot-report-from-files" / "report.html").exists()


def test_study_your_own_maps(tmp_path):
    ran = run_tutorial(DOCS / "tutorials" / "own-maps.md", tmp_path, {"STIMULI_ROOT": str(tmp_path / "stimuli")})
    assert any(text.startswith(".venv/bin/python manage.py import_stimuli") for text, _ in ran)
    report = (tmp_path / "maps-report" / "report.md").read_text(encoding="utf-8")
    assert "Model and method: two factors" in report
    assert list((tmp_path / "stimuli" / "stimuli").glob("*.png"))


def test_measure_what_a_map_does(tmp_path):
    ran = dict(run_tutorial(DOCS / "tutorials" / "tasks.md", tmp_path, {}))
    assert "Third demo study 'tasks' created: 384 stimuli" in ran["make run"]
    rehearsal = next(out for text, out in ran.items() if text.startswith(".venv/bin/python manage.py simulate"))
    assert "Simulated 36 of 36 participants of 'tasks-pilot' to completion" in rehearsal
    assert "1440 task answers (877 right)" in rehearsal  # seeded, on a fresh database: the page quotes it

    # The export: one row per answer from every block and phase; bonus.csv empty, as the page explains (simulated
    # participants have no Prolific ID).
    export = tmp_path / "tasks-export"
    answers = list(csv.DictReader((export / "tasks.csv").open(encoding="utf-8")))
    assert len(answers) == 1440
    assert {(a["block"], a["task"], a["phase"]) for a in answers} == {
        ("1", "distinction", ""), ("2", "simulation", "learn"), ("2", "simulation", "test"), ("3", "verification", "")}
    assert {(a["model"], a["condition"]) for a in answers} == {
        (model, condition) for model in ("N", "A", "M2") for condition in ("none", f"{model}×VG")}
    assert all((a["confidence"] == "") == (a["phase"] == "learn") for a in answers)
    assert (export / "bonus.csv").read_text(encoding="utf-8") == ""
    recruitment = list(csv.DictReader((export / "recruitment.csv").open(encoding="utf-8")))
    assert len(recruitment) == 36 and {(r["source"], r["external_id"]) for r in recruitment} == {("simulated", "")}

    # The report: the task section's tables as the page walks through them.
    report = tmp_path / "tasks-report"
    assert "Analysed 36 participants, 1440 task answers" in ran[
        ".venv/bin/python manage.py analyze --study tasks-pilot --out tasks-report"]
    text = (report / "report.md").read_text(encoding="utf-8")
    for heading in ("Tasks with a right answer", "Accuracy per block, question and condition",
                    "Utility against the no-map control", "Verification: the team against the AI alone",
                    "Accuracy where the model is right and where it is wrong", "Condition model",
                    "Confidence and correctness", "Explanation metrics and task accuracy"):
        assert f"### {heading}" in text or f"## {heading}" in text, heading
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    conditions = {(row["model"], row["condition"]): row["participants"] for row in results["task_conditions"]}
    assert conditions == {(model, condition): 6 for model in ("N", "A", "M2") for condition in ("none", f"{model}×VG")}
    # Utility: each map condition against its own model's control, in every scored unit; most differences positive,
    # a few passing Holm's correction with six participants a condition, as the page says.
    utility = results["task_utility"]
    assert {(row["model"], row["condition"]) for row in utility} == {("N", "N×VG"), ("A", "A×VG"), ("M2", "M2×VG")}
    assert {(row["block"], row["phase"], row["question"]) for row in utility} == {
        (1, "", "predicted"), (1, "", "true"), (2, "test", "model_output"), (3, "", "accept")}
    assert sum(row["difference"] > 0 for row in utility) >= 10 and len(utility) == 12
    assert 1 <= sum(row["p_mannwhitney_holm"] < 0.05 for row in utility) < 12
    # Verification: N's maps make the team beat the AI alone; N's control does not.
    verification = {(row["model"], row["condition"]): row for row in results["task_verification"]}
    assert verification["N", "N×VG"]["team_accuracy"] > verification["N", "N×VG"]["ai_accuracy"] + 0.2
    assert verification["N", "N×VG"]["d_prime"] > 1 > abs(verification["N", "none"]["d_prime"])
    # Calibration leaves the learning guesses (asked no confidence) out; the learning phase is in the accuracy table.
    assert "learn" not in {row["phase"] for row in results["task_calibration"]}
    assert "learn" in {row["phase"] for row in results["task_accuracy"]}
    assert results["task_condition_model"] and results["task_metric_correlations"]
