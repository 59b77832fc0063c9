"""Error pages in the study's style: the 404 page with the message a view wrote for participants (handler404 in
config/urls.py), and the 414 page for a link too long to read (LongLinkMiddleware).

The other error statuses need no view: Django's handlers render 400.html, 403.html, 403_csrf.html and
500.html (studyapp/templates/) when DEBUG is off. gunicorn (config/gunicorn.py) sets no request-line limit of its
own below its 1 MiB guard, so that a long link reaches Django and gets these pages, never gunicorn's bare one.
"""

import re

from django.http import Http404, HttpResponse, HttpResponseNotFound
from django.template import loader

# The longest path and query string served (characters; the limit many servers and proxies keep): a longer link
# was cut or mangled, and reading it helps nobody.
MAX_LINK_LENGTH = 8190

# get_object_or_404's message names a model ("No Study matches the given query."): not for participants.
LOOKUP_MESSAGE = re.compile(r"^No \w+ matches the given query\.$")


def participant_message(exception):
    """The text a view gave its Http404 ("This invite link is not valid..."), or "" for the URL router's own."""
    message = exception.args[0] if isinstance(exception, Http404) and exception.args else ""
    return message if isinstance(message, str) and not LOOKUP_MESSAGE.match(message) else ""


def page_not_found(request, exception):
    page = loader.render_to_string("404.html", {"message": participant_message(exception)}, request)
    return HttpResponseNotFound(page)


class LongLinkMiddleware:
    """Answer a link longer than MAX_LINK_LENGTH with the study's 414 page before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if len(request.get_full_path()) > MAX_LINK_LENGTH:
            return HttpResponse(loader.render_to_string("414.html", {}, request), status=414)
        return self.get_response(request)
