"""A study with task blocks in the database (issue 29): conditions assigned at consent, plans stored as drawn, and
the opening checks that refuse a study its participants could not take."""

import pytest
from django.core.exceptions import ValidationError

from saliency.models import Stimulus
from studyapp import randomization
from studyapp.enrollment import enroll_participants
from studyapp.models import Block, TaskCondition, Trial
from studyapp.schema import DISTINCTION, LEARN, SIMULATION, TEST, VERIFICATION
from studyapp.survey import start_study
from tests.helpers.shipped_tasks import task_study

pytestmark = pytest.mark.django_db

BLOCKS = [{"kind": DISTINCTION, "top_k": 4, "images": 4},
          {"kind": SIMULATION, "top_k": 3, "images": 4, "learning_images": 4},
          {"kind": VERIFICATION, "images": 4}]


def consent_all(study, count):
    participants = enroll_participants(study, count)
    for participant in participants:
        start_study(participant, study.ensure_consent_version())
        participant.refresh_from_db()
    return participants


def test_conditions_are_assigned_in_turn_at_consent_and_the_plan_uses_their_models_maps():
    study = task_study(BLOCKS, conditions=[("N", "VG"), ("N", ""), ("A", "VG")])
    participants = consent_all(study, 7)
    names = [p.task_condition.name for p in participants]
    assert names == ["N×VG", "none", "A×VG"] * 2 + ["N×VG"]
    assert sorted(TaskCondition.objects.filter(study=study).values_list("participants", flat=True)) == sorted(
        p.pk for p in participants)
    for participant in participants:
        condition = participant.task_condition
        trials = list(participant.trials.select_related("stimulus", "block", "left", "fourth"))
        assert {t.stimulus.variant for t in trials} == {condition.model}
        assert all(t.stimulus.target_rank == 1 for t in trials)
        distinction = [t for t in trials if t.block.kind == DISTINCTION]
        if condition.method:
            assert all(t.left.target_rank in (1, 2, 3, 4) and t.fourth.variant == condition.model
                       for t in distinction)
        else:
            assert all(t.left is None for t in distinction)
        # The stored plan is the one the recorded seed draws.
        tasks = study.task_setup()
        drawn = randomization.draw_plan(study.stimulus_refs(), participant.seed, comparison_count=None,
                                        attention_checks=True, design=study.design(participant.design_index),
                                        tasks=tasks, condition=condition.spec)
        assert [(t.kind, t.stimulus_id, t.source_image_id, t.phase, tuple(t.options), t.attention_target,
                 t.block.position) for t in trials] == [
            (p.kind, p.stimulus, p.source_image, p.phase, p.options, p.attention_target, p.block) for p in drawn]


def test_a_simulation_blocks_phases_use_other_images_and_each_image_once_per_phase():
    study = task_study(BLOCKS)
    for participant in consent_all(study, 4):
        pages = participant.trials.filter(block__kind=SIMULATION, kind=SIMULATION)
        learn = list(pages.filter(phase=LEARN).values_list("source_image", flat=True))
        test = list(pages.filter(phase=TEST).values_list("source_image", flat=True))
        assert len(set(learn)) == len(learn) == 4 and len(set(test)) == len(test) == 4
        assert not set(learn) & set(test)


def test_previews_are_assigned_apart_from_participants():
    study = task_study(BLOCKS)
    preview = enroll_participants(study, 1, is_preview=True, source="preview")[0]
    start_study(preview, study.ensure_consent_version())
    first = consent_all(study, 1)[0]
    preview.refresh_from_db()
    assert (preview.task_condition.name, first.task_condition.name) == ("N×VG", "N×VG")


def opening_messages(study):
    study.is_open = True
    with pytest.raises(ValidationError) as refused:
        study.full_clean()
    return " ".join(refused.value.message_dict["__all__"])


def test_task_blocks_without_conditions_refuse_to_open():
    study = task_study(BLOCKS, conditions=[])
    assert ("Block 1 (distinction) has a right answer, but the study has no task conditions: add at least one"
            in opening_messages(study))


def test_a_condition_whose_model_has_no_maps_refuses_to_open():
    study = task_study(BLOCKS, conditions=[("N", "VG"), ("N", "IG"), ("G", "")])
    messages = opening_messages(study)
    assert ("Task condition N×IG needs the study's maps of model N by IG, and the study has none" in messages)
    assert "Task condition none (no map; model G) needs the study's maps of model G, and the study has" in messages


def test_a_distinction_block_without_the_top_k_maps_refuses_to_open():
    study = task_study(BLOCKS[:1])
    study.stimuli.remove(*Stimulus.objects.filter(variant="N", target_rank=4))
    assert ("Block 1 (distinction) can show none of the study's images under condition N×VG: 32 image(s) lack the "
            "maps of the classes offered." in opening_messages(study))
    Block.objects.filter(study=study).update(top_k=3)
    study.full_clean()  # three maps of each image are there


def test_a_block_asking_more_pages_than_images_refuses_to_open_and_the_survey_never_500s(client):
    study = task_study([{"kind": SIMULATION, "images": 20, "learning_images": 20}], is_open=False)
    assert ("Block 1 (simulation) asks for 20 learning and 20 test pages, each on another image, but under condition "
            "N×VG only 32 of the study's images can be shown." in opening_messages(study))
    participant = enroll_participants(study, 1)[0]
    client.get(f"/i/{participant.invite_token}/")
    refused = client.post("/consent/", {"agree": "on", "consent_version": "1"})
    assert refused.status_code == 503 and "The study is not ready yet" in refused.content.decode()
    assert not Trial.objects.exists()


def test_a_top_k_above_the_recorded_classes_refuses_to_open():
    study = task_study([{"kind": VERIFICATION}, {"kind": DISTINCTION, "top_k": 2}])
    for stimulus in Stimulus.objects.filter(variant="N", target_rank=1):
        stimulus.top_classes, stimulus.top_probabilities = stimulus.top_classes[:1], stimulus.top_probabilities[:1]
        stimulus.save()
    assert ("Block 2 (distinction) can show none of the study's images under condition N×VG: 32 image(s) record "
            "fewer of the model's top classes than the block offers. Add the stimuli it needs (e.g. generate_stimuli --targets "
            "top-k 2)" in opening_messages(study))
    assert "Block 1" not in opening_messages(study)  # verification needs only the prediction


def test_a_runnable_task_study_opens_and_reports_its_length():
    study = task_study(BLOCKS)
    study.is_open = True
    study.full_clean()
    assert study.plan_length() == (4 + 2) + (4 + 4 + 2) + (4 + 2)


def test_readiness_warns_of_conditions_without_a_task_block_and_spares_a_study_without_side_by_side_pages():
    from studyapp import readiness

    study = task_study([{"kind": "rating"}], conditions=[("N", "VG")], models=("N",))
    warnings = readiness.rule_conflicts(study)
    assert any("task conditions but no task block" in w for w in warnings)
    assert not any("side-by-side page" in w for w in warnings)  # one model's map per image, and no choice block
    Block.objects.create(study=study, position=2, kind=VERIFICATION)
    assert not any("task conditions but no task block" in w for w in readiness.rule_conflicts(study))
    Block.objects.filter(study=study).delete()
    assert any("32 image(s) get no side-by-side page" in w for w in readiness.rule_conflicts(study))
