"""Studies of task blocks and their participants' answers, made straight in the database (issue 29).

The participant pages of the task blocks are built elsewhere; these helpers write what those pages store, following
the models' conventions (studyapp.models.Trial and TaskResponse): a task page names its block and image, its
`stimulus` is the condition's model's map of its prediction on the image, its `options` the answers in the order
shown; a distinction page in a map condition shows the maps of its options in the side-by-side slots; a learning
page's answer is its guess, or empty where it asks none.

    study = task_study(study_factory, write_png, blocks=[{"kind": "verification", "images": 2}],
                       conditions=[("N", "VG"), ("N", "")], bonus_per_correct=Decimal("0.10"))
    participant = participant_factory(study)
    take_part(participant, study.task_conditions.get(method="VG"), right=lambda page: page.number == 1)
"""

import random
from dataclasses import dataclass

from django.utils import timezone

from saliency.models import SourceImage, Stimulus
from studyapp.models import AttentionCheck, Block, Outcome, TaskCondition, TaskResponse, Trial
from studyapp.schema import (
    DISTINCTION, LEARN, SIDE_BY_SIDE_SLOTS, SIMULATION, TASK_QUESTIONS, TASKS, TEST, TRUE_CLASS, VERIFICATION,
    VERIFICATION_OPTIONS,
)
from studyapp.scoring import right_answer
from tests.conftest import CLASS_NAMES


def top_classes(true_index, model_wrong):
    """A model's top-4 classes on an image of class CLASS_NAMES[true_index]: the true class first, or, where the model
    is wrong, the next class first and the true class second."""
    order = [true_index, true_index + 1, true_index + 2, true_index + 3]
    if model_wrong:
        order[0], order[1] = order[1], order[0]
    return [CLASS_NAMES[index % len(CLASS_NAMES)] for index in order]


def add_task_stimuli(study, write_png, images=4, models=("N",), methods=("VG",), dataset="fmnist", first_index=500):
    """`images` source images (classes cycling through CLASS_NAMES), and for each model and method the maps of its
    top-4 classes (target ranks 1-4), added to `study`. Model k (0-based) is wrong on the images whose index plus k
    is odd: every model is wrong on half of them."""
    for number in range(images):
        index = first_index + number
        source = SourceImage.objects.create(dataset=dataset, test_index=index,
                                            class_name=CLASS_NAMES[index % len(CLASS_NAMES)], image=write_png(index))
        for k, model in enumerate(models):
            classes = top_classes(index % len(CLASS_NAMES), model_wrong=(index + k) % 2 == 1)
            probabilities = [0.6, 0.2, 0.15, 0.05]
            for method in methods:
                for rank, target in enumerate(classes, start=1):
                    study.stimuli.add(Stimulus.objects.create(
                        source_image=source, variant=model, method=method, target_rank=rank, target_class=target,
                        target_probability=probabilities[rank - 1], top_classes=classes,
                        top_probabilities=probabilities, predicted_class=classes[0], confidence=probabilities[0],
                        heatmap=write_png(index * 31 + k * 7 + rank), preset="test", checkpoint="test.pt"))
    return study


def task_study(study_factory, write_png, *, blocks, conditions, images=4, models=None, methods=("VG",),
               **study_fields):
    """A study of task blocks: `blocks` ({field: value} each, positions 1, 2, ... unless given), `conditions`
    ((model, method) each; method "" is the no-map control), `images` images with every model's top-4 maps by
    `methods` (models: the conditions' own)."""
    study = study_factory(images=0, **study_fields)
    models = models or tuple(dict.fromkeys(model for model, _ in conditions))
    add_task_stimuli(study, write_png, images=images, models=models, methods=methods)
    for position, settings in enumerate(blocks, start=1):
        block = Block(study=study, **{"position": position, **settings})
        block.full_clean()  # refused as the admin and study files refuse it
        block.save()
    for model, method in conditions:
        TaskCondition.objects.create(study=study, model=model, method=method)
    return study


@dataclass(frozen=True)
class Page:
    """A task page as `take_part`'s `right` sees it: its block, phase, number within the block (1-based) and
    question."""

    block: Block
    phase: str
    number: int
    question: str


def always_right(page):
    return True


