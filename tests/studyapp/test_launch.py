"""Launch readiness: a study cannot open on a platform without the way to credit its completers."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.forms.models import model_to_dict

from studyapp.models import Study

pytestmark = pytest.mark.django_db

SONA_CREDIT = "https://uni.sona-systems.com/webstudy_credit.aspx?experiment_id=1&credit_token=ab&survey_code={survey_code}"


@pytest.mark.parametrize("source, fields, problem", [
    ("prolific", {}, "cannot be credited on Prolific without a completion code"),
    ("sona", {}, "cannot be credited on SONA without a redirect"),
    ("sona", {"completion_redirect_url": "https://uni.sona-systems.com/credit?x=1"}, "must carry the person's ID"),
    ("mturk", {"completion_redirect_url": "https://x.example/done"}, "MTurk needs a completion code"),
])
def test_an_open_study_on_a_crediting_platform_needs_its_completion_code_or_redirect(study_factory, source, fields,
                                                                                      problem):
    study = study_factory(images=1, recruitment_source=source, completion_code="", **fields)
    with pytest.raises(ValidationError) as error:
        study.full_clean()
    assert problem in " ".join(error.value.message_dict["completion_code"])
    study.is_open = False  # a closed study may be prepared without it
    study.full_clean()


@pytest.mark.parametrize("source, fields", [
    ("prolific", {"completion_code": "C1A2B3"}),
    ("prolific", {"completion_redirect_url": "https://app.prolific.com/submissions/complete?cc=C1A2B3"}),
    ("sona", {"completion_redirect_url": SONA_CREDIT}),
    ("mturk", {"completion_code": "DONE"}),
    ("", {}),  # personal invite links only: nobody to credit
    ("generic", {"id_parameter": "pid"}),
])
def test_a_study_with_what_its_platform_needs_opens(study_factory, source, fields):
    study = study_factory(images=1, recruitment_source=source, **{"completion_code": "", **fields})
    study.full_clean()


def test_the_admin_refuses_to_open_a_prolific_study_without_a_code(study_factory, admin_client):
    study = study_factory(images=1)
    form = {field: "" for field in ("completion_code", "completion_redirect_url")}
    response = admin_client.post(f"/admin/studyapp/study/{study.pk}/change/", {
        **admin_form(study), **form, "recruitment_source": "prolific", "is_open": "on"})
    assert response.status_code == 200 and "cannot be credited on Prolific" in response.content.decode()
    study.refresh_from_db()
    assert study.recruitment_source == ""


def admin_form(study):
    """The study's change form as the admin posts it, unchanged."""
    data = {key: value for key, value in model_to_dict(study).items() if value is not None}
    data["stimuli"] = [s.pk for s in study.stimuli.all()]
    data["likert_labels"] = '["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]'
    data["is_open"] = "on" if study.is_open else ""
    data["attention_checks"] = "on" if study.attention_checks else ""
    data["inactivity_limit"] = str(study.inactivity_limit)
    data.update({"consent_versions-TOTAL_FORMS": "0", "consent_versions-INITIAL_FORMS": "0"})
    return {k: v for k, v in data.items() if v not in (False,)}


def test_the_demo_study_opens(study_factory):
    study_factory(images=1)  # stimuli to put in it
    call_command("create_demo_study", stdout=open("/dev/null", "w"))
    demo = Study.objects.get(slug="demo")
    assert demo.is_open and demo.recruitment_source == "prolific"
    demo.full_clean()
