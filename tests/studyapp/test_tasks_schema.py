"""The names issue 29's parts share (studyapp.schema) and tasks.csv's codebook entries (studyapp.codebook)."""

import pytest

from studyapp import codebook
from studyapp.schema import (
    BONUS_FILE, NO_MAP_CONDITION, TASK_PHASES, TASK_QUESTIONS, TASKS, TASKS_COLUMNS, TASKS_FILE, condition_name,
)


def test_the_contracts_names():
    assert (TASKS_FILE, BONUS_FILE, NO_MAP_CONDITION) == ("tasks.csv", "bonus.csv", "none")
    assert condition_name("M2", "IG") == "M2×IG"
    assert TASKS_COLUMNS == ("participant", "block", "task", "phase", "condition", "model", "method", "image",
                             "dataset", "class_name", "trial", "question", "options", "answer", "correct_answer",
                             "correct", "confidence", "model_prediction", "model_correct", "rt_ms", "page_hides",
                             "answered_at")
    assert TASKS == ("distinction", "simulation", "verification")
    assert TASK_QUESTIONS == {"distinction": ("predicted", "true"), "simulation": ("model_output",),
                              "verification": ("accept",)}
    assert TASK_PHASES == {"distinction": ("",), "simulation": ("learn", "test"), "verification": ("",)}


def test_every_tasks_column_has_a_codebook_entry_and_tasks_meanings_win():
    columns = {name: codebook.column_entry(TASKS_FILE, name) for name in TASKS_COLUMNS}
    assert list(columns) == list(TASKS_COLUMNS) and all(c["type"] and c["meaning"] for c in columns.values())
    # tasks.csv's confidence is the participant's (1-5), not stimuli.csv's model probability.
    assert columns["confidence"]["allowed"] == "1-5; empty for a learning guess (asked without a confidence)"
    assert "Completely confident" in columns["confidence"]["meaning"]
    assert (columns["confidence"]["minimum"], columns["confidence"]["maximum"]) == (1, 5)
    stimuli = {c["name"]: c for c in codebook.codebook()["stimuli.csv"]["columns"]}
    assert stimuli["confidence"]["allowed"] == "0-1"
    assert columns["method"]["allowed"] == "empty for none"


def test_a_column_without_a_meaning_cannot_ship():
    with pytest.raises(codebook.MissingMeaning, match="no meaning for column.s. mystery of tasks.csv"):
        codebook.file_entry(TASKS_FILE, TASKS_COLUMNS + ("mystery",))


def test_a_vertical_bar_stays_inside_its_markdown_cell():
    assert codebook.table_cell("accept|reject") == "accept\\|reject"
