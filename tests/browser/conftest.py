"""Debian's headless Chromium, driven by selenium, against pytest-django's live server.

`browser` is a fresh Chromium (its own --user-data-dir, nothing shared between tests);
`browser.view(size)` sets a phone or laptop viewport; `browser.screenshot(name)` writes a full-page
PNG to tests/artifacts/ for people to look at (ignored by git); `browser.screenshot(name, docs=True)` also makes it a
picture of the docs, docs/img/<name>.png (committed; tests/docs/test_pictures.py checks each shown picture's writer);
`browser.axe_violations()` runs axe-core (installed by `make node-tools` into build/node, pinned in the
Makefile) on the page at WCAG 2.2 AA.
"""

import base64
import io
import os
from pathlib import Path

import pytest

from tests.helpers.chromium import LAPTOP, chromium

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
DOCS_PICTURES = Path(__file__).resolve().parents[2] / "docs" / "img"
PHONE = (390, 844)
AXE_CORE = Path(__file__).resolve().parents[2] / "build" / "node" / "node_modules" / "axe-core"
WCAG_22_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")  # axe's tags for every A and AA rule
RUN_AXE = """
const [tags, done] = arguments;
axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
  .then(result => done(result.violations.map(v => `${v.id} (${v.impact}): ${v.help}: `
                                                  + v.nodes.map(n => n.target.join(" ")).join(", "))))
  .catch(error => done([`axe-core failed: ${error}`]));
"""


class Browser:
    def __init__(self, driver):
        self.driver = driver

    def view(self, size):
        width, height = size
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == PHONE,
        })

    def screenshot(self, name, docs=False, full_page=True):
        """PNG of the page at the current viewport width (the whole page, or what the viewport shows):
        tests/artifacts/<name>.png, and with `docs` docs/img/<name>.png, whose text chunk `Source` names this test."""
        ARTIFACTS.mkdir(exist_ok=True)
        shot = base64.b64decode(self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page})["data"])
        (ARTIFACTS / f"{name}.png").write_bytes(shot)
        if docs:
            from PIL import Image
            from PIL.PngImagePlugin import PngInfo

            test = os.environ["PYTEST_CURRENT_TEST"].split(" ")[0].split("[")[0]  # the test file :: the test
            info = PngInfo()
            info.add_text("Source", test)
            DOCS_PICTURES.mkdir(parents=True, exist_ok=True)
            # 256 colours: a third of the size, no visible change; the docs keep many of them in git.
            Image.open(io.BytesIO(shot)).convert("RGB").quantize(256).save(
                DOCS_PICTURES / f"{name}.png", pnginfo=info, optimize=True)

    def script(self, source, *args):
        return self.driver.execute_script(source, *args)

    def axe_violations(self):
        """axe-core's WCAG 2.2 AA violations on the page as it is now, one line each (rule, impact, elements)."""
        script = AXE_CORE / "axe.min.js"
        if not script.exists():
            pytest.fail(f"{script} missing: run `make node-tools` (npm installs the pinned axe-core).")
        self.script(script.read_text(encoding="utf-8"))
        return self.driver.execute_async_script(RUN_AXE, list(WCAG_22_AA))


@pytest.fixture
def browser():
    with chromium() as driver:
        yield Browser(driver)
