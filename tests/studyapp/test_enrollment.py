"""Pseudonyms of enrolled participants: numbered on from the highest P<N> stored, whatever else is stored."""

import pytest

from studyapp.enrollment import enroll_participants, highest_pseudonym_number
from studyapp.models import Participant

pytestmark = pytest.mark.django_db


def test_pseudonyms_number_on_from_the_highest_stored_one(study_factory, participant_factory):
    study = study_factory()
    assert highest_pseudonym_number() == 0
    assert [p.pseudonym for p in enroll_participants(study, 2)] == ["P0001", "P0002"]
    for pseudonym in ("P0009", "P12", "P00011", "PXYZ", "Q99", "P1A", "P" + "9" * 19):
        participant = participant_factory(study)
        Participant.objects.filter(pk=participant.pk).update(pseudonym=pseudonym)
    # The highest by value (12), not the last as text (P12); pseudonyms that are
    # not P<N>, or too long for any enrolment to have made, do not count.
    assert highest_pseudonym_number() == 12
    assert [p.pseudonym for p in enroll_participants(study, 1)] == ["P0013"]
