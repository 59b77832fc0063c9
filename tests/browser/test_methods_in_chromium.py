"""A study comparing explanation methods (side-by-side: the methods for one model) in Chromium: a participant's
rating page and side-by-side page at a laptop and a phone width (docs/img/methods-*.png, the docs' pictures), axe-core
at both, and blinding: no model or method name in the page's text, attributes or URLs, every image embedded.

The maps are made up and brought in through `import_stimuli` with a manifest, as a researcher brings their own.
"""

import base64
import csv
import io
import re

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from PIL import Image, ImageDraw
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from saliency.models import Stimulus
from studyapp.models import Comparison, Study, Trial

from .test_accessibility_in_chromium import answer_with_mouse, audit
from .test_participant_in_chromium import inspect_page, path_of, submit

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = ("ViT-B/16 (ours)", "ResNet-50 baseline")
METHODS = ("LIME-superpixels", "RISE-masks", "Grad-CAM++")
SHORT_NAMES = ("ViT", "ResNet", "LIME", "RISE", "Grad-CAM")  # what a page might say of them in passing
CLASSES = ("tabby cat", "golden retriever")
PNG_DATA = "data:image/png;base64,"


def write_manifest(folder):
    """Two made-up photos (a shape on a background) and, per model and method, a map peaked somewhere else."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    size = 96
    ys, xs = np.mgrid[0:size, 0:size]
    rows = []
    for image, class_name in enumerate(CLASSES):
        photo = Image.new("RGB", (size, size), (70 + 90 * image, 120, 170 - 60 * image))
        ImageDraw.Draw(photo).ellipse((20 + 10 * image, 24, 76, 80 - 8 * image), fill=(230, 200 - 80 * image, 90))
        photo.save(folder / f"photo-{image}.png")
        for m, model in enumerate(MODELS):
            for k, method in enumerate(METHODS):
                cy, cx = 30 + 18 * k, 34 + 14 * m + 8 * image
                spread = 8 + 6 * k
                heat = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * spread ** 2)) + 0.15 * rng.random((size, size))
                name = f"map-{image}-{m}-{k}.npy"
                np.save(folder / name, heat)
                rows.append({"image": f"photo-{image}.png", "map": name, "dataset": "my-photos",
                             "class_name": class_name, "model": model, "method": method})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def to_first_trial(driver, invite_link, degree, years):
    """Open the invite link, consent, read the instructions and answer the background questions."""
    driver.get(invite_link)
    driver.find_element(By.CSS_SELECTOR, "label[for=id_agree]").click()
    submit(driver)
    submit(driver)  # instructions
    Select(driver.find_element(By.NAME, "degree")).select_by_value(degree)
    driver.find_element(By.NAME, "cv_experience_years").send_keys(years)
    submit(driver)


def assert_blinded(browser, trial):
    """No model or method name anywhere a participant could read it; the trial's images come embedded, as the
    survey embeds them (data: URIs of the stimulus PNGs, nothing to open or share)."""
    driver = browser.driver
    sources = browser.script("return [...document.images].map(i => i.getAttribute('src'))")
    if trial.kind == Trial.Kind.CHOICE:
        shown = [trial.left, trial.middle, trial.right]
        assert len({s.method for s in shown}) == 3 and len({s.variant for s in shown}) == 1  # methods, one model
        assert browser.script("return [...document.images].map(i => i.alt)") == [
            "Original image", "Saliency Map 1", "Saliency Map 2", "Saliency Map 3"]
    else:
        shown = [trial.stimulus]
    files = [shown[0].source_image.image] + [s.heatmap for s in shown]
    assert len(sources) == len(files)
    for source, file in zip(sources, files):
        assert source.startswith(PNG_DATA)
        assert base64.b64decode(source[len(PNG_DATA):]) == (settings.STIMULI_ROOT / file).read_bytes()
    html = re.sub(re.escape(PNG_DATA) + r"[A-Za-z0-9+/=]+", PNG_DATA, driver.page_source)
    text = driver.find_element(By.TAG_NAME, "body").text
    attributes = browser.script("return [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
                                ".map(a => a.value)).filter(v => !v.startsWith('data:'))")
    opaque = [s.heatmap for s in shown] + [shown[0].source_image.image]
    for name in (*MODELS, *METHODS, *SHORT_NAMES, *opaque, "my-photos"):
        assert name not in html, name
        assert name not in text, name
        assert not [value for value in attributes if name in value], name
        assert name not in driver.current_url, name
    assert f"class '{shown[0].source_image.class_name}'" in text


def test_a_methods_comparison_study_at_a_laptop_and_a_phone_width(browser, live_server, stimuli_root, tmp_path,
                                                                participant_factory):
    call_command("import_stimuli", str(write_manifest(tmp_path / "mine")), stdout=io.StringIO())
    assert Stimulus.objects.count() == len(CLASSES) * len(MODELS) * len(METHODS)
    study = Study.objects.create(slug="methods", title="Which explanation method?", seed=11, completion_code="OK",
                                 comparison=Comparison.METHODS,
                                 views_per_image=2, attention_checks=False)
    study.stimuli.add(*Stimulus.objects.all())
    participant = participant_factory(study)
    driver, audited = browser.driver, []

    to_first_trial(driver, f"{live_server.url}/i/{participant.invite_token}/", "master", "4")

    seen = []
    while path_of(driver).startswith("/trial/") and len(seen) < 2:
        trial = Trial.objects.select_related("stimulus__source_image", "left", "middle", "right", "source_image").get(
            participant=participant, position=int(path_of(driver).split("/")[2]))
        if trial.kind == Trial.Kind.RATING:
            values = {"sufficiency": "4", "trust": "3"}
            name = "methods-rating"
        else:
            values = {"choice": "middle", "justification": "Its bright area sits on the animal, not the background."}
            name = "methods-side-by-side"
        if name not in seen:
            inspect_page(browser, name, docs=True)  # docs/img/<name>-390x844.png and -1366x768.png
            audit(browser, name, audited)
            assert_blinded(browser, trial)
            seen.append(name)
        if len(seen) < 2:
            answer_with_mouse(driver, values)
    assert seen == ["methods-rating", "methods-side-by-side"] and audited == seen
    plan = participant.trials.all()
    assert plan.filter(kind=Trial.Kind.RATING).count() == len(CLASSES) * 2  # views_per_image 2 of the 6 cells
    assert plan.filter(kind=Trial.Kind.CHOICE).count() == len(CLASSES)


SHIPPED_WORDS = ("VG", "IG", "SG", "Vanilla", "Integrated", "SmoothGrad", "adversarial", "median")


def test_the_shipped_methods_demo_study_at_a_laptop_and_a_phone_width(browser, live_server):
    """`make run`'s second demo study on the shipped FMNIST maps (fixtures/stimuli.json + methods.json): its first
    rating page and its first side-by-side page (the three methods of one model), docs/img/methods-demo-*.png."""
    call_command("loaddata", "stimuli", "methods", stdout=io.StringIO())
    call_command("create_demo_study", participants=1, stdout=io.StringIO())
    participant = Study.objects.get(slug="methods").participants.get()
    driver, audited, seen = browser.driver, [], []
    to_first_trial(driver, f"{live_server.url}/i/{participant.invite_token}/", "bachelor", "2")
    while path_of(driver).startswith("/trial/") and len(seen) < 2:
        trial = Trial.objects.select_related("stimulus", "left", "middle", "right").get(
            participant=participant, position=int(path_of(driver).split("/")[2]))
        kind = "side-by-side" if trial.kind == Trial.Kind.CHOICE else "rating"
        if f"methods-demo-{kind}" not in seen and trial.kind != Trial.Kind.ATTENTION:
            name = f"methods-demo-{kind}"
            inspect_page(browser, name, docs=True)
            audit(browser, name, audited)
            text = driver.find_element(By.TAG_NAME, "body").text
            assert not [w for w in SHIPPED_WORDS if re.search(rf"\b{w}\b", text)], text
            if trial.kind == Trial.Kind.CHOICE:
                assert {trial.left.method, trial.middle.method, trial.right.method} == {"VG", "IG", "SG"}
            seen.append(name)
        values = ({"choice": "left", "justification": "It marks the garment's outline."}
                  if trial.kind == Trial.Kind.CHOICE else {"sufficiency": "3", "trust": "4"})
        if trial.kind == Trial.Kind.ATTENTION:
            values = {"sufficiency": "3", "answer": str(trial.attention_target)}
        answer_with_mouse(driver, values)
    assert sorted(seen) == ["methods-demo-rating", "methods-demo-side-by-side"]


def test_a_colour_key_under_signed_maps_at_a_laptop_and_a_phone_width(browser, live_server, stimuli_root, tmp_path,
                                                                      participant_factory):
    """The study's optional colour key on a rating and a side-by-side page of maps drawn diverging: axe-clean,
    its meaning in words a screen reader reads (not only the bar's colours), blinded
    (tests/artifacts/colour-key-*.png)."""
    call_command("import_stimuli", str(write_manifest(tmp_path / "mine")), "--rendering", "diverging",
                 "--scaling", "image", stdout=io.StringIO())
    study = Study.objects.create(slug="key", title="Which explanation method?", seed=11, completion_code="OK",
                                 comparison=Comparison.METHODS, views_per_image=1, attention_checks=False,
                                 map_legend=True)
    study.stimuli.add(*Stimulus.objects.all())
    participant = participant_factory(study)
    driver, audited, seen = browser.driver, [], []
    to_first_trial(driver, f"{live_server.url}/i/{participant.invite_token}/", "master", "4")
    while path_of(driver).startswith("/trial/") and len(seen) < 2:
        trial = Trial.objects.select_related("stimulus__source_image", "left", "middle", "right", "source_image").get(
            participant=participant, position=int(path_of(driver).split("/")[2]))
        name = "colour-key-side-by-side" if trial.kind == Trial.Kind.CHOICE else "colour-key-rating"
        if name not in seen:
            inspect_page(browser, name)
            audit(browser, name, audited)
            assert_blinded(browser, trial)
            words = browser.script("const list = document.querySelector('.map-legend-words');"
                                   "return [document.getElementById(list.getAttribute('aria-labelledby')).textContent,"
                                   " ...[...list.children].map(item => item.textContent)]")
            assert words == ["Colours in the saliency map" + ("s" if trial.kind == Trial.Kind.CHOICE else ""),
                             "Blue: against the prediction", "White: no effect", "Red: for the prediction"]
            assert len(driver.find_elements(By.CSS_SELECTOR, ".map-legend")) == 1
            seen.append(name)
        answer_with_mouse(driver, {"sufficiency": "4", "trust": "3"} if trial.kind == Trial.Kind.RATING else
                          {"choice": "left", "justification": "Its red area sits on the animal."})
    assert sorted(seen) == ["colour-key-rating", "colour-key-side-by-side"] and sorted(audited) == sorted(seen)


@pytest.mark.parametrize("variants, pick", [(("A", "N"), "middle"), (("A", "G", "M2", "N"), "fourth")])
def test_two_and_four_maps_side_by_side_at_a_laptop_and_a_phone_width(browser, live_server, study_factory,
                                                                      participant_factory, variants, pick):
    """Pairwise and four-map pages: every map shown and named, nothing overflows on a phone, no axe violation."""
    study = study_factory(images=1, variants=variants, attention_checks=False)
    participant = participant_factory(study)
    driver, audited = browser.driver, []
    to_first_trial(driver, f"{live_server.url}/i/{participant.invite_token}/", "master", "1")
    for _ in variants:  # the rating pages first
        answer_with_mouse(driver, {"sufficiency": "4", "trust": "2"})
    trial = Trial.objects.get(participant=participant, position=int(path_of(driver).split("/")[2]))
    assert trial.kind == Trial.Kind.CHOICE
    name = f"side-by-side-{len(variants)}-maps"
    inspect_page(browser, name)  # tests/artifacts/side-by-side-<k>-maps-390x844.png and -1366x768.png
    audit(browser, name, audited)
    labels = [f"Saliency Map {n}" for n in range(1, len(variants) + 1)]
    assert browser.script("return [...document.images].map(i => i.alt)") == ["Original image", *labels]
    answer_with_mouse(driver, {"choice": pick, "justification": "The highlighted area follows the outline."})
    assert path_of(driver) == "/complete/"
    assert trial.choice_response.chosen_id == getattr(trial, f"{pick}_id")
