"""CHANGELOG.md lists every migration of the code under exactly one release, and none that does not exist: a lab
reads there which migrations an upgrade will apply (`make upgrade` shows them again before applying them)."""

import re
from collections import Counter
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
LISTED = re.compile(r"^- `(\w+\.\d{4}_\w+)`$", flags=re.M)


def migrations_in_the_code():
    found = set()
    for app in apps.get_app_configs():
        folder = Path(app.path) / "migrations"
        if Path(app.path).parent == ROOT and folder.is_dir():  # the project's apps, not Django's
            found |= {f"{app.label}.{path.stem}" for path in folder.glob("[0-9][0-9][0-9][0-9]_*.py")}
    return found


def releases():
    """{release heading: [migrations listed under it]} in the file's order."""
    text = (ROOT / "CHANGELOG.md").read_text()
    sections = re.split(r"^## (.+)$", text, flags=re.M)[1:]
    return {heading: LISTED.findall(body) for heading, body in zip(sections[::2], sections[1::2])}


def test_every_migration_is_listed_under_exactly_one_release():
    listed = Counter(name for names in releases().values() for name in names)
    code = migrations_in_the_code()
    assert code, "no migrations found: the test looks in the wrong place"
    missing = sorted(code - set(listed))
    assert not missing, "CHANGELOG.md: add under '## Unreleased': " + ", ".join(f"- `{m}`" for m in missing)
    assert not sorted(set(listed) - code), f"CHANGELOG.md lists migrations the code lacks: {set(listed) - code}"
    assert [name for name, count in listed.items() if count > 1] == []


def test_the_newest_release_comes_first():
    assert next(iter(releases())) == "Unreleased"
