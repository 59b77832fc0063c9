"""How a participation ends: its outcome, when, and the code its ending showed.

Each change is one guarded UPDATE (`outcome = in_progress`), so of two racing requests only the
first ends a participation, and an ended one never changes again by accident.
"""

from django.db.models import F
from django.utils import timezone

from .models import ENDING_OF_OUTCOME, AttentionCheck, AttentionFailureEnding, Outcome, Participant


def end(participant, outcome, answered_every_page=False):
    """End an ongoing participation with `outcome`; False when it had ended already."""
    now = timezone.now()
    code = participant.study.ending_code(ENDING_OF_OUTCOME[outcome])
    completion = {"completed_at": now} if answered_every_page else {}
    ended = Participant.objects.filter(pk=participant.pk, outcome=Outcome.IN_PROGRESS).update(
        outcome=outcome, ended_at=now, ending_code=code, **completion)
    return ended == 1


def failed_a_check(participant):
    return AttentionCheck.objects.filter(trial__participant=participant).exclude(
        answer=F("trial__attention_target")).exists()


def finish(participant):
    """Every trial is answered: completed, or failed attention when the study ends failures after the last page."""
    outcome = Outcome.COMPLETED
    if participant.study.attention_failure_ending == AttentionFailureEnding.AT_END and failed_a_check(participant):
        outcome = Outcome.ATTENTION_FAILED
    return end(participant, outcome, answered_every_page=True)
