"""The admin serves researchers, hides invite tokens from lists, escapes answers, and refuses participants."""

import pytest
from django.urls import reverse
from django.utils import timezone

from studyapp import participation
from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Outcome, Participant, Study, Trial
from tests.helpers.admin import admin_form

MODELS = [Study, Participant, Trial, LikertResponse, ChoiceResponse, AttentionCheck]


def admin_url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def answered(study_factory, participant_factory):
    study = study_factory(images=1)
    participant = participant_factory(study)
    a, m2, n = study.stimuli.order_by("variant")
    rating = Trial.objects.create(participant=participant, position=1, kind="rating", stimulus=m2)
    LikertResponse.objects.create(trial=rating, sufficiency=4, trust=2, rt_ms=1500)
    check = Trial.objects.create(participant=participant, position=2, kind="attention", attention_target=4)
    AttentionCheck.objects.create(trial=check, answer=3, rt_ms=800)
    choice = Trial.objects.create(participant=participant, position=3, kind="choice", source_image=a.source_image,
                                  left=n, middle=a, right=m2)
    ChoiceResponse.objects.create(trial=choice, chosen=a, justification="<script>alert('x')</script>", rt_ms=4000)
    return study, participant


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_list_and_detail_page_loads_for_staff(model, answered, admin_client):
    response = admin_client.get(admin_url(model))
    assert response.status_code == 200
    obj = model.objects.first()
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200


def test_list_pages_filter_by_study_and_variant(answered, admin_client):
    study, participant = answered
    response = admin_client.get(admin_url(LikertResponse), {"trial__participant__study__id__exact": study.pk,
                                                           "trial__stimulus__variant__exact": "M2"})
    assert response.status_code == 200 and response.context["cl"].result_count == 1
    response = admin_client.get(admin_url(LikertResponse), {"trial__stimulus__variant__exact": "N"})
    assert response.context["cl"].result_count == 0
    response = admin_client.get(admin_url(ChoiceResponse), {"q": participant.pseudonym})
    assert response.context["cl"].result_count == 1


def test_study_list_counts_participants_and_participant_list_shows_progress(answered, admin_client,
                                                                            participant_factory):
    study, participant = answered
    participant_factory(study)
    row = admin_client.get(admin_url(Study)).context["cl"].result_list[0]
    assert (row.stimulus_total, row.participant_total) == (3, 2)
    content = admin_client.get(admin_url(Participant)).content.decode()
    assert participant.pseudonym in content and "3 / 3" in content


def test_invite_tokens_never_appear_in_lists(answered, admin_client):
    _, participant = answered
    for model in MODELS:
        assert participant.invite_token not in admin_client.get(admin_url(model)).content.decode()


def test_participants_are_enrolled_by_command_and_seeds_and_background_are_read_only(answered, admin_client):
    _, participant = answered
    participant.degree, participant.cv_experience_years = "master", 3
    participant.save()
    assert admin_client.get(admin_url(Participant, "add")).status_code == 403
    page = admin_client.get(admin_url(Participant, "change", participant.pk)).content.decode()
    assert 'name="degree"' not in page and 'name="cv_experience_years"' not in page
    admin_client.post(admin_url(Participant, "change", participant.pk),
                      {"seed": "1", "degree": "phd", "cv_experience_years": "2"})
    participant.refresh_from_db()
    assert participant.seed != 1 and (participant.degree, participant.cv_experience_years) == ("master", 3)


def test_the_study_list_counts_neither_previews_nor_erased_people_as_started_or_completed(study_factory,
                                                                                         participant_factory,
                                                                                         admin_client):
    study = study_factory(images=1)
    now = timezone.now()
    kept, erased, preview = (participant_factory(study) for _ in range(3))
    Participant.objects.update(consented_at=now, completed_at=now, outcome=Outcome.COMPLETED)
    participation.erase(erased, Outcome.ERASED)
    Participant.objects.filter(pk=preview.pk).update(is_preview=True)
    row = admin_client.get(admin_url(Study)).context["cl"].result_list[0]
    assert (row.participant_total, row.started_total, row.completed_total) == (2, 1, 1)


