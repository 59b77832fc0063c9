"""The replication package: a simulated study packaged, reproduced in a fresh folder from the package alone, and
caught when one rating or one byte of a stimulus changes; its layout checked against Psych-DS's rules; no platform
ID, code or (with --without-justifications) participant's free text anywhere in it."""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Q
from django.test import RequestFactory

from analysis import package, tasks
from analysis.management.commands.package import package_parts, render_report
from analysis.pipeline import Options
from analysis.simulation import TaskBlock, simulate_tasks
from studyapp import decisions, participation, pilot, replication
from studyapp.export import export_frames
from studyapp.models import ChoiceResponse, Outcome, Participant
from studyapp.schema import (
    BONUS_FILE, CHOICES_FILE, DELETED_OUTCOMES, PARTICIPANTS_FILE, RATINGS_FILE, RECRUITMENT_FILE, REVIEW_FILE,
    STIMULI_FILE, TASKS_FILE,
)
from studyapp.rehearsal import Rehearsal
from studyapp.simulation import AnswerModel

ROOT = Path(__file__).resolve().parents[2]
NAME_IN_A_JUSTIFICATION = "Jane Doe"
PSYCH_DS_KEYWORDS = {"study", "site", "subject", "session", "task", "condition", "trial", "stimulus", "description"}


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def console_request(user):
    """A request of `user` on the console, as decisions.decide takes it (the access log keeps who decided)."""
    request = RequestFactory().post("/dashboard/")
    request.user = user
    return request


def simulated_study(study_factory, images=3, slug="pilot-2"):
    """A Prolific study run by simulated participants with platform IDs, one of them excluded with a reason, one
    withdrawn, one erased, a researcher's preview, and a justification that names a person."""
    study = study_factory(images=images, comparison_count=2, slug=slug, recruitment_source="prolific",
                          completion_code="PROLIFIC-CODE-7Q")
    run("simulate_participants", study=study.slug, count=9, seed=0, means="N=1.8,A=3,M2=4.2", sd=0.8,
        choice_weights="N=1,A=2,M2=6")
    people = list(study.participants.order_by("pseudonym"))
    for number, person in enumerate(people):
        person.source, person.external_id = "prolific", f"5f{number:02d}c0ffee{number:02d}a1b2c3d4e5f6a7b8"
        person.external_session = f"session{number:02d}-6a1b2c3d4e5f"
        person.save()
    participation.erase(people[7], Outcome.WITHDRAWN)
    participation.erase(people[8], Outcome.ERASED)
    researcher = get_user_model().objects.create_user("researcher-ann", password="x")
    decisions.decide(console_request(researcher), [people[0]], True, "Answered every page in under a second")
    ChoiceResponse.objects.filter(trial__participant=people[1]).update(
        justification=f"My colleague {NAME_IN_A_JUSTIFICATION} liked the second one.")
    preview = pilot.enroll_preview(study)
    Rehearsal(study, AnswerModel(), seed=1).play(preview, np.random.default_rng(1))
    return study


@pytest.fixture
def simulated(study_factory):
    return simulated_study(study_factory)


