"""tasks.csv and bonus.csv (issue 29): the export of a study of task blocks, what the analysis reads, and what
Prolific's bulk bonus pays."""

import io
import json
import zipfile
from decimal import Decimal

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from analysis.loading import read_export
from studyapp import access, participation, pilot
from studyapp.export import export_frames
from studyapp.models import AttentionCheck, Outcome, Participant, Role, Trial
from studyapp.schema import (
    BONUS_FILE, CHOICES_FILE, PARTICIPANTS_FILE, RATINGS_FILE, STIMULI_FILE, TASKS_COLUMNS, TASKS_FILE,
)
from tests.helpers.tasks import take_part, task_study

# Distinction of 3 classes asking the true class too; simulation of 2 classes with learning guesses (not scored);
# verification; a simulation block whose learning page asks nothing (no row).
BLOCKS = [{"kind": "distinction", "top_k": 3, "images": 2, "ask_true_class": True},
          {"kind": "simulation", "top_k": 2, "images": 2, "learning_images": 2, "learning_guess": True},
          {"kind": "verification", "images": 2},
          {"kind": "simulation", "images": 1, "learning_images": 1}]
PROLIFIC_IDS = {"all_right": "5f0a1b2c3d4e5f6a7b8c9d01", "first_only": "5f0a1b2c3d4e5f6a7b8c9d02",
                "three": "5f0a1b2c3d4e5f6a7b8c9d03", "midway": "5f0a1b2c3d4e5f6a7b8c9d04",
                "rejectable": "5f0a1b2c3d4e5f6a7b8c9d05"}


def on_prolific(participant, key):
    Participant.objects.filter(pk=participant.pk).update(source="prolific", external_id=PROLIFIC_IDS[key])


def failed_two_checks(participant):
    """Two attention checks answered otherwise than instructed, after their plan: Prolific allows rejecting them."""
    last = participant.trials.order_by("-position").first().position
    for offset in (1, 2):
        check = Trial.objects.create(participant=participant, position=last + offset, kind=Trial.Kind.ATTENTION,
                                     attention_target=1)
        AttentionCheck.objects.create(trial=check, answer=5, rt_ms=700)


@pytest.fixture
def taken(study_factory, write_png, participant_factory):
    """A study of the four blocks under N×VG and the no-map control, paying 0.10 per right answer above chance up
    to 0.50, and its participants: P0001 (N×VG) all right; P0002 (none) right on each block's first page only;
    P0003 (N×VG) right on each block's first three pages; P0004 (none) in progress, three pages answered, all right;
    P0005 (N×VG) all right but with two failed checks; P0006 (N×VG) all right, by invite link (no platform ID); and
    a researcher's preview."""
    study = task_study(study_factory, write_png, blocks=BLOCKS, conditions=[("N", "VG"), ("N", "")], images=10,
                       slug="tasks", bonus_per_correct=Decimal("0.10"), bonus_cap=Decimal("0.50"),
                       recruitment_source="prolific", declared_minutes=10)
    mapped, control = study.task_conditions.get(method="VG"), study.task_conditions.get(method="")
    people = {}
    for key, condition, options in (("all_right", mapped, {}),
                                    ("first_only", control, {"right": lambda page: page.number == 1}),
                                    ("three", mapped, {"right": lambda page: page.number <= 3}),
                                    ("midway", control, {"answered": 3, "complete": False}),
                                    ("rejectable", mapped, {}), ("invited", mapped, {})):
        people[key] = participant_factory(study)
        take_part(people[key], condition, **options)
        if key != "invited":
            on_prolific(people[key], key)
    failed_two_checks(people["rejectable"])
    take_part(pilot.enroll_preview(study), mapped)
    return study, people


