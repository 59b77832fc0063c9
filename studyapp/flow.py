"""Where a participant stands: their current page and their progress.

Pure Python (no Django). The server owns the position: views compute `current_page` from the stored
state on every request and send anything else there, so a typed URL, an old tab or the back button
can never move a participant or skip a page.

Pages come in this order: consent, instructions, background questions, the trials of the participant's
plan in their order, completion. The plan (trials) exists from consent on. A participation that has
ended (completed, declined, ended early, expired) shows its ending page, whatever else it stands at.
"""

from dataclasses import dataclass, replace

CONSENT, INSTRUCTIONS, BACKGROUND, TRIAL, COMPLETE = "consent", "instructions", "background", "trial", "complete"


@dataclass(frozen=True)
class Standing:
    """A participant's stored state: `answered` of the `planned` trials (the plan exists from consent on),
    the position of the first trial without its answer (None once every trial has one), and whether
    the participation has `ended`."""

    consented: bool
    instructions_read: bool
    background_given: bool
    answered: int = 0
    planned: int = 0
    first_unanswered: int | None = None
    ended: bool = False


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
    """The one page this participant may see now: the first step not yet done, or their ending."""
    if standing.ended:
        return Page(COMPLETE)
    if not standing.consented:
        return Page(CONSENT)
    if not standing.instructions_read:
        return Page(INSTRUCTIONS)
    if not standing.background_given:
        return Page(BACKGROUND)
    if standing.first_unanswered is not None:
        return Page(TRIAL, standing.first_unanswered)
    return Page(COMPLETE)


STEP_DONE = {CONSENT: "consented", INSTRUCTIONS: "instructions_read", BACKGROUND: "background_given"}


def page_after_step(standing: Standing, step: str) -> Page:
    """The page that follows once `step` (a page before the trials) is done, from the standing read before it.

    The trials a standing read before consent lacks are never needed: after consent come the instructions.
    Only where to send the participant next: that page's own request checks it against the stored state.
    """
    return current_page(replace(standing, **{STEP_DONE[step]: True}))


def progress(standing: Standing, planned_trials: int) -> Progress:
    """Pages done out of all pages before completion.

    Before consent there is no plan yet: `planned_trials` is the length it will have.
    """
    steps = (standing.consented, standing.instructions_read, standing.background_given)
    trials = standing.planned if standing.consented else planned_trials
    return Progress(done=sum(steps) + standing.answered, total=len(steps) + trials)
