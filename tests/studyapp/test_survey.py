"""The survey through Django's test client on a real database: invite link to completion and every refusal."""

import logging
import re

import pytest

from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Trial
from tests.helpers.survey import (
    AGREE, answer_for, location, open_first_trial, play_to_end, play_until, start, stored_answers, trial_at,
)

pytestmark = pytest.mark.django_db


def test_invite_link_to_completion_stores_exactly_the_answers_given(client, study_factory, participant_factory):
    study = study_factory(images=3)
    participant = participant_factory(study)
    url = start(client, participant)
    posted = play_to_end(client, participant, url)

    page = client.get("/complete/")
    assert page.status_code == 200 and study.completion_code in page.content.decode()
    participant.refresh_from_db()
    assert participant.completed_at is not None
    assert (participant.degree, participant.cv_experience_years) == ("master", 3)
    assert len(posted) == 9 + 2 + 3
    for trial in participant.trials.all():
        sent = posted[trial.position]
        if trial.kind == Trial.Kind.RATING:
            stored = LikertResponse.objects.get(trial=trial)
            assert (stored.sufficiency, stored.trust) == (int(sent["sufficiency"]), int(sent["trust"]))
        elif trial.kind == Trial.Kind.ATTENTION:
            assert AttentionCheck.objects.get(trial=trial).passed
        else:
            stored = ChoiceResponse.objects.get(trial=trial)
            assert stored.chosen_id == getattr(trial, f"{sent['choice']}_id")
            assert stored.justification == sent["justification"]
    assert LikertResponse.objects.count() + AttentionCheck.objects.count() + ChoiceResponse.objects.count() == 14


def test_no_page_shows_a_stimulus_metric(client, study_factory, participant_factory):
    study = study_factory(images=2)
    study.stimuli.update(gini=0.123987, ris=0.000456987, ros=7891.25, road_aopc=0.321987, ssim=0.654987)
    participant = participant_factory(study)
    url = start(client, participant)
    pages = []
    while url != "/complete/":
        response = client.get(url)
        pages.append(response.content.decode())
        trial = trial_at(url, participant)
        url = location(client.post(url, answer_for(trial, trial.position)))
    pages.append(client.get(url).content.decode())
    html = "".join(pages).lower()
    for shown in ("123987", "456987", "7891", "321987", "654987", "gini", "road", "ssim", "stability"):
        assert shown not in html


KEY_WORDS = {"sequential": ["Dark: less important", "Bright: more important"],
             "diverging": ["Blue: against the prediction", "White: no effect", "Red: for the prediction"]}


def _legend_words(page):
    return [re.findall(r"<li>([^<]+)</li>", key) for key in re.findall(r'<ul class="map-legend-words".*?</ul>', page,
                                                                        re.S)]


def test_a_colour_key_says_in_words_what_the_colours_of_the_shown_maps_mean(client, study_factory,
                                                                             participant_factory):
    """Off by default (the pages as before); on, each rating and side-by-side page has one key per way its maps were
    drawn (the stimuli's recorded rendering), naming no model or method."""
    plain = study_factory(images=1, attention_checks=False)
    participant = participant_factory(plain)
    url = start(client, participant)
    assert "map-legend" not in client.get(url).content.decode()

    study = study_factory(images=1, attention_checks=False, map_legend=True)
    study.stimuli.filter(variant="M2").update(rendering="diverging")
    study.stimuli.filter(variant="A").update(rendering="absolute")  # the same colours and words as sequential
    participant = participant_factory(study)
    url, keys = start(client, participant), []
    while url != "/complete/":
        page = client.get(url).content.decode()
        trial = trial_at(url, participant)
        shown = [trial.stimulus] if trial.stimulus else [trial.left, trial.middle, trial.right]
        keys.append(_legend_words(page))
        drawn = dict.fromkeys("diverging" if s.rendering == "diverging" else "sequential" for s in shown)
        assert keys[-1] == [KEY_WORDS[rendering] for rendering in drawn], (trial.kind, drawn)
        assert not re.search(r"\b(M2|VG|diverging|sequential|absolute)\b", re.sub(r"<[^>]+>", " ", page))
        url = location(client.post(url, answer_for(trial, trial.position)))
    assert len(keys) == 3 + 1 and sum(len(k) == 2 for k in keys) == 1  # the side-by-side page shows both keys


