"""The staff console: each study's participants, their progress, outcomes, places and consent versions, and the
preview that lets staff take a study as a participant."""

from django.contrib.auth import login
from django.db.models import Count
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from . import balance, pilot, readiness, recruitment
from .decorators import staff_required
from .models import Outcome, Participant, Study
from .views import see_other


@staff_required
def dashboard(request, slug=None):
    studies = Study.objects.order_by("-created_at")
    selected = get_object_or_404(Study, slug=slug) if slug else None
    participants = (Participant.objects.filter(study__in=[selected] if selected else studies).with_progress()
                    .select_related("study").order_by("study__title", "pseudonym"))
    summary = {}
    if selected:
        outcomes = dict(selected.participants.filter(is_preview=False).values_list("outcome").annotate(
            n=Count("id")).order_by())
        summary = {
            "study_link": selected.study_link(request.build_absolute_uri("/")),
            "places_taken": recruitment.places_taken(selected),
            "length": readiness.study_length(selected),
            "outcomes": [(label, outcomes.get(value, 0)) for value, label in Outcome.choices],
            "consent_versions": selected.consent_versions.annotate(agreed=Count("participants")).order_by("number"),
            "balance": balance.summary(balance.balance_frame(selected)),
        }
    return render(request, "studyapp/dashboard.html",
                  {"studies": studies, "selected": selected, "participants": participants, **summary})


@staff_required
@require_http_methods(["POST"])
def preview(request, slug):
    """Take the study as a new preview participant, through the participants' own pages (logs the researcher out)."""
    participant = pilot.enroll_preview(get_object_or_404(Study, slug=slug))
    login(request, participant.user)
    return see_other(reverse("studyapp:survey"))
