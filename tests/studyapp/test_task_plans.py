"""randomization.py's task blocks alone (issue 29): seeded pages, each image once per phase, shuffled options."""

from collections import Counter
from dataclasses import replace
from itertools import count

import pytest

from studyapp.randomization import (
    ATTENTION, ATTENTION_TARGETS, FEW_CLASSES, NO_CLASS_MAPS, NO_PREDICTION_MAP, NO_TRUE_CLASS, TRUE_CLASS_NOT_OFFERED,
    BlockSpec, ConditionSpec, StimulusRef, TaskSetup, TaskStimulusRef, block_problem, draw_plan, participant_seed, plan_length,
    screen_images,
)
from studyapp.schema import (
    CHOICE_BLOCK, DISTINCTION, LEARN, RATING_BLOCK, SIDE_BY_SIDE_SLOTS, SIMULATION, TEST, VERIFICATION,
    VERIFICATION_OPTIONS,
)

CLASSES = ("Coat", "Shirt", "Sandal", "Bag", "Dress", "Sneaker")
MODELS, METHOD = ("N", "A"), "VG"
N_VG, NONE_N = ConditionSpec("N", "VG"), ConditionSpec("N")


def task_refs(images=12, models=MODELS, ranks=4, top=4):
    """Each image (ids 1..) under each model: the VG maps of its top `ranks` classes, `top` classes recorded. The
    model is wrong on every third image; its classes rotate with the image."""
    ids = count(1000)
    refs = []
    for image in range(1, images + 1):
        true = CLASSES[image % len(CLASSES)]
        for model in models:
            shift = 1 if image % 3 == 0 else 0
            ranked = tuple(CLASSES[(image + shift + k) % len(CLASSES)] for k in range(max(top, ranks)))
            refs += [TaskStimulusRef(next(ids), image, model, METHOD, rank, ranked[rank - 1], ranked[:top], true)
                     for rank in range(1, ranks + 1)]
    return refs


def rank_one(refs):
    return [StimulusRef(r.stimulus, r.source_image, r.variant, r.method) for r in refs if r.target_rank == 1]


def plan_of(blocks, refs, condition=N_VG, seed=7, attention_checks=False):
    tasks = TaskSetup(tuple(blocks), (condition,), tuple(refs))
    return draw_plan(rank_one(refs), seed, comparison_count=None, attention_checks=attention_checks, tasks=tasks,
                     condition=condition)


def by_id(refs):
    return {ref.stimulus: ref for ref in refs}


def test_a_distinction_page_shows_the_top_k_maps_labelled_in_its_options_order_shuffled_per_participant():
    refs = task_refs()
    lookup = by_id(refs)
    block = BlockSpec(1, DISTINCTION, top_k=3, images=8)
    orders = set()
    for n in range(20):
        plan = plan_of([block], refs, seed=participant_seed(5, n))
        assert len(plan) == 8 and {t.kind for t in plan} == {DISTINCTION} and {t.block for t in plan} == {1}
        assert len({t.source_image for t in plan}) == 8
        for t in plan:
            prediction = lookup[t.stimulus]
            assert (prediction.variant, prediction.target_rank, prediction.source_image) == ("N", 1, t.source_image)
            assert sorted(t.options) == sorted(prediction.top_classes[:3])
            maps = [lookup[getattr(t, slot)] for slot in SIDE_BY_SIDE_SLOTS[:3]]
            assert [m.target_class for m in maps] == list(t.options) and t.fourth is None
            assert {(m.variant, m.method, m.source_image) for m in maps} == {("N", "VG", t.source_image)}
            orders.add(t.options.index(prediction.target_class))
    assert orders == {0, 1, 2}  # the prediction's map takes every place


def test_the_no_map_control_gets_the_same_questions_without_maps():
    refs = task_refs()
    plan = plan_of([BlockSpec(1, DISTINCTION, images=5)], refs, condition=NONE_N)
    assert all(t.left is None and t.middle is None and len(t.options) == 4 for t in plan)
    assert {by_id(refs)[t.stimulus].variant for t in plan} == {"N"}


def test_a_simulation_block_learns_on_other_images_than_it_tests_and_shows_each_once_per_phase():
    refs = task_refs(images=12)
    block = BlockSpec(2, SIMULATION, top_k=2, images=5, learning_images=6, learning_guess=False)
    for n in range(30):
        plan = plan_of([block], refs, seed=participant_seed(11, n), attention_checks=True)
        learn = [t for t in plan if t.phase == LEARN]
        test = [t for t in plan if t.phase == TEST and t.kind == SIMULATION]
        checks = [t for t in plan if t.kind == ATTENTION]
        assert [t.phase for t in plan[:6]] == [LEARN] * 6 and len(test) == 5
        assert len({t.source_image for t in learn}) == 6 and len({t.source_image for t in test}) == 5
        assert not {t.source_image for t in learn} & {t.source_image for t in test}
        assert all(t.options == () for t in learn)  # no guess asked: the page only says what the model says
        assert all(len(t.options) == 2 for t in test)
        # The checks look like test pages, never first, and show images the test phase does not.
        assert len(checks) == len(ATTENTION_TARGETS) and {t.phase for t in checks} == {TEST}
        assert plan.index(checks[0]) > 6 and not {t.source_image for t in checks} & {t.source_image for t in test}
        assert all(1 <= t.attention_target <= len(t.options) for t in checks)