def files_of(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


def reproduce_without_a_database(folder):
    """`manage.py reproduce` in a new process whose database cannot even be created."""
    env = {**os.environ, "DATABASE_URL": "sqlite:////nonexistent/folder/db.sqlite3", "DJANGO_SETTINGS_MODULE":
           "config.settings"}
    return subprocess.run([sys.executable, "manage.py", "reproduce", str(folder)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def unzip(archive, into):
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(into)
    return into / Path(archive).stem


def test_a_simulated_study_is_packaged_and_reproduced_and_a_change_is_caught(simulated, tmp_path):
    out = tmp_path / "made" / "pilot-package"
    out.parent.mkdir()
    printed = run("package", study="pilot-2", out=out)
    assert "Wrote the replication package of 'pilot-2'" in printed and "6 participants analysed" in printed
    archive = out.with_name("pilot-package.zip")
    assert out.is_dir() and archive.is_file()
    assert sorted(p.name for p in out.iterdir()) == ["CHECKSUMS.sha256", "README.md", "analysis", "data",
                                                     "dataset_description.json", "materials", "prereg.md"]
    data = sorted(p.name for p in (out / "data").iterdir())
    assert data == ["study-pilot2_description-participants_data.csv", "study-pilot2_description-stimuli_data.csv",
                    "study-pilot2_task-choice_data.csv", "study-pilot2_task-rating_data.csv"]
    with open(out / "data" / "study-pilot2_description-participants_data.csv", newline="") as handle:
        people = list(csv.DictReader(handle))
    assert len(people) == 7 and {p["outcome"] for p in people} == {"completed"}  # withdrawn, erased, preview out
    with open(out / "analysis" / "exclusions.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [["participant", "reason"], [
            people[0]["participant"], "Excluded by the researcher: Answered every page in under a second"]]
    results = json.loads((out / "analysis" / "results.json").read_text())
    assert results["sample"]["analysed"] == 6 and {"mixed", "wilcoxon_ratings", "choice_shares"} <= set(results)
    assert NAME_IN_A_JUSTIFICATION in (out / "analysis" / "tables" / "justifications.csv").read_text()  # kept
    materials = out / "materials"
    assert sorted(p.name for p in (materials / "pages").iterdir()) == sorted(
        f"{name}.html" for name in replication.PAGE_TYPES)
    assert (materials / "consent" / "consent-v1.txt").read_text().startswith("You are invited")
    assert len(list((materials / "stimuli").glob("*.png"))) == 3 + 9
    listed = (out / package.CHECKSUMS).read_text().splitlines()
    assert len(listed) == len(files_of(out)) - 1 and all(re.fullmatch(r"[0-9a-f]{64}  \S+", line) for line in listed)
    assert subprocess.run(["sha256sum", "--quiet", "-c", package.CHECKSUMS], cwd=out).returncode == 0

    fresh = unzip(archive, tmp_path / "fresh")  # a replicator's copy: the zip alone
    assert [p.relative_to(fresh) for p in files_of(fresh)] == [p.relative_to(out) for p in files_of(out)]
    passed = reproduce_without_a_database(fresh)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "every file matches CHECKSUMS.sha256" in passed.stdout and "0 differ" in passed.stdout

    ratings = fresh / "data" / "study-pilot2_task-rating_data.csv"
    lines = ratings.read_bytes().decode().split("\r\n")  # the last row: an analysed participant's (not P0001's)
    header, last = lines[0].split(","), lines[-2].split(",")
    column = header.index("sufficiency")
    last[column] = "1" if last[column] != "1" else "5"
    ratings.write_bytes("\r\n".join([*lines[:-2], ",".join(last), ""]).encode())
    with pytest.raises(CommandError) as failed:
        run("reproduce", str(fresh))
    message = str(failed.value)
    assert f"{ratings.relative_to(fresh).as_posix()}: its SHA-256 differs from CHECKSUMS.sha256" in message
    assert re.search(r"results\.json\.descriptives\[\d+\] \(statement=sufficiency, model=\w+\)\.mean: shipped "
                     r"[\d.]+, rerun [\d.]+", message), message
    assert "Not reproduced" in message

    flipped = unzip(archive, tmp_path / "flipped")
    png = sorted((flipped / "materials" / "stimuli").glob("*.png"))[0]
    data = bytearray(png.read_bytes())
    data[len(data) // 2] ^= 0x01
    png.write_bytes(bytes(data))
    with pytest.raises(CommandError) as failed:
        run("reproduce", str(flipped))
    message = str(failed.value)
    assert f"materials/stimuli/{png.name}: its SHA-256 differs from CHECKSUMS.sha256" in message
    assert "0 differ" in message  # the analysis is untouched; the package still fails


def test_the_package_follows_psych_ds_and_holds_no_platform_id_code_or_name(simulated, tmp_path):
    """Psych-DS 0.4's rules as its specification states them (psychds-docs, "Rules and Conventions"; the schema's
    dataset_description, DataFile and CSV rules), checked on the package:

    - dataset_description.json is in the root, is valid JSON, uses the schema.org namespace ("@context"
      https://schema.org), has "@type" Dataset and the required fields name, description and variableMeasured;
    - there is a data/ folder with at least one CSV data file, and every CSV file in it is named with keywords:
      ([a-z]+-[a-zA-Z0-9]+)(_[a-z]+-[a-zA-Z0-9]+)*_data.csv (the schema's fileRegex); here only official keywords;
    - columnsMatchMetadata: every column header of every data file is in variableMeasured (objects of @type
      PropertyValue, each with a name);
    - CSV: a header row, no repeated header, every row as many fields as the header, no empty file; a row_id
      column, if any, holds unique values.

    And: no participant's platform ID or session, username or invite token, no ending code, and (with
    --without-justifications) not the name a participant wrote, anywhere in the package or its zip.
    """
    plan = tmp_path / "plan"
    run("plan_study", "--means", "N=1.8,A=3,M2=4.2", "--sd", "0.8", "--participant-sd", "0.5", "--image-sd", "0.3",
        "--images", "3", "--participants", "4", "8", "--simulations", "4", "--jobs", "1", "--out", str(plan))
    out = tmp_path / "shared"
    run("package", study="pilot-2", out=out, without_justifications=True, no_mixed=True, power=plan / "power.json")

    description = json.loads((out / "dataset_description.json").read_text(encoding="utf-8"))
    assert description["@context"].rstrip("/") in ("https://schema.org", "http://schema.org")
    assert description["@type"] == "Dataset" and description["schemaVersion"] == "Psych-DS 0.4.0"
    assert description["name"] and description["description"] and description["variableMeasured"]
    variables = {v["name"]: v for v in description["variableMeasured"]}
    assert all(v["@type"] == "PropertyValue" and v["description"] for v in variables.values())
    data_files = sorted((out / "data").rglob("*.csv"))
    assert data_files
    for path in data_files:
        assert package.DATA_FILE_NAME.fullmatch(path.name), path.name
        keywords = [part.split("-")[0] for part in path.name.removesuffix("_data.csv").split("_")]
        assert set(keywords) <= PSYCH_DS_KEYWORDS, path.name
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert rows and rows[0], f"{path.name} is empty"
        header = rows[0]
        assert len(header) == len(set(header)), f"{path.name} repeats a header"
        assert all(len(row) == len(header) for row in rows[1:]), path.name
        assert not set(header) - set(variables), f"{path.name}: columns missing from variableMeasured"
        if "row_id" in header:
            ids = [row[header.index("row_id")] for row in rows[1:]]
            assert len(ids) == len(set(ids))
    # levels, minimum and maximum come from the codebook (and, for model names, the data)
    assert (variables["sufficiency"]["minValue"], variables["sufficiency"]["maxValue"]) == (1, 5)
    assert "completed" in variables["outcome"]["levels"] and variables["model"]["levels"] == ["A", "M2", "N"]
    assert "Left out of this package" in variables["justification"]["description"]

    prereg = (out / "prereg.md").read_text()
    assert [line for line in prereg.splitlines() if line.startswith("## ")] == [
        "## 1. Data collection", "## 2. Hypothesis", "## 3. Dependent variable", "## 4. Conditions",
        "## 5. Analyses", "## 6. Outliers and exclusions", "## 7. Sample size", "## 8. Other", "## 9. Name"]
    plan_answers = (plan / "answers.txt").read_text().splitlines()
    assert all(answer in prereg for answer in plan_answers) and (out / "materials" / "power.json").is_file()
    assert prereg.count("[Researcher:") >= 6

    secrets = []
    for person in Participant.objects.filter(study=simulated).select_related("user"):
        secrets += [person.external_id, person.external_session, person.user.username, person.invite_token]
    secrets = [s for s in secrets if s] + ["PROLIFIC-CODE-7Q", NAME_IN_A_JUSTIFICATION, "researcher-ann"]
    blobs = {path.relative_to(out).as_posix(): path.read_bytes() for path in files_of(out)}
    with zipfile.ZipFile(out.with_name("shared.zip")) as handle:
        blobs |= {f"zip:{name}": handle.read(name) for name in handle.namelist()}
    for name, blob in blobs.items():
        for secret in secrets:
            assert secret.encode() not in blob, (secret, name)
    readme = out / "README.md"
    readme.write_text(readme.read_text().replace("**[Researcher: the code's licence.]**", "MIT"))
    (out / "dataset_description.json").write_text(json.dumps({**description, "license": "CC-BY-4.0"}))
    assert "with the new README.md, dataset_description.json" in run("package", rehash=out)
    assert "every file matches" in run("reproduce", str(out))
    with zipfile.ZipFile(out.with_name("shared.zip")) as handle:
        assert b"CC-BY-4.0" in handle.read("shared/dataset_description.json")
    data_file = data_files[0]
    data_file.write_bytes(data_file.read_bytes() + b"\r\n")
    with pytest.raises(CommandError, match=f"(?s)Nothing was changed.*{data_file.name}: its SHA-256 differs"):
        run("package", rehash=out)

    gone = Participant.objects.filter(Q(outcome__in=DELETED_OUTCOMES) | Q(is_preview=True), study=simulated)
    assert gone.count() == 3
    for person in gone:  # withdrawn, erased, preview: not in the data at all
        for path in (out / "data").iterdir():
            assert person.pseudonym not in path.read_text(), (person.pseudonym, person.outcome, path.name)


def test_a_package_that_would_hold_a_platform_id_is_not_written(simulated, tmp_path):
    person = simulated.participants.exclude(external_id="").order_by("pseudonym")[2]
    researcher = get_user_model().objects.create_user("researcher-bob")
    decisions.decide(console_request(researcher), [person], True,
                     f"Prolific ID {person.external_id} asked to be excluded")
    (tmp_path / "packages").mkdir()
    out = tmp_path / "packages" / "leaky"
    with pytest.raises(CommandError) as refused:
        run("package", study="pilot-2", out=out, no_mixed=True)
    assert "Nothing was written" in str(refused.value) and "platform ID" in str(refused.value)
    assert "data/study-pilot2_description-participants_data.csv" in str(refused.value)
    assert person.external_id not in str(refused.value)
    assert list(out.parent.iterdir()) == []  # no folder, no zip, no staging left behind


def test_package_refuses_an_existing_folder_and_a_bad_power_file(simulated, tmp_path):
    folder = tmp_path / "packages"
    (folder / "taken").mkdir(parents=True)
    with pytest.raises(CommandError, match="exists; a package is written into a new folder"):
        run("package", study="pilot-2", out=folder / "taken")
    (folder / "power.json").write_text('{"design": {}}')
    with pytest.raises(CommandError, match="not plan_study's power.json"):
        run("package", study="pilot-2", out=folder / "new", power=folder / "power.json")
    assert sorted(p.name for p in folder.iterdir()) == ["power.json", "taken"]


def test_page_snapshots_are_self_contained_show_no_code_and_keep_nothing(simulated):
    before = (Participant.objects.count(), ChoiceResponse.objects.count())
    pages = replication.page_snapshots(simulated)
    assert list(pages) == list(replication.PAGE_TYPES)
    assert (Participant.objects.count(), ChoiceResponse.objects.count()) == before
    for name, html in pages.items():
        assert "<style>" in html and "/static/" not in html and "PROLIFIC-CODE-7Q" not in html, name
    assert "data:image/png;base64," in pages["rating"] and 'name="sufficiency"' in pages["rating"]
    assert replication.CODE_LEFT_OUT in pages["ending"]
    assert "Withdraw" in pages["withdraw"] and 'type="checkbox"' in pages["consent"]


def test_numbers_are_compared_within_the_stated_tolerance(tmp_path):
    shipped, rerun = tmp_path / "shipped", tmp_path / "rerun"
    for folder, mean, count in ((shipped, 3.1234567, "12"), (rerun, 3.1234567 * (1 + 1e-7), "12")):
        (folder / "tables").mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({"descriptives": [{"model": "N", "mean": mean}]}))
        (folder / "tables" / "anova.csv").write_text(f"statement,F\r\ntrust,{count}\r\n")
    assert package.compare_outputs(shipped, rerun, **package.TOLERANCE) == ([], 4)
    (rerun / "results.json").write_text(json.dumps({"descriptives": [{"model": "N", "mean": 3.13}]}))
    (rerun / "tables" / "anova.csv").write_text("statement,F\r\ntrust,13\r\n")
    differences, _ = package.compare_outputs(shipped, rerun, **package.TOLERANCE)
    assert differences == ["results.json.descriptives[0] (model=N).mean: shipped 3.1234567, rerun 3.13",
                           "tables/anova.csv row 1 (statement=trust) column F: shipped '12', rerun '13'"]
    # An infinite bound (a ratio over a zero accuracy) agrees with itself, not with the other infinity or a number.
    assert package.same("inf", "inf", **package.TOLERANCE) and package.same("nan", "nan", **package.TOLERANCE)
    assert not package.same("inf", "-inf", **package.TOLERANCE)
    assert not package.same("inf", "1e308", **package.TOLERANCE)


def test_reproduce_names_a_folder_that_is_no_package(tmp_path):
    with pytest.raises(CommandError, match="cannot be rerun"):
        run("reproduce", str(tmp_path))
    shutil.rmtree(tmp_path)
    with pytest.raises(CommandError, match="is not a folder"):
        run("reproduce", str(tmp_path))


def with_task_answers(parts, seed=3):
    """The study's frames with a tasks.csv: the survey's task pages are being built elsewhere, so the answers are
    simulated (analysis.simulation.simulate_tasks), for the study's kept participants (the excluded one included)
    on its own images and its N VG maps, two blocks, conditions none and N×VG in turn."""
    people = sorted(parts.frames[PARTICIPANTS_FILE]["participant"])
    images = sorted(parts.frames[STIMULI_FILE]["image"].unique())
    answers, _ = simulate_tasks(len(people), {"none": 0.5, "N×VG": 0.85},
                                (TaskBlock("distinction", 4), TaskBlock("verification", 4, options=2)),
                                images=len(images), seed=seed)
    names = dict(zip(sorted(answers["participant"].unique()), people))
    answers["participant"] = answers["participant"].map(names)
    answers["image"] = answers["image"].map({f"fmnist-{i}": image for i, image in enumerate(images)})
    parts.frames[TASKS_FILE] = answers
    return answers


def test_a_study_with_task_answers_is_packaged_with_its_tasks_reproduced_and_shares_no_platform_id(
        study_factory, tmp_path):
    study = simulated_study(study_factory, images=8, slug="tasks-1")
    parts = package_parts(study, Options(), ["package", "--study", study.slug, "--out", "with-tasks"])
    assert TASKS_FILE not in parts.frames  # the survey has no task answers: the package has no tasks file
    answers = with_task_answers(parts)
    out = tmp_path / "with-tasks"
    out.mkdir()
    made = package.write_package(out, parts, render_report)
    assert made.analysis.task_answers == len(answers) - (answers["participant"] == "P0001").sum()  # P0001 excluded
    data = sorted(p.name for p in (out / "data").iterdir())
    assert data == ["study-tasks1_description-participants_data.csv", "study-tasks1_description-stimuli_data.csv",
                    "study-tasks1_task-choice_data.csv", "study-tasks1_task-rating_data.csv",
                    "study-tasks1_task-tasks_data.csv"]
    provenance = json.loads((out / package.PROVENANCE).read_text())
    assert provenance["inputs"]["tasks"] == "data/study-tasks1_task-tasks_data.csv"
    assert "--tasks data/study-tasks1_task-tasks_data.csv" in provenance["analysis_command"]
    results = json.loads((out / "analysis" / "results.json").read_text())
    assert {"task_accuracy", "task_utility", "task_condition_model", "task_verification"} <= set(results)
    assert {r["fit"] for r in results["task_condition_model"]} == {tasks.GLMM_FIT}

    # variableMeasured: each column of the tasks file, and `confidence` with both files' meanings, neither's range
    variables = {v["name"]: v for v in json.loads((out / "dataset_description.json").read_text())["variableMeasured"]}
    with open(out / "data" / "study-tasks1_task-tasks_data.csv", newline="") as handle:
        assert not set(next(csv.reader(handle))) - set(variables)
    confidence = variables["confidence"]
    assert ("In data/study-tasks1_description-stimuli_data.csv: The model's softmax probability of its prediction. "
            "Type: number. Allowed: 0-1. Values: minimum 0, maximum 1.") in confidence["description"]
    assert ("In data/study-tasks1_task-tasks_data.csv: The participant's confidence in the answer: 1 = Not confident "
            "at all") in confidence["description"] and "Values: minimum 1, maximum 5." in confidence["description"]
    assert "minValue" not in confidence and "maxValue" not in confidence
    assert (variables["correct"]["minValue"], variables["correct"]["maxValue"]) == (0, 1)
    assert variables["task"]["levels"] == ["distinction", "simulation", "verification"]
    assert (variables["sufficiency"]["minValue"], variables["sufficiency"]["maxValue"]) == (1, 5)  # as before
    assert "In data/" in variables["class_name"]["description"]  # the true class in tasks, the shown class elsewhere
    prereg = (out / "prereg.md").read_text()
    assert "- Task blocks (distinction, verification): each scored question answered right or wrong" in prereg
    assert "Task blocks: 2 conditions between participants (none (N), N×VG)" in prereg
    assert "Condition model: logistic GLMM" in prereg
    readme = (out / "README.md").read_text()
    assert "| data/study-tasks1_task-tasks_data.csv | `export_responses`' tasks.csv |" in readme
    assert "| analysis/tables/task_condition_model.csv | Condition model: logistic GLMM" in readme

    for name in [p.relative_to(out).as_posix() for p in files_of(out)]:
        blob = (out / name).read_bytes()
        for secret in parts.secrets:
            assert secret.encode() not in blob, (secret, name)
    assert not [p for p in files_of(out) if "bonus" in p.name or "recruitment" in p.name or "review" in p.name]
    passed = reproduce_without_a_database(out)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "every file matches CHECKSUMS.sha256" in passed.stdout and "0 differ" in passed.stdout

    # One task answer changed (still a valid file): the rerun names the task numbers that moved.
    path = out / "data" / "study-tasks1_task-tasks_data.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = frame.index[(frame["task"] == "verification") & (frame["participant"] != "P0001")][0]
    frame.loc[row, "answer"] = "reject" if frame.loc[row, "answer"] == "accept" else "accept"
    frame.loc[row, "correct"] = str(int(frame.loc[row, "answer"] == frame.loc[row, "correct_answer"]))
    frame.to_csv(path, index=False, lineterminator="\r\n")
    with pytest.raises(CommandError) as failed:
        run("reproduce", str(out))
    message = str(failed.value)
    assert "data/study-tasks1_task-tasks_data.csv: its SHA-256 differs from CHECKSUMS.sha256" in message
    assert re.search(r"results\.json\.task_accuracy\[\d+\] \(task=verification, question=accept, model=N\)\.accuracy: "
                     r"shipped [\d.]+, rerun [\d.]+", message), message
    assert re.search(r"results\.json\.task_condition_model\[\d+\] \(task=verification, question=accept, model=N\)\."
                     r"log_odds_ratio: shipped", message), message


def test_a_package_never_takes_a_file_with_platform_ids(simulated, tmp_path):
    parts = package_parts(simulated, Options(), ["package"])
    assert set(parts.frames) == {RATINGS_FILE, CHOICES_FILE, PARTICIPANTS_FILE, STIMULI_FILE}
    frames = export_frames(simulated)
    for name in (RECRUITMENT_FILE, REVIEW_FILE):
        parts.frames[name] = frames[name]
    parts.frames[BONUS_FILE] = frames[REVIEW_FILE][["external_id"]]  # bonus.csv's Prolific IDs
    (tmp_path / "package").mkdir()
    with pytest.raises(package.PackageError, match=r"not bonus\.csv, recruitment\.csv, review\.csv \(recruitment\.csv, "
                                                   r"review\.csv and bonus\.csv carry platform IDs\)"):
        package.write_package(tmp_path / "package", parts, render_report)
    assert list((tmp_path / "package").iterdir()) == []


def test_reproduce_compares_every_result_but_an_optimizers_evaluation_count(tmp_path):
    """Another CPU's float kernels may take an optimizer through other steps to the same estimates: the count of
    likelihood evaluations is no result, every estimate is."""
    for name, evaluations, estimate in (("shipped", 141, "0.5"), ("rerun", 139, "0.5"), ("changed", 141, "0.6")):
        (tmp_path / name / "tables").mkdir(parents=True)
        (tmp_path / name / "results.json").write_text(json.dumps({"clmm": [{"evaluations": evaluations}]}))
        (tmp_path / name / "tables" / "clmm.csv").write_text(f"estimate,evaluations\n{estimate},{evaluations}\n")
    assert package.compare_outputs(tmp_path / "shipped", tmp_path / "rerun", 1e-5, 1e-8)[0] == []
    found, _ = package.compare_outputs(tmp_path / "shipped", tmp_path / "changed", 1e-5, 1e-8)
    assert found == ["tables/clmm.csv row 1 column estimate: shipped '0.5', rerun '0.6'"]
