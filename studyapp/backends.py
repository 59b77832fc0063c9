"""The authentication backend: Django's ModelBackend, loading the participant with the user."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import update_last_login

PARTICIPANT_BACKEND = "studyapp.backends.ParticipantBackend"  # who logs a participant in by their link (login())


class ParticipantBackend(ModelBackend):
    """Every survey request needs the user, their participant and its study: one query, not three."""

    def get_user(self, user_id):
        users = get_user_model()._default_manager.select_related("participant__study")
        user = users.filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


def update_staff_last_login(sender, user, **kwargs):
    """Django's `last_login` update, for staff only: a participant's arrival is `Participant.arrived_at`, and
    the UPDATE per arrival is a write the launch rush can do without."""
    if user.is_staff:
        update_last_login(sender, user, **kwargs)
