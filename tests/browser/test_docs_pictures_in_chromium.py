"""The docs' pictures (docs/img/, committed), made in Chromium from what `make run` sets up: the demo study on the
shipped Fashion-MNIST maps, every kind of participant page at a phone's and a laptop's width, the console with
participants in every state, the admin's study form and a report. Each picture is checked to show what its page
says it shows; tests/docs/test_pictures.py checks that every picture the docs show comes from a test."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from studyapp.models import Study, Trial
from tests.helpers.console import populate
from tests.helpers.exports import methods_demo_export, stimuli_export
from tests.helpers.recruitment import prolific
from tests.helpers.survey import play_to_end, play_until

from .conftest import LAPTOP, PHONE
from .test_console_in_chromium import log_in
from .test_participant_in_chromium import images_loaded, inspect_page, path_of, submit, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-passphrase-for-pictures"


def demo_study():
    """`make run`'s demo study (every shipped VG map: 20 Fashion-MNIST images x N, A, M2) with one invite link."""
    call_command("loaddata", "stimuli", "methods", stdout=io.StringIO())
    call_command("create_demo_study", participants=1, stdout=io.StringIO())
    return Study.objects.get(slug="demo")


def participant_client(participant):
    """Django's test client logged in as the participant the browser is: it answers the pages the pictures skip."""
    client = Client()
    client.force_login(participant.user, backend="studyapp.backends.ParticipantBackend")
    return client


def test_every_participant_page_of_the_demo_study(browser, live_server):
    study = demo_study()
    participant = study.participants.get()
    driver = browser.driver
    driver.get(f"{live_server.url}/i/{participant.invite_token}/")
    inspect_page(browser, "consent", docs=True)
    assert driver.find_elements(By.NAME, "agree")
    driver.find_element(By.CSS_SELECTOR, "label[for=id_agree]").click()
    submit(driver)
    assert path_of(driver) == "/instructions/"
    inspect_page(browser, "instructions", docs=True)
    submit(driver)
    assert path_of(driver) == "/background/"
    inspect_page(browser, "background", docs=True)
    driver.get(f"{live_server.url}/withdraw/")
    inspect_page(browser, "withdraw", docs=True)
    assert "Withdraw" in driver.find_element(By.TAG_NAME, "h1").text

    driver.get(f"{live_server.url}/background/")
    Select(driver.find_element(By.NAME, "degree")).select_by_value("master")
    driver.find_element(By.NAME, "cv_experience_years").send_keys("3")
    submit(driver)
    assert path_of(driver).startswith("/trial/")
    client = participant_client(participant)
    for kind, name in ((Trial.Kind.RATING, "rating"), (Trial.Kind.ATTENTION, "attention-check"),
                       (Trial.Kind.CHOICE, "side-by-side")):
        url = play_until(client, participant, path_of(driver), kind)
        driver.get(f"{live_server.url}{url}")
        wait_for(driver, lambda: images_loaded(browser))
        inspect_page(browser, name, docs=True)
        alts = browser.script("return [...document.images].map(i => i.alt)")
        assert alts[0] == "Original image" and len(alts) == (4 if kind == Trial.Kind.CHOICE else 2), alts
    play_to_end(client, participant, path_of(driver))
    driver.get(f"{live_server.url}/")
    wait_for(driver, lambda: path_of(driver) == "/complete/")
    inspect_page(browser, "completion", docs=True)
    assert "DEMO-DONE" in driver.find_element(By.TAG_NAME, "body").text

    Study.objects.filter(pk=study.pk).update(is_open=False)
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}{prolific('demo', pid='5f1e2d3c4b5a69788796a5b4')}")
    inspect_page(browser, "closed", docs=True)
    assert "closed" in driver.find_element(By.TAG_NAME, "body").text.lower()


def test_the_console_the_admins_study_form_and_a_report(browser, live_server, tmp_path):
    study = demo_study()
    researcher = get_user_model().objects.get(username="researcher")
    researcher.set_password(PASSWORD)
    researcher.save()
    populate(study, 24, researcher=researcher)
    driver = browser.driver
    log_in(driver, live_server.url, "researcher", PASSWORD)
    driver.get(f"{live_server.url}/dashboard/demo/?refresh=off")
    assert "Funnel" in driver.page_source and "excluded" in driver.page_source
    for size in (PHONE, LAPTOP):
        browser.view(size)
        wait_for(driver, lambda: images_loaded(browser))
        browser.screenshot(f"console-{size[0]}x{size[1]}", docs=True)

    browser.view(LAPTOP)
    driver.get(f"{live_server.url}/admin/studyapp/study/{study.pk}/change/")
    assert driver.find_element(By.NAME, "title").get_attribute("value") == study.title
    browser.screenshot("admin-study-form-1366x768", docs=True)

    ratings, choices, participants = methods_demo_export(tmp_path / "export", participants=12, images=6)
    stimuli = stimuli_export(ratings, tmp_path / "export" / "stimuli.csv")
    out = tmp_path / "report"
    call_command("analyze", "--ratings", str(ratings), "--choices", str(choices), "--participants", str(participants),
                 "--stimuli", str(stimuli), "--title", "Methods demo, simulated", "--out", str(out), "--no-mixed",
                 stdout=io.StringIO())
    driver.get(out.joinpath("report.html").as_uri())
    assert "Methods demo, simulated" in driver.find_element(By.TAG_NAME, "h1").text
    browser.screenshot("report-1366x768", docs=True, full_page=False)
