"""`manage.py create_participants --study S --count 65 --out invites.csv [--base-url https://host]`"""

import csv
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from saliency.files import publish_folder
from studyapp.enrollment import base_url_argument, enroll_participants, invite_url
from studyapp.management.studies import study_by_slug


class Command(BaseCommand):
    help = ("Enrol participants in a study and write one personal invite link per participant "
            "(columns pseudonym,invite_url) to a new CSV file. All or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="The study's slug.")
        parser.add_argument("--count", required=True, type=int, help="How many participants to create (>= 1).")
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write; must not exist yet.")
        parser.add_argument("--base-url", type=base_url_argument, default="",
                            help="Scheme and host the links start with, e.g. https://study.example.org "
                                 "(default: links are paths such as /i/<token>/).")

    def handle(self, *, study, count, out, base_url, **options):
        if count < 1:
            raise CommandError(f"--count must be at least 1, got {count}.")
        if out.exists():
            raise CommandError(f"{out} exists already (it may hold links that were sent); choose a new --out.")
        if not out.parent.is_dir():
            raise CommandError(f"Folder {out.parent} does not exist; create it or choose another --out.")
        study = study_by_slug(study)
        participants = []

        def write(folder):
            participants.extend(enroll_participants(study, count))
            # Owner-only, as mkstemp made it before: the links let anyone in as these participants.
            with open(os.open(folder / out.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", newline="",
                      encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(["pseudonym", "invite_url"])
                writer.writerows([p.pseudonym, invite_url(p, base_url)] for p in participants)

        with transaction.atomic():
            publish_folder(out.parent, write, f".{out.name}.")  # last step: the file appears only with the participants
        self.stdout.write(f"Created {count} participants of {study.slug!r} "
                          f"({participants[0].pseudonym}..{participants[-1].pseudonym}); links in {out}.")