def test_every_plan_is_the_one_its_recorded_seed_draws(client, study_factory, participant_factory):
    from studyapp.randomization import draw_plan

    study = study_factory(images=4)
    orders = []
    for _ in range(3):
        participant = participant_factory(study)
        client.logout()
        start(client, participant)
        stored = [(t.kind, t.stimulus_id, t.source_image_id, t.left_id, t.middle_id, t.right_id, t.attention_target)
                  for t in participant.trials.all()]
        redrawn = draw_plan(study.stimulus_refs(), participant.seed, comparison_count=None,
                            attention_checks=True)
        assert stored == [(t.kind, t.stimulus, t.source_image, t.left, t.middle, t.right, t.attention_target)
                          for t in redrawn]
        assert [p for p in participant.trials.values_list("position", flat=True)] == list(range(1, len(stored) + 1))
        orders.append(tuple(s[1] for s in stored if s[0] == "rating"))
    assert len(set(orders)) == 3
    assert all(sorted(order) == sorted(study.stimuli.values_list("pk", flat=True)) for order in orders)


def test_attention_checks_drawn_before_they_showed_a_stimulus_get_the_one_their_seed_draws(
        client, study_factory, participant_factory):
    import importlib

    from django.apps import apps

    participant = participant_factory(study_factory(images=3))
    start(client, participant)
    checks = participant.trials.filter(kind=Trial.Kind.ATTENTION)
    drawn = list(checks.values_list("stimulus", flat=True))
    assert len(drawn) == 2 and None not in drawn
    checks.update(stimulus=None)  # as a plan drawn before this migration has them
    migration = importlib.import_module("studyapp.migrations.0006_attention_pages_show_a_stimulus")
    migration.show_a_stimulus_on_attention_pages(apps, None)
    assert list(checks.values_list("stimulus", flat=True)) == drawn


def test_stored_side_by_side_positions_are_balanced_over_participants(client, study_factory, participant_factory):
    from collections import Counter

    study = study_factory(images=2, attention_checks=False)
    counts = Counter()
    for _ in range(6):
        participant = participant_factory(study)
        client.logout()
        start(client, participant)
        for trial in participant.trials.filter(kind=Trial.Kind.CHOICE).select_related("left", "middle", "right"):
            for place in ("left", "middle", "right"):
                counts[trial.source_image_id, getattr(trial, place).variant, place] += 1
    assert len(counts) == 2 * 3 * 3 and set(counts.values()) == {2}


def test_consenting_twice_draws_the_plan_once(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2))
    start(client, participant)
    tokens = list(participant.trials.values_list("token", flat=True))
    assert location(client.post("/consent/", AGREE)) == "/trial/1/"
    from studyapp.survey import start_study
    start_study(participant, participant.study.ensure_consent_version())
    assert list(participant.trials.values_list("token", flat=True)) == tokens


def test_resume_after_logout_lands_on_the_first_unanswered_trial(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2), username="ada", password="a-long-passphrase")
    url = start(client, participant)
    for _ in range(3):
        client.get(url)
        url = location(client.post(url, answer_for(trial_at(url, participant), 1)))
    assert url == "/trial/4/"
    client.post("/logout/")
    assert location(client.get("/trial/4/")).startswith("/login/")

    # Back through the invite link...
    assert location(client.get(f"/i/{participant.invite_token}/")) == "/trial/4/"
    client.post("/logout/")
    # ...or with username and password.
    response = client.post("/login/", {"username": "ada", "password": "a-long-passphrase"})
    assert location(response) == "/"
    assert location(client.get("/")) == "/trial/4/"
    assert stored_answers() == 3


