"""The staff console: each study's live view (funnel, durations, participants with their page, times, flags and
the researcher's decisions), the decisions themselves, the open switch, the export as one zip, and the preview that
lets staff take a study as a participant. The report from the database is analysis.views' (the survey never imports the analysis).

Views are thin: the rows and summaries are studyapp.monitoring's, the flags studyapp.quality's, the files
studyapp.export's and studyapp.codebook's, the decisions studyapp.decisions' (as the admin's). Each view declares the
permission it needs on its study (studyapp.access decides who has it): a viewer sees the counts, an editor also
previews, an analyst also sees the participants, decides and downloads. Every view of participant data, download,
report and decision is logged (studyapp.access.record: ConsoleEvent).
"""

import io
import zipfile

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from . import access, balance, codebook, decisions, export, monitoring, pilot, readiness, recruitment
from .backends import PARTICIPANT_BACKEND
from .decorators import staff_required, study_permission_required
from .models import Participant, Study
from .views import see_other

PAGE_SIZE = 50
REFRESH_SECONDS = 60
SORT_LABELS = {"last_activity": "Last activity", "time_on_page": "Time on page", "total_time": "Total time",
               "progress": "Pages done", "participant": "Participant", "outcome": "Outcome", "flags": "Flags"}


class DecisionForm(decisions.ReasonForm):
    participant = forms.MultipleChoiceField(
        error_messages={"required": "Tick at least one participant to decide on.",
                        "invalid_choice": "%(value)s is not a participant of this study; nothing was stored."})
    decision = forms.ChoiceField(choices=[(decisions.EXCLUDE, "Exclude"), (decisions.INCLUDE, "Include")],
                                 error_messages={"required": "Choose Exclude or Include.",
                                                 "invalid_choice": "Choose Exclude or Include."})
    field_order = ["participant", "decision", "reason"]

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["participant"].choices = [
            (p, p) for p in study.participants.filter(is_preview=False).values_list("pseudonym", flat=True)]


@staff_required
def dashboard(request):
    """Every study the user may see, and the participants of those whose data their role shows."""
    participants = list(Participant.objects.filter(study__in=access.studies(request.user, access.VIEW_DATA))
                        .with_progress().select_related("study").order_by("study__title", "pseudonym"))
    for study in {p.study for p in participants}:
        access.record(request, study, access.CONSOLE_VIEWED, "all studies' participants", view=True)
    return render(request, "studyapp/dashboard.html",
                  {"studies": access.studies(request.user).order_by("-created_at"), "selected": None,
                   "participants": participants, "shows_data": True})


@study_permission_required(access.VIEW_STUDY)
def study_dashboard(request, study):
    return study_console(request, study)


def study_console(request, study, form=None, status=200, open_problems=()):
    """The study's console: its counts for every member; its participants for those whose role shows data."""
    sort = request.GET.get("sort", "last_activity")
    descending = request.GET.get("order", "desc") != "asc"
    if sort not in monitoring.SORTS:
        return HttpResponse(f"Unknown sort {sort!r}; sort by one of {', '.join(monitoring.SORTS)}.", status=400,
                            content_type="text/plain")
    now = timezone.now()
    may = access.permissions(request.user, study)
    shows_data = access.VIEW_DATA in may
    rows = monitoring.study_rows(study, now=now)
    page = Paginator(monitoring.sorted_rows(rows, sort, descending), PAGE_SIZE).get_page(request.GET.get("page"))
    flagged = sum(1 for r in rows if r.flags.flagged)
    pages = monitoring.page_stops(rows)
    refreshing = request.GET.get("refresh") != "off"  # WCAG 2.2.1: a way to stop the page refreshing itself
    toggle = request.GET.copy()
    if refreshing:
        toggle["refresh"] = "off"
    else:
        toggle.pop("refresh", None)
    scored = shows_data and export.has_tasks(study)
    if scored:
        fill_scores(study, page)
    if shows_data:
        access.record(request, study, access.CONSOLE_VIEWED, view=True)
    context = {
        "studies": access.studies(request.user).order_by("-created_at"), "selected": study, "now": now,
        "shows_data": shows_data, "may_decide": access.DECIDE in may, "may_preview": access.CHANGE_STUDY in may,
        "page": page if shows_data else None,
        "sort": sort, "order": "desc" if descending else "asc", "sort_labels": SORT_LABELS,
        "refresh": REFRESH_SECONDS if refreshing else None, "refresh_toggle": toggle.urlencode(),
        "funnel": monitoring.funnel(rows), "durations": monitoring.durations(study, rows),
        "page_stops": [page for page in pages if page[2] or page[3]], "page_count": len(pages),
        "outcomes": monitoring.outcome_counts(rows), "total": len(rows), "flagged": flagged,
        "stuck": sum(1 for r in rows if r.stuck), "excluded": sum(1 for r in rows if r.excluded),
        "study_link": study.study_link(request.build_absolute_uri("/")),
        "places_taken": recruitment.places_taken(study), "length": readiness.study_length(study),
        "consent_versions": study.consent_versions.annotate(agreed=Count("participants")).order_by("number"),
        "balance": balance.summary(balance.balance_frame(study)),
        "form": (form or DecisionForm(study=study)) if access.DECIDE in may else None,
        "open_problems": open_problems,
        "scored": scored, "pays_bonus": scored and study.bonus_per_correct is not None,
    }
    return render(request, "studyapp/dashboard.html", context, status=status)


