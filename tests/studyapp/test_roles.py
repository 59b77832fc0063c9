"""Who sees what: each role on a study, a staff user who is no member, and a superuser, against every staff URL (the
console, its actions, the zip, the report and interim results, the preview, the admin's lists and pages) of their
study and of a study that is not theirs, with the status expected; and nothing of the other study in any answer.

The other study ("theirs") has participants whose pseudonyms, platform IDs and justifications are marked, so that a
leak anywhere (a page, a list filter, a zip, a report) shows. The superuser's own answers show the marks: the
check can fail.
"""

import io
import zipfile
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone

from studyapp import access
from studyapp.admin import StudyScopedAdmin
from studyapp.models import (
    ApiToken, AttentionCheck, ChoiceResponse, ConsoleEvent, ExclusionDecision, LikertResponse, Participant, Role,
    Study, Trial,
)
from tests.helpers.console import populate

pytestmark = pytest.mark.django_db

USERS = ("owner", "editor", "analyst", "viewer", "stranger", "superuser")  # the first four: roles on "ours"
# The other study's marks: nothing in them that HTML escapes, so that a page that shows one shows it as written.
THEIR_TITLE, THEIR_REASON, THEIR_ID = "Their lab unpublished study", "THEIR-SECRET-REASON", "THEIR-PLATFORM-ID"


@pytest.fixture
def world(study_factory):
    """Two studies of one server: ours (open, with a closed twin for the report) and theirs; our lab's members."""
    ours = study_factory(images=2, slug="ours", title="Our study")
    ours_closed = study_factory(images=1, slug="ours-closed", title="Our finished study", is_open=False)
    theirs = study_factory(images=2, slug="theirs-secret", title=THEIR_TITLE)
    users = {name: get_user_model().objects.create_user(name, password="a-long-passphrase", is_staff=True)
             for name in USERS[:5]}
    users["superuser"] = get_user_model().objects.create_superuser("superuser", password="a-long-passphrase")
    their_owner = get_user_model().objects.create_user("their-owner", password="a-long-passphrase", is_staff=True)
    for role in USERS[:4]:
        access.grant(ours, users[role], role)
        access.grant(ours_closed, users[role], role)
    access.grant(theirs, their_owner, Role.OWNER)
    populate(ours, 8, researcher=users["owner"])
    populate(ours_closed, 4, researcher=users["owner"])
    populate(theirs, 8, researcher=their_owner)
    for n, person in enumerate(theirs.participants.order_by("pk")):
        Participant.objects.filter(pk=person.pk).update(pseudonym=f"THEIRS{n:03d}", external_id=f"{THEIR_ID}-{n}")
    ChoiceResponse.objects.filter(trial__participant__study=theirs).update(justification=THEIR_REASON)
    for study, by in ((ours, users["owner"]), (theirs, their_owner)):
        ConsoleEvent.objects.create(study=study, user=by, username=by.username, action="export", detail="earlier")
    tokens = {study.slug: access.issue_token(by, study, Role.ANALYST, "nightly", timezone.now() + timedelta(days=30))[0]
              for study, by in ((ours, users["owner"]), (theirs, their_owner))}
    return {"ours": ours, "theirs": theirs, "users": users, "tokens": tokens}


def marks(theirs):
    """Strings that only the other study's data holds."""
    return [THEIR_TITLE, theirs.slug, THEIR_REASON, THEIR_ID,
            *theirs.participants.values_list("pseudonym", flat=True)]


# Expected statuses, in the order of USERS: owner, editor, analyst, viewer, stranger (staff, no member), superuser.
OK, DONE, DENIED, UNKNOWN, GONE = 200, 303, 403, 404, 302  # GONE: the admin's "no such object" redirect
DATA = (OK, DENIED, OK, DENIED, UNKNOWN, OK)  # participant data: analysts and owners
ADMIN_DATA = (OK, DENIED, OK, DENIED, DENIED, OK)
ADMIN_THEIR_DATA = (GONE, DENIED, GONE, DENIED, DENIED, OK)
THEIRS = (UNKNOWN,) * 5 + (OK,)

