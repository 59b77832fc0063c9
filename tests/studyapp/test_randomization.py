"""randomization.py alone: seeded orders, attention checks, balanced side-by-side positions."""

import hashlib
from collections import Counter
from itertools import product

import pytest

from studyapp.randomization import (ARRANGEMENTS, ATTENTION, ATTENTION_TARGETS, CHOICE, COMPARE_METHODS, RATING, Design,
                                    StimulusRef, arrangements, draw_plan, participant_seed, plan_length,
                                    uncompared_images)
from studyapp.schema import SIDE_BY_SIDE_SLOTS

VARIANTS = ("A", "M2", "N")


def refs(images=20, variants=VARIANTS):
    """`images` source images (ids 1..), one stimulus per variant, stimulus ids 100, 101, ..."""
    ids = iter(range(100, 100 + images * len(variants)))
    return [StimulusRef(next(ids), image, variant) for image in range(1, images + 1) for variant in variants]


def rating_order(plan):
    return [t.stimulus for t in plan if t.kind == RATING]


def test_ratings_are_a_permutation_of_the_studys_stimuli_and_come_first():
    stimuli = refs()
    plan = draw_plan(stimuli, seed=7, comparison_count=None, attention_checks=True)
    assert sorted(rating_order(plan)) == sorted(s.stimulus for s in stimuli)
    kinds = [t.kind for t in plan]
    assert kinds.index(CHOICE) > max(i for i, k in enumerate(kinds) if k != CHOICE)
    assert len(plan) == plan_length(stimuli, comparison_count=None, attention_checks=True) == 60 + 2 + 20


def test_the_same_seed_reproduces_the_plan_and_other_seeds_differ():
    stimuli = refs()
    plans = [draw_plan(stimuli, seed=participant_seed(42, n), comparison_count=None, attention_checks=True)
             for n in range(30)]
    assert plans[0] == draw_plan(stimuli, seed=participant_seed(42, 0), comparison_count=None, attention_checks=True)
    assert len({tuple(rating_order(p)) for p in plans}) == 30
    assert len({tuple(t.source_image for t in p if t.kind == CHOICE) for p in plans}) == 30


def test_attention_checks_are_mixed_into_the_ratings_never_first():
    stimuli = refs(images=5)
    for seed in range(200):
        plan = draw_plan(stimuli, seed=seed, comparison_count=0, attention_checks=True)
        checks = [(i, t.attention_target) for i, t in enumerate(plan) if t.kind == ATTENTION]
        assert [target for _, target in checks] == list(ATTENTION_TARGETS)
        assert all(0 < i < len(plan) for i, _ in checks)
        assert checks[0][0] < checks[1][0]
    assert ATTENTION not in {t.kind for t in draw_plan(stimuli, seed=1, comparison_count=0, attention_checks=False)}


def test_a_single_stimulus_still_takes_both_attention_checks():
    plan = draw_plan(refs(images=1, variants=("N",)), seed=3, comparison_count=None, attention_checks=True)
    assert [t.kind for t in plan] == [RATING, ATTENTION, ATTENTION]


def test_each_comparison_shows_one_images_three_maps_in_some_order():
    stimuli = refs(images=6)
    maps_of = {image: {s.stimulus for s in stimuli if s.source_image == image} for image in range(1, 7)}
    plan = draw_plan(stimuli, seed=11, comparison_count=None, attention_checks=False)
    choices = [t for t in plan if t.kind == CHOICE]
    assert sorted(t.source_image for t in choices) == list(range(1, 7))
    for t in choices:
        assert {t.left, t.middle, t.right} == maps_of[t.source_image]


def test_comparison_count_samples_distinct_images_per_participant():
    stimuli = refs(images=20)
    samples = []
    for n in range(10):
        plan = draw_plan(stimuli, seed=participant_seed(5, n), comparison_count=4, attention_checks=False)
        images = [t.source_image for t in plan if t.kind == CHOICE]
        assert len(images) == len(set(images)) == 4
        samples.append(frozenset(images))
    assert len(set(samples)) > 1


def test_images_without_exactly_three_maps_are_not_compared():
    stimuli = refs(images=2) + [StimulusRef(999, 3, "N")]
    plan = draw_plan(stimuli, seed=1, comparison_count=None, attention_checks=False)
    assert sorted(t.source_image for t in plan if t.kind == CHOICE) == [1, 2]
    with pytest.raises(ValueError, match="asks for 3 side-by-side comparisons but only 2"):
        draw_plan(stimuli, seed=1, comparison_count=3, attention_checks=False)


def test_a_study_without_stimuli_is_refused_clearly():
    with pytest.raises(ValueError, match="no stimuli"):
        draw_plan([], seed=1, comparison_count=None, attention_checks=True)


def position_counts(plans, stimuli):
    variant_of = {s.stimulus: s.variant for s in stimuli}
    counts = Counter()
    for plan in plans:
        for t in plan:
            if t.kind == CHOICE:
                for place in SIDE_BY_SIDE_SLOTS[:len(t.maps)]:
                    counts[t.source_image, variant_of[getattr(t, place)], place] += 1
    return counts


def test_positions_are_exactly_balanced_over_every_six_participants():
    stimuli = refs(images=20)
    plans = [draw_plan(stimuli, seed=participant_seed(2024, n), comparison_count=None, attention_checks=True)
             for n in range(600)]
    counts = position_counts(plans, stimuli)
    # Every image: each model at each position in exactly a third of the 600 plans.
    assert set(counts.values()) == {200}
    assert len(counts) == 20 * 3 * 3


