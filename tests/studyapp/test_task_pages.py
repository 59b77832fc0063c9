"""Participants through the task blocks over HTTP (issue 29): distinction, forward simulation (learning with and
without a guess, then test), verification; attention checks that look like them; blinding; bad input refused."""

import re

import pytest
from django.conf import settings

from saliency.models import Stimulus
from studyapp.enrollment import enroll_participants
from studyapp.models import AttentionCheck, Outcome, TaskResponse, Trial
from studyapp.schema import CONFIDENCE_LABELS, DISTINCTION, LEARN, SIMULATION, TEST, VERIFICATION
from tests.helpers.blinding import METHOD_CODES, VARIANT_CODES, assert_blind, embedded_png
from tests.helpers.survey import (
    answer_for, location, past_feedback, play_to_end, play_until, start, stored_answers, trial_at,
)
from tests.helpers.shipped_tasks import task_study
from tests.studyapp.test_survey import assert_refused, changed

pytestmark = pytest.mark.django_db

DISTINCTION_BLOCK = {"kind": DISTINCTION, "top_k": 4, "images": 3, "ask_true_class": True}
SIMULATION_BLOCK = {"kind": SIMULATION, "top_k": 3, "images": 3, "learning_images": 2, "learning_guess": True}
VERIFICATION_BLOCK = {"kind": VERIFICATION, "images": 3}
EVERY_BLOCK = [DISTINCTION_BLOCK, SIMULATION_BLOCK, VERIFICATION_BLOCK]
CONTROL_FIRST = [("N", ""), ("N", "VG")]


def enrolled(study):
    """The study's first participant: the first task condition's."""
    return enroll_participants(study, 1)[0]


def first_page(client, study):
    """The study's first participant (enrolled) at their first page: (participant, its URL, its HTML as served,
    its trial)."""
    participant = enrolled(study)
    url = start(client, participant)
    html = client.get(url).content.decode()
    return participant, url, html, trial_at(url, participant)


def legends(html):
    return re.findall(r"<legend>(.*?)</legend>", html)


def radio_values(html, name):
    return re.findall(rf'<input type="radio" name="{name}" value="([^"]*)"', html)


def captions(html):
    return re.findall(r"<figcaption>(.*?)</figcaption>", html)


def shown_pngs(html):
    return [embedded_png(src) for src in re.findall(r'<img src="(data:[^"]+)"', html)]


def png(name):
    return (settings.STIMULI_ROOT / name).read_bytes()


def test_a_participant_in_a_map_condition_walks_through_every_block_kind_and_every_answer_is_stored(client):
    study = task_study(EVERY_BLOCK, attention_checks=True)
    participant = enrolled(study)
    posted = play_to_end(client, participant, start(client, participant))
    participant.refresh_from_db()
    assert participant.outcome == Outcome.COMPLETED and participant.task_condition.name == "N×VG"
    trials = {t.position: t for t in participant.trials.select_related("block")}
    assert len(posted) == len(trials) == (3 + 2) + (2 + 3 + 2) + (3 + 2)
    for position, data in posted.items():
        trial = trials[position]
        if trial.kind == Trial.Kind.ATTENTION:
            check = AttentionCheck.objects.get(trial=trial)
            assert check.passed and trial.options[check.answer - 1] == data["answer"]
            continue
        stored = TaskResponse.objects.get(trial=trial)
        assert stored.answer == data.get("answer", "") and stored.answer in [*trial.options, ""]
        assert stored.confidence == (int(data["confidence"]) if "confidence" in data else None)
        assert (stored.true_class_answer, stored.true_class_confidence) == (
            data.get("true_class", ""), int(data["true_class_confidence"]) if "true_class" in data else None)
    learning = [t for t in trials.values() if t.phase == LEARN]
    assert len(learning) == 2 and all(TaskResponse.objects.get(trial=t).answer for t in learning)


