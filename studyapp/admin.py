"""The researcher's admin: studies and participants, and the answers read-only.

Each user sees only the studies they are members of, and in them what their role allows (studyapp.access decides;
superusers see all): every study-scoped list, page, filter and action goes through StudyScopedAdmin. Their views of
participant data are kept in the access log (ConsoleEvent). A study's owner manages its members on its page; each
researcher makes their own API tokens (shown once).

Answers are evidence: the admin shows and filters them but neither adds nor edits them.
Invite tokens log a participant in, so no list shows them; a participant's page does.
Justifications are shown through Django's default escaping (nothing here is mark_safe).
Participants are never deleted here: their answers and background are erased (an action, with a
confirmation page) and their audit row stays, for returns and payments.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model, login
from django.db import models
from django.db.models import Count, Q
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from . import access, balance, decisions, participation, pilot, readiness
from .backends import PARTICIPANT_BACKEND
from .models import (
    ApiToken, AttentionCheck, Block, ChoiceResponse, ConsentVersion, ConsoleEvent, ExclusionDecision, LikertResponse,
    Membership, Outcome, Participant, Role, Study, TaskCondition, Trial,
)
from .schema import DELETED_OUTCOMES, NO_MAP_CONDITION

ADD_STUDY = "studyapp.add_study"  # the one global permission that matters here: to create a study (and own it)


def count_column(annotation, description):
    """A list column showing (and sorting by) a count that get_queryset annotates."""
    @admin.display(description=description, ordering=annotation)
    def column(self, obj):
        return getattr(obj, annotation)
    return column


class StudyScopedAdmin(admin.ModelAdmin):
    """Rows that belong to a study: a user sees those of the studies where their role has `view_permission`, may
    change or delete them where it has `change_permission` or `delete_permission` (None: nobody, here), and adds
    none. With `logged`, a user's views of the list and of each row's page are kept in the access log."""

    study_path = None  # from a row to its study, e.g. "participant__study"; "" for a study
    view_permission = access.VIEW_DATA
    change_permission = None
    delete_permission = None
    logged = True

    def study_of(self, obj):
        for name in filter(None, self.study_path.split("__")):
            obj = getattr(obj, name)
        return obj

    def study_key(self):
        return f"{self.study_path}__pk" if self.study_path else "pk"

    def may(self, request, permission, obj=None):
        if permission is None:
            return False
        if obj is None:
            return access.may_any(request.user, permission)
        return request.user.has_perm(permission, self.study_of(obj))

    def get_queryset(self, request):
        return access.scope(super().get_queryset(request), request.user, self.view_permission, self.study_path)

    def has_module_permission(self, request):
        return access.may_any(request.user, access.VIEW_STUDY) or request.user.has_perm(ADD_STUDY)

    def has_view_permission(self, request, obj=None):
        return self.may(request, self.view_permission, obj)

    def has_change_permission(self, request, obj=None):
        return self.may(request, self.change_permission, obj)

    def has_delete_permission(self, request, obj=None):
        return self.may(request, self.delete_permission, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        shown = getattr(response, "context_data", None) or {}
        if self.logged and request.method == "GET" and "cl" in shown:
            rows = [row.pk for row in shown["cl"].result_list]
            ids = set(self.model._default_manager.filter(pk__in=rows).values_list(self.study_key(), flat=True))
            for study in Study.objects.filter(pk__in=ids):
                access.record(request, study, f"admin: {self.opts.model_name} list",
                              f"{self.opts.verbose_name_plural} ({request.GET.urlencode()[:200]})", view=True)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = getattr(response, "context_data", None) or {}
        if self.logged and request.method == "GET" and shown.get("original") is not None:
            access.record(request, self.study_of(shown["original"]), f"admin: {self.opts.model_name}",
                          str(shown["original"]))
        return response

    def refuse_beyond_role(self, request, queryset, permission, what):
        """None when the user's role allows `permission` on the study of every row in `queryset`; else (after
        saying which studies do not allow `what`) the response that refuses the whole action."""
        studies = Study.objects.filter(pk__in=queryset.values(self.study_key()))
        refused = sorted(study.slug for study in studies if not request.user.has_perm(permission, study))
        if not refused:
            return None
        self.message_user(request, f"Your role does not allow you to {what} in {', '.join(refused)}: nothing was "
                                   "done.", messages.ERROR)
        return redirect(request.get_full_path())


class KeptRecordsInline(admin.TabularInline):
    """Records kept as they were made: shown, never added, edited or deleted here (subclasses set `fields`). They
    are shown to whoever may see the page they are on: its admin decided that."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    has_change_permission = has_delete_permission = has_add_permission