CONSOLE = [  # name, method, URL (slug: ours or theirs), data, expected
    ("dashboard", "get", "/dashboard/", {}, (OK,) * 6),
    ("dashboard_study", "get", "/dashboard/ours/", {}, (OK, OK, OK, OK, UNKNOWN, OK)),
    ("dashboard_study", "get", "/dashboard/theirs-secret/", {}, THEIRS),
    ("activity_png", "get", "/dashboard/ours/activity.png", {}, (OK, OK, OK, OK, UNKNOWN, OK)),
    ("activity_png", "get", "/dashboard/theirs-secret/activity.png", {}, THEIRS),
    ("export_zip", "get", "/dashboard/ours/export.zip", {}, DATA),
    ("export_zip", "get", "/dashboard/theirs-secret/export.zip", {}, THEIRS),
    ("report", "post", "/dashboard/ours/report/", {"interim": "yes"}, DATA),  # interim results: ours is open
    ("report", "post", "/dashboard/ours-closed/report/", {}, DATA),
    ("report", "post", "/dashboard/theirs-secret/report/", {"interim": "yes"}, THEIRS),
    ("decide", "post", "/dashboard/ours/decide/", {"participant": "{ours_participant}", "decision": "exclude",
                                                    "reason": "checked"}, (DONE, DENIED, DONE, DENIED, UNKNOWN, DONE)),
    ("decide", "post", "/dashboard/theirs-secret/decide/", {"participant": "{theirs_participant}",
                                                             "decision": "exclude", "reason": "x"},
     (UNKNOWN,) * 5 + (DONE,)),
    ("preview", "post", "/dashboard/ours/preview/", {}, (DONE, DONE, DENIED, DENIED, UNKNOWN, DONE)),
    ("preview", "post", "/dashboard/theirs-secret/preview/", {}, (UNKNOWN,) * 5 + (DONE,)),
    ("open_switch", "post", "/dashboard/ours-closed/open/", {"open": "no"}, (DONE, DONE, DENIED, DENIED, UNKNOWN, DONE)),
    ("open_switch", "post", "/dashboard/theirs-secret/open/", {"open": "no"}, (UNKNOWN,) * 5 + (DONE,)),
    # The API takes tokens only: a logged-in session is no token, whoever it is.
    ("api_export_zip", "get", "/api/studies/ours/export.zip", {}, (401,) * 6),
]

ANSWER_MODELS = (Participant, Trial, LikertResponse, ChoiceResponse, AttentionCheck, ExclusionDecision)
STUDY_PATHS = {Participant: "study", Trial: "participant__study", LikertResponse: "trial__participant__study",
               ChoiceResponse: "trial__participant__study", AttentionCheck: "trial__participant__study",
               ExclusionDecision: "participant__study", ConsoleEvent: "study", ApiToken: "study", Study: "pk"}


def admin_rows():
    """name, URL, expected: every study-scoped admin list, and the page of a row of ours and of theirs."""
    rows = [("admin index", "/admin/", (OK,) * 6),
            ("study list", reverse("admin:studyapp_study_changelist"), (OK, OK, OK, DENIED, DENIED, OK)),
            ("study page", ("change", Study, "ours"), (OK, OK, OK, DENIED, DENIED, OK)),
            ("study page", ("change", Study, "theirs-secret"), (GONE, GONE, GONE, DENIED, DENIED, OK))]
    for model in ANSWER_MODELS:
        name = model._meta.model_name
        rows += [(f"{name} list", reverse(f"admin:studyapp_{name}_changelist"), ADMIN_DATA),
                 (f"{name} page", ("change", model, "ours"), ADMIN_DATA),
                 (f"{name} page", ("change", model, "theirs-secret"), ADMIN_THEIR_DATA)]
    owner_only = (OK, DENIED, DENIED, DENIED, DENIED, OK)
    rows += [("access log", reverse("admin:studyapp_consoleevent_changelist"), owner_only),
             ("access log page", ("change", ConsoleEvent, "ours"), owner_only),
             ("access log page", ("change", ConsoleEvent, "theirs-secret"), (GONE,) + (DENIED,) * 4 + (OK,)),
             ("token list", reverse("admin:studyapp_apitoken_changelist"), (OK, OK, OK, OK, DENIED, OK)),
             ("token page", ("change", ApiToken, "ours"), (OK, GONE, GONE, GONE, DENIED, OK)),  # the owner's own
             ("token page", ("change", ApiToken, "theirs-secret"), (GONE,) * 4 + (DENIED, OK))]
    return rows


