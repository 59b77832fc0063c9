"""Shared fixtures: studies with real stimulus PNGs, and their participants.

    def test_something(study_factory, participant_factory, client):
        study = study_factory(images=2)                  # 2 source images x (N, A, M2) = 6 stimuli
        participant = participant_factory(study)
        client.get(f"/i/{participant.invite_token}/")    # logged in as that participant

`stimuli_root` points settings.STIMULI_ROOT at a temporary folder; `study_factory` writes each
image and heatmap there as a small, distinct PNG under an opaque file name, as the real fixture does.
"""

import itertools
import secrets

import pytest
from PIL import Image

from saliency.models import SourceImage, Stimulus
from studyapp.enrollment import enroll_participants
from studyapp.models import Study

pytest_plugins = ["tests.pg_cluster"]  # `pytest --postgres`: the database-facing tests on a throwaway PostgreSQL

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@pytest.fixture(scope="session", autouse=True)
def static_root(tmp_path_factory):
    """An empty STATIC_ROOT that exists: no test runs `collectstatic` into var/static/, and whitenoise warns
    "No directory at" a missing one each time the middleware is built (every test client)."""
    from django.conf import settings

    settings.STATIC_ROOT = tmp_path_factory.mktemp("static")
    return settings.STATIC_ROOT


@pytest.fixture
def stimuli_root(tmp_path, settings):
    root = tmp_path / "stimuli"
    root.mkdir()
    settings.STIMULI_ROOT = root
    return root


@pytest.fixture
def write_png(stimuli_root):
    """write_png(shade) -> path relative to STIMULI_ROOT of a new 8x8 PNG filled with that grey level."""

    def write(shade):
        name = f"{secrets.token_hex(8)}.png"
        Image.new("L", (8, 8), color=shade % 256).save(stimuli_root / name)
        return name

    return write


@pytest.fixture
def study_factory(db, write_png):
    """study_factory(images=2, variants=("N", "A", "M2"), dataset="fmnist", **study_fields) -> Study.

    Creates `images` SourceImages (fresh test indexes, class names cycling through Fashion-MNIST's),
    one Stimulus per variant and method (`methods`, default VG alone) for each, and a Study holding all of them. `study_fields` override the
    Study's defaults (slug, title and seed are filled in when missing), e.g. comparison_count=1,
    attention_checks=False, completion_redirect_url="https://example.org/done".
    """
    test_indexes = itertools.count()
    studies = itertools.count(1)

    def make(images=2, variants=("N", "A", "M2"), *, dataset="fmnist", methods=("VG",), **study_fields):
        number = next(studies)
        study_fields.setdefault("slug", f"study-{number}")
        study_fields.setdefault("title", f"Study {number}")
        study_fields.setdefault("seed", 1000 + number)
        study_fields.setdefault("completion_code", f"DONE-{number}")
        study = Study.objects.create(**study_fields)
        for _ in range(images):
            index = next(test_indexes)
            source = SourceImage.objects.create(
                dataset=dataset, test_index=index, class_name=CLASS_NAMES[index % len(CLASS_NAMES)],
                image=write_png(index),
            )
            for offset, (variant, method) in enumerate(itertools.product(variants, methods), start=1):
                study.stimuli.add(Stimulus.objects.create(
                    source_image=source, variant=variant, method=method, heatmap=write_png(index * 7 + offset * 31),
                    predicted_class=source.class_name, confidence=0.9, preset="test", checkpoint="test.pt",
                ))
        return study

    return make


@pytest.fixture
def participant_factory(db):
    """participant_factory(study, username=None, password=None) -> Participant.

    A participant enrolled as `create_participants` enrols one (studyapp.enrollment: next pseudonym,
    invite token, the seed `participant_seed` draws for the study's next participant number); `username`
    and `password` give their account a name and a password login.
    """
    def make(study, username=None, password=None):
        participant = enroll_participants(study, 1)[0]
        user = participant.user
        if username:
            user.username = username
        if password:
            user.set_password(password)
        if username or password:
            user.save()
        return participant

    return make


@pytest.fixture
def back_to_today():
    """Whatever a migration test migrated to, the database ends at today's migrations."""
    from tests.helpers.migrations import migrate_to_today

    yield
    migrate_to_today()
