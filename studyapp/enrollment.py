"""Enrol participants in a study: a login-less user, a pseudonym, an invite token, a recorded seed.

Shared by `create_participants`, `create_demo_study`, `simulate_participants` and arrivals through a
study link (studyapp/recruitment.py), so that a rehearsal enrols people exactly as a live study does.
"""

import re
import secrets
from argparse import ArgumentTypeError
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast, Substr
from django.urls import reverse

from .invites import mint_invite_token
from .models import Participant, Study
from .randomization import participant_seed

PSEUDONYM = re.compile(r"^P(\d+)$")


def next_pseudonyms(existing, count):
    """`count` new pseudonyms P0001, P0002, ... after the highest one in `existing`."""
    numbers = [int(m.group(1)) for m in map(PSEUDONYM.match, existing) if m]
    start = max(numbers, default=0) + 1
    return [f"P{n:04d}" for n in range(start, start + count)]


def highest_pseudonym_number():
    """The highest N of the stored pseudonyms P<N> (0 when there are none), as `next_pseudonyms` reads them.

    One aggregate in the database instead of every participant's pseudonym sent to Python: an arrival through
    a study link runs this under the study's lock, and a launch's arrivals queue for that lock.
    (Numbers of more than 18 digits, which no enrolment makes, are left out: they do not fit a bigint.)
    """
    return Participant.objects.filter(pseudonym__regex=r"^P[0-9]{1,18}$").aggregate(
        highest=Max(Cast(Substr("pseudonym", 2), BigIntegerField())))["highest"] or 0


@transaction.atomic
def enroll_participants(study, count, **fields):
    """Create `count` participants of `study` with `fields` (e.g. a platform ID); all or none (one transaction)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    locked = Study.objects.select_for_update().get(pk=study.pk)  # serialises concurrent enrolments
    return enroll_under_lock(locked, count, **fields)


def enroll_under_lock(study, count, **fields):
    """`enroll_participants` for a caller that holds `study`'s row lock in its open transaction already
    (an arrival through a study link): the same participants, without locking the row a second time."""
    number = study.participants.count()  # creation order: participant_seed balances positions by it
    pseudonyms = next_pseudonyms([f"P{highest_pseudonym_number()}"], count)
    user_model = get_user_model()
    participants = []
    for offset, pseudonym in enumerate(pseudonyms):
        # The username is random and opaque: it never appears in an export or an invite link.
        user = user_model(username=f"participant-{secrets.token_hex(8)}")
        user.set_unusable_password()
        user.save()
        participants.append(Participant.objects.create(
            study=study, user=user, pseudonym=pseudonym, invite_token=mint_invite_token(),
            seed=participant_seed(study.seed, number + offset), **fields,
        ))
    return participants


def base_url_argument(value):
    """argparse type of --base-url: an http(s) scheme and a host, nothing after the path; or empty."""
    parts = urlsplit(value)
    if value and (parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment):
        raise ArgumentTypeError(f"expected a URL such as https://study.example.org, got {value!r}")
    return value


def invite_url(participant, base_url=""):
    """The participant's personal link; a path alone when no base URL is given."""
    return base_url.rstrip("/") + reverse("studyapp:invite", kwargs={"token": participant.invite_token})
