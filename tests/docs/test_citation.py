"""CITATION.cff, which GitHub reads for its "Cite this repository", is a valid Citation File Format 1.2.0 file that
names the project as the project names itself: its title is the docs site's, its version pyproject.toml's, and it
claims no licence while the repository carries none."""

import re
import tomllib

import yaml

from tests.docs.pages import ROOT

CITATION = ROOT / "CITATION.cff"
REQUIRED = ("cff-version", "message", "title", "authors")  # CFF 1.2.0's required keys


def citation():
    return yaml.safe_load(CITATION.read_text(encoding="utf-8"))


def test_the_citation_has_what_cff_requires():
    cited = citation()
    assert [key for key in REQUIRED if not cited.get(key)] == []
    assert cited["cff-version"] == "1.2.0"
    assert cited["type"] == "software"
    # Each author is a person (family-names) or an entity (name), as the format's schema requires.
    assert all(isinstance(author, dict) and (author.get("family-names") or author.get("name"))
               for author in cited["authors"])


def test_the_citation_names_the_project_as_it_names_itself():
    cited = citation()
    site_name = re.search(r"^site_name:\s*(.+)$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.MULTILINE)
    assert cited["title"] == site_name.group(1).strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert str(cited["version"]) == project["version"]


def test_the_citation_claims_no_licence_the_repository_lacks():
    has_licence = any(ROOT.glob("LICEN[CS]E*"))
    assert has_licence or "license" not in citation()
