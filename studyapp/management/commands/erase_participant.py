"""`manage.py erase_participant --study S (--participant P0012 | --external-id X) [--dry-run] [--yes]`

Erasure on request: deletes one participant's answers and background; their audit row stays (see
studyapp/participation.py), so that returns and payments can still be handled. It says what it is
about to delete and asks first; --dry-run only says it, --yes (or --no-input) skips the question for scripts.
"""

from django.core.management.base import BaseCommand, CommandError

from studyapp import access, participation
from studyapp.management.studies import study_by_slug
from studyapp.models import Outcome
from studyapp.schema import DELETED_OUTCOMES

KEPT = "pseudonym, platform ID, consent record, times, outcome 'erased'"


class Command(BaseCommand):
    help = ("Erase one participant's answers and background (a request under GDPR Art. 17), after asking. Their "
            "audit row stays: pseudonym, platform ID, consent record, times and the outcome 'erased'.")

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="The study's slug.")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--participant", help="The participant's pseudonym, e.g. P0012.")
        who.add_argument("--external-id", help="The participant's platform ID (PROLIFIC_PID, workerId, SONA id).")
        parser.add_argument("--dry-run", action="store_true", help="Say what would be erased; change nothing.")
        parser.add_argument("--yes", "--no-input", action="store_true", dest="yes",
                            help="Erase without asking (for scripts).")

    def handle(self, *, study, participant, external_id, dry_run=False, yes=False, **options):
        study = study_by_slug(study)
        lookup = {"pseudonym": participant} if participant else {"external_id": external_id}
        person = study.participants.filter(**lookup).first()
        who = f"participant {participant!r}" if participant else f"participant with platform ID {external_id!r}"
        if person is None:
            raise CommandError(f"No {who} in study {study.slug!r}; nothing was erased. Pseudonyms are listed in "
                               "participants.csv and the admin, platform IDs in recruitment.csv.")
        if person.outcome in DELETED_OUTCOMES:
            self.stdout.write(f"{person.pseudonym} of {study.slug!r}: answers and background were already deleted "
                              f"(outcome {person.outcome}); nothing to do.")
            return
        held = participation.held_data(person)
        plan = (f"{person.pseudonym} of {study.slug!r}: {held.answers} answers on {held.trials} pages and their "
                f"background")
        if dry_run:
            self.stdout.write(f"Dry run: would erase {plan}; would keep: {KEPT}. Nothing was changed.")
            return
        if not yes and not self.confirmed(f"Erase {plan}? This cannot be undone. Type 'yes' to erase: "):
            raise CommandError("Not confirmed; nothing was erased. (Scripts: pass --yes.)")
        erasure = participation.erase(person, Outcome.ERASED)
        if erasure.already:  # erased by someone else meanwhile
            self.stdout.write(f"{person.pseudonym} of {study.slug!r}: answers and background were already deleted; "
                              "nothing to do.")
            return
        access.record_command(study, access.ERASED, f"1: {person.pseudonym}")
        self.stdout.write(f"Erased {person.pseudonym} of {study.slug!r}: {erasure.answers} answers on "
                          f"{erasure.trials} pages and their background deleted; kept: {KEPT}.")

    def confirmed(self, question):
        self.stdout.write(question, ending="")
        self.stdout.flush()
        try:
            return input().strip().lower() == "yes"
        except EOFError:  # no one to answer (stdin closed)
            return False