def read_tasks(text):
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_tasks_csv_has_one_row_per_answer_to_a_scored_question(taken, tmp_path):
    study, people = taken
    call_command("export_responses", study="tasks", out=tmp_path / "export", stdout=io.StringIO())
    tasks = read_tasks((tmp_path / "export" / TASKS_FILE).read_text())
    assert tuple(tasks.columns) == TASKS_COLUMNS
    assert (tmp_path / "export" / TASKS_FILE).read_bytes().count(b"\r\n") == len(tasks) + 1
    assert "preview" not in set(tasks["participant"]) and len(set(tasks["participant"])) == 6
    first = tasks[tasks["participant"] == people["all_right"].pseudonym]
    # 2 distinction pages x 2 questions, 2 learning guesses + 2 test pages, 2 verification pages, 1 test page (its
    # learning page asked nothing); the attention check after the first page is no row and no page number
    assert list(zip(first["block"], first["phase"], first["trial"], first["question"])) == [
        ("1", "", "1", "predicted"), ("1", "", "1", "true"), ("1", "", "2", "predicted"), ("1", "", "2", "true"),
        ("2", "learn", "1", "model_output"), ("2", "learn", "2", "model_output"), ("2", "test", "3", "model_output"),
        ("2", "test", "4", "model_output"), ("3", "", "1", "accept"), ("3", "", "2", "accept"),
        ("4", "test", "2", "model_output")]
    assert set(first["condition"]) == {"N×VG"} and set(first["model"]) == {"N"} and set(first["method"]) == {"VG"}
    assert set(first["correct"]) == {"1"} and (first["answer"] == first["correct_answer"]).all()
    control = tasks[tasks["participant"] == people["first_only"].pseudonym]
    assert set(control["condition"]) == {"none"} and set(control["method"]) == {""}
    assert list(control["correct"]) == ["1", "1", "0", "0", "1", "0", "0", "0", "1", "0", "0"]
    assert len(tasks[tasks["participant"] == people["midway"].pseudonym]) == 5  # 2 pages x 2, 1 guess; no more
    trials = {(t.participant.pseudonym, t.block.position, t.source_image.test_index): t for t in Trial.objects.filter(
        kind__in=["distinction", "simulation", "verification"]).select_related("participant", "block", "stimulus",
                                                                              "source_image", "task_response")}
    for row in tasks.itertuples():
        trial = trials[(row.participant, int(row.block), int(row.image.rsplit("-", 1)[1]))]
        assert row.options == "|".join(trial.options) and row.task == trial.kind and row.phase == trial.phase
        assert row.model_prediction == trial.stimulus.predicted_class
        assert row.class_name == trial.source_image.class_name
        assert row.model_correct == str(int(row.model_prediction == row.class_name))
        expected = {"predicted": row.model_prediction, "model_output": row.model_prediction,
                    "true": row.class_name, "accept": "accept" if row.model_correct == "1" else "reject"}
        assert row.correct_answer == expected[row.question] and row.correct == str(int(row.answer == expected[
            row.question]))
        response = trial.task_response
        answer, confidence = ((response.true_class_answer, response.true_class_confidence) if row.question == "true"
                              else (response.answer, response.confidence))
        assert (row.answer, row.confidence, row.rt_ms, row.page_hides) == (
            answer, str(confidence), str(response.rt_ms), str(response.page_hides))
    assert tasks["model_correct"].isin(["0", "1"]).all() and set(tasks["model_correct"]) == {"0", "1"}


def test_the_analysis_reads_the_exported_files(taken, tmp_path):
    study, _ = taken
    call_command("export_responses", study="tasks", out=tmp_path / "export", stdout=io.StringIO())
    folder = tmp_path / "export"
    data = read_export(folder / RATINGS_FILE, folder / CHOICES_FILE, folder / PARTICIPANTS_FILE, folder / STIMULI_FILE,
                       folder / TASKS_FILE)
    assert len(data.tasks) == len(export_frames(study)[TASKS_FILE]) == 6 * 11 - 6  # the one in progress: 5 rows
    out = io.StringIO()
    call_command("analyze", tasks=str(folder / TASKS_FILE), participants=str(folder / PARTICIPANTS_FILE),
                 stimuli=str(folder / STIMULI_FILE), out=str(tmp_path / "report"), stdout=out)
    assert f"{len(data.tasks)} task answers" in out.getvalue()
    accuracy = pd.read_csv(tmp_path / "report" / "tables" / "task_accuracy.csv")
    assert set(accuracy["task"]) == {"distinction", "simulation", "verification"}
    call_command("analyze", study="tasks", out=str(tmp_path / "from-database"), stdout=io.StringIO())
    straight = pd.read_csv(tmp_path / "from-database" / "tables" / "task_accuracy.csv")
    pd.testing.assert_frame_equal(straight, accuracy)  # the database's frames are the files' values


