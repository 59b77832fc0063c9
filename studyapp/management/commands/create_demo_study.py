"""`manage.py create_demo_study [--base-url http://127.0.0.1:8000]`, run unattended by `make run`.

The demo studies are defined by study files, fixtures/studies/demo.toml and methods.toml (studyapp/studyfile.py;
`export_study` of the demo studies on the shipped stimuli writes them back, byte for byte). Their stimuli are
chosen here, as they always were, so that a demo works on stimuli generated anew: the demo shows the Vanilla
Gradient maps (every loaded VG stimulus but those of the images that have maps of the models' other top classes:
fixtures/tasks.json's, for task pages; without any VG map, e.g. only imported maps of other methods, every loaded
map of a prediction). It recruits on Prolific with a completion code; the command prints its Prolific study link
(open it with any ID in place of the placeholders to try it) and a few personal invite links.
When the methods fixture is loaded (`loaddata methods`: IG and SmoothGrad maps of the same images and models), it
also makes the second demo study "methods": N/A/M2 x VG/IG/SG, each participant rating each image under three of
the nine cells (a balanced incomplete design), the side-by-side page comparing the three methods of one model; its
links are printed too.
The researcher account owns both demo studies (studyapp.access: staff see only the studies they are members of).
Idempotent: a second run reuses the study, its participants and the researcher account, adds
stimuli loaded since, and prints a fresh researcher password (the old one cannot be shown).
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from saliency.models import Method, SourceImage, Stimulus
from saliency.names import PREDICTION_RANK
from studyapp import access, readiness, studyfile
from studyapp.enrollment import base_url_argument, enroll_participants, invite_url
from studyapp.models import RecruitmentSource, Role, Study
from studyapp.researchers import make_researcher

STUDY_FILES = Path(settings.BASE_DIR) / "fixtures" / "studies"
DEMO_SLUG = "demo"
METHODS_SLUG = "methods"
METHODS_STUDY = {"models": ("N", "A", "M2"), "methods": ("VG", "IG", "SG"), "dataset": "fmnist"}
RESEARCHER = "researcher"


def ready_to_open(study):
    """A demo study made before studies declared their duration gets the estimate as its declared duration on
    Prolific (as a researcher would declare it, once); then the study must open as any study must (studyapp.opening,
    through Study.clean): ValidationError otherwise."""
    if study.declared_minutes is None:
        study.declared_minutes = readiness.study_length(study).minutes
        study.save(update_fields=["declared_minutes"])
    study.full_clean()


class Command(BaseCommand):
    help = ("Create (or refresh) the demo studies: 'demo' with the loaded Vanilla Gradient maps and, when IG and "
            "SmoothGrad maps are loaded, 'methods' with those and the VG maps, both without the task stimuli's "
            "images; a researcher account, the Prolific study links and invite links.")

    def add_arguments(self, parser):
        parser.add_argument("--base-url", type=base_url_argument, default="http://127.0.0.1:8000",
                            help="Where the server answers (default http://127.0.0.1:8000).")
        parser.add_argument("--participants", type=int, default=5, help="Invite links the demo study has (>= 1).")

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
        methods_stimuli = Stimulus.objects.filter(
            variant__in=METHODS_STUDY["models"], method__in=METHODS_STUDY["methods"],
            source_image__dataset=METHODS_STUDY["dataset"]).exclude(source_image__in=task_images)
        with_methods = methods_stimuli.exclude(method=Method.VG).exists()
        try:
            with transaction.atomic():
                study, created = self.demo_study(DEMO_SLUG, stimuli)
                researcher = self.researcher_account(password)
                access.grant(study, researcher, Role.OWNER)
                missing = participants - study.participants.count()
                if missing > 0:
                    enroll_participants(study, missing)
                invited = study.participants.order_by("pseudonym")[:participants]
                if with_methods:
                    methods_study, methods_created = self.methods_study(methods_stimuli, participants)
                    access.grant(methods_study, researcher, Role.OWNER)
        except ValidationError as error:
            raise CommandError("The demo study cannot open: " + " ".join(error.messages)) from None
        base = base_url.rstrip("/")
        self.stdout.write(f"Demo study {study.slug!r} {'created' if created else 'exists'}: "
                          f"{study.stimuli.count()} stimuli. Each participant gets {readiness.study_length(study)}.")
        self.stdout.write(f"Researcher (admin {base}/admin/): username {researcher.username!r}, password {password!r}")
        self.stdout.write(f"{study.get_recruitment_source_display()} study link (put any ID in place of each "
                          f"{{{{%...%}}}} to try it):\n  {study.study_link(base)}")
        self.stdout.write("Participant invite links:")
        for participant in invited:
            self.stdout.write(f"  {participant.pseudonym}  {invite_url(participant, base)}")
        if not with_methods:
            self.stdout.write("Second demo study 'methods' (VG/IG/SmoothGrad maps): run `manage.py loaddata "
                              "methods` and this command again.")
            return
        self.stdout.write(f"Second demo study {methods_study.slug!r} {'created' if methods_created else 'exists'}: "
                          f"{methods_study.stimuli.count()} stimuli (models x methods), each image rated under "
                          f"{methods_study.views_per_image} of them; side by side: the methods for one model. Each "
                          f"participant gets {readiness.study_length(methods_study)}.")
        self.stdout.write(f"{methods_study.get_recruitment_source_display()} study link:\n  "
                          f"{methods_study.study_link(base)}")
        self.stdout.write("Participant invite links:")
        for participant in methods_study.participants.order_by("pseudonym")[:participants]:
            self.stdout.write(f"  {participant.pseudonym}  {invite_url(participant, base)}")

    @staticmethod
    def demo_study(slug, stimuli):
        """The demo study `slug`, made from its study file with `stimuli` (or, made before, with `stimuli` added):
        (study, created). It must open as any study does (the admin's validation: ValidationError otherwise)."""
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            text = (STUDY_FILES / f"{slug}.toml").read_text(encoding="utf-8")
            try:
                return studyfile.create_study(text, slug=slug, stimuli=stimuli), True
            except studyfile.StudyFileError as error:
                raise CommandError(f"fixtures/studies/{slug}.toml: {error}") from error
        if not study.recruitment_source:  # a demo study made before studies had one
            study.recruitment_source = RecruitmentSource.PROLIFIC
            study.save(update_fields=["recruitment_source"])
        study.stimuli.add(*stimuli)
        ready_to_open(study)
        return study, False

    def methods_study(self, stimuli, participants):
        study, created = self.demo_study(METHODS_SLUG, stimuli)
        missing = participants - study.participants.count()
        if missing > 0:
            enroll_participants(study, missing)
        return study, created

    def researcher_account(self, password):
        """The demo's researcher account (studyapp.researchers), its password new on every run."""
        user, _ = get_user_model().objects.get_or_create(username=RESEARCHER)
        return make_researcher(user, password)
