"""What a tutorial's reader does in the browser, done through Django's test client on the tutorial's database.

A tutorial page marks such a step with an HTML comment, `<!-- test: STEP ARGUMENTS -->`, where the reader takes it;
tests/docs/test_tutorials.py runs the page's commands in order and, at each mark,

    .venv/bin/python -m tests.docs.tutorial_steps STEP ARGUMENTS

in the same folder and environment (DATABASE_URL), so that the commands after it find what the reader's clicks
made. Each step goes through the same URLs, forms and admin actions as the reader and checks their answer.
"""

import os
import sys


def researcher_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="researcher"))
    return client


def answer(response, *expected):
    """The response, if its status is expected; else the form's errors (or the page's start) say why."""
    import re

    errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(errors="replace"), re.S)
    assert response.status_code in expected, (response.status_code, errors or response.content[:2000])
    return response


def preview(slug):
    """The console's Preview button: the researcher becomes a preview participant on the study's consent page."""
    client = researcher_client()
    answer(client.post(f"/dashboard/{slug}/preview/"), 303)
    assert answer(client.get("/", follow=True), 200).redirect_chain[-1][0] == "/consent/"


def pilot_copy(slug):
    """The admin's action "Duplicate the selected studies as closed pilot copies" on the study."""
    from studyapp.models import Study

    study = Study.objects.get(slug=slug)
    answer(researcher_client().post("/admin/studyapp/study/", {
        "action": "duplicate_as_pilot", "_selected_action": [study.pk]}), 302)
    copy = Study.objects.get(copied_from=study)
    assert copy.slug == f"{slug}-pilot" and not copy.is_open, (copy.slug, copy.is_open)


def exclude(slug, pseudonym, *reason):
    """The console's decision: tick the participant (`first`: the study's first by pseudonym), give the reason,
    press Exclude selected."""
    from studyapp.models import Participant

    if pseudonym == "first":
        pseudonym = Participant.objects.filter(study__slug=slug, is_preview=False).order_by("pseudonym")[0].pseudonym
    answer(researcher_client().post(f"/dashboard/{slug}/decide/", {
        "participant": [pseudonym], "decision": "exclude", "reason": " ".join(reason)}), 303)
    assert Participant.objects.get(study__slug=slug, pseudonym=pseudonym).decisions.latest("pk").excluded


def console(slug):
    """The study's console as its researcher sees it: for a study with task blocks, each participant's score and,
    where the study pays a bonus, the bonus; a completed participant's score is a number, never the dash."""
    import re

    from studyapp.models import Study

    html = answer(researcher_client().get(f"/dashboard/{slug}/"), 200).content.decode()
    study = Study.objects.get(slug=slug)
    headers = re.findall(r'<th scope="col">([^<]+)</th>', html)
    assert "Score (right answers above chance)" in headers, headers
    assert ("Bonus (paid if approved)" in headers) == (study.bonus_per_correct is not None), headers
    rows = re.findall(r"<tr[ >](.*?)</tr>", html, re.S)
    completed = [cells for cells in (re.findall(r"<td>([^<]*)</td>", row) for row in rows) if "Completed" in cells]
    assert completed, "no completed participant on the console"
    score = headers.index("Score (right answers above chance)") - headers.index("Outcome")
    assert all(re.fullmatch(r"-?\d+\.\d\d", cells[cells.index("Completed") + score]) for cells in completed), completed


def create_study(slug, comparison, views_per_image, *title):
    """The admin's Add study form: title, slug, every loaded stimulus, what the side-by-side page compares and the
    views per image set as the tutorial says, every other field at the value the form starts with."""
    from django.contrib import admin
    from django.test import RequestFactory

    from saliency.models import Stimulus
    from studyapp.models import Study

    from django.contrib.auth import get_user_model

    request = RequestFactory().get("/admin/studyapp/study/add/")
    request.user = get_user_model().objects.get(username="researcher")
    form = admin.site._registry[Study].get_form(request)()
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or value is False:
            continue
        # As the browser posts the form: each field's rendered value (a JSON field's is already its JSON text).
        data[name] = value if isinstance(value, list) else str(value)
    data.update({"title": " ".join(title), "slug": slug, "seed": "2024", "comparison": comparison,
                 "views_per_image": views_per_image, "completion_code": f"{slug.upper()}-DONE",
                 "stimuli": [str(pk) for pk in Stimulus.objects.values_list("pk", flat=True)],
                 **{f"{prefix}-{count}_FORMS": "0" for prefix in ("consent_versions", "blocks", "task_conditions")
                    for count in ("TOTAL", "INITIAL")}})
    answer(researcher_client().post("/admin/studyapp/study/add/", data), 302)
    study = Study.objects.get(slug=slug)
    assert study.stimuli.count() == Stimulus.objects.count() and study.comparison == comparison


STEPS = {"preview": preview, "pilot-copy": pilot_copy, "exclude": exclude, "console": console,
         "create-study": create_study}


def main(step, *arguments):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    STEPS[step](*arguments)


if __name__ == "__main__":
    main(*sys.argv[1:])
