"""Researcher accounts: staff users who may use the admin for studies, participants, answers and stimuli.

`manage.py create_researcher` makes the first one on a new server (and any later one); `create_demo_study` makes
the demo's `researcher` the same way.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

RESEARCHER_APPS = ("studyapp", "saliency")  # whose models a researcher may view and change in the admin


def make_researcher(user, password, email=None):
    """`user` (saved or not) as an active staff account, not a superuser, with `password` and the apps' permissions."""
    user.is_staff = True
    user.is_active = True
    if email is not None:
        user.email = email
    user.set_password(password)
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=RESEARCHER_APPS))
    return user


def new_researcher(username):
    """An unsaved user named `username`; ValueError naming the clash when the name is taken."""
    users = get_user_model()
    if users.objects.filter(username=username).exists():
        raise ValueError(f"A user named {username!r} exists already; set a new password with "
                         f"`manage.py changepassword {username}`.")
    return users(username=username)
