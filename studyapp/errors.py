"""The 404 page: the study's own, with the message a view wrote for participants (handler404 in config/urls.py).

The other error statuses need no view: Django's handlers render 400.html, 403.html, 403_csrf.html and
500.html (studyapp/templates/) when DEBUG is off.
"""

import re

from django.http import Http404, HttpResponseNotFound
from django.template import loader

# get_object_or_404's message names a model ("No Study matches the given query."): not for participants.
LOOKUP_MESSAGE = re.compile(r"^No \w+ matches the given query\.$")


def participant_message(exception):
    """The text a view gave its Http404 ("This invite link is not valid..."), or "" for the URL router's own."""
    message = exception.args[0] if isinstance(exception, Http404) and exception.args else ""
    return message if isinstance(message, str) and not LOOKUP_MESSAGE.match(message) else ""


def page_not_found(request, exception):
    page = loader.render_to_string("404.html", {"message": participant_message(exception)}, request)
    return HttpResponseNotFound(page)
