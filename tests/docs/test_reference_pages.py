"""The generated reference pages are what `.venv/bin/python -m devtools.reference_docs` writes from the code now:
a changed flag, column, setting or environment variable without a regenerated page fails here."""

import pytest

from devtools import reference_docs
from tests.docs.pages import ROOT


@pytest.mark.parametrize("page", sorted(reference_docs.pages()))
def test_the_committed_page_is_what_the_generator_writes(page):
    committed = ROOT / page
    assert committed.exists(), f"{page} missing: run .venv/bin/python -m devtools.reference_docs"
    assert committed.read_text(encoding="utf-8") == reference_docs.pages()[page], (
        f"{page} is stale: run .venv/bin/python -m devtools.reference_docs and commit the page")


def test_an_environment_variable_read_but_not_described_is_refused(tmp_path, monkeypatch):
    module = tmp_path / "reader.py"
    module.write_text('"""Reads.\n\nKNOWN_ONE  what it sets\n"""\nimport os\n'
                      'a = os.environ.get("KNOWN_ONE", "1")\nb = os.environ.get("NEW_ONE", "x")\n')
    monkeypatch.setattr(reference_docs, "ROOT", tmp_path)
    monkeypatch.setattr(reference_docs, "environment_modules", lambda: ["reader.py"])
    with pytest.raises(reference_docs.UndescribedVariable, match="reader.py:7 reads NEW_ONE"):
        reference_docs.environment_variables()


def test_every_makefile_variable_a_user_sets_is_described():
    names = [name for name, _, meaning in reference_docs.makefile_variables() if meaning]
    assert {"HOST", "PORT", "DEBUG", "PYTHON", "DOCS_PORT"} <= set(names)