def admin_url(target):
    if isinstance(target, str):
        return target
    view, model, slug = target
    row = model._default_manager.filter(**{STUDY_PATHS[model] if model is not Study else "slug":
                                           Study.objects.get(slug=slug) if model is not Study else slug}).first()
    return reverse(f"admin:studyapp_{model._meta.model_name}_{view}", args=[row.pk])


def ask(user, method, url, data):
    client = Client()
    client.force_login(user)
    return getattr(client, method)(url, data)


def body(response):
    """The response's text, a zip's files included."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content.startswith(b"PK\x03\x04"):
        archive = zipfile.ZipFile(io.BytesIO(content))
        return "\n".join(f"{name}\n{archive.read(name).decode()}" for name in archive.namelist())
    return content.decode(errors="replace")


def fill(data, world):
    values = {"ours_participant": world["ours"].participants.filter(is_preview=False).first().pseudonym,
              "theirs_participant": world["theirs"].participants.first().pseudonym}
    return {key: value.format(**values) for key, value in data.items()}


def test_every_role_gets_what_its_role_allows_on_every_staff_url_and_nothing_of_another_study(world):
    leaks, wrong, checked = [], [], 0
    their_marks = marks(world["theirs"])
    cases = [(name, method, url, fill(data, world), expected) for name, method, url, data, expected in CONSOLE]
    cases += [(name, "get", admin_url(target), {}, expected) for name, target, expected in admin_rows()]
    for name, method, url, data, expected in cases:
        for user_name, status in zip(USERS, expected):
            response = ask(world["users"][user_name], method, url, data)
            checked += 1
            if response.status_code != status:
                wrong.append(f"{user_name} {method.upper()} {url} ({name}): {response.status_code}, expected {status}")
            text = body(response)
            if user_name == "superuser":
                continue
            leaks += [f"{user_name} {method.upper()} {url}: {mark!r}" for mark in their_marks
                      if mark in text and mark not in url]  # a URL's own slug may come back
    assert not wrong, "\n".join(wrong)
    assert not leaks, "\n".join(leaks)
    print(f"role x endpoint matrix: {len(cases)} endpoints x {len(USERS)} users = {checked} requests")
    assert checked == len(cases) * len(USERS)


def test_the_marks_show_where_the_other_study_is_seen(world):
    """The leak check above can fail: the superuser, who sees every study, sees the marks."""
    superuser = world["users"]["superuser"]
    exported = body(ask(superuser, "get", "/dashboard/theirs-secret/export.zip", {}))
    assert [mark for mark in marks(world["theirs"]) if mark not in exported] == [THEIR_TITLE]  # not in the files
    assert world["theirs"].participants.first().pseudonym in body(
        ask(superuser, "get", reverse("admin:studyapp_participant_changelist"), {}))
    assert THEIR_TITLE in body(ask(superuser, "get", "/dashboard/", {}))


def test_a_viewer_sees_the_counts_and_no_participant(world):
    html = body(ask(world["users"]["viewer"], "get", "/dashboard/ours/", {}))
    assert "Funnel" in html and "Participants by outcome" in html and "8 participants:" in html
    ours = world["ours"].participants.values_list("pseudonym", flat=True)
    assert not any(pseudonym in html for pseudonym in ours)
    assert "export.zip" not in html and "report" not in html and "Preview" not in html and "Exclude" not in html
    analyst = body(ask(world["users"]["analyst"], "get", "/dashboard/ours/", {}))
    assert all(pseudonym in analyst for pseudonym in ours) and "export.zip" in analyst and "Exclude" in analyst
    assert "Preview" not in analyst
    editor = body(ask(world["users"]["editor"], "get", "/dashboard/ours/", {}))
    assert "Preview" in editor and not any(pseudonym in editor for pseudonym in ours)


def test_the_admin_filters_name_only_the_users_studies(world):
    html = body(ask(world["users"]["analyst"], "get", reverse("admin:studyapp_likertresponse_changelist"), {}))
    assert "Our study" in html and THEIR_TITLE not in html
    searched = body(ask(world["users"]["analyst"], "get", reverse("admin:studyapp_participant_changelist"),
                        {"q": "THEIRS"}))
    assert "0 participants" in searched


def test_admin_actions_do_nothing_to_another_studys_participants(world):
    theirs = list(world["theirs"].participants.values_list("pk", flat=True))
    changelist = reverse("admin:studyapp_participant_changelist")
    owner = world["users"]["owner"]
    for action in ("exclude_selected", "erase_data"):
        ask(owner, "post", changelist, {"action": action, "confirmed": "yes", "reason": "not ours",
                                        "_selected_action": theirs})
    assert not ExclusionDecision.objects.filter(participant__study=world["theirs"]).exclude(
        reason="said so in chat").exists()
    assert LikertResponse.objects.filter(trial__participant__study=world["theirs"]).exists()


def test_an_analyst_cannot_erase_and_an_owner_can(world):
    ours = world["ours"]
    person = ours.participants.filter(outcome="completed").first()
    changelist = reverse("admin:studyapp_participant_changelist")
    post = {"action": "erase_data", "confirmed": "yes", "_selected_action": [person.pk]}
    ask(world["users"]["analyst"], "post", changelist, post)
    assert LikertResponse.objects.filter(trial__participant=person).exists()
    ask(world["users"]["owner"], "post", changelist, post)
    assert not LikertResponse.objects.filter(trial__participant=person).exists()
    erasure = ConsoleEvent.objects.get(action=access.ERASED)
    assert (erasure.study, erasure.username, erasure.via, erasure.detail) == (ours, "owner", "admin",
                                                                              f"1: {person.pseudonym}")


def test_only_owners_manage_members_and_keep_one_owner(world):
    ours, owner, editor = world["ours"], world["users"]["owner"], world["users"]["editor"]
    page = reverse("admin:studyapp_study_change", args=[ours.pk])
    assert "memberships-TOTAL_FORMS" in body(ask(owner, "get", page, {}))
    assert "memberships-TOTAL_FORMS" not in body(ask(editor, "get", page, {}))
    world["users"]["viewer"].is_active = False  # a member who left the lab: still listed, the page still saves
    world["users"]["viewer"].save()
    response = ask(owner, "get", page, {})
    members = response.context["inline_admin_formsets"][1].formset
    assert members.prefix == "memberships"
    assert sorted(form.instance.user.username for form in members.initial_forms) == [
        "analyst", "editor", "owner", "viewer"]
    user_choices = {label for _, label in members.forms[0].fields["user"].choices}
    assert {"stranger", "viewer", "their-owner"} <= user_choices
    assert not any(label.startswith("participant-") for label in user_choices)  # no participant's account


def study_form(response, study):
    """The study's admin page as it posts itself back unchanged, its inlines (consent versions, members) too."""
    form = response.context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and value is not False}
    data.update(stimuli=[s.pk for s in study.stimuli.all()], likert_labels='["1", "2", "3", "4", "5"]',
                inactivity_limit=str(study.inactivity_limit), unconsented_limit=str(study.unconsented_limit),
                stuck_after=str(study.stuck_after))
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update({f"{formset.prefix}-{key}": value for key, value in formset.management_form.initial.items()})
        for n, member in enumerate(formset.initial_forms):
            data.update({f"{member.prefix}-id": member.instance.pk, f"{member.prefix}-study": study.pk})
            if formset.prefix == "memberships":
                data.update({f"{member.prefix}-user": member.instance.user_id,
                             f"{member.prefix}-role": member.instance.role})
    return data


