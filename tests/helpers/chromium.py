"""Debian's headless Chromium driven by selenium, each with a profile of its own (tests/browser, tests/deploy).

    with chromium(extra_flags=("--host-resolver-rules=MAP study.example.org 127.0.0.1",), home=folder) as driver:
        driver.get(...)

`home` is the HOME Chromium runs with: its NSS database (~/.pki/nssdb) is where a test puts a CA to trust.
"""

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
LAPTOP = (1366, 768)
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run")


@contextmanager
def chromium(extra_flags=(), home=None, capabilities=None):
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: run `make system-packages` (Debian chromium, chromium-driver).")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={LAPTOP[0]},{LAPTOP[1]}", *extra_flags):
        options.add_argument(flag)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    service = Service(CHROMEDRIVER, env={"HOME": str(home), "PATH": "/usr/bin:/bin"} if home else None)
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
