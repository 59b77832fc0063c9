"""The researcher's decisions on participants (exclude, or include again).

One place for the rule, used by the console's bulk form and the admin's actions alike: a decision needs a reason
(surrounding spaces dropped, at most 300 characters); each participant gets one kept ExclusionDecision (who, when,
why; the latest stands; never edited); each study touched gets one ConsoleEvent (studyapp.access.record) and a log
line. Flags never decide. Who may decide on which study's participants is studyapp.access's DECIDE.
"""

from itertools import groupby

from django import forms
from django.db import transaction

from . import access
from .models import ExclusionDecision

REASON_MAX_LENGTH = ExclusionDecision._meta.get_field("reason").max_length
EXCLUDE, INCLUDE = "exclude", "include"  # the ConsoleEvent actions of a decision


class ReasonForm(forms.Form):
    """The reason every decision carries (the console's decision form and the admin's confirmation page)."""

    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH, strip=True,
        error_messages={"required": "Give a reason for the decision; it is kept with it.",
                        "max_length": f"Keep the reason to at most {REASON_MAX_LENGTH} characters."})


class BadReason(ValueError):
    pass


def decide(request, participants, excluded, reason):
    """Exclude (or include again) `participants` for `reason`, decided by the request's user: one kept decision
    each, one ConsoleEvent per study, all or nothing. Returns the participants decided on, by pseudonym.

    Raises BadReason (nothing stored) for a missing or too long reason: ReasonForm's rule."""
    form = ReasonForm({"reason": reason})
    if not form.is_valid():
        raise BadReason(form.errors["reason"][0])
    reason = form.cleaned_data["reason"]
    people = sorted(participants, key=lambda p: (p.study_id, p.pseudonym))
    user = request.user
    with transaction.atomic():
        ExclusionDecision.objects.bulk_create(
            ExclusionDecision(participant=p, excluded=excluded, reason=reason, decided_by=user,
                              decided_by_name=user.get_username()) for p in people)
        for _, group in groupby(people, key=lambda p: p.study_id):
            group = list(group)
            names = ", ".join(p.pseudonym for p in group)
            access.record(request, group[0].study, EXCLUDE if excluded else INCLUDE,
                          f"{len(group)}: {names[:200]} ({reason})")
    return sorted(people, key=lambda p: p.pseudonym)


def summary(people, excluded, reason):
    """The message after a decision: 'Excluded 3 participants: <reason>'."""
    return (f"{'Excluded' if excluded else 'Included'} {len(people)} participant{'s' if len(people) != 1 else ''}: "
            f"{reason}")
