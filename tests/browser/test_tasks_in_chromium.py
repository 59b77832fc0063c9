"""Task pages in headless Chromium (issue 29): each kind axe-clean at WCAG 2.2 AA at 390 px and 1366 px, with and
without maps, with its errors; screenshots in tests/artifacts/, and the docs' pictures of the task pages
(docs/img/task-*.png, shown by docs/reference/participant-pages.md); a participation by keyboard alone."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from studyapp.enrollment import enroll_participants
from studyapp.models import Outcome, TaskResponse, Trial
from studyapp.schema import DISTINCTION, LEARN, SIMULATION, VERIFICATION
from tests.helpers.survey import task_answer
from tests.helpers.shipped_tasks import task_study

from .test_accessibility_in_chromium import FOCUS_RING, audit, send_as_is
from .test_participant_in_chromium import (
    answer_radios_with_keyboard, checked, inspect_page, keys, path_of, submit, submitting,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The distinction block asks for the true class, as the tasks demo does (a block cannot also show it); the first
# simulation block's learning pages show it, so both are in the audit and the docs' pictures.
BLOCKS = [{"kind": DISTINCTION, "top_k": 4, "images": 2, "ask_true_class": True},
          {"kind": SIMULATION, "top_k": 3, "images": 1, "learning_images": 1, "learning_guess": True,
           "show_true_class": True},
          {"kind": SIMULATION, "top_k": 2, "images": 1, "learning_images": 1},
          {"kind": VERIFICATION, "images": 2}]


# {condition: {page name: the docs' picture of that page}}: every task page kind with maps, and the no-map control's
# test page; the other pages' screenshots go to tests/artifacts/ only.
DOCS_PICTURES = {"maps": {"instructions": "task-block-instructions", "distinction": "task-distinction",
                          "learning": "task-simulation-learning", "learning-guess": "task-simulation-guess",
                          "feedback": "task-simulation-feedback", "simulation-test": "task-simulation-test",
                          "verification": "task-verification", "check-verification": "task-attention-check"},
                 "no-map": {"simulation-test": "task-simulation-test-no-map"}}


def inspect_task_page(browser, name, condition):
    """inspect_page's screenshots of the page `name` in `condition`, into the docs where it is a docs' picture."""
    picture = DOCS_PICTURES[condition].get(name)
    if picture:
        inspect_page(browser, picture, docs=True)
    else:
        inspect_page(browser, f"task-{name}-{condition}")


def page_name(trial):
    """The kind of task page `trial` is, as the audit and the screenshots name it."""
    kind = "check" if trial.kind == Trial.Kind.ATTENTION else trial.block.kind
    if trial.phase == LEARN:
        kind = "learning-guess" if trial.options else "learning"
    elif trial.block.kind == SIMULATION and trial.kind != Trial.Kind.ATTENTION:
        kind = "simulation-test"
    return f"{kind}-{trial.block.kind}" if kind == "check" else kind


def current_trial(driver, participant):
    return Trial.objects.select_related("block").get(participant=participant,
                                                     position=int(path_of(driver).split("/")[2]))


def begin(driver, base, participant, at_instructions=lambda: None):
    """From the invite link through consent, instructions (`at_instructions` sees them) and background, by mouse."""
    driver.get(f"{base}/i/{participant.invite_token}/")
    driver.find_element(By.CSS_SELECTOR, "label[for=id_agree]").click()
    submit(driver)
    at_instructions()
    submit(driver)
    driver.find_element(By.NAME, "cv_experience_years").send_keys("2")
    driver.find_element(By.CSS_SELECTOR, "select[name=degree] option[value=master]").click()
    submit(driver)


def test_every_task_page_has_no_axe_violations_at_either_width(browser, live_server):
    study = task_study(BLOCKS, attention_checks=True, map_legend=True)
    driver, audited = browser.driver, []
    for participant, condition in zip(enroll_participants(study, 2), ("maps", "no-map")):
        driver.delete_all_cookies()
        def at_instructions():
            audit(browser, f"instructions of a study with blocks ({condition})", audited)
            inspect_task_page(browser, "instructions", condition)

        begin(driver, live_server.url, participant, at_instructions)
        seen = set()
        while path_of(driver) != "/complete/":
            if path_of(driver).endswith("/feedback/"):
                if "feedback" not in seen:
                    audit(browser, f"feedback ({condition})", audited)
                    inspect_task_page(browser, "feedback", condition)
                    seen.add("feedback")
                submitting(driver, driver.find_element(By.LINK_TEXT, "Next").click)
                continue
            trial = current_trial(driver, participant)
            name = page_name(trial)
            if name not in seen:
                seen.add(name)
                shown = {"distinction": "Which class is correct?", "learning-guess": "True class:"}.get(name)
                assert not shown or shown in driver.find_element(By.TAG_NAME, "main").text, (name, shown)
                audit(browser, f"{name} ({condition})", audited)
                inspect_task_page(browser, name, condition)
                if trial.options and trial.kind != Trial.Kind.ATTENTION:
                    send_as_is(driver)
                    audit(browser, f"{name} with errors ({condition})", audited)
            for field, value in task_answer(trial, trial.position).items():
                if field != "trial":
                    radio = driver.find_element(By.CSS_SELECTOR, f"input[name={field}][value='{value}']")
                    driver.find_element(By.CSS_SELECTOR, f"label[for='{radio.get_attribute('id')}']").click()
            submit(driver)
        assert seen == {"distinction", "check-distinction", "learning-guess", "feedback", "learning",
                        "simulation-test", "check-simulation", "verification", "check-verification"}
    assert len(audited) == 2 * (1 + 9 + 4)
    assert set(study.participants.values_list("outcome", flat=True)) == {Outcome.COMPLETED}


def test_a_participant_takes_every_task_block_by_keyboard_alone(browser, live_server):
    study = task_study(BLOCKS, attention_checks=True)
    (participant,) = enroll_participants(study, 1)
    driver = browser.driver
    begin(driver, live_server.url, participant)
    while path_of(driver) != "/complete/":
        if path_of(driver).endswith("/feedback/"):
            keys(driver, Keys.TAB)
            assert driver.switch_to.active_element.text == "Next"
            submitting(driver, lambda: keys(driver, Keys.ENTER))
            continue
        trial = current_trial(driver, participant)
        radios = {name: value for name, value in task_answer(trial, trial.position).items() if name != "trial"}
        answer_radios_with_keyboard(driver, radios)
        if radios:
            option = driver.switch_to.active_element.find_element(By.XPATH, "./ancestor::label[1]")
            ring = browser.script("const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineColor,"
                                  " s.outlineWidth]", option)
            assert ring == ["solid", FOCUS_RING, "3px"], ring
            assert {name: checked(driver, name) for name in radios} == radios
        keys(driver, Keys.TAB)
        assert driver.switch_to.active_element.text in ("Next", "Send my guess")
        submitting(driver, lambda: keys(driver, Keys.ENTER))
        assert path_of(driver) != f"/trial/{trial.position}/"
    participant.refresh_from_db()
    assert participant.outcome == Outcome.COMPLETED
    assert TaskResponse.objects.filter(trial__participant=participant).count() == 2 + 2 + 2 + 2
