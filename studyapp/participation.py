"""How a participation ends: its outcome, when, and the code its ending showed; and how its data is deleted.

Each ending is one guarded UPDATE (`outcome = in_progress`), so of two racing requests only the
first ends a participation, and an ended one never changes again by accident. Withdrawal and erasure
delete the participant's answers (with their plan) and background answers but keep the audit row that returns
and payments are handled with: pseudonym, platform ID, consent record, the times of each step (arrival, consent,
instructions, background, completion, ending), outcome and code, and how far they got (the plan's pages, its
rating pages and the pages answered), so that the console's funnel still places them where they stopped.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from .models import (
    ATTENTION_FAILURES_TO_END, AttentionCheck, AttentionFailureEnding, ChoiceResponse, LikertResponse, Outcome,
    Participant, TaskResponse, Trial, answered,
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


def show_expiry_code(participant):
    """An expired participant who came back sees the over-quota code now: record it as the code they were shown
    (once: the code stands if the study's changes later). Returns the code shown."""
    code = participant.study.code_for_outcome(Outcome.EXPIRED)
    Participant.objects.filter(pk=participant.pk, outcome=Outcome.EXPIRED, ending_code="").update(ending_code=code)
    return Participant.objects.values_list("ending_code", flat=True).get(pk=participant.pk)


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
                  for model in (LikertResponse, AttentionCheck, ChoiceResponse, TaskResponse))
    return Erasure(trials.count(), answers)


@transaction.atomic
def erase(participant, outcome):
    """Delete `participant`'s answers and background answers; their outcome becomes `outcome` (withdrawn or erased).

    A withdrawing participant sees the withdrawal ending; erasure on request keeps the code they were shown.
    The times of the steps they took stay, with how far they got (the funnel places them by it).
    """
    if outcome not in DELETED_OUTCOMES:
        raise ValueError(f"erase() records withdrawn or erased, not {outcome!r}")
    locked = Participant.objects.select_for_update().select_related("study").get(pk=participant.pk)
    if locked.outcome in DELETED_OUTCOMES:
        return Erasure(0, 0, already=True)
    plan = Trial.objects.filter(participant=locked)
    progress = plan.aggregate(trials=Count("pk"),
                              rating_pages=Count("pk", filter=Q(kind__in=[Trial.Kind.RATING, Trial.Kind.ATTENTION])),
                              answered=Count("pk", filter=answered()))
    _, deleted = plan.delete()
    trials = deleted.get(Trial._meta.label, 0)
    locked.outcome, locked.ended_at = outcome, timezone.now()
    if outcome == Outcome.WITHDRAWN:
        locked.ending_code = locked.study.code_for_outcome(outcome)
    locked.degree, locked.cv_experience_years = "", None
    if progress["trials"]:
        locked.trials_at_deletion = progress["trials"]
        locked.rating_pages_at_deletion = progress["rating_pages"]
        locked.answered_at_deletion = progress["answered"]
    locked.save(update_fields=["outcome", "ended_at", "ending_code", "degree", "cv_experience_years",
                               "trials_at_deletion", "rating_pages_at_deletion", "answered_at_deletion"])
    return Erasure(trials, sum(deleted.values()) - trials)
