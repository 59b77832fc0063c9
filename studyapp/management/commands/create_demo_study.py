"""`manage.py create_demo_study [--base-url http://127.0.0.1:8000]`, run unattended by `make run`.

The demo studies are defined by study files, fixtures/studies/demo.toml, methods.toml and tasks.toml
(studyapp/studyfile.py; `export_study` of the demo studies on the shipped stimuli writes them back, byte for byte).
Their stimuli are chosen here, as they always were, so that a demo works on stimuli generated anew: the demo shows
the Vanilla Gradient maps (every loaded VG stimulus but those of the images that have maps of the models' other top
classes: fixtures/tasks.json's, for task pages; without any VG map, e.g. only imported maps of other methods, every
loaded map of a prediction). It recruits on Prolific with a completion code; the command prints its Prolific study
link (open it with any ID in place of the placeholders to try it), a few personal invite links and its console.
When the methods fixture is loaded (`loaddata methods`: IG and SmoothGrad maps of the same images and models), it
also makes the second demo study "methods": N/A/M2 x VG/IG/SG, each participant rating each image under three of
the nine cells (a balanced incomplete design), the side-by-side page comparing the three methods of one model.
When the tasks fixture is loaded (`loaddata tasks`: the VG maps of N, A and M2's top 4 classes on 32 images, each
model wrong on half of them), it makes the third demo study "tasks" (issue 29): a distinction block (k = 4), a
forward-simulation block and a verification block, under N/A/M2 x VG and each model's no-map control. Their links are
printed too.
The researcher account owns the demo studies (studyapp.access: staff see only the studies they are members of).
Idempotent: a second run reuses the studies, their participants and the researcher account, adds
stimuli loaded since, and prints a fresh researcher password (the old one cannot be shown).
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from saliency.models import Method, SourceImage, Stimulus
from saliency.names import PREDICTION_RANK
from studyapp import access, readiness, studyfile
from studyapp.enrollment import base_url_argument, enroll_participants, invite_url
from studyapp.models import RecruitmentSource, Role, Study
from studyapp.researchers import make_researcher

STUDY_FILES = Path(settings.BASE_DIR) / "fixtures" / "studies"
DEMO_SLUG = "demo"
METHODS_SLUG = "methods"
TASKS_SLUG = "tasks"
METHODS_STUDY = {"models": ("N", "A", "M2"), "methods": ("VG", "IG", "SG"), "dataset": "fmnist"}
TASKS_STUDY = {"models": ("N", "A", "M2"), "methods": ("VG",), "dataset": "fmnist"}
RESEARCHER = "researcher"


def ready_to_open(study):
    """A demo study made before studies declared their duration gets the estimate as its declared duration on
    Prolific (as a researcher would declare it, once); then the study must open as any study must (studyapp.opening,
    through Study.clean, with its stored blocks and task conditions): ValidationError otherwise."""
    if study.declared_minutes is None:
        study.declared_minutes = readiness.study_length(study).minutes
        study.save(update_fields=["declared_minutes"])
    study.full_clean()


def cells_stimuli(cells):
    """The loaded stimuli of a demo study's models, methods and dataset."""
    return Stimulus.objects.filter(variant__in=cells["models"], method__in=cells["methods"],
                                   source_image__dataset=cells["dataset"])