def test_only_an_answer_of_the_trials_own_kind_settles_it_and_a_gap_comes_first(client, study_factory,
                                                                                participant_factory):
    participant = participant_factory(study_factory(images=2, attention_checks=False))
    url = start(client, participant)
    first, second, third = (Trial.objects.get(participant=participant, position=p) for p in (1, 2, 3))
    assert first.kind == second.kind == third.kind == Trial.Kind.RATING
    AttentionCheck.objects.create(trial=first, answer=1, rt_ms=1)  # the wrong table for a rating trial
    assert location(client.get("/")) == url == "/trial/1/"
    LikertResponse.objects.create(trial=first, sufficiency=1, trust=1, rt_ms=1)
    LikertResponse.objects.create(trial=third, sufficiency=1, trust=1, rt_ms=1)  # as if the second were lost
    assert location(client.get("/")) == "/trial/2/"
    html = client.get("/trial/2/").content.decode()
    total = participant.trials.count()
    assert f'<progress id="progress" max="{3 + total}" value="{3 + 2}">' in html
    assert location(client.post("/trial/2/", answer_for(second, 0))) == "/trial/4/"


def test_rt_ms_runs_from_first_showing_the_page_to_the_answer(client, study_factory, participant_factory):
    from datetime import timedelta

    from django.utils import timezone

    participant = participant_factory(study_factory(images=1, attention_checks=False))
    url, trial = open_first_trial(client, participant)
    first_shown = trial.shown_at
    assert first_shown is not None
    client.get(url)  # a refresh does not restart the clock
    trial.refresh_from_db()
    assert trial.shown_at == first_shown
    Trial.objects.filter(pk=trial.pk).update(shown_at=timezone.now() - timedelta(seconds=5))
    client.post(url, answer_for(trial, 0))
    assert 5000 <= LikertResponse.objects.get(trial=trial).rt_ms < 6000


def test_an_answer_to_a_page_never_loaded_is_not_stored(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1))
    url = start(client, participant)
    trial = trial_at(url, participant)
    assert location(client.post(url, answer_for(trial, 0))) == url
    assert stored_answers() == 0


def test_double_submission_stores_one_answer_and_moves_on(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2))
    url, trial = open_first_trial(client, participant)
    first = location(client.post(url, answer_for(trial, 0)))
    second = location(client.post(url, answer_for(trial, 3)))  # a second click, other values
    assert first == second == "/trial/2/"
    stored = LikertResponse.objects.get(trial=trial)
    assert (stored.sufficiency, stored.trust) == (1, 3)
    assert stored_answers() == 1


@pytest.mark.django_db(transaction=True)
def test_a_racing_duplicate_that_wins_the_insert_leaves_one_answer(client, study_factory, participant_factory,
                                                                   caplog):
    """Two requests for the same trial both pass the position check; the database refuses the second insert.

    The rival request runs on its own connection (a thread) and commits just before this one's transaction
    starts writing: before its BEGIN (SQLite, where BEGIN IMMEDIATE takes the write lock) or its INSERT
    (PostgreSQL, where the transaction begins with its first statement).
    """
    import threading

    from django.db import connection

    participant = participant_factory(study_factory(images=2))
    url, trial = open_first_trial(client, participant)
    answers_table = connection.ops.quote_name(LikertResponse._meta.db_table)
    rival_ran = []

    def rival():
        LikertResponse.objects.create(trial=trial, sufficiency=5, trust=5, rt_ms=1)
        connection.close()

    def rival_commits_first(execute, sql, params, many, context):
        if not rival_ran and (sql.startswith("BEGIN") or sql.startswith(f"INSERT INTO {answers_table}")):
            rival_ran.append(sql.split()[0])
            thread = threading.Thread(target=rival)
            thread.start()
            thread.join()
        return execute(sql, params, many, context)

    caplog.set_level(logging.INFO, logger="studyapp")
    with connection.execute_wrapper(rival_commits_first):
        assert location(client.post(url, answer_for(trial, 0))) == "/trial/2/"
    assert rival_ran
    assert list(LikertResponse.objects.values_list("trial_id", "sufficiency")) == [(trial.pk, 5)]
    assert f"Duplicate answer to trial 1 of {participant.pseudonym} ignored" in caplog.text


