"""Task pages' right answers, a participant's score and bonus (issue 29), Django-free.

A score is the number of right answers above chance, per block: the right answers less what guessing would get
(1/k for a question of k options). The bonus pays a study's rate per point of the blocks' summed score (never
below zero), up to its cap, in cents as Prolific's bulk bonus takes them. The right option of each question is
RIGHT_ANSWERS' rule; the export writes it in tasks.csv's correct_answer, and the analysis checks it by the same
rule (analysis.loading).
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .schema import ACCEPT, LEARN, MODEL_OUTPUT, PREDICTED, TRUE_CLASS, VERIFICATION_OPTIONS

CENT = Decimal("0.01")


def scored(phase):
    """Whether an answer of `phase` counts in the score: a simulation block's learning guesses come with feedback,
    so its test phase is the measure (as in the analysis, analysis.tasks)."""
    return phase != LEARN


def right_answer(question, *, model_prediction, true_class):
    """The right option of `question` on an image where the model predicts `model_prediction`."""
    if question in (PREDICTED, MODEL_OUTPUT):
        return model_prediction
    if question == TRUE_CLASS:
        return true_class
    if question == ACCEPT:
        return VERIFICATION_OPTIONS[0] if model_prediction == true_class else VERIFICATION_OPTIONS[1]
    raise ValueError(f"Unknown question {question!r}.")


@dataclass(frozen=True)
class ScoredAnswer:
    """One scored answer: its block's position, whether it was right, and how many options it had."""

    block: int
    correct: bool
    options: int


def block_scores(answers):
    """{block position: right answers above chance} of one participant's scored answers."""
    scores = {}
    for answer in answers:
        scores[answer.block] = scores.get(answer.block, 0.0) + float(answer.correct) - 1.0 / answer.options
    return scores


def score(answers):
    """A participant's score: the sum of their blocks' scores."""
    return sum(block_scores(answers).values())


def bonus(points, per_point, cap=None):
    """The bonus for `points` above chance at `per_point` each (Decimal), at most `cap`, rounded to the cent; 0
    below chance or where the study pays none."""
    if per_point is None or points <= 0:
        return Decimal("0.00")
    amount = (Decimal(str(points)) * per_point).quantize(CENT, rounding=ROUND_HALF_UP)
    return min(amount, cap) if cap is not None else amount
