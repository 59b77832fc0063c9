"""Who may see a view: participants; active staff; the members of a study whose role allows what the view does
(studyapp.access decides); or a script with an API token for that study. Everyone else logs in first, or gets 401,
403 or 404 and no data.

A view of one study declares the permission it needs, e.g. `@study_permission_required(access.VIEW_DATA)`: the
declaration is kept on the view (`study_permission`), and a test walks every URL to check that each staff view
has one.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from . import access
from .models import Study


def participant_required(view):
    """Pass the logged-in user's Participant; log in first, and only participants may pass."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "studyapp:login")
        participant = getattr(request.user, "participant", None)  # loaded with the user (studyapp.backends)
        if participant is None:
            if request.user.is_staff:
                return redirect("studyapp:dashboard")
            return render(request, "studyapp/not_a_participant.html", status=403)
        return view(request, participant, *args, **kwargs)

    return never_cache(wrapper)


def refused(request, message="", status=403):
    return render(request, "studyapp/not_a_participant.html", {"staff_only": True, "message": message},
                  status=status)


def staff_required(view):
    """Anonymous users log in first; logged-in users who are not staff get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "studyapp:login")
        if not (request.user.is_active and request.user.is_staff):
            return refused(request)
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def study_permission_required(permission):
    """A staff view of the study named by the URL's `slug`, called as view(request, study, ...).

    A staff user who may not see the study is told it does not exist (404); a member whose role does not allow
    `permission` gets 403, and the view does not run."""

    def decorate(view):
        @staff_required
        @wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            study = Study.objects.filter(slug=slug).first()
            if study is None or not request.user.has_perm(access.VIEW_STUDY, study):
                raise Http404("No such study among yours: a study's owner adds its members.")
            if not request.user.has_perm(permission, study):
                return refused(request, "Your role on this study does not allow this. Its owner can change "
                                        "your role (admin: the study's page, Members).")
            return view(request, study, *args, **kwargs)

        wrapper.study_permission = permission
        return wrapper

    return decorate


def token_required(permission):
    """An API view of the study named by the URL's `slug`, for a request with an API token that may `permission`
    it (studyapp.access), called as view(request, study, token). Sessions count for nothing here: 401 without a
    valid token, 403 for a token of another study or role; plain text, and no data."""

    def decorate(view):
        @never_cache
        @wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            try:
                token = access.token_from_header(request.headers.get("Authorization"))
                access.check_token(token, slug, permission)
            except access.TokenRefused as refusal:
                response = HttpResponse(str(refusal), status=refusal.status, content_type="text/plain")
                if refusal.status == 401:
                    response["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
                return response
            request.user = token.user
            return view(request, token.study, token, *args, **kwargs)

        wrapper.study_permission = permission
        return wrapper

    return decorate
