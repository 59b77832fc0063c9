"""Posting the admin's forms as a researcher's browser would."""

from django.forms.models import model_to_dict


def admin_form(study):
    """The study's change form as the admin posts it, unchanged."""
    data = {key: value for key, value in model_to_dict(study).items() if value is not None}
    data["stimuli"] = [s.pk for s in study.stimuli.all()]
    data["likert_labels"] = '["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]'
    data["is_open"] = "on" if study.is_open else ""
    data["attention_checks"] = "on" if study.attention_checks else ""
    data["inactivity_limit"] = str(study.inactivity_limit)
    data.update({"consent_versions-TOTAL_FORMS": "0", "consent_versions-INITIAL_FORMS": "0",
                 "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    return {k: v for k, v in data.items() if v not in (False,)}
