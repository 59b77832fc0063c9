"""Seeded plans: each participant's order of pages and the maps' positions on side-by-side pages.

Pure Python (no Django): the view turns a plan into Trial rows. Everything random is drawn from the
participant's recorded seed, so a plan can be reproduced exactly from the database.

A side-by-side page shows one image's 2, 3 or 4 maps that differ only in the compared factor (`compare`: the
models under one method, or the methods for one model): as many maps as the factor has levels for that image
(pairwise for a two-level factor). Maps of an image that number 1 or more than 4 under one method (or model) get
no page (readiness warns of them). Positions follow a rotation (Latin-square) scheme rather than independent
draws: `arrangements(k)` are the rows of the cyclic k x k Latin square (c + s) mod k followed by those of its
mirror (-c - s) mod k, duplicates dropped: the six orders of three maps, the two of two, eight of four; each map
takes each position equally often over them. The participant's rotation r is counted over participants, and the
j-th comparison image of the study (in study order) is shown in arrangement `arrangements(k)[(r + j) % n]`, n
their number, so that every n consecutive participants see every image in all n arrangements (each map equally
often at each position), and each participant's arrangements cycle through the rows, which balances positions
within a participant too. Three maps count participants by creation order, through the seed (`seed % 6`:
`participant_seed` hands out rotations round-robin), as studies have since the first release, so that their plans
reproduce byte for byte; two and four maps count them by enrolment index (order of consent), which people who
never consent do not disturb.

A study's conditions are the (variant, method) cells of its stimuli. By default every participant rates every
stimulus. A study that sets `views_per_image` below its number of cells gets a balanced incomplete design
(`Design`): the study's images are put in one seeded order, and the participant with enrolment index k (0, 1,
... in order of consent) rates image i of that order under the cells (i + k + offset_j) mod n_cells, j <
views_per_image, offset_j = floor(j * n_cells / views_per_image) (cells in `conditions` order): a cyclic Latin
square whose columns are spread evenly. Any n_cells consecutive participants thus show every image under every
cell exactly views_per_image times, and because the offsets are evenly spread (a balanced set: any run of m
participants holds floor or ceil of m * views / n_cells of them), every cell x image is seen by the same number
of participants to within one whatever the number of participants. (Consecutive offsets 0, 1, ..., v-1 would
balance only at whole multiples of n_cells participants.) When an image has several groups of maps to compare
(one per method, or per model), the one shown rotates with k the same way, one step per cycle of arrangements.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .schema import SIDE_BY_SIDE_SLOTS

RATING, ATTENTION, CHOICE = "rating", "attention", "choice"

# What the side-by-side page compares: the models under one method, or the methods for one model.
COMPARE_MODELS, COMPARE_METHODS = "models", "methods"
DEFAULT_METHOD = "VG"
# The study-level order of images in an incomplete design is drawn from this stream of the study's seed.
IMAGE_ORDER_STREAM = 2

# Instructed responses ("select 'Agree' for this item"), as 1-5 answers; one check per entry.
ATTENTION_TARGETS = (4, 2)
# An attention page shows a stimulus, like a rating page; it is drawn from its own stream of the participant's
# seed, so the rest of the plan is what the seed drew before attention pages had one.
ATTENTION_STREAM = 1

# How many maps a side-by-side page shows, and their places in page order (Map 1, 2, ...): SIDE_BY_SIDE_SLOTS.
MIN_MAPS, MAX_MAPS = 2, len(SIDE_BY_SIDE_SLOTS)
SEEDED_ROTATION_MAPS = 3  # rotated by the participant's seed since the first release (see the module docstring)


def arrangements(maps: int) -> tuple[tuple[int, ...], ...]:
    """The orders of `maps` maps a rotation cycles through: the cyclic Latin square's rows, then its mirror's."""
    rows = [tuple((c + s) % maps for c in range(maps)) for s in range(maps)]
    rows += [tuple((-c - s) % maps for c in range(maps)) for s in range(maps)]
    return tuple(dict.fromkeys(rows))


# The six orders of three maps, as two cyclic Latin squares back to back (participant_seed's cycle).
ARRANGEMENTS = arrangements(SEEDED_ROTATION_MAPS)


@dataclass(frozen=True)
class StimulusRef:
    """What the planner needs to know of a stimulus: its id, its source image, its variant and its method."""

    stimulus: int
    source_image: int
    variant: str
    method: str = DEFAULT_METHOD

    @property
    def condition(self):
        return (self.variant, self.method)


@dataclass(frozen=True)
class Design:
    """A study's design settings and the participant's place in it.

    `views_per_image` None (or at least the number of cells): every stimulus is rated, as before designs existed.
    `index`: the participant's enrolment index (0-based, in order of consent), drawn once when the plan starts.
    """

    compare: str = COMPARE_MODELS
    views_per_image: int | None = None
    study_seed: int = 0
    index: int = 0


def conditions(stimuli: Sequence[StimulusRef]) -> list[tuple[str, str]]:
    """The study's cells: the distinct (variant, method) of its stimuli, sorted."""
    return sorted({ref.condition for ref in stimuli})


