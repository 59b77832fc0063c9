"""Right answers, scores above chance and bonuses of task pages (studyapp.scoring)."""

from decimal import Decimal

import pytest

from studyapp.schema import ACCEPT, MODEL_OUTPUT, PREDICTED, TRUE_CLASS
from studyapp.scoring import ScoredAnswer, block_scores, bonus, right_answer, score, scored


@pytest.mark.parametrize("question, prediction, expected", [
    (PREDICTED, "Sandal", "Sandal"), (MODEL_OUTPUT, "Sandal", "Sandal"), (TRUE_CLASS, "Sandal", "Sneaker"),
    (ACCEPT, "Sandal", "reject"), (ACCEPT, "Sneaker", "accept"),
])
def test_right_answer_follows_the_question(question, prediction, expected):
    assert right_answer(question, model_prediction=prediction, true_class="Sneaker") == expected


def test_right_answer_refuses_an_unknown_question():
    with pytest.raises(ValueError, match="Unknown question"):
        right_answer("guess", model_prediction="A", true_class="A")


def test_score_counts_right_answers_above_chance_per_block():
    answers = [ScoredAnswer(1, True, 4), ScoredAnswer(1, True, 4), ScoredAnswer(1, False, 4),  # 2 - 0.75
               ScoredAnswer(2, False, 2), ScoredAnswer(2, False, 2)]  # 0 - 1
    assert block_scores(answers) == pytest.approx({1: 1.25, 2: -1.0})
    assert score(answers) == pytest.approx(0.25)


@pytest.mark.parametrize("points, per_point, cap, expected", [
    (1.25, Decimal("0.10"), None, Decimal("0.13")),  # half a cent rounds up
    (12.0, Decimal("0.10"), Decimal("1.00"), Decimal("1.00")),  # the cap
    (-2.0, Decimal("0.10"), None, Decimal("0.00")),  # below chance: nothing, never a negative bonus
    (3.0, None, None, Decimal("0.00")),  # the study pays no bonus
])
def test_bonus_pays_points_above_chance_up_to_the_cap(points, per_point, cap, expected):
    assert bonus(points, per_point, cap) == expected


def test_a_simulation_blocks_learning_guesses_are_not_scored():
    """They come with feedback; the test phase is the measure (the blocks without phases are scored)."""
    assert scored("test") and scored("") and not scored("learn")