class Command(BaseCommand):
    help = ("Create (or refresh) the demo studies: 'demo' with the loaded Vanilla Gradient maps; when IG and "
            "SmoothGrad maps are loaded, 'methods' with those and the VG maps, both without the task stimuli's "
            "images; when the task stimuli are loaded, 'tasks' (distinction, forward simulation and verification "
            "on them). A researcher account that owns them, and each study's Prolific study link, invite links "
            "and console.")

    def add_arguments(self, parser):
        parser.add_argument("--base-url", type=base_url_argument, default="http://127.0.0.1:8000",
                            help="Where the server answers (default http://127.0.0.1:8000).")
        parser.add_argument("--participants", type=int, default=5,
                            help="Invite links each demo study has (>= 1).")

    def handle(self, *, base_url, participants, **options):
        if participants < 1:
            raise CommandError(f"--participants must be at least 1, got {participants}.")
        task_images = SourceImage.objects.filter(stimuli__target_rank__gt=PREDICTION_RANK)
        stimuli = Stimulus.objects.filter(method=Method.VG).exclude(source_image__in=task_images)
        if not stimuli.exists():  # e.g. only imported maps of other methods: the demo shows what is loaded
            stimuli = Stimulus.objects.predicted()
        if not stimuli.exists():
            raise CommandError("No stimuli in the database: run `manage.py loaddata stimuli`, "
                               "`manage.py generate_stimuli` or `manage.py import_stimuli` first.")
        password = secrets.token_urlsafe(12)
        methods_stimuli = cells_stimuli(METHODS_STUDY).exclude(source_image__in=task_images)
        with_methods = methods_stimuli.exclude(method=Method.VG).exists()
        tasks_stimuli = cells_stimuli(TASKS_STUDY).filter(source_image__in=task_images)
        with_tasks = tasks_stimuli.exists()
        try:
            with transaction.atomic():
                researcher = self.researcher_account(password)
                study, created = self.enrolled_demo_study(DEMO_SLUG, stimuli, participants, researcher)
                if with_methods:
                    methods_study, methods_created = self.enrolled_demo_study(
                        METHODS_SLUG, methods_stimuli, participants, researcher)
                if with_tasks:
                    tasks_study, tasks_created = self.enrolled_demo_study(
                        TASKS_SLUG, tasks_stimuli, participants, researcher)
        except ValidationError as error:
            raise CommandError("The demo study cannot open: " + " ".join(error.messages)) from None
        base = base_url.rstrip("/")
        self.stdout.write(f"Demo study {study.slug!r} {'created' if created else 'exists'}: "
                          f"{study.stimuli.count()} stimuli. Each participant gets {readiness.study_length(study)}.")
        self.stdout.write(f"Researcher (admin {base}/admin/): username {researcher.username!r}, password {password!r}")
        self.links(study, base, participants, " (put any ID in place of each {{%...%}} to try it)")
        if with_methods:
            self.stdout.write(
                f"Second demo study {methods_study.slug!r} {'created' if methods_created else 'exists'}: "
                f"{methods_study.stimuli.count()} stimuli (models x methods), each image rated under "
                f"{methods_study.views_per_image} of them; side by side: the methods for one model. Each "
                f"participant gets {readiness.study_length(methods_study)}.")
            self.links(methods_study, base, participants)
        else:
            self.stdout.write("Second demo study 'methods' (VG/IG/SmoothGrad maps): run `manage.py loaddata "
                              "methods` and this command again.")
        if with_tasks:
            blocks = ", ".join(block.kind for block in tasks_study.blocks.all())
            conditions = ", ".join(map(str, tasks_study.task_conditions.all()))
            self.stdout.write(
                f"Third demo study {tasks_study.slug!r} {'created' if tasks_created else 'exists'}: "
                f"{tasks_study.stimuli.count()} stimuli (top-class maps); blocks {blocks}; each participant in one "
                f"of {conditions}. Each participant gets {readiness.study_length(tasks_study)}.")
            self.links(tasks_study, base, participants)
        else:
            self.stdout.write("Third demo study 'tasks' (distinction, forward simulation, verification): run "
                              "`manage.py loaddata tasks` and this command again.")

    def links(self, study, base, participants, hint=""):
        """A demo study's recruitment link, its first invite links and its console."""
        self.stdout.write(f"{study.get_recruitment_source_display()} study link{hint}:\n  {study.study_link(base)}")
        self.stdout.write("Participant invite links:")
        for participant in study.participants.order_by("pseudonym")[:participants]:
            self.stdout.write(f"  {participant.pseudonym}  {invite_url(participant, base)}")
        self.stdout.write(f"Console: {base}{reverse('studyapp:dashboard_study', args=[study.slug])}")

    @staticmethod
    def demo_study(slug, stimuli):
        """The demo study `slug`, made from its study file with `stimuli` (or, made before, with `stimuli` added):
        (study, created). It must open as any study does (the admin's validation: ValidationError otherwise)."""
        study = Study.objects.filter(slug=slug).first()
        created = study is None
        if created:
            text = (STUDY_FILES / f"{slug}.toml").read_text(encoding="utf-8")
            try:
                study = studyfile.create_study(text, slug=slug, stimuli=stimuli)
            except studyfile.StudyFileError as error:
                raise CommandError(f"fixtures/studies/{slug}.toml: {error}") from error
        else:
            if not study.recruitment_source:  # a demo study made before studies had one
                study.recruitment_source = RecruitmentSource.PROLIFIC
                study.save(update_fields=["recruitment_source"])
            study.stimuli.add(*stimuli)
        ready_to_open(study)  # the file's blocks and task conditions are checked once stored
        return study, created

    def enrolled_demo_study(self, slug, stimuli, participants, researcher):
        """The demo study `slug` (demo_study), owned by `researcher`, with at least `participants` enrolled."""
        study, created = self.demo_study(slug, stimuli)
        access.grant(study, researcher, Role.OWNER)
        missing = participants - study.participants.count()
        if missing > 0:
            enroll_participants(study, missing)
        return study, created

    def researcher_account(self, password):
        """The demo's researcher account (studyapp.researchers), its password new on every run."""
        user, _ = get_user_model().objects.get_or_create(username=RESEARCHER)
        return make_researcher(user, password)