def is_incomplete(stimuli: Sequence[StimulusRef], design: "Design | None") -> bool:
    return (design is not None and design.views_per_image is not None
            and design.views_per_image < len(conditions(stimuli)))


def image_order(stimuli: Sequence[StimulusRef], study_seed: int) -> list[int]:
    """The study's images in its seeded order (the rows of the rotation)."""
    images = sorted({ref.source_image for ref in stimuli})
    rng = np.random.default_rng([study_seed % 2**64, IMAGE_ORDER_STREAM])
    return [images[int(i)] for i in rng.permutation(len(images))]


def design_cells(stimuli: Sequence[StimulusRef], design: Design) -> list[tuple[int, tuple[str, str]]]:
    """(image, cell) pairs the participant rates under an incomplete design, image by image in study order."""
    cells = conditions(stimuli)
    n = len(cells)
    offsets = design_offsets(n, design.views_per_image)
    return [(image, cells[(i + design.index + offset) % n])
            for i, image in enumerate(image_order(stimuli, design.study_seed))
            for offset in offsets]


def design_offsets(n_cells: int, views: int) -> list[int]:
    """The rotation's evenly spread column offsets: floor(j * n_cells / views), j < views (distinct cells)."""
    return [j * n_cells // views for j in range(views)]


def rated_stimuli(stimuli: Sequence[StimulusRef], design: "Design | None" = None) -> list[StimulusRef]:
    """The stimuli the participant rates: all of them, or the cells of their row of the incomplete design.

    Raises ValueError when an image lacks the map of a cell (an incomplete design needs every image under every
    cell)."""
    if not is_incomplete(stimuli, design):
        return list(stimuli)
    if design.views_per_image < 1:
        raise ValueError("views_per_image must be at least 1.")
    lookup = {(ref.source_image, ref.condition): ref for ref in stimuli}
    missing = sorted({(image, cell) for image in {r.source_image for r in stimuli} for cell in conditions(stimuli)}
                     - set(lookup))
    if missing:
        shown = ", ".join(f"image {image} under {variant}/{method}" for image, (variant, method) in missing[:5])
        raise ValueError(f"A design with views_per_image needs every image under every condition; missing: {shown}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else "") + ".")
    return [lookup[pair] for pair in design_cells(stimuli, design)]


@dataclass(frozen=True)
class PlannedTrial:
    kind: str
    stimulus: int | None = None
    source_image: int | None = None
    left: int | None = None  # the side-by-side maps in page order (SIDE_BY_SIDE_SLOTS): Map 1, 2, 3, 4
    middle: int | None = None
    right: int | None = None
    attention_target: int | None = None
    fourth: int | None = None

    @property
    def maps(self):
        """A side-by-side page's stimulus ids in page order."""
        return tuple(m for m in (getattr(self, slot) for slot in SIDE_BY_SIDE_SLOTS) if m is not None)


def participant_seed(study_seed: int, number: int) -> int:
    """The seed of the study's `number`-th participant (0-based, in creation order).

    Derived from the study's seed with numpy's SeedSequence, so participants' streams are independent;
    its value modulo 6 is `number % 6`, the participant's rotation of three maps side by side.
    """
    if number < 0:
        raise ValueError(f"participant number must be >= 0, got {number}")
    state = int(np.random.SeedSequence([study_seed % 2**64, number]).generate_state(1, np.uint64)[0])
    base = state >> 4  # 60 bits: fits a signed 64-bit database column with room to spare
    return base - base % len(ARRANGEMENTS) + number % len(ARRANGEMENTS)


def comparison_groups(stimuli: Sequence[StimulusRef], compare: str = COMPARE_MODELS) -> dict[int, list[tuple]]:
    """Each source image's groups of maps that differ only in the compared factor, whatever their size.

    `compare` models: an image's maps under one method, sorted by variant; methods: its maps of one model, sorted by
    method. Groups in order of the fixed factor; each a tuple of StimulusRefs."""
    if compare not in (COMPARE_MODELS, COMPARE_METHODS):
        raise ValueError(f"compare must be {COMPARE_MODELS!r} or {COMPARE_METHODS!r}, not {compare!r}")
    fixed, varied = ("method", "variant") if compare == COMPARE_MODELS else ("variant", "method")
    by_image = defaultdict(lambda: defaultdict(list))
    for ref in stimuli:
        by_image[ref.source_image][getattr(ref, fixed)].append(ref)
    return {image: [tuple(sorted(refs, key=lambda r: getattr(r, varied))) for _, refs in sorted(groups.items())]
            for image, groups in sorted(by_image.items())}


def rotation_cycle(sizes) -> int:
    """Participants per step of the group rotation: a whole number of every group's cycle of arrangements."""
    return math.lcm(*(len(arrangements(size)) for size in sizes))


def comparison_images(stimuli: Sequence[StimulusRef], compare: str = COMPARE_MODELS,
                      index: int = 0) -> dict[int, tuple[int, ...]]:
    """Source images with 2 to 4 maps to compare -> the stimulus ids of the group participant `index` sees.

    When an image has several such groups (one per method, or per model), participant `index` (their enrolment
    index) gets the one at (image's place + index // cycle) modulo their number, cycle being `rotation_cycle` of the
    image's group sizes (six for groups of three maps), so that each group meets all its arrangements before the
    next one comes: tying both to the same count would pair each group with the same sides. A one-method study
    comparing models gets each image's maps, as ever.
    """
    images = {}
    for place, (image, groups) in enumerate(comparison_groups(stimuli, compare).items()):
        shown = [group for group in groups if MIN_MAPS <= len(group) <= MAX_MAPS]
        if shown:
            step = index // rotation_cycle({len(group) for group in shown})
            images[image] = tuple(ref.stimulus for ref in shown[(place + step) % len(shown)])
    return images


def uncompared_images(stimuli: Sequence[StimulusRef], compare: str = COMPARE_MODELS) -> dict[int, list[int]]:
    """Images that get no side-by-side page -> the sizes of their groups (1, or more than MAX_MAPS)."""
    return {image: [len(group) for group in groups]
            for image, groups in comparison_groups(stimuli, compare).items()
            if not any(MIN_MAPS <= len(group) <= MAX_MAPS for group in groups)}


def arrangement(maps: int, seed: int, index: int, image_place: int) -> tuple[int, ...]:
    """The order of an image's `maps` maps for the participant with `seed` and enrolment `index`: the rotation's
    row (r + the image's place in the study) mod the number of arrangements (module docstring)."""
    rows = arrangements(maps)
    rotation = seed % len(rows) if maps == SEEDED_ROTATION_MAPS else index
    return rows[(rotation + image_place) % len(rows)]


def plan_length(stimuli: Sequence[StimulusRef], *, comparison_count: int | None, attention_checks: bool,
                design: Design | None = None) -> int:
    """How many trials `draw_plan` gives for these settings (for progress before the plan exists)."""
    compare = design.compare if design else COMPARE_MODELS
    comparisons = len(comparison_images(stimuli, compare)) if comparison_count is None else comparison_count
    return (len(rated_stimuli(stimuli, design)) + (len(ATTENTION_TARGETS) if attention_checks else 0)
            + comparisons)


def attention_stimuli(stimuli: Sequence[StimulusRef], seed: int) -> list[int]:
    """The stimulus each attention page shows (distinct while the study has enough), from the seed's own stream."""
    ordered = sorted(ref.stimulus for ref in stimuli)
    rng = np.random.default_rng([seed % 2**64, ATTENTION_STREAM])
    picks = rng.choice(len(ordered), size=len(ATTENTION_TARGETS), replace=len(ordered) < len(ATTENTION_TARGETS))
    return [ordered[int(i)] for i in picks]


def draw_plan(
    stimuli: Sequence[StimulusRef], seed: int, *, comparison_count: int | None, attention_checks: bool,
    design: Design | None = None,
) -> list[PlannedTrial]:
    """The participant's pages in order: shuffled ratings with attention checks mixed in, then comparisons.

    `comparison_count` None compares every image that has 2 to 4 maps to compare; otherwise that many, sampled
    per participant. `design`: the study's design and the participant's enrolment index (None: every stimulus
    rated, models compared). Raises ValueError when the study cannot supply what it asks for.
    """
    if not stimuli:
        raise ValueError("The study has no stimuli; add stimuli before participants start.")
    rng = np.random.default_rng(seed)
    ordered = sorted(rated_stimuli(stimuli, design), key=lambda r: r.stimulus)
    plan = [PlannedTrial(RATING, stimulus=ordered[i].stimulus) for i in rng.permutation(len(ordered))]

    if attention_checks:
        # One check in each of len(ATTENTION_TARGETS) equal stretches of the ratings, never first.
        k, n = len(ATTENTION_TARGETS), len(plan)
        bounds = [(i * n // k, max((i + 1) * n // k, i * n // k + 1)) for i in range(k)]
        slots = [int(rng.integers(low, high)) + 1 for low, high in bounds]
        shown = attention_stimuli(stimuli, seed)
        for offset, (slot, target, stimulus) in enumerate(zip(slots, ATTENTION_TARGETS, shown)):
            plan.insert(slot + offset, PlannedTrial(ATTENTION, stimulus=stimulus, attention_target=target))

    index = design.index if design else 0
    images = comparison_images(stimuli, design.compare if design else COMPARE_MODELS, index)
    study_index = {image: k for k, image in enumerate(images)}
    wanted = len(images) if comparison_count is None else comparison_count
    if wanted > len(images):
        raise ValueError(
            f"The study asks for {wanted} side-by-side comparisons but only {len(images)} of its images "
            f"have {MIN_MAPS} to {MAX_MAPS} maps to compare (maps of one image that differ only in what the "
            "side-by-side page compares); lower comparison_count or add stimuli."
        )
    chosen = rng.choice(list(images), size=wanted, replace=False) if wanted else []
    for image in (int(i) for i in chosen):
        maps = images[image]
        order = arrangement(len(maps), seed, index, study_index[image])
        plan.append(PlannedTrial(CHOICE, source_image=image,
                                 **dict(zip(SIDE_BY_SIDE_SLOTS, (maps[i] for i in order)))))
    return plan
