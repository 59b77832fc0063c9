"""flow.py alone: the current page and progress."""

from studyapp.flow import (
    BACKGROUND, COMPLETE, CONSENT, INSTRUCTIONS, TRIAL, Page, Progress, Standing, current_page, page_after_step, progress,
)


def trials(answered, planned, first_unanswered):
    return Standing(True, True, True, answered=answered, planned=planned, first_unanswered=first_unanswered)


def test_pages_before_the_trials_come_in_order_and_none_can_be_skipped():
    assert current_page(Standing(False, False, False)) == Page(CONSENT)
    assert current_page(Standing(False, True, True)) == Page(CONSENT)
    assert current_page(Standing(True, False, True, planned=1, first_unanswered=1)) == Page(INSTRUCTIONS)
    assert current_page(Standing(True, True, False, planned=1, first_unanswered=1)) == Page(BACKGROUND)


def test_the_current_trial_is_the_first_unanswered_one():
    assert current_page(trials(0, 3, 1)) == Page(TRIAL, 1)
    assert current_page(trials(2, 4, 3)) == Page(TRIAL, 3)
    # A gap (an answer lost to a crash, say) is answered before anything after it.
    assert current_page(trials(2, 3, 2)) == Page(TRIAL, 2)


def test_completion_comes_only_when_every_trial_is_answered():
    assert current_page(trials(3, 3, None)) == Page(COMPLETE)
    assert current_page(trials(2, 3, 3)) == Page(TRIAL, 3)


def test_progress_counts_the_steps_and_the_answered_trials():
    assert progress(Standing(False, False, False), planned_trials=10) == Progress(0, 13)
    assert progress(Standing(True, False, False, answered=0, planned=4, first_unanswered=1),
                    planned_trials=99) == Progress(1, 7)
    assert progress(trials(3, 4, 4), planned_trials=99) == Progress(6, 7)
    assert progress(trials(3, 3, None), planned_trials=0).percent == 100
    assert Progress(1, 3).percent == 33


def test_an_ended_participation_shows_its_ending_wherever_it_stood():
    assert current_page(Standing(False, False, False, ended=True)) == Page(COMPLETE)  # declined consent
    assert current_page(Standing(True, True, True, answered=2, planned=5, first_unanswered=3,
                                 ended=True)) == Page(COMPLETE)  # ended early, or expired


def test_the_page_after_a_step_is_the_next_one_the_stored_state_will_give():
    before_consent = Standing(False, False, False)
    assert page_after_step(before_consent, CONSENT) == Page(INSTRUCTIONS)
    assert page_after_step(Standing(True, False, False, planned=3, first_unanswered=1), INSTRUCTIONS) == Page(BACKGROUND)
    assert page_after_step(Standing(True, True, False, planned=3, first_unanswered=1), BACKGROUND) == Page(TRIAL, 1)
    # Resumed in a second tab with a trial answered meanwhile: its own standing's first unanswered trial.
    assert page_after_step(Standing(True, True, False, answered=1, planned=3, first_unanswered=2),
                           BACKGROUND) == Page(TRIAL, 2)
    # An ending that came first stays the page, whatever the step.
    assert page_after_step(Standing(False, False, False, ended=True), CONSENT) == Page(COMPLETE)
