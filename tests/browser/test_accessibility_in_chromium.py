"""Every participant page passes axe-core at WCAG 2.2 AA, at 390 px and 1366 px; a participation by keyboard alone.

The audit visits each kind of page a participant can meet: the study link's refusal, consent,
instructions, background, a rating, an attention check, a side-by-side page (each also with its
form's errors), the withdrawal page, every ending, MTurk's preview, and the login pages.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from studyapp import access, participation
from studyapp.models import Outcome, Participant, Trial

from .conftest import LAPTOP, PHONE
from .test_participant_in_chromium import (
    POSITIONS, answer_radios_with_keyboard, checked, keys, path_of, submit, submitting,
)

pytestmark = pytest.mark.django_db(transaction=True)

FOCUS_RING = "rgb(11, 61, 145)"  # #0b3d91 (survey.css)


def audit(browser, name, audited):
    """No axe-core violation on the page at a phone's and a laptop's width."""
    for size in (PHONE, LAPTOP):
        browser.view(size)
        violations = browser.axe_violations()
        assert violations == [], f"{name} at {size[0]} px: " + "\n".join(violations)
    audited.append(name)


def send_as_is(driver):
    """Send the page's form without the browser's own checks (as an old browser would), to get the server's errors."""
    driver.execute_script("document.querySelector('form[method=post]').noValidate = true")
    submit(driver)
    assert driver.find_elements(By.CSS_SELECTOR, ".errors[role=alert]")
    assert driver.title.startswith("Error: ")


def trial_values(driver, study, position):
    """An answer for the trial page on screen, by its radio groups (an attention check answered as it asks)."""
    names = {e.get_attribute("name") for e in driver.find_elements(By.CSS_SELECTOR, "input[type=radio]")}
    if "answer" in names:
        instruction = driver.find_elements(By.TAG_NAME, "legend")[1].text
        label = re.search(r"select '([^']+)'", instruction).group(1)
        return "attention", {"sufficiency": "3", "answer": str(study.likert_labels.index(label) + 1)}
    if "sufficiency" in names:
        return "rating", {"sufficiency": str(position % 5 + 1), "trust": "2"}
    return "choice", {"choice": POSITIONS[position % 3], "justification": f"It shows the outline (page {position})."}


def answer_with_mouse(driver, values):
    for name, value in values.items():
        if name == "justification":
            driver.find_element(By.NAME, name).send_keys(value)
        else:
            radio = driver.find_element(By.CSS_SELECTOR, f"input[name={name}][value='{value}']")
            driver.find_element(By.CSS_SELECTOR, f"label[for='{radio.get_attribute('id')}']").click()
    submit(driver)


