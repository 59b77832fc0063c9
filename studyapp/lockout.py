"""The lock-out after repeated failed staff logins: django-axes' database handler, kept off participants' logins.

A participant is logged in by their invite or study link (studyapp.views), never by a password: that login is no
attempt to count, and axes' bookkeeping on it (clearing attempts, an access-log row) would be writes per arrival in
the launch rush. Staff logins keep all of it.
"""

from axes.handlers.database import AxesDatabaseHandler


class StaffLoginHandler(AxesDatabaseHandler):
    def user_logged_in(self, sender, request, user, **kwargs):
        if user.is_staff:
            super().user_logged_in(sender, request, user, **kwargs)

    def user_logged_out(self, sender, request, user, **kwargs):
        if user is not None and user.is_staff:
            super().user_logged_out(sender, request, user, **kwargs)
