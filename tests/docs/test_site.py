"""The documentation site builds with `mkdocs build --strict` (as `make docs` does): no broken link or anchor, no
page outside the navigation, no navigation entry without its page; and the README keeps to its length."""

import os
import subprocess
import sys

from tests.docs.pages import README, ROOT

README_BUDGET = 150  # lines: the front door; everything else lives in docs/
QUIET = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's notice about its successor, on every build


def test_the_site_builds_strictly(tmp_path):
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, env=QUIET, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr + built.stdout
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "commands" / "index.html").exists()


def test_a_page_outside_the_navigation_fails_the_build(tmp_path):
    """The check above can fail: the same configuration refuses a page that `nav` leaves out."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n")
    (docs / "stray.md").write_text("# Stray\n")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:")[0]
    (tmp_path / "mkdocs.yml").write_text(config + "\nnav:\n  - Home: index.md\n")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=tmp_path, env=QUIET, capture_output=True, text=True, timeout=300)
    assert built.returncode != 0
    assert "stray.md" in built.stderr


def test_the_readme_keeps_to_its_length():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_BUDGET, f"README.md has {lines} lines, over its budget of {README_BUDGET}: move detail to docs/"