def test_an_owner_adds_a_member_in_the_admin_and_keeps_an_owner(world):
    ours, owner, stranger = world["ours"], world["users"]["owner"], world["users"]["stranger"]
    page = reverse("admin:studyapp_study_change", args=[ours.pk])
    client = Client()
    client.force_login(owner)
    data = study_form(client.get(page), ours)
    added = int(data["memberships-INITIAL_FORMS"])
    saved = client.post(page, {**data, "memberships-TOTAL_FORMS": added + 1, f"memberships-{added}-user": stranger.pk,
                               f"memberships-{added}-role": "analyst"})
    assert saved.status_code == 302, (saved.context["adminform"].form.errors,
                                      [(inline.formset.non_form_errors(), inline.formset.errors) for inline in
                                       saved.context["inline_admin_formsets"]])
    assert ours.memberships.get(user=stranger).role == "analyst"
    assert ask(stranger, "get", "/dashboard/ours/export.zip", {}).status_code == 200
    data = study_form(client.get(page), ours)
    for key in [key for key, value in data.items() if key.endswith("-role") and value == "owner"]:
        data[key] = "editor"
    refused = client.post(page, data)
    assert refused.status_code == 200 and "Keep at least one owner" in refused.content.decode()
    assert ours.memberships.get(user=owner).role == "owner"


