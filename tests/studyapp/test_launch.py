"""Ready for a paid launch: crediting completers, places as Prolific counts them, attention checks as Prolific allows,
the researcher's preview and pilot copies, the study's length, and page titles that say where you are."""

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from studyapp import pilot, readiness, recruitment
from studyapp.export import export_frames
from studyapp.models import Outcome, Participant, Study, Trial
from studyapp.schema import BALANCE_FILE, PARTICIPANTS_FILE, RATINGS_FILE, REVIEW_FILE, STIMULI_FILE
from tests.helpers.admin import admin_form
from tests.helpers.recruitment import arrive, prolific, through_background
from tests.helpers.survey import AGREE, answer_for, location, play_to_end, start, trial_at
from tests.helpers.tasks import take_part, task_study

pytestmark = pytest.mark.django_db

SONA_CREDIT = "https://uni.sona-systems.com/webstudy_credit.aspx?experiment_id=1&credit_token=ab&survey_code={survey_code}"


@pytest.mark.parametrize("source, fields, problem", [
    ("prolific", {}, "cannot be credited on Prolific without a completion code"),
    ("sona", {}, "cannot be credited on SONA without a redirect"),
    ("sona", {"completion_redirect_url": "https://uni.sona-systems.com/credit?x=1"}, "must carry the person's ID"),
    ("mturk", {"completion_redirect_url": "https://x.example/done"}, "MTurk needs a completion code"),
])
def test_an_open_study_on_a_crediting_platform_needs_its_completion_code_or_redirect(study_factory, source, fields,
                                                                                      problem):
    study = study_factory(images=1, recruitment_source=source, completion_code="", **fields)
    with pytest.raises(ValidationError) as error:
        study.full_clean()
    assert problem in " ".join(error.value.message_dict["completion_code"])
    study.is_open = False  # a closed study may be prepared without it
    study.full_clean()


@pytest.mark.parametrize("source, fields", [
    ("prolific", {"completion_code": "C1A2B3"}),
    ("prolific", {"completion_redirect_url": "https://app.prolific.com/submissions/complete?cc=C1A2B3"}),
    ("sona", {"completion_redirect_url": SONA_CREDIT}),
    ("mturk", {"completion_code": "DONE"}),
    ("", {}),  # personal invite links only: nobody to credit
    ("generic", {"id_parameter": "pid"}),
])
def test_a_study_with_what_its_platform_needs_opens(study_factory, source, fields):
    study = study_factory(images=1, recruitment_source=source, declared_minutes=10 if source == "prolific" else None,
                          **{"completion_code": "", **fields})
    study.full_clean()


