"""flow.py alone: the current page, progress and what counts as answered."""

import pytest

from studyapp.flow import (BACKGROUND, COMPLETE, CONSENT, INSTRUCTIONS, TRIAL, Page, Progress, Standing,
                           counts_as_answered, current_page, progress)


def standing(*answered, consented=True, instructions=True, background=True):
    return Standing(consented, instructions, background, answered)


def test_pages_before_the_trials_come_in_order_and_none_can_be_skipped():
    assert current_page(Standing(False, False, False)) == Page(CONSENT)
    assert current_page(Standing(False, True, True)) == Page(CONSENT)
    assert current_page(Standing(True, False, True, (False,))) == Page(INSTRUCTIONS)
    assert current_page(Standing(True, True, False, (False,))) == Page(BACKGROUND)


def test_the_current_trial_is_the_first_unanswered_one():
    assert current_page(standing(False, False, False)) == Page(TRIAL, 1)
    assert current_page(standing(True, True, False, False)) == Page(TRIAL, 3)
    # A gap (an answer lost to a crash, say) is answered before anything after it.
    assert current_page(standing(True, False, True)) == Page(TRIAL, 2)


def test_completion_comes_only_when_every_trial_is_answered():
    assert current_page(standing(True, True, True)) == Page(COMPLETE)
    assert current_page(standing(True, True, False)) == Page(TRIAL, 3)


def test_progress_counts_the_steps_and_the_answered_trials():
    assert progress(Standing(False, False, False), planned_trials=10) == Progress(0, 13)
    assert progress(standing(True, False, False, False), planned_trials=99) == Progress(4, 7)
    assert progress(standing(True, True, True, True), planned_trials=0).percent == 100
    assert Progress(1, 3).percent == 33


@pytest.mark.parametrize("kind, stored, expected", [
    ("rating", {"likert"}, True),
    ("rating", set(), False),
    ("rating", {"choice"}, False),
    ("attention", {"attention"}, True),
    ("attention", {"likert"}, False),
    ("choice", {"choice"}, True),
    ("choice", {"attention"}, False),
])
def test_only_the_answer_of_the_trials_own_kind_counts(kind, stored, expected):
    assert counts_as_answered(kind, stored) is expected