def test_the_index_and_the_admin_say_how_to_get_a_study(world):
    stranger = world["users"]["stranger"]
    assert "You are a member of no study yet" in body(ask(stranger, "get", "/dashboard/", {}))
    Study.objects.create(slug="from-before", title="Made before roles", seed=1)
    superuser = world["users"]["superuser"]
    listing = body(ask(superuser, "get", reverse("admin:studyapp_study_changelist"), {}))
    assert "have no owner, so only superusers see them: from-before" in listing


def test_whoever_adds_a_study_owns_it_and_its_pilot_copies(world, client):
    from django.contrib.auth.models import Permission

    maker = get_user_model().objects.create_user("maker", password="a-long-passphrase", is_staff=True)
    maker.user_permissions.add(Permission.objects.get(codename="add_study"))
    client.force_login(maker)
    assert client.get(reverse("admin:studyapp_study_changelist")).status_code == 200  # nothing yet, may add
    study = world["ours"]
    access.grant(study, maker, Role.EDITOR)
    client.post(reverse("admin:studyapp_study_changelist"), {"action": "duplicate_as_pilot",
                                                             "_selected_action": [study.pk]})
    copy = Study.objects.get(slug="ours-pilot")
    assert dict(copy.memberships.values_list("user__username", "role")) == {
        "owner": "owner", "editor": "editor", "analyst": "analyst", "viewer": "viewer", "maker": "owner"}


def staff_url_views():
    """(name, view) of every URL outside the admin that is not a participant's or a public page."""
    public = {"survey", "invite", "study_link", "login", "logout", "consent", "instructions", "background", "healthz",
              "trial", "feedback", "complete", "withdraw"}
    found = []

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                if getattr(pattern, "app_name", None) != "admin":
                    walk(pattern.url_patterns)
            elif pattern.name not in public:
                found.append((pattern.name, pattern.callback))

    walk(get_resolver().url_patterns)
    return found


def test_every_staff_url_declares_its_permission_and_is_in_the_matrix():
    """A new staff endpoint is covered by declaring the permission it needs; this test names one that does not,
    or one the matrix above does not ask."""
    views = staff_url_views()
    assert {name for name, _ in views} == {name for name, *_ in CONSOLE}
    undeclared = [name for name, view in views if name != "dashboard" and not hasattr(view, "study_permission")]
    assert not undeclared
    assert {view.study_permission for _, view in views if hasattr(view, "study_permission")} <= access.EVERY_PERMISSION


def test_every_admin_of_study_data_is_scoped_and_in_the_matrix():
    scoped = {model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, StudyScopedAdmin)}
    studyapp_models = {model for model in admin.site._registry if model._meta.app_label == "studyapp"}
    assert studyapp_models - scoped == {ApiToken}  # its own rule: a user's own tokens, an owner's study's
    assert scoped == set(ANSWER_MODELS) | {Study, ConsoleEvent}
