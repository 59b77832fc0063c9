"""Where a participant stands: their current page, their progress, what counts as answered.

Pure Python (no Django). The server owns the position: views compute `current_page` from the stored
state on every request and send anything else there, so a typed URL, an old tab or the back button
can never move a participant or skip a page.

Pages come in this order: consent, instructions, background questions, the trials of the participant's
plan in their order, completion. The plan (trials) exists from consent on.
"""

from dataclasses import dataclass
from typing import Collection, Sequence

CONSENT, INSTRUCTIONS, BACKGROUND, TRIAL, COMPLETE = "consent", "instructions", "background", "trial", "complete"
STEPS_BEFORE_TRIALS = (CONSENT, INSTRUCTIONS, BACKGROUND)

# Which stored answer settles a trial of each kind (see randomization's kinds).
ANSWER_FOR_KIND = {"rating": "likert", "attention": "attention", "choice": "choice"}


def counts_as_answered(kind: str, stored_answers: Collection[str]) -> bool:
    """A trial is answered when the answer of its own kind is stored ('likert', 'attention', 'choice')."""
    return ANSWER_FOR_KIND[kind] in stored_answers


@dataclass(frozen=True)
class Standing:
    """A participant's stored state; `answered` holds one flag per trial, in plan order."""

    consented: bool
    instructions_read: bool
    background_given: bool
    answered: Sequence[bool] = ()


@dataclass(frozen=True)
class Page:
    name: str
    position: int | None = None  # 1-based trial position, for TRIAL pages


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def current_page(standing: Standing) -> Page:
    """The one page this participant may see now: the first step not yet done."""
    if not standing.consented:
        return Page(CONSENT)
    if not standing.instructions_read:
        return Page(INSTRUCTIONS)
    if not standing.background_given:
        return Page(BACKGROUND)
    for position, answered in enumerate(standing.answered, start=1):
        if not answered:
            return Page(TRIAL, position)
    return Page(COMPLETE)


def progress(standing: Standing, planned_trials: int) -> Progress:
    """Pages done out of all pages before completion.

    `planned_trials` is the plan's length; before consent (no plan yet) pass the length it will have.
    """
    steps = (standing.consented, standing.instructions_read, standing.background_given)
    trials = len(standing.answered) if standing.consented else planned_trials
    return Progress(done=sum(steps) + sum(standing.answered), total=len(steps) + trials)