def test_bonus_csv_pays_the_approved_participants_score_in_prolifics_bulk_bonus_form(taken, tmp_path):
    """P0001: 4 x 2/3 (distinction) + 2 x 1/2 (simulation test) + 2 x 1/2 (verification) + 3/4 (the last block)
    = 5.42 above chance: 0.54, capped at 0.50. P0003: the same but wrong on the second simulation test page: 4.42,
    0.44. P0002 scores below chance (nothing to pay); P0004 is still in progress, P0005 may be rejected, P0006 came
    without a platform ID: none of them is in the file. The learning guesses are not scored."""
    study, people = taken
    out = io.StringIO()
    call_command("export_responses", study="tasks", out=tmp_path / "export", stdout=out)
    assert "recruitment.csv, review.csv and bonus.csv hold platform IDs" in out.getvalue()
    text = (tmp_path / "export" / BONUS_FILE).read_bytes()
    assert text == f"{PROLIFIC_IDS['all_right']},0.50\r\n{PROLIFIC_IDS['three']},0.44\r\n".encode()
    review = export_frames(study)["review.csv"].set_index("participant")["action"]
    assert review[people["rejectable"].pseudonym] == "may_reject" and review[people["first_only"].pseudonym] == "approve"
    study.bonus_cap = None
    study.save()
    assert list(export_frames(study)[BONUS_FILE]["bonus"]) == ["0.54", "0.44"]
    for participant in Participant.objects.filter(study=study):
        other = " ".join(export_frames(study)[name].to_csv() for name in (TASKS_FILE, PARTICIPANTS_FILE,
                                                                             STIMULI_FILE, "balance.csv"))
        assert not participant.external_id or participant.external_id not in other  # platform IDs stay apart


def test_a_study_that_pays_no_bonus_has_no_bonus_csv_and_one_without_task_blocks_no_tasks_csv(taken, study_factory):
    study, _ = taken
    study.bonus_per_correct = None
    study.save()
    assert TASKS_FILE in export_frames(study) and BONUS_FILE not in export_frames(study)
    plain = study_factory(images=1, bonus_per_correct=Decimal("0.10"))
    assert list(export_frames(plain)) == ["ratings.csv", "choices.csv", "participants.csv", "recruitment.csv",
                                          "stimuli.csv", "balance.csv", "review.csv"]


def test_the_zip_holds_tasks_csv_and_bonus_csv_with_their_codebook(taken, client):
    study, people = taken
    researcher = get_user_model().objects.create_user("researcher", password="a-long-passphrase", is_staff=True)
    access.grant(study, researcher, Role.ANALYST)
    client.force_login(researcher)
    archive = zipfile.ZipFile(io.BytesIO(client.get("/dashboard/tasks/export.zip").content))
    assert {TASKS_FILE, BONUS_FILE} <= {name.split("/", 1)[1] for name in archive.namelist()}
    assert archive.read(f"tasks/{BONUS_FILE}").decode().startswith(f"{PROLIFIC_IDS['all_right']},0.50\r\n")
    book = json.loads(archive.read("tasks/codebook.json"))
    assert [c["name"] for c in book[TASKS_FILE]["columns"]] == list(TASKS_COLUMNS)
    assert [c["name"] for c in book[BONUS_FILE]["columns"]] == ["external_id", "bonus"]
    assert "without a header row" in book[BONUS_FILE]["meaning"]
    markdown = archive.read("tasks/codebook.md").decode()
    assert "## tasks.csv" in markdown and "| correct_answer |" in markdown and "## bonus.csv" in markdown
    assert len(pd.read_csv(io.BytesIO(archive.read(f"tasks/{TASKS_FILE}")))) == 6 * 11 - 6


def test_an_erased_participants_answers_leave_tasks_csv(taken):
    study, people = taken
    participation.erase(people["all_right"], Outcome.ERASED)
    tasks = export_frames(study)[TASKS_FILE]
    assert people["all_right"].pseudonym not in set(tasks["participant"])
    assert PROLIFIC_IDS["all_right"] not in export_frames(study)[BONUS_FILE]["external_id"].tolist()