def test_a_distinction_page_shows_the_top_k_maps_by_class_in_the_options_order(client):
    study = task_study([DISTINCTION_BLOCK], attention_checks=False)
    participant, url, html, trial = first_page(client, study)
    maps = [trial.left, trial.middle, trial.right, trial.fourth]
    assert [m.target_class for m in maps] == trial.options and {m.variant for m in maps} == {"N"}
    assert sorted(trial.options) == sorted(trial.stimulus.top_classes)
    assert captions(html) == ["Image", *trial.options]
    assert shown_pngs(html) == [png(trial.source_image.image), *(png(m.heatmap) for m in maps)]
    for option in trial.options:
        assert f"alt=\"Saliency map for class '{option}'\"" in html
    assert "True class" not in html  # it asks for it instead
    assert legends(html) == ["Which class does the model predict?",
                             "How confident are you of the model&#x27;s prediction you chose?",
                             "Which class is correct?", "How confident are you of the correct class you chose?"]
    assert radio_values(html, "answer") == radio_values(html, "true_class") == trial.options
    assert radio_values(html, "confidence") == ["1", "2", "3", "4", "5"]
    for level, label in enumerate(CONFIDENCE_LABELS, start=1):
        assert f"<span>{level} – {label}</span>" in html


def test_a_distinction_page_that_shows_the_true_class_asks_only_for_the_models_prediction(client):
    """HIVE's labels variant; a block cannot both show the true class and ask for it (Block.clean)."""
    study = task_study([{**DISTINCTION_BLOCK, "show_true_class": True, "ask_true_class": False}],
                       attention_checks=False)
    participant, url, html, trial = first_page(client, study)
    assert f"True class: <strong>{trial.source_image.class_name}</strong>" in html
    assert legends(html) == ["Which class does the model predict?",
                             "How confident are you of the model&#x27;s prediction you chose?"]
    assert radio_values(html, "answer") == trial.options and not radio_values(html, "true_class")
    assert location(client.post(url, {"trial": trial.token, "answer": trial.options[0], "confidence": "4"})) == (
        "/trial/2/")
    stored = TaskResponse.objects.get(trial=trial)
    assert (stored.answer, stored.confidence, stored.true_class_answer) == (trial.options[0], 4, "")


def test_the_no_map_control_sees_the_classes_without_any_map(client):
    study = task_study(EVERY_BLOCK, conditions=CONTROL_FIRST, attention_checks=False)
    participant = enrolled(study)
    url = start(client, participant)
    while url != "/complete/":
        html = client.get(url).content.decode()
        trial = trial_at(url, participant)
        assert shown_pngs(html) == [png(trial.source_image.image)] and "Saliency map" not in html
        url = past_feedback(client, location(client.post(url, answer_for(trial, trial.position))))
    participant.refresh_from_db()
    assert participant.task_condition.name == "none" and participant.outcome == Outcome.COMPLETED


def test_a_learning_page_with_a_guess_gives_feedback_then_goes_on(client):
    study = task_study([SIMULATION_BLOCK], attention_checks=False)
    participant, url, html, trial = first_page(client, study)
    prediction = trial.stimulus.target_class
    assert trial.phase == LEARN and len(trial.options) == 3 and "The model says" not in html
    assert legends(html) == ["What will the model say?"] and "Send my guess" in html
    assert shown_pngs(html) == [png(trial.source_image.image), png(trial.stimulus.heatmap)]
    wrong = next(option for option in trial.options if option != prediction)
    feedback = location(client.post(url, {"trial": trial.token, "answer": wrong}))
    assert feedback == "/trial/1/feedback/"
    page = client.get(feedback).content.decode()
    assert "Your guess was wrong" in page and f"You guessed: <strong>{wrong}</strong>" in page
    assert f"The model says: <strong>{prediction}</strong>" in page
    assert '<a class="button next" href="/trial/2/" rel="next">Next</a>' in page
    assert TaskResponse.objects.get(trial=trial).answer == wrong
    second = trial_at("/trial/2/", participant)
    client.get("/trial/2/")
    right = location(client.post("/trial/2/", {"trial": second.token, "answer": second.stimulus.target_class}))
    assert "Your guess was right" in client.get(right).content.decode()
    # Feedback is shown only right after its guess; a later or unanswered page's address leads to the current page.
    client.get("/trial/3/")
    for elsewhere in ("/trial/1/feedback/", "/trial/3/feedback/", "/trial/99/feedback/"):
        assert location(client.get(elsewhere)) == "/trial/3/"


