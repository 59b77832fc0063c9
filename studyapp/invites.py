"""Invite tokens: the secret in a participant's personal link (`/i/<token>/`).

The link logs its participant in, so the token is their key: 256 bits from the operating system's
CSPRNG (`secrets`), URL-safe, 43 characters. Unknown tokens get a 404 and a warning in the log.
"""

import secrets

INVITE_TOKEN_BYTES = 32


def mint_invite_token() -> str:
    return secrets.token_urlsafe(INVITE_TOKEN_BYTES)