def test_every_participant_page_has_no_axe_violations_at_either_width(browser, live_server, study_factory,
                                                                     participant_factory):
    study = study_factory(images=1, recruitment_source="prolific", max_participants=1, no_consent_code="NOPE",
                          over_quota_code="FULL", withdrawn_code="GONE", attention_failed_code="ATTN",
                          attention_failure_ending="second")
    driver, audited = browser.driver, []
    base = live_server.url

    driver.get(f"{base}/s/{study.slug}/?PROLIFIC_PID=")
    audit(browser, "study link refused", audited)

    participant = participant_factory(study)
    driver.get(f"{base}/i/{participant.invite_token}/")
    audit(browser, "consent", audited)
    browser.script("document.querySelector('main').append(Object.assign(document.createElement('img'), "
                   "{src: 'data:,', width: 4, height: 4}))")  # the audit does see what it must refuse
    assert any(line.startswith("image-alt (critical)") for line in browser.axe_violations())
    driver.refresh()
    send_as_is(driver)
    audit(browser, "consent with an error", audited)
    driver.find_element(By.CSS_SELECTOR, "label[for=id_agree]").click()
    submit(driver)
    audit(browser, "instructions", audited)
    submit(driver)
    audit(browser, "background", audited)
    send_as_is(driver)
    audit(browser, "background with errors", audited)
    Select(driver.find_element(By.NAME, "degree")).select_by_value("master")
    driver.find_element(By.NAME, "cv_experience_years").send_keys("4")
    submit(driver)

    seen = set()
    while path_of(driver).startswith("/trial/"):
        position = int(path_of(driver).split("/")[2])
        kind, values = trial_values(driver, study, position)
        if kind not in seen:
            audit(browser, kind, audited)
            if kind != "attention":
                send_as_is(driver)
                audit(browser, f"{kind} with errors", audited)
            seen.add(kind)
        if position == 2:
            driver.get(f"{base}/withdraw/")
            audit(browser, "withdrawal", audited)
            driver.back()
        answer_with_mouse(driver, values)
    assert path_of(driver) == "/complete/" and seen == {"rating", "attention", "choice"}
    audit(browser, "ending: completed", audited)

    driver.get(f"{base}/s/{study.slug}/?PROLIFIC_PID=NEWCOMER1")
    assert "This study is full" in driver.page_source
    audit(browser, "ending: full", audited)
    study.is_open = False
    study.save()
    driver.get(f"{base}/s/{study.slug}/?PROLIFIC_PID=NEWCOMER2")
    assert "This study is closed" in driver.page_source
    audit(browser, "ending: closed", audited)

    now = timezone.now()
    for outcome in (Outcome.NO_CONSENT, Outcome.ATTENTION_FAILED, Outcome.EXPIRED, Outcome.WITHDRAWN):
        ended = participant_factory(study)
        if outcome == Outcome.WITHDRAWN:
            participation.erase(ended, outcome)
        else:
            Participant.objects.filter(pk=ended.pk).update(outcome=outcome, ended_at=now,
                                                           ending_code=study.code_for_outcome(outcome))
        driver.get(f"{base}/i/{ended.invite_token}/")
        assert path_of(driver) == "/complete/"
        audit(browser, f"ending: {outcome}", audited)

    hit = study_factory(images=1, recruitment_source="mturk", completion_code="HIT-DONE")
    driver.get(f"{base}/s/{hit.slug}/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=3HIT")
    audit(browser, "MTurk preview", audited)

    driver.delete_all_cookies()
    get_user_model().objects.create_user("someone", password="a-long-passphrase")
    driver.get(f"{base}/login/")
    audit(browser, "login", audited)
    driver.find_element(By.NAME, "username").send_keys("someone")
    driver.find_element(By.NAME, "password").send_keys("wrong")
    submit(driver)
    audit(browser, "login with an error", audited)
    driver.find_element(By.NAME, "username").clear()
    driver.find_element(By.NAME, "username").send_keys("someone")
    driver.find_element(By.NAME, "password").send_keys("a-long-passphrase")
    submit(driver)
    assert "does not take part in a study" in driver.page_source
    audit(browser, "not a participant", audited)
    assert len(audited) == 23

    # The researchers' dashboard too: its wide table scrolls sideways in a region a keyboard can reach.
    driver.delete_all_cookies()
    researcher = get_user_model().objects.create_user("researcher", password="a-long-passphrase", is_staff=True)
    access.grant(study, researcher, "owner")  # the whole console: counts, participants, decisions, preview
    driver.get(f"{base}/login/")
    driver.find_element(By.NAME, "username").send_keys("researcher")
    driver.find_element(By.NAME, "password").send_keys("a-long-passphrase")
    submit(driver)
    # The console refreshes itself every minute (axe: meta-refresh) until its "stop refreshing" link is followed
    # (WCAG 2.2.1, Timing adjustable): audited as a researcher who needs that sees it.
    driver.get(f"{base}/dashboard/{study.slug}/")
    assert driver.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    driver.find_element(By.LINK_TEXT, "stop refreshing").click()
    audit(browser, "dashboard", audited)


def test_a_participant_takes_the_whole_study_by_keyboard_alone(browser, live_server, study_factory,
                                                              participant_factory):
    study = study_factory(images=1)
    participant = participant_factory(study)
    driver = browser.driver
    driver.get(f"{live_server.url}/i/{participant.invite_token}/")
    assert path_of(driver) == "/consent/"

    keys(driver, Keys.TAB, Keys.SPACE)  # the checkbox comes first
    assert driver.switch_to.active_element.get_attribute("name") == "agree"
    assert driver.find_element(By.ID, "id_agree").is_selected()
    keys(driver, Keys.TAB)
    assert driver.switch_to.active_element.text == "Start the study"
    submitting(driver, lambda: keys(driver, Keys.ENTER))
    assert path_of(driver) == "/instructions/"
    keys(driver, Keys.TAB)
    submitting(driver, lambda: keys(driver, Keys.ENTER))
    assert path_of(driver) == "/background/"
    keys(driver, Keys.TAB, "m", Keys.TAB, "4", Keys.TAB)  # "m": the degree list's first item starting with M
    assert driver.switch_to.active_element.text == "Continue"
    submitting(driver, lambda: keys(driver, Keys.ENTER))
    participant.refresh_from_db()
    assert (participant.degree, participant.cv_experience_years) == ("master", 4)

    while path_of(driver).startswith("/trial/"):
        position = int(path_of(driver).split("/")[2])
        kind, values = trial_values(driver, study, position)
        radios = {name: value for name, value in values.items() if name != "justification"}
        answer_radios_with_keyboard(driver, radios)
        # The focused radio's whole option is ringed, in a colour of at least 3:1 against the page and the options.
        option = driver.switch_to.active_element.find_element(By.XPATH, "./ancestor::label[1]")
        ring = browser.script("const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineColor,"
                              " s.outlineWidth]", option)
        assert ring == ["solid", FOCUS_RING, "3px"], ring
        if "justification" in values:
            keys(driver, Keys.TAB, values["justification"])
        assert {name: checked(driver, name) for name in radios} == radios
        keys(driver, Keys.TAB)
        assert driver.switch_to.active_element.text == "Next"
        submitting(driver, lambda: keys(driver, Keys.ENTER))
        assert path_of(driver) != f"/trial/{position}/"

    assert path_of(driver) == "/complete/"
    assert study.completion_code in driver.find_element(By.CSS_SELECTOR, ".completion-code").text
    participant.refresh_from_db()
    assert participant.outcome == Outcome.COMPLETED
    assert Trial.objects.filter(participant=participant, shown_at__isnull=False).count() == \
        participant.trials.count()
