"""Write the reference pages generated from the code: docs/reference/study-file.md (studyapp.studyfile's schema).

    .venv/bin/python -m devtools.reference_docs

A test fails while a committed page differs from what this writes.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pages():
    """{path relative to the repository: text} of every generated page."""
    from studyapp import studyfile

    return {studyfile.REFERENCE_PAGE: studyfile.reference_markdown()}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    for name, text in pages().items():
        path = ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"Wrote {name}")


if __name__ == "__main__":
    main()
