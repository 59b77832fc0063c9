"""How a participation ends: its outcome, when, and the code its ending showed; and how its data is deleted.

Each ending is one guarded UPDATE (`outcome = in_progress`), so of two racing requests only the
first ends a participation, and an ended one never changes again by accident. Withdrawal and erasure
delete the participant's answers and background but keep the audit row (pseudonym, platform ID,
consent record, times, outcome) that returns and payments are handled with.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .models import (
    ATTENTION_FAILURES_TO_END, AttentionCheck, AttentionFailureEnding, ChoiceResponse, LikertResponse, Outcome,
    Participant, Trial,
)
from .schema import DELETED_OUTCOMES


def end(participant, outcome, answered_every_page=False):
    """End an ongoing participation with `outcome`; False when it had ended already."""
    now = timezone.now()
    code = participant.study.code_for_outcome(outcome)
    completion = {"completed_at": now} if answered_every_page else {}
    ended = Participant.objects.filter(pk=participant.pk, outcome=Outcome.IN_PROGRESS).update(
        outcome=outcome, ended_at=now, ending_code=code, **completion)
    return ended == 1


def failed_attention(participant):
    """Whether the participant has failed as many checks as Prolific requires before a rejection."""
    return Participant.objects.filter(pk=participant.pk).failed_checks(ATTENTION_FAILURES_TO_END).exists()


def end_on_failed_check(participant):
    """After a failed check: end with the failed-attention ending if the study's policy says so now; whether it did."""
    policy = participant.study.attention_failure_ending
    if policy == AttentionFailureEnding.EARLY or (policy == AttentionFailureEnding.SECOND
                                                  and failed_attention(participant)):
        end(participant, Outcome.ATTENTION_FAILED)
        return True
    return False


def finish(participant):
    """Every trial is answered: completed, or failed attention when the study ends failures after the last page."""
    outcome = Outcome.COMPLETED
    if participant.study.attention_failure_ending == AttentionFailureEnding.AT_END and failed_attention(participant):
        outcome = Outcome.ATTENTION_FAILED
    return end(participant, outcome, answered_every_page=True)


@dataclass(frozen=True)
class Erasure:
    trials: int  # pages of the plan deleted, each with its answer if it had one
    answers: int
    already: bool = False  # the data had been deleted before; nothing changed


def held_data(participant):
    """What erasing `participant` would delete now, as an Erasure (nothing changes)."""
    trials = Trial.objects.filter(participant=participant)
    answers = sum(model.objects.filter(trial__in=trials).count()
                  for model in (LikertResponse, AttentionCheck, ChoiceResponse))
    return Erasure(trials.count(), answers)


@transaction.atomic
def erase(participant, outcome):
    """Delete `participant`'s answers and background; their outcome becomes `outcome` (withdrawn or erased).

    A withdrawing participant sees the withdrawal ending; erasure on request keeps the code they were shown.
    """
    if outcome not in DELETED_OUTCOMES:
        raise ValueError(f"erase() records withdrawn or erased, not {outcome!r}")
    locked = Participant.objects.select_for_update().select_related("study").get(pk=participant.pk)
    if locked.outcome in DELETED_OUTCOMES:
        return Erasure(0, 0, already=True)
    _, deleted = Trial.objects.filter(participant=locked).delete()
    trials = deleted.get(Trial._meta.label, 0)
    locked.outcome, locked.ended_at = outcome, timezone.now()
    if outcome == Outcome.WITHDRAWN:
        locked.ending_code = locked.study.code_for_outcome(outcome)
    locked.degree, locked.cv_experience_years, locked.instructions_read_at = "", None, None
    locked.save(update_fields=["outcome", "ended_at", "ending_code", "degree", "cv_experience_years",
                               "instructions_read_at"])
    return Erasure(trials, sum(deleted.values()) - trials)
