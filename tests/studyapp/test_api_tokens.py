"""Personal API tokens: one study, one role, expiring, revocable, kept as a digest; `GET /api/studies/<slug>/export.zip`
with `Authorization: Bearer ...` gives the console's zip, and a bad, expired, revoked or out-of-scope token gets
401 or 403 and no data."""

import hashlib
import io
import re
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studyapp import access
from studyapp.models import ApiToken, ConsoleEvent, Role
from tests.helpers.console import populate

pytestmark = pytest.mark.django_db

URL = "/api/studies/lab/export.zip"


@pytest.fixture
def lab(study_factory):
    study = study_factory(images=2, slug="lab")
    populate(study, 8)
    other = study_factory(images=1, slug="other")
    populate(other, 4)
    researcher = get_user_model().objects.create_user("ada", password="a-long-passphrase", is_staff=True)
    access.grant(study, researcher, Role.OWNER)
    access.grant(other, researcher, Role.OWNER)
    return study, other, researcher


def soon(days=30):
    return timezone.now() + timedelta(days=days)


def get(header=None, url=URL):
    return Client().get(url, **({"HTTP_AUTHORIZATION": header} if header is not None else {}))


def files(content):
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {name: archive.read(name) for name in archive.namelist()}


def test_a_valid_token_gives_the_consoles_zip_and_is_logged(lab):
    study, _, researcher = lab
    token, raw = access.issue_token(researcher, study, Role.ANALYST, "nightly export", soon())
    response = get(f"Bearer {raw}")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert re.fullmatch(r'attachment; filename="lab-export-\d{8}T\d{6}Z\.zip"', response["Content-Disposition"])
    console = Client()
    console.force_login(researcher)
    assert files(response.content) == files(console.get("/dashboard/lab/export.zip").content)
    event = ConsoleEvent.objects.filter(via="api").get()
    assert (event.study, event.user, event.action, event.token, event.address) == (
        study, researcher, access.EXPORTED, token, "127.0.0.1")
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert get(f"bearer  {raw} ").status_code == 200  # the scheme's case and spaces around the token do not matter


def test_only_the_tokens_digest_is_kept(lab):
    study, _, researcher = lab
    token, raw = access.issue_token(researcher, study, Role.ANALYST, "nightly", soon())
    assert raw.startswith(token.prefix + "_") and len(raw) > 50
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["digest"] == hashlib.sha256(raw.encode()).hexdigest()
    assert not any(raw in str(value) for value in stored.values())


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic YWRhOmEtbG9uZy1wYXNzcGhyYXNl", "Token {raw}", "Bearer {raw} extra",
    "Bearer sst_000000000000_not-a-real-token", "Bearer {raw}x", "{raw}",
])
def test_a_missing_malformed_or_unknown_token_gets_401_and_no_data(lab, header):
    study, _, researcher = lab
    _, raw = access.issue_token(researcher, study, Role.ANALYST, "nightly", soon())
    response = get(None if header is None else header.format(raw=raw))
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"PK" not in response.content and not ConsoleEvent.objects.filter(via="api").exists()


def test_an_expired_or_revoked_token_gets_401(lab):
    study, _, researcher = lab
    expired, old = access.issue_token(researcher, study, Role.ANALYST, "old", soon())
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = get(f"Bearer {old}")
    assert response.status_code == 401 and b"expired on" in response.content
    revoked, raw = access.issue_token(researcher, study, Role.ANALYST, "leaked", soon())
    assert get(f"Bearer {raw}").status_code == 200
    assert access.revoke(ApiToken.objects.filter(pk=revoked.pk)) == 1
    response = get(f"Bearer {raw}")
    assert response.status_code == 401 and b"revoked" in response.content and b"PK" not in response.content


def test_a_token_for_another_study_or_a_role_without_data_gets_403(lab):
    study, other, researcher = lab
    _, raw = access.issue_token(researcher, other, Role.ANALYST, "the other one", soon())
    for url in (URL, "/api/studies/no-such-study/export.zip"):  # whether the study exists is not said
        response = get(f"Bearer {raw}", url)
        assert response.status_code == 403 and b"for one study only" in response.content
    for role in (Role.VIEWER, Role.EDITOR):
        _, raw = access.issue_token(researcher, study, role, role, soon())
        response = get(f"Bearer {raw}")
        assert response.status_code == 403 and b"PK" not in response.content
    assert not ConsoleEvent.objects.filter(via="api").exists()


def test_a_token_can_do_no_more_than_its_user_now(lab):
    study, _, researcher = lab
    token, raw = access.issue_token(researcher, study, Role.ANALYST, "nightly", soon())
    access.grant(study, researcher, Role.VIEWER)  # the owner's role was lowered since
    assert get(f"Bearer {raw}").status_code == 403
    access.grant(study, researcher, Role.ANALYST)
    assert get(f"Bearer {raw}").status_code == 200
    researcher.is_active = False
    researcher.save()
    assert get(f"Bearer {raw}").status_code == 401


