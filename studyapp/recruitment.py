"""Arrivals through a study's open link: one participant per platform ID, within the study's places.

A participant is keyed on (study, platform ID): the same ID coming back gets its own participant,
whatever it stands at. A new ID is admitted under a lock on the study's row, so two first arrivals
of one ID at the same moment make one participant (the second finds the first's), and the count of
places taken cannot be overtaken by a simultaneous arrival.

Places are counted as Prolific counts them: completed participants, and those actively in the study.
Anyone who arrived and has not ended holds a place; a consented one who showed no new page for the
study's inactivity limit, or one who has not consented within the (minutes-long) unconsented limit, is
idle, and gives up their place only when a newcomer needs it: exactly as many idle participants as the
newcomer needs (one), the longest idle first, are marked expired. Closed or full, an arrival is refused
and nothing is stored.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .enrollment import enroll_under_lock
from .models import Outcome, Participant, Study, Trial

CLOSED, FULL = "closed", "full"
ENROLMENT_ATTEMPTS = 3  # pseudonyms are numbered across studies: a simultaneous arrival elsewhere can take one


@dataclass(frozen=True)
class Admission:
    participant: Participant | None
    refusal: str = ""  # CLOSED or FULL when no participant was admitted


def participant_of(study, external_id):
    participant = Participant.objects.select_related("user").filter(study=study, external_id=external_id).first()
    if participant is not None:
        participant.study = study  # the row it was found under: the survey's first page needs it, no query
    return participant


def place_holders(study):
    """Participants holding a place: arrived, and in progress or completed (a researcher's preview holds none)."""
    return Participant.objects.filter(study=study, arrived_at__isnull=False, is_preview=False,
                                      outcome__in=[Outcome.IN_PROGRESS, Outcome.COMPLETED])


def idle(study, now):
    """Place holders in progress whose last step is older than the limit that applies to them, longest idle first."""
    last_page = Trial.objects.filter(participant=OuterRef("pk"), shown_at__isnull=False).order_by(
        "-shown_at").values("shown_at")[:1]
    last_step = Greatest(F("arrived_at"), *(Coalesce(step, F("arrived_at")) for step in (
        F("consented_at"), F("instructions_read_at"), Subquery(last_page))))
    return place_holders(study).filter(outcome=Outcome.IN_PROGRESS).annotate(last_step=last_step).filter(
        Q(consented_at__isnull=True, last_step__lt=now - study.unconsented_limit)
        | Q(consented_at__isnull=False, last_step__lt=now - study.inactivity_limit)).order_by("last_step", "pk")


def places_taken(study, now=None):
    """Places taken as Prolific counts them: completed participants and those active (not idle)."""
    return place_holders(study).count() - idle(study, now or timezone.now()).count()


def expire_idle(study, now, count):
    """Mark the `count` longest idle participants expired, freeing their places; False (nothing changed) when
    fewer than `count` are idle."""
    chosen = list(idle(study, now).values_list("pk", flat=True)[:count])
    if len(chosen) < count:
        return False
    # Still idle: none resumed meanwhile. No code yet: they are away, and see one only if they come back
    # (participation.show_expiry_code records it then).
    expired = idle(study, now).filter(pk__in=chosen).order_by().update(outcome=Outcome.EXPIRED, ended_at=now,
                                                                        ending_code="")
    return expired == count


def refusal(study, now):
    """Why a new arrival cannot be admitted now (CLOSED or FULL), or "" when it can (freeing an idle place)."""
    if not study.is_open:
        return CLOSED
    if study.max_participants is None:
        return ""
    missing = place_holders(study).count() - study.max_participants + 1
    if missing > 0 and not expire_idle(study, now, missing):
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
    (participant,) = enroll_under_lock(
        locked, 1, source=source, external_id=arrival.external_id, external_session=arrival.external_session,
        external_submit_to=arrival.submit_to, arrived_at=now)
    return Admission(participant)
