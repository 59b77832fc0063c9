"""Seeded plans: each participant's order of pages and left/middle/right positions.

Pure Python (no Django): the view turns a plan into Trial rows. Everything random is drawn from the
participant's recorded seed, so a plan can be reproduced exactly from the database.

Side-by-side positions follow a rotation (Latin-square) scheme rather than independent draws: the
participant's rotation is `seed % 6`, and the k-th comparison image of the study (in study order) is
shown in arrangement `ARRANGEMENTS[(rotation + k) % 6]`. `participant_seed` hands out rotations
round-robin in creation order, so every six consecutive participants see every image in all six
arrangements (each model twice at each position), and each participant's arrangements cycle through
two 3x3 Latin squares, which balances positions within a participant too.
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

RATING, ATTENTION, CHOICE = "rating", "attention", "choice"

# Instructed responses ("select 'Agree' for this item"), as 1-5 answers; one check per entry.
ATTENTION_TARGETS = (4, 2)
# An attention page shows a stimulus, like a rating page; it is drawn from its own stream of the participant's
# seed, so the rest of the plan is what the seed drew before attention pages had one.
ATTENTION_STREAM = 1

# The six orders of three maps, as two cyclic Latin squares back to back.
ARRANGEMENTS = ((0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2))


@dataclass(frozen=True)
class StimulusRef:
    """What the planner needs to know of a stimulus: its id, its source image, its variant."""

    stimulus: int
    source_image: int
    variant: str


@dataclass(frozen=True)
class PlannedTrial:
    kind: str
    stimulus: int | None = None
    source_image: int | None = None
    left: int | None = None
    middle: int | None = None
    right: int | None = None
    attention_target: int | None = None


def participant_seed(study_seed: int, number: int) -> int:
    """The seed of the study's `number`-th participant (0-based, in creation order).

    Derived from the study's seed with numpy's SeedSequence, so participants' streams are independent;
    its value modulo 6 is `number % 6`, the participant's side-by-side rotation.
    """
    if number < 0:
        raise ValueError(f"participant number must be >= 0, got {number}")
    state = int(np.random.SeedSequence([study_seed % 2**64, number]).generate_state(1, np.uint64)[0])
    base = state >> 4  # 60 bits: fits a signed 64-bit database column with room to spare
    return base - base % len(ARRANGEMENTS) + number % len(ARRANGEMENTS)


def comparison_images(stimuli: Sequence[StimulusRef]) -> dict[int, tuple[int, int, int]]:
    """Source images with exactly three maps in the study -> their stimulus ids, sorted by variant."""
    by_image = defaultdict(list)
    for ref in stimuli:
        by_image[ref.source_image].append(ref)
    return {
        image: tuple(ref.stimulus for ref in sorted(refs, key=lambda r: r.variant))
        for image, refs in sorted(by_image.items())
        if len(refs) == 3
    }


def plan_length(stimuli: Sequence[StimulusRef], *, comparison_count: int | None, attention_checks: bool) -> int:
    """How many trials `draw_plan` gives for these settings (for progress before the plan exists)."""
    comparisons = len(comparison_images(stimuli)) if comparison_count is None else comparison_count
    return len(stimuli) + (len(ATTENTION_TARGETS) if attention_checks else 0) + comparisons


def attention_stimuli(stimuli: Sequence[StimulusRef], seed: int) -> list[int]:
    """The stimulus each attention page shows (distinct while the study has enough), from the seed's own stream."""
    ordered = sorted(ref.stimulus for ref in stimuli)
    rng = np.random.default_rng([seed % 2**64, ATTENTION_STREAM])
    picks = rng.choice(len(ordered), size=len(ATTENTION_TARGETS), replace=len(ordered) < len(ATTENTION_TARGETS))
    return [ordered[int(i)] for i in picks]


def draw_plan(
    stimuli: Sequence[StimulusRef], seed: int, *, comparison_count: int | None, attention_checks: bool
) -> list[PlannedTrial]:
    """The participant's pages in order: shuffled ratings with attention checks mixed in, then comparisons.

    `comparison_count` None compares every image that has three maps; otherwise that many, sampled
    per participant. Raises ValueError when the study cannot supply what it asks for.
    """
    if not stimuli:
        raise ValueError("The study has no stimuli; add stimuli before participants start.")
    rng = np.random.default_rng(seed)
    ordered = sorted(stimuli, key=lambda r: r.stimulus)
    plan = [PlannedTrial(RATING, stimulus=ordered[i].stimulus) for i in rng.permutation(len(ordered))]

    if attention_checks:
        # One check in each of len(ATTENTION_TARGETS) equal stretches of the ratings, never first.
        k, n = len(ATTENTION_TARGETS), len(plan)
        bounds = [(i * n // k, max((i + 1) * n // k, i * n // k + 1)) for i in range(k)]
        slots = [int(rng.integers(low, high)) + 1 for low, high in bounds]
        shown = attention_stimuli(stimuli, seed)
        for offset, (slot, target, stimulus) in enumerate(zip(slots, ATTENTION_TARGETS, shown)):
            plan.insert(slot + offset, PlannedTrial(ATTENTION, stimulus=stimulus, attention_target=target))

    images = comparison_images(stimuli)
    study_index = {image: k for k, image in enumerate(images)}
    wanted = len(images) if comparison_count is None else comparison_count
    if wanted > len(images):
        raise ValueError(
            f"The study asks for {wanted} side-by-side comparisons but only {len(images)} of its images "
            "have exactly three maps; lower comparison_count or add stimuli."
        )
    chosen = rng.choice(list(images), size=wanted, replace=False) if wanted else []
    rotation = seed % len(ARRANGEMENTS)
    for image in (int(i) for i in chosen):
        maps = images[image]
        order = ARRANGEMENTS[(rotation + study_index[image]) % len(ARRANGEMENTS)]
        left, middle, right = (maps[i] for i in order)
        plan.append(PlannedTrial(CHOICE, source_image=image, left=left, middle=middle, right=right))
    return plan
