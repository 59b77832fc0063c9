"""The participant survey, the stimulus images it shows, and the staff dashboard.

Every survey view loads the participant's standing and asks `flow.current_page` where they are;
a request for any other page is redirected there, and an answer is stored only for the current trial
(POST/redirect/GET). Answers hang one-to-one on their trial, so a racing duplicate fails in the
database and is treated as already answered.
"""

import logging
from functools import wraps

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils._os import safe_join
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from saliency.models import SourceImage, Stimulus

from . import flow, randomization, throttling
from .forms import AttentionForm, BackgroundForm, ChoiceForm, ConsentForm, InstructionsForm, RatingForm
from .models import AttentionCheck, ChoiceResponse, LikertResponse, Participant, Study, Trial

logger = logging.getLogger("studyapp")

IMAGE_CACHE_CONTROL = "private, max-age=86400"  # per-trial URLs never change content; logged-in users only
CHOICE_SLOTS = {"1": "left", "2": "middle", "3": "right"}  # image URL slot -> displayed position
PAGE_URL_NAMES = {
    flow.CONSENT: "studyapp:consent",
    flow.INSTRUCTIONS: "studyapp:instructions",
    flow.BACKGROUND: "studyapp:background",
    flow.COMPLETE: "studyapp:complete",
}


def see_other(url):
    """Redirect after a POST (or to the current page) with 303, so a refresh never re-sends the POST."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def participant_required(view):
    """Pass the logged-in user's Participant; log in first, and only participants may pass."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "studyapp:login")
        participant = Participant.objects.select_related("study").filter(user=request.user).first()
        if participant is None:
            if request.user.is_staff:
                return redirect("studyapp:dashboard")
            return render(request, "studyapp/not_a_participant.html", status=403)
        return view(request, participant, *args, **kwargs)

    return never_cache(wrapper)


class Survey:
    """A participant's stored standing, read once per request."""

    def __init__(self, participant):
        self.participant = participant
        self.study = participant.study
        rows = participant.trials.values_list(
            "position", "kind", "token", "likert_response__id", "attention_response__id", "choice_response__id"
        ) if participant.consented_at else []
        self.positions_by_token = {}
        answered = []
        for position, kind, token, likert, attention, choice in rows:
            self.positions_by_token[token] = position
            stored = {name for name, pk in (("likert", likert), ("attention", attention), ("choice", choice)) if pk}
            answered.append(flow.counts_as_answered(kind, stored))
        self.standing = flow.Standing(
            consented=participant.consented_at is not None,
            instructions_read=participant.instructions_read_at is not None,
            background_given=participant.cv_experience_years is not None and bool(participant.degree),
            answered=answered,
        )
        self.page = flow.current_page(self.standing)

    def progress(self):
        planned = 0
        if not self.standing.consented:
            planned = randomization.plan_length(
                study_stimulus_refs(self.study), comparison_count=self.study.comparison_count,
                attention_checks=self.study.attention_checks,
            )
        return flow.progress(self.standing, planned)

    def current_trial(self):
        return (Trial.objects.select_related("stimulus__source_image", "source_image")
                .get(participant=self.participant, position=self.page.position))

    def after_answering(self, position):
        """The page that follows once trial `position` is answered; records completion when it is the end."""
        answered = list(self.standing.answered)
        answered[position - 1] = True
        page = flow.current_page(flow.Standing(True, True, True, answered))
        if page.name == flow.COMPLETE:
            Participant.objects.filter(pk=self.participant.pk, completed_at__isnull=True).update(
                completed_at=timezone.now()
            )
        return page


def page_url(page):
    if page.name == flow.TRIAL:
        return reverse("studyapp:trial", args=[page.position])
    return reverse(PAGE_URL_NAMES[page.name])


def study_stimulus_refs(study):
    return [randomization.StimulusRef(pk, image, variant)
            for pk, image, variant in study.stimuli.values_list("pk", "source_image_id", "variant")]


def render_page(request, survey, template, context, status=200):
    return render(request, template, {"study": survey.study, "progress": survey.progress(), **context},
                  status=status)


# --- Getting in ---------------------------------------------------------------------------------------

class LoginView(auth_views.LoginView):
    """Username/password login; a failed attempt answers 400 like every other refused form."""

    template_name = "studyapp/login.html"
    next_page = "studyapp:survey"

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


