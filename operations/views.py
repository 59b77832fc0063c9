"""`GET /healthz`: 200 while the database answers, 503 when it does not; the proxy's health check.

HAProxy (deploy/haproxy.cfg) and Caddy (deploy/Caddyfile) ask it every few seconds over plain http, so it
touches no session and sets no cookie: it reads nothing but one `SELECT 1`.
"""

from django.db import Error, connection
from django.http import HttpResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Error as error:
        return HttpResponse(f"database unavailable: {type(error).__name__}\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
