"""`manage.py erase_participant --study S (--participant P0012 | --external-id X)`

Erasure on request: deletes one participant's answers and background; their audit row stays (see
studyapp/participation.py), so that returns and payments can still be handled.
"""

from django.core.management.base import BaseCommand, CommandError

from studyapp import participation
from studyapp.management.studies import study_by_slug
from studyapp.models import Outcome


class Command(BaseCommand):
    help = ("Erase one participant's answers and background (a request under GDPR Art. 17). Their audit row "
            "stays: pseudonym, platform ID, consent record, times and the outcome 'erased'.")

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="The study's slug.")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--participant", help="The participant's pseudonym, e.g. P0012.")
        who.add_argument("--external-id", help="The participant's platform ID (PROLIFIC_PID, workerId, SONA id).")

    def handle(self, *, study, participant, external_id, **options):
        study = study_by_slug(study)
        lookup = {"pseudonym": participant} if participant else {"external_id": external_id}
        person = study.participants.filter(**lookup).first()
        who = f"participant {participant!r}" if participant else f"participant with platform ID {external_id!r}"
        if person is None:
            raise CommandError(f"No {who} in study {study.slug!r}; nothing was erased. Pseudonyms are listed in "
                               "participants.csv and the admin, platform IDs in recruitment.csv.")
        erasure = participation.erase(person, Outcome.ERASED)
        if erasure.already:
            self.stdout.write(f"{person.pseudonym} of {study.slug!r}: answers and background were already deleted "
                              f"(outcome {person.outcome}); nothing to do.")
            return
        self.stdout.write(f"Erased {person.pseudonym} of {study.slug!r}: {erasure.answers} answers on "
                          f"{erasure.trials} pages and their background deleted; kept: pseudonym, platform ID, "
                          "consent record, times, outcome 'erased'.")
