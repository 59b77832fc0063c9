"""Studies with task blocks (issue 29) on the shipped fixtures/tasks.json: the top-4 VG maps of FMNIST's N, A and M2
on 32 images, each model wrong on half of them. Their PNGs are the fixture's own (settings.STIMULI_ROOT as shipped),
so a test using these leaves out the `stimuli_root` fixture."""

import io

from django.core.management import call_command

from saliency.models import Stimulus
from studyapp.models import Block, Study, TaskCondition

TASK_MODELS = ("N", "A", "M2")


def load_task_stimuli():
    call_command("loaddata", "tasks", stdout=io.StringIO())


def task_study(blocks, conditions=(("N", "VG"), ("N", "")), *, models=TASK_MODELS, slug="tasks", **fields):
    """A study of the task stimuli of `models` with `blocks` (dicts of Block fields, in position order) and task
    `conditions` ((model, method), method "" for the no-map control), created as the admin stores them."""
    if not Stimulus.objects.filter(variant__in=models).exists():
        load_task_stimuli()
    fields = {"title": "Image classes", "seed": 29, "completion_code": "DONE-TASKS", **fields}
    study = Study.objects.create(slug=slug, **fields)
    study.stimuli.set(Stimulus.objects.filter(variant__in=models))
    for position, settings in enumerate(blocks, start=1):
        block = Block(study=study, position=position, **settings)
        block.full_clean()  # refused as the admin and study files refuse it
        block.save()
    for model, method in conditions:
        TaskCondition.objects.create(study=study, model=model, method=method)
    return study
