"""The researcher's admin: studies and participants, and the answers read-only.

Answers are evidence: the admin shows and filters them but neither adds nor edits them.
Invite tokens log a participant in, so no list shows them; a participant's page does.
Justifications are shown through Django's default escaping (nothing here is mark_safe).
Participants are never deleted here: their answers and background are erased (an action, with a
confirmation page) and their audit row stays, for returns and payments.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import login
from django.db import models
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse

from . import balance, decisions, participation, pilot, readiness
from .models import (
    AttentionCheck, ChoiceResponse, ConsentVersion, ConsoleEvent, ExclusionDecision, LikertResponse, Outcome, Participant,
    Study, Trial,
)
from .schema import DELETED_OUTCOMES


def count_column(annotation, description):
    """A list column showing (and sorting by) a count that get_queryset annotates."""
    @admin.display(description=description, ordering=annotation)
    def column(self, obj):
        return getattr(obj, annotation)
    return column


class KeptRecordsInline(admin.TabularInline):
    """Records kept as they were made: shown, never added, edited or deleted here (subclasses set `fields`)."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class ConsentVersionInline(KeptRecordsInline):
    """Every consent text the study has shown; kept as they were, never edited."""

    model = ConsentVersion
    fields = ["number", "created_at", "text", "participant_count"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(participant_total=Count("participants")).order_by("number")

    participant_count = count_column("participant_total", "participants who agreed")


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "recruitment_source", "is_open", "stimulus_count", "length",
                    "participant_count", "started_count", "completed_count", "created_at"]
    search_fields = ["title", "slug"]
    filter_horizontal = ["stimuli"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["created_at", "copied_from", "length", "design_balance"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [ConsentVersionInline]
    actions = ["preview", "duplicate_as_pilot"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "seed", "created_at", "copied_from"]}),
        ("Consent", {"fields": ["consent_text"],
                     "description": "Saving a changed text makes a new consent version (listed below); participants "
                                    "keep the version they agreed to."}),
        ("Pages", {"fields": ["stimuli", "sufficiency_statement", "trust_statement", "likert_labels",
                              "comparison_count", "attention_checks", "attention_failure_ending", "length",
                              "seconds_per_page"]}),
        ("Design", {"fields": ["comparison", "views_per_image", "design_balance"],
                    "description": "The conditions are the model x method cells of the study's stimuli. The "
                                   "balance counts the pages participants' plans show (export: balance.csv)."}),
        ("Recruitment", {
            "fields": ["recruitment_source", "id_parameter", "is_open", "max_participants", "inactivity_limit",
                       "unconsented_limit"],
            "description": "The platform sends everyone to the study link shown at the top of this page (once "
                           "a source is saved); each platform ID gets one participant.",
        }),
        ("Data-quality flags and the console", {
            "fields": ["speeder_sd", "speeder_min_completions", "page_floor_ms", "straightlining_share",
                       "straightlining_min_ratings", "stuck_after"],
            "description": "Thresholds of the flags the console and participants.csv show (docs: Monitor, review "
                           "and exclude). Flags never exclude anyone: you decide on the console, with a reason.",
        }),
        ("Endings", {
            "fields": [field for fields in Study.ENDING_FIELDS.values() for field in fields],
            "description": "Each ending shows its code, or sends the participant to its URL. Prolific's "
                           "completion URL is https://app.prolific.com/submissions/complete?cc={code}; "
                           "MTurk's HITs are handed in through MTurk's own form.",
        }),
    ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        study = self.get_object(request, object_id)
        if study and request.method == "GET":
            self.warn_of_conflicts(request, study)
        link = study.study_link(request.build_absolute_uri("/")) if study else ""
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "study_link": link})

    @admin.action(description="Preview: take the selected study as a participant (logs you out of the admin)",
                  permissions=["change"])
    def preview(self, request, queryset):
        """Log in as a new preview participant of the one selected study and open its first page."""
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one study to preview.", messages.ERROR)
            return None
        participant = pilot.enroll_preview(queryset.get())
        login(request, participant.user)
        return redirect("studyapp:survey")

    @admin.action(description="Duplicate the selected studies as closed pilot copies", permissions=["add"])
    def duplicate_as_pilot(self, request, queryset):
        copies = [pilot.pilot_copy(study) for study in queryset]
        self.message_user(request, "Made " + ", ".join(f"{copy.slug!r} ({copy.title})" for copy in copies)
                          + ": closed, without participants. Open one to rehearse; its participants' times "
                            "estimate the original's duration.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "_continue" not in request.POST:  # else the study's page, shown next, warns
            self.warn_of_conflicts(request, obj)

    def warn_of_conflicts(self, request, study):
        """The study's settings that conflict with its platform's rules, as warnings (saving is still allowed)."""
        for conflict in readiness.rule_conflicts(study):
            self.message_user(request, conflict, messages.WARNING)

    def get_queryset(self, request):
        """Counts of participants without researchers' previews; started and completed ones whose answers are kept
        (withdrawn and erased people are counted by their outcome, as in the dashboard and the report)."""
        real = Q(participants__is_preview=False)
        kept = real & ~Q(participants__outcome__in=DELETED_OUTCOMES)
        return super().get_queryset(request).annotate(
            stimulus_total=Count("stimuli", distinct=True),
            participant_total=Count("participants", filter=real, distinct=True),
            started_total=Count("participants", filter=kept & Q(participants__consented_at__isnull=False),
                                distinct=True),
            completed_total=Count("participants", filter=kept & Q(participants__completed_at__isnull=False),
                                  distinct=True),
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "stimuli":
            kwargs["queryset"] = db_field.remote_field.model.objects.select_related("source_image")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="pages per participant and estimated duration")
    def length(self, study):
        """What to tell Prolific: e.g. '67 trials + 3 pages; about 14 min' (saved studies only)."""
        return str(readiness.study_length(study)) if study.pk else "-"

    @admin.display(description="balance")
    def design_balance(self, study):
        """Each condition's count by image and side-by-side position (studyapp.balance)."""
        if not study.pk:
            return "-"
        return render_to_string("studyapp/balance_table.html",
                                {"balance": balance.summary(balance.balance_frame(study))})

    stimulus_count = count_column("stimulus_total", "stimuli")
    participant_count = count_column("participant_total", "participants")
    started_count = count_column("started_total", "started")
    completed_count = count_column("completed_total", "completed")


class ExclusionDecisionInline(KeptRecordsInline):
    """The researcher's decisions on the participant, newest first: kept, never edited (made on the console or by
    the participant list's actions)."""

    model = ExclusionDecision
    fields = ["decided_at", "excluded", "reason", "decided_by_name"]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    """Participants are enrolled by `manage.py create_participants` (invite links) or arrive through the study
    link; either way their token and seed are minted for them. Platform IDs are searchable, for payments."""

    list_display = ["pseudonym", "study", "source", "outcome", "consented", "completed", "progress"]
    list_filter = ["study", "outcome", "source", "is_preview", ("consented_at", admin.EmptyFieldListFilter),
                   ("completed_at", admin.EmptyFieldListFilter)]
    search_fields = ["pseudonym", "external_id"]
    list_select_related = ["study"]
    fields = ["pseudonym", "study", "user", "invite_token", "seed", "source", "external_id", "external_session",
              "external_submit_to", "arrived_at", "consent_version", "consented_at", "instructions_read_at",
              "background_given_at", "completed_at", "outcome",
              "ended_at", "ending_code", "degree", "cv_experience_years"]
    readonly_fields = fields  # answers are evidence: the background too (docs/how-to/personal-data.md); erasure is an action
    actions = ["exclude_selected", "include_selected", "erase_data"]
    inlines = [ExclusionDecisionInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit row stays: erase a participant's data instead

    def has_erase_permission(self, request):
        return request.user.has_perm("studyapp.erase_participant")

    @admin.action(description="Erase the selected participants' answers and background", permissions=["erase"])
    def erase_data(self, request, queryset):
        """Ask first (a page listing who), then erase; the participants' audit rows stay."""
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/studyapp/participant/erase_confirmation.html", {
                **self.admin_site.each_context(request), "title": "Erase these participants' data?",
                "participants": queryset.select_related("study"), "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            })
        erased = {participant.pseudonym: participation.erase(participant, Outcome.ERASED) for participant in queryset}
        done = sorted(name for name, erasure in erased.items() if not erasure.already)
        answers = sum(erasure.answers for erasure in erased.values())
        self.message_user(request, f"Erased the answers ({answers}) and background of {len(done)} participant(s): "
                                   f"{', '.join(done) or 'none'}. Their audit rows stay.", messages.SUCCESS)
        already = sorted(name for name, erasure in erased.items() if erasure.already)
        if already:
            self.message_user(request, f"Already deleted before: {', '.join(already)}.", messages.INFO)
        return None

    @admin.action(description="Exclude selected participants", permissions=["change"])
    def exclude_selected(self, request, queryset):  # not `exclude`: ModelAdmin.exclude names the form's fields
        return self.decide(request, queryset, excluded=True)

    @admin.action(description="Include selected participants", permissions=["change"])
    def include_selected(self, request, queryset):
        return self.decide(request, queryset, excluded=False)

    def decide(self, request, queryset, excluded):
        """Ask for the reason (a page listing who), then keep one decision each, as the console's form does."""
        action = "exclude_selected" if excluded else "include_selected"
        confirmed = request.POST.get("confirmed") == "yes"
        form = decisions.ReasonForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            people = decisions.decide(request.user, queryset.select_related("study"), excluded,
                                      form.cleaned_data["reason"])
            self.message_user(request, decisions.summary(people, excluded, form.cleaned_data["reason"]),
                              messages.SUCCESS)
            return None
        if confirmed:
            self.message_user(request, "Nothing was stored: " + " ".join(form.errors["reason"]), messages.ERROR)
        return TemplateResponse(request, "admin/studyapp/participant/decision_confirmation.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"{'Exclude' if excluded else 'Include'} these participants?", "action": action,
            "excluded": excluded, "form": form, "participants": queryset.select_related("study"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }, status=400 if confirmed else 200)

    def get_queryset(self, request):
        return super().get_queryset(request).with_progress()

    @admin.display(boolean=True, ordering="consented_at")
    def consented(self, participant):
        return participant.consented_at is not None

    @admin.display(boolean=True, ordering="completed_at")
    def completed(self, participant):
        return participant.completed_at is not None

    @admin.display(description="pages answered", ordering="trials_done")
    def progress(self, participant):
        return f"{participant.trials_done} / {participant.trials_total}" if participant.trials_total else "-"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, searched and filtered; never added or edited through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Trial)
class TrialAdmin(ReadOnlyAdmin):
    list_display = ["participant", "position", "kind", "stimulus", "shown_at"]
    list_filter = ["participant__study", "kind", "stimulus__variant"]
    search_fields = ["participant__pseudonym"]
    list_select_related = ["participant", "stimulus__source_image"]


class AnswerAdmin(ReadOnlyAdmin):
    """An answer, listed with the participant and page of its trial."""

    search_fields = ["trial__participant__pseudonym"]

    @admin.display(ordering="trial__participant__pseudonym")
    def participant(self, answer):
        return answer.trial.participant

    @admin.display(description="page", ordering="trial__position")
    def position(self, answer):
        return answer.trial.position


@admin.register(LikertResponse)
class LikertResponseAdmin(AnswerAdmin):
    list_display = ["participant", "position", "stimulus", "sufficiency", "trust", "rt_ms", "answered_at"]
    list_filter = ["trial__participant__study", "trial__stimulus__variant", "sufficiency", "trust"]
    search_fields = [*AnswerAdmin.search_fields, "trial__stimulus__source_image__class_name"]
    list_select_related = ["trial__participant", "trial__stimulus__source_image"]

    @admin.display(ordering="trial__stimulus")
    def stimulus(self, response):
        return response.trial.stimulus


@admin.register(ChoiceResponse)
class ChoiceResponseAdmin(AnswerAdmin):
    list_display = ["participant", "position", "source_image", "chosen", "justification", "rt_ms", "answered_at"]
    list_filter = ["trial__participant__study", "chosen__variant"]
    search_fields = [*AnswerAdmin.search_fields, "justification"]
    list_select_related = ["trial__participant", "trial__source_image", "chosen__source_image"]

    @admin.display(description="image", ordering="trial__source_image")
    def source_image(self, response):
        return response.trial.source_image


@admin.register(AttentionCheck)
class AttentionCheckAdmin(AnswerAdmin):
    list_display = ["participant", "position", "target", "answer", "passed", "answered_at"]
    list_filter = ["trial__participant__study"]
    list_select_related = ["trial__participant"]

    @admin.display(description="asked for", ordering="trial__attention_target")
    def target(self, check):
        return check.trial.attention_target

    @admin.display(boolean=True)
    def passed(self, check):
        return check.passed


@admin.register(ExclusionDecision)
class ExclusionDecisionAdmin(ReadOnlyAdmin):
    list_display = ["participant", "excluded", "reason", "decided_by_name", "decided_at"]
    list_filter = ["participant__study", "excluded"]
    search_fields = ["participant__pseudonym", "reason"]
    list_select_related = ["participant"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsoleEvent)
class ConsoleEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "study", "username", "action", "detail"]
    list_filter = ["study", "action"]

    def has_delete_permission(self, request, obj=None):
        return False
