"""A participant takes the whole study in headless Chromium, with the mouse and with the keyboard.

Along the way: screenshots of every kind of page at a phone and a laptop size (tests/artifacts/),
no horizontal overflow on the phone, an accessible name for every answer control (Chromium's own
accessibility tree), and images that take their space whether or not they are drawn, so the page
never jumps (they come embedded in the page).
"""

import re

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from studyapp.export import export_frames
from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Trial

from .conftest import LAPTOP, PHONE

pytestmark = pytest.mark.django_db(transaction=True)

POSITIONS = ("left", "middle", "right")


def path_of(driver):
    return re.sub(r"^https?://[^/]+", "", driver.current_url)


def wait_for(driver, predicate, timeout=15):
    WebDriverWait(driver, timeout).until(lambda d: predicate())


def images_loaded(browser):
    return browser.script("return [...document.images].every(i => i.complete && i.naturalWidth > 0)")


def unnamed_controls(browser):
    """Radio buttons, checkboxes, text fields, selects and buttons whose accessible name is empty."""
    tree = browser.driver.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
    controls = {"radio", "checkbox", "textbox", "combobox", "spinbutton", "button"}
    found = [n for n in tree if not n.get("ignored") and n.get("role", {}).get("value") in controls]
    assert found, "no form controls in the accessibility tree"
    return [n["role"]["value"] for n in found if not n.get("name", {}).get("value", "").strip()]


def inspect_page(browser, name, docs=False):
    """Screenshots at both sizes (with `docs`, pictures of the docs too); on the phone nothing overflows sideways;
    every control is named."""
    for size in (PHONE, LAPTOP):
        browser.view(size)
        wait_for(browser.driver, lambda: images_loaded(browser))
        browser.screenshot(f"{name}-{size[0]}x{size[1]}", docs=docs)
        overflow = browser.script("const e = document.documentElement; return [e.scrollWidth, e.clientWidth]")
        if size == PHONE:
            assert overflow[0] <= overflow[1], f"{name} overflows sideways on a phone: {overflow}"
        images = browser.script(
            "return [...document.images].map(i => [i.getAttribute('width'), i.getAttribute('height'),"
            " i.getBoundingClientRect().width, i.getBoundingClientRect().height])")
        for width, height, shown_width, shown_height in images:
            assert width and height, f"{name}: an image without explicit width and height"
            assert shown_width > 0 and abs(shown_width - shown_height) < 1, f"{name}: image box {shown_width}x{shown_height}"
    if browser.driver.find_elements(By.CSS_SELECTOR, "form[method=post] input:not([type=hidden]), form select"):
        assert unnamed_controls(browser) == []


def form_top_with_images(browser, shown):
    """Where the answer form starts on a phone, with the page's images shown or taken out (not yet decoded)."""
    browser.view(PHONE)
    browser.driver.refresh()
    if shown:
        wait_for(browser.driver, lambda: images_loaded(browser))
    else:
        browser.script("[...document.images].forEach(i => i.removeAttribute('src'))")
        assert not browser.script("return [...document.images].some(i => i.naturalWidth > 0)")
    return browser.script("return document.querySelector('form[method=post]').getBoundingClientRect().top + scrollY")


