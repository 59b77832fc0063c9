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
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .schema import (
    CHOICE_BLOCK, DISTINCTION, LEARN, NO_MAP_CONDITION, RATING_BLOCK, SIDE_BY_SIDE_SLOTS, SIMULATION, TASKS, TEST,
    VERIFICATION, VERIFICATION_OPTIONS, condition_name,
)

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
    block: int | None = None  # the block's position, in a study with blocks
    phase: str = ""  # a simulation block's LEARN or TEST
    options: tuple[str, ...] = ()  # a task page's answer options, in the order shown

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
                design: Design | None = None, tasks: "TaskSetup | None" = None,
                condition: "ConditionSpec | None" = None) -> int:
    """How many trials `draw_plan` gives for these settings (for progress before the plan exists)."""
    checks = len(ATTENTION_TARGETS) if attention_checks else 0
    compare = design.compare if design else COMPARE_MODELS
    comparisons = len(comparison_images(stimuli, compare)) if comparison_count is None else comparison_count
    ratings = len(rated_stimuli(stimuli, design)) + checks
    if tasks is None or not tasks.blocks:
        return ratings + comparisons
    length = 0
    for block in tasks.blocks:
        if block.kind == RATING_BLOCK:
            length += ratings
        elif block.kind == CHOICE_BLOCK:
            length += comparisons
        elif condition is not None:
            length += sum(page_counts(block, len(screen_images(block, condition, tasks.stimuli).usable))) + checks
    return length


def feedback_pages(tasks: "TaskSetup | None", condition: "ConditionSpec | None") -> int:
    """The pages a participant in `condition` gets beside the trials' own: a feedback page after each learning page
    that asks a guess."""
    if tasks is None or condition is None:
        return 0
    return sum(page_counts(block, len(screen_images(block, condition, tasks.stimuli).usable))[0]
               for block in tasks.blocks if block.kind == SIMULATION and block.learning_guess)


def attention_stimuli(stimuli: Sequence[StimulusRef], seed: int) -> list[int]:
    """The stimulus each attention page shows (distinct while the study has enough), from the seed's own stream."""
    ordered = sorted(ref.stimulus for ref in stimuli)
    rng = np.random.default_rng([seed % 2**64, ATTENTION_STREAM])
    picks = rng.choice(len(ordered), size=len(ATTENTION_TARGETS), replace=len(ordered) < len(ATTENTION_TARGETS))
    return [ordered[int(i)] for i in picks]