def test_the_admin_refuses_to_open_a_prolific_study_without_a_code_or_its_declared_duration(study_factory, admin_client):
    study = study_factory(images=1)
    form = {field: "" for field in ("completion_code", "completion_redirect_url")}
    response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", {
        **admin_form(study), **form, "recruitment_source": "prolific", "is_open": "on"})
    assert response.status_code == 200 and "cannot be credited on Prolific" in response.content.decode()
    study.refresh_from_db()
    assert study.recruitment_source == ""
    coded = {**admin_form(study), **form, "completion_code": "C0DE", "recruitment_source": "prolific", "is_open": "on"}
    response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", coded)
    assert response.status_code == 200 and "Enter the duration you declare on Prolific" in response.content.decode()
    study.refresh_from_db()
    assert study.recruitment_source == "" and study.declared_minutes is None
    response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", {**coded, "declared_minutes": "9"})
    assert location(response) == "/admin/studyapp/study/"
    study.refresh_from_db()
    assert (study.recruitment_source, study.completion_code, study.declared_minutes) == ("prolific", "C0DE", 9)
    closed = {**coded, "recruitment_source": "prolific", "declared_minutes": "", "is_open": ""}
    assert location(admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", closed)) == "/admin/studyapp/study/"



def test_the_demo_study_opens(study_factory):
    study_factory(images=1)  # stimuli to put in it: 3 ratings, 2 checks, 1 comparison
    out = io.StringIO()
    call_command("create_demo_study", stdout=out)
    assert "3 stimuli. Each participant gets 6 trials + 3 pages; about 2 min (stated 12 s per page; 0 of the 5 " \
           "real pilot completions the estimate needs)" in out.getvalue()
    demo = Study.objects.get(slug="demo")
    # The duration the demo's study file declares on Prolific (fixtures/studies/demo.toml: its shipped stimuli's).
    assert demo.is_open and demo.recruitment_source == "prolific" and demo.declared_minutes == 17
    demo.full_clean()


# --- Places, as Prolific counts them ---------------------------------------------------------------------

def ago(**delta):
    return timezone.now() - dt.timedelta(**delta)


def test_someone_who_has_not_consented_holds_a_place_only_for_the_studys_minutes(study_factory):
    study = study_factory(images=1, recruitment_source="prolific", max_participants=2, over_quota_code="FULL")
    consenting, opener = Client(), Client()
    arrive(consenting, prolific(study.slug, pid="AAA1"))
    through_background(consenting)
    arrive(opener, prolific(study.slug, pid="BBB2"))  # opens the link, never consents
    assert "This study is full" in Client().get(prolific(study.slug, pid="CCC3")).content.decode()
    assert recruitment.places_taken(study) == 2

    Participant.objects.filter(external_id="BBB2").update(arrived_at=ago(minutes=11))  # the default 10 min passed
    assert recruitment.places_taken(study) == 1  # what Prolific counts: the opener is no longer active
    assert arrive(Client(), prolific(study.slug, pid="CCC3")) == "/consent/"
    assert Participant.objects.get(external_id="BBB2").outcome == Outcome.EXPIRED
    assert Participant.objects.get(external_id="AAA1").outcome == Outcome.IN_PROGRESS  # consented 0 min ago
    assert "Your time for this study ran out" in opener.get("/complete/").content.decode()


def test_an_arrival_expires_exactly_the_places_it_needs_the_longest_idle_first(study_factory):
    study = study_factory(images=1, recruitment_source="prolific", max_participants=3,
                          inactivity_limit=dt.timedelta(hours=1))
    for pid in ("AAA1", "BBB2", "CCC3"):
        client = Client()
        arrive(client, prolific(study.slug, pid=pid))
        through_background(client)
    for pid, hours in (("AAA1", 2), ("BBB2", 3), ("CCC3", 0.5)):
        when = ago(hours=hours)
        Participant.objects.filter(external_id=pid).update(arrived_at=when, consented_at=when,
                                                           instructions_read_at=when)
        Trial.objects.filter(participant__external_id=pid).update(shown_at=when)
    assert arrive(Client(), prolific(study.slug, pid="DDD4")) == "/consent/"
    outcomes = dict(Participant.objects.values_list("external_id", "outcome"))
    assert outcomes == {"AAA1": "in_progress", "BBB2": "expired", "CCC3": "in_progress", "DDD4": "in_progress"}
    assert arrive(Client(), prolific(study.slug, pid="EEE5")) == "/consent/"
    assert Participant.objects.get(external_id="AAA1").outcome == Outcome.EXPIRED
    assert Participant.objects.get(external_id="CCC3").outcome == Outcome.IN_PROGRESS  # within its hour
    assert "This study is full" in Client().get(prolific(study.slug, pid="FFF6")).content.decode()
    assert Participant.objects.filter(outcome=Outcome.EXPIRED).count() == 2


def test_a_full_study_with_too_few_idle_places_expires_no_one(study_factory):
    study = study_factory(images=1, recruitment_source="prolific", max_participants=1)
    arrive(Client(), prolific(study.slug, pid="AAA1"))
    assert "This study is full" in Client().get(prolific(study.slug, pid="BBB2")).content.decode()
    assert Participant.objects.get().outcome == Outcome.IN_PROGRESS


# --- Attention checks, as Prolific allows ------------------------------------------------------------------

def answer_checks(client, participant, url, failing):
    """Answer every page from `url`; the attention checks numbered in `failing` (1, 2) wrongly. The URLs reached."""
    seen, checks = [], 0
    while url.startswith("/trial/"):
        client.get(url)
        trial = trial_at(url, participant)
        answer = answer_for(trial, trial.position)
        if trial.kind == Trial.Kind.ATTENTION:
            checks += 1
            answer["answer"] = str(trial.attention_target % 5 + 1 if checks in failing else trial.attention_target)
        url = location(client.post(url, answer))
        seen.append((trial.kind, url))
    return seen


@pytest.mark.parametrize("policy, failing, outcome", [
    ("second", {1}, Outcome.COMPLETED), ("second", {2}, Outcome.COMPLETED), ("at_end", {1}, Outcome.COMPLETED),
    ("at_end", {1, 2}, Outcome.ATTENTION_FAILED), ("second", {1, 2}, Outcome.ATTENTION_FAILED),
])
def test_a_participation_ends_for_failed_attention_only_from_the_second_failed_check(study_factory, policy, failing,
                                                                                     outcome):
    study = study_factory(images=2, recruitment_source="prolific", attention_failure_ending=policy,
                          attention_failed_code="ATTN")
    client = Client()
    arrive(client, prolific(study.slug))
    participant = Participant.objects.get()
    seen = answer_checks(client, participant, through_background(client), failing)
    participant.refresh_from_db()
    assert participant.outcome == outcome
    checks = [i for i, (kind, _) in enumerate(seen) if kind == Trial.Kind.ATTENTION]
    if policy == "second" and outcome == Outcome.ATTENTION_FAILED:
        assert seen[-1] == (Trial.Kind.ATTENTION, "/complete/") and len(seen) == checks[1] + 1  # ended there
        assert participant.completed_at is None
    else:
        assert len(seen) == participant.trials.count()


def test_the_admin_warns_of_settings_prolific_does_not_allow(study_factory, admin_client):
    study = study_factory(images=1, recruitment_source="prolific", attention_failure_ending="early",
                          attention_failed_code="DONE-1", declared_minutes=10)
    html = admin_client.get(f"/admin/studyapp/study/{study.pk}/change/").content.decode()
    assert "reject a submission only after the second failed attention check" in html
    assert "The failed-attention code is the completion code" in html
    study.attention_failure_ending, study.attention_failed_code = "second", "ATTN"
    study.save()
    html = admin_client.get(f"/admin/studyapp/study/{study.pk}/change/").content.decode()
    assert "failed attention check" not in html and "failed-attention code is" not in html
    study.attention_checks = False
    study.save()
    html = admin_client.get(f"/admin/studyapp/study/{study.pk}/change/").content.decode()
    assert "the failed-attention ending never happens" in html


# --- Preview and pilot copies --------------------------------------------------------------------------------

def preview_from_the_dashboard(client, study):
    """A researcher presses Preview on the study's dashboard; the page it leads to."""
    page = client.get(f"/dashboard/{study.slug}/").content.decode()
    assert f'action="/dashboard/{study.slug}/preview/"' in page
    assert location(client.post(f"/dashboard/{study.slug}/preview/")) == "/"
    return location(client.get("/"))


def test_a_researcher_previews_the_study_through_the_participants_pages(study_factory, admin_client):
    study = study_factory(images=1, recruitment_source="prolific", max_participants=1, completion_code="C0DE")
    assert preview_from_the_dashboard(admin_client, study) == "/consent/"
    previewer = Participant.objects.get()
    assert previewer.is_preview and previewer.source == "preview" and not previewer.user.is_staff
    play_to_end(admin_client, previewer, through_background(admin_client))
    html = admin_client.get("/complete/").content.decode()
    assert "Thank you!" in html and "C0DE" in html  # the ending a participant sees
    previewer.refresh_from_db()
    assert previewer.outcome == Outcome.COMPLETED and previewer.trials.count() == study.plan_length()
    # It held no place: the one place is free for a real participant.
    assert recruitment.places_taken(study) == 0
    assert arrive(Client(), prolific(study.slug, pid="AAA1")) == "/consent/"


def test_previews_are_left_out_of_exports_and_analyses_by_default(study_factory, admin_client, tmp_path):
    study = study_factory(images=1, attention_checks=False)
    preview_from_the_dashboard(admin_client, study)
    previewer = Participant.objects.get()
    play_to_end(admin_client, previewer, through_background(admin_client))
    frames = export_frames(study)
    # stimuli.csv and balance.csv list the study's stimuli whoever took part; the preview is counted in neither
    assert all(frame.empty for name, frame in frames.items() if name not in (STIMULI_FILE, BALANCE_FILE))
    assert frames[BALANCE_FILE]["planned"].sum() == 0
    assert export_frames(study, include_preview=True)[BALANCE_FILE]["planned"].sum() == 3 + 3  # 3 ratings, 3 maps side by side
    with_preview = export_frames(study, include_preview=True)
    assert list(with_preview[PARTICIPANTS_FILE]["participant"]) == [previewer.pseudonym]
    assert len(with_preview[RATINGS_FILE]) == study.stimuli.count()
    call_command("export_responses", study=study.slug, out=tmp_path / "default", stdout=io.StringIO())
    assert previewer.pseudonym not in (tmp_path / "default" / PARTICIPANTS_FILE).read_text()
    call_command("export_responses", study=study.slug, out=tmp_path / "all", include_preview=True,
                 stdout=io.StringIO())
    assert previewer.pseudonym in (tmp_path / "all" / PARTICIPANTS_FILE).read_text()


def test_previewing_needs_a_staff_login_and_a_post(study_factory, client, participant_factory):
    study = study_factory(images=1)
    assert client.post(f"/dashboard/{study.slug}/preview/").status_code == 302  # to the login page
    participant = participant_factory(study)
    client.get(f"/i/{participant.invite_token}/")
    assert client.post(f"/dashboard/{study.slug}/preview/").status_code == 403
    assert not Participant.objects.filter(is_preview=True).exists()


def test_a_study_is_duplicated_as_a_closed_pilot_copy(study_factory, admin_client, participant_factory):
    study = study_factory(images=2, recruitment_source="prolific", max_participants=40, consent_text="Agree?",
                          attention_failure_ending="second", completion_code="REAL")
    participant_factory(study)
    response = admin_client.post("/admin/studyapp/study/", {"action": "duplicate_as_pilot",
                                                             "_selected_action": [study.pk]}, follow=True)
    assert f"{study.slug}-pilot" in response.content.decode()
    copy = Study.objects.get(slug=f"{study.slug}-pilot")
    assert copy.copied_from == study and not copy.is_open and copy.is_pilot
    assert copy.title == study.title and str(copy) == copy.staff_title == f"{study.title} (pilot)"
    assert set(copy.stimuli.all()) == set(study.stimuli.all()) and not copy.participants.exists()
    assert (copy.max_participants, copy.attention_failure_ending, copy.completion_code, copy.seed) == \
        (40, "second", "REAL", study.seed)
    assert copy.ensure_consent_version().text == "Agree?"
    # Staff see which study is the pilot; its participants see the study's title alone, on every page.
    assert f"{study.title} (pilot)" in admin_client.get("/admin/studyapp/study/").content.decode()
    assert f"Dashboard: {study.title} (pilot)" in admin_client.get(f"/dashboard/{copy.slug}/").content.decode()
    pilot_client = Client()
    for page in (start(pilot_client, participant_factory(copy)), "/consent/"):
        html = pilot_client.get(page, follow=True).content.decode()
        assert f'<p class="study-title">{study.title}</p>' in html and "(pilot)" not in html
    admin_client.post("/admin/studyapp/study/", {"action": "duplicate_as_pilot", "_selected_action": [study.pk]})
    assert Study.objects.filter(slug=f"{study.slug}-pilot-2").exists()


def test_the_admin_preview_action_logs_in_as_a_preview_participant(study_factory, admin_client):
    study = study_factory(images=1)
    response = admin_client.post("/admin/studyapp/study/", {"action": "preview", "_selected_action": [study.pk]})
    assert location(response) == "/"
    assert location(admin_client.get("/")) == "/consent/"
    assert Participant.objects.get().is_preview


# --- Length and estimated duration -----------------------------------------------------------------------------

def completed_in(participant, minutes):
    """Mark `participant` completed `minutes` after arriving (their plan stands as drawn)."""
    start = timezone.now() - dt.timedelta(hours=1)
    Participant.objects.filter(pk=participant.pk).update(
        arrived_at=start, consented_at=start, completed_at=start + dt.timedelta(minutes=minutes),
        ended_at=start + dt.timedelta(minutes=minutes), outcome=Outcome.COMPLETED)


def pilot_participant(study, participant_factory, minutes):
    """A real pilot participant of `study` whose plan has 10 trials, completed in `minutes`."""
    timed = participant_factory(study)
    Trial.objects.bulk_create(Trial(participant=timed, position=n, kind="attention", attention_target=1)
                              for n in range(1, 11))
    completed_in(timed, minutes)
    return timed


def test_previews_and_rehearsals_never_set_the_pace_and_the_estimate_waits_for_five_real_completions(
        study_factory, admin_client, participant_factory):
    study = study_factory(images=2, seconds_per_page=40)  # 6 ratings + 2 checks + 2 comparisons = 10 trials
    stated = "10 trials + 3 pages; about 9 min (stated 40 s per page; 0 of the 5 real pilot completions"  # 13 x 40 s
    for url in ("/admin/studyapp/study/", f"/admin/studyapp/study/{study.pk}/change/", f"/dashboard/{study.slug}/"):
        assert stated in admin_client.get(url).content.decode()

    preview_from_the_dashboard(admin_client, study)  # one quick look: 153 s for 13 pages (once: 9 -> 3 min)
    play_to_end(admin_client, Participant.objects.get(), through_background(admin_client))
    completed_in(Participant.objects.get(), 153 / 60)
    call_command("simulate_participants", study=study.slug, count=2, seed=0, stdout=io.StringIO())  # server times
    assert Participant.objects.filter(study=study, source="simulated", outcome=Outcome.COMPLETED).count() == 2
    length = readiness.study_length(study)
    assert (length.minutes, length.timed, length.from_real_times) == (9, 0, False)

    pilot_copy = pilot.pilot_copy(study)
    for _ in range(4):  # real pilot participants at 1 min a page: not yet enough
        pilot_participant(pilot_copy, participant_factory, 13)
    length = readiness.study_length(study)
    assert (length.minutes, length.timed) == (9, 4)
    assert "about 9 min (stated 40 s per page; 4 of the 5 real pilot completions the estimate needs)" in str(length)
    pilot_participant(pilot_copy, participant_factory, 26)  # the fifth: the median pace of five, 1 min a page
    admin_client.force_login(get_user_model().objects.get(is_superuser=True))
    length = readiness.study_length(study)
    assert (length.trials, length.pages, length.timed, length.minutes) == (10, 13, 5, 13)
    assert "10 trials + 3 pages; about 13 min (median pace of 5 real completions)" in \
        admin_client.get(f"/dashboard/{study.slug}/").content.decode()


def test_a_learning_guess_s_feedback_pages_count_in_the_length_and_in_real_paces(
        study_factory, write_png, participant_factory):
    """Each learning page that asks a guess is followed by its feedback page: a page the participant reads, which
    the stated estimate and the real pace both count (else a study declared on Prolific is longer than said)."""
    study = task_study(study_factory, write_png, images=6, conditions=[("N", "VG")], seconds_per_page=30,
                       attention_checks=False, blocks=[{"kind": "simulation", "top_k": 2, "images": 2,
                                                        "learning_images": 3, "learning_guess": True}])
    length = readiness.study_length(study)
    assert (length.trials, length.feedback, length.pages) == (5, 3, 11)  # 3 learning + 2 test pages
    assert "5 trials + 3 pages + 3 feedback pages; about 6 min (stated 30 s per page" in str(length)  # 11 x 30 s
    copy = pilot.pilot_copy(study)
    for _ in range(5):  # real pilot completions at 1 min a page: 11 pages in 11 min
        participant = participant_factory(copy)
        take_part(participant, copy.task_conditions.get(), attention_check=False)
        completed_in(participant, 11)
    length = readiness.study_length(study)
    assert (length.timed, length.seconds) == (5, 11 * 60)


def test_review_file_reads_the_declared_duration_not_an_estimate_a_preview_moves(study_factory, admin_client):
    """Two failed checks in a study declared at 9 min on Prolific may be rejected, whatever a quick preview did."""
    study = study_factory(images=2, seconds_per_page=40, recruitment_source="prolific", declared_minutes=9,
                          attention_failure_ending="at_end", attention_failed_code="ATTN")
    preview_from_the_dashboard(admin_client, study)
    play_to_end(admin_client, Participant.objects.get(), through_background(admin_client))
    completed_in(Participant.objects.get(), 153 / 60)
    client = Client()
    arrive(client, prolific(study.slug))
    failer = Participant.objects.get(is_preview=False)
    answer_checks(client, failer, through_background(client), failing={1, 2})
    review = export_frames(study)[REVIEW_FILE].set_index("participant")
    assert review.loc[failer.pseudonym, "outcome"] == "attention_failed"
    assert review.loc[failer.pseudonym, "action"] == "may_reject"
    assert review.loc[failer.pseudonym, "reason"] == "failed 2 of 2 attention checks reached"
    study.declared_minutes = 4  # Prolific's rule: not in a study under 5 min
    assert export_frames(study)[REVIEW_FILE].set_index("participant").loc[failer.pseudonym, "action"] == "approve"


# --- Pages that say where you are ------------------------------------------------------------------------------

def title(response):
    return re.search(r"<title>(.*?)</title>", response.content.decode(), re.S).group(1)


def test_every_participant_page_has_a_title_that_says_where_you_are(study_factory, participant_factory, client):
    study = study_factory(images=1, title="Maps study")  # 3 ratings + 2 checks + 1 comparison = 6 trials, 9 pages
    participant = participant_factory(study)
    client.get(f"/i/{participant.invite_token}/")
    consent = client.get("/consent/")
    assert title(consent) == "Consent – Maps study" and "requires seeing images" in consent.content.decode()
    assert title(client.post("/consent/", {"consent_version": "1"})) == "Error: Consent – Maps study"  # no tick
    client.post("/consent/", AGREE)
    assert title(client.get("/instructions/")) == "Instructions – Maps study"
    client.post("/instructions/")
    assert title(client.post("/background/", {"degree": "master", "cv_experience_years": "-1"})) == \
        "Error: About you – Maps study"
    url = location(client.post("/background/", {"degree": "master", "cv_experience_years": "3"}))
    titles = []
    while url.startswith("/trial/"):
        trial = trial_at(url, participant)
        titles.append(title(client.get(url)))
        if trial.position == 1:
            assert title(client.post(url, {"trial": trial.token})) == f"Error: {titles[-1]}"
        url = location(client.post(url, answer_for(trial, trial.position)))
    kinds = list(participant.trials.order_by("position").values_list("kind", flat=True))
    # An attention check is a rating page, and its title says so too: nothing tells it apart.
    assert titles == [f"{'Comparison' if kind == 'choice' else 'Rating'} {page} of 9 – Maps study"
                      for page, kind in enumerate(kinds, start=4)]
    assert title(client.get("/complete/")) == "Thank you – Maps study"


def test_the_dashboards_scrolling_table_can_be_reached_by_keyboard(study_factory, admin_client):
    study = study_factory(images=1)
    html = admin_client.get(f"/dashboard/{study.slug}/").content.decode()
    assert re.search(r'<div class="table-scroll" tabindex="0" role="region" aria-label="[^"]+">', html)


def test_saving_a_conflicting_setting_warns_once(study_factory, admin_client):
    study = study_factory(images=1, recruitment_source="prolific", attention_failed_code="ATTN", declared_minutes=10)
    for button in ("_continue", "_save"):
        response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", {
            **admin_form(study), "attention_failure_ending": "early", button: "1"}, follow=True)
        html = response.content.decode()
        assert html.count("reject a submission only after the second failed attention check") == 1, button
