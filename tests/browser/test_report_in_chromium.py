"""The analysis report (report.html) passes axe-core at WCAG 2.2 AA at 390 px and 1366 px, as the participant pages
do, and its wide tables scroll sideways from the keyboard."""

import io

from django.core.management import call_command
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers.exports import methods_demo_export, stimuli_export

from .conftest import PHONE
from .test_accessibility_in_chromium import audit


def test_the_report_has_no_axe_violations_and_its_tables_scroll_by_keyboard(browser, tmp_path):
    """A report with every section: the flow, the results, the two-factor section with the choice model's sets,
    the explanation metrics, the figures and the justifications."""
    ratings, choices, participants = methods_demo_export(tmp_path / "export", participants=6, images=6)
    stimuli = stimuli_export(ratings, tmp_path / "export" / "stimuli.csv")
    out = tmp_path / "report"
    call_command("analyze", "--ratings", str(ratings), "--choices", str(choices), "--participants",
                 str(participants), "--stimuli", str(stimuli), "--out", str(out), "--no-mixed", stdout=io.StringIO())
    driver = browser.driver
    driver.get(out.joinpath("report.html").as_uri())
    assert driver.find_element("css selector", "h2#two-factors") and "Explanation metrics" in driver.page_source
    audited = []
    audit(browser, "report.html", audited)

    browser.view(PHONE)
    ActionChains(driver).send_keys(Keys.TAB).perform()
    region = driver.switch_to.active_element
    assert region.get_attribute("role") == "region" and region.get_attribute("class") == "scroll"
    assert browser.script("return arguments[0].scrollWidth > arguments[0].clientWidth", region)
    ActionChains(driver).send_keys(Keys.ARROW_RIGHT * 5).perform()
    WebDriverWait(driver, 5).until(lambda _: browser.script("return arguments[0].scrollLeft", region) > 0)
