"""The authentication backend: Django's ModelBackend, loading the participant with the user."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class ParticipantBackend(ModelBackend):
    """Every survey request needs the user, their participant and its study: one query, not three."""

    def get_user(self, user_id):
        users = get_user_model()._default_manager.select_related("participant__study")
        user = users.filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
