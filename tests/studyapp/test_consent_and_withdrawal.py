"""Consent that can be proven (versions), withdrawal that is honoured, erasure on request."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from studyapp import access
from studyapp.export import review_frame
from studyapp.models import (
    DEFAULT_CONSENT_TEXT, AttentionCheck, ChoiceResponse, ConsentVersion, LikertResponse, Outcome, Participant, Trial,
)
from tests.helpers.recruitment import arrive, prolific, through_background
from tests.helpers.survey import AGREE, answer_for, location, play_to_end, start, stored_answers, trial_at

pytestmark = pytest.mark.django_db


def test_editing_the_consent_text_makes_a_new_version_and_keeps_the_old_ones(study_factory, participant_factory,
                                                                             client):
    study = study_factory(images=1)
    assert list(study.consent_versions.values_list("number", "text")) == [(1, DEFAULT_CONSENT_TEXT)]
    early = participant_factory(study)
    start(client, early)
    study.consent_text = "Approved by the ethics board, 2026/17."
    study.save()
    study.title = "Renamed"
    study.save()  # the text did not change: no new version
    late = participant_factory(study)
    client.logout()
    client.get(f"/i/{late.invite_token}/")
    page = client.get("/consent/").content.decode()
    assert "Approved by the ethics board, 2026/17." in page and 'name="consent_version" value="2"' in page
    assert location(client.post("/consent/", {**AGREE, "consent_version": "2"})) == "/instructions/"
    assert list(study.consent_versions.values_list("number", "text")) == [
        (1, DEFAULT_CONSENT_TEXT), (2, "Approved by the ethics board, 2026/17.")]
    early.refresh_from_db()
    late.refresh_from_db()
    assert (early.consent_version.number, late.consent_version.number) == (1, 2)
    assert early.consented_at is not None and late.consented_at > early.consented_at


def test_agreeing_to_a_text_that_has_changed_since_it_was_shown_is_refused(study_factory, participant_factory,
                                                                           client):
    study = study_factory(images=1)
    participant = participant_factory(study)
    client.get(f"/i/{participant.invite_token}/")
    assert 'value="1"' in client.get("/consent/").content.decode()
    study.consent_text = "A changed text."
    study.save()
    response = client.post("/consent/", AGREE)  # agrees to version 1, which is no longer shown
    html = response.content.decode()
    assert response.status_code == 400 and "The consent text changed while you were reading it." in html
    assert "A changed text." in html and 'name="consent_version" value="2"' in html
    participant.refresh_from_db()
    assert participant.consented_at is None and not participant.trials.exists()
    assert location(client.post("/consent/", {**AGREE, "consent_version": "2"})) == "/instructions/"


def test_a_text_changed_behind_the_admins_back_still_gets_its_version(study_factory, participant_factory, client):
    study = study_factory(images=1)
    type(study).objects.filter(pk=study.pk).update(consent_text="Changed by update().")  # save() is skipped
    client.get(f"/i/{participant_factory(study).invite_token}/")
    assert "Changed by update()." in client.get("/consent/").content.decode()
    assert study.consent_versions.get(number=2).text == "Changed by update()."


def test_the_dashboard_and_admin_count_participants_per_consent_version(study_factory, participant_factory,
                                                                        client, admin_client):
    study = study_factory(images=1, slug="versions")
    for text in ("", "Second text.", "Third text."):
        if text:
            study.consent_text = text
            study.save()
        for _ in range(2 if text == "Second text." else 1):
            client.logout()
            participant = participant_factory(study)
            client.get(f"/i/{participant.invite_token}/")
            client.post("/consent/", {**AGREE, "consent_version": str(study.consent_versions.count())})
    html = admin_client.get("/dashboard/versions/").content.decode()
    counts = re.findall(r'<th scope="row">Version (\d) \([^)]+\)</th><td>(\d+)</td>', html)
    assert counts == [("1", "1"), ("2", "2"), ("3", "1")]
    page = admin_client.get(reverse("admin:studyapp_study_change", args=[study.pk])).content.decode()
    assert "Second text." in page and "Third text." in page


# --- Withdrawal ---------------------------------------------------------------------------------------

def test_every_page_from_consent_to_the_last_trial_offers_a_quiet_withdrawal_link(study_factory, participant_factory, client):
    participant = participant_factory(study_factory(images=1, attention_checks=False))
    client.get(f"/i/{participant.invite_token}/")
    assert "Withdraw from the study" not in client.get("/consent/").content.decode()  # nothing to withdraw yet
    client.post("/consent/", AGREE)
    pages = []
    for url, data in (("/instructions/", {}), ("/background/", {"degree": "none", "cv_experience_years": "0"})):
        pages.append(client.get(url).content.decode())
        url = location(client.post(url, data))
    while url != "/complete/":
        pages.append(client.get(url).content.decode())
        url = location(client.post(url, answer_for(trial_at(url, participant), 1)))
    ending = client.get(url).content.decode()
    link = '<footer class="site-footer"><a href="/withdraw/">Withdraw from the study</a></footer>'
    assert len(pages) == 2 + 4 and all(link in html for html in pages)
    assert "Thank you!" in ending and link not in ending  # an ending page offers none


def test_withdrawing_asks_first_then_deletes_the_answers_and_background_and_keeps_the_audit_row(
        study_factory, client):
    study = study_factory(images=1, recruitment_source="prolific", withdrawn_code="WITHDRAWN-9")
    arrive(client, prolific(study.slug))
    participant = Participant.objects.get()
    url = through_background(client)
    for _ in range(2):
        client.get(url)
        url = location(client.post(url, answer_for(trial_at(url, participant), 1)))
    assert stored_answers() == 2

    confirm = client.get("/withdraw/").content.decode()
    assert "Withdraw from the study?" in confirm and f'href="{url}"' in confirm  # "no, go back" leads back
    assert stored_answers() == 2  # asking deletes nothing
    assert location(client.post("/withdraw/")) == "/complete/"
    html = client.get("/complete/").content.decode()
    assert "You have withdrawn from the study" in html and "WITHDRAWN-9" in html
    assert "Withdraw from the study</a>" not in html

    participant.refresh_from_db()
    assert (participant.outcome, participant.ending_code) == (Outcome.WITHDRAWN, "WITHDRAWN-9")
    assert (participant.degree, participant.cv_experience_years) == ("", None)
    # The times of the steps stay with how far they got (2 of 6 pages: 3 ratings, 2 checks, 1 comparison).
    assert participant.instructions_read_at is not None and participant.background_given_at is not None
    assert (participant.trials_at_deletion, participant.rating_pages_at_deletion,
            participant.answered_at_deletion) == (6, 5, 2)
    review = review_frame(study).set_index("participant")  # shown a code to hand in: in the review file
    assert (review.loc[participant.pseudonym, "action"], review.loc[participant.pseudonym, "reason"]) == (
        "request_return", "withdrawn: their ending asked them to return the study")
    assert participant.ended_at is not None and participant.consent_version.number == 1
    assert (participant.external_id, participant.pseudonym) == (prolific_pid(), participant.pseudonym)
    assert not Trial.objects.exists() and stored_answers() == 0
    # Back through the study link: the withdrawal ending, never a new start.
    again = Client().get(prolific(study.slug), follow=True).content.decode()
    assert "You have withdrawn from the study" in again and Participant.objects.count() == 1
    for elsewhere in ("/", "/consent/", "/trial/1/", "/withdraw/"):
        assert location(client.get(elsewhere)) == "/complete/"
    assert location(client.post("/withdraw/")) == "/complete/"


def prolific_pid():
    return re.search(r"PROLIFIC_PID=(\w+)", prolific("x")).group(1)


def test_a_completed_participant_can_still_withdraw_but_no_ending_page_offers_it(study_factory, participant_factory,
                                                                                client):
    participant = participant_factory(study_factory(images=1, attention_checks=False))
    play_to_end(client, participant, start(client, participant))
    ending = client.get("/complete/").content.decode()
    assert "Thank you!" in ending and "Withdraw from the study" not in ending and "/withdraw/" not in ending
    assert "Withdraw from the study?" in client.get("/withdraw/").content.decode()
    client.post("/withdraw/")
    participant.refresh_from_db()
    assert participant.outcome == Outcome.WITHDRAWN and participant.completed_at is not None
    assert stored_answers() == 0


def test_withdrawal_needs_the_csrf_token(study_factory, participant_factory):
    participant = participant_factory(study_factory(images=1))
    client = Client(enforce_csrf_checks=True)
    client.get(f"/i/{participant.invite_token}/")
    page = client.get("/consent/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    client.post("/consent/", {**AGREE, "csrfmiddlewaretoken": token})
    assert client.post("/withdraw/").status_code == 403
    participant.refresh_from_db()
    assert participant.outcome == Outcome.IN_PROGRESS and participant.trials.exists()


# --- Erasure on request -------------------------------------------------------------------------------

@pytest.fixture
def two_finished(study_factory, participant_factory):
    study = study_factory(images=1, attention_checks=True, slug="main")
    people = []
    for _ in range(2):
        client = Client()
        participant = participant_factory(study)
        play_to_end(client, participant, start(client, participant))
        people.append(participant)
    return study, people


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_erase_participant_deletes_one_persons_data_by_pseudonym_or_platform_id(two_finished):
    study, (erased, kept) = two_finished
    Participant.objects.filter(pk=kept.pk).update(source="prolific", external_id="5f8a1b2c")
    output = run("erase_participant", study="main", participant=erased.pseudonym, yes=True)
    assert f"Erased {erased.pseudonym} of 'main': 6 answers on 6 pages and their background deleted" in output
    erased.refresh_from_db()
    assert erased.outcome == Outcome.ERASED and erased.completed_at is not None and erased.ending_code == "DONE-1"
    assert not Trial.objects.filter(participant=erased).exists()
    assert Trial.objects.filter(participant=kept).count() == 6 and stored_answers() == 6
    assert "already deleted (outcome erased); nothing to do" in run("erase_participant", study="main",
                                                                    participant=erased.pseudonym)
    assert f"Erased {kept.pseudonym}" in run("erase_participant", "--external-id", "5f8a1b2c", "--no-input",
                                             study="main")
    assert stored_answers() == 0 and Participant.objects.count() == 2


def test_erase_participant_says_what_it_will_delete_and_asks_first(two_finished, monkeypatch):
    study, (first, _) = two_finished
    dry = run("erase_participant", "--dry-run", study="main", participant=first.pseudonym)
    assert f"Dry run: would erase {first.pseudonym} of 'main': 6 answers on 6 pages and their background" in dry
    assert stored_answers() == 12
    for reply in ("no", ""):
        monkeypatch.setattr("builtins.input", lambda: reply)
        with pytest.raises(CommandError, match="Not confirmed; nothing was erased"):
            run("erase_participant", study="main", participant=first.pseudonym)

    def closed_stdin():
        raise EOFError

    monkeypatch.setattr("builtins.input", closed_stdin)
    with pytest.raises(CommandError, match="Not confirmed"):
        run("erase_participant", study="main", participant=first.pseudonym)
    assert stored_answers() == 12
    monkeypatch.setattr("builtins.input", lambda: "yes")
    output = run("erase_participant", study="main", participant=first.pseudonym)
    assert f"Erase {first.pseudonym} of 'main': 6 answers on 6 pages and their background? This cannot be undone." \
        in output and f"Erased {first.pseudonym}" in output
    assert stored_answers() == 6


@pytest.mark.parametrize("args, message", [
    (["--study", "main", "--participant", "P9999"], "No participant 'P9999' in study 'main'; nothing was erased."),
    (["--study", "main", "--external-id", "nobody"], "No participant with platform ID 'nobody' in study 'main'"),
    (["--study", "nope", "--participant", "P0001"], "No study with slug 'nope'. Known studies: main"),
])
def test_erase_participant_refuses_unknown_people_and_erases_nothing(two_finished, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("erase_participant", *args)
    assert stored_answers() == 12


def test_erase_participant_needs_exactly_one_way_to_name_the_person(two_finished):
    for args, message in (([], "one of the arguments --participant --external-id is required"),
                          (["--participant", "P1", "--external-id", "X"],
                           "argument --external-id: not allowed with argument --participant")):
        with pytest.raises(CommandError, match=message):
            call_command("erase_participant", "--study", "main", *args)
    assert stored_answers() == 12


def test_the_admin_erases_after_a_confirmation_and_never_deletes_the_audit_row(two_finished, admin_client):
    study, (erased, kept) = two_finished
    changelist = reverse("admin:studyapp_participant_changelist")
    confirm = admin_client.post(changelist, {"action": "erase_data", "_selected_action": [erased.pk]})
    assert confirm.status_code == 200 and "Yes, erase their data" in confirm.content.decode()
    assert erased.pseudonym in confirm.content.decode() and stored_answers() == 12  # asking deletes nothing
    done = admin_client.post(changelist, {"action": "erase_data", "_selected_action": [erased.pk],
                                          "confirmed": "yes"}, follow=True)
    assert f"Erased the answers (6) and background of 1 participant(s): {erased.pseudonym}." in \
        done.content.decode()
    assert Participant.objects.get(pk=erased.pk).outcome == Outcome.ERASED and stored_answers() == 6
    assert "delete_selected" not in admin_client.get(changelist).content.decode()
    assert admin_client.post(reverse("admin:studyapp_participant_delete", args=[kept.pk]),
                             {"post": "yes"}).status_code == 403
    assert Participant.objects.count() == 2


def test_erasing_needs_its_own_permission(two_finished, client):
    study, (erased, _) = two_finished
    viewer = get_user_model().objects.create_user("viewer", password="a-long-passphrase", is_staff=True)
    access.grant(study, viewer, "analyst")  # sees and decides on participants; only owners erase
    client.force_login(viewer)
    changelist = reverse("admin:studyapp_participant_changelist")
    listed = client.get(changelist).content.decode()
    assert erased.pseudonym in listed and "exclude_selected" in listed
    assert "erase_data" not in listed
    client.post(changelist, {"action": "erase_data", "_selected_action": [erased.pk], "confirmed": "yes"})
    assert Participant.objects.get(pk=erased.pk).outcome == Outcome.COMPLETED and stored_answers() == 12


def test_answer_tables_lose_nothing_of_other_participants(two_finished):
    _, (erased, kept) = two_finished
    before = {model: set(model.objects.filter(trial__participant=kept).values_list("pk", flat=True))
              for model in (LikertResponse, AttentionCheck, ChoiceResponse)}
    run("erase_participant", study="main", participant=erased.pseudonym, yes=True)
    for model, pks in before.items():
        assert set(model.objects.values_list("pk", flat=True)) == pks
    assert ConsentVersion.objects.count() == 1