def test_back_button_and_stale_posts_are_refused(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2))
    url, first = open_first_trial(client, participant)
    url = location(client.post(url, answer_for(first, 0)))
    assert url == "/trial/2/"
    # Back to an answered page, or ahead to a later one, or to the steps before: sent to the current page.
    for elsewhere in ("/trial/1/", "/trial/3/", "/trial/999/", "/consent/", "/instructions/", "/background/",
                      "/complete/", "/"):
        assert location(client.get(elsewhere)) == "/trial/2/", elsewhere
    # The old page's form sent again with other values: nothing changes, and the current page says so, once.
    assert location(client.post("/trial/1/", answer_for(first, 4))) == "/trial/2/"
    told = client.get("/trial/2/").content.decode()
    assert 'role="status"' in told and "already done (an old tab or the back button), so it was not saved" in told
    assert "so it was not saved" not in client.get("/trial/2/").content.decode()
    # A later trial's form (its token read from somewhere) is not the current one either.
    later = Trial.objects.get(participant=participant, position=3)
    Trial.objects.filter(pk=later.pk).update(shown_at=first.shown_at)
    assert location(client.post("/trial/3/", answer_for(later, 0))) == "/trial/2/"
    assert location(client.post("/trial/2/", answer_for(later, 0))) == "/trial/2/"
    assert stored_answers() == 1
    stored = LikertResponse.objects.get(trial=first)
    assert (stored.sufficiency, stored.trust) == (1, 3)
    # Steps already done cannot be redone.
    assert location(client.post("/background/", {"degree": "none", "cv_experience_years": "9"})) == "/trial/2/"
    participant.refresh_from_db()
    assert participant.cv_experience_years == 3


def test_a_finished_participant_stays_on_the_completion_page(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1, attention_checks=False))
    play_to_end(client, participant, start(client, participant))
    for elsewhere in ("/", "/trial/1/", "/consent/"):
        assert location(client.get(elsewhere)) == "/complete/"
    first = Trial.objects.get(participant=participant, position=1)
    assert location(client.post("/trial/1/", answer_for(first, 2))) == "/complete/"
    assert "so it was not saved; your earlier answer stands" in client.get("/complete/").content.decode()
    assert stored_answers() == 4


def test_completion_can_redirect_to_the_recruitment_platform(client, study_factory, participant_factory):
    study = study_factory(images=1, attention_checks=False, completion_redirect_url="https://example.org/done?c=1")
    participant = participant_factory(study)
    play_to_end(client, participant, start(client, participant))
    assert location(client.get("/complete/")) == "https://example.org/done?c=1"


def test_comparison_count_limits_the_side_by_side_pages(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=3, comparison_count=1, attention_checks=False))
    play_to_end(client, participant, start(client, participant))
    assert ChoiceResponse.objects.count() == 1
    assert LikertResponse.objects.count() == 9
    assert AttentionCheck.objects.count() == 0


def test_pages_show_the_study_texts_and_a_progress_bar(client, study_factory, participant_factory):
    study = study_factory(images=1, likert_labels=["Nope", "Rather not", "Unsure", "Rather yes", "Yes!"],
                          trust_statement="I would rely on this model.")
    participant = participant_factory(study)
    assert location(client.get(f"/i/{participant.invite_token}/")) == "/consent/"
    consent_page = client.get("/consent/").content.decode()
    assert '<progress id="progress" max="9" value="0">' in consent_page
    url = start(client, participant)
    html = play_until(client, participant, url, "rating") and client.get(url).content.decode()
    class_name = trial_at(url, participant).stimulus.source_image.class_name
    assert f"Observe the image from class '{class_name}' and its saliency map" in html
    assert "I would rely on this model." in html and study.sufficiency_statement in html
    assert "1 – Nope" in html and "5 – Yes!" in html
    assert '<progress id="progress" max="9" value="3">' in html
    check = play_until(client, participant, url, "attention")
    assert "select &#x27;Rather yes&#x27; for this item" in client.get(check).content.decode()
    choice = client.get(play_until(client, participant, check, "choice")).content.decode()
    assert "Map 1" in choice and "Map 3" in choice and 'name="justification"' in choice


