"""The staff console: each study's participants, their progress, outcomes, places and consent versions."""

from django.db.models import Count
from django.shortcuts import get_object_or_404, render

from . import recruitment
from .decorators import staff_required
from .models import Outcome, Participant, Study


@staff_required
def dashboard(request, slug=None):
    studies = Study.objects.order_by("-created_at")
    selected = get_object_or_404(Study, slug=slug) if slug else None
    participants = (Participant.objects.filter(study__in=[selected] if selected else studies).with_progress()
                    .select_related("study").order_by("study__title", "pseudonym"))
    summary = {}
    if selected:
        outcomes = dict(selected.participants.values_list("outcome").annotate(n=Count("id")).order_by())
        summary = {
            "study_link": selected.study_link(request.build_absolute_uri("/")),
            "places_taken": recruitment.places_taken(selected),
            "outcomes": [(label, outcomes.get(value, 0)) for value, label in Outcome.choices],
            "consent_versions": selected.consent_versions.annotate(agreed=Count("participants")).order_by("number"),
        }
    return render(request, "studyapp/dashboard.html",
                  {"studies": studies, "selected": selected, "participants": participants, **summary})
