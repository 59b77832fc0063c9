"""Django's database sessions (every app server reads the same ones), with a participant's arrival stored
in one write instead of four queries.

Logging in (a participant opening their link) calls `cycle_key()`. Django's database store then creates
an empty session at once (a SELECT to check the new key is unused, an INSERT) and, when the response goes
out, UPDATEs it with the login. Here a session that has no stored key yet is written once, with its data,
when the response goes out: under a new key, as before (so no session fixation), and a key that happens to
be taken already makes the INSERT fail and a new one is drawn (Django's own `create()` loop), so the SELECT
beforehand is not needed. A session that exists is cycled as Django does. Settings: SESSION_ENGINE.
"""

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils.crypto import get_random_string


class SessionStore(DatabaseSessionStore):
    def _get_new_session_key(self):
        # 32 characters of 36: a collision is caught by the INSERT with must_create (then CreateError, retry).
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self):
        self._get_session()  # loads the session: a cookie's key that is not stored is dropped here
        if self.session_key is None:
            self.modified = True  # saved (created, under a new key) with its data when the response goes out
            return
        super().cycle_key()
