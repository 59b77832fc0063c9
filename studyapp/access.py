"""Who may see and do what on a study: the one place that decides it, for the console, the admin and the API.

A staff user's access to a study comes from their Membership's role; superusers have every study. Each role is a
set of object permissions, asked through Django's permission machinery, `user.has_perm(VIEW_DATA, study)`, which
StudyRoleBackend answers. Lists are narrowed by `studies(user, permission)` and `scope(...)`. Global (model)
permissions decide nothing about a study's data; only 'Can add study' is needed to create one, whose creator
becomes its owner.

Views declare what they need (studyapp.decorators: `study_permission_required`, `token_required`); a staff user
who is no member of a study is told it does not exist (404), a member whose role lacks the permission gets 403.

An API token carries a role on one study: a request with it may do what both the token's role and its user's
current role allow. Only each token's SHA-256 digest is kept (the token is 256 random bits: a fast hash suffices).

Every access to participant data is recorded (`record`, a ConsoleEvent): who, when, through what, from where.
"""

import getpass
import hashlib
import ipaddress
import logging
import secrets
from datetime import timedelta

from django.contrib.auth.backends import BaseBackend
from django.utils import timezone

from .models import ApiToken, ConsoleEvent, Membership, Role, Study
from .throttling import client_address

logger = logging.getLogger("studyapp.access")

VIEW_STUDY = "studyapp.view_study"  # the study exists for you: the console's counts
VIEW_SETTINGS = "studyapp.view_study_settings"  # its admin page: design, recruitment and ending settings (codes)
CHANGE_STUDY = "studyapp.change_study"  # design and recruitment settings, previews, pilot copies
DELETE_STUDY = "studyapp.delete_study"
VIEW_DATA = "studyapp.view_participant_data"  # participants, answers, the export zip (review and bonus files too),
#                                               the report and interim results
DECIDE = "studyapp.decide_exclusions"  # exclude or include participants, with a reason
ERASE = "studyapp.erase_participant"  # erase a participant's answers and background
MANAGE_MEMBERS = "studyapp.manage_members"  # members and their roles, and every member's API tokens on the study
VIEW_LOG = "studyapp.view_access_log"  # who saw the study's participant data, when

ROLE_PERMISSIONS = {
    Role.OWNER: frozenset({VIEW_STUDY, VIEW_SETTINGS, CHANGE_STUDY, DELETE_STUDY, VIEW_DATA, DECIDE, ERASE,
                           MANAGE_MEMBERS, VIEW_LOG}),
    Role.EDITOR: frozenset({VIEW_STUDY, VIEW_SETTINGS, CHANGE_STUDY}),
    Role.ANALYST: frozenset({VIEW_STUDY, VIEW_SETTINGS, VIEW_DATA, DECIDE}),
    Role.VIEWER: frozenset({VIEW_STUDY}),
}
EVERY_PERMISSION = frozenset().union(*ROLE_PERMISSIONS.values())
NOTHING = frozenset()

# The console refreshes itself every minute: its views of participant data are kept once per user, study and
# kind of page in this interval (downloads, reports and decisions each time).
VIEWS_KEPT_EVERY = timedelta(minutes=10)


# --- Roles and permissions ------------------------------------------------------------------------------------

def roles(user):
    """{study id: role} of the user's memberships, read once per user object (Django's, per request)."""
    if not hasattr(user, "_study_roles"):
        user._study_roles = (dict(Membership.objects.filter(user=user).values_list("study_id", "role"))
                             if user.is_authenticated else {})
    return user._study_roles


def permissions(user, study):
    """What `user` may do on `study`: every permission for an active superuser, their role's for active staff."""
    if not (user.is_authenticated and user.is_active):
        return NOTHING
    if user.is_superuser:
        return EVERY_PERMISSION
    if not user.is_staff:
        return NOTHING
    return ROLE_PERMISSIONS.get(roles(user).get(study.pk), NOTHING)


def may_any(user, permission):
    """Whether `user` may `permission` on at least one study (e.g. to show a list at all)."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    return user.is_staff and any(permission in ROLE_PERMISSIONS[role] for role in roles(user).values())


def roles_with(permission):
    return [role for role, granted in ROLE_PERMISSIONS.items() if permission in granted]


class StudyRoleBackend(BaseBackend):
    """Answers `user.has_perm(permission, study)` from the user's role on the study (Django asks it for object
    permissions; ModelBackend answers the global ones). It authenticates no one."""

    def has_perm(self, user_obj, perm, obj=None):
        return isinstance(obj, Study) and perm in permissions(user_obj, obj)

    def get_all_permissions(self, user_obj, obj=None):
        return set(permissions(user_obj, obj)) if isinstance(obj, Study) else set()


def studies(user, permission=VIEW_STUDY):
    """The studies `user` may `permission`."""
    if not (user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser)):
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    return Study.objects.filter(pk__in=Membership.objects.filter(user=user, role__in=roles_with(permission))
                                .values("study"))


def scope(queryset, user, permission, path):
    """`queryset` narrowed to the rows of studies `user` may `permission`; `path` leads from a row to its study
    (e.g. "trial__participant__study"; "" for studies themselves)."""
    if user.is_active and user.is_superuser:
        return queryset
    return queryset.filter(**{f"{path}__in" if path else "pk__in": studies(user, permission).values("pk")})


def grant(study, user, role):
    """Make `user` a member of `study` with `role` (replacing a role they had)."""
    membership, _ = Membership.objects.update_or_create(study=study, user=user, defaults={"role": role})
    user.__dict__.pop("_study_roles", None)
    return membership


# --- API tokens -------------------------------------------------------------------------------------------------

TOKEN_START = "sst_"  # every token begins so: a secret scanner can recognise one
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365


class TokenRefused(Exception):
    """A request's token does not give it the study: `status` 401 (no valid token) or 403 (not for this)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def digest(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


