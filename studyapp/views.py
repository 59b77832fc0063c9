"""The participant survey over HTTP: its pages, their redirects and refusals (the staff dashboard: console.py).

Every survey view loads the participant's standing and asks `flow.current_page` where they are;
a request for any other page is redirected there, and an answer is stored only for the current trial
(POST/redirect/GET). Answers hang one-to-one on their trial, so a racing duplicate fails in the
database and is treated as already answered.
"""

import logging

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from . import flow, participation, pictures, platforms, recruitment, scoring, throttling
from .backends import PARTICIPANT_BACKEND
from .decorators import participant_required
from .forms import MAP_COUNT_WORDS, BackgroundForm, ConsentForm, InstructionsForm, trial_form
from .models import HANDS_IN_ENDINGS, Ending, Outcome, Participant, Study, Trial, answered
from .schema import DISTINCTION, LEARN, MODEL_OUTPUT
from .survey import SurveyState, start_study, store_answer

logger = logging.getLogger("studyapp")

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


def page_url(page):
    if page.name == flow.TRIAL:
        return reverse("studyapp:trial", args=[page.position])
    return reverse(PAGE_URL_NAMES[page.name])


def render_page(request, current, template, context, status=200):
    return render(request, template, {"study": current.study, "progress": current.progress(),
                                      "can_withdraw": current.participant.can_withdraw, **context}, status=status)


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
    participant = Participant.objects.select_related("user", "study").filter(invite_token=token).first()
    if participant is None or not participant.user.is_active:
        throttling.record_unknown_invite(request, token)
        raise Http404("This invite link is not valid. Check that you copied the whole link.")
    if participant.arrived_at is None:
        Participant.objects.filter(pk=participant.pk, arrived_at__isnull=True).update(arrived_at=timezone.now())
    if request.user != participant.user:
        login(request, participant.user, backend=PARTICIPANT_BACKEND)
    return to_current_page(participant)


@require_safe
@never_cache
def study_link(request, slug):
    """The study's one open link, as a recruitment platform sends people to it with their platform ID.

    The same ID always gets the same participant (resuming, or seeing their ending again); a new ID
    gets one while the study is open and has a place. A malformed link answers 400 and stores nothing.
    """
    study = get_object_or_404(Study, slug=slug)
    if not study.recruitment_source:
        raise Http404("This study has no open link; use the personal invite link you were sent.")
    try:
        arrival = platforms.read_arrival(study.recruitment_source, dict(request.GET.lists()), study.id_parameter)
    except platforms.ArrivalError as error:
        return render(request, "studyapp/arrival_refused.html", {"study": study, "problem": str(error)}, status=400)
    if arrival is None:  # an MTurk worker previewing the HIT
        return render(request, "studyapp/preview.html",
                      {"study": study, "pages": sum(study.plan_size())})
    admission = recruitment.admit(study, arrival, study.recruitment_source)
    if admission.participant is None:
        return ending_response(request, study, Ending.OVER_QUOTA, study.code_for(Ending.OVER_QUOTA),
                               study.recruitment_source, arrival, reason=admission.refusal)
    if request.user != admission.participant.user:
        login(request, admission.participant.user, backend=PARTICIPANT_BACKEND)
    return to_current_page(admission.participant)


def to_current_page(participant):
    """Straight to the participant's current page: an arrival's first request needs no second redirect."""
    return redirect(page_url(SurveyState(participant).page))


@participant_required
def survey(request, participant):
    return to_current_page(participant)


# --- Pages before the trials ------------------------------------------------------------------------

def step_view(step, template, form_class, save, decline=None, form_kwargs=lambda participant: {}):
    """A page before the trials: shown only while it is the current page; a valid POST runs `save`.

    `save` returns None, or the reason it could not save (the study is not ready): the page shows it, 503.
    A POST with `decline` (the page's other button) runs `decline` instead, when the page has one.
    `form_kwargs(participant)` gives the form's further arguments.
    """

    @participant_required
    @require_http_methods(["GET", "POST"])
    def view(request, participant):
        current = SurveyState(participant)
        if current.page.name != step:
            return see_other(page_url(current.page))
        if decline is not None and request.method == "POST" and "decline" in request.POST:
            decline(participant)
            return see_other(page_url(flow.Page(flow.COMPLETE)))
        form = form_class(request.POST if request.method == "POST" else None, **form_kwargs(participant))
        if request.method == "POST":
            if form.is_valid():
                problem = save(participant, form.cleaned_data)
                if problem:
                    return render_page(request, current, template, {"form": form, "refusal": problem}, status=503)
                return see_other(page_url(flow.page_after_step(current.standing, step)))
            return render_page(request, current, template, {"form": form}, status=400)
        return render_page(request, current, template, {"form": form})

    return view


