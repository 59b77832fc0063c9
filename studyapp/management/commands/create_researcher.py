"""`manage.py create_researcher USERNAME [--email ADDRESS] [--no-input]`: a researcher account for the admin and
the console, its password asked twice (with --no-input, read from RESEARCHER_PASSWORD); a name already taken, or a
password Django's validators refuse, stores nothing."""

import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from studyapp.researchers import make_researcher, new_researcher

PASSWORD_VARIABLE = "RESEARCHER_PASSWORD"
ATTEMPTS = 3


class Command(BaseCommand):
    help = ("Create a researcher account (staff, not superuser: the admin's studies, participants, answers and "
            "stimuli, and the console), asking for its password.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="", help="The researcher's e-mail address (optional).")
        parser.add_argument("--no-input", action="store_false", dest="interactive",
                            help=f"Ask nothing: the password comes from the {PASSWORD_VARIABLE} environment variable.")

    def handle(self, *, username, email, interactive, **options):
        try:
            user = new_researcher(username)
        except ValueError as error:
            raise CommandError(str(error)) from None
        password = self.ask_password(user) if interactive else self.given_password(user)
        with transaction.atomic():
            make_researcher(user, password, email)
        self.stdout.write(f"Researcher {username!r} created: log in at /login/ for the console (/dashboard/), "
                          "or at /admin/.")

    def given_password(self, user):
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if not password:
            raise CommandError(f"--no-input needs the password in the {PASSWORD_VARIABLE} environment variable.")
        problems = password_problems(password, user)
        if problems:
            raise CommandError(f"{PASSWORD_VARIABLE} is refused: {problems}. Nothing was created.")
        return password

    def ask_password(self, user):
        for _ in range(ATTEMPTS):
            password = getpass.getpass(f"Password for {user.username}: ")
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("The two passwords differ; try again.")
                continue
            problems = password_problems(password, user)
            if not problems:
                return password
            self.stderr.write(f"{problems}; try again.")
        raise CommandError(f"No acceptable password in {ATTEMPTS} tries; nothing was created.")


def password_problems(password, user):
    """Django's password validators' verdict on `password` for `user`, as one sentence ("" when it passes)."""
    try:
        validate_password(password, user)
    except ValidationError as error:
        return " ".join(error.messages)
    return ""
