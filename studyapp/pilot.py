"""Trying a study before launch: a researcher's preview through the participant pages, and pilot copies.

A preview participant is enrolled like any other (same pages, same plan drawing) but is marked
`is_preview`: it holds no place, and exports and analyses leave it out unless asked. A pilot copy is a
closed copy of a study's settings and stimuli, to rehearse on; its participants' real times estimate
the original's duration (studyapp.readiness).
"""

from django.db import transaction
from django.utils import timezone

from .enrollment import enroll_participants
from .models import PREVIEW_SOURCE, Membership, Study

PILOT_SUFFIX = "-pilot"
NOT_COPIED = {"id", "slug", "is_open", "created_at", "copied_from", "is_pilot"}


def enroll_preview(study):
    """A new preview participant of `study`, arrived now (the staff member is logged in as it to take the study)."""
    (participant,) = enroll_participants(study, 1, source=PREVIEW_SOURCE, is_preview=True, arrived_at=timezone.now())
    return participant


def free_slug(base):
    """`base`, or `base-2`, `base-3`, ... : the first that no study has (within the slug's 50 characters)."""
    taken = set(Study.objects.filter(slug__startswith=base[:40]).values_list("slug", flat=True))
    candidates = (base if n == 1 else f"{base[:40]}-{n}" for n in range(1, len(taken) + 2))
    return next(slug for slug in candidates if slug not in taken)


@transaction.atomic
def pilot_copy(study):
    """A closed copy of `study`'s settings, texts, endings, stimuli, blocks, task conditions and members, named
    '<slug>-pilot'; no participants. Its title is the study's, as its participants see it: staff see it marked
    (Study.staff_title)."""
    values = {field.name: getattr(study, field.name) for field in Study._meta.concrete_fields
              if field.name not in NOT_COPIED}
    copy = Study.objects.create(**values, slug=free_slug(study.slug[:50 - len(PILOT_SUFFIX)] + PILOT_SUFFIX),
                                is_open=False, copied_from=study, is_pilot=True)
    copy.stimuli.set(study.stimuli.all())
    for rows in (study.blocks, study.task_conditions):
        fields = [field.name for field in rows.model._meta.concrete_fields if field.name not in ("id", "study")]
        rows.model.objects.bulk_create(rows.model(**row, study=copy) for row in rows.order_by("pk").values(*fields))
    Membership.objects.bulk_create(Membership(study=copy, user_id=user_id, role=role)
                                   for user_id, role in study.memberships.values_list("user_id", "role"))
    return copy