def save_consent(participant, data):
    try:
        start_study(participant, data["consent_version"])
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
    participant.background_given_at = timezone.now()
    participant.save(update_fields=["degree", "cv_experience_years", "background_given_at"])
    return None


def decline_consent(participant):
    participation.end(participant, Outcome.NO_CONSENT)


consent = step_view(flow.CONSENT, "studyapp/consent.html", ConsentForm, save_consent, decline=decline_consent,
                    form_kwargs=lambda participant: {"version": participant.study.ensure_consent_version()})
instructions = step_view(flow.INSTRUCTIONS, "studyapp/instructions.html", InstructionsForm, save_instructions_read)
background = step_view(flow.BACKGROUND, "studyapp/background.html", BackgroundForm, save_background)


# --- Trials -------------------------------------------------------------------------------------------

def task_context(participant, trial):
    """What a task page (or its learning feedback) shows: the block, the pictures of the participant's condition
    (maps only in a map condition), and whether the true class is shown (distinction and learning pages, where the
    block says so)."""
    block = trial.block
    condition = participant.task_condition
    context = pictures.task_pictures(trial, bool(condition and condition.method), participant.study.map_legend)
    context.update(task_block=block, show_true_class=block.show_true_class and (
        block.kind == DISTINCTION or trial.phase == LEARN))
    return context


def picture_failure(trial, participant, error):
    logger.error("Trial %s of %s cannot be shown: %s", trial.position, participant.pseudonym, error)
    return HttpResponse("This page's images are missing on the server; the researchers have been told. "
                        "Please try again later.", status=503, content_type="text/plain")


def render_trial(request, current, trial, form, status=200, refusal=""):
    """The trial page with its stimulus images embedded (data: URIs): no image URL exists to leak or share.

    An attention check is a rating page (same template, same figures) whose second statement is the instruction;
    in a task block, a page of its block (task.html) with the instruction in place of its question.
    """
    context = {"trial": trial, "form": form, "refusal": refusal}
    task = trial.in_task_block
    try:
        context.update(task_context(current.participant, trial) if task
                       else pictures.stimulus_pictures(trial, current.study.map_legend))
    except OSError as error:
        return picture_failure(trial, current.participant, error)
    template = "studyapp/task.html" if task else "studyapp/rating.html"
    if trial.kind == Trial.Kind.CHOICE:
        template, context["maps_word"] = "studyapp/choice.html", MAP_COUNT_WORDS[len(context["maps"])]
    return render_page(request, current, template, context, status=status)


@participant_required
@require_http_methods(["GET", "POST"])
def trial(request, participant, position):
    current = SurveyState(participant)
    if request.method == "POST":
        return answer(request, current)
    if current.page != flow.Page(flow.TRIAL, position):
        return see_other(page_url(current.page))
    shown = current.trial
    if shown.shown_at is None:
        shown.shown_at = timezone.now()
        Trial.objects.filter(pk=shown.pk, shown_at__isnull=True).update(shown_at=shown.shown_at)
    return render_trial(request, current, shown, trial_form(shown, current.study))


STALE_ANSWER = ("The answer you just sent came from a page that was already done (an old tab or the back "
                "button), so it was not saved; your earlier answer stands. Please go on from here.")


def stale_answer(request, current, token):
    """Send an answer from a page no longer current to the current page; if that page had been answered (an old
    tab), the current page says why this answer was not saved. (An ended participation's page says why itself.)"""
    if current.participant.trials.filter(answered(), token=token).exists():
        messages.warning(request, STALE_ANSWER)
    return see_other(page_url(current.page))


