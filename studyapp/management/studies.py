"""Look-ups shared by the researcher commands."""

from django.core.management.base import CommandError

from studyapp.models import Study


def study_by_slug(slug):
    """The study named on the command line, or an error that lists the ones that exist."""
    try:
        return Study.objects.get(slug=slug)
    except Study.DoesNotExist:
        known = ", ".join(Study.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No study with slug {slug!r}. Known studies: {known}.") from None
