"""`manage.py api_token create --study S --user U --role R --name N [--days 90]`, `api_token list [--study S]
[--user U]`, `api_token revoke PREFIX`

Personal API tokens for scripted access (studyapp.access): `create` prints the token once (only its digest is kept),
`list` shows tokens by their visible prefix, `revoke` ends one at once. A token's role may not exceed its user's.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from studyapp import access
from studyapp.management.studies import study_by_slug
from studyapp.models import ApiToken, Role


class Command(BaseCommand):
    help = "Create, list or revoke personal API tokens (each for one study and a role)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Make a token and print it (once).")
        create.add_argument("--study", required=True, help="The study's slug.")
        create.add_argument("--user", required=True, help="Whose token it is (a member of the study).")
        create.add_argument("--role", required=True, choices=Role.values, help="What it may do (at most the user's).")
        create.add_argument("--name", required=True, help="What it is for, e.g. 'nightly export'.")
        create.add_argument("--days", type=int, default=access.DEFAULT_TOKEN_DAYS,
                            help=f"Days until it expires (default {access.DEFAULT_TOKEN_DAYS}, at most "
                                 f"{access.MAX_TOKEN_DAYS}).")
        listing = actions.add_parser("list", help="List tokens (never the tokens themselves).")
        listing.add_argument("--study", help="Only this study's.")
        listing.add_argument("--user", help="Only this account's.")
        revoke = actions.add_parser("revoke", help="Revoke a token by its prefix (as `list` shows it).")
        revoke.add_argument("prefix")

    def handle(self, *, action, **options):
        getattr(self, action)(**options)

    def create(self, *, study, user, role, name, days, **options):
        study = study_by_slug(study)
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No account {user!r}; nothing was made.")
        try:
            token, raw = access.issue_token(account, study, role, name, timezone.now() + timedelta(days=days))
        except ValueError as problem:
            raise CommandError(f"{problem} Nothing was made.") from None
        self.stdout.write(f"Token {token.prefix} for {user}, {role} of {study.slug!r}, until "
                          f"{token.expires_at:%Y-%m-%d}. Copy it now: it is not shown again.")
        self.stdout.write(raw)

    def list(self, *, study=None, user=None, **options):
        tokens = ApiToken.objects.select_related("user", "study").order_by("study__slug", "created_at")
        if study:
            tokens = tokens.filter(study=study_by_slug(study))
        if user:
            tokens = tokens.filter(user__username=user)
        now = timezone.now()
        for token in tokens:
            state = (f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else
                     f"expired {token.expires_at:%Y-%m-%d}" if token.expires_at <= now else
                     f"until {token.expires_at:%Y-%m-%d}")
            self.stdout.write(f"{token.prefix}  {token.study.slug:<20} {token.user.get_username():<16} "
                              f"{token.role:<8} {state:<20} {token.name}")
        if not tokens:
            self.stdout.write("No tokens.")

    def revoke(self, *, prefix, **options):
        tokens = ApiToken.objects.filter(prefix=prefix)
        if not tokens.exists():
            raise CommandError(f"No token {prefix!r}; `manage.py api_token list` shows them.")
        if not access.revoke(tokens):
            self.stdout.write(f"Token {prefix} was already revoked.")
            return
        self.stdout.write(f"Revoked token {prefix}: it no longer opens anything.")