def answer(request, current):
    """Store the answer to the current trial, or refuse and store nothing."""
    posted = request.POST.get("trial", "")
    shown = current.trial
    if shown is None or current.page.name != flow.TRIAL:
        return stale_answer(request, current, posted)  # an old tab or a double click after the last trial
    if posted != shown.token:
        if current.participant.trials.filter(token=posted).exists():
            return stale_answer(request, current, posted)  # an old tab, the back button or a double click
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
    failed_check = shown.kind == Trial.Kind.ATTENTION and form.cleaned_data["answer"] != shown.attention_target
    after = current.after_answering(failed_check)
    if shown.phase == LEARN and shown.options:  # a learning page's guess: its feedback first
        return see_other(reverse("studyapp:feedback", args=[shown.position]))
    return see_other(page_url(after))


@participant_required
@require_GET
def feedback(request, participant, position):
    """A learning page's feedback on the guess just stored: right or wrong, and what the model says; Next goes on to
    the current page. Shown only while the guessed page is the one just answered; elsewhere, the current page."""
    current = SurveyState(participant)
    guessed = participant.trials.filter(position=position, phase=LEARN, task_response__isnull=False).select_related(
        "block", "task_response").first()
    if guessed is None or not guessed.options or current.page != flow.Page(flow.TRIAL, position + 1):
        return see_other(page_url(current.page))
    try:
        context = task_context(participant, guessed)
    except OSError as error:
        return picture_failure(guessed, participant, error)
    guess = guessed.task_response.answer
    right = scoring.right_answer(MODEL_OUTPUT, model_prediction=context["prediction"],
                                 true_class=context["true_class"])
    context.update(trial=guessed, guess=guess, right=guess == right, next_url=page_url(current.page))
    return render_page(request, current, "studyapp/task_feedback.html", context)


# --- Endings ------------------------------------------------------------------------------------------

@participant_required
@require_GET
def complete(request, participant):
    """The participant's ending: its code, and the way back to their platform (a redirect, a link, a form)."""
    current = SurveyState(participant)
    if current.page.name != flow.COMPLETE:
        return see_other(page_url(current.page))
    if participant.outcome == Outcome.IN_PROGRESS:  # every trial answered, the ending not yet recorded (a crash)
        participation.finish(participant)
        participant.refresh_from_db(fields=["outcome", "ending_code", "completed_at", "ended_at"])
    elif participant.outcome == Outcome.EXPIRED and not participant.ending_code:  # back after their place was given
        participant.ending_code = participation.show_expiry_code(participant)
    ending = participant.ending
    return ending_response(
        request, current.study, ending, participant.ending_code, participant.source, participant.arrival,
        reason=participant.outcome, progress=current.progress() if ending == Ending.COMPLETED else None)


def ending_response(request, study, ending, code, source, arrival, *, reason, progress=None):
    """An ending page (shown only once the final answer is stored), or the redirect the study sets for it.

    `source` is how the person came ('invite', 'preview' or a platform); `arrival` their platforms.Arrival.
    It has no withdrawal link: the participation has ended, and the code may be handed in already.
    """
    hands_in = ending in HANDS_IN_ENDINGS
    way = platforms.way_back(source, code, study.redirect_url_for(ending), external_id=arrival.external_id,
                             external_session=arrival.external_session, submit_to=arrival.submit_to,
                             hands_in=hands_in)
    if way.redirect_url:
        return redirect(way.redirect_url)
    platform = study.platform() if source == study.recruitment_source else None
    return render(request, "studyapp/ending.html", {
        "study": study, "progress": progress, "ending": ending, "reason": reason, "code": code, "way": way,
        "platform": platform, "asks_return": not hands_in})


@participant_required
@require_http_methods(["GET", "POST"])
def withdraw(request, participant):
    """Withdrawal, confirmed by a POST: the participant's answers and background are deleted, the audit row stays."""
    if not participant.can_withdraw:
        return see_other(page_url(SurveyState(participant).page))
    if request.method == "POST":
        erasure = participation.erase(participant, Outcome.WITHDRAWN)
        logger.info("%s withdrew: %d answers deleted", participant.pseudonym, erasure.answers)
        return see_other(page_url(flow.Page(flow.COMPLETE)))
    return render(request, "studyapp/withdraw.html",
                  {"study": participant.study, "back": page_url(SurveyState(participant).page)})
