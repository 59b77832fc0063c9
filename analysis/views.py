"""The console's report, built from the database on demand. It lives here, not in studyapp: the analysis reads the
survey's data, and the survey never imports the analysis (data flows one way)."""

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods

from studyapp import access
from studyapp.decorators import study_permission_required


@study_permission_required(access.VIEW_DATA)
@require_http_methods(["POST"])
def report(request, study):
    """The analysis report built from the database now. While the study is open, it shows results by model only
    when the researcher asks for interim results on purpose (logged as such).

    The analysis (pandas, scipy, statsmodels, matplotlib: ~1 s of CPU to import) is imported here, by the few
    requests that build a report, not by every app server worker as it loads the URLconf for its first request.
    """
    from analysis.display import html_context
    from analysis.loading import InputError, from_export_frames
    from analysis.pipeline import Options, database_provenance, run_analysis
    from studyapp.export import export_frames

    interim = request.POST.get("interim") == "yes"
    if study.is_open and not interim:
        return HttpResponse("The study is open: its report shows rating results by model. To look anyway, press "
                            "'Show interim results' (your look is logged).", status=400, content_type="text/plain")
    access.record(request, study, "interim_results" if study.is_open else "report")
    try:
        data = from_export_frames(export_frames(study), f"study {study.slug!r}")
        analysis = run_analysis(data, Options(mixed_model=request.POST.get("mixed") == "yes"),
                                database_provenance(study.title, study.slug))
    except InputError as error:
        return HttpResponse(f"No report yet: {error}", status=400, content_type="text/plain")
    return HttpResponse(render_to_string("analysis/report.html", html_context(analysis)))