class ConsentVersionInline(KeptRecordsInline):
    """Every consent text the study has shown; kept as they were, never edited."""

    model = ConsentVersion
    fields = ["number", "created_at", "text", "participant_count"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(participant_total=Count("participants")).order_by("number")

    participant_count = count_column("participant_total", "participants who agreed")


class StudyForm(forms.ModelForm):
    """The study's form: the opening checks (Study.clean) see the stimuli it is about to save, not the stored ones (and
    the blocks and task conditions its inline formsets are about to save: StudySettingsFormSet)."""

    def clean(self):
        cleaned = super().clean()
        if "stimuli" in cleaned:
            self.instance.stimuli_to_save = cleaned["stimuli"]
        return cleaned


class MembershipFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [form.cleaned_data for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if kept and not any(member["role"] == Role.OWNER for member in kept):
            raise forms.ValidationError("Keep at least one owner: only an owner (or a superuser) can manage the "
                                        "members, erase data and see the access log.")


class MembershipInline(admin.TabularInline):
    """Who may see the study, and do what (studyapp.access): managed by its owners."""

    model = Membership
    formset = MembershipFormSet
    fields = ["user", "role", "added_at"]
    readonly_fields = ["added_at"]
    extra = 1
    verbose_name_plural = "members (staff users who are no member do not see this study)"

    def get_formset(self, request, obj=None, **kwargs):
        """Members are chosen among researchers (active staff), never participants' accounts; the study's members
        whose account was disabled since stay listed, so that the page can still be saved."""
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.base_fields["user"].queryset = get_user_model().objects.filter(
            Q(is_staff=True, is_active=True) | Q(study_memberships__study=obj)).distinct().order_by("username")
        return formset

    def manages(self, request, study=None):
        """Asked with the study, or without it (the members' list itself): StudyAdmin.get_inlines shows this inline
        only on the page of a study the user manages."""
        if study is None:
            return access.may_any(request.user, access.MANAGE_MEMBERS)
        return request.user.has_perm(access.MANAGE_MEMBERS, study)

    def has_view_permission(self, request, obj=None):
        return self.manages(request, obj)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


class UsedRowsFormSet(BaseInlineFormSet):
    """A study's rows that participants' data already refer to (through `used_by`, a related name) are not changed:
    their answers would then seem to answer pages they never saw. Deleting one is refused by its protected
    references (Django names them)."""

    used_by = None

    def clean(self):
        super().clean()
        changed = [form.instance.pk for form in self.initial_forms if form.has_changed() and form.instance.pk
                   and not self._should_delete_form(form) and getattr(form.instance, self.used_by).exists()]
        if changed:  # named as stored (the forms' instances hold the changes already)
            stored = ", ".join(map(str, self.model.objects.filter(pk__in=changed)))
            raise forms.ValidationError(f"Participants already took part under {stored}: it stays as they saw it. "
                                        "Add a new row, or make a pilot copy of the study to change it there.")


class RowsToSave:
    """The rows a bound inline formset is about to save: its forms' instances, less those marked for deletion and the
    extra forms left empty; the stored rows while the formset has errors (it saves nothing then). Read when iterated,
    validating the formset (once) if it was not yet."""

    def __init__(self, formset):
        self.formset = formset

    def __iter__(self):
        formset = self.formset
        if not formset.is_valid():
            return iter(formset.get_queryset())
        return iter([form.instance for form in formset.forms
                     if not form.cleaned_data.get("DELETE") and (form in formset.initial_forms or form.has_changed())])


class StudySettingsFormSet(UsedRowsFormSet):
    """The rows of a study's own definition that its opening checks read (its blocks, its task conditions). Bound,
    the formset hands the study (its `to_save` attribute) the rows it is about to save: the admin makes the inline
    formsets before it validates the study's form, so Study.clean opens a study on the blocks and conditions of the
    same save, never on the stored ones (a block added as the study opens could otherwise make every participant's
    first page fail)."""

    to_save = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            setattr(self.instance, self.to_save, RowsToSave(self))


class BlockFormSet(StudySettingsFormSet):
    used_by = "trials"
    to_save = "blocks_to_save"


class TaskConditionFormSet(StudySettingsFormSet):
    used_by = "participants"
    to_save = "task_conditions_to_save"


class StudySettingsInline(admin.TabularInline):
    """Rows of the study's own definition: whoever may see its settings sees them, whoever may change the study
    (or, on a new study, add one) edits them. `description` says what they are (the study-settings reference)."""

    extra = 0
    description = ""

    def allowed(self, request, study, permission):
        if study is None:  # the add page, or Django asking about the rows at all (InlineModelAdmin.get_queryset)
            return request.user.has_perm(ADD_STUDY) or access.may_any(request.user, permission)
        return request.user.has_perm(permission, study)

    def has_view_permission(self, request, obj=None):
        return self.allowed(request, obj, access.VIEW_SETTINGS)

    def has_change_permission(self, request, obj=None):
        return self.allowed(request, obj, access.CHANGE_STUDY)

    has_add_permission = has_delete_permission = has_change_permission


class BlockInline(StudySettingsInline):
    """The study's blocks, run in order of position (issue 29); a setting a block's kind does not use is refused
    (Block.clean)."""

    model = Block
    formset = BlockFormSet
    fields = ["position", "kind", "top_k", "images", "learning_images", "learning_guess", "show_true_class",
              "ask_true_class"]
    description = ("Run in order of position; a study without blocks shows its rating pages, then its side-by-side "
                   "pages, as ever. A setting the block's kind does not use stays at its default.")
    verbose_name_plural = "blocks (run in order of position)"


class TaskConditionInline(StudySettingsInline):
    """The task blocks' conditions between participants, assigned evenly in order of consent."""

    model = TaskCondition
    formset = TaskConditionFormSet
    fields = ["model", "method"]
    description = ("Between participants, assigned evenly in order of consent: a model's maps by a method, or the "
                   f"model with the method blank, the no-map control '{NO_MAP_CONDITION}'.")
    verbose_name_plural = "task conditions (between participants)"


@admin.register(Study)
class StudyAdmin(StudyScopedAdmin):
    """Members see the studies their role shows; editors and owners change them; whoever may add a study owns the
    ones they add (and the pilot copies they make)."""

    study_path = ""
    view_permission = access.VIEW_SETTINGS
    change_permission = access.CHANGE_STUDY
    delete_permission = access.DELETE_STUDY
    logged = False  # settings and counts, no participant data
    form = StudyForm
    list_display = ["name", "slug", "recruitment_source", "is_open", "stimulus_count", "length",
                    "participant_count", "started_count", "completed_count", "created_at"]
    search_fields = ["title", "slug"]
    filter_horizontal = ["stimuli"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["created_at", "copied_from", "length", "design_balance"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # the members: on the pages of studies the user manages
    inlines = [ConsentVersionInline, MembershipInline, BlockInline, TaskConditionInline]
    actions = ["preview", "duplicate_as_pilot"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "seed", "created_at", "copied_from"]}),
        ("Consent", {"fields": ["consent_text"],
                     "description": "Saving a changed text makes a new consent version (listed below); participants "
                                    "keep the version they agreed to."}),
        ("Pages", {"fields": ["stimuli", "sufficiency_statement", "trust_statement", "likert_labels",
                              "comparison_count", "attention_checks", "attention_failure_ending", "map_legend", "length",
                              "seconds_per_page", "declared_minutes"]}),
        ("Design", {"fields": ["comparison", "views_per_image", "design_balance"],
                    "description": "The conditions are the model x method cells of the study's stimuli. The "
                                   "balance counts the pages participants' plans show (export: balance.csv)."}),
        ("Bonus", {"fields": ["bonus_per_correct", "bonus_cap"],
                   "description": "Task blocks only: a participant's score is their right answers above chance, "
                                  "per block (the test pages of a simulation block; its learning guesses are not "
                                  "scored). The console shows each score and bonus; the export's bonus.csv lists "
                                  "the bonuses of the participants whose submission is to be approved, in the form "
                                  "Prolific's bulk bonus takes."}),
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

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm(ADD_STUDY)

    def get_inlines(self, request, obj):
        managed = obj is not None and request.user.has_perm(access.MANAGE_MEMBERS, obj)
        return [inline for inline in self.inlines if managed or inline is not MembershipInline]

    def has_module_permission(self, request):
        return access.may_any(request.user, self.view_permission) or self.has_add_permission(request)

    def has_view_permission(self, request, obj=None):
        if obj is None and self.has_add_permission(request):
            return True  # the (maybe empty) list of their studies, to add one
        return super().has_view_permission(request, obj)

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and request.user.is_superuser:
            self.warn_of_ownerless(request)
        return super().changelist_view(request, extra_context)

    def warn_of_ownerless(self, request):
        """Studies nobody owns (e.g. made before studies had members) are seen by superusers alone: say so."""
        ownerless = Study.objects.exclude(memberships__role=Role.OWNER).order_by("slug")
        slugs = list(ownerless.values_list("slug", flat=True)[:11])
        if slugs:
            self.message_user(request, f"{len(slugs) if len(slugs) <= 10 else 'Over 10'} studies have no owner, so "
                                       f"only superusers see them: {', '.join(slugs[:10])}. Open each and add its "
                                       "researchers under Members (an owner manages the rest).", messages.WARNING)

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
        refusal = self.refuse_beyond_role(request, queryset, access.CHANGE_STUDY, "preview")
        if refusal:
            return refusal
        participant = pilot.enroll_preview(queryset.get())
        login(request, participant.user, backend=PARTICIPANT_BACKEND)
        return redirect("studyapp:survey")

    @admin.action(description="Duplicate the selected studies as closed pilot copies", permissions=["add"])
    def duplicate_as_pilot(self, request, queryset):
        """Copies with the original's members; whoever made them owns them."""
        refusal = self.refuse_beyond_role(request, queryset, access.CHANGE_STUDY, "copy a study")
        if refusal:
            return refusal
        copies = [pilot.pilot_copy(study) for study in queryset]
        for copy in copies:
            access.grant(copy, request.user, Role.OWNER)
        self.message_user(request, "Made " + ", ".join(f"{copy.slug!r} ({copy.staff_title})" for copy in copies)
                          + ": closed, without participants. Open one to rehearse; its participants' times "
                            "estimate the original's duration.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            access.grant(obj, request.user, Role.OWNER)
        if "_continue" not in request.POST:  # else the study's page, shown next, warns
            self.warn_of_conflicts(request, obj)

    def warn_of_conflicts(self, request, study):
        """The study's settings that conflict with its platform's rules, as warnings (saving is still allowed)."""
        for conflict in readiness.rule_conflicts(study):
            self.message_user(request, conflict, messages.WARNING)

    def get_queryset(self, request):
        """The user's studies, with counts of participants without researchers' previews; started and completed ones
        whose answers are kept (withdrawn and erased people are counted by their outcome, as in the dashboard and
        the report)."""
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

    @admin.display(description="title", ordering="title")
    def name(self, study):
        """The title, marked '(pilot)' on a pilot copy (its participants see the title alone)."""
        return study.staff_title

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
class ParticipantAdmin(StudyScopedAdmin):
    """Participants are enrolled by `manage.py create_participants` (invite links) or arrive through the study
    link; either way their token and seed are minted for them. Platform IDs are searchable, for payments.
    Analysts and owners see them and decide on them; owners alone erase."""

    study_path = "study"
    change_permission = access.DECIDE  # decisions are the list's actions; every field here is read-only
    list_display = ["pseudonym", "study", "source", "outcome", "consented", "completed", "progress"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "outcome", "source", "is_preview",
                   ("consented_at", admin.EmptyFieldListFilter), ("completed_at", admin.EmptyFieldListFilter)]
    search_fields = ["pseudonym", "external_id"]
    list_select_related = ["study"]
    fields = ["pseudonym", "study", "user", "invite_token", "seed", "source", "external_id", "external_session",
              "external_submit_to", "arrived_at", "consent_version", "consented_at", "instructions_read_at",
              "background_given_at", "completed_at", "outcome",
              "ended_at", "ending_code", "degree", "cv_experience_years"]
    readonly_fields = fields  # answers are evidence: the background too (docs/how-to/personal-data.md); erasure is an action
    actions = ["exclude_selected", "include_selected", "erase_data"]
    inlines = [ExclusionDecisionInline]

    # delete_permission None: the audit row stays, erase a participant's data instead

    def has_erase_permission(self, request):
        return access.may_any(request.user, access.ERASE)

    @admin.action(description="Erase the selected participants' answers and background", permissions=["erase"])
    def erase_data(self, request, queryset):
        """Ask first (a page listing who), then erase; the participants' audit rows stay."""
        refusal = self.refuse_beyond_role(request, queryset, access.ERASE, "erase participants' data")
        if refusal:
            return refusal
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/studyapp/participant/erase_confirmation.html", {
                **self.admin_site.each_context(request), "title": "Erase these participants' data?",
                "participants": queryset.select_related("study"), "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            })
        erased = {participant.pseudonym: participation.erase(participant, Outcome.ERASED) for participant in queryset}
        for study in Study.objects.filter(participants__in=queryset).distinct():
            names = sorted(p.pseudonym for p in queryset if p.study_id == study.pk)
            access.record(request, study, access.ERASED, f"{len(names)}: {', '.join(names)}")
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
        refusal = self.refuse_beyond_role(request, queryset, access.DECIDE, "decide on participants")
        if refusal:
            return refusal
        action = "exclude_selected" if excluded else "include_selected"
        confirmed = request.POST.get("confirmed") == "yes"
        form = decisions.ReasonForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            people = decisions.decide(request, queryset.select_related("study"), excluded,
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


@admin.register(Trial)
class TrialAdmin(StudyScopedAdmin):
    """Shown, searched and filtered; never added, edited or deleted through the admin (as every answer)."""

    study_path = "participant__study"
    list_display = ["participant", "position", "kind", "stimulus", "shown_at"]
    list_filter = [("participant__study", admin.RelatedOnlyFieldListFilter), "kind", "stimulus__variant"]
    search_fields = ["participant__pseudonym"]
    list_select_related = ["participant", "stimulus__source_image"]


class AnswerAdmin(StudyScopedAdmin):
    """An answer, listed with the participant and page of its trial."""

    study_path = "trial__participant__study"
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
    list_filter = [("trial__participant__study", admin.RelatedOnlyFieldListFilter), "trial__stimulus__variant",
                   "sufficiency", "trust"]
    search_fields = [*AnswerAdmin.search_fields, "trial__stimulus__source_image__class_name"]
    list_select_related = ["trial__participant", "trial__stimulus__source_image"]

    @admin.display(ordering="trial__stimulus")
    def stimulus(self, response):
        return response.trial.stimulus


@admin.register(ChoiceResponse)
class ChoiceResponseAdmin(AnswerAdmin):
    list_display = ["participant", "position", "source_image", "chosen", "justification", "rt_ms", "answered_at"]
    list_filter = [("trial__participant__study", admin.RelatedOnlyFieldListFilter), "chosen__variant"]
    search_fields = [*AnswerAdmin.search_fields, "justification"]
    list_select_related = ["trial__participant", "trial__source_image", "chosen__source_image"]

    @admin.display(description="image", ordering="trial__source_image")
    def source_image(self, response):
        return response.trial.source_image


@admin.register(AttentionCheck)
class AttentionCheckAdmin(AnswerAdmin):
    list_display = ["participant", "position", "target", "answer", "passed", "answered_at"]
    list_filter = [("trial__participant__study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["trial__participant"]

    @admin.display(description="asked for", ordering="trial__attention_target")
    def target(self, check):
        return check.trial.attention_target

    @admin.display(boolean=True)
    def passed(self, check):
        return check.passed


@admin.register(ExclusionDecision)
class ExclusionDecisionAdmin(StudyScopedAdmin):
    study_path = "participant__study"
    list_display = ["participant", "excluded", "reason", "decided_by_name", "decided_at"]
    list_filter = [("participant__study", admin.RelatedOnlyFieldListFilter), "excluded"]
    search_fields = ["participant__pseudonym", "reason"]
    list_select_related = ["participant"]


@admin.register(ConsoleEvent)
class ConsoleEventAdmin(StudyScopedAdmin):
    """The access log: who saw or acted on which study's participant data, when, how and from where (owners)."""

    study_path = "study"
    view_permission = access.VIEW_LOG
    logged = False
    list_display = ["at", "study", "username", "action", "detail", "via", "token", "address"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "via", "action"]
    search_fields = ["username", "detail"]
    list_select_related = ["study", "token"]


class ApiTokenForm(forms.ModelForm):
    """A new token for the logged-in researcher, on one of their studies, with a role no wider than theirs."""

    user = None  # set per request (ApiTokenAdmin.get_form)

    class Meta:
        model = ApiToken
        fields = ["study", "role", "name", "expires_at"]

    def clean(self):
        data = super().clean()
        if data.get("study") and data.get("role") and data.get("expires_at"):
            problem = access.token_problem(self.user, data["study"], data["role"], data["expires_at"])
            if problem:
                raise forms.ValidationError(problem)
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Each researcher makes their own tokens (shown once, kept as a digest) and revokes them; a study's owners see
    and revoke every token on it. Tokens are never edited or deleted: the access log names them."""

    form = ApiTokenForm
    list_display = ["prefix", "name", "user", "study", "role", "created_at", "expires_at", "revoked_at",
                    "last_used_at"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "role"]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user", "study"]
    readonly_fields = ["prefix", "user", "study", "role", "name", "created_at", "expires_at", "revoked_at",
                       "last_used_at"]
    actions = ["revoke"]

    def get_queryset(self, request):
        tokens = super().get_queryset(request)
        if request.user.is_superuser:
            return tokens
        managed = access.studies(request.user, access.MANAGE_MEMBERS).values("pk")
        return tokens.filter(Q(user=request.user) | Q(study__in=managed))

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.user = request.user
        return form

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_changeform_initial_data(self, request):
        return {"expires_at": timezone.now() + timedelta(days=access.DEFAULT_TOKEN_DAYS)}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "study":
            kwargs["queryset"] = access.studies(request.user).order_by("slug")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return access.may_any(request.user, access.VIEW_STUDY)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (obj is None or self.get_queryset(request).filter(
            pk=obj.pk).exists())

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return self.has_module_permission(request)

    def save_model(self, request, obj, form, change):
        obj.user = request.user
        obj.raw = access.new_token(obj)

    def response_add(self, request, obj, post_url_continue=None):
        """The token, once: only its digest is kept."""
        return TemplateResponse(request, "admin/studyapp/apitoken/created.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Copy your new API token now",
            "token": obj, "raw": obj.raw,
            "url": request.build_absolute_uri(reverse("studyapp:api_export_zip", kwargs={"slug": obj.study.slug})),
        })

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        count = access.revoke(queryset)
        self.message_user(request, f"Revoked {count} token(s); they no longer open anything.", messages.SUCCESS)
