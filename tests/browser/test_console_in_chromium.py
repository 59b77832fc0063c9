"""The researcher's console in Chromium: screenshots at a laptop and a phone width with flagged, stuck, excluded
and completed participants (tests/artifacts/console-*.png), axe-core at both widths; and the survey page's
script counting how often the page was hidden."""

import re

import pytest
from django.contrib.auth import get_user_model
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from studyapp import access
from studyapp.models import LikertResponse
from tests.browser.conftest import LAPTOP, PHONE
from tests.helpers.console import populate

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(driver, base, username, password):
    driver.get(f"{base}/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
    WebDriverWait(driver, 15).until(lambda d: "/login/" not in d.current_url)


def test_the_console_at_a_laptop_and_a_phone_width(browser, live_server, study_factory):
    user = get_user_model().objects.create_user("researcher", password="a-long-passphrase", is_staff=True)
    study = study_factory(images=3, slug="console", title="Console study", attention_checks=True,
                          speeder_min_completions=5, speeder_sd=1.5)  # 6 completions: 3 SD is out of reach
    access.grant(study, user, "owner")  # the whole console in the screenshots
    states = populate(study, 24, researcher=user)
    log_in(browser.driver, live_server.url, "researcher", "a-long-passphrase")
    browser.driver.get(f"{live_server.url}/dashboard/console/?sort=flags")
    assert browser.driver.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    browser.driver.find_element(By.LINK_TEXT, "stop refreshing").click()  # WCAG 2.2.1: the refresh can be stopped
    assert "refresh=off" in browser.driver.current_url
    assert not browser.driver.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    html = browser.driver.page_source
    assert "Funnel" in html and "stuck" in html and "<strong>excluded</strong>" in html
    assert states["completed"][0].pseudonym in html and "speeder" in html
    for size in (LAPTOP, PHONE):
        browser.view(size)
        WebDriverWait(browser.driver, 15).until(lambda d: browser.script(
            "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"))
        browser.screenshot(f"console-{size[0]}x{size[1]}")
        overflow = browser.script("const e = document.documentElement; return [e.scrollWidth, e.clientWidth]")
        assert overflow[0] <= overflow[1], f"the console overflows sideways at {size}: {overflow}"
        assert browser.axe_violations() == []
        # Every Select box is in view and on top, however the table is scrolled sideways (at 390 px the Select column
        # used to lie off-screen, at the table's far right).
        boxes = browser.driver.find_elements(By.CSS_SELECTOR, "table.participants input[name=participant]")
        assert len(boxes) == 24
        for scrolled in (0, 100000):
            browser.script("document.querySelector('table.participants').parentElement.scrollLeft = arguments[0]",
                           scrolled)
            for box in boxes[:3]:
                hit = browser.script("""const box = arguments[0];
                    window.scrollBy(0, box.getBoundingClientRect().top - window.innerHeight / 2);  // down, not sideways
                    const r = box.getBoundingClientRect();
                    return [r.left >= 0 && r.right <= window.innerWidth,
                            document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === box]""", box)
                assert hit == [True, True], f"{box.get_attribute('value')}'s Select box is hidden at {size}, {scrolled}"
        boxes[0].click()
        assert boxes[0].is_selected()
        boxes[0].click()
        browser.script("document.querySelector('table.participants').parentElement.scrollLeft = 0")


def test_the_survey_page_counts_how_often_it_was_hidden(browser, live_server, study_factory, participant_factory):
    study = study_factory(images=2, attention_checks=False)
    participant = participant_factory(study)
    driver = browser.driver
    driver.get(f"{live_server.url}/i/{participant.invite_token}/")

    def submit():
        """Press the page's button and wait until the next page has replaced it (no click on a stale button)."""
        page = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
        WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(staleness_of(page))

    driver.find_element(By.CSS_SELECTOR, "label[for=id_agree]").click()
    submit()
    submit()
    driver.find_element(By.CSS_SELECTOR, "select[name=degree] option[value=master]").click()
    driver.find_element(By.NAME, "cv_experience_years").send_keys("2")
    submit()
    assert re.search(r"/trial/\d+/$", driver.current_url)
    assert driver.find_element(By.NAME, "page_hides").get_attribute("value") == "0"
    # Hide the page twice: another tab in front, then back.
    survey = driver.current_window_handle
    for _ in range(2):
        driver.switch_to.new_window("tab")
        driver.close()
        driver.switch_to.window(survey)
    browser.script("document.dispatchEvent(new Event('visibilitychange'))")  # visible again: not counted
    hides = int(driver.find_element(By.NAME, "page_hides").get_attribute("value"))
    for name in ("sufficiency", "trust"):
        driver.find_element(By.CSS_SELECTOR, f"input[name={name}][value='3'] + *, label[for=id_{name}_2]").click()
    driver.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
    WebDriverWait(driver, 15).until(lambda d: LikertResponse.objects.exists())
    assert LikertResponse.objects.get().page_hides == hides
    assert hides == 2
