from django.apps import AppConfig


class StudyappConfig(AppConfig):
    name = "studyapp"
    verbose_name = "Study"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .backends import update_staff_last_login

        # Replaces django.contrib.auth's receiver, which it connects under this dispatch_uid.
        user_logged_in.disconnect(dispatch_uid="update_last_login")
        user_logged_in.connect(update_staff_last_login, dispatch_uid="update_last_login")