def page_images(block, images, used):
    """The images of a block's pages (a simulation block: its learning pages', then its test pages'), none used
    before in the plan."""
    free = [image for image in images if image not in used]
    test = block.images or len(free) - (block.learning_images or 0)
    phases = [(LEARN, block.learning_images or 0), (TEST, test)] if block.kind == SIMULATION else [("", test)]
    pages, start = [], 0
    for phase, count in phases:
        pages += [(phase, image) for image in free[start:start + count]]
        start += count
    return pages


def take_part(participant, condition, *, right=always_right, confidence=4, attention_check=True, complete=True,
              answered=None):
    """Plan and answer every task page of `participant`'s study in `condition`, as the task pages would store them.

    `right(page)` says whether the participant answers a page's question right (else: the first wrong option
    shown); `answered`: how many pages get an answer (default all; the rest stay unanswered, as mid-study).
    `attention_check`: one instructed-response item after the first page of the first block, answered as
    instructed. Consented now; `complete`: completed now too. Returns the trials."""
    study = participant.study
    rng = random.Random(participant.seed)
    participant.task_condition = condition
    participant.consented_at = timezone.now()
    if complete:
        participant.completed_at, participant.outcome = timezone.now(), Outcome.COMPLETED
    participant.save()
    method = condition.method or study.stimuli.filter(variant=condition.model).order_by("method").values_list(
        "method", flat=True).first()  # a control's pages name the model's maps, never shown
    maps = study.stimuli.filter(variant=condition.model, method=method)
    images = sorted({stimulus.source_image for stimulus in maps}, key=lambda source: source.test_index)
    trials, used, position = [], set(), 0
    for block in study.blocks.filter(kind__in=TASKS).order_by("position"):
        pages = page_images(block, images, used)
        used |= {image for _, image in pages}
        rng.shuffle(pages)
        pages.sort(key=lambda page: page[0] == TEST)  # learning before test
        for number, (phase, image) in enumerate(pages, start=1):
            position += 1
            ranked = {s.target_rank: s for s in maps.filter(source_image=image)}
            predicted = ranked[1]
            if block.kind == VERIFICATION:
                options = list(VERIFICATION_OPTIONS)
            else:
                options = predicted.top_classes[:block.top_k]
                rng.shuffle(options)
            slots = {}
            if block.kind == DISTINCTION and condition.method:
                by_class = {s.target_class: s for s in ranked.values()}
                slots = {slot: by_class[option] for slot, option in zip(SIDE_BY_SIDE_SLOTS, options)}
            trial = Trial.objects.create(participant=participant, position=position, kind=block.kind, block=block,
                                         phase=phase, options=options, stimulus=predicted, source_image=image,
                                         shown_at=timezone.now(), **slots)
            trials.append(trial)
            if answered is None or len(trials) <= answered:
                answer_page(trial, block, number, predicted, image, right, confidence)
            if attention_check and position == 1:
                position += 1
                check = Trial.objects.create(participant=participant, position=position, kind=Trial.Kind.ATTENTION,
                                             block=block, phase=phase, options=options, attention_target=2)
                AttentionCheck.objects.create(trial=check, answer=2, rt_ms=900, page_hides=0)
    return trials


def chosen(question, page, right, options, predicted, image):
    """The option a participant picks: the right one where `right(page)`, else the first other option shown."""
    correct = right_answer(question, model_prediction=predicted.predicted_class, true_class=image.class_name)
    return correct if right(page) else next(option for option in options if option != correct)


def answer_page(trial, block, number, predicted, image, right, confidence):
    question = TASK_QUESTIONS[block.kind][0]
    page = Page(block, trial.phase, number, question)
    fields = {"answer": "", "confidence": None}
    if trial.phase != LEARN or block.learning_guess:
        fields = {"answer": chosen(question, page, right, trial.options, predicted, image), "confidence": confidence}
    if block.kind == DISTINCTION and block.ask_true_class:
        page = Page(block, trial.phase, number, TRUE_CLASS)
        fields |= {"true_class_answer": chosen(TRUE_CLASS, page, right, trial.options, predicted, image),
                   "true_class_confidence": confidence}
    TaskResponse.objects.create(trial=trial, rt_ms=2000 + 100 * number, page_hides=number % 2, **fields)