@require_safe
@never_cache
def invite(request, token):
    """Log the link's participant in and send them to their current page; starts and uses up nothing."""
    if throttling.invites_blocked(request):
        return HttpResponse("Too many invalid invite links came from your network. Wait 15 minutes, then open "
                            "your link exactly as you received it.", status=429, content_type="text/plain")
    participant = Participant.objects.select_related("user").filter(invite_token=token).first()
    if participant is None or not participant.user.is_active:
        throttling.record_unknown_invite(request, token)
        raise Http404("This invite link is not valid. Check that you copied the whole link.")
    if request.user != participant.user:
        login(request, participant.user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("studyapp:survey")


@participant_required
def survey(request, participant):
    return redirect(page_url(Survey(participant).page))


# --- Pages before the trials ------------------------------------------------------------------------

def start_study(participant):
    """Consent: draw the plan from the participant's seed and store it, once, in one transaction."""
    try:
        with transaction.atomic():
            locked = Participant.objects.select_for_update().get(pk=participant.pk)
            if locked.consented_at is not None:
                return
            plan = randomization.draw_plan(
                study_stimulus_refs(participant.study), locked.seed,
                comparison_count=participant.study.comparison_count,
                attention_checks=participant.study.attention_checks,
            )
            Trial.objects.bulk_create(
                Trial(participant=locked, position=position, kind=t.kind, stimulus_id=t.stimulus,
                      source_image_id=t.source_image, left_id=t.left, middle_id=t.middle, right_id=t.right,
                      attention_target=t.attention_target)
                for position, t in enumerate(plan, start=1)
            )
            locked.consented_at = timezone.now()
            locked.save(update_fields=["consented_at"])
    except IntegrityError:
        logger.info("Participant %s consented twice at once; the first plan stands", participant.pseudonym)


def step_view(step, template, form_class, save):
    """A page before the trials: shown only while it is the current page; a valid POST runs `save`.

    `save` returns None, or the reason it could not save (the study is not ready): the page shows it, 503.
    """

    @participant_required
    @require_http_methods(["GET", "POST"])
    def view(request, participant):
        current = Survey(participant)
        if current.page.name != step:
            return see_other(page_url(current.page))
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST":
            if form.is_valid():
                problem = save(participant, form.cleaned_data)
                if problem:
                    return render_page(request, current, template, {"form": form, "refusal": problem}, status=503)
                participant.refresh_from_db()
                return see_other(page_url(Survey(participant).page))
            return render_page(request, current, template, {"form": form}, status=400)
        return render_page(request, current, template, {"form": form})

    return view


def save_consent(participant, data):
    try:
        start_study(participant)
    except ValueError as error:  # the study cannot supply the plan it asks for
        logger.error("Study %s cannot start: %s", participant.study.slug, error)
        return "The study is not ready yet. Please try again later or contact the researchers."
    return None


def save_instructions_read(participant, data):
    Participant.objects.filter(pk=participant.pk, instructions_read_at__isnull=True).update(
        instructions_read_at=timezone.now()
    )
    return None


def save_background(participant, data):
    participant.degree = data["degree"]
    participant.cv_experience_years = data["cv_experience_years"]
    participant.save(update_fields=["degree", "cv_experience_years"])
    return None


consent = step_view(flow.CONSENT, "studyapp/consent.html", ConsentForm, save_consent)
instructions = step_view(flow.INSTRUCTIONS, "studyapp/instructions.html", InstructionsForm, save_instructions_read)
background = step_view(flow.BACKGROUND, "studyapp/background.html", BackgroundForm, save_background)


# --- Trials -------------------------------------------------------------------------------------------

def attention_instruction(study, target):
    return f"To show you are reading, select '{study.likert_labels[target - 1]}' for this item."


def trial_form(trial, study, data=None):
    if trial.kind == Trial.Kind.RATING:
        return RatingForm(data, study=study, initial={"trial": trial.token})
    if trial.kind == Trial.Kind.ATTENTION:
        return AttentionForm(data, study=study, instruction=attention_instruction(study, trial.attention_target),
                             initial={"trial": trial.token})
    return ChoiceForm(data, initial={"trial": trial.token})


def render_trial(request, current, trial, form, status=200, refusal=""):
    def image(slot):
        return reverse("studyapp:image", args=[trial.token, slot])

    source = trial.stimulus.source_image if trial.kind == Trial.Kind.RATING else trial.source_image
    context = {"trial": trial, "form": form, "refusal": refusal,
               "class_name": source.class_name if source else "", "image_url": image("image") if source else ""}
    if trial.kind == Trial.Kind.RATING:
        context["map_url"] = image("map")
    elif trial.kind == Trial.Kind.CHOICE:
        context["maps"] = [(f"Map {slot}", image(slot)) for slot in CHOICE_SLOTS]
    return render_page(request, current, f"studyapp/{trial.kind}.html", context, status=status)


def store_answer(trial, data, rt_ms):
    if trial.kind == Trial.Kind.RATING:
        LikertResponse.objects.create(trial=trial, sufficiency=data["sufficiency"], trust=data["trust"], rt_ms=rt_ms)
    elif trial.kind == Trial.Kind.ATTENTION:
        AttentionCheck.objects.create(trial=trial, answer=data["answer"], rt_ms=rt_ms)
    else:
        chosen = getattr(trial, f"{data['choice']}_id")  # the form allows only left/middle/right
        ChoiceResponse.objects.create(trial=trial, chosen_id=chosen, justification=data["justification"], rt_ms=rt_ms)


@participant_required
@require_http_methods(["GET", "POST"])
def trial(request, participant, position):
    current = Survey(participant)
    if request.method == "POST":
        return answer(request, current)
    if current.page != flow.Page(flow.TRIAL, position):
        return see_other(page_url(current.page))
    shown = current.current_trial()
    if shown.shown_at is None:
        shown.shown_at = timezone.now()
        Trial.objects.filter(pk=shown.pk, shown_at__isnull=True).update(shown_at=shown.shown_at)
    return render_trial(request, current, shown, trial_form(shown, current.study))


def answer(request, current):
    """Store the answer to the current trial, or refuse and store nothing."""
    posted = current.positions_by_token.get(request.POST.get("trial", ""))
    if current.page.name != flow.TRIAL or (posted is not None and posted != current.page.position):
        # An old tab, the back button or a double click: that page is done; go to the current one.
        return see_other(page_url(current.page))
    shown = current.current_trial()
    if posted is None:
        return render_trial(request, current, shown, trial_form(shown, current.study), status=400,
                            refusal="That answer did not come from this page, so nothing was saved. "
                                    "Please answer the page below.")
    form = trial_form(shown, current.study, request.POST)
    if not form.is_valid():
        return render_trial(request, current, shown, form, status=400)
    if shown.shown_at is None:  # answered without ever loading the page: there is no response time
        return see_other(page_url(current.page))
    rt_ms = max(0, round((timezone.now() - shown.shown_at).total_seconds() * 1000))
    try:
        with transaction.atomic():
            store_answer(shown, form.cleaned_data, rt_ms)
    except IntegrityError:
        logger.info("Duplicate answer to trial %s of %s ignored", shown.position, current.participant.pseudonym)
    return see_other(page_url(current.after_answering(shown.position)))


@participant_required
@require_GET
def complete(request, participant):
    current = Survey(participant)
    if current.page.name != flow.COMPLETE:
        return see_other(page_url(current.page))
    if current.study.completion_redirect_url:
        return redirect(current.study.completion_redirect_url)
    return render_page(request, current, "studyapp/complete.html", {})


# --- Stimulus images ----------------------------------------------------------------------------------

def trial_image_path(trial, slot):
    """The PNG (relative to STIMULI_ROOT) that `slot` names on this trial's page, or None.

    Small single-table lookups: the image request is the most frequent one.
    """
    if trial.kind == Trial.Kind.RATING and slot == "map":
        return Stimulus.objects.filter(pk=trial.stimulus_id).values_list("heatmap", flat=True).first()
    if trial.kind == Trial.Kind.RATING and slot == "image":
        return SourceImage.objects.filter(stimuli=trial.stimulus_id).values_list("image", flat=True).first()
    if trial.kind == Trial.Kind.CHOICE and slot == "image":
        return SourceImage.objects.filter(pk=trial.source_image_id).values_list("image", flat=True).first()
    if trial.kind == Trial.Kind.CHOICE and slot in CHOICE_SLOTS:
        stimulus = getattr(trial, f"{CHOICE_SLOTS[slot]}_id")
        return Stimulus.objects.filter(pk=stimulus).values_list("heatmap", flat=True).first()
    return None


@require_GET
def image(request, token, slot):
    """A stimulus PNG under the trial's opaque token; only its own participant gets it, others a 404."""
    if not request.user.is_authenticated:
        raise Http404
    shown = get_object_or_404(
        Trial.objects.only("kind", "stimulus_id", "source_image_id", "left_id", "middle_id", "right_id"),
        token=token, participant__user_id=request.user.pk,
    )
    relative = trial_image_path(shown, slot)
    if relative is None:
        raise Http404
    try:
        handle = open(safe_join(settings.STIMULI_ROOT, relative), "rb")
    except (OSError, ValueError) as error:
        logger.error("Stimulus file %s cannot be served: %s", relative, error)
        raise Http404
    response = FileResponse(handle, content_type="image/png")
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


# --- Staff dashboard ----------------------------------------------------------------------------------

def staff_required(view):
    """Anonymous users log in first; logged-in users who are not staff get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "studyapp:login")
        if not (request.user.is_active and request.user.is_staff):
            return render(request, "studyapp/not_a_participant.html", {"staff_only": True}, status=403)
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


@staff_required
def dashboard(request, slug=None):
    studies = Study.objects.order_by("-created_at")
    selected = get_object_or_404(Study, slug=slug) if slug else None
    participants = Participant.objects.filter(study__in=[selected] if selected else studies).annotate(
        trials_total=Count("trials"),
        trials_done=Count("trials", filter=Q(trials__likert_response__isnull=False)
                          | Q(trials__attention_response__isnull=False) | Q(trials__choice_response__isnull=False)),
        attention_total=Count("trials", filter=Q(trials__kind=Trial.Kind.ATTENTION)),
        attention_passed=Count("trials", filter=Q(trials__kind=Trial.Kind.ATTENTION,
                                                  trials__attention_response__answer=F("trials__attention_target"))),
    ).select_related("study").order_by("study__title", "pseudonym")
    return render(request, "studyapp/dashboard.html",
                  {"studies": studies, "selected": selected, "participants": participants})
