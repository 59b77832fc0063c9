"""Posting the admin's forms as a researcher's browser would."""

from django.forms.models import model_to_dict

from studyapp.admin import BlockInline, TaskConditionInline

# The study page's editable inlines beside the consent versions and members: (prefix, the study's rows, fields).
SETTINGS_INLINES = (("blocks", BlockInline), ("task_conditions", TaskConditionInline))


def form_value(value):
    """A field's value as a browser posts it: a ticked box "on", an unticked one and a blank field left out."""
    if value is True:
        return "on"
    return value


def inline_rows(prefix, rows, fields, study):
    """The management form and each row of an inline formset, as posted."""
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(len(rows))}
    for number, row in enumerate(rows):
        data.update({f"{prefix}-{number}-id": row.pk, f"{prefix}-{number}-study": study.pk})
        data.update({f"{prefix}-{number}-{name}": form_value(value)
                     for name, value in model_to_dict(row, fields=fields).items()
                     if value is not None and value is not False})
    return data


def admin_form(study):
    """The study's change form as the admin posts it, unchanged (its blocks and task conditions too)."""
    data = {key: value for key, value in model_to_dict(study).items() if value is not None}
    data["stimuli"] = [s.pk for s in study.stimuli.all()]
    data["likert_labels"] = '["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]'
    data["is_open"] = "on" if study.is_open else ""
    data["attention_checks"] = "on" if study.attention_checks else ""
    data["inactivity_limit"] = str(study.inactivity_limit)
    data.update({"consent_versions-TOTAL_FORMS": "0", "consent_versions-INITIAL_FORMS": "0",
                 "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    for prefix, inline in SETTINGS_INLINES:
        data.update(inline_rows(prefix, list(getattr(study, prefix).order_by("pk")), inline.fields, study))
    return {k: v for k, v in data.items() if v not in (False,)}


def added_rows(data, prefix, rows):
    """`data` (admin_form's) with `rows` ({field: value}) added to the inline formset `prefix` as new forms."""
    data = dict(data)
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    for number, row in enumerate(rows, start=total):
        data.update({f"{prefix}-{number}-{name}": form_value(value) for name, value in row.items()
                     if value is not None and value is not False})
    data[f"{prefix}-TOTAL_FORMS"] = str(total + len(rows))
    return data
