"""The documentation site builds with `mkdocs build --strict` (as `make docs` does): no broken link or anchor, no
page outside the navigation, no navigation entry without its page; its diagrams come out as Mermaid draws them;
the home page leads to every page; and the README keeps to its length."""

import os
import re
import subprocess
import sys

from tests.docs.pages import DOCS, README, ROOT

README_BUDGET = 150  # lines: the front door; everything else lives in docs/
QUIET = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's notice about its successor, on every build


def test_the_site_builds_strictly(tmp_path):
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, env=QUIET, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr + built.stdout
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "commands" / "index.html").exists()
    # The participant journey and the deployments are Mermaid diagrams: the build turns each ```mermaid block into
    # the <pre class="mermaid"> that mkdocs-material's script draws (pymdownx.superfences' custom fence).
    for page, diagram in [("reference/participant-pages", "flowchart TD"), ("how-to/deploy-one-vm", "flowchart"),
                          ("how-to/several-app-servers", "flowchart LR")]:
        html = (tmp_path / "site" / page / "index.html").read_text(encoding="utf-8")
        assert f'<pre class="mermaid"><code>{diagram}' in html, page


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


def test_the_home_page_leads_to_every_page():
    """Each page is on the home page's paths by role (or its start): none is reachable from the navigation alone."""
    linked = {target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", (DOCS / "index.md").read_text(
        encoding="utf-8"))}
    pages = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")} - {"index.md"}
    assert sorted(pages - linked) == []


def test_the_readme_keeps_to_its_length():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_BUDGET, f"README.md has {lines} lines, over its budget of {README_BUDGET}: move detail to docs/"