def test_a_token_is_refused_beyond_its_users_role_or_a_year(lab):
    study, _, researcher = lab
    viewer = get_user_model().objects.create_user("viewer", password="a-long-passphrase", is_staff=True)
    access.grant(study, viewer, Role.VIEWER)
    with pytest.raises(ValueError, match="is a viewer of study 'lab': a token may do no more than its user"):
        access.issue_token(viewer, study, Role.ANALYST, "more", soon())
    stranger = get_user_model().objects.create_user("stranger", password="a-long-passphrase", is_staff=True)
    with pytest.raises(ValueError, match="is no member of study 'lab'"):
        access.issue_token(stranger, study, Role.VIEWER, "peek", soon())
    with pytest.raises(ValueError, match="at most 365 days"):
        access.issue_token(researcher, study, Role.ANALYST, "forever", soon(400))
    with pytest.raises(ValueError, match="in the future"):
        access.issue_token(researcher, study, Role.ANALYST, "past", soon(-1))
    assert not ApiToken.objects.exists()


def test_the_admin_shows_a_new_token_once_and_revokes_it(lab, client):
    study, other, researcher = lab
    client.force_login(researcher)
    add = reverse("admin:studyapp_apitoken_add")
    form = client.get(add)
    assert form.status_code == 200
    choices = {label for _, label in form.context["adminform"].form.fields["study"].choices}
    assert choices == {"---------", study.title, other.title}
    expiry = (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%d")
    refused = client.post(add, {"study": study.pk, "role": "analyst", "name": "x", "expires_at_0": "2001-01-01",
                                "expires_at_1": "12:00:00"})
    assert refused.status_code == 200 and "The expiry must be in the future." in refused.content.decode()
    assert not ApiToken.objects.exists()
    created = client.post(add, {"study": study.pk, "role": "analyst", "name": "lab drive", "expires_at_0": expiry,
                                "expires_at_1": "12:00:00"})
    page = created.content.decode()
    raw = re.search(r'<code id="api-token"[^>]*>([^<]+)</code>', page).group(1)
    token = ApiToken.objects.get()
    assert (token.user, token.study, token.role, token.name) == (researcher, study, "analyst", "lab drive")
    assert "http://testserver/api/studies/lab/export.zip" in page and "shown this once" in page
    assert get(f"Bearer {raw}").status_code == 200
    listing = client.get(reverse("admin:studyapp_apitoken_changelist")).content.decode()
    assert token.prefix in listing and raw not in listing
    assert raw not in client.get(reverse("admin:studyapp_apitoken_change", args=[token.pk])).content.decode()
    client.post(reverse("admin:studyapp_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]})
    assert get(f"Bearer {raw}").status_code == 401


def test_an_owner_sees_and_revokes_every_token_of_the_study_others_only_their_own(lab, client):
    study, _, owner = lab
    analyst = get_user_model().objects.create_user("bo", password="a-long-passphrase", is_staff=True)
    access.grant(study, analyst, Role.ANALYST)
    theirs, _ = access.issue_token(analyst, study, Role.ANALYST, "bo's", soon())
    mine, _ = access.issue_token(owner, study, Role.OWNER, "ada's", soon())
    changelist = reverse("admin:studyapp_apitoken_changelist")
    client.force_login(analyst)
    listing = client.get(changelist).content.decode()
    assert theirs.prefix in listing and mine.prefix not in listing
    client.post(changelist, {"action": "revoke", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.revoked_at is None
    client.force_login(owner)
    client.post(changelist, {"action": "revoke", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.revoked_at is not None


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_the_api_token_command_creates_lists_and_revokes(lab):
    study, _, researcher = lab
    output = run("api_token", "create", "--study", "lab", "--user", "ada", "--role", "analyst", "--name", "cron")
    raw = output.strip().splitlines()[-1]
    assert "Copy it now: it is not shown again." in output and raw.startswith(access.TOKEN_START)
    assert get(f"Bearer {raw}").status_code == 200
    token = ApiToken.objects.get()
    listing = run("api_token", "list", "--study", "lab")
    assert token.prefix in listing and "analyst" in listing and raw not in listing
    assert f"Revoked token {token.prefix}" in run("api_token", "revoke", token.prefix)
    assert "already revoked" in run("api_token", "revoke", token.prefix)
    assert get(f"Bearer {raw}").status_code == 401
    with pytest.raises(CommandError, match="Nothing was made"):
        run("api_token", "create", "--study", "lab", "--user", "ada", "--role", "owner", "--name", "x", "--days",
            "999")
    assert ApiToken.objects.count() == 1


def test_the_members_command_adds_lists_and_keeps_an_owner(lab):
    study, _, researcher = lab
    get_user_model().objects.create_user("bo", password="a-long-passphrase", is_staff=True)
    assert "bo is now analyst of 'lab'" in run("members", "--study", "lab", "--add", "bo", "--role", "analyst")
    assert re.search(r"ada\s+owner\n\s+bo\s+analyst", run("members", "--study", "lab"))
    with pytest.raises(CommandError, match="last owner"):
        run("members", "--study", "lab", "--remove", "ada")
    assert study.memberships.count() == 2
    with pytest.raises(CommandError, match="No staff account 'P0001'"):
        run("members", "--study", "lab", "--add", "P0001", "--role", "viewer")