def test_learning_pages_that_ask_a_guess_offer_the_top_k_in_random_order():
    refs = task_refs()
    plan = plan_of([BlockSpec(1, SIMULATION, top_k=4, images=3, learning_images=4, learning_guess=True)], refs)
    assert all(len(t.options) == 4 for t in plan if t.phase == LEARN)


def test_blank_page_counts_take_every_image_and_a_simulation_learns_on_half():
    refs = task_refs(images=9)
    assert len(plan_of([BlockSpec(1, VERIFICATION)], refs)) == 9
    phases = Counter(t.phase for t in plan_of([BlockSpec(1, SIMULATION)], refs))
    assert phases == {LEARN: 4, TEST: 5}


def test_verification_offers_accept_then_reject():
    plan = plan_of([BlockSpec(1, VERIFICATION, images=4)], task_refs(ranks=1, top=1), attention_checks=True)
    assert {t.options for t in plan} == {VERIFICATION_OPTIONS}
    assert {t.attention_target for t in plan if t.kind == ATTENTION} <= {1, 2}


def test_blocks_run_in_order_each_reproducible_from_its_seed():
    refs = task_refs()
    blocks = [BlockSpec(1, RATING_BLOCK), BlockSpec(2, DISTINCTION, images=4), BlockSpec(3, VERIFICATION, images=4),
              BlockSpec(4, CHOICE_BLOCK)]
    plan = plan_of(blocks, refs, attention_checks=True)
    assert [t.block for t in plan] == sorted(t.block for t in plan)
    assert Counter(t.block for t in plan) == {1: 12 * 2 + 2, 2: 4 + 2, 3: 4 + 2, 4: 12}
    assert plan == plan_of(blocks, refs, attention_checks=True)
    assert plan != plan_of(blocks, refs, seed=8, attention_checks=True)
    tasks = TaskSetup(tuple(blocks), (N_VG,), tuple(refs))
    assert len(plan) == plan_length(rank_one(refs), comparison_count=None, attention_checks=True, tasks=tasks,
                                    condition=N_VG)


def test_later_task_blocks_draw_images_no_earlier_block_showed_until_those_run_out():
    refs = task_refs(images=12)
    apart = [BlockSpec(1, DISTINCTION, images=4), BlockSpec(2, SIMULATION, images=2, learning_images=2),
             BlockSpec(3, VERIFICATION, images=4)]
    for n in range(20):
        plan = plan_of(apart, refs, seed=participant_seed(5, n))
        images = [t.source_image for t in plan]
        assert len(images) == 12 and len(set(images)) == 12  # 4 + 2 + 2 + 4 pages: every image once
    # Two blocks of 8 on 12 images: the second takes the 4 the first left, then 4 of the first's again.
    plan = plan_of([BlockSpec(1, VERIFICATION, images=8), BlockSpec(2, VERIFICATION, images=8)], refs)
    first, second = ({t.source_image for t in plan if t.block == b} for b in (1, 2))
    assert len(first) == len(second) == 8 and len(first | second) == 12


def test_a_study_without_blocks_draws_exactly_the_plan_it_drew_before():
    refs = task_refs()
    stimuli = rank_one(refs)
    before = draw_plan(stimuli, 7, comparison_count=None, attention_checks=True)
    assert draw_plan(stimuli, 7, comparison_count=None, attention_checks=True,
                     tasks=TaskSetup((), (N_VG,), tuple(refs)), condition=N_VG) == before


def test_screening_names_why_each_image_is_left_out():
    refs = task_refs(images=6, ranks=2, top=4)
    dropped = [replace(r, true_class="") if r.source_image == 2 else r for r in refs
               if not (r.source_image == 1 and r.variant == "N" and r.target_rank == 1)]
    screening = screen_images(BlockSpec(1, DISTINCTION, top_k=4), N_VG, dropped)
    assert screening.usable == {} and screening.left_out == {NO_CLASS_MAPS: 4, NO_PREDICTION_MAP: 1, NO_TRUE_CLASS: 1}
    assert len(screen_images(BlockSpec(1, DISTINCTION, top_k=2), N_VG, refs).usable) == 6
    assert screen_images(BlockSpec(1, SIMULATION, top_k=4), N_VG, task_refs(images=3, top=3)).left_out == {
        FEW_CLASSES: 3}
    asking = BlockSpec(1, DISTINCTION, top_k=2, ask_true_class=True)
    assert screen_images(asking, NONE_N, refs).left_out == {TRUE_CLASS_NOT_OFFERED: 2}  # the model's errors


def test_a_block_that_asks_for_more_images_than_it_can_use_says_so():
    refs = task_refs(images=6)
    block = BlockSpec(3, SIMULATION, images=4, learning_images=3)
    problem = block_problem(block, N_VG, screen_images(block, N_VG, refs))
    assert problem.startswith("Block 3 (simulation) asks for 3 learning and 4 test pages, each on another image, "
                              "but under condition N×VG only 6 of the study's images can be shown.")
    with pytest.raises(ValueError, match="asks for 3 learning and 4 test pages"):
        plan_of([block], refs)
    few = task_refs(images=4, top=3)
    wide = BlockSpec(1, DISTINCTION, top_k=4)
    assert ": 4 image(s) record fewer of the model's top classes than the block offers." in block_problem(
        wide, N_VG, screen_images(wide, N_VG, few))
    assert "no task conditions" in block_problem(wide, None, None)
