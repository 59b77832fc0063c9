"""Every picture the README and the docs show is made by the code: a screenshot carries, in its PNG text chunk
`Source`, the test that wrote it (tests/browser, into docs/img/), and a drawing is a page of
devtools/reference_docs.py (compared with the code by tests/docs/test_reference_pages.py). No picture in docs/img/
goes unshown."""

import re

import pytest
from PIL import Image

from devtools import reference_docs
from tests.docs.pages import DOCS, ROOT, doc_files, name

IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img[^>]*\bsrc=\"([^\"]+)\"")
PICTURES = DOCS / "img"


def shown_pictures():
    """{picture path: [pages showing it]} for every local image in the README and the docs."""
    shown = {}
    for page in doc_files():
        for match in IMAGE.finditer(page.read_text(encoding="utf-8")):
            target = match.group(1) or match.group(2)
            if re.match(r"[a-z]+:", target):
                continue
            shown.setdefault((page.parent / target).resolve(), []).append(name(page))
    return shown


def writer_problem(picture):
    """None when a test or the reference generator writes the picture, else why not."""
    relative = picture.relative_to(ROOT).as_posix()
    if relative in reference_docs.pages():
        return None
    if picture.suffix != ".png":
        return "not a PNG screenshot, and not drawn by devtools/reference_docs.py"
    source = Image.open(picture).text.get("Source", "")
    match = re.fullmatch(r"(tests/[\w/]+\.py)::(test_\w+)", source)
    if not match:
        return f"no Source chunk naming the test that wrote it (found {source!r})"
    test_file = ROOT / match.group(1)
    if not test_file.exists() or f"def {match.group(2)}(" not in test_file.read_text(encoding="utf-8"):
        return f"written by {source}, which does not exist"
    return None


@pytest.mark.parametrize("picture", sorted(shown_pictures()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_picture_shown_is_written_by_a_test(picture):
    assert picture.exists(), f"{picture.relative_to(ROOT)} (shown by {shown_pictures()[picture]}) does not exist"
    assert writer_problem(picture) is None


def test_every_picture_in_docs_img_is_shown():
    assert sorted(p.name for p in PICTURES.iterdir() if p.resolve() not in shown_pictures()) == []