def token_problem(user, study, role, expires_at, now=None):
    """Why `user` may not have a token for `study` with `role` until `expires_at` ("" when they may)."""
    now = now or timezone.now()
    if role not in ROLE_PERMISSIONS:
        return f"Unknown role {role!r}: choose one of {', '.join(ROLE_PERMISSIONS)}."
    if not ROLE_PERMISSIONS[role] <= permissions(user, study):
        mine = roles(user).get(study.pk)
        return (f"{user.get_username()} is {'a ' + mine if mine else 'no member'} of study {study.slug!r}: a "
                f"token may do no more than its user (the study's owner or a superuser can change the role).")
    if expires_at <= now:
        return "The expiry must be in the future."
    if expires_at > now + timedelta(days=MAX_TOKEN_DAYS):
        return f"A token lives at most {MAX_TOKEN_DAYS} days: make a new one when it expires."
    return ""


def issue_token(user, study, role, name, expires_at):
    """A new token: (its ApiToken, the token itself, which is kept nowhere). Raises ValueError (nothing stored)
    when token_problem says why not."""
    token = ApiToken(user=user, study=study, role=role, name=name, expires_at=expires_at)
    return token, new_token(token)


def new_token(token):
    """Save the unsaved ApiToken `token` (its user, study, role, name and expiry set) with a new secret; return
    the secret, which is kept nowhere. Raises ValueError (nothing stored) when token_problem says why not."""
    problem = token_problem(token.user, token.study, token.role, token.expires_at)
    if problem:
        raise ValueError(problem)
    token.prefix = TOKEN_START + secrets.token_hex(6)
    raw = f"{token.prefix}_{secrets.token_urlsafe(32)}"
    token.digest = digest(raw)
    token.save()
    return raw


def revoke(tokens):
    """Revoke the tokens not yet revoked; returns how many."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_from_header(header, now=None):
    """The live ApiToken an `Authorization: Bearer <token>` header names; TokenRefused(401) otherwise."""
    scheme, _, raw = (header or "").strip().partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or " " in raw:
        raise TokenRefused(401, "Send your API token as the header 'Authorization: Bearer <token>'.")
    token = ApiToken.objects.select_related("user", "study").filter(digest=digest(raw)).first()
    now = now or timezone.now()
    if token is None:
        raise TokenRefused(401, "This API token is not valid: check that you copied all of it.")
    if token.revoked_at is not None:
        raise TokenRefused(401, f"This API token ({token.prefix}) was revoked on {token.revoked_at:%Y-%m-%d}.")
    if token.expires_at <= now:
        raise TokenRefused(401, f"This API token ({token.prefix}) expired on {token.expires_at:%Y-%m-%d}: make a "
                                "new one.")
    if not token.user.is_active:
        raise TokenRefused(401, f"This API token's account ({token.user.get_username()}) is disabled.")
    return token


def token_permissions(token):
    """What a request with `token` may do on its study: its role's permissions within its user's current ones."""
    return ROLE_PERMISSIONS[token.role] & permissions(token.user, token.study)


def check_token(token, slug, permission):
    """Refuse (403) a live `token` used for another study or beyond its role; record its use."""
    if token.study.slug != slug:
        raise TokenRefused(403, f"This API token is for one study only, not {slug!r}.")
    if permission not in token_permissions(token):
        raise TokenRefused(403, f"This API token ({token.role}) may not do this, or its user's role on the study "
                                "no longer allows it.")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())


# --- The access log ---------------------------------------------------------------------------------------------

# The access log's actions kept from more than one place (the others are named where they are kept).
CONSOLE_VIEWED = "console"  # a view of the console's participants
EXPORTED = "export"  # the export zip (console, API) or `manage.py export_responses`
ERASED = "erase"  # an erasure (the admin's action, `manage.py erase_participant`)

def record(request, study, action, detail="", *, token=None, view=False):
    """Keep an access to `study`'s participant data, or an act on it, by the request's user (and `token`).

    `view`: a page view, kept once per VIEWS_KEPT_EVERY for the same user, study, action and way in."""
    via = ConsoleEvent.Via.API if token else (
        ConsoleEvent.Via.ADMIN if request.resolver_match and request.resolver_match.namespace == "admin"
        else ConsoleEvent.Via.CONSOLE)
    user = request.user
    if view and ConsoleEvent.objects.filter(study=study, user=user, action=action, via=via,
                                            at__gte=timezone.now() - VIEWS_KEPT_EVERY).exists():
        return
    keep(study, user, user.get_username(), action, detail, via=via, token=token, address=client_address(request))


def record_command(study, action, detail=""):
    """Keep an act of a management command, run by whoever is logged in on the server."""
    keep(study, None, f"{getpass.getuser()} (command)", action, detail, via=ConsoleEvent.Via.COMMAND)


def keep(study, user, username, action, detail, *, via, token=None, address=None):
    try:
        address = str(ipaddress.ip_address(address)) if address else None
    except ValueError:  # a proxy's forwarded value that is no address
        address = None
    ConsoleEvent.objects.create(study=study, user=user, username=username, action=action, detail=detail[:300],
                                via=via, token=token, address=address)
    logger.info("%s: %s on study %s %s (%s%s)", username, action, study.slug, detail, via,
                f", token {token.prefix}" if token else "")
