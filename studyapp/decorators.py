"""Who may see a view: participants, or active staff; everyone else logs in first or gets 403."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache


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


def staff_required(view):
    """Anonymous users log in first; logged-in users who are not staff get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "studyapp:login")
        if not (request.user.is_active and request.user.is_staff):
            return render(request, "studyapp/not_a_participant.html", {"staff_only": True}, status=403)
        return view(request, *args, **kwargs)

    return never_cache(wrapper)
