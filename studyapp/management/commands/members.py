"""`manage.py members --study S [--add USER --role ROLE | --remove USER]`

Who may see a study and do what (studyapp.access): lists its members, adds one (or changes their role), or removes
one. For a server's administrator, e.g. after upgrading, when studies made before roles existed have no member yet;
the study's owners do the same in the admin (the study's page, Members).
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from studyapp import access
from studyapp.management.studies import study_by_slug
from studyapp.models import Membership, Role


def staff_user(username):
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user.is_staff:
        raise CommandError(f"No staff account {username!r}: members are researchers' accounts (staff). Create "
                           "one first, or mark the account as staff in the admin.")
    return user


class Command(BaseCommand):
    help = "List a study's members, or add one with a role, or remove one."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="The study's slug.")
        change = parser.add_mutually_exclusive_group()
        change.add_argument("--add", metavar="USER", help="Make this staff account a member (or change its role).")
        change.add_argument("--remove", metavar="USER", help="Remove this account from the study.")
        parser.add_argument("--role", choices=Role.values, help="The role --add gives: " + "; ".join(Role.labels))

    def handle(self, *, study, add=None, remove=None, role=None, **options):
        study = study_by_slug(study)
        if add:
            if not role:
                raise CommandError("--add needs --role: one of " + ", ".join(Role.values) + ".")
            access.grant(study, staff_user(add), role)
            self.stdout.write(f"{add} is now {role} of {study.slug!r}.")
        elif role:
            raise CommandError("--role goes with --add USER.")
        elif remove:
            with transaction.atomic():
                deleted, _ = Membership.objects.filter(study=study, user__username=remove).delete()
                if deleted and not study.memberships.filter(role=Role.OWNER).exists() and study.memberships.exists():
                    raise CommandError(f"{remove} is the last owner of {study.slug!r}: make another member owner "
                                       "first. Nothing was changed.")
            if not deleted:
                raise CommandError(f"{remove} is no member of {study.slug!r}; nothing was changed.")
            self.stdout.write(f"{remove} is no longer a member of {study.slug!r}.")
        members = study.memberships.select_related("user").order_by("user__username")
        if not members:
            self.stdout.write(f"{study.slug!r} has no members: only superusers see it. Add one with --add USER "
                              "--role owner.")
        for member in members:
            self.stdout.write(f"  {member.user.get_username():<24} {member.role}")
