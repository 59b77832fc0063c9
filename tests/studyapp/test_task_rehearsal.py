"""simulate_participants through a study with task blocks (issue 29): every page answered through the real views,
right as often as --accuracy asks per condition, at random without it; bad --accuracy refused, nothing kept."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from studyapp.models import Outcome, Participant, TaskResponse
from studyapp.schema import ACCEPT, DISTINCTION, MODEL_OUTPUT, PREDICTED, SIMULATION, TRUE_CLASS, VERIFICATION
from studyapp.scoring import right_answer
from tests.helpers.shipped_tasks import task_study

pytestmark = pytest.mark.django_db

BLOCKS = [{"kind": DISTINCTION, "top_k": 4, "images": 6, "ask_true_class": True},
          {"kind": SIMULATION, "top_k": 3, "images": 6, "learning_images": 3, "learning_guess": True},
          {"kind": VERIFICATION, "images": 6}]
QUESTION = {DISTINCTION: PREDICTED, SIMULATION: MODEL_OUTPUT, VERIFICATION: ACCEPT}


def run(**options):
    out = io.StringIO()
    call_command("simulate_participants", stdout=out, **options)
    return out.getvalue()


def right_shares(study):
    """{condition name: (right answers, answers)} of the study's stored task answers, by scoring's rule."""
    shares = {}
    for response in TaskResponse.objects.filter(trial__participant__study=study).select_related(
            "trial__block", "trial__stimulus__source_image", "trial__participant__task_condition"):
        trial = response.trial
        facts = {"model_prediction": trial.stimulus.target_class,
                 "true_class": trial.stimulus.source_image.class_name}
        answers = [(QUESTION[trial.block.kind], response.answer)]
        if response.true_class_answer:
            answers.append((TRUE_CLASS, response.true_class_answer))
        right, total = shares.get(trial.participant.task_condition.name, (0, 0))
        shares[trial.participant.task_condition.name] = (
            right + sum(answer == right_answer(question, **facts) for question, answer in answers),
            total + len(answers))
    return shares


def test_a_rehearsal_answers_right_as_often_as_each_condition_asks():
    study = task_study(BLOCKS, conditions=[("N", ""), ("N", "VG")], attention_checks=True)
    output = run(study=study.slug, count=12, seed=4, accuracy="none=0.35,N×VG=0.9")
    assert "Simulated 12 of 12 participants" in output
    assert "72 attention checks (0 failed), 324 task answers (" in output
    participants = Participant.objects.filter(study=study)
    assert set(participants.values_list("outcome", flat=True)) == {Outcome.COMPLETED}
    # 6 + 6 distinction answers, 3 guesses, 6 test and 6 verification answers each.
    assert TaskResponse.objects.exclude(answer="").count() == 12 * (6 + 3 + 6 + 6)
    shares = right_shares(study)
    assert {name: total for name, (_, total) in shares.items()} == {"none": 6 * 27, "N×VG": 6 * 27}
    assert abs(shares["none"][0] / shares["none"][1] - 0.35) < 0.08
    assert abs(shares["N×VG"][0] / shares["N×VG"][1] - 0.9) < 0.06


def test_without_accuracy_a_rehearsal_answers_at_random_among_the_options_shown():
    study = task_study([BLOCKS[0]], conditions=[("N", "VG")], attention_checks=False)
    run(study=study.slug, count=6, seed=2)
    responses = list(TaskResponse.objects.select_related("trial"))
    assert all(r.answer in r.trial.options and r.true_class_answer in r.trial.options for r in responses)
    assert {r.trial.options.index(r.answer) for r in responses} == {0, 1, 2, 3}
    right, total = right_shares(study)["N×VG"]
    assert total == 6 * 12 and 0.1 < right / total < 0.45  # chance is 1/4
    assert {r.confidence for r in responses} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("accuracy, message", [
    ("N×IG=0.7", "--accuracy names condition\\(s\\) N×IG, which study 'tasks' does not have; its task conditions "
                 "are N×none, N×VG."),
    ("none=0.5,N×VG=1.2", "--accuracy: accuracies N×VG=1.2 are not between 0 and 1."),
    ("none=0.5", "--accuracy: a bare none belongs to the model of the explanation conditions"),
    ("N×VG=high", "--accuracy: 'high' for condition N×VG is not a number."),
    ("VG=0.5", "--accuracy: 'VG' is not a condition"),
])
def test_bad_accuracies_are_refused_and_nothing_is_kept(accuracy, message):
    study = task_study(BLOCKS, conditions=[("N", ""), ("N", "VG")])
    with pytest.raises(CommandError, match=message):
        run(study=study.slug, count=2, accuracy=accuracy)
    assert not Participant.objects.exists()
