"""A study with many participants in every state the console shows, written straight to the database (fast); and
reading a participant's row of the console."""

import re
from datetime import timedelta

from django.utils import timezone

from studyapp.enrollment import enroll_participants
from studyapp.models import (
    AttentionCheck, ChoiceResponse, ExclusionDecision, LikertResponse, Outcome, Participant, Trial,
)
from studyapp.survey import start_study


INSTRUCTIONS_TIME, BACKGROUND_TIME = timedelta(seconds=40), timedelta(seconds=25)  # every consented participant's


def populate(study, count, now=None, researcher=None):
    """`count` participants: every fourth completed (one of them a speeder once enough completed), every fourth
    stuck halfway, some never consented, one straight-liner, one excluded by `researcher`. Returns them by state."""
    now = now or timezone.now()
    version = study.ensure_consent_version()
    people = enroll_participants(study, count)
    states = {"completed": [], "stuck": [], "arrived": [], "active": []}
    likert, checks, choices, showing = [], [], [], []
    for n, person in enumerate(people):
        state = ("completed", "stuck", "arrived", "active")[n % 4]
        states[state].append(person)
        began = now - timedelta(hours=3) + timedelta(seconds=n)
        Participant.objects.filter(pk=person.pk).update(arrived_at=began)
        if state == "arrived":
            continue
        start_study(person, version)
        done_at = began + (timedelta(minutes=20, seconds=11 * n) if n else timedelta(minutes=1))  # the first is fast
        fields = {"consented_at": began, "instructions_read_at": began + INSTRUCTIONS_TIME,
                  "background_given_at": began + INSTRUCTIONS_TIME + BACKGROUND_TIME, "degree": "master",
                  "cv_experience_years": 2}
        trials = list(Trial.objects.filter(participant=person).order_by("position"))
        answered = trials if state == "completed" else trials[: len(trials) // 2]
        if state == "active":
            showing.append(trials[len(answered)].pk)
        for k, trial in enumerate(answered):
            hides = None if k % 3 == 0 else k % 2
            shown = began + timedelta(seconds=30 * k)
            Trial.objects.filter(pk=trial.pk).update(shown_at=shown)
            if trial.kind == Trial.Kind.RATING:
                same = n == 4  # a straight-liner
                likert.append(LikertResponse(trial=trial, sufficiency=3 if same else k % 5 + 1,
                                             trust=3 if same else (k + 2) % 5 + 1, rt_ms=500 if n == 0 else 4000 + k,
                                             page_hides=hides))
            elif trial.kind == Trial.Kind.ATTENTION:
                wrong = n == 8  # fails every check
                checks.append(AttentionCheck(trial=trial, answer=(trial.attention_target % 5) + 1 if wrong
                                             else trial.attention_target, rt_ms=3000, page_hides=hides))
            else:
                choices.append(ChoiceResponse(trial=trial, chosen_id=trial.left_id, justification="clear", rt_ms=9000,
                                              page_hides=hides))
        if state == "completed":
            fields.update(outcome=Outcome.COMPLETED, completed_at=done_at, ended_at=done_at, ending_code="DONE")
        else:
            fields["arrived_at"] = began
        Participant.objects.filter(pk=person.pk).update(**fields)
    LikertResponse.objects.bulk_create(likert)
    AttentionCheck.objects.bulk_create(checks)
    ChoiceResponse.objects.bulk_create(choices)
    # The active ones have just shown a page; the stuck ones showed their last an hour ago.
    for model in (LikertResponse, AttentionCheck, ChoiceResponse):  # answered_at is set on insert: move it back
        model.objects.filter(trial__participant__in=states["stuck"]).update(answered_at=now - timedelta(hours=1))
        model.objects.filter(trial__participant__in=states["completed"]).update(answered_at=now - timedelta(hours=2))
    Trial.objects.filter(pk__in=showing).update(shown_at=now)
    Trial.objects.filter(participant__in=states["stuck"], shown_at__isnull=False).update(
        shown_at=now - timedelta(hours=1))
    if researcher is not None and states["completed"][1:]:
        ExclusionDecision.objects.create(participant=states["completed"][1], excluded=True, reason="said so in chat",
                                         decided_by=researcher, decided_by_name=researcher.get_username())
    return states


def cells_of(html, name):
    """The console row of participant `name`: its classes and its data cells (the row header, with its Select box,
    left out): started, trials done, completed, attention, outcome, current page, last activity, time on page,
    total time, flags, decision."""
    row = re.search(rf'<tr class="([^"]*)"><th scope="row"><input type="checkbox" name="participant" '
                    rf'value="{name}"[^>]*> {name}</th>(.*?)</tr>', html, re.S)
    return row.group(1), re.findall(r"<td>(.*?)</td>", row.group(2), re.S)