def fill_scores(study, rows):
    """Each row's score and bonus, as the export's tasks.csv and bonus.csv count them (studyapp.export)."""
    answers = export.task_answers(study)
    scores, bonuses = export.scores(answers), export.bonuses(study, answers)
    for row in rows:
        row.score = scores.get(row.participant)
        row.bonus = bonuses.get(row.participant) if study.bonus_per_correct is not None else None


@study_permission_required(access.CHANGE_STUDY)
@require_http_methods(["POST"])
def open_switch(request, study):
    """Open the study to newcomers, or close it. Opening runs every opening check (Study.clean, studyapp.opening):
    a study that would fail at a participant's first page stays closed, the page (400) says why, nothing changes."""
    opening = request.POST.get("open") == "yes"
    if opening:
        study.is_open = True
        try:
            study.full_clean()
        except ValidationError as error:
            return study_console(request, Study.objects.get(pk=study.pk), status=400, open_problems=error.messages)
    study.is_open = opening
    study.save(update_fields=["is_open"])
    access.record(request, study, "open" if opening else "close")
    messages.success(request, f"The study is {'open: newcomers may arrive' if opening else 'closed to newcomers'}.")
    return see_other(reverse("studyapp:dashboard_study", kwargs={"slug": study.slug}))


@study_permission_required(access.DECIDE)
@require_http_methods(["POST"])
def decide(request, study):
    """Exclude or include the ticked participants, with a reason: one kept decision each (who, when, why)."""
    form = DecisionForm(request.POST, study=study)
    if not form.is_valid():
        return study_console(request, study, form=form, status=400)
    excluded = form.cleaned_data["decision"] == decisions.EXCLUDE
    reason = form.cleaned_data["reason"]
    people = decisions.decide(request, study.participants.filter(pseudonym__in=form.cleaned_data["participant"]),
                              excluded, reason)
    messages.success(request, decisions.summary(people, excluded, reason))
    return see_other(reverse("studyapp:dashboard_study", kwargs={"slug": study.slug}))


def export_zip_bytes(study):
    """Every export CSV plus codebook.md and codebook.json (of the files it holds), as one zip."""
    buffer = io.BytesIO()
    frames = export.export_frames(study)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, frame in frames.items():
            archive.writestr(f"{study.slug}/{name}", export.csv_text(name, frame))
        archive.writestr(f"{study.slug}/codebook.md", codebook.codebook_markdown(frames))
        archive.writestr(f"{study.slug}/codebook.json", codebook.codebook_json(frames))
    return buffer.getvalue()


def export_zip_response(request, study, token=None):
    """The export zip as a download, logged (the console's button and the API's export alike)."""
    data = export_zip_bytes(study)
    access.record(request, study, access.EXPORTED, f"{len(data)} bytes", token=token)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-export-{stamp}.zip"'
    return response


@study_permission_required(access.VIEW_DATA)
@require_GET
def export_zip(request, study):
    return export_zip_response(request, study)


@study_permission_required(access.VIEW_STUDY)
@require_GET
def activity_png(request, study):
    """Arrivals, consents and completions over time: counts, for every member."""
    times = list(study.participants.filter(is_preview=False).values_list("arrived_at", "consented_at",
                                                                          "completed_at"))
    return HttpResponse(monitoring.activity_figure(times, timezone.get_current_timezone()), content_type="image/png")


@study_permission_required(access.CHANGE_STUDY)
@require_http_methods(["POST"])
def preview(request, study):
    """Take the study as a new preview participant, through the participants' own pages (logs the researcher out)."""
    participant = pilot.enroll_preview(study)
    login(request, participant.user, backend=PARTICIPANT_BACKEND)
    return see_other(reverse("studyapp:survey"))
