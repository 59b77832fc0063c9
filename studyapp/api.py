"""Scripted access with personal API tokens (studyapp.access): `Authorization: Bearer <token>`, no session.

Each view declares the permission its token needs on the study; a bad, expired or revoked token gets 401, a token of
another study or of a role that does not allow the view gets 403, and no data.
"""

from django.views.decorators.http import require_GET

from . import access
from .console import export_zip_response
from .decorators import token_required


@require_GET
@token_required(access.VIEW_DATA)
def export_zip(request, study, token):
    """The same zip as the console's download (every CSV, codebook.md, codebook.json), logged with the token."""
    return export_zip_response(request, study, token=token)
