"""Arrivals through a study's open link: one participant per platform ID, within the study's places.

A participant is keyed on (study, platform ID): the same ID coming back gets its own participant,
whatever it stands at. A new ID is admitted under a lock on the study's row, so two first arrivals
of one ID at the same moment make one participant (the second finds the first's), and the count of
places taken cannot be overtaken by a simultaneous arrival.

Places: completed participants always hold one; started ones (arrived, not yet ended) hold one until
they have been inactive for the study's limit, and give it up only when a newcomer needs it (they
are then marked expired). Closed or full, an arrival is refused and nothing is stored.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .enrollment import enroll_participants
from .models import Outcome, Participant, Study, Trial

CLOSED, FULL = "closed", "full"
ENROLMENT_ATTEMPTS = 3  # pseudonyms are numbered across studies: a simultaneous arrival elsewhere can take one


@dataclass(frozen=True)
class Admission:
    participant: Participant | None
    refusal: str = ""  # CLOSED or FULL when no participant was admitted


def participant_of(study, external_id):
    return Participant.objects.select_related("user").filter(study=study, external_id=external_id).first()


def places_taken(study):
    return Participant.objects.filter(study=study, arrived_at__isnull=False,
                                      outcome__in=[Outcome.IN_PROGRESS, Outcome.COMPLETED]).count()


def expire_inactive(study, now):
    """Mark started participants inactive for the study's limit as expired; how many were."""
    cutoff = now - study.inactivity_limit
    recent_page = Trial.objects.filter(participant=OuterRef("pk"), shown_at__gte=cutoff)
    inactive = Participant.objects.filter(study=study, outcome=Outcome.IN_PROGRESS, arrived_at__lt=cutoff).exclude(
        consented_at__gte=cutoff).exclude(instructions_read_at__gte=cutoff).exclude(Exists(recent_page))
    return inactive.update(outcome=Outcome.EXPIRED, ended_at=now,
                           ending_code=study.code_for_outcome(Outcome.EXPIRED))


def refusal(study, now):
    """Why a new arrival cannot be admitted now (CLOSED or FULL), or "" when it can."""
    if not study.is_open:
        return CLOSED
    if study.max_participants is None:
        return ""
    if places_taken(study) >= study.max_participants and (
            not expire_inactive(study, now) or places_taken(study) >= study.max_participants):
        return FULL
    return ""


def admit(study, arrival, source):
    """The participant of `arrival`'s platform ID: the one there is, or a new one if the study has a place."""
    existing = participant_of(study, arrival.external_id)
    if existing is not None:
        return Admission(existing)
    for attempt in range(1, ENROLMENT_ATTEMPTS + 1):
        try:
            return admit_new(study, arrival, source)
        except IntegrityError:
            if attempt == ENROLMENT_ATTEMPTS:
                raise


@transaction.atomic
def admit_new(study, arrival, source):
    locked = Study.objects.select_for_update().get(pk=study.pk)  # one arrival of a study at a time
    existing = participant_of(locked, arrival.external_id)  # read after the lock: sees a rival's commit
    if existing is not None:
        return Admission(existing)
    now = timezone.now()
    refused = refusal(locked, now)
    if refused:
        return Admission(None, refused)
    (participant,) = enroll_participants(
        locked, 1, source=source, external_id=arrival.external_id, external_session=arrival.external_session,
        external_submit_to=arrival.submit_to, arrived_at=now)
    return Admission(participant)