def test_learning_pages_without_a_guess_say_what_the_model_says_and_test_pages_give_no_feedback(client):
    study = task_study([{**SIMULATION_BLOCK, "learning_guess": False}], attention_checks=False)
    participant, url, html, trial = first_page(client, study)
    assert f"The model says: <strong>{trial.stimulus.target_class}</strong>" in html and not legends(html)
    assert location(client.post(url, {"trial": trial.token})) == "/trial/2/"
    assert TaskResponse.objects.get(trial=trial).answer == ""
    url = play_until(client, participant, "/trial/2/", SIMULATION, TEST)
    test = trial_at(url, participant)
    html = client.get(url).content.decode()
    assert "The model says" not in html and "True class" not in html
    assert legends(html) == ["What will the model say?", "How confident are you of what the model will say?"]
    after = location(client.post(url, {"trial": test.token, "answer": test.options[0], "confidence": "3"}))
    assert after == f"/trial/{test.position + 1}/"


def test_a_verification_page_shows_the_ais_label_and_offers_accept_then_reject(client):
    study = task_study([VERIFICATION_BLOCK], attention_checks=False)
    participant, url, html, trial = first_page(client, study)
    assert f"The AI says: <strong>{trial.stimulus.target_class}</strong>" in html
    assert radio_values(html, "answer") == ["accept", "reject"] and "<span>Accept</span>" in html
    assert legends(html)[0] == "Do you accept or reject the AI&#x27;s label?"
    client.post(url, {"trial": trial.token, "answer": "reject", "confidence": "5"})
    assert (TaskResponse.objects.get(trial=trial).answer, TaskResponse.objects.get().confidence) == ("reject", 5)


def test_an_attention_check_in_a_task_block_looks_like_its_pages_and_counts(client):
    study = task_study([DISTINCTION_BLOCK], attention_checks=True, attention_failure_ending="early")
    participant = enrolled(study)
    url = play_until(client, participant, start(client, participant), Trial.Kind.ATTENTION)
    check = trial_at(url, participant)
    html = client.get(url).content.decode()
    instructed = check.options[check.attention_target - 1]
    assert check.block.kind == DISTINCTION and len(shown_pngs(html)) == 5
    assert legends(html) == [f"To show you are reading, select &#x27;{instructed}&#x27; for this question.",
                             "How confident are you of the model&#x27;s prediction you chose?",
                             "Which class is correct?", "How confident are you of the correct class you chose?"]
    other = next(option for option in check.options if option != instructed)
    client.post(url, {**answer_for(check, 0), "answer": other})
    stored = AttentionCheck.objects.get(trial=check)
    assert not stored.passed and stored.answer == check.options.index(other) + 1
    participant.refresh_from_db()
    assert participant.outcome == Outcome.ATTENTION_FAILED


def test_no_task_page_names_a_model_or_method(client):
    """Blinding: words, attributes, alt texts and embedded PNGs of every page, refused answers' pages included."""
    study = task_study(EVERY_BLOCK, attention_checks=True, map_legend=True)
    participant = enrolled(study)
    url = start(client, participant)
    tokens = set(participant.trials.values_list("token", flat=True))
    shown = set()
    while url != "/complete/":
        trial = trial_at(url, participant)
        pages = [client.get(url).content.decode(), client.post(url, {"trial": trial.token}).content.decode()]
        url = location(client.post(url, answer_for(trial, trial.position)))
        if "/feedback/" in url:
            pages.append(client.get(url).content.decode())
            url = past_feedback(client, url)
        for html in pages:
            parsed = assert_blind(html, tokens, VARIANT_CODES | METHOD_CODES)
            assert {img["alt"] for img in parsed.images} <= {"Original image", "Saliency map", *(
                f"Saliency map for class '{option}'" for option in trial.options)}
            shown.update(embedded_png(img["src"]) for img in parsed.images)
    heatmaps = {png(s.heatmap) for s in Stimulus.objects.filter(pk__in=participant.trials.values("stimulus"))}
    assert heatmaps <= shown