def test_positions_are_balanced_within_one_participant():
    stimuli = refs(images=6)
    for n in range(6):
        plan = draw_plan(stimuli, seed=participant_seed(9, n), comparison_count=None, attention_checks=False)
        per_model = Counter((v, place) for (_, v, place) in position_counts([plan], stimuli).elements())
        assert set(per_model.values()) == {2}


def test_participant_seeds_are_reproducible_distinct_and_rotate():
    seeds = [participant_seed(77, n) for n in range(1000)]
    assert seeds == [participant_seed(77, n) for n in range(1000)]
    assert len(set(seeds)) == 1000
    assert all(0 <= s < 2**63 for s in seeds)
    assert [s % len(ARRANGEMENTS) for s in seeds[:12]] == [0, 1, 2, 3, 4, 5] * 2
    assert participant_seed(78, 0) != seeds[0]
    assert participant_seed(-5, 3) % 6 == 3
    with pytest.raises(ValueError):
        participant_seed(77, -1)


# --- Two, three or four maps side by side ----------------------------------------------------------------------

def cell_refs(images, models, methods):
    ids = iter(range(100, 100 + images * len(models) * len(methods)))
    return [StimulusRef(next(ids), image, model, method)
            for image in range(1, images + 1) for model, method in product(models, methods)]


# Plans drawn by the first release's code (three maps side by side), as digests: a study made then reproduces.
FIRST_RELEASE_PLANS = [
    (cell_refs(20, ("A", "M2", "N"), ("VG",)), None, "models", None,
     "89166779c71159b3f0e6d4b871b622d853bf0f051b5f68070d21ca91539e29dd"),
    (cell_refs(20, ("A", "M2", "N"), ("VG",)), 4, "models", None,
     "2a2706081438fd6e432fabd129cf63053df501a9092a28a02cc82c4dccc35c9f"),
    (cell_refs(12, ("A", "M2", "N"), ("IG", "SG", "VG")), None, "methods", 3,
     "ff2765039dccbc9fc1f08a2dacc180eaa4869c48f2f3aa1a76c1071e6bcedf83"),
    (cell_refs(12, ("A", "M2", "N"), ("IG", "SG", "VG")), 5, "models", None,
     "011e33fddf769fec28d272f035fd5c608ac746dbca75fe5423c704eebb794a97"),
]


@pytest.mark.parametrize("stimuli, comparisons, compare, views, digest", FIRST_RELEASE_PLANS)
def test_three_map_plans_are_byte_identical_to_the_first_releases(stimuli, comparisons, compare, views, digest):
    sha = hashlib.sha256()
    for k in range(24):
        plan = draw_plan(stimuli, participant_seed(2024, k), comparison_count=comparisons, attention_checks=True,
                         design=Design(compare, views, 2024, k))
        for t in plan:
            sha.update(repr((t.kind, t.stimulus, t.source_image, t.left, t.middle, t.right,
                             t.attention_target)).encode())
            assert t.fourth is None
    assert sha.hexdigest() == digest


@pytest.mark.parametrize("maps, count", [(2, 2), (3, 6), (4, 8)])
def test_arrangements_are_latin_square_rows_each_map_equally_often_at_each_position(maps, count):
    rows = arrangements(maps)
    assert len(rows) == len(set(rows)) == count and all(sorted(row) == list(range(maps)) for row in rows)
    for position in range(maps):
        assert set(Counter(row[position] for row in rows).values()) == {count // maps}
    assert arrangements(3) == ARRANGEMENTS == ((0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2))


@pytest.mark.parametrize("variants", [("A", "N"), ("A", "G", "M2", "N")])
def test_two_and_four_maps_are_balanced_over_every_cycle_of_participants_and_within_each(variants):
    maps = len(variants)
    cycle = len(arrangements(maps))
    stimuli = refs(images=8, variants=variants)
    plans = [draw_plan(stimuli, participant_seed(7, k), comparison_count=None, attention_checks=False,
                       design=Design("models", None, 7, k)) for k in range(5 * cycle)]
    assert all(len(t.maps) == maps for plan in plans for t in plan if t.kind == CHOICE)
    for start in range(0, len(plans), cycle):  # any `cycle` consecutive participants (in order of consent)
        counts = position_counts(plans[start:start + cycle], stimuli)
        assert len(counts) == 8 * maps * maps and set(counts.values()) == {cycle // maps}
    for plan in plans:  # each participant: each model equally often at each position
        per_model = Counter((v, place) for (_, v, place) in position_counts([plan], stimuli).elements())
        assert set(per_model.values()) == {8 // maps}


def test_a_two_level_compared_factor_gets_pairwise_pages_rotating_the_other_factor():
    stimuli = cell_refs(6, ("A", "N"), ("IG", "VG"))
    by_id = {ref.stimulus: ref for ref in stimuli}
    shown = Counter()
    for k in range(8):
        plan = draw_plan(stimuli, participant_seed(3, k), comparison_count=4, attention_checks=True,
                         design=Design(COMPARE_METHODS, None, 3, k))
        choices = [t for t in plan if t.kind == CHOICE]
        assert len(choices) == 4
        for t in choices:
            pair = [by_id[m] for m in t.maps]
            assert t.right is None and len({m.variant for m in pair}) == 1 and {m.method for m in pair} == {"IG", "VG"}
            shown[pair[0].variant] += 1
    assert shown == {"A": 16, "N": 16}


def test_images_with_one_map_or_more_than_four_to_compare_get_no_page_and_are_named():
    stimuli = refs(images=2, variants=("A", "G", "M1", "M2", "N")) + [StimulusRef(200, 3, "A"), StimulusRef(201, 3, "N")]
    assert uncompared_images(stimuli) == {1: [5], 2: [5]}
    plan = draw_plan(stimuli, seed=1, comparison_count=None, attention_checks=False)
    assert [t.source_image for t in plan if t.kind == CHOICE] == [3]