def submitting(driver, action):
    """Run `action` (a click, a key press) and wait until it has loaded the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    action()
    # Mid-navigation chromedriver may answer "node does not belong to the document" instead of "stale": ask again.
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(staleness_of(page))
    wait_for(driver, lambda: driver.execute_script("return document.readyState") == "complete")


def submit(driver):
    submitting(driver, driver.find_element(By.CSS_SELECTOR, "form[method=post] button[type=submit]").click)


def keys(driver, *sequence):
    """Type into whatever has the focus, as a person at a keyboard does."""
    ActionChains(driver).send_keys(*sequence).perform()


def checked(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f"input[name={name}]:checked").get_attribute("value")


def answer_radios_with_keyboard(driver, values):
    """From a freshly loaded page: Tab into each radio group in turn, Space picks its first answer, arrows move it."""
    for name, value in values.items():
        offered = [r.get_attribute("value") for r in driver.find_elements(By.CSS_SELECTOR, f"input[name={name}]")]
        keys(driver, Keys.TAB, Keys.SPACE, *[Keys.ARROW_RIGHT] * offered.index(value))


def test_a_participant_takes_the_whole_study_in_chromium(browser, live_server, study_factory, participant_factory):
    study = study_factory(images=2, attention_checks=True)  # 6 ratings, 2 attention checks, 2 side-by-side pages
    participant = participant_factory(study)
    driver = browser.driver

    driver.get(f"{live_server.url}/i/{participant.invite_token}/")
    assert path_of(driver) == "/consent/"
    inspect_page(browser, "consent")
    driver.find_element(By.CSS_SELECTOR, "label[for=id_agree]").click()
    submit(driver)
    assert path_of(driver) == "/instructions/"
    submit(driver)
    assert path_of(driver) == "/background/"
    inspect_page(browser, "background")
    Select(driver.find_element(By.NAME, "degree")).select_by_value("master")
    driver.find_element(By.NAME, "cv_experience_years").send_keys("4")
    submit(driver)

    given, seen = {}, set()
    while path_of(driver).startswith("/trial/"):
        position = int(path_of(driver).split("/")[2])
        token = driver.find_element(By.NAME, "trial").get_attribute("value")
        by_keyboard = position % 3 == 0
        names = [e.get_attribute("name") for e in driver.find_elements(By.CSS_SELECTOR, "input[type=radio]")]
        if "answer" in names:  # an attention check: a rating page whose second statement is the instruction
            if "attention" not in seen:
                inspect_page(browser, "attention-check")
                browser.view(LAPTOP)
            instruction = driver.find_elements(By.TAG_NAME, "legend")[1].text
            label = re.search(r"select '([^']+)'", instruction).group(1)
            values = {"sufficiency": str(position % 5 + 1), "answer": str(study.likert_labels.index(label) + 1)}
            kind = "attention"
        elif "sufficiency" in names:
            if "rating" not in seen:
                inspect_page(browser, "rating")
                assert form_top_with_images(browser, shown=False) == form_top_with_images(browser, shown=True)
                browser.view(LAPTOP)
            values = {"sufficiency": str(position % 5 + 1), "trust": str((position * 2) % 5 + 1)}
            kind = "rating"
        else:
            if "choice" not in seen:
                inspect_page(browser, "side-by-side")
                assert form_top_with_images(browser, shown=False) == form_top_with_images(browser, shown=True)
                browser.view(LAPTOP)
            values = {"choice": POSITIONS[position % 3], "justification": f"Map at {POSITIONS[position % 3]}: "
                                                                          f"it follows the outline (page {position})"}
            kind = "choice"
        seen.add(kind)
        radios = {k: v for k, v in values.items() if k != "justification"}
        if by_keyboard:
            answer_radios_with_keyboard(driver, radios)
            if "justification" in values:
                keys(driver, Keys.TAB, values["justification"])
            assert {name: checked(driver, name) for name in radios} == radios
            keys(driver, Keys.TAB)
            assert driver.switch_to.active_element.text == "Next"
            submitting(driver, lambda: keys(driver, Keys.ENTER))  # Enter on the Next button sends the page
        else:
            for name, value in radios.items():
                radio_id = driver.find_element(By.CSS_SELECTOR, f"input[name={name}][value='{value}']").get_attribute("id")
                driver.find_element(By.CSS_SELECTOR, f"label[for='{radio_id}']").click()
            if "justification" in values:
                field = driver.find_element(By.NAME, "justification")
                field.click()
                field.send_keys(values["justification"])
            submit(driver)
        assert path_of(driver) != f"/trial/{position}/"
        given[token] = (kind, values)

    assert path_of(driver) == "/complete/"
    assert seen == {"rating", "attention", "choice"}
    assert study.completion_code in driver.find_element(By.CSS_SELECTOR, ".completion-code").text
    inspect_page(browser, "completion")

    trials = Trial.objects.filter(participant=participant)
    assert set(given) == set(trials.values_list("token", flat=True))
    assert any(position % 3 == 0 for position in trials.values_list("position", flat=True))
    for trial in trials:
        kind, values = given[trial.token]
        if kind == "rating":
            stored = LikertResponse.objects.get(trial=trial)
            assert {"sufficiency": str(stored.sufficiency), "trust": str(stored.trust)} == values
        elif kind == "attention":
            assert str(AttentionCheck.objects.get(trial=trial).answer) == values["answer"]
        else:
            stored = ChoiceResponse.objects.get(trial=trial)
            assert stored.chosen_id == getattr(trial, f"{values['choice']}_id")
            assert stored.justification == values["justification"]

    frames = export_frames(study)
    ratings = frames["ratings.csv"]
    rated = [given[t.token][1] for t in trials.order_by("position") if given[t.token][0] == "rating"]
    assert len(ratings) == len(rated) == 6
    for row in ratings.itertuples():  # `trial` numbers the rating pages only, in the order shown
        assert row.participant == participant.pseudonym
        assert {"sufficiency": str(row.sufficiency), "trust": str(row.trust)} == rated[row.trial - 1]
    choices = frames["choices.csv"]
    chosen = [values for kind, values in given.values() if kind == "choice"]
    assert len(choices) == len(chosen) == 2
    for values in chosen:
        (row,) = choices[choices.justification == values["justification"]].itertuples()
        assert getattr(row, values["choice"]) == row.chosen_model
    (summary,) = frames["participants.csv"].itertuples()
    assert (summary.attention_passed, summary.attention_total) == (2, 2)
    assert (summary.degree, summary.cv_experience_years) == ("master", 4)