@pytest.mark.parametrize("change, message", [
    ({"answer": None}, "Choose one of "),
    ({"answer": "Trouser and more"}, "Choose one of "),
    ({"confidence": None}, "Choose how confident you are, from 1 (Not confident at all) to 5 (Completely confident)"),
    ({"confidence": "0"}, "Choose how confident you are"),
    ({"confidence": "6"}, "Choose how confident you are"),
    ({"confidence": "2.5"}, "Choose how confident you are"),
    ({"true_class": None}, "for: Which class is correct?"),
    ({"true_class_confidence": "9"}, "for: How confident are you of the correct class you chose?"),
    ({"trial": "forged-token-aaaaaaaaaaa"}, "That answer did not come from this page"),
])
def test_bad_task_answers_are_refused_and_store_nothing(client, change, message):
    study = task_study([DISTINCTION_BLOCK], attention_checks=False)
    participant, url, _, trial = first_page(client, study)
    assert_refused(client.post(url, changed(answer_for(trial, 0), change)), message, before=0)
    assert location(client.get("/")) == url


def test_an_option_another_page_showed_is_refused(client):
    study = task_study([{**DISTINCTION_BLOCK, "top_k": 2, "ask_true_class": False}], attention_checks=False)
    participant, url, _, trial = first_page(client, study)
    elsewhere = {option for t in participant.trials.all() for option in t.options} - set(trial.options)
    for option in sorted(elsewhere)[:3]:
        assert_refused(client.post(url, {**answer_for(trial, 0), "answer": option}),
                       f"Choose one of {trial.options[0]} or {trial.options[1]} for: Which class does the model "
                       "predict?", before=0)


def test_a_learning_guess_is_an_answer_among_the_options_and_a_verification_among_accept_and_reject(client):
    study = task_study([SIMULATION_BLOCK, VERIFICATION_BLOCK], attention_checks=False)
    participant, url, _, trial = first_page(client, study)
    assert_refused(client.post(url, {"trial": trial.token}), "for: What will the model say?", before=0)
    url = play_until(client, participant, url, VERIFICATION)
    trial = trial_at(url, participant)
    before = stored_answers()
    assert_refused(client.post(url, {"trial": trial.token, "answer": "maybe", "confidence": "3"}),
                   "Choose one of Accept or Reject for: Do you accept or reject the AI&#x27;s label?", before)


def test_a_second_answer_to_a_task_page_stores_nothing_and_the_first_stands(client):
    study = task_study([VERIFICATION_BLOCK], attention_checks=False)
    participant, url, _, trial = first_page(client, study)
    assert location(client.post(url, {"trial": trial.token, "answer": "accept", "confidence": "4"})) == "/trial/2/"
    again = client.post(url, {"trial": trial.token, "answer": "reject", "confidence": "1"})
    assert location(again) == "/trial/2/"
    assert "so it was not saved; your earlier answer stands" in client.get("/trial/2/").content.decode()
    stored = TaskResponse.objects.get()
    assert (stored.trial_id, stored.answer, stored.confidence) == (trial.pk, "accept", 4)


def test_the_instructions_describe_the_blocks_in_order(client):
    study = task_study(EVERY_BLOCK, bonus_per_correct="0.10", bonus_cap="2.00")
    participant = enrolled(study)
    client.get(f"/i/{participant.invite_token}/")
    client.post("/consent/", {"agree": "on", "consent_version": "1"})
    html = client.get("/instructions/").content.decode()
    assert html.index("say which class the model") < html.index("First, learn how the model answers") < html.index(
        "accept the label if you think it is right")
    assert "earns you a bonus (up to 2.00 in all)" in html and "no right or wrong answers" not in html
