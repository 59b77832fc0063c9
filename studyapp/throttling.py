"""Invite-link guessing: unknown tokens are counted per client address, and past a limit that
address gets 429 for every invite link, valid or not, until its window ends.

Tokens carry 256 random bits, so guessing cannot succeed; the limit bounds the noise and the load,
and every unknown token and every refusal is logged. Counts live in Django's cache, which the settings
keep in the database: one count per address across all workers and app servers.
"""

import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("studyapp")

UNKNOWN_INVITES_ALLOWED = 20
WINDOW_SECONDS = 15 * 60


def client_address(request):
    """The address of whoever sent the request; behind our own proxy, the one it forwarded for."""
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and remote in settings.TRUSTED_PROXIES:
        return forwarded.split(",")[-1].strip()  # the proxy appends the address it saw; earlier ones are the client's word
    return remote


def key(address):
    return f"unknown-invites:{address}"


def invites_blocked(request):
    """True (and logged) when this address has sent too many unknown invite tokens lately."""
    address = client_address(request)
    if cache.get(key(address), 0) < UNKNOWN_INVITES_ALLOWED:
        return False
    logger.warning("Invite link refused: %s sent over %d unknown invite tokens in %d minutes",
                   address, UNKNOWN_INVITES_ALLOWED, WINDOW_SECONDS // 60)
    return True


def record_unknown_invite(request, token):
    address = client_address(request)
    cache.add(key(address), 0, WINDOW_SECONDS)  # the window starts at the first unknown token
    try:
        count = cache.incr(key(address))
    except ValueError:  # the window ended between the two calls
        cache.set(key(address), count := 1, WINDOW_SECONDS)
    logger.warning("Unknown invite token (prefix %r) from %s, %d in this window", token[:6], address, count)