# --- Bad input: 400, a clear message, nothing stored ---------------------------------------------------

def changed(data, change):
    """`data` with the keys of `change` set to its values, or removed where the value is None."""
    return {**{k: v for k, v in data.items() if change.get(k, "") is not None},
            **{k: v for k, v in change.items() if v is not None}}


def assert_refused(response, message, before):
    assert response.status_code == 400, response.status_code
    assert message in response.content.decode()
    assert "Your answer was not saved." in response.content.decode()
    assert stored_answers() == before


@pytest.mark.parametrize("change, message", [
    ({"sufficiency": None}, "Choose one answer from 1 (Strongly disagree) to 5 (Strongly agree) for: The heatmap"),
    ({"trust": None}, "for: Given this heatmap, I can trust the model."),
    ({"sufficiency": "0"}, "Choose one answer from 1"),
    ({"trust": "6"}, "Choose one answer from 1"),
    ({"sufficiency": "abc"}, "Choose one answer from 1"),
    ({"trust": "3.5"}, "Choose one answer from 1"),
    ({"sufficiency": ""}, "Choose one answer from 1"),
    ({"trial": "forged-token-aaaaaaaaaaa"}, "That answer did not come from this page"),
    ({"trial": None}, "That answer did not come from this page"),
])
def test_bad_rating_answers_are_refused(client, study_factory, participant_factory, change, message):
    participant = participant_factory(study_factory(images=2))
    url, trial = open_first_trial(client, participant)
    assert_refused(client.post(url, changed(answer_for(trial, 0), change)), message, before=0)
    assert location(client.get("/")) == url


def test_a_stimulus_id_in_place_of_the_trial_token_is_refused(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=2))
    url, trial = open_first_trial(client, participant)
    for forged in (str(trial.stimulus_id), str(trial.pk), "1"):
        assert_refused(client.post(url, {**answer_for(trial, 0), "trial": forged}),
                       "That answer did not come from this page", before=0)


def test_another_participants_trial_token_is_refused(client, study_factory, participant_factory):
    study = study_factory(images=2)
    other = participant_factory(study)
    start(client, other)
    other_token = Trial.objects.get(participant=other, position=1).token
    client.logout()
    participant = participant_factory(study)
    url, trial = open_first_trial(client, participant)
    data = {**answer_for(trial, 0), "trial": other_token}
    assert_refused(client.post(url, data), "That answer did not come from this page", before=0)


@pytest.mark.parametrize("change, message", [
    ({"answer": None}, "Choose one answer from 1"),
    ({"answer": "7"}, "Choose one answer from 1"),
])
def test_bad_attention_answers_are_refused(client, study_factory, participant_factory, change, message):
    participant = participant_factory(study_factory(images=1))
    url = play_until(client, participant, start(client, participant), "attention")
    before = stored_answers()
    data = changed(answer_for(trial_at(url, participant), 0), change)
    assert_refused(client.post(url, data), message, before)


@pytest.mark.parametrize("change, message", [
    ({"choice": None}, "Choose one of the three maps (Map 1, Map 2 or Map 3)."),
    ({"choice": "center"}, "Choose one of the three maps"),
    ({"choice": "N"}, "Choose one of the three maps"),
    ({"justification": None}, "Write a short justification for your choice; it cannot be empty."),
    ({"justification": ""}, "it cannot be empty"),
    ({"justification": "   \n\t "}, "it cannot be empty"),
    ({"justification": "x" * 2001}, "Keep the justification to at most 2000 characters (it has 2001)."),
    ({"justification": "null\x00byte"}, "Null characters are not allowed."),
])
def test_bad_choices_are_refused(client, study_factory, participant_factory, change, message):
    participant = participant_factory(study_factory(images=1, attention_checks=False))
    url = play_until(client, participant, start(client, participant), "choice")
    data = changed(answer_for(trial_at(url, participant), 0), change)
    assert_refused(client.post(url, data), message, before=3)