def test_answers_are_read_only(answered, admin_client):
    response = LikertResponse.objects.get()
    assert admin_client.get(admin_url(LikertResponse, "add")).status_code == 403
    admin_client.post(admin_url(LikertResponse, "change", response.pk), {"sufficiency": "1", "trust": "1"})
    response.refresh_from_db()
    assert (response.sufficiency, response.trust) == (4, 2)


def test_justifications_are_escaped(answered, admin_client):
    choice = ChoiceResponse.objects.get()
    for url in (admin_url(ChoiceResponse), admin_url(ChoiceResponse, "change", choice.pk)):
        content = admin_client.get(url).content.decode()
        assert "<script>alert" not in content
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in content


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_participants_and_anonymous_users_are_refused(model, answered, client):
    _, participant = answered
    url = admin_url(model)
    assert client.get(url).status_code == 302  # to the admin login
    client.force_login(participant.user)
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))
    assert client.get(admin_url(model, "change", model.objects.first().pk)).status_code == 302


def test_the_study_page_shows_the_link_to_paste_into_the_platform(study_factory, admin_client):
    study = study_factory(images=1, slug="main", recruitment_source="prolific")
    html = admin_client.get(admin_url(Study, "change", study.pk)).content.decode()
    assert ('<code class="study-link">http://testserver/s/main/?PROLIFIC_PID={{%PROLIFIC_PID%}}&amp;'
            "STUDY_ID={{%STUDY_ID%}}&amp;SESSION_ID={{%SESSION_ID%}}</code>") in html
    invite_only = study_factory(images=1)
    assert "study-link" not in admin_client.get(admin_url(Study, "change", invite_only.pk)).content.decode()


def test_an_ending_url_with_an_unknown_placeholder_is_refused_in_the_admin(study_factory, admin_client):
    study = study_factory(images=1, slug="main")
    page = admin_client.get(admin_url(Study, "change", study.pk))
    data = {key: value for key, value in page.context["adminform"].form.initial.items() if value is not None}
    for inline in page.context["inline_admin_formsets"]:  # the read-only consent versions; the members
        formset = inline.formset
        data.update({f"{formset.prefix}-{key}": value for key, value in formset.management_form.initial.items()})
        for form in formset.initial_forms:
            data.update({f"{form.prefix}-id": form.instance.pk, f"{form.prefix}-study": study.pk})
    data.update(stimuli=[s.pk for s in study.stimuli.all()], likert_labels='["1", "2", "3", "4", "5"]',
                inactivity_limit="2:00:00", completion_redirect_url="https://example.org/done?c={cc}")
    response = admin_client.post(admin_url(Study, "change", study.pk), data)
    assert response.status_code == 200 and "Unknown placeholder(s) {cc}" in response.content.decode()
    data["completion_redirect_url"] = "https://example.org/done?c={code}"
    assert admin_client.post(admin_url(Study, "change", study.pk), data).status_code == 302
    study.refresh_from_db()
    assert study.completion_redirect_url == "https://example.org/done?c={code}"


@pytest.mark.parametrize("labels, message", [
    ('["Disagree", "Agree"]', "Give 5 labels, for answers 1 to 5"),
    ('["a", "b", "c", "d", ""]', "Give 5 labels, for answers 1 to 5"),
    ('"Strongly disagree"', "Give 5 labels, for answers 1 to 5"),
    ('["No", "no", "Maybe", "Yes", "Sure"]', "Give each answer its own label"),
])
def test_likert_labels_that_cannot_label_five_answers_are_refused(labels, message, study_factory, admin_client):
    study = study_factory(images=1, slug="main")
    data = admin_form(study) | {"likert_labels": labels}
    response = admin_client.post(admin_url(Study, "change", study.pk), data)
    assert response.status_code == 200 and message in response.content.decode()
    study.refresh_from_db()
    assert study.likert_labels == ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]