def attention_slots(rng, pages: int) -> list[int]:
    """Where the len(ATTENTION_TARGETS) checks go among `pages` pages: one in each of as many equal stretches,
    never first (1-based places before which each check is inserted, before the earlier checks shift them)."""
    k = len(ATTENTION_TARGETS)
    bounds = [(i * pages // k, max((i + 1) * pages // k, i * pages // k + 1)) for i in range(k)]
    return [int(rng.integers(low, high)) + 1 for low, high in bounds]


def rating_pages(stimuli: Sequence[StimulusRef], rng, seed: int, *, attention_checks: bool,
                 design: Design | None) -> list[PlannedTrial]:
    """The rating pages in a shuffled order, with attention checks mixed in."""
    if not stimuli:
        raise ValueError("The study has no stimuli; add stimuli before participants start.")
    ordered = sorted(rated_stimuli(stimuli, design), key=lambda r: r.stimulus)
    plan = [PlannedTrial(RATING, stimulus=ordered[i].stimulus) for i in rng.permutation(len(ordered))]
    if attention_checks:
        shown = attention_stimuli(stimuli, seed)
        for offset, (slot, target, stimulus) in enumerate(zip(attention_slots(rng, len(plan)), ATTENTION_TARGETS,
                                                               shown)):
            plan.insert(slot + offset, PlannedTrial(ATTENTION, stimulus=stimulus, attention_target=target))
    return plan


def choice_pages(stimuli: Sequence[StimulusRef], rng, seed: int, *, comparison_count: int | None,
                 design: Design | None) -> list[PlannedTrial]:
    """The side-by-side pages: `comparison_count` images (None: all that have 2 to 4 maps to compare), each with its
    maps in the rotation's arrangement."""
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
    pages = []
    for image in (int(i) for i in chosen):
        maps = images[image]
        order = arrangement(len(maps), seed, index, study_index[image])
        pages.append(PlannedTrial(CHOICE, source_image=image,
                                  **dict(zip(SIDE_BY_SIDE_SLOTS, (maps[i] for i in order)))))
    return pages


def draw_plan(
    stimuli: Sequence[StimulusRef], seed: int, *, comparison_count: int | None, attention_checks: bool,
    design: Design | None = None, tasks: "TaskSetup | None" = None, condition: "ConditionSpec | None" = None,
) -> list[PlannedTrial]:
    """The participant's pages in order: shuffled ratings with attention checks mixed in, then comparisons; or, for
    a study with blocks (`tasks`), each block's pages in block order (block_pages).

    `comparison_count` None compares every image that has 2 to 4 maps to compare; otherwise that many, sampled
    per participant. `design`: the study's design and the participant's enrolment index (None: every stimulus
    rated, models compared). `condition`: the participant's task condition (a study with task blocks). Raises
    ValueError when the study cannot supply what it asks for.
    """
    if tasks is not None and tasks.blocks:
        pages, shown = [], set()
        for block in tasks.blocks:
            pages += block_pages(block, stimuli, seed, comparison_count=comparison_count,
                                 attention_checks=attention_checks, design=design, tasks=tasks,
                                 condition=condition, shown=frozenset(shown))
            shown.update(page.source_image for page in pages if page.kind in TASKS)
        return pages
    rng = np.random.default_rng(seed)
    return (rating_pages(stimuli, rng, seed, attention_checks=attention_checks, design=design)
            + choice_pages(stimuli, rng, seed, comparison_count=comparison_count, design=design))


# --- Task blocks (issue 29) -----------------------------------------------------------------------------------------
# A study with blocks runs them in position order, each block drawing from its own stream of the participant's seed
# (BLOCK_STREAM, the block's position): a rating block gives today's rating pages (attention checks included), a
# choice block today's side-by-side pages, a task block its own. A task page stands on one image and, in `stimulus`,
# the condition's model's map of its prediction (the page's facts); which images a block can use under a condition
# is `screen_images`' rule, which the opening checks apply too. Within a block the pages' images are a random sample
# in a random order, each image at most once per phase, drawn first from the images no earlier task block showed
# (a block sees an image again only when the fresh ones run out); a simulation block's learning pages come first, on
# other images than its test pages. Class options are shuffled per page (a distinction page's maps in the same order as
# its options); a verification page offers VERIFICATION_OPTIONS in their order. A task block's attention checks
# (len(ATTENTION_TARGETS), never first, a simulation block's among its test pages) look like its pages and instruct
# one of the page's options (`attention_target`: its 1-based place in `options`), on images the phase does not show
# while the block has any to spare.

BLOCK_STREAM = 3


@dataclass(frozen=True)
class TaskStimulusRef:
    """What a task page needs to know of a stimulus: its image and the image's true class, its model and method, the
    class it explains (`target_class`, of rank `target_rank`; rank 1 is the model's prediction) and the model's top
    classes on the image, best first."""

    stimulus: int
    source_image: int
    variant: str
    method: str
    target_rank: int
    target_class: str
    top_classes: tuple[str, ...]
    true_class: str


@dataclass(frozen=True)
class BlockSpec:
    """A block as the planner reads it (studyapp.models.Block)."""

    position: int
    kind: str
    top_k: int = MAX_MAPS
    images: int | None = None
    learning_images: int | None = None
    learning_guess: bool = False
    ask_true_class: bool = False

    @property
    def is_task(self):
        return self.kind in TASKS

    @property
    def classes(self):
        """How many of the model's top classes a page offers: its top k, or a verification page's prediction."""
        return 1 if self.kind == VERIFICATION else self.top_k


@dataclass(frozen=True)
class ConditionSpec:
    """A task condition: the model whose answers the tasks are about, and the method of its maps shown ("": the
    no-map control)."""

    model: str
    method: str = ""

    @property
    def shows_maps(self):
        return bool(self.method)

    @property
    def name(self):
        return condition_name(self.model, self.method) if self.method else NO_MAP_CONDITION

    def __str__(self):
        return self.name if self.method else f"{NO_MAP_CONDITION} (no map; model {self.model})"


@dataclass(frozen=True)
class TaskSetup:
    """A study's blocks (in position order), its task conditions (in assignment order) and the stimuli its task
    pages may stand on."""

    blocks: tuple[BlockSpec, ...] = ()
    conditions: tuple[ConditionSpec, ...] = ()
    stimuli: tuple[TaskStimulusRef, ...] = ()

    @property
    def task_blocks(self):
        return [block for block in self.blocks if block.is_task]

    def condition(self, index: int) -> "ConditionSpec | None":
        """The condition of the participant with enrolment index `index`: the conditions in turn."""
        return self.conditions[index % len(self.conditions)] if self.conditions else None


@dataclass(frozen=True)
class TaskImage:
    """An image a task block can show under a condition: the model's map of its prediction (`stimulus`), the classes
    a page offers (the model's top classes, best first) and, on a distinction page of a map condition, the maps of
    those classes in the same order."""

    source_image: int
    stimulus: int
    classes: tuple[str, ...]
    maps: tuple[int, ...] = ()


# Why an image is left out of a task block under a condition (screen_images), as the opening check says it.
NO_PREDICTION_MAP = "lack the model's map of its prediction"
NO_TRUE_CLASS = "lack a true class"
FEW_CLASSES = "record fewer of the model's top classes than the block offers"
NO_CLASS_MAPS = "lack the maps of the classes offered"
TRUE_CLASS_NOT_OFFERED = "have a true class outside the classes offered ('Which class is correct?' needs it there)"


@dataclass(frozen=True)
class Screening:
    """The images a block can use under a condition, and how many others each reason leaves out."""

    usable: dict
    left_out: Counter


def screen_images(block: BlockSpec, condition: ConditionSpec, stimuli: Sequence[TaskStimulusRef]) -> Screening:
    """Which images `block` can show under `condition`: those with the model's map of its prediction (by the
    condition's method; the no-map control: by the first of the model's methods), a true class, the model's top
    classes the block offers (k, the prediction first) and, on a distinction block of a map condition, the maps of
    those classes by the method; a block that asks for the true class needs it among them."""
    by_image = defaultdict(list)
    for ref in stimuli:
        by_image[ref.source_image].append(ref)
    usable, left_out = {}, Counter()
    for image, refs in sorted(by_image.items()):
        mine = sorted((ref for ref in refs if ref.variant == condition.model
                       and (ref.method == condition.method or not condition.shows_maps)),
                      key=lambda ref: (ref.method, ref.target_rank))
        predictions = [ref for ref in mine if ref.target_rank == 1]
        reason, found = screen_image(block, condition, predictions[0] if predictions else None, mine)
        if reason:
            left_out[reason] += 1
        else:
            usable[image] = found
    return Screening(usable, left_out)


def screen_image(block, condition, prediction, refs):
    """(why the image is left out, "" if it is not; its TaskImage) for screen_images."""
    if prediction is None:
        return NO_PREDICTION_MAP, None
    if not prediction.true_class:
        return NO_TRUE_CLASS, None
    recorded = prediction.top_classes or (prediction.target_class,)
    classes = tuple(recorded[:block.classes])
    if not prediction.target_class or recorded[0] != prediction.target_class or len(classes) < block.classes:
        return FEW_CLASSES, None
    if block.ask_true_class and block.kind == DISTINCTION and prediction.true_class not in classes:
        return TRUE_CLASS_NOT_OFFERED, None
    maps = ()
    if block.kind == DISTINCTION and condition.shows_maps:
        by_rank = {ref.target_rank: ref for ref in refs if ref.method == prediction.method}
        ranked = [by_rank.get(rank) for rank in range(1, len(classes) + 1)]
        if any(ref is None or ref.target_class != name for ref, name in zip(ranked, classes)):
            return NO_CLASS_MAPS, None
        maps = tuple(ref.stimulus for ref in ranked)
    return "", TaskImage(prediction.source_image, prediction.stimulus, classes, maps)


def page_counts(block: BlockSpec, usable: int) -> tuple[int, int]:
    """(learning pages, pages of its scored phase) a participant gets of a task block that can use `usable` images.

    A simulation block's learning pages: `learning_images`, or blank half the images (rounded down); its test pages:
    `images`, or blank the images its learning phase leaves. Other blocks: `images`, or blank every usable image."""
    if block.kind == SIMULATION:
        learn = block.learning_images if block.learning_images is not None else usable // 2
        return learn, block.images if block.images is not None else max(0, usable - learn)
    return 0, block.images if block.images is not None else usable


def block_problem(block: BlockSpec, condition: "ConditionSpec | None", screening: "Screening | None") -> str:
    """Why participants in `condition` could not get `block`'s pages, or "" if they can."""
    name = f"Block {block.position} ({block.kind})"
    if condition is None:
        return (f"{name} has a right answer, but the study has no task conditions: add at least one (a model and "
                "the method of the maps shown, or the model alone for the no-map control).")
    usable = len(screening.usable)
    learn, scored = page_counts(block, usable)
    if usable and learn + scored <= usable and scored >= 1:
        return ""
    why = "; ".join(f"{count} image(s) {reason}" for reason, count in screening.left_out.most_common())
    left_out = f": {why}" if why else ""
    fix = (f"Add the stimuli it needs (e.g. generate_stimuli --targets top-k {block.classes}) or ask for fewer "
           "pages.")
    if not usable:
        return f"{name} can show none of the study's images under condition {condition}{left_out}. {fix}"
    if block.kind == SIMULATION:
        asked = (f"{learn} learning and {scored} test pages, each on another image" if scored >= 1
                 else f"{learn} learning pages and leaves no image for a test page")
    else:
        asked = f"{scored} pages, each on another image"
    return (f"{name} asks for {asked}, but under condition {condition} only {usable} of the study's images can be "
            f"shown{left_out}. {fix}")


def task_page(kind: str, block: BlockSpec, image: TaskImage, phase: str, rng) -> PlannedTrial:
    """One page of a task block (`kind` the block's, or ATTENTION for a check that looks like it) on `image`."""
    if block.kind == VERIFICATION:
        options, maps = VERIFICATION_OPTIONS, ()
    elif phase == LEARN and not block.learning_guess:
        options, maps = (), ()
    else:
        order = [int(i) for i in rng.permutation(len(image.classes))]
        options = tuple(image.classes[i] for i in order)
        maps = tuple(image.maps[i] for i in order) if block.kind == DISTINCTION and image.maps else ()
    target = int(rng.integers(1, len(options) + 1)) if kind == ATTENTION else None
    return PlannedTrial(kind, stimulus=image.stimulus, source_image=image.source_image, block=block.position,
                        phase=phase, options=options, attention_target=target, **dict(zip(SIDE_BY_SIDE_SLOTS, maps)))


def task_block_pages(block: BlockSpec, tasks: TaskSetup, condition: "ConditionSpec | None", rng, *,
                     attention_checks: bool, shown: frozenset = frozenset()) -> list[PlannedTrial]:
    """A task block's pages for a participant in `condition` (see the section's comment); `shown`: the images
    earlier task blocks showed."""
    screening = screen_images(block, condition, tasks.stimuli) if condition is not None else None
    problem = block_problem(block, condition, screening)
    if problem:
        raise ValueError(problem)
    order = []
    for group in (sorted(set(screening.usable) - shown), sorted(set(screening.usable) & shown)):
        order += [group[int(i)] for i in rng.permutation(len(group))]
    learn, scored = page_counts(block, len(order))
    phase = TEST if block.kind == SIMULATION else ""
    pages = [task_page(block.kind, block, screening.usable[image], phase, rng)
             for image in order[learn:learn + scored]]
    if attention_checks:
        spare = order[learn + scored:] + order[:learn] or order[learn:learn + scored]
        for offset, slot in enumerate(attention_slots(rng, len(pages))):
            image = screening.usable[spare[offset % len(spare)]]
            pages.insert(slot + offset, task_page(ATTENTION, block, image, phase, rng))
    return [task_page(block.kind, block, screening.usable[image], LEARN, rng) for image in order[:learn]] + pages


def block_pages(block: BlockSpec, stimuli: Sequence[StimulusRef], seed: int, *, comparison_count: int | None,
                attention_checks: bool, design: Design | None, tasks: TaskSetup,
                condition: "ConditionSpec | None", shown: frozenset = frozenset()) -> list[PlannedTrial]:
    """One block's pages of a participant's plan, from the block's own stream of their seed; `shown`: the images
    earlier task blocks showed."""
    rng = np.random.default_rng([seed % 2**64, BLOCK_STREAM, block.position])
    if block.kind == RATING_BLOCK:
        pages = rating_pages(stimuli, rng, seed, attention_checks=attention_checks, design=design)
    elif block.kind == CHOICE_BLOCK:
        pages = choice_pages(stimuli, rng, seed, comparison_count=comparison_count, design=design)
    else:
        pages = task_block_pages(block, tasks, condition, rng, attention_checks=attention_checks, shown=shown)
    return [replace(page, block=block.position) for page in pages]