def test_the_longest_allowed_justification_is_kept_whole(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1, attention_checks=False))
    url = play_until(client, participant, start(client, participant), "choice")
    text = "=HYPERLINK(\"x\") <script>alert(1)</script> " + "y" * 1958
    assert len(text) == 2000
    client.post(url, {**answer_for(trial_at(url, participant), 0), "justification": text})
    assert ChoiceResponse.objects.get().justification == text


def test_the_consent_page_shows_the_studys_own_text_escaped_or_the_built_in_one(client, study_factory,
                                                                               participant_factory):
    approved = "Ethics approval 2026/17 <script>alert(1)</script>.\n\nContact: study@example.org"
    own, plain = study_factory(images=1, consent_text=approved), study_factory(images=1)
    for study, expected, absent in (
        (own, ["<p>Ethics approval 2026/17 &lt;script&gt;alert(1)&lt;/script&gt;.</p>", "<p>Contact: study@example.org</p>"],
         ["You are invited", "<script>"]),
        (plain, ["You are invited to take part"], ["Ethics approval"]),
    ):
        client.logout()
        client.get(f"/i/{participant_factory(study).invite_token}/")
        html = client.get("/consent/").content.decode()
        assert all(text in html for text in expected) and not any(text in html for text in absent), html


def test_consent_without_agreeing_starts_nothing(client, study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1))
    client.get(f"/i/{participant.invite_token}/")
    response = client.post("/consent/", {})
    assert response.status_code == 400
    assert "tick the box to say you agree" in response.content.decode()
    participant.refresh_from_db()
    assert participant.consented_at is None and not participant.trials.exists()


@pytest.mark.parametrize("data, message", [
    ({"degree": "", "cv_experience_years": "2"}, "Choose your highest degree from the list."),
    ({"degree": "wizard", "cv_experience_years": "2"}, "Choose your highest degree from the list."),
    ({"degree": "master"}, "Enter your years of computer-vision experience as a whole number (0 if none)."),
    ({"degree": "master", "cv_experience_years": "-1"}, "cannot be negative"),
    ({"degree": "master", "cv_experience_years": "61"}, "Enter a number of years from 0 to 60."),
    ({"degree": "master", "cv_experience_years": "two"}, "as a whole number, e.g. 0 or 3."),
    ({"degree": "master", "cv_experience_years": "2.5"}, "as a whole number, e.g. 0 or 3."),
])
def test_bad_background_answers_are_refused(client, study_factory, participant_factory, data, message):
    participant = participant_factory(study_factory(images=1))
    client.get(f"/i/{participant.invite_token}/")
    client.post("/consent/", AGREE)
    client.post("/instructions/")
    response = client.post("/background/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    participant.refresh_from_db()
    assert (participant.degree, participant.cv_experience_years) == ("", None)
    assert location(client.get("/")) == "/background/"


def test_a_study_that_cannot_supply_its_plan_refuses_consent_clearly(client, study_factory, participant_factory,
                                                                      caplog):
    participant = participant_factory(study_factory(images=2, comparison_count=5))
    client.get(f"/i/{participant.invite_token}/")
    response = client.post("/consent/", AGREE)
    assert response.status_code == 503
    assert "The study is not ready yet." in response.content.decode()
    assert "asks for 5 side-by-side comparisons but only 2" in caplog.text
    participant.refresh_from_db()
    assert participant.consented_at is None and not participant.trials.exists()


def test_an_answer_without_the_csrf_token_is_refused(study_factory, participant_factory):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    participant = participant_factory(study_factory(images=1))
    client.get(f"/i/{participant.invite_token}/")
    assert client.post("/consent/", AGREE).status_code == 403
    participant.refresh_from_db()
    assert participant.consented_at is None
    page = client.get("/consent/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert location(client.post("/consent/", {**AGREE, "csrfmiddlewaretoken": token})) == "/instructions/"
